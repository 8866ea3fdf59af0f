import { expect } from 'chai';
import {
  classifyFrame,
  InMemoryNetwork,
  LazyReplicatedMap,
  mapMessageFromWire,
  mapMessageToWire,
  MSG_ACK,
  MSG_BACKUP,
  MSG_RETRIEVE_BACKUP,
  MSG_RETRIEVE_MANY,
  MSG_START,
  MSG_STATE,
  MSG_VALUE,
  MSG_VIEW,
  type EntryCopy,
  type HeldCopy,
  type MapKey,
  type NetworkStats,
} from '../../lib/index.js';
import { mapChannelName } from '../../lib/map/map-channel.js';
import { openLibraryChannel, type RpcChannel } from '../../lib/rpc/rpc-channel.js';
import { keysDecidedBy } from './helpers.js';

type Map = LazyReplicatedMap<string>;

/** Messages of `type` the network delivered since `before`. */
function delivered(net: InMemoryNetwork, type: string, before: NetworkStats): number {
  return (net.stats().byType[type]?.messages ?? 0) - (before.byType[type]?.messages ?? 0);
}

/** Messages of `type` a map sent since `before` (its `stats().sent`). */
function sent(map: Map, type: string, before: Record<string, number> = {}): number {
  return (map.stats().sent[type] ?? 0) - (before[type] ?? 0);
}

/** Maps on one network, started in order; the first one writes `keys` (it is primary of them all). */
async function members(net: InMemoryNetwork, ids: string[], opts: { backups?: number; maxFrameBytes?: number } = {}): Promise<Record<string, Map>> {
  const maps: Record<string, Map> = {};
  for (const id of ids) {
    maps[id] = new LazyReplicatedMap<string, unknown>({
      name: 'm',
      transport: net.transport(id, opts.maxFrameBytes === undefined ? undefined : { maxFrameBytes: opts.maxFrameBytes }),
      backups: opts.backups ?? 1,
      rpcTimeoutMs: 60_000,
    });
  }
  for (const id of ids) await maps[id]!.start();
  await net.settled();
  return maps;
}

/**
 * Reads every key on `reader` (no promotion) while their primary crashes: the reads asked the
 * primary, which can no longer answer, so each is served by a holder of the key (a fetch).
 */
async function readThroughCrash(net: InMemoryNetwork, reader: Map, keys: string[], primary: string, during?: () => void): Promise<unknown[]> {
  const reads = Promise.all(keys.map((k) => reader.get(k, { promote: false })));
  net.crash(primary);
  during?.();
  return reads;
}

describe('fetches from holders are batched per holder (MSG_RETRIEVE_MANY)', () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  /** Every map's stop, for afterEach. */
  function track(maps: Record<string, Map>, net: InMemoryNetwork): void {
    stops.push(async () => {
      for (const m of Object.values(maps)) if (m.state === 'running') await m.stop({ discard: true }).catch(() => undefined);
      await net.settled();
    });
  }

  it('sends the keys of one turn to a holder as one message, answered with one message, every key served', async () => {
    const net = new InMemoryNetwork({ seed: 3 });
    const maps = await members(net, ['a', 'b', 'c', 'd']);
    track(maps, net);
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    for (const k of keys) await maps.a!.set(k, { k });
    await net.settled();
    // The keys 'd' fetches: those it holds no copy of.
    const fetched = keys.filter((k) => maps.d!.entryInfo(k)?.role === 'proxy');
    const holders = new Set(fetched.map((k) => maps.d!.entryInfo(k)?.backups[0]));
    expect(fetched.length).to.be.greaterThan(10);
    const before = net.stats();

    expect(await readThroughCrash(net, maps.d!, keys, 'a')).to.deep.equal(keys.map((k) => ({ k })));
    await net.settled();

    // One key per holder may go alone (nothing was in flight yet), the rest of the turn together.
    const many = delivered(net, 'MSG_RETRIEVE_MANY', before);
    const single = delivered(net, 'MSG_RETRIEVE_BACKUP', before);
    expect(many, 'batched fetches').to.be.within(1, holders.size);
    expect(single, 'fetches of a key alone').to.be.at.most(holders.size);
    expect(many + single).to.be.lessThan(fetched.length / 4);
    expect(delivered(net, 'MSG_VALUES', before), 'one answer per batch').to.equal(many);
  });

  it('splits a batch so that no frame exceeds the frame limit: the request by its keys, the reply by its values', async () => {
    const LIMIT = 4096;
    // The in-memory network delivers any frame: the largest of each type is recorded here.
    const largest: Record<string, number> = {};
    const classify = (frame: Uint8Array): string | undefined => {
      const type = classifyFrame(frame);
      if (type !== undefined) largest[type] = Math.max(largest[type] ?? 0, frame.byteLength);
      return type;
    };
    const net = new InMemoryNetwork({ seed: 5, classify });
    const maps = await members(net, ['a', 'b', 'c'], { maxFrameBytes: LIMIT });
    track(maps, net);
    // Long keys (a request of all of them exceeds the limit) and 1500-byte values (a reply holds a few).
    const keys = Array.from({ length: 30 }, (_, i) => `${'key-'.repeat(75)}${i}`);
    const value = 'v'.repeat(1500);
    for (const k of keys) await maps.a!.set(k, value);
    await net.settled();
    const fetched = keys.filter((k) => maps.c!.entryInfo(k)?.role === 'proxy');
    expect(fetched.length).to.be.greaterThan(8);
    const errors: Error[] = [];
    for (const m of Object.values(maps)) m.on('error', (e) => errors.push(e));
    const before = net.stats();

    expect(await readThroughCrash(net, maps.c!, keys, 'a')).to.deep.equal(keys.map(() => value));
    await net.settled();

    // Neither a request of every key (300 bytes each) nor a reply of every value fits 4 KiB:
    // requests of a few keys, and replies of fewer values, whose other keys are asked again.
    const keysPerRequest = Math.ceil(LIMIT / 300);
    expect(delivered(net, 'MSG_RETRIEVE_MANY', before)).to.be.greaterThan(Math.ceil(fetched.length / keysPerRequest) + 1);
    expect(delivered(net, 'MSG_VALUES', before)).to.equal(delivered(net, 'MSG_RETRIEVE_MANY', before));
    expect(largest['MSG_RETRIEVE_MANY'], 'largest request').to.be.at.most(LIMIT);
    expect(largest['MSG_VALUES'], 'largest reply').to.be.at.most(LIMIT).and.above(LIMIT / 2);
    expect(errors).to.deep.equal([]);
  });

  it('resolves every key of a batch whose holder dies while it is in flight, through the other holder', async () => {
    const net = new InMemoryNetwork({ seed: 7 });
    const maps = await members(net, ['a', 'b', 'c', 'd', 'e'], { backups: 2 });
    track(maps, net);
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    for (const k of keys) await maps.a!.set(k, i(k));
    await net.settled();
    const fetched = keys.filter((k) => maps.e!.entryInfo(k)?.role === 'proxy');
    // The holder to kill: the one that holds most of the keys 'e' fetches.
    const counts = new globalThis.Map<string, number>();
    for (const k of fetched) for (const b of maps.e!.entryInfo(k)?.backups ?? []) counts.set(b, (counts.get(b) ?? 0) + 1);
    const victim = [...counts].sort((x, y) => y[1] - x[1])[0]![0];
    const before = { ...maps.e!.stats().sent };
    const victimBefore = maps[victim]!.stats().received['MSG_RETRIEVE_MANY'] ?? 0;
    net.configure({ delay: { min: 5, max: 5 } });

    // Batches the victim had received when it crashed: it answers at once, but its answer takes
    // 5 delivery rounds (turns of the event loop) on this network, and a crash drops what a member
    // still had on its way, so a batch received and not yet answered is one that dies with its
    // holder. The reads ask every holder at once, so they resolve through the other; that the
    // asks of a silent holder settle too is checked in collaborators/fetches.spec.ts.
    let batchesAtCrash = 0;
    const values = await readThroughCrash(net, maps.e!, keys, 'a', () => {
      // Checked at every turn, so well before the fifth can carry the answer.
      const poll = (): void => {
        const received = (maps[victim]!.stats().received['MSG_RETRIEVE_MANY'] ?? 0) - victimBefore;
        if (received > 0) {
          batchesAtCrash = received;
          net.crash(victim);
        } else setImmediate(poll);
      };
      setImmediate(poll);
    });

    expect(batchesAtCrash, 'the victim received a batch and died before its answer arrived').to.be.greaterThan(0);
    expect(values).to.deep.equal(keys.map(i));
    expect(sent(maps.e!, 'MSG_RETRIEVE_MANY', before)).to.be.greaterThan(0);
  });

  it('asks a holder of an older build that refuses MSG_RETRIEVE_MANY key by key, and remembers it', async () => {
    const net = new InMemoryNetwork({ seed: 11 });
    const old = oldHolder(net.transport('o'));
    const maps: Record<string, Map> = {};
    for (const id of ['a', 'r']) maps[id] = new LazyReplicatedMap<string, unknown>({ name: 'm', transport: net.transport(id), backups: 1, rpcTimeoutMs: 60_000 });
    stops.push(async () => {
      for (const m of Object.values(maps)) if (m.state === 'running') await m.stop({ discard: true }).catch(() => undefined);
      await old.channel.close();
      await net.settled();
    });
    for (const m of Object.values(maps)) await m.start();
    await net.settled();
    // Keys 'a' creates without asking another member (the old one would not know how to answer).
    const keys = keysDecidedBy('a', ['a', 'o', 'r'], 30);
    for (const k of keys) await maps.a!.set(k, i(k));
    await net.settled();
    // The keys whose copy only the old member holds besides the primary.
    const onOld = keys.filter((k) => maps.r!.entryInfo(k)?.role === 'proxy');
    expect(onOld.length).to.be.greaterThan(4);
    const errors: Error[] = [];
    maps.r!.on('error', (e) => errors.push(e));

    expect(await readThroughCrash(net, maps.r!, onOld, 'a')).to.deep.equal(onOld.map(i));
    // One batch, refused as an unknown message; then every key of it alone.
    expect(old.asked).to.deep.equal({ many: 1, single: onOld.length });

    // Next time, key by key at once.
    expect(await Promise.all(onOld.map((k) => maps.r!.get(k, { promote: false })))).to.deep.equal(onOld.map(i));
    expect(old.asked).to.deep.equal({ many: 1, single: 2 * onOld.length });
    expect(errors).to.deep.equal([]);
  });
});

/** The number in a key `k<n>`. */
function i(k: string): number {
  return Number(k.slice(1));
}

/**
 * A member of a build before MSG_RETRIEVE_MANY: it holds the copies it is sent and answers
 * MSG_RETRIEVE_BACKUP, and refuses a message type it does not know as such a build does (a
 * `ProtocolError` answer). It never claims anything.
 */
function oldHolder(transport: ReturnType<InMemoryNetwork['transport']>): { channel: RpcChannel; asked: { many: number; single: number } } {
  const held = new globalThis.Map<MapKey, EntryCopy>();
  const asked = { many: 0, single: 0 };
  let views = 0;
  const refusal = (name: string, message: string): Error => Object.assign(new Error(message), { name });
  const channel = openLibraryChannel(transport, mapChannelName('m'), (request) => {
    if (Array.isArray(request) && request[0] === MSG_RETRIEVE_MANY) {
      asked.many++;
      throw refusal('ProtocolError', `dropped a message from 'r': malformed map message: unknown message type ${MSG_RETRIEVE_MANY}`);
    }
    const message = mapMessageFromWire(request);
    switch (message.type) {
      case MSG_START:
        return mapMessageToWire({ type: MSG_STATE, incarnation: 'old', entries: [], tombstones: [] });
      case MSG_VIEW:
        // It agrees with every view it is told of (a newer one each time).
        return mapMessageToWire({ type: MSG_VIEW, seq: ++views, incarnation: 'old', members: message.members, clock: 0, creations: [] });
      case MSG_BACKUP:
        for (const e of message.entries) held.set(e.key, e);
        break;
      case MSG_RETRIEVE_BACKUP: {
        asked.single++;
        const e = held.get(message.key);
        if (e === undefined) throw refusal('RetrieveError', `member 'o' holds no value for key ${String(message.key)}`);
        const copy: HeldCopy = { version: e.version, bytes: e.bytes, idleMs: 0 };
        return mapMessageToWire({ type: MSG_VALUE, key: message.key, copy });
      }
      default:
        break;
    }
    return mapMessageToWire({ type: MSG_ACK });
  });
  return { channel, asked };
}
