/**
 * A process of the join benchmark (bench/join.ts). As `owner` it fills a lone map over TCP with
 * KEYS keys and reports its address; as `joiner` it joins that owner and reports how long
 * `start()` took and the highest memory it saw meanwhile. Separate processes, so the joiner's
 * memory is its own. The default `maxFrameBytes` (16 MiB) and `statePageBytes` (1 MiB) apply.
 *
 * @module
 */
import { LazyReplicatedMap, TcpTransport } from '../lib/index.js';

/** What a join-benchmark process tells its parent. */
export type JoinMessage =
  | { type: 'ready'; address: string; rssBytes: number }
  | { type: 'joined'; ms: number; keys: number; peakRssBytes: number; peakHeapBytes: number; baseRssBytes: number };

const role = process.env['ROLE'] ?? 'owner';
const keys = Number(process.env['KEYS'] ?? 0);
const seed = process.env['SEED'];
// No backups: what is measured is the state transfer, not the re-backup a lone owner then owes.
const transport = new TcpTransport({ id: role, host: '127.0.0.1', port: 0, seeds: seed === undefined ? [] : [seed] });
const map = new LazyReplicatedMap<string, number>({ name: 'join', transport, backups: 0, rpcTimeoutMs: 30_000 });

if (role === 'owner') {
  await map.start();
  for (let i = 0; i < keys; i += 10_000) {
    await Promise.all(Array.from({ length: Math.min(10_000, keys - i) }, (_, j) => map.set(`session-${i + j}`, i + j)));
  }
  process.send?.({ type: 'ready', address: transport.address, rssBytes: process.memoryUsage().rss } satisfies JoinMessage);
} else {
  await transport.start();
  await transport.joined();
  globalThis.gc?.();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  const sample = (): void => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  // Sampled on a timer, so a peak between two samples can be missed: a lower bound, about right.
  const sampler = setInterval(sample, 20);
  const t0 = performance.now();
  await map.start();
  const ms = performance.now() - t0;
  sample();
  clearInterval(sampler);
  process.send?.({ type: 'joined', ms, keys: map.size, peakRssBytes: peakRss, peakHeapBytes: peakHeap, baseRssBytes: base.rss } satisfies JoinMessage);
}
