/**
 * A process of the join benchmark (bench/join.ts). As `owner` it fills a lone map over TCP with
 * KEYS keys and reports its address; as `joiner` it joins that owner and reports how long
 * `start()` took and the highest memory it saw meanwhile. Separate processes, so the joiner's
 * memory is its own. The default `maxFrameBytes` (16 MiB) and `statePageBytes` (1 MiB) apply.
 *
 * @module
 */
import { main } from './built.js';

/** What a join-benchmark process tells its parent. */
export type JoinMessage =
  | { type: 'ready'; address: string; rssBytes: number }
  | { type: 'joined'; ms: number; keys: number; peakRssBytes: number; peakHeapBytes: number; baseRssBytes: number };

const role = process.env['ROLE'] ?? 'owner';
const keys = Number(process.env['KEYS'] ?? 0);
const seed = process.env['SEED'];
// No backups: what is measured is the state transfer, not the re-backup a lone owner then owes.
// A generous failure timeout: on a busy machine, a garbage collection of the owner's 1M-entry
// heap can outlast the default 2 s, and a join that loses its owner to the failure detector
// measures failure detection, not the state transfer.
const { LazyReplicatedMap, TcpTransport } = main;
const transport = new TcpTransport({ id: role, host: '127.0.0.1', port: 0, seeds: seed === undefined ? [] : [seed], failureTimeoutMs: 10_000, heartbeatIntervalMs: 1000 });
const map = new LazyReplicatedMap<string, number>({ name: 'join', transport, backups: 0, rpcTimeoutMs: 30_000 });
// A failed join must say why, not just come out empty.
map.on('error', (error) => {
  console.error(`${role}: ${error.name}: ${error.message}`);
});
transport.on('error', (error: Error) => {
  console.error(`${role} transport: ${error.name}: ${error.message}`);
});

if (role === 'owner') {
  await map.start();
  for (let i = 0; i < keys; i += 10_000) {
    await Promise.all(Array.from({ length: Math.min(10_000, keys - i) }, (_, j) => map.set(`session-${i + j}`, i + j)));
  }
  process.send?.({ type: 'ready', address: transport.address, rssBytes: process.memoryUsage().rss } satisfies JoinMessage);
} else {
  await transport.start();
  // Start the map only once the owner is a peer: a join that finds nobody is not what is timed.
  if (!transport.peers().includes('owner')) {
    await new Promise<void>((resolve) => {
      const up = (peer: string): void => {
        if (peer !== 'owner') return;
        transport.off('peerUp', up);
        resolve();
      };
      transport.on('peerUp', up);
    });
  }
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
  if (map.size !== keys) console.error(`joiner: ${map.size} keys after ${Math.round(ms)} ms; stats ${JSON.stringify(map.stats())}`);
  sample();
  clearInterval(sampler);
  process.send?.({ type: 'joined', ms, keys: map.size, peakRssBytes: peakRss, peakHeapBytes: peakHeap, baseRssBytes: base.rss } satisfies JoinMessage);
}
