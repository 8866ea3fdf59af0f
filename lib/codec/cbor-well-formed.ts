/**
 * A scan for the one malformation cbor-x versions disagree on: a "break" byte (`0xff`) where no
 * indefinite-length item is open. cbor-x 1.6.8 and older hand their internal stop marker back as if
 * it were a value (an empty object, anywhere in the tree); 1.6.9 throws. Peers' bytes must give the
 * same answer whichever release a user's install resolved, so we look for stray breaks ourselves,
 * before cbor-x decodes, instead of depending on either behaviour.
 *
 * Everything else that is malformed (truncation, reserved additional information, trailing bytes)
 * is left to cbor-x, which rejects it in every release: this scan stops at the first such byte.
 *
 * @module
 */

/** Frame of the item stack: items still expected, or one of the markers below. */
const INDEFINITE_CONTAINER = -1;
/** An indefinite string of major type `m` expects definite chunks of type `m`: `-2 - m`. */
const indefiniteString = (majorType: number): number => -2 - majorType;

/**
 * Tells whether `bytes` holds a CBOR break (`0xff`) outside an indefinite-length item, where
 * RFC 8949 §3.2.1 makes the data not well-formed. Runs in one pass without recursion, so hostile
 * nesting cannot exhaust the stack; string contents are skipped by length, not read.
 *
 * @returns `true` at the first stray break; `false` when there is none, or when the bytes break
 *   another rule first (the decoder reports those).
 */
export function hasStrayBreak(bytes: Uint8Array): boolean {
  const length = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // One top-level item; the bytes after it are cbor-x's to reject, but a break there is ours.
  const stack: number[] = [1];
  let at = 0;
  while (at < length) {
    const top = stack[stack.length - 1];
    if (top === undefined) return bytes[at] === 0xff;
    if (top === 0) {
      stack.pop();
      continue;
    }
    const initial = bytes[at++] as number;
    if (initial === 0xff) {
      if (top >= 0) return true;
      stack.pop();
      continue;
    }
    const majorType = initial >> 5;
    const info = initial & 0x1f;
    if (top > 0) stack[stack.length - 1] = top - 1;
    else if (top !== INDEFINITE_CONTAINER && (top !== indefiniteString(majorType) || info === 31)) return false;

    let argument: number;
    if (info < 24) argument = info;
    else if (info === 24) argument = at + 1 <= length ? view.getUint8(at) : NaN;
    else if (info === 25) argument = at + 2 <= length ? view.getUint16(at) : NaN;
    else if (info === 26) argument = at + 4 <= length ? view.getUint32(at) : NaN;
    else if (info === 27) argument = at + 8 <= length ? Number(view.getBigUint64(at)) : NaN;
    else if (info === 31) argument = -1;
    else return false;
    if (Number.isNaN(argument)) return false;
    if (info >= 24 && info <= 27) at += 1 << (info - 24);

    if (argument === -1) {
      if (majorType === 2 || majorType === 3) stack.push(indefiniteString(majorType));
      else if (majorType === 4 || majorType === 5) stack.push(INDEFINITE_CONTAINER);
      else return false;
      continue;
    }
    switch (majorType) {
      case 2:
      case 3:
        if (argument > length - at) return false;
        at += argument;
        break;
      case 4:
        stack.push(argument);
        break;
      case 5:
        stack.push(argument * 2);
        break;
      case 6:
        stack.push(1);
        break;
      default:
        // Integers and simple values/floats carry nothing after their argument.
        break;
    }
  }
  return false;
}
