/**
 * The kinds of run the linearizability checker is applied to, the property that runs one, and the
 * names of the anomalies it reports.
 *
 * `PASSING` are the configurations that hold today (the short run in `npm test` keeps them so);
 * `KNOWN_FAILING` are those where the map is not yet linearizable (issue 22, item 2): the long run
 * (`npm run test:linearizability`) counts their anomalies. Move a configuration from the second
 * list to the first once it passes 10,000 histories.
 *
 * @module
 */
import fc from 'fast-check';
import { checkHistory, checkOperations, describeFailure, type KeyFailure } from './checker.js';
import type { Operation } from './history.js';
import { withMutant, type MutantName } from './mutants.js';
import { programs, runProgram, describeProgram, type Program, type WorkloadConfig } from './workload.js';

const DELAYED = { delay: { min: 0, max: 3 }, reorder: true } as const;

/** Configurations in which every history is linearizable today. */
export const PASSING: readonly WorkloadConfig[] = [
  { name: 'one member, 4 pipelining callers, ttl, idle, touch, clear', members: [1, 1], callers: 4, keys: 3, backups: 1, expiry: true, clear: true },
  {
    name: '3-5 members, one caller moving between members, no promotion, clear, delays and reordering',
    members: [3, 5], callers: 1, keys: 3, backups: 1, sequential: true, promote: false, clear: true, net: DELAYED,
  },
  {
    name: '3-5 members, one caller moving between members, no promotion, joins (backups: 2)',
    members: [3, 5], callers: 1, keys: 3, backups: 2, sequential: true, promote: false, membership: 'joins', clear: true,
  },
  {
    name: '3-5 members, one caller moving between members once the network is quiet, promotions, clear, delays and reordering',
    members: [3, 5], callers: 1, keys: 3, backups: 1, sequential: true, settleBetweenMembers: true, clear: true, net: DELAYED,
  },
  { name: 'one member, 4 pipelining callers, eviction (maxEntries: 2, lru)', members: [1, 1], callers: 4, keys: 4, backups: 1, clear: true, maxEntries: 2 },
  {
    name: '3-5 members, one caller moving between members once the network is quiet, promotions, eviction (maxEntries: 2, lru)',
    members: [3, 5], callers: 1, keys: 4, backups: 1, sequential: true, settleBetweenMembers: true, maxEntries: 2,
  },
  {
    name: '3-5 members, one caller moving between members, conditional writes, no promotion, clear, delays and reordering',
    members: [3, 5], callers: 1, keys: 3, backups: 1, sequential: true, promote: false, clear: true, conditional: true, net: DELAYED,
  },
  // Known failing until issue 22's handover; 0 failures in 10,000 histories each since (seed 70001).
  {
    name: '3-5 members, 2 callers each, pipelined, conditional writes and reads only, no promotion',
    members: [3, 5], callers: 2, keys: 2, backups: 1, promote: false, conditional: 'only',
  },
  {
    name: '3-5 members, 2 callers each, conditional writes and reads only, no promotion, delays and reordering (backups: 2)',
    members: [3, 5], callers: 2, keys: 2, backups: 2, promote: false, conditional: 'only', net: DELAYED,
  },
  { name: '3 members, 2 callers each, pipelined, no faults', members: [3, 3], callers: 2, keys: 3, backups: 1 },
  { name: '3-5 members, 2 callers each, delays and reordering', members: [3, 5], callers: 2, keys: 3, backups: 1, net: DELAYED },
  { name: '3-5 members, 2 callers each, no promotion', members: [3, 5], callers: 2, keys: 3, backups: 1, promote: false },
  {
    name: '3-5 members, one caller moving between members, no promotion, joins and graceful stops (backups: 2)',
    members: [3, 5], callers: 1, keys: 3, backups: 2, sequential: true, promote: false, membership: true, clear: true,
  },
  { name: '3-5 members, one caller moving between members, promotions (network not quiet between members)', members: [3, 5], callers: 1, keys: 3, backups: 1, sequential: true },
  {
    name: '3-5 members, one caller moving between members, no promotion, ttl, touch, clear, delays and reordering',
    members: [3, 5], callers: 1, keys: 3, backups: 1, sequential: true, promote: false, expiry: true, idle: false, clear: true, net: DELAYED,
  },
  { name: '3-5 members, one caller moving between members, no promotion, idle limits', members: [3, 5], callers: 1, keys: 3, backups: 1, sequential: true, promote: false, expiry: true },
  {
    name: '4-5 members, one caller moving between members once the network is quiet, promotions, joins and graceful stops',
    members: [4, 5], callers: 1, keys: 2, backups: 1, sequential: true, settleBetweenMembers: true, callsPerCaller: [8, 20], phases: [2, 4], clear: true, membership: true,
  },
  { name: '3-5 members, one caller moving between members once the network is quiet, backups: 0', members: [3, 5], callers: 1, keys: 1, backups: 0, sequential: true, settleBetweenMembers: true },
  // Known failing until members agreed who decides a key nobody knows (MSG_VIEW) and a set made
  // elsewhere counted as under way until written; 0 in 10,000 each since (seeds 300001, 310001).
  { name: '3-5 members, 2 callers each, ttl, idle, touch, clear', members: [3, 5], callers: 2, keys: 3, backups: 1, expiry: true, clear: true },
  { name: '3-5 members, 2 callers each, joins and graceful stops (backups: 2)', members: [3, 5], callers: 2, keys: 3, backups: 2, membership: true },
  // Conditional writes racing plain sets and deletes from several members, and eviction under
  // concurrent callers: each passed 10,000 histories before it was added here (2026-12-05).
  { name: '3-5 members, 2 callers each, pipelined, conditional writes mixed with sets and deletes', members: [3, 5], callers: 2, keys: 3, backups: 1, conditional: true },
  {
    name: '3-5 members, 2 callers each, conditional writes mixed with sets and deletes, delays and reordering',
    members: [3, 5], callers: 2, keys: 3, backups: 1, conditional: true, net: DELAYED,
  },
  { name: '3-5 members, 2 callers each, eviction (maxEntries: 2, lru)', members: [3, 5], callers: 2, keys: 4, backups: 1, maxEntries: 2 },
];

/**
 * Configurations in which the map is not linearizable yet (counted by the long run). None today:
 * a configuration goes here when a change of the map or of the workload finds anomalies again.
 */
export const KNOWN_FAILING: readonly WorkloadConfig[] = [];

/** Each mutant with a configuration that passes without it and that it must fail. */
export const MUTANT_TARGETS: ReadonlyArray<readonly [MutantName, WorkloadConfig]> = [
  ['old-delete', PASSING[0]!],
  ['stale-holder-read', PASSING[1]!],
  // About 1 history in 4 shows it (17 and 29 of 100 on two seed ranges, 2026-12-04): 30 miss it
  // with a chance of under 1 in 100.
  ['one-sided-promotion', { name: '3 members, 2 callers each, pipelined, no faults', members: [3, 3], callers: 2, keys: 3, backups: 1 }],
  // Caught in the first history on each of six seeds (2026-12-05): most histories evict.
  ['local-eviction', PASSING.find((c) => c.name === '3-5 members, 2 callers each, eviction (maxEntries: 2, lru)')!],
];

/** Thrown by {@link linearizableProperty} with the report of the failing history. */
export class NotLinearizableError extends Error {
  override readonly name = 'NotLinearizableError';
  constructor(
    readonly program: Program,
    readonly failures: KeyFailure[],
    readonly inconclusive: unknown[],
  ) {
    const parts = failures.map((f) => `${describeFailure(f)}\nkind: ${classify(f.minimal)}`);
    if (inconclusive.length > 0) parts.push(`inconclusive (search budget exhausted) on keys ${JSON.stringify(inconclusive)}`);
    super(`history not linearizable\n${parts.join('\n')}\nprogram: ${describeProgram(program)}`);
  }
}

/** Runs one program of `config` (with `mutant` switched on) and throws unless its history is linearizable. */
export async function assertLinearizable(config: WorkloadConfig, program: Program, mutant?: MutantName): Promise<void> {
  const history = await withMutant(mutant, () => runProgram(config, program));
  const result = checkHistory(history);
  if (!result.ok) throw new NotLinearizableError(program, result.failures, result.inconclusive);
}

/** The property: every history of `config` is linearizable. */
export function linearizableProperty(config: WorkloadConfig, mutant?: MutantName): fc.IAsyncPropertyWithHooks<[Program]> {
  return fc.asyncProperty(programs(config), (program) => assertLinearizable(config, program, mutant));
}

/**
 * Names the anomaly a minimal failing history shows, for the long run's counts (a heuristic: the
 * first that applies). Only call order is broken; a delete answered false although a value was
 * there (a set had resolved, or a read had returned it); two deletes of one value both answered
 * true; a read answered nothing although a set had resolved; a read answered an older value; a
 * touch answered wrongly; a delete answered true with nothing there; else `other`.
 */
export function classify(minimal: readonly Operation[]): string {
  if (checkOperations(minimal, undefined, { memberOrder: false }) === 'linearizable') return 'call order only: a later call on the same member saw an older state';
  const answered = (op: Operation['call']['op']): Operation[] => minimal.filter((o) => o.call.op === op && o.status === 'ok');
  const setDone = (t: number): boolean => minimal.some((o) => o.call.op === 'set' && o.complete < t);
  const valueSeen = (t: number): boolean => setDone(t) || minimal.some((o) => o.call.op === 'get' && o.status === 'ok' && o.answer !== undefined && o.complete < t);
  const deletes = answered('delete');
  const gets = answered('get');
  if (deletes.some((d) => d.answer === false && valueSeen(d.invoke))) return 'delete answered false although a value was there (a set had resolved or a read had returned it)';
  if (deletes.filter((d) => d.answer === true).length >= 2) return 'two deletes of one value both answered true';
  if (gets.some((g) => g.answer === undefined && setDone(g.invoke))) return 'get answered nothing after a set resolved (value lost, or not visible yet)';
  if (gets.some((g) => g.answer !== undefined)) return 'get answered an older value after a newer write resolved (stale read)';
  if (answered('touch').length > 0) return 'touch answered wrongly';
  if (deletes.some((d) => d.answer === true)) return 'delete answered true with no value there';
  return 'other';
}
