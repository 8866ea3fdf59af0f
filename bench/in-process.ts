/**
 * Benchmarks that run in one process on the in-memory network: read path, write path against
 * its floor, bytes per write by cluster size, heap per key by role, re-homing cost.
 *
 * @module
 */
import {
  FrameKind,
  InMemoryNetwork,
  LazyReplicatedMap,
  MSG_ACK,
  MSG_BACKUP,
  MSG_PROXY,
  ReplicatedMap,
  decodeFrame,
  defaultValueCodec,
  encodeFrame,
  mapMessageFromWire,
  mapMessageToWire,
  type MapKey,
} from '../lib/index.js';
import { heapUsed, text, throughput } from './measure.js';

type AnyMap = LazyReplicatedMap | ReplicatedMap;

async function cluster(n: number, kind: 'lazy' | 'replicated', backups = 1): Promise<{ net: InMemoryNetwork; maps: AnyMap[] }> {
  const net = new InMemoryNetwork({ seed: 1 });
  const maps: AnyMap[] = [];
  for (let i = 0; i < n; i++) {
    const transport = net.transport(`m${String(i).padStart(2, '0')}`);
    const map = kind === 'lazy' ? new LazyReplicatedMap<MapKey>({ name: 'bench', transport, backups }) : new ReplicatedMap<MapKey>({ name: 'bench', transport });
    await map.start();
    maps.push(map);
  }
  await net.settled();
  return { net, maps };
}

async function stopAll(maps: AnyMap[]): Promise<void> {
  // The whole cluster goes: the last members drop knowingly instead of waiting for a successor.
  for (const m of maps) if (m.state !== 'stopped') await m.stop({ discard: true });
}

/** `get` on the primary against an awaited native `Map.get` of the same keys. */
export async function readPath(keys = 10_000, rounds = 20): Promise<{ mapOpsPerSec: number; nativeOpsPerSec: number; ratio: number }> {
  const { maps } = await cluster(3, 'lazy');
  const map = maps[0] as AnyMap;
  const native = new Map<string, unknown>();
  for (let i = 0; i < keys; i++) {
    const value = { user: `u${i}`, n: i };
    await map.set(`k${i}`, value);
    native.set(`k${i}`, value);
  }
  const time = async (fn: (k: string) => unknown): Promise<number> => {
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) for (let i = 0; i < keys; i++) await fn(`k${i}`);
    return (keys * rounds) / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  await time((k) => map.get(k)); // warm-up
  await time((k) => native.get(k));
  const mapOpsPerSec = await time((k) => map.get(k));
  const nativeOpsPerSec = await time((k) => native.get(k));
  await stopAll(maps);
  return { mapOpsPerSec, nativeOpsPerSec, ratio: nativeOpsPerSec / mapOpsPerSec };
}

/**
 * `set` on a 3-member in-memory cluster (1 backup, 64 in flight) against its floor: encoding and
 * decoding the same three messages (MSG_BACKUP, MSG_ACK, MSG_PROXY) and three `Map.set`s.
 */
export async function writePath(total = 30_000, concurrency = 64): Promise<{ mapOpsPerSec: number; floorOpsPerSec: number; ratio: number; p50Ms: number; p99Ms: number }> {
  const { net, maps } = await cluster(3, 'lazy');
  const writer = maps[0] as AnyMap;
  const value = { user: 'ada', cart: ['book', 'lamp'], n: 0 };
  await throughput(2000, concurrency, (i) => writer.set(`warm${i}`, value));
  await net.settled();
  const run = await throughput(total, concurrency, (i) => writer.set(`k${i}`, { ...value, n: i }));
  await net.settled();
  await stopAll(maps);

  const stores = [new Map<MapKey, unknown>(), new Map<MapKey, unknown>(), new Map<MapKey, unknown>()];
  const floorOnce = (i: number): void => {
    const key = `k${i}`;
    const v = { ...value, n: i };
    const bytes = defaultValueCodec.encode(v);
    const version = [i, 'm00', 0, 'm00'] as const;
    const copy = { key, version, primary: 'm00', backups: ['m01'], bytes };
    const backup = decodeFrame(encodeFrame({ kind: FrameKind.Request, channel: 'lrm/map/bench', id: i, body: mapMessageToWire({ type: MSG_BACKUP, entries: [copy] }) }));
    mapMessageFromWire(backup.body);
    const ack = decodeFrame(encodeFrame({ kind: FrameKind.Reply, channel: 'lrm/map/bench', id: i, body: mapMessageToWire({ type: MSG_ACK }) }));
    mapMessageFromWire(ack.body);
    const proxy = decodeFrame(encodeFrame({ kind: FrameKind.Notify, channel: 'lrm/map/bench', id: 0, body: mapMessageToWire({ type: MSG_PROXY, entries: [{ key, version, primary: 'm00', backups: ['m01'] }] }) }));
    mapMessageFromWire(proxy.body);
    stores[0]?.set(key, v);
    stores[1]?.set(key, bytes);
    stores[2]?.set(key, version);
  };
  for (let i = 0; i < 2000; i++) floorOnce(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < total; i++) floorOnce(i);
  const floorOpsPerSec = total / (Number(process.hrtime.bigint() - t0) / 1e9);
  return { mapOpsPerSec: run.opsPerSec, floorOpsPerSec, ratio: floorOpsPerSec / run.opsPerSec, p50Ms: run.p50Ms, p99Ms: run.p99Ms };
}

/** Bytes on the wire per write of a 4 KiB value, lazy against full replication, by cluster size. */
export async function bytesPerWrite(sizes = [2, 4, 8, 16], writes = 200): Promise<Array<{ members: number; lazy: number; replicated: number }>> {
  const value = text(4096, 7);
  const rows: Array<{ members: number; lazy: number; replicated: number }> = [];
  for (const members of sizes) {
    const row = { members, lazy: 0, replicated: 0 };
    for (const kind of ['lazy', 'replicated'] as const) {
      const { net, maps } = await cluster(members, kind);
      const before = net.stats().bytes;
      for (let i = 0; i < writes; i++) await (maps[i % members] as AnyMap).set(`k${i}`, value);
      await net.settled();
      row[kind] = (net.stats().bytes - before) / writes;
      await stopAll(maps);
    }
    rows.push(row);
  }
  return rows;
}

/** One way of reaching a key in {@link accessCost}. */
export interface AccessRow {
  readonly access: string;
  readonly opsPerSec: number;
  /** Messages sent per call, replies included (every member's `stats().sent`, summed). */
  readonly messages: number;
}

/**
 * What a call costs by where it is made (issue 22: the key's primary orders every call): on 3
 * in-memory members with 1 backup, `keys` keys written on m00, each read or written one at a time
 * (awaited) `rounds` times on its primary, on its backup and on a member holding only a proxy.
 * A `set` elsewhere alternates between the two other members, so that each one moves the primary
 * role (a handover) as a writer that is not the primary does.
 */
export async function accessCost(keys = 1000, rounds = 5): Promise<AccessRow[]> {
  const { net, maps } = await cluster(3, 'lazy');
  const lazy = maps as LazyReplicatedMap[];
  const [primary, second, third] = lazy;
  if (primary === undefined || second === undefined || third === undefined) throw new Error('the cluster has 3 members');
  const key = (i: number): string => `k${i}`;
  for (let i = 0; i < keys; i++) await primary.set(key(i), { user: `u${i}`, n: i });
  await net.settled();
  // Where each key's copy went: its backup is one of m01, m02, the other holds a proxy.
  const holder = (i: number, role: 'backup' | 'proxy'): LazyReplicatedMap => (second.entryInfo(key(i))?.role === role ? second : third);
  const sent = (): number => lazy.reduce((n, m) => n + Object.values(m.stats().sent).reduce((a, b) => a + b, 0), 0);
  const measure = async (access: string, op: (i: number, round: number) => Promise<unknown>): Promise<AccessRow> => {
    // A warm-up round (the first row would pay for compiling the paths every row shares), as
    // round -1: the first measured round of writes elsewhere then moves every key again.
    for (let i = 0; i < keys; i++) await op(i, -1);
    await net.settled();
    const before = sent();
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) for (let i = 0; i < keys; i++) await op(i, r);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await net.settled();
    return { access, opsPerSec: (keys * rounds) / seconds, messages: (sent() - before) / (keys * rounds) };
  };
  const rows: AccessRow[] = [];
  rows.push(await measure('`get` on the primary', (i) => primary.get(key(i))));
  rows.push(await measure('`get` `{ promote: false }` on the backup', (i) => holder(i, 'backup').get(key(i), { promote: false })));
  rows.push(await measure('`get` `{ promote: false }` on a proxy', (i) => holder(i, 'proxy').get(key(i), { promote: false })));
  rows.push(await measure('`set` on the primary (update in place)', (i, r) => primary.set(key(i), { user: `u${i}`, n: r })));
  rows.push(await measure('`set` on a member that is not the primary (a handover each)', (i, r) => (r % 2 === 0 ? second : third).set(key(i), { user: `u${i}`, n: r })));
  await stopAll(maps);
  return rows;
}

/**
 * Messages and bytes per update in place (a new 4 KiB value written on the primary of a key that
 * already lives there), by cluster size: with read-your-writes only placing writes reach the
 * proxies, so this should not grow with the cluster.
 */
export async function updateInPlaceCost(sizes = [3, 8, 16], updates = 200): Promise<Array<{ members: number; messages: number; bytes: number }>> {
  const rows: Array<{ members: number; messages: number; bytes: number }> = [];
  for (const members of sizes) {
    const { net, maps } = await cluster(members, 'lazy');
    const writer = maps[0] as AnyMap;
    await writer.set('session', text(4096, 1));
    await net.settled();
    const before = net.stats();
    for (let i = 0; i < updates; i++) await writer.set('session', text(4096, i + 2));
    await net.settled();
    const after = net.stats();
    rows.push({ members, messages: (after.messages - before.messages) / updates, bytes: (after.bytes - before.bytes) / updates });
    await stopAll(maps);
  }
  return rows;
}

/** Heap per key by role at `count` keys (32-character keys, 300-byte values). */
export async function heapPerKey(count = 100_000): Promise<{ primary: number; backup: number; proxy: number; nativeMap: number; keyString: number }> {
  const keys = Array.from({ length: count }, (_, i) => text(32, i + 1));
  const values = Array.from({ length: count }, (_, i) => text(300, count + i + 1));
  const scenario = async (members: number, backups: number): Promise<number> => {
    const base = heapUsed();
    const { net, maps } = await cluster(members, 'lazy', backups);
    const writer = maps[0] as AnyMap;
    for (let i = 0; i < count; i += 500) {
      await Promise.all(keys.slice(i, i + 500).map((k, j) => writer.set(k, values[i + j])));
    }
    await net.settled();
    const used = heapUsed() - base;
    await stopAll(maps);
    return used;
  };
  const alone = await scenario(1, 1); // primaries only
  const withProxy = await scenario(2, 0); // primaries + proxies
  const withBackup = await scenario(2, 1); // primaries + backups
  const base = heapUsed();
  const native = new Map<string, string>();
  for (let i = 0; i < count; i++) native.set(keys[i] as string, values[i] as string);
  const nativeBytes = heapUsed() - base;
  native.clear();
  return {
    primary: alone / count,
    proxy: (withProxy - alone) / count,
    backup: (withBackup - alone) / count,
    nativeMap: nativeBytes / count,
    // A 32-character one-byte string costs about 56 bytes in V8; the key is shared by the keys array here.
    keyString: 56,
  };
}

/** Time and messages to re-home the entries of a crashed primary, by number of entries. */
export async function rehoming(sizes = [10_000, 100_000, 1_000_000]): Promise<Array<{ entries: number; ms: number; messages: number; msPer10k: number }>> {
  const rows: Array<{ entries: number; ms: number; messages: number; msPer10k: number }> = [];
  for (const entries of sizes) {
    const { net, maps } = await cluster(3, 'lazy');
    const writer = maps[0] as AnyMap;
    for (let i = 0; i < entries; i += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, entries - i) }, (_, j) => writer.set(i + j, i + j)));
    }
    await net.settled();
    const before = net.stats().messages;
    const t0 = process.hrtime.bigint();
    net.crash('m00');
    await net.settled();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const survivor = maps[1] as AnyMap;
    if (survivor.size !== entries) throw new Error(`re-homing lost entries: ${survivor.size} of ${entries}`);
    rows.push({ entries, ms, messages: net.stats().messages - before, msPer10k: (ms / entries) * 10_000 });
    await stopAll(maps);
  }
  return rows;
}
