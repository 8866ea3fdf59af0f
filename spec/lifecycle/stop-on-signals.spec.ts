/**
 * stopOnSignals in one process: signals are emitted on `process` (its listeners run as for a
 * real signal), `exit` is a recorder, and every wait is for the recorded exit.
 */
import { expect } from 'chai';
import { stopOnSignals, type Stoppable } from '../../lib/index.js';
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

  it('returns a disposer that removes its handlers, and refuses a bad timeoutMs', () => {
    const dispose = stopOnSignals([], { signals: [SIGNAL], exit: false });
    expect(process.listenerCount(SIGNAL)).to.equal(before + 1);
    dispose();
    const error = thrown(() => stopOnSignals([], { timeoutMs: 0 }));
    expect(error).to.be.instanceOf(RangeError);
    expect((error as Error).message).to.include('`timeoutMs`');
  });
});
