import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { LazyReplicatedMap, type Transport } from '../../lib/index.js';
import { BroadcastChannelTransport } from '../../examples/broadcast-channel-transport.js';
import { transportCompliance, type TransportHarnessFactory } from './compliance.js';
import { once } from '../helpers/events.js';

/** Every test gets its own channel name, so clusters of different tests never meet. */
const broadcastChannels: TransportHarnessFactory = () => {
  const cluster = `test-${randomUUID()}`;
  const created: Transport[] = [];
  return Promise.resolve({
    transports: (ids: string[]) => {
      const ts = ids.map((id) => new BroadcastChannelTransport(id, cluster));
      created.push(...ts);
      return Promise.resolve(ts);
    },
    // A real asynchronous carrier: "settled" can only be a short quiet period.
    settle: () => new Promise<void>((resolve) => setTimeout(resolve, 50)),
    teardown: async () => {
      await Promise.all(created.map((t) => t.stop()));
    },
  });
};

// The example custom transport (examples/broadcast-channel-transport.ts) keeps the same promises
// as the built-in ones: that is what the compliance suite is for.
transportCompliance('BroadcastChannelTransport (examples/)', broadcastChannels);

describe('LazyReplicatedMap on the example BroadcastChannelTransport', () => {
  it('serves set, failover after the primary stops, and get over a user-written transport', async function () {
    // Node's BroadcastChannel costs milliseconds of CPU per postMessage late in a long mocha
    // process (a CPU profile of the full suite: most of this test's time is in postMessage),
    // against well under one alone: this spec is about what the map does over a user's
    // transport, not how fast that transport is.
    this.timeout(60_000);
    const cluster = `map-${randomUUID()}`;
    const ids = ['a', 'b', 'c'];
    const transports = ids.map((id) => new BroadcastChannelTransport(id, cluster));
    const maps = transports.map((transport) => new LazyReplicatedMap<string, { n: number }>({ name: 'm', transport }));
    const [a, b, c] = maps as [LazyReplicatedMap<string, { n: number }>, LazyReplicatedMap<string, { n: number }>, LazyReplicatedMap<string, { n: number }>];
    await a.start();
    const bJoins = once<[string]>(a, 'memberAdded', (id) => id === 'b');
    await b.start();
    await bJoins;
    const cJoins = once<[string]>(a, 'memberAdded', (id) => id === 'c');
    await c.start();
    await cJoins;
    await a.set('k', { n: 1 });
    const backup = a.entryInfo('k')?.backups[0];
    expect(backup).to.be.oneOf(['b', 'c']);
    const survivor = backup === 'b' ? b : c;
    const gone = once<[string]>(survivor, 'memberDisappeared', (id) => id === 'a');
    await a.stop();
    await gone;
    expect(await survivor.get('k')).to.deep.equal({ n: 1 });
    await Promise.all([b.stop({ discard: true }), c.stop({ discard: true })]);
  });
});
