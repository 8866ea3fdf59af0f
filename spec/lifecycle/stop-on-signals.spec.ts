/**
 * stopOnSignals in one process: signals are emitted on `process` (its listeners run as for a
 * real signal), `exit` is a recorder, and every wait is for the recorded exit.
 */
import { expect } from 'chai';
import { DataLossError, InMemoryNetwork, LazyReplicatedMap, stopOnSignals, type Stoppable } from '../../lib/index.js';
import { thrown } from '../helpers/events.js';

/** Resolves with the exit code and the error `onStopped` saw. */
function exits(): { exit: (code: number) => void; onStopped: (error: unknown) => void; done: Promise<{ code: number; error: unknown }> } {
  let error: unknown;
  let resolve: (v: { code: number; error: unknown }) => void = () => undefined;
  const done = new Promise<{ code: number; error: unknown }>((r) => {
    resolve = r;
  });
  return {
    onStopped: (e) => {
      error = e;
    },
    exit: (code) => {
      resolve({ code, error });
    },
    done,
  };
}

const SIGNAL = 'SIGUSR2';

describe('stopOnSignals', () => {
  const before = process.listenerCount(SIGNAL);
  afterEach(() => {
    expect(process.listenerCount(SIGNAL), 'signal listeners left behind').to.equal(before);
  });

  it('stops the targets one after another, in order, then exits 0 and lets go of the signals', async () => {
    const order: string[] = [];
    const target = (name: string): Stoppable => ({
      stop: async () => {
        order.push(`${name} begins`);
        await Promise.resolve();
        order.push(`${name} ends`);
      },
    });
    const e = exits();
    stopOnSignals([target('map'), target('transport')], { signals: [SIGNAL], exit: e.exit, onStopped: e.onStopped });
    process.emit(SIGNAL, SIGNAL);
    expect(await e.done).to.deep.equal({ code: 0, error: undefined });
    expect(order).to.deep.equal(['map begins', 'map ends', 'transport begins', 'transport ends']);
  });

  it('exits 1 with the error when a stop fails', async () => {
    const failure = new Error('no');
    const e = exits();
    stopOnSignals([{ stop: () => Promise.reject(failure) }], { signals: [SIGNAL], exit: e.exit, onStopped: e.onStopped });
    process.emit(SIGNAL, SIGNAL);
    expect(await e.done).to.deep.equal({ code: 1, error: failure });
  });

  it('exits 1 naming the option when stopping takes longer than timeoutMs, and only once', async () => {
    let finish: () => void = () => undefined;
    const e = exits();
    const codes: number[] = [];
    stopOnSignals([{ stop: () => new Promise<void>((r) => { finish = r; }) }], {
      signals: [SIGNAL],
      timeoutMs: 1,
      exit: (code) => {
        codes.push(code);
        e.exit(code);
      },
      onStopped: e.onStopped,
    });
    process.emit(SIGNAL, SIGNAL);
    const { code, error } = await e.done;
    expect(code).to.equal(1);
    expect((error as Error).message).to.include('timeoutMs');
    finish();
    await Promise.resolve();
    expect(codes).to.deep.equal([1]);
  });

  it('exits 1 at once on a second signal while stopping', async () => {
    const e = exits();
    stopOnSignals([{ stop: () => new Promise<void>(() => undefined) }], { signals: [SIGNAL], timeoutMs: 60_000, exit: e.exit, onStopped: e.onStopped });
    process.emit(SIGNAL, SIGNAL);
    process.emit(SIGNAL, SIGNAL);
    const { code, error } = await e.done;
    expect(code).to.equal(1);
    expect((error as Error).message).to.include('second signal');
  });

  it('keeps stopping the next targets when one fails, then exits 1 with the first error', async () => {
    const order: string[] = [];
    const failure = new Error('no');
    const e = exits();
    stopOnSignals(
      [
        {
          stop: () => {
            order.push('map');
            return Promise.reject(failure);
          },
        },
        {
          stop: () => {
            order.push('transport');
            return Promise.reject(new Error('later'));
          },
        },
      ],
      { signals: [SIGNAL], exit: e.exit, onStopped: e.onStopped },
    );
    process.emit(SIGNAL, SIGNAL);
    expect(await e.done).to.deep.equal({ code: 1, error: failure });
    expect(order).to.deep.equal(['map', 'transport']);
  });

  it('exits 1 with a DataLossError naming the count when the last map drops entries, after stopping the transport', async () => {
    const net = new InMemoryNetwork({ seed: 1 });
    const [ta, tb] = [net.transport('a'), net.transport('b')];
    const a = new LazyReplicatedMap<string, number>({ name: 's', transport: ta, stopWaitMs: 10 });
    const b = new LazyReplicatedMap<string, number>({ name: 's', transport: tb });
    a.on('error', () => undefined);
    await a.start();
    await b.start();
    for (let i = 0; i < 7; i++) await a.set(`k${i}`, i);
    await b.stop();
    const e = exits();
    stopOnSignals([a, ta], { signals: [SIGNAL], exit: e.exit, onStopped: e.onStopped });
    process.emit(SIGNAL, SIGNAL);
    const { code, error } = await e.done;
    expect(code).to.equal(1);
    expect(error).to.be.instanceOf(DataLossError);
    expect((error as DataLossError).dropped).to.equal(7);
    expect((error as Error).message).to.include('dropped 7 entries');
    expect(ta.peers(), 'the transport was stopped too').to.deep.equal([]);
  });

  it('writes why it exits 1 to stderr when no onStopped is given', async () => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    let exited: (code: number) => void = () => undefined;
    const done = new Promise<number>((resolve) => {
      exited = resolve;
    });
    process.stderr.write = (chunk: string | Uint8Array): boolean => {
      written.push(String(chunk));
      return true;
    };
    try {
      stopOnSignals([{ stop: () => Promise.reject(new DataLossError('dropped 3 entries', 3)) }], { signals: [SIGNAL], exit: exited });
      process.emit(SIGNAL, SIGNAL);
      expect(await done).to.equal(1);
    } finally {
      process.stderr.write = write;
    }
    expect(written).to.deep.equal(['stopOnSignals: exiting with code 1: DataLossError: dropped 3 entries\n']);
  });

  it('refuses a timeoutMs that leaves a map no room for its stopWaitMs', () => {
    const map = { stop: () => Promise.resolve(), stopWaitMs: 10_000 };
    const error = thrown(() => stopOnSignals([map], { signals: [SIGNAL], timeoutMs: 10_000 }));
    expect(error).to.be.instanceOf(RangeError);
    expect((error as Error).message).to.include('`stopWaitMs` (10000 ms)');
    stopOnSignals([map], { signals: [SIGNAL], timeoutMs: 10_001, exit: false })();
  });

  it('returns a disposer that removes its handlers, and refuses a bad timeoutMs', () => {
    const dispose = stopOnSignals([], { signals: [SIGNAL], exit: false });
    expect(process.listenerCount(SIGNAL)).to.equal(before + 1);
    dispose();
    const error = thrown(() => stopOnSignals([], { timeoutMs: 0 }));
    expect(error).to.be.instanceOf(RangeError);
    expect((error as Error).message).to.include('`timeoutMs`');
  });
});
