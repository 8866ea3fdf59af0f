/**
 * Bounded memory (issue 24), measured in one process: the heap of three members that each write
 * ten times their `maxEntries`, against the bound docs/map.md states; the sampled LRU's hit rate
 * on a Zipf 0.99 trace against an exact LRU; and what the bookkeeping costs per write.
 *
 * `npm run bench -- --only=eviction`, or `npx tsx --expose-gc bench/eviction.ts` alone.
 *
 * @module
 */
import { InMemoryNetwork, LazyReplicatedMap, PROXY_METADATA_BYTES, type EvictionPolicy } from '../lib/index.js';
import { heapUsed, markdownTable, text } from './measure.js';
import { Capacity, EntryTable } from '../lib/map/capacity.js';
import { Entry } from '../lib/map/entry.js';
import type { MapKey } from '../lib/codec/map-messages.js';

type AnyMap = LazyReplicatedMap<string>;

/** Overhead of a value held here besides its encoded bytes, in bytes: the bound's constant (docs/map.md). */
export const HELD_OVERHEAD_BYTES = 330;

async function trio(limits: { maxEntries?: number; evictionPolicy?: EvictionPolicy; evictionSample?: number }, members = 3): Promise<{ net: InMemoryNetwork; maps: AnyMap[] }> {
  const net = new InMemoryNetwork({ seed: 1 });
  const maps: AnyMap[] = [];
  for (let i = 0; i < members; i++) maps.push(new LazyReplicatedMap<string, unknown>({ name: 'evict', transport: net.transport(`m${i}`), expirySweepIntervalMs: 0, ...limits }));
  for (const m of maps) await m.start();
  await net.settled();
  return { net, maps };
}

async function stopAll(net: InMemoryNetwork, maps: AnyMap[]): Promise<void> {
  // The members' entries are the bench's, not data: dropping them at the last stop is intended.
  for (const m of maps) await m.stop({ discard: true });
  await net.settled();
}

/** What a remembered delete costs on one member, in bytes (a tombstone: key, version, time). */
async function tombstoneCost(count: number): Promise<number> {
  const { net, maps } = await trio({}, 1);
  const m = maps[0] as AnyMap;
  const base = heapUsed();
  for (let i = 0; i < count; i += 500) {
    await Promise.all(Array.from({ length: 500 }, async (_, j) => {
      const k = `tomb-${String(i + j).padStart(8, '0')}`;
      await m.set(k, 1);
      await m.delete(k);
    }));
  }
  const used = heapUsed() - base;
  if (m.stats().tombstones !== count) throw new Error('tombstones were forgotten during the measure');
  await stopAll(net, maps);
  return used / count;
}

export interface HeapBoundResult {
  limit: number;
  writes: number;
  valueBytes: number;
  /** Heap of the three members after GC, in bytes. */
  heap: number;
  /** The bound of docs/map.md for the three members, in bytes. */
  bound: number;
  /** Values held per member after the run (each at most `limit`). */
  held: number[];
  proxies: number;
  tombstones: number;
  /** Deletes the members forgot because of `maxTombstones` (all members). */
  forgotten: number;
  /** The bound with every member's `T` at its `maxTombstones` (the worst the tombstones can do), in bytes. */
  worstBound: number;
  evicted: number;
  tombstoneBytes: number;
}

/**
 * Three members with `maxEntries: limit` ('lru') each write `10 × limit` new keys of 300-character
 * values, round-robin; then heapUsed (after GC) is compared with the bound
 * `Σ members: N × (2v + H) + P × (PROXY_METADATA_BYTES + key) + T × t`.
 */
export async function heapBound(limit = 5000, valueChars = 300): Promise<HeapBoundResult> {
  const tombstoneBytes = await tombstoneCost(20_000);
  const base = heapUsed();
  const { net, maps } = await trio({ maxEntries: limit, evictionPolicy: 'lru' });
  const writes = 10 * limit * maps.length;
  for (let i = 0; i < writes; i += 300) {
    await Promise.all(
      Array.from({ length: 300 }, (_, j) => {
        const n = i + j;
        return (maps[n % maps.length] as AnyMap).set(`key-${String(n).padStart(8, '0')}`, text(valueChars, n + 1));
      }),
    );
  }
  await net.settled();
  const heap = heapUsed() - base;
  const stats = maps.map((m) => m.stats());
  const v = valueChars + 3; // CBOR: a 300-character string takes 3 bytes of header
  const keyChars = 12;
  let bound = 0;
  let worstBound = 0;
  for (const s of stats) {
    const held = s.capacity.entries * (2 * v + HELD_OVERHEAD_BYTES) + s.held.proxy.entries * (PROXY_METADATA_BYTES + keyChars);
    bound += held + s.tombstones * tombstoneBytes;
    worstBound += held + (s.capacity.maxTombstones ?? s.tombstones) * tombstoneBytes;
  }
  const result: HeapBoundResult = {
    limit,
    writes,
    valueBytes: v,
    heap,
    bound,
    held: stats.map((s) => s.capacity.entries),
    proxies: stats.reduce((n, s) => n + s.held.proxy.entries, 0),
    tombstones: stats.reduce((n, s) => n + s.tombstones, 0),
    forgotten: stats.reduce((n, s) => n + s.capacity.tombstonesForgotten, 0),
    worstBound,
    evicted: stats.reduce((n, s) => n + s.capacity.evicted, 0),
    tombstoneBytes,
  };
  await stopAll(net, maps);
  return result;
}

/** A Zipf(s) trace over `keys` keys, seeded (inverse CDF over precomputed weights). */
export function zipfTrace(keys: number, length: number, s = 0.99, seed = 42): number[] {
  const cdf = new Float64Array(keys);
  let sum = 0;
  for (let i = 0; i < keys; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  let state = seed >>> 0;
  const random = (): number => {
    let t = (state = (state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const trace: number[] = [];
  for (let n = 0; n < length; n++) {
    const x = random() * sum;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    trace.push(lo);
  }
  return trace;
}

/** The hit rate of an exact LRU of `size` entries on `trace`: a Map in recency order. */
export function exactLruHitRate(trace: readonly number[], size: number): number {
  const lru = new Map<number, true>();
  let hits = 0;
  for (const k of trace) {
    if (lru.delete(k)) hits++;
    else if (lru.size >= size) lru.delete(lru.keys().next().value as number);
    lru.set(k, true);
  }
  return hits / trace.length;
}

/** The hit rate of the map itself (one member, `maxEntries: size`, 'lru') as a read-through cache on `trace`. */
export async function mapLruHitRate(trace: readonly number[], size: number, sample?: number): Promise<number> {
  const { net, maps } = await trio({ maxEntries: size, evictionPolicy: 'lru', ...(sample === undefined ? {} : { evictionSample: sample }) }, 1);
  const m = maps[0] as AnyMap;
  let hits = 0;
  for (const k of trace) {
    if ((await m.get(String(k))) !== undefined) hits++;
    else await m.set(String(k), 1);
  }
  await stopAll(net, maps);
  return hits / trace.length;
}

export interface WriteCost {
  /** Writes per second by configuration, medians of alternating rounds. */
  unlimited: number;
  /** With a limit never reached: the bookkeeping alone. */
  bookkeeping: number;
  /** With a limit reached: every write of a new key also evicts (a delete on every member). */
  evicting: number;
}

/** Writes per second of new keys through three members, with and without a limit. */
export async function writeCost(writes = 30_000, rounds = 5): Promise<WriteCost> {
  const run = async (limits: { maxEntries?: number; evictionPolicy?: EvictionPolicy }): Promise<number> => {
    const { net, maps } = await trio(limits);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < writes; i += 64) {
      await Promise.all(Array.from({ length: 64 }, (_, j) => (maps[(i + j) % 3] as AnyMap).set(`w-${i + j}`, i + j)));
    }
    await net.settled();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    await stopAll(net, maps);
    return writes / s;
  };
  const results: Record<keyof WriteCost, number[]> = { unlimited: [], bookkeeping: [], evicting: [] };
  for (let r = 0; r < rounds; r++) {
    results.unlimited.push(await run({}));
    results.bookkeeping.push(await run({ maxEntries: 10 * writes, evictionPolicy: 'lru' }));
    results.evicting.push(await run({ maxEntries: Math.max(1, Math.floor(writes / 20)), evictionPolicy: 'lru' }));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
  return { unlimited: median(results.unlimited), bookkeeping: median(results.bookkeeping), evicting: median(results.evicting) };
}

/**
 * The bookkeeping alone, in nanoseconds per write: what a write does to the entry table (a new
 * entry, its bytes set, a use counted, an update of its bytes, its removal) with the counting
 * table against a plain `Map`. Deterministic enough to compare with the time of a write, where
 * the end-to-end rounds above drown a difference of a few percent in noise.
 */
export function bookkeepingNs(count = 1_000_000, rounds = 5): { plain: number; counted: number } {
  const bytes = new Uint8Array(300);
  const again = new Uint8Array(301);
  const version = [1, 'a', 0, 'a'] as unknown as ConstructorParameters<typeof Entry>[2];
  const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
  const run = (table: Map<MapKey, Entry>, capacity: Capacity | undefined): number => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const key = keys[i % 1000] as string;
      table.delete(key);
      const e = new Entry(key, 'primary', version, 'a', [], bytes);
      table.set(key, e);
      capacity?.used(e);
      e.bytes = again;
    }
    return Number(process.hrtime.bigint() - t0) / count;
  };
  const plain: number[] = [];
  const counted: number[] = [];
  for (let r = 0; r < rounds; r++) {
    plain.push(run(new Map(), undefined));
    const capacity = new Capacity({ maxEntries: 10_000, evictionPolicy: 'lru' }, 'bench');
    counted.push(run(new EntryTable(capacity), capacity));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
  return { plain: median(plain), counted: median(counted) };
}

/** Every measure of this file, as the Markdown of docs/performance.md. */
export async function evictionBench(quick = false): Promise<string> {
  const out: string[] = [];
  const bound = await heapBound(quick ? 1000 : 5000);
  out.push(`### Bounded memory: three members write ten times their limit (\`maxEntries: ${bound.limit}\`, 'lru', 300-character values)`);
  out.push('');
  out.push(
    markdownTable(
      ['writes', 'values held per member', 'proxies (all)', 'tombstones (all)', 'forgotten early (all)', 'evicted', 'heapUsed after GC', 'bound (docs/map.md)', 'heap / bound', 'bound with T = maxTombstones'],
      [[bound.writes, bound.held.join(' / '), bound.proxies, bound.tombstones, bound.forgotten, bound.evicted, `${(bound.heap / 2 ** 20).toFixed(1)} MiB`, `${(bound.bound / 2 ** 20).toFixed(1)} MiB`, (bound.heap / bound.bound).toFixed(2), `${(bound.worstBound / 2 ** 20).toFixed(1)} MiB`]],
    ),
  );
  out.push('');
  out.push(`A remembered delete (tombstone) costs ${bound.tombstoneBytes.toFixed(0)} B on a member, measured.`);
  out.push('');
  const keys = quick ? 20_000 : 100_000;
  const trace = zipfTrace(keys, quick ? 100_000 : 400_000);
  const rows: Array<Array<string | number>> = [];
  for (const size of [keys / 100, keys / 10]) {
    const exact = exactLruHitRate(trace, size);
    for (const sample of [5, 10]) {
      const sampled = await mapLruHitRate(trace, size, sample);
      rows.push([String(size), String(sample), `${(exact * 100).toFixed(2)}%`, `${(sampled * 100).toFixed(2)}%`, `${((sampled / exact) * 100).toFixed(1)}%`]);
    }
  }
  out.push(`### Sampled LRU vs exact LRU: hit rate on a Zipf 0.99 trace (${keys} keys, ${trace.length} reads, read-through)`);
  out.push('');
  out.push(markdownTable(['maxEntries', 'evictionSample', 'exact LRU', 'the map', 'of exact (goal ≥ 95%)'], rows));
  out.push('');
  const cost = await writeCost(quick ? 6000 : 30_000, quick ? 3 : 5);
  out.push('### What a limit costs per write (new keys, three members, 64 in flight, medians of alternating rounds)');
  out.push('');
  out.push(
    markdownTable(
      ['configuration', 'writes/s', 'vs no limit'],
      [
        ['no limit', cost.unlimited.toFixed(0), '1.00×'],
        ['limit not reached (bookkeeping only)', cost.bookkeeping.toFixed(0), `${(cost.bookkeeping / cost.unlimited).toFixed(3)}×`],
        ['limit reached (each write evicts: one more delete to every member)', cost.evicting.toFixed(0), `${(cost.evicting / cost.unlimited).toFixed(3)}×`],
      ],
    ),
  );
  out.push('');
  const ns = bookkeepingNs(quick ? 300_000 : 1_000_000);
  const perWrite = 1e9 / cost.unlimited;
  out.push(
    `The bookkeeping alone (entry table and ledger vs a plain \`Map\`, a write's worth of changes): ${ns.counted.toFixed(0)} ns vs ${ns.plain.toFixed(0)} ns, ` +
      `so ${(ns.counted - ns.plain).toFixed(0)} ns per write, ${(((ns.counted - ns.plain) / perWrite) * 100).toFixed(2)}% of a write's ${(perWrite / 1000).toFixed(1)} µs (goal ≤ 2%).`,
  );
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await evictionBench(process.argv.includes('--quick')));
}
