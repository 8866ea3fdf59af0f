import { expect } from 'chai';
import { EventEmitter } from 'eventemitter3';
import { DataLossError, JoinTimeoutError, NotStartedError, StoppedError } from '../../../lib/errors.js';
import { InMemoryNetwork } from '../../../lib/in-memory-network.js';
import { Entry } from '../../../lib/map/entry.js';
import { MapLifecycle, type MapLifecycleParts } from '../../../lib/map/map-lifecycle.js';
import type { DepartureResult } from '../../../lib/map/departure.js';
import type { MapEvents } from '../../../lib/map/map-options.js';
import { Calls, fakeContext } from './fakes.js';

/** A promise and its resolver. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** What `promise` rejected with; fails when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

interface Setup {
  /** What the departure reports (default: nothing dropped, a peer met). */
  leave?: DepartureResult;
  /** Answers awaited by calls made before `stop()`. */
  awaited?: Array<Promise<unknown>>;
  /** A snapshot whose `save` fails with this error (no snapshot when absent). */
  saveFails?: Error;
  /** With `mustJoin`, how long to wait for a member (ms). */
  mustJoinMs?: number;
}

/** A lifecycle for member 'a' alone on an in-memory transport, every sibling a recorder. */
function build(setup: Setup = {}) {
  const fake = fakeContext('a');
  const net = new InMemoryNetwork({ seed: 1 });
  const transport = net.transport('a');
  const calls = new Calls();
  const map = new EventEmitter<MapEvents>();
  const events: string[] = [];
  for (const name of ['ready', 'stopped'] as const) map.on(name, () => events.push(name));
  const parts: MapLifecycleParts = {
    transport,
    handler: { handle: () => undefined, wasReported: () => false },
    transfer: {
      ask: (targets) => {
        calls.record('ask', [...targets]);
        return Promise.resolve([]);
      },
      answered: (targets) => calls.done('answered', [...targets]),
      introduce: (id) => {
        calls.record('introduce', id);
      },
      forget: (id) => {
        calls.record('forget', id);
      },
    },
    memberChanges: { disappeared: (id) => { calls.record('disappeared', id); } },
    failover: { vanished: (id) => { calls.record('vanished', id); } },
    departure: {
      leave: async (options) => {
        calls.record('leave', options.waitMs, options.discard);
        const saved = options.save === undefined ? undefined : await options.save([]);
        return { dropped: 0, hadPeer: true, waitedMs: 0, ...setup.leave, ...(saved === undefined ? {} : { saved }) };
      },
      changed: () => { calls.record('departure.changed'); },
    },
    snapshot: setup.saveFails === undefined ? undefined : {
      restore: () => calls.done('restore'),
      save: () => Promise.reject(setup.saveFails!),
    },
    view: { changed: () => { calls.record('view.changed'); }, close: () => { calls.record('view.close'); } },
    expiry: { start: () => { calls.record('expiry.start'); }, stop: () => { calls.record('expiry.stop'); } },
    order: { awaited: () => setup.awaited ?? [] },
  };
  const joinCheck = { name: 'm', id: 'a', discoverMs: 1000, mustJoin: setup.mustJoinMs !== undefined, joinTimeoutMs: setup.mustJoinMs ?? 0 };
  const lifecycle = new MapLifecycle(fake.ctx, map, parts, { joinCheck, stopWaitMs: 500 });
  return { lifecycle, calls, fake, map, events, net };
}

describe('MapLifecycle (alone, on fakes)', () => {
  it('starts once: opens the channel, asks the members, then runs, starts expiry and says ready', async () => {
    const { lifecycle, calls, fake, map, events } = build();
    expect(() => { lifecycle.assertStarted(); }).to.throw(NotStartedError, /not started/);
    const starting = lifecycle.start();
    expect(lifecycle.start()).to.equal(starting);
    expect(fake.ctx.lifecycle).to.equal('starting');
    expect(await starting).to.equal(map);
    expect(fake.ctx.lifecycle).to.equal('running');
    expect(lifecycle.isReady).to.equal(true);
    expect(fake.ctx.channel).to.not.equal(undefined);
    expect(calls.names()).to.deep.equal(['ask', 'answered', 'view.changed', 'expiry.start']);
    expect(events).to.deep.equal(['ready']);
    await lifecycle.whenReady();
    await lifecycle.stop();
  });

  it('fails fast, stopped, when the member may not join; whenReady hears that it stopped first', async () => {
    const { lifecycle, calls, fake, events } = build({ mustJoinMs: 1 });
    const starting = lifecycle.start();
    const ready = lifecycle.whenReady();
    const error = await rejection(starting);
    expect(error).to.be.instanceOf(JoinTimeoutError);
    expect(await rejection(ready)).to.be.instanceOf(StoppedError).and.to.have.property('message').that.matches(/stopped before it was ready/);
    expect(fake.ctx.lifecycle).to.equal('stopped');
    expect(events).to.deep.equal(['stopped']);
    expect(calls.names()).to.not.include('ask');
  });

  it('stop waits for the answers awaited by earlier calls, then leaves, halts and closes the channel', async () => {
    const answer = deferred();
    const { lifecycle, calls, fake, events } = build({ awaited: [answer.promise] });
    await lifecycle.start();
    fake.ctx.entries.set('k', new Entry('k', 'primary', [1, 'a', 0, 'a'], 'a', [], new Uint8Array([1])));
    const stopping = lifecycle.stop();
    expect(lifecycle.stop()).to.equal(stopping);
    expect(fake.ctx.lifecycle).to.equal('stopping');
    expect(lifecycle.isReady).to.equal(false);
    await Promise.resolve();
    expect(calls.names()).to.not.include('leave');
    answer.resolve();
    await stopping;
    expect(calls.list.slice(4)).to.deep.equal([['view.changed'], ['expiry.stop'], ['leave', 500, false], ['expiry.stop'], ['view.close']]);
    expect(fake.ctx.lifecycle).to.equal('stopped');
    expect(fake.ctx.entries.size).to.equal(0);
    expect(events).to.deep.equal(['ready', 'stopped']);
  });

  it('refuses every use after stop with StoppedError, and never starts again', async () => {
    const { lifecycle } = build();
    await lifecycle.start();
    await lifecycle.stop();
    expect(() => { lifecycle.assertUsable(); }).to.throw(StoppedError, /is stopped: create and start a new map/);
    expect(() => { lifecycle.assertStarted(); }).to.throw(StoppedError);
    expect(await rejection(lifecycle.ready())).to.be.instanceOf(StoppedError);
    expect(await rejection(lifecycle.start())).to.be.instanceOf(StoppedError).and.to.have.property('message').that.matches(/create and start a new map/);
    expect(await rejection(lifecycle.whenReady())).to.be.instanceOf(StoppedError).and.to.have.property('message').that.matches(/will not be ready again/);
  });

  it('a stop called while starting waits for the start, then leaves', async () => {
    const { lifecycle, calls, events } = build();
    const starting = lifecycle.start();
    const stopping = lifecycle.stop();
    await starting;
    await stopping;
    expect(calls.names()).to.include('leave');
    expect(events).to.deep.equal(['ready', 'stopped']);
  });

  it('reports entries dropped on stop as DataLossError: rejected, emitted as an error when listened to, and a process warning', async () => {
    const { lifecycle, map } = build({ leave: { dropped: 2, hadPeer: true, waitedMs: 500 } });
    const emitted: Error[] = [];
    map.on('error', (e) => emitted.push(e));
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      if (w instanceof DataLossError) warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      await lifecycle.start();
      const error = await rejection(lifecycle.stop());
      expect(error).to.be.instanceOf(DataLossError).and.to.have.property('dropped', 2);
      expect((error as Error).message).to.match(/dropped 2 entries on stop.*option stopWaitMs: 500 ms/);
      expect(emitted).to.deep.equal([error]);
      // process.emitWarning delivers the 'warning' event on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).to.deep.equal([error]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('rejects stop with the snapshot’s error when it could not be written, stopped all the same', async () => {
    const failure = new Error('disk full');
    const { lifecycle, fake, calls } = build({ saveFails: failure });
    await lifecycle.start();
    expect(calls.names()).to.include('restore');
    expect(await rejection(lifecycle.stop())).to.equal(failure);
    expect(fake.ctx.lifecycle).to.equal('stopped');
  });

  it('halts when the transport closes under it (a crash)', async () => {
    const { lifecycle, fake, events, net } = build();
    await lifecycle.start();
    net.crash('a');
    await net.settled();
    expect(fake.ctx.lifecycle).to.equal('stopped');
    expect(events).to.deep.equal(['ready', 'stopped']);
  });
});
