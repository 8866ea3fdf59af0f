/**
 * Small measuring tools for the benchmarks: timed loops, latency percentiles, heap readings.
 *
 * @module
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times. */
const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time a process (all its threads) used so far, from /proc (Linux), in ms: in user space and in the kernel. */
export function processCpu(pid: number): { userMs: number; systemMs: number } {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'latin1');
  // The command name (field 2) may hold spaces; fields after its closing parenthesis start at 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { userMs: (Number(rest[11]) * 1000) / CLK_TCK, systemMs: (Number(rest[12]) * 1000) / CLK_TCK };
}

/** CPU per message of one side of a round trip, in µs: in user space and in the kernel. */
export interface SideCpu {
  userUs: number;
  systemUs: number;
}

/** CPU per message on each side of a round trip: the side that writes and waits, and the side that answers. */
export interface RoundTripCpu {
  writer: SideCpu;
  receiver: SideCpu;
}

/**
 * `total` round trips of `op` at `concurrency`, with the CPU per round trip of this process (the
 * writer: it must run nothing else meanwhile) and of the answering process `receiverPid`.
 */
export async function roundTrips(total: number, concurrency: number, op: (i: number) => Promise<unknown>, receiverPid: number): Promise<Throughput & { cpu: RoundTripCpu }> {
  const writer0 = process.cpuUsage();
  const receiver0 = processCpu(receiverPid);
  const result = await throughput(total, concurrency, op);
  const writer = process.cpuUsage(writer0);
  const receiver = processCpu(receiverPid);
  return {
    ...result,
    cpu: {
      writer: { userUs: writer.user / total, systemUs: writer.system / total },
      receiver: { userUs: ((receiver.userMs - receiver0.userMs) * 1000) / total, systemUs: ((receiver.systemMs - receiver0.systemMs) * 1000) / total },
    },
  };
}

/** The keys a member's `load` command cycles through (`<prefix>0` ... `<prefix>999`, bench/member.ts). */
export const LOAD_KEYS = 1000;

/** Operations per second and latency percentiles of one run. */
export interface Throughput {
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `op` `total` times with `concurrency` in flight and measures each operation's latency. */
export async function throughput(total: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<Throughput> {
  const latencies = new Float64Array(total);
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const t0 = process.hrtime.bigint();
      await op(i);
      latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  return { ops: total, seconds, opsPerSec: total / seconds, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

/** Heap in use after two full collections (needs `--expose-gc`). */
export function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the benchmarks with node --expose-gc (npm run bench does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A fixed-width table for the console and for docs/performance.md. */
export function markdownTable(header: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...cells.map((r) => `| ${r.join(' | ')} |`)];
  return lines.join('\n');
}

/** Numbers with sensible precision. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** A random string of `n` characters from a fixed alphabet (deterministic with a seed). */
export function text(n: number, seed: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const chars = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    chars[i] = alphabet.charCodeAt((x >>> 0) % alphabet.length);
  }
  // Built from bytes, the string is flat: no rope left to be flattened (and resized) later.
  return chars.toString('latin1');
}
