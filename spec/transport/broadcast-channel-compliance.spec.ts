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
  it('carries a frame that is a view into a larger buffer as its own bytes only', async () => {
    // Frames are often views into cbor-x's working buffer, which grows with the largest message a
    // process encoded (120 MiB late in this suite): structured clone copies the whole buffer under
    // a view, and this spec's map test took 45-49 s before the example copied the frame's bytes.
    const cluster = `view-${randomUUID()}`;
    const [a, b] = [new BroadcastChannelTransport('a', cluster), new BroadcastChannelTransport('b', cluster)];
    const met = once<[string]>(a, 'peerUp', (id) => id === 'b');
    try {
      await a.start();
      await b.start();
      await met;
      const big = Buffer.alloc(8 * 1024 * 1024);
      big.set([1, 2, 3], 4096);
      const received = once<[string, Uint8Array]>(b, 'message');
      await a.send('b', big.subarray(4096, 4099));
      const [, frame] = await received;
      expect([...frame]).to.deep.equal([1, 2, 3]);
      expect(frame.buffer.byteLength).to.equal(3);
    } finally {
      // An open channel would keep mocha's process alive after a failure.
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('serves set, failover after the primary stops, and get over a user-written transport', async () => {
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
