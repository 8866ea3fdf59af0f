import { expect } from 'chai';
import { CallOrder, type CallOrderHost } from '../../../lib/map/call-order.js';
import { StoppedError } from '../../../lib/errors.js';
import type { MapKey } from '../../../lib/codec/map-messages.js';

/** A promise and its resolver. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A host whose life the spec sets, with deletes under way by key. */
function host(state: { running: boolean; leaving?: boolean; stopped?: boolean; started?: Promise<void> }, removals = new Map<MapKey, Promise<void>>()): CallOrderHost {
  return {
    running: () => state.running,
    leaving: () => state.leaving === true,
    ready: async () => {
      await state.started;
      state.running = true;
    },
    assertUsable: () => {
      if (state.stopped === true) throw new StoppedError('stopped');
    },
    removal: (key) => removals.get(key),
  };
}

describe('CallOrder (alone, on a fake host)', () => {
  it('runs a call at once, in the caller’s turn, when the map runs and nothing waits', () => {
    const order = new CallOrder(host({ running: true }));
    let ran = false;
    void order.inOrder(() => {
      ran = true;
      return Promise.resolve();
    }, ['k']);
    expect(ran).to.equal(true);
  });

  it('starts calls made before the map runs in the order they were made, once it is ready', async () => {
    const started = deferred();
    const order = new CallOrder(host({ running: false, started: started.promise }));
    const seen: number[] = [];
    const calls = [1, 2, 3].map((n) => order.inOrder(() => {
      seen.push(n);
      return Promise.resolve();
    }, [`k${n}`]));
    await Promise.resolve();
    expect(seen).to.deep.equal([]);
    started.resolve();
    await Promise.all(calls);
    expect(seen).to.deep.equal([1, 2, 3]);
  });

  it('makes a write of a key wait for an earlier fetch of that key, and only of that key', async () => {
    const order = new CallOrder(host({ running: true }));
    const fetch = deferred<string>();
    const read = order.fetching('k', fetch.promise);
    const seen: string[] = [];
    const other = order.inOrder(() => {
      seen.push('other key');
      return Promise.resolve();
    }, ['j']);
    const write = order.inOrder(() => {
      seen.push('write k');
      return Promise.resolve();
    }, ['k']);
    await other;
    expect(seen).to.deep.equal(['other key']);
    fetch.resolve('old');
    expect(await read).to.equal('old');
    await write;
    expect(seen).to.deep.equal(['other key', 'write k']);
  });

  it('makes a read of a key wait for a conditional write of it decided elsewhere', async () => {
    const order = new CallOrder(host({ running: true }));
    const decision = deferred<boolean>();
    void order.decidingElsewhere('k', decision.promise);
    let read = false;
    const reading = order.inOrder(() => {
      read = true;
      return Promise.resolve();
    }, undefined, ['k']);
    await Promise.resolve();
    expect(read).to.equal(false);
    decision.resolve(true);
    await reading;
    expect(read).to.equal(true);
  });

  it('answers another member only after a delete of the key made here is acknowledged', async () => {
    const removal = deferred();
    // As the map's registry does: a delete is forgotten once acknowledged.
    const removals = new Map<MapKey, Promise<void>>([['k', removal.promise.then(() => void removals.delete('k'))]]);
    const order = new CallOrder(host({ running: true }, removals));
    let answered = false;
    const answer = order.afterEarlier('k', () => {
      answered = true;
      return Promise.resolve();
    });
    await new Promise((r) => setImmediate(r));
    expect(answered).to.equal(false);
    removal.resolve();
    await answer;
    expect(answered).to.equal(true);
  });

  it('refuses a call that waited for its turn when the map stopped meanwhile', async () => {
    const started = deferred();
    const state = { running: false, started: started.promise, stopped: false };
    const order = new CallOrder(host(state));
    const first = order.inOrder(() => Promise.resolve('first'));
    state.stopped = true;
    started.resolve();
    let error: unknown;
    await first.catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(StoppedError);
  });

  it('still answers other members while leaving, before its goodbye', async () => {
    const order = new CallOrder(host({ running: false, leaving: true, stopped: true }));
    expect(await order.afterEarlier('k', () => Promise.resolve('answered'))).to.equal('answered');
  });
});
