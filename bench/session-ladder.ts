/**
 * Where a session request's CPU goes, by substitution: the same express app with its HTTP client
 * in one process (bench/session-rung.ts), on four rungs that each add one layer of our store (see
 * {@link Rung}). The difference between two rungs is what that layer costs inside a real request,
 * next to express, express-session and Node's HTTP; the store-alone bench (session-store.ts)
 * measures the same code in a tight loop and finds about a third of it (docs/performance.md).
 *
 * One process per rung and repetition, in an order that reverses at every repetition (A B C D,
 * D C B A, ...): on this machine the second of two back-to-back runs of the same code was
 * measured about 10% slower than the first, which a fixed order would charge to one rung.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './sessions.js';
import type { Rung, RungResult } from './session-rung.js';

const RUNG = fileURLToPath(new URL('./session-rung.ts', import.meta.url));

/** Every rung, the floor first. */
export const RUNGS: readonly Rung[] = ['memory', 'session', 'map', 'backup'];

/** A rung's medians over the repetitions, and the spread of each workload, in CPU µs per request. */
export interface RungSeries {
  rung: Rung;
  /** Median CPU µs per writing request (`GET /write`: get, then set). */
  writeUs: number;
  /** Median CPU µs per reading request (`GET /read`: get, then touch). */
  readUs: number;
  /** Lowest and highest CPU µs per writing request over the repetitions. */
  writeRange: [number, number];
  /** Lowest and highest CPU µs per reading request over the repetitions. */
  readRange: [number, number];
}

function runRung(rung: Rung, requests: number): Promise<RungResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', RUNG], { env: { ...process.env, RUNG: rung, REQUESTS: String(requests) }, maxBuffer: 1 << 20 }, (error, stdout) => {
      if (error !== null) {
        reject(new Error(`rung ${rung} failed: ${error.message}`, { cause: error }));
        return;
      }
      const line = stdout.trim().split('\n').pop() ?? '';
      resolve(JSON.parse(line) as RungResult);
    });
  });
}

/**
 * `repetitions` runs of each of `rungs` (every rung by default, always taken in ladder order),
 * `requests` measured requests per workload each. An odd `repetitions` is rounded up: the order
 * is balanced only over pairs of repetitions.
 * @throws {RangeError} for a rung that is not one of {@link RUNGS}, or fewer than one repetition.
 */
export async function sessionLadder(requests: number, repetitions: number, only: readonly string[] = RUNGS): Promise<RungSeries[]> {
  const unknown = only.filter((r) => !(RUNGS as readonly string[]).includes(r));
  if (unknown.length > 0 || only.length === 0) throw new RangeError(`rungs must be some of ${RUNGS.join(', ')}; got '${only.join(',')}'`);
  if (!Number.isInteger(repetitions) || repetitions < 1) throw new RangeError(`repetitions must be a whole number ≥ 1, got ${String(repetitions)}`);
  const rungs = RUNGS.filter((r) => only.includes(r));
  repetitions += repetitions % 2;
  const runs = new Map<Rung, RungResult[]>(rungs.map((r) => [r, []]));
  for (let i = 0; i < repetitions; i++) {
    for (const rung of i % 2 === 0 ? rungs : [...rungs].reverse()) runs.get(rung)?.push(await runRung(rung, requests));
  }
  return rungs.map((rung) => {
    const list = runs.get(rung) ?? [];
    const writes = list.map((r) => r.writeUs);
    const reads = list.map((r) => r.readUs);
    return {
      rung,
      writeUs: median(writes),
      readUs: median(reads),
      writeRange: [Math.min(...writes), Math.max(...writes)],
      readRange: [Math.min(...reads), Math.max(...reads)],
    };
  });
}
