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
 * larger than {@link MAX_KEPT_BYTES}. Always a new buffer, never one handed over before: views
 * already cut from the old one (frames not yet written) must keep their bytes.
 */
export function releaseLargeBuffer(encoder: Encoder, encoded: Uint8Array): void {
  if (encoded.buffer.byteLength <= MAX_KEPT_BYTES) return;
  // A Buffer, as cbor-x allocates in Node: it writes strings with Buffer's utf8Write when it can.
  (encoder as unknown as WithUseBuffer).useBuffer(Buffer.allocUnsafeSlow(FRESH_BYTES));
}
