/**
 * Keeps cbor-x's working buffer small. cbor-x encodes into one buffer per process (shared by every
 * `Encoder`), grows it to fit the largest message it has encoded (up to four times that size) and
 * never shrinks it: after one 10 MiB string value, every later frame was cut from a 60 MiB buffer,
 * kept for the life of the process, and a transport that copied a frame's whole `buffer` copied
 * all of it (docs/custom-transport.md, 8). After an encode that left the buffer larger than
 * {@link MAX_KEPT_BYTES}, the encoder is handed a fresh small one (cbor-x's documented
 * `useBuffer`); the large one is freed once the views cut from it are gone.
 *
 * @module
 */
import type { Encoder } from 'cbor-x';

/**
 * Largest working buffer kept after an encode. Map messages are cut at about 1 MiB
 * (message-size.ts), for which cbor-x grows its buffer to about 4 MiB: those are kept.
 */
export const MAX_KEPT_BYTES = 8 * 1024 * 1024;

/** cbor-x's initial working buffer, which a fresh one matches. */
const FRESH_BYTES = 8192;

/** `useBuffer` is documented in cbor-x's README ("Arena Allocation") but missing from its typings. */
interface WithUseBuffer {
  useBuffer(buffer: Uint8Array): void;
}

/**
 * Gives `encoder` a fresh working buffer when `encoded` (what it just returned) was cut from one
 * larger than {@link MAX_KEPT_BYTES}, or when the encode threw (`encoded` undefined: it may have
 * grown the buffer before it failed, and failures are rare). Always a new buffer, never one handed
 * over before: views already cut from the old one (frames not yet written) must keep their bytes.
 * Nothing when this cbor-x has no `useBuffer` (it is not in its typings): the buffer then stays as
 * cbor-x leaves it, as before.
 *
 * The cost: a single value or frame that needs more than about 2 MiB (a string of about 700,000
 * characters or more: cbor-x reserves three bytes per character) grows the buffer past the limit
 * each time it is encoded, so each such encode allocates anew (12 MiB for a 3 MiB frame). Timed
 * over 200 encodes of a 3 MiB frame, twice each way, the time per encode stayed within its noise
 * (0.14–0.52 ms with the release, 0.32–0.93 without); a reviewer measured 0.5 against 1.3 ms.
 */
export function releaseLargeBuffer(encoder: Encoder, encoded: Uint8Array | undefined): void {
  if (encoded !== undefined && encoded.buffer.byteLength <= MAX_KEPT_BYTES) return;
  const target = encoder as unknown as Partial<WithUseBuffer>;
  // A Buffer, as cbor-x allocates in Node: it writes strings with Buffer's utf8Write when it can.
  if (typeof target.useBuffer === 'function') target.useBuffer(Buffer.allocUnsafeSlow(FRESH_BYTES));
}
