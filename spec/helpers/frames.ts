/**
 * Opaque test frames for transport specs: the first four bytes carry a sequence number, the rest
 * is a pattern derived from it, so a frame's identity and integrity can both be checked.
 *
 * @module
 */

/** A frame of `length` bytes (at least 4) carrying `seq`. */
export function numberedFrame(seq: number, length = 8 + (seq % 61)): Uint8Array {
  const frame = new Uint8Array(length);
  new DataView(frame.buffer).setUint32(0, seq);
  for (let i = 4; i < length; i++) frame[i] = (seq * 31 + i * 7) & 0xff;
  return frame;
}

/** The sequence number a {@link numberedFrame} carries. */
export function sequenceOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
}

/** Byte-wise equality, fast enough for megabyte frames. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}
