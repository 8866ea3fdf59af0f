/**
 * Copies and comparisons of plain data (objects, arrays, strings, numbers, booleans, null,
 * undefined, bigints) that give what a CBOR round trip through the value codec gives, without
 * encoding: the session store copies a session's attributes for each request and compares them
 * after it, and a codec round trip of a whole session per request cost more than the rest of the
 * store. Anything else (a Date, a Map, a registered class, a function...) is left to the codec:
 * the callers fall back to it whenever these functions answer {@link NOT_PLAIN} or `undefined`.
 *
 * @module
 */

/** `String.prototype.isWellFormed` (Node 20 and later), which the ES2023 typings do not list yet. */
interface WellFormedString {
  isWellFormed(): boolean;
}

/** What {@link copyPlain} answers for a value that is not plain data: copy it through the codec instead. */
export const NOT_PLAIN: unique symbol = Symbol('not plain');

/**
 * How deep plain data is copied or compared before the codec takes over: deeper data is rare, and
 * a cycle must end somewhere (the codec then reports it as it always did).
 */
const MAX_DEPTH = 64;

/**
 * A copy of `value` equal to what the value codec's `decode(encode(value))` returns (a `-0` comes
 * back as `0`, an array hole as `undefined`, as they do through CBOR), sharing nothing mutable with
 * it; {@link NOT_PLAIN} when `value` holds anything but plain data, or a string that is not
 * well-formed UTF-16 (CBOR would change it), or is nested deeper than 64 levels.
 */
export function copyPlain(value: unknown, depth = 0): unknown {
  switch (typeof value) {
    case 'string':
      return (value as unknown as WellFormedString).isWellFormed() ? value : NOT_PLAIN;
    case 'number':
      // CBOR has no negative zero: the codec gives 0 back for -0.
      return value === 0 ? 0 : value;
    case 'boolean':
    case 'undefined':
    case 'bigint':
      return value;
    case 'object':
      break;
    default:
      return NOT_PLAIN;
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) return NOT_PLAIN;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Array.prototype) {
    const from = value as unknown[];
    const to: unknown[] = [];
    for (let i = 0; i < from.length; i++) {
      const item = copyPlain(from[i], depth + 1);
      if (item === NOT_PLAIN) return NOT_PLAIN;
      to.push(item);
    }
    return to;
  }
  if (proto !== Object.prototype) return NOT_PLAIN;
  const from = value as Record<string, unknown>;
  const to: Record<string, unknown> = {};
  for (const key of Object.keys(from)) {
    // An own `__proto__` would become the copy's prototype by assignment: the codec handles it.
    if (key === '__proto__') return NOT_PLAIN;
    const item = copyPlain(from[key], depth + 1);
    if (item === NOT_PLAIN) return NOT_PLAIN;
    to[key] = item;
  }
  return to;
}

/**
 * Whether storing `a` and storing `b` keep the same data: `true` or `false` when both are plain
 * data (own enumerable keys in any order, `Object.is` for primitives, an array hole as
 * `undefined`); `undefined` when either holds anything else, for the caller to compare some other
 * way (`isDeepStrictEqual`).
 */
export function samePlain(a: unknown, b: unknown, depth = 0): boolean | undefined {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    // Two different primitives, or a primitive and an object: different, unless a function or a
    // symbol is involved, which is not data (the caller's comparison decides).
    return typeof a === 'function' || typeof b === 'function' || typeof a === 'symbol' || typeof b === 'symbol' ? undefined : false;
  }
  if (depth >= MAX_DEPTH) return undefined;
  const protoA: unknown = Object.getPrototypeOf(a);
  const protoB: unknown = Object.getPrototypeOf(b);
  if (protoA === Array.prototype && protoB === Array.prototype) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) {
      const same = samePlain(x[i], y[i], depth + 1);
      if (same !== true) return same;
    }
    return true;
  }
  if (protoA !== Object.prototype || protoB !== Object.prototype) {
    // An array and a plain object differ; anything else (a Date, a Map...) is the caller's to compare.
    return isPlainProto(protoA) && isPlainProto(protoB) ? false : undefined;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(y, key)) return false;
    const same = samePlain(x[key], y[key], depth + 1);
    if (same !== true) return same;
  }
  return true;
}

/** The prototype of an array or a plain object. */
function isPlainProto(proto: unknown): boolean {
  return proto === Array.prototype || proto === Object.prototype;
}
