/**
 * Histories of concurrent calls, as Jepsen records them: for every call, who made it (member and
 * caller), what it was, when it was invoked and when it completed on one logical clock, and what
 * it answered. A call that failed or never completed may or may not have taken effect.
 *
 * @module
 */
import type { MapKey } from '../../lib/index.js';

/** Expiry of a write, in ms of the fake clock (both optional). */
export interface WriteExpiry {
  ttlMs?: number;
  maxIdleMs?: number;
}

/**
 * A call on the map. Keyed calls touch one register; `clear` touches every key. The conditional
 * writes are modelled already (for the checker's unit specs and the maps that will have them).
 */
export type Call =
  | { op: 'set'; key: MapKey; value: unknown; expiry?: WriteExpiry }
  | { op: 'get'; key: MapKey; promote?: boolean }
  | { op: 'delete'; key: MapKey }
  | { op: 'touch'; key: MapKey }
  | { op: 'clear' }
  | { op: 'setIfAbsent'; key: MapKey; value: unknown; expiry?: WriteExpiry }
  | { op: 'compareAndSet'; key: MapKey; expected: unknown; value: unknown }
  | { op: 'update'; key: MapKey; add: number }
  // Not a call: a member evicted the key (`'evicted'`), a delete decided by the map itself.
  | { op: 'evict'; key: MapKey };

/** One call of a history. */
export interface Operation {
  /** Position in the history (invocation order). */
  readonly id: number;
  /** The member the call was made on (calls on one member keep their order). */
  readonly member: string;
  /** The caller (a logical client); several callers share a member. */
  readonly caller: string;
  readonly call: Call;
  /** Logical time of the invocation. */
  readonly invoke: number;
  /** Logical time of the completion; `Infinity` when the call failed or never completed. */
  complete: number;
  /** What the call answered (`undefined` for calls that answer nothing). */
  answer: unknown;
  /** `ok`: completed with `answer`; `unknown`: failed or timed out, may or may not have happened. */
  status: 'ok' | 'unknown';
  /** The fake clock (ms) when the call was made: the time expiry is judged at. */
  readonly now: number;
  /** The error of a failed call, for the report. */
  error?: string;
}

/** A whole history: the calls, in invocation order. */
export type History = Operation[];

/** Records calls as they are made and as they complete, on one logical clock. */
export class HistoryRecorder {
  readonly ops: Operation[] = [];
  private clock = 0;

  /** @param now the fake clock of the maps (expiry is judged by it). */
  constructor(private readonly now: () => number = () => 0) {}

  /**
   * Runs `run` (which makes the call) and records it. Never rejects: a failed call is recorded as
   * `unknown` and resolves to `undefined`.
   */
  /**
   * Opens an operation the map started by itself (an eviction): it completes with {@link finish}.
   * Its end is when the run knows it took effect everywhere (the network settled), later than it
   * did: a wider window, so the check stays sound.
   */
  begin(member: string, caller: string, call: Call): Operation {
    const op: Operation = { id: this.ops.length, member, caller, call, invoke: ++this.clock, complete: Infinity, answer: undefined, status: 'unknown', now: this.now() };
    this.ops.push(op);
    return op;
  }

  /** Completes an operation opened with {@link begin}. */
  finish(op: Operation): void {
    op.complete = ++this.clock;
    op.status = 'ok';
  }

  async record(member: string, caller: string, call: Call, run: () => Promise<unknown>): Promise<void> {
    const op: Operation = { id: this.ops.length, member, caller, call, invoke: ++this.clock, complete: Infinity, answer: undefined, status: 'unknown', now: this.now() };
    this.ops.push(op);
    let pending: Promise<unknown>;
    try {
      pending = run();
    } catch (error) {
      op.error = String(error);
      return;
    }
    try {
      const answer = await pending;
      op.complete = ++this.clock;
      op.answer = answer;
      op.status = 'ok';
    } catch (error) {
      op.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
  }
}

/** The keys a call touches (`clear`: `undefined`, every key). */
export function keyOf(call: Call): MapKey | undefined {
  return call.op === 'clear' ? undefined : call.key;
}

function show(v: unknown): string {
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

/** One call as a line of a report: `[inv..cmp] member/caller op(args) -> answer`. */
export function describeOperation(op: Operation): string {
  const c = op.call;
  const key = c.op === 'clear' ? '' : show(c.key);
  let args: string;
  switch (c.op) {
    case 'set':
    case 'setIfAbsent':
      args = `${key}, ${show(c.value)}${c.expiry === undefined ? '' : `, ${JSON.stringify(c.expiry)}`}`;
      break;
    case 'compareAndSet':
      args = `${key}, ${show(c.expected)}, ${show(c.value)}`;
      break;
    case 'update':
      args = `${key}, +${c.add}`;
      break;
    case 'get':
      args = c.promote === false ? `${key}, {promote:false}` : key;
      break;
    default:
      args = key;
  }
  const end = op.complete === Infinity ? '?' : String(op.complete);
  const answer = op.status === 'ok' ? (c.op === 'set' || c.op === 'clear' ? 'ok' : show(op.answer)) : `unknown (${op.error ?? 'never completed'})`;
  const time = op.now === 0 ? '' : ` @${op.now}ms`;
  return `[${op.invoke}..${end}] ${op.member}/${op.caller} ${c.op}(${args}) -> ${answer}${time}`;
}

/** A history as lines, in invocation order. */
export function describeHistory(ops: readonly Operation[]): string {
  return ops.map((op) => `  ${describeOperation(op)}`).join('\n');
}
