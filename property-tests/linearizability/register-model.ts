/**
 * The sequential specification of one key of the map: a register that holds a value or nothing,
 * with the map's expiry (time to live and idle limit, judged by the fake clock at each call). The
 * checker finds an order of a key's calls in which every answer is what this model answers.
 *
 * @module
 */
import { isDeepStrictEqual } from 'node:util';
import type { Call, WriteExpiry } from './history.js';

/** The register: a value (with its expiry), or nothing. Immutable. */
export interface RegisterState {
  readonly present: boolean;
  readonly value?: unknown;
  readonly expiresAt?: number;
  readonly maxIdleMs?: number;
  readonly lastUse?: number;
}

/** A step of the model: `undefined` when the call cannot answer `answer` from `state`. */
export type Step = (state: RegisterState, call: Call, answer: unknown, known: boolean, now: number) => RegisterState | undefined;

/** A sequential model as the checker uses it (Porcupine's `Model`, for one key). */
export interface Model<S> {
  init(): S;
  /**
   * The state after `call` from `state`, or `undefined` when `call` cannot have answered `answer`
   * there. `known` is false for a call whose answer is unknown (failed or never completed): then
   * any answer goes, only the effect counts.
   */
  step(state: S, call: Call, answer: unknown, known: boolean, now: number): S | undefined;
  /** A string equal for equal states (memoization). */
  hash(state: S): string;
  /** For reports. */
  describe(state: S): string;
}

const EMPTY: RegisterState = { present: false };

/** Whether the register holds a value that has not expired at `now`. */
function alive(s: RegisterState, now: number): boolean {
  if (!s.present) return false;
  if (s.expiresAt !== undefined && now >= s.expiresAt) return false;
  if (s.maxIdleMs !== undefined && s.lastUse !== undefined && now >= s.lastUse + s.maxIdleMs) return false;
  return true;
}

function written(value: unknown, expiry: WriteExpiry | undefined, now: number): RegisterState {
  return {
    present: true,
    value,
    ...(expiry?.ttlMs === undefined ? {} : { expiresAt: now + expiry.ttlMs }),
    ...(expiry?.maxIdleMs === undefined ? {} : { maxIdleMs: expiry.maxIdleMs }),
    lastUse: now,
  };
}

function used(s: RegisterState, now: number): RegisterState {
  return s.maxIdleMs === undefined ? s : { ...s, lastUse: now };
}

/** Values compare as the codec round-trips them (deep equality). */
function same(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b);
}

/**
 * The register per key. An expired value is as good as deleted (expiry is the map's own delete,
 * so it may happen at any moment past the deadline, and is judged at each call's fake time).
 */
export const registerModel: Model<RegisterState> = {
  init: () => EMPTY,
  step(state, call, answer, known, now) {
    const live = alive(state, now);
    const s = live ? state : EMPTY;
    switch (call.op) {
      case 'set':
        return written(call.value, call.expiry, now);
      case 'get':
        if (known && !same(answer, live ? s.value : undefined)) return undefined;
        return live ? used(s, now) : s;
      case 'delete':
        if (known && answer !== live) return undefined;
        return EMPTY;
      case 'touch':
        if (known && answer !== live) return undefined;
        return live ? used(s, now) : s;
      case 'clear':
      case 'evict':
        return EMPTY;
      case 'setIfAbsent':
        if (known && answer !== !live) return undefined;
        return live ? s : written(call.value, call.expiry, now);
      case 'compareAndSet': {
        const swapped = live && same(s.value, call.expected);
        if (known && answer !== swapped) return undefined;
        return swapped ? written(call.value, undefined, now) : s;
      }
      case 'update': {
        const next = (live && typeof s.value === 'number' ? s.value : 0) + call.add;
        if (known && answer !== next) return undefined;
        return { ...written(next, undefined, now), ...(s.expiresAt === undefined ? {} : { expiresAt: s.expiresAt }) };
      }
    }
  },
  hash(s) {
    return s.present ? JSON.stringify([s.value, s.expiresAt, s.maxIdleMs, s.maxIdleMs === undefined ? undefined : s.lastUse]) : '-';
  },
  describe(s) {
    return s.present ? `${JSON.stringify(s.value)}${s.expiresAt === undefined ? '' : ` (expires @${s.expiresAt}ms)`}` : 'nothing';
  },
};
