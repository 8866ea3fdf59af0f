/**
 * A linearizability checker: the Wing–Gong search with memoization (Lowe's improvement, as in
 * Knossos and Porcupine), over each key's calls apart (P-compositionality: a history of
 * independent registers is linearizable when each register's is).
 *
 * The search builds an order of the calls one call at a time. A call may come next when every
 * call that must precede it is placed: those that completed before it was invoked (real time)
 * and, optionally, those made earlier on the same member (call order, as on one connection). The
 * model then says whether the call can give its answer there. A set of placed calls together with
 * the model's state is a configuration; one that failed once fails again, so it is remembered.
 * A call whose outcome is unknown (failed, timed out) may be placed anywhere after its invocation
 * with any answer, or left out.
 *
 * `clear` touches every key: it is put in every key's history as a delete whose answer is not
 * checked. That checks each key's projection of it, not that it was atomic across keys.
 *
 * @module
 */
import type { MapKey } from '../../lib/index.js';
import { describeHistory, keyOf, type History, type Operation } from './history.js';
import { registerModel, type Model } from './register-model.js';

/** Settings of a check. */
export interface CheckOptions {
  /**
   * Calls made on one member take effect in the order they were made (the map's call order).
   * Calls whose outcome is unknown do not constrain the calls after them.
   * @default true
   */
  memberOrder?: boolean;
  /**
   * Configurations the search may visit per key before it gives up and calls the key
   * inconclusive (reported, never counted as a pass or a failure).
   * @default 1_000_000
   */
  budget?: number;
}

/** The verdict on one key's history. */
export type Verdict = 'linearizable' | 'not linearizable' | 'inconclusive';

/** What a check found. */
export interface CheckResult {
  /** True when every key's history is linearizable (none inconclusive). */
  readonly ok: boolean;
  /** Per key checked. */
  readonly keys: number;
  readonly failures: KeyFailure[];
  readonly inconclusive: MapKey[];
}

/** A key whose history no order of its calls explains. */
export interface KeyFailure {
  readonly key: MapKey;
  /** Every call of the key (clears included), in invocation order. */
  readonly history: Operation[];
  /** A smallest sub-history still not linearizable (calls removed one at a time while it stays so). */
  readonly minimal: Operation[];
}

const WORD = 32;

/** The Wing–Gong search on one key's calls. */
export function checkOperations<S>(ops: readonly Operation[], model: Model<S> = registerModel as unknown as Model<S>, options: CheckOptions = {}): Verdict {
  const n = ops.length;
  if (n === 0) return 'linearizable';
  const memberOrder = options.memberOrder ?? true;
  const budget = options.budget ?? 1_000_000;
  const words = Math.ceil(n / WORD);
  // preds[i]: the calls that must be placed before call i.
  const preds = ops.map((op, i) => {
    const mask = new Uint32Array(words);
    ops.forEach((other, j) => {
      if (j === i) return;
      const realTime = other.complete < op.invoke;
      // An eviction is the map's own operation, not a call made on the member: it keeps no call order.
      const sameMember = memberOrder && other.member === op.member && other.invoke < op.invoke && other.status === 'ok' && op.call.op !== 'evict' && other.call.op !== 'evict';
      if (realTime || sameMember) mask[j >>> 5]! |= 1 << (j & 31);
    });
    return mask;
  });
  const mustPlace = ops.filter((op) => op.status === 'ok').length;
  const placed = new Uint32Array(words);
  const failed = new Set<string>();
  let visited = 0;
  // An object, not a variable: the search below sets it from inside a closure.
  const budgetSpent = { gaveUp: false };

  const ready = (i: number): boolean => {
    const p = preds[i]!;
    for (let w = 0; w < words; w++) if ((p[w]! & ~placed[w]!) !== 0) return false;
    return true;
  };
  const isPlaced = (i: number): boolean => (placed[i >>> 5]! & (1 << (i & 31))) !== 0;

  const search = (state: S, placedOk: number): boolean => {
    if (placedOk === mustPlace) return true;
    if (++visited > budget) {
      budgetSpent.gaveUp = true;
      return false;
    }
    for (let i = 0; i < n; i++) {
      if (isPlaced(i) || !ready(i)) continue;
      const op = ops[i]!;
      const next = model.step(state, op.call, op.answer, op.status === 'ok', op.now);
      if (next === undefined) continue;
      placed[i >>> 5]! |= 1 << (i & 31);
      const memo = `${placed.join(',')}|${model.hash(next)}`;
      if (!failed.has(memo)) {
        if (search(next, placedOk + (op.status === 'ok' ? 1 : 0))) return true;
        if (budgetSpent.gaveUp) return false;
        failed.add(memo);
      }
      placed[i >>> 5]! &= ~(1 << (i & 31));
    }
    return false;
  };
  const found = search(model.init(), 0);
  if (found) return 'linearizable';
  return budgetSpent.gaveUp ? 'inconclusive' : 'not linearizable';
}

/** The history split by key; `clear` goes into every key's part. */
export function partitionByKey(history: History): Map<MapKey, Operation[]> {
  const byKey = new Map<MapKey, Operation[]>();
  for (const op of history) {
    const key = keyOf(op.call);
    if (key !== undefined && !byKey.has(key)) byKey.set(key, []);
  }
  for (const op of history) {
    const key = keyOf(op.call);
    if (key === undefined) for (const part of byKey.values()) part.push(op);
    else byKey.get(key)!.push(op);
  }
  return byKey;
}

/**
 * Removes calls one at a time while what is left stays not linearizable, so that each call left is
 * needed to show the anomaly. A call is removed only when the rest fails even if that call's
 * outcome were unknown (it may have happened at any time after its invocation, with any answer,
 * or not at all), and when no call left read the value it wrote: the result is a sub-history
 * whose failure the reader can follow, not a run.
 */
export function minimize<S>(ops: readonly Operation[], model: Model<S> = registerModel as unknown as Model<S>, options: CheckOptions = {}): Operation[] {
  const settings = { ...options, budget: Math.min(options.budget ?? 100_000, 100_000) };
  let current = [...ops];
  let shrunk = true;
  while (shrunk) {
    shrunk = false;
    for (let i = current.length - 1; i >= 0; i--) {
      const candidate = current[i]!;
      const rest = current.filter((_, j) => j !== i);
      if (writes(candidate) !== undefined && (rest.some((o) => o.status === 'ok' && reads(o, writes(candidate))) || lastWriteBeforeTrue(candidate, rest))) continue;
      const asUnknown = current.map((o, j) => (j === i ? { ...o, status: 'unknown' as const, complete: Infinity, answer: undefined } : o));
      if (checkOperations(asUnknown, model, settings) === 'not linearizable') {
        current = rest;
        shrunk = true;
      }
    }
  }
  return current;
}

/**
 * Whether `write` is the last write invoked before a call left that answered `true` (a delete or
 * touch that found a value): removing it would leave that answer without the value it found.
 */
function lastWriteBeforeTrue(write: Operation, rest: readonly Operation[]): boolean {
  return rest.some((o) => {
    if (o.status !== 'ok' || o.answer !== true || (o.call.op !== 'delete' && o.call.op !== 'touch') || o.invoke < write.invoke) return false;
    return !rest.some((w) => writes(w) !== undefined && w.invoke > write.invoke && w.invoke < o.invoke);
  });
}

/** The value a call writes, if any. */
function writes(op: Operation): unknown {
  const c = op.call;
  return c.op === 'set' || c.op === 'setIfAbsent' || c.op === 'compareAndSet' ? c.value : undefined;
}

/** Whether a call answered (or compared with) `value`. */
function reads(op: Operation, value: unknown): boolean {
  const c = op.call;
  if (c.op === 'get') return op.answer === value;
  return c.op === 'compareAndSet' && c.expected === value;
}

/** Checks every key of `history` apart. */
export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  const failures: KeyFailure[] = [];
  const inconclusive: MapKey[] = [];
  const parts = partitionByKey(history);
  for (const [key, ops] of parts) {
    const verdict = checkOperations(ops, registerModel, options);
    if (verdict === 'inconclusive') inconclusive.push(key);
    if (verdict === 'not linearizable') failures.push({ key, history: ops, minimal: minimize(ops, registerModel, options) });
  }
  return { ok: failures.length === 0 && inconclusive.length === 0, keys: parts.size, failures, inconclusive };
}

/** A failure as text: the minimal sub-history first, then the key's whole history. */
export function describeFailure(f: KeyFailure): string {
  return `key ${JSON.stringify(f.key)}: no order of its calls explains the answers.\nminimal (${f.minimal.length} calls):\n${describeHistory(f.minimal)}\nwhole history of the key (${f.history.length} calls):\n${describeHistory(f.history)}`;
}
