/**
 * Snapshots: how long the last member's `stop()` takes to write a million entries, and a lone
 * member's `start()` to load them, and what the load costs in memory. Goal (issue 21): each
 * within 10 s for 1M entries of 300-byte values. Run alone with `npx tsx bench/snapshot.ts
 * [entries]` (add `node --expose-gc` for the heap column), or through `npm run bench`.
 *
 * @module
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InMemoryNetwork, LazyReplicatedMap, type SnapshotReport } from '../lib/index.js';

/** One measured round trip through a snapshot. */
export interface SnapshotResult {
  /** Entries written and loaded. */
  entries: number;
  /** Size of the file, in MiB. */
  fileMiB: number;
  /** Milliseconds of the last member's `stop()` (the write included), and of the write alone. */
  stopMs: number;
  writeMs: number;
  /** CPU time of the process during `stop()` (user + system, every thread), in milliseconds. */
  stopCpuMs: number;
  /** Milliseconds of the lone member's `start()` (the load included), and of the load alone. */
  startMs: number;
  loadMs: number;
  /** CPU time of the process during `start()`, in milliseconds. */
  startCpuMs: number;
  /** The loading process's peak resident set size growth during the load, in MiB. */
  loadRssMiB: number;
  /** Heap held by the loaded map afterwards, in MiB (`undefined` without --expose-gc). */
  heapMiB: number | undefined;
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

function heap(): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return undefined;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Fills a lone member with `entries` 300-byte values, stops it (writing the snapshot), and starts another on the file. */
export async function snapshotBench(entries: number): Promise<SnapshotResult> {
  const dir = await mkdtemp(join(tmpdir(), 'lrm-bench-snapshot-'));
  const file = join(dir, 'bench.snapshot');
  try {
    const writer = new LazyReplicatedMap<string, string>({ name: 'bench', transport: new InMemoryNetwork().transport('w'), snapshot: file });
    const pad = 'v'.repeat(290);
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < entries; i++) {
      // 300 characters: about 303 bytes once encoded.
      writes.push(writer.set(`session:${String(i).padStart(8, '0')}`, `${pad}${String(i).padStart(10, '0')}`));
      if (writes.length === 10_000) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    let written: SnapshotReport | undefined;
    writer.on('snapshot', (r) => {
      if (r.action === 'written') written = r;
    });
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await writer.stop();
    const stopMs = performance.now() - t0;
    const stopCpuMs = cpuMs(process.cpuUsage(c0));
    const fileMiB = (await stat(file)).size / 2 ** 20;

    const before = heap();
    const rss0 = process.memoryUsage().rss;
    let peakRss = rss0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
    const reader = new LazyReplicatedMap<string, string>({ name: 'bench', transport: new InMemoryNetwork().transport('r'), snapshot: file });
    let loaded: SnapshotReport | undefined;
    reader.once('snapshot', (r) => (loaded = r)); // its stop() below reports a write
    const c1 = process.cpuUsage();
    const t1 = performance.now();
    await reader.start();
    const startMs = performance.now() - t1;
    const startCpuMs = cpuMs(process.cpuUsage(c1));
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (reader.size !== entries) throw new Error(`loaded ${reader.size} of ${entries} entries`);
    const after = heap();
    await reader.stop().catch(() => undefined); // writes again; not measured
    return {
      entries,
      fileMiB,
      stopMs,
      writeMs: written?.ms ?? Number.NaN,
      stopCpuMs,
      startMs,
      loadMs: loaded?.ms ?? Number.NaN,
      startCpuMs,
      loadRssMiB: (peakRss - rss0) / 2 ** 20,
      heapMiB: before === undefined || after === undefined ? undefined : (after - before) / 2 ** 20,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? 1_000_000);
  console.log(await snapshotBench(n));
}
