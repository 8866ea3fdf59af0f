/**
 * The long linearizability run (`npm run test:linearizability`): for every configuration, many
 * random histories (10,000 by default), each checked; prints per configuration how many failed,
 * the anomalies by kind, and one failing history shrunk by fast-check and then cut down by the
 * checker. Exits 1 if a configuration listed as passing failed.
 *
 * Environment:
 * - `LIN_RUNS`: histories per configuration (default 10000);
 * - `FC_SEED`: the first seed (default 42); history i uses seed `FC_SEED + i`, so
 *   `FC_SEED=<seed> LIN_RUNS=1` replays one history;
 * - `LIN_ONLY`: run only configurations whose name contains this text;
 * - `LIN_KNOWN=0`: skip the configurations known not to be linearizable yet.
 *
 * @module
 */
import fc from 'fast-check';
import { checkHistory } from './checker.js';
import { KNOWN_FAILING, NotLinearizableError, PASSING, classify, linearizableProperty } from './configurations.js';
import { programs, runProgram, type WorkloadConfig } from './workload.js';

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got '${raw}'`);
  return n;
}

const runs = intFromEnv('LIN_RUNS', 10_000);
const firstSeed = intFromEnv('FC_SEED', 42);
const only = process.env['LIN_ONLY'];

interface Tally {
  histories: number;
  failed: number;
  /** Failing histories when only real time counts (not each member's call order). */
  failedRealTime: number;
  keys: number;
  failedKeys: number;
  inconclusive: number;
  kinds: Map<string, number>;
  firstFailingSeed: number | undefined;
  ms: number;
}

async function tallyOf(config: WorkloadConfig): Promise<Tally> {
  const t: Tally = { histories: 0, failed: 0, failedRealTime: 0, keys: 0, failedKeys: 0, inconclusive: 0, kinds: new Map(), firstFailingSeed: undefined, ms: 0 };
  const started = Date.now();
  const arbitrary = programs(config);
  for (let i = 0; i < runs; i++) {
    const seed = firstSeed + i;
    const [program] = fc.sample(arbitrary, { seed, numRuns: 1 });
    const history = await runProgram(config, program!);
    const result = checkHistory(history);
    t.histories++;
    t.keys += result.keys;
    t.inconclusive += result.inconclusive.length;
    if (result.failures.length === 0) continue;
    t.failed++;
    t.failedKeys += result.failures.length;
    t.firstFailingSeed ??= seed;
    if (!checkHistory(history, { memberOrder: false }).ok) t.failedRealTime++;
    for (const f of result.failures) {
      const kind = classify(f.minimal);
      t.kinds.set(kind, (t.kinds.get(kind) ?? 0) + 1);
    }
  }
  t.ms = Date.now() - started;
  return t;
}

/** The first failing history of `config` from `seed`, shrunk by fast-check. */
async function shrunkFailure(config: WorkloadConfig, seed: number): Promise<string> {
  const result = await fc.check(linearizableProperty(config), { seed, numRuns: 1 });
  if (!result.failed) return '(the failing history passed when replayed: the run is not deterministic)';
  const error = result.errorInstance;
  return error instanceof NotLinearizableError ? error.message : String(error);
}

const percent = (n: number, of: number): string => `${((100 * n) / Math.max(of, 1)).toFixed(2)}%`;

async function main(): Promise<void> {
  const lists: Array<[string, readonly WorkloadConfig[]]> = [['passing', PASSING]];
  if (process.env['LIN_KNOWN'] !== '0') lists.push(['known not linearizable yet', KNOWN_FAILING]);
  let regressions = 0;
  console.log(`linearizability: ${runs} histories per configuration, seeds ${firstSeed}..${firstSeed + runs - 1}`);
  for (const [list, configs] of lists) {
    for (const config of configs) {
      if (only !== undefined && !config.name.includes(only)) continue;
      const t = await tallyOf(config);
      console.log(`\n== [${list}] ${config.name}`);
      console.log(
        `histories failed: ${t.failed}/${t.histories} (${percent(t.failed, t.histories)}); by real time alone: ${t.failedRealTime}; ` +
          `keys failed: ${t.failedKeys}/${t.keys} (${percent(t.failedKeys, t.keys)}); inconclusive keys: ${t.inconclusive}; ${(t.ms / 1000).toFixed(1)} s`,
      );
      for (const [kind, n] of [...t.kinds].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${kind}`);
      if (t.firstFailingSeed !== undefined) {
        console.log(`first failing seed: ${t.firstFailingSeed} (replay: FC_SEED=${t.firstFailingSeed} LIN_RUNS=1 LIN_ONLY='${config.name}' npm run test:linearizability)`);
        console.log(await shrunkFailure(config, t.firstFailingSeed));
        if (list === 'passing') regressions++;
      }
    }
  }
  if (regressions > 0) {
    console.log(`\n${regressions} configuration(s) listed as passing failed`);
    process.exitCode = 1;
  }
}

await main();
