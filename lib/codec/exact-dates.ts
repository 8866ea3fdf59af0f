/**
 * Dates that come back to the millisecond. Imported for its effect by every module that decodes
 * CBOR, so a Date read from a value, a map message or an RPC body is the instant that was written.
 *
 * @module
 */
import { addExtension, type Extension } from 'cbor-x';

/** CBOR tag 1 (RFC 8949 §3.4.2): a point in time as seconds since 1970, the way cbor-x writes a Date. */
const EPOCH_TIME_TAG = 1;

/** The product `seconds * 1000` is off by at most 2 ms over the whole Date range (two roundings). */
const CANDIDATE_OFFSETS = [0, -1, 1, -2, 2] as const;

/**
 * The exact instant behind a tag-1 number of seconds. cbor-x writes `ms / 1000` as a float64 and
 * reads back `Math.round(seconds * 1000)`, which is 1 ms off for instants far from 1970 (the
 * product rounds). Every whole millisecond the JS engine represents (±8.64e15) maps to a distinct
 * float64 of seconds, so the exact one is the candidate near the product that divides back to the
 * same float. Integers from other encoders take the first candidate.
 */
export function epochSecondsToDate(seconds: unknown): Date {
  if (typeof seconds === 'bigint') return new Date(Number(seconds) * 1000);
  if (typeof seconds !== 'number') throw new TypeError(`CBOR tag 1 (epoch time) holds ${typeof seconds}, not a number`);
  const near = Math.round(seconds * 1000);
  if (!Number.isFinite(near)) return new Date(NaN);
  for (const offset of CANDIDATE_OFFSETS) {
    if ((near + offset) / 1000 === seconds) return new Date(near + offset);
  }
  // A fraction finer than a millisecond (another encoder's): the nearest millisecond, as before.
  return new Date(near);
}
// Process-wide, like every cbor-x extension: any decoder in the process reads dates exactly.
// Decode only: cbor-x's own encoding is kept (and so the bytes other CBOR readers expect). Its
// types ask for a class and an encoder, which a decode-only extension does not have.
addExtension({ tag: EPOCH_TIME_TAG, decode: epochSecondsToDate } as unknown as Extension<Date, unknown>);
