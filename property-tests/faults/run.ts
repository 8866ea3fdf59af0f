/**
 * The long run of the fault schedules (docs/consistency.md, "Under faults"): thousands of seeded
 * schedules of writes, deletes and reads with crashes, partitions, heals, restarts and graceful
 * stops, per setting, counting the seeds whose survivors do not converge. `npm test` runs a few
 * seeds of each (spec/map/partition.spec.ts); run this before saying the fault model holds:
 *
 *     npm run test:faults                       # 3,000 seeds per setting
 *     FAULT_RUNS=200 FAULT_SEED=9000 npm run test:faults
 *     FAULT_ONLY='backups: 0' npm run test:faults
 *
 * Prints each failing seed with its schedule (replay: `FAULT_SEED=<seed> FAULT_RUNS=1`).
 *
 * @module
 */
import { runSchedule, type Schedule } from '../../spec/map/fault-schedule.js';

const SETTINGS: Record<string, Schedule> = {
  'backups: 0, reordered and delayed': { backups: 0, net: { reorder: true, delay: { min: 0, max: 3 } } },
  'backups: 1, in order': { backups: 1, net: {} },
  'backups: 1, reordered, duplicated and delayed': { backups: 1, net: { reorder: true, duplicateRate: 0.2, delay: { min: 0, max: 3 } } },
  'backups: 2, delayed': { backups: 2, net: { delay: { min: 0, max: 4 } } },
};

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}

const runs = intFromEnv('FAULT_RUNS', 3000);
const first = intFromEnv('FAULT_SEED', 1);
const only = process.env['FAULT_ONLY'];
console.log(`fault schedules: ${runs} seeds per setting, seeds ${first}..${first + runs - 1}`);
let failedSettings = 0;
for (const [name, schedule] of Object.entries(SETTINGS)) {
  if (only !== undefined && !name.includes(only)) continue;
  const began = performance.now();
  const failed: number[] = [];
  for (let seed = first; seed < first + runs; seed++) {
    try {
      await runSchedule(seed, schedule);
    } catch (error) {
      failed.push(seed);
      if (failed.length <= 3) console.log(`  ${(error as Error).message.split('\n').slice(0, 40).join('\n  ')}`);
    }
  }
  if (failed.length > 0) failedSettings++;
  console.log(`== ${name}: diverged ${failed.length}/${runs}${failed.length > 0 ? ` (seeds ${failed.slice(0, 20).join(', ')}${failed.length > 20 ? ', …' : ''})` : ''}; ${((performance.now() - began) / 1000).toFixed(1)} s`);
}
process.exitCode = failedSettings > 0 ? 1 : 0;
