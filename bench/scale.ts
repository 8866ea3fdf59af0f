/**
 * How the map behaves as the cluster grows: 3, 8 and 16 member processes over TCP on 127.0.0.1
 * (bench/member.ts), measured for cluster formation, `set` throughput and SIGKILL failover.
 *
 * @module
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { BenchMember } from './tcp.js';
import { LOAD_KEYS, type Throughput } from './measure.js';
import type { BenchStats } from './member.js';

/** One cluster size. */
export interface ScaleRow {
  members: number;
  /** From the first fork to every member's map started (process start-up, tsx, listening). */
  startMs: number;
  /** From the last member started to every member seeing all the others. */
  formMs: number;
  /**
   * Every member writing its {@link LOAD_KEYS} keys for the first time, all members at once, 64 in
   * flight in all: each is a new key, created through the member it hashes to (a handover round
   * trip unless that is the writer) and announced to every member (read-your-writes).
   */
  createOpsPerSec: number;
  /** The highest p99 of any member's first writes. */
  createP99Ms: number;
  /**
   * A fixed batch of `set`s of those keys (each member its own: updates in place by their
   * primary), spread evenly over the members, 64 in flight in all, once every member created its keys.
   */
  setOpsPerSec: number;
  /** The highest p99 of any member's writes. */
  setP99Ms: number;
  /** Every survivor serving each of the victim's keys with nobody lost (the same reads, before the kill). */
  servedBeforeMs: number;
  /** From a SIGKILL of a member that is primary of keys to the first survivor serving each of them. */
  failoverFirstMs: number;
  /** ... to every survivor serving each of them. */
  failoverMs: number;
  /** What did not finish in time (the measures after it are NaN). */
  note?: string;
  /**
   * Why the failover pass took what it took, survivor by survivor: when it saw the victim gone,
   * when it served every key, how many passes over the keys that took, and how many of its
   * requests to peers waited out `rpcTimeoutMs` (10 s in bench/member.ts) since before the kill.
   */
  failoverDetail?: string;
  /**
   * The failover measured again, each time in a fresh cluster of this size (the first is the one
   * above): a figure of one run says little on a machine other work shares.
   */
  failovers?: FailoverRun[];
}

/** One SIGKILL failover. */
export interface FailoverRun {
  /** Serving every key with nobody lost (the baseline pass), in milliseconds. */
  servedBeforeMs: number;
  /** SIGKILL to the first survivor serving every key. */
  firstMs: number;
  /** SIGKILL to every survivor serving every key. */
  lastMs: number;
  /** CPU the survivors used, summed, in the baseline pass (ms). */
  servedBeforeCpuMs: number;
  /** CPU the survivors used, summed, from the SIGKILL to every one serving every key (ms). */
  failoverCpuMs: number;
  /**
   * Live members some survivor saw gone from the SIGKILL to its last key served (every one beyond
   * the victim), over all survivors: a member whose event loop was held up past the failure
   * timeout on a loaded machine, and the failovers and state transfers that follow.
   */
  wronglyGone: number;
  /** The longest any survivor's event loop was held up in the run (baseline pass and failover), in milliseconds. */
  maxLoopDelayMs: number;
  /** The machine's load averages (1, 5, 15 minutes) when the run started: the figures are wall times on shared cores. */
  load: string;
  /** Per survivor: see {@link ScaleRow.failoverDetail}. */
  detail: string;
  /** Why the run did not finish, if it did not. */
  note?: string;
}

/** The load averages, as `uptime` prints them. */
export function loadNow(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
}

const IN_FLIGHT = 64;

/** Resolves as `work` does, or rejects once `ms` passed first: no step of the bench waits forever. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: no answer within ${String(ms / 1000)} s`));
    }, ms);
  });
  return Promise.race([work, deadline]).finally(() => {
    clearTimeout(timer);
  });
}

/** Progress on stderr: a 16-member size takes minutes on a busy machine. */
const progress = (line: string): void => {
  process.stderr.write(`scale: ${line}\n`);
};

/** Forks `n` members seeded with the first; resolves once every member sees all `n`. */
async function formCluster(n: number, members: BenchMember[]): Promise<{ startMs: number; formMs: number }> {
  const t0 = performance.now();
  const first = new BenchMember('m0', []);
  members.push(first);
  await first.ready();
  const rest = Array.from({ length: n - 1 }, (_, i) => new BenchMember(`m${String(i + 1)}`, [first.address]));
  members.push(...rest);
  await Promise.all(rest.map((m) => m.ready()));
  const started = performance.now();
  await Promise.all(
    members.map(async (m) => {
      while ((await m.request<string[]>({ cmd: 'members' })).length < n) await new Promise((r) => setTimeout(r, 5));
    }),
  );
  return { startMs: started - t0, formMs: performance.now() - started };
}

/**
 * Every member writes its share of `total` (300-byte values) with its share of 64 in flight, all
 * at once. `create`: instead, each member writes each of its keys once, none measured before (new
 * keys). The two are separate runs so that no member's measured writes overlap another member's
 * creations (a 16-member run used to measure a mix of both: the first members to finish warming up
 * measured while the others still created keys).
 */
async function spreadSets(members: BenchMember[], total: number, create = false): Promise<{ opsPerSec: number; p99Ms: number }> {
  const share = create ? LOAD_KEYS : Math.ceil(total / members.length);
  const concurrency = Math.max(1, Math.round(IN_FLIGHT / members.length));
  const results = await Promise.all(
    members.map((m) => m.request<Throughput>({ cmd: 'load', op: 'set', total: share, concurrency, valueBytes: 300, prefix: `${m.id}-`, ...(create ? { warmup: 0 } : {}) })),
  );
  // The members start their measured runs together (after equal warm-ups) but may end apart:
  // counting every write over the slowest member's time understates rather than flatters.
  const ops = results.reduce((sum, r) => sum + r.ops, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  return { opsPerSec: ops / seconds, p99Ms: Math.max(...results.map((r) => r.p99Ms)) };
}

/** SIGKILLs the last member after it wrote `keys` keys; resolves when every survivor serves each of them. */
async function killOne(members: BenchMember[], keys: number): Promise<Omit<FailoverRun, 'load'>> {
  const victim = members[members.length - 1];
  if (victim === undefined) throw new Error('no member');
  const survivors = members.slice(0, -1);
  await victim.request({ cmd: 'fill', count: keys, prefix: 'f' });
  const owned = await victim.request<string[]>({ cmd: 'primaries', prefix: 'f' });
  progress(`${String(members.length)} members: ${victim.id} wrote ${String(keys)} keys, primary of ${String(owned.length)}`);
  if (owned.length === 0) throw new Error(`${victim.id} is primary of no key`);
  // Each survivor serves the keys once before the loss, as a running service would have: the
  // first pass through the read path is JIT compilation, no part of failing over.
  await Promise.all(survivors.map((m) => m.request({ cmd: 'serveAll', keys: owned })));
  // A second pass before the loss: what serving every key costs the survivors with nobody lost
  // (with many members most reads are proxy fetches), the baseline for the failover time.
  progress(`${String(members.length)} members: first pass served`);
  const cpuBefore = await Promise.all(survivors.map((m) => m.request<BenchStats>({ cmd: 'stats' })));
  const tWarm = performance.now();
  await Promise.all(survivors.map((m) => m.request({ cmd: 'serveAll', keys: owned })));
  const baselineMs = performance.now() - tWarm;
  const before = await Promise.all(survivors.map((m) => m.request<BenchStats>({ cmd: 'stats' })));
  // SCALE_CPU_PROF=dir: a CPU profile of every survivor from just before the SIGKILL to its last key served.
  const profileDir = process.env['SCALE_CPU_PROF'];
  if (profileDir !== undefined) await Promise.all(survivors.map((m) => m.request({ cmd: 'profileStart' })));
  progress(`${String(members.length)} members: second pass served; SIGKILL ${victim.id}`);
  const t0 = performance.now();
  const killedAt = Date.now();
  victim.child.kill('SIGKILL');
  const served = Promise.all(
    survivors.map(async (m) => {
      const rounds = await m.request<number>({ cmd: 'serveAll', keys: owned });
      return { ms: performance.now() - t0, rounds };
    }),
  );
  // A failover that takes far longer than it should: say which keys each survivor still waits for.
  const slow = setTimeout(() => {
    void Promise.all(
      survivors.map(async (m) => {
        const s = await m.request<BenchStats>({ cmd: 'stats' });
        return `${m.id}: gone ${String(s.goneEvents)}, added ${String(s.addedEvents)}, declared down ${String(s.declaredDown)}, loop delay ≤ ${s.maxLoopDelayMs.toFixed(0)} ms, errors ${JSON.stringify(s.readErrors)}; ${JSON.stringify(await m.request({ cmd: 'unserved' })).slice(0, 600)}`;
      }),
    ).then((lines) => {
      progress(`30 s after the SIGKILL of ${victim.id}, still unserved:\n  ${lines.join('\n  ')}`);
    });
  }, 30_000);
  const each = await served.finally(() => {
    clearTimeout(slow);
  });
  const after = await Promise.all(survivors.map((m) => m.request<BenchStats>({ cmd: 'stats' })));
  if (profileDir !== undefined) {
    await Promise.all(survivors.map((m) => m.request({ cmd: 'profileStop', file: join(profileDir, `failover-${String(members.length)}-${m.id}-${String(Date.now())}.cpuprofile`) })));
  }
  const cpu = (from: BenchStats[], to: BenchStats[]): number => to.reduce((sum, s, i) => sum + s.cpuMs - (from[i]?.cpuMs ?? s.cpuMs), 0);
  const detail = survivors
    .map((m, i) => {
      const seen = m.gone.get(victim.id);
      const timeouts = (after[i]?.rpcTimeouts ?? 0) - (before[i]?.rpcTimeouts ?? 0);
      return `${m.id}: gone after ${seen === undefined ? '?' : String(seen - killedAt)} ms, served after ${(each[i]?.ms ?? NaN).toFixed(0)} ms in ${String(each[i]?.rounds ?? '?')} passes, ${String(timeouts)} RPC timeouts`;
    })
    .join('; ');
  const ms = each.map((e) => e.ms);
  if (process.env['SCALE_TRACE'] !== undefined) {
    const sum = (pick: (s: BenchStats) => Record<string, number>): string => {
      const total = new Map<string, number>();
      after.forEach((s, i) => {
        for (const [k, v] of Object.entries(pick(s))) total.set(k, (total.get(k) ?? 0) + v - (pick(before[i] ?? s)[k] ?? 0));
      });
      return [...total].filter(([, v]) => v > 0).map(([k, v]) => `${k} ${String(v)}`).join(', ');
    };
    const untilGone = after.reduce((t, s, i) => t + s.cpuAtGoneMs - (before[i]?.cpuMs ?? 0), 0);
    const flaps = after.map((s, i) => `${String(s.goneEvents - (before[i]?.goneEvents ?? 0))}/${String(s.addedEvents - (before[i]?.addedEvents ?? 0))}`).join(' ');
    progress(`trace: loop delay ≤ ${after.map((s) => s.maxLoopDelayMs.toFixed(0)).join(' ')} ms; declared down ${after.map((s, i) => String(s.declaredDown - (before[i]?.declaredDown ?? 0))).join(' ')}`);
    progress(`trace: gone/added events per survivor: ${flaps}; read errors: ${sum((s) => s.readErrors)}`);
    progress(`trace: CPU until gone ${untilGone.toFixed(0)} ms, after ${cpu(before, after) - untilGone} ms; sent: ${sum((s) => s.sent)}; received: ${sum((s) => s.received)}`);
  }
  return { firstMs: Math.min(...ms), lastMs: Math.max(...ms), servedBeforeMs: baselineMs, servedBeforeCpuMs: cpu(cpuBefore, before), failoverCpuMs: cpu(before, after),
    wronglyGone: after.reduce((n, s, i) => n + Math.max(0, s.goneEvents - (before[i]?.goneEvents ?? 0) - 1), 0),
    maxLoopDelayMs: Math.max(...before.map((s) => s.maxLoopDelayMs), ...after.map((s) => s.maxLoopDelayMs)),
    detail,
  };
}

/** The scale rows for each cluster size; every member is SIGKILLed before the next size starts. */
export async function scaleBench(sizes: number[], options: { sets: number; keys: number; failoverRuns: number }): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = [];
  const largest = Math.max(...sizes);
  for (const n of sizes) {
    const members: BenchMember[] = [];
    // Should the bench die mid-size, no member outlives it (a member leaves on its own when the
    // IPC channel closes, but a graceful leave among 16 dying members may take a while).
    const killAll = (): void => {
      for (const m of members) m.child.kill('SIGKILL');
    };
    process.once('exit', killAll);
    const row: ScaleRow = { members: n, startMs: NaN, formMs: NaN, createOpsPerSec: NaN, createP99Ms: NaN, setOpsPerSec: NaN, setP99Ms: NaN, servedBeforeMs: NaN, failoverFirstMs: NaN, failoverMs: NaN };
    rows.push(row);
    try {
      const formed = await within(formCluster(n, members), 30_000 * n, `${String(n)} members to form a cluster`);
      Object.assign(row, formed);
      progress(`${String(n)} members started in ${formed.startMs.toFixed(0)} ms, formed in ${formed.formMs.toFixed(0)} ms`);
      const created = await within(spreadSets(members, 0, true), 300_000, `${String(n * LOAD_KEYS)} new keys over ${String(n)} members`);
      row.createOpsPerSec = created.opsPerSec;
      row.createP99Ms = created.p99Ms;
      progress(`${String(n)} members: ${created.opsPerSec.toFixed(0)} new keys/s`);
      const sets = await within(spreadSets(members, options.sets), 300_000, `${String(options.sets)} sets over ${String(n)} members`);
      row.setOpsPerSec = sets.opsPerSec;
      row.setP99Ms = sets.p99Ms;
      progress(`${String(n)} members: ${sets.opsPerSec.toFixed(0)} sets/s`);
      const load = loadNow();
      const failover = await within(killOne(members, options.keys), 240_000, `failover among ${String(n)} members`);
      row.servedBeforeMs = failover.servedBeforeMs;
      row.failoverFirstMs = failover.firstMs;
      row.failoverMs = failover.lastMs;
      row.failoverDetail = failover.detail;
      row.failovers = [{ ...failover, load }];
      progress(`${String(n)} members: served again after ${failover.lastMs.toFixed(0)} ms, load ${load} (${failover.detail})`);
    } catch (error) {
      // The row keeps what was measured and says what did not finish; the next size still runs.
      row.note = error instanceof Error ? error.message : String(error);
      progress(row.note);
    } finally {
      await Promise.all(members.map((m) => m.stop()));
      process.off('exit', killAll);
    }
    if (n === largest) {
      row.failovers ??= [];
      while (row.failovers.length < options.failoverRuns) row.failovers.push(await failoverOnly(n, options.keys));
    }
  }
  return rows;
}

/** A fresh cluster of `n` members, formed only to measure one more SIGKILL failover (no load measured first). */
async function failoverOnly(n: number, keys: number): Promise<FailoverRun> {
  const members: BenchMember[] = [];
  const killAll = (): void => {
    for (const m of members) m.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  let load = loadNow();
  try {
    await within(formCluster(n, members), 30_000 * n, `${String(n)} members to form a cluster`);
    load = loadNow();
    const run = { ...(await within(killOne(members, keys), 240_000, `failover among ${String(n)} members`)), load };
    progress(`${String(n)} members: served again after ${run.lastMs.toFixed(0)} ms, load ${load}`);
    return run;
  } catch (error) {
    const note = error instanceof Error ? error.message : String(error);
    progress(note);
    return { servedBeforeMs: NaN, firstMs: NaN, lastMs: NaN, servedBeforeCpuMs: NaN, failoverCpuMs: NaN, wronglyGone: NaN, maxLoopDelayMs: NaN, load, detail: '', note };
  } finally {
    await Promise.all(members.map((m) => m.stop()));
    process.off('exit', killAll);
  }
}
