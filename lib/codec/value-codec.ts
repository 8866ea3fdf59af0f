/**
 * Encodes user values with cbor-x. Values are encoded once, by the member that writes them, and
 * travel and rest as bytes on backups; only a member that reads a value decodes it.
 *
 * @module
 */
import { Encoder, Tag, addExtension } from 'cbor-x';
import { releaseLargeBuffer } from './encode-buffer.js';
import { ClassRegistrationError, CodecError, ValueEncodeError } from '../errors.js';
import { hasStrayBreak } from './cbor-well-formed.js';
import './exact-dates.js';

/** The lowest tag `ValueCodec.register` accepts: cbor-x leaves tags above 40500 to applications. */
export const MIN_CLASS_TAG = 40_501;
/** The highest tag `ValueCodec.register` accepts: cbor-x writes tags as at most 32 bits. */
export const MAX_CLASS_TAG = 0xffff_ffff;
/** Self-described CBOR (RFC 8949 §3.4.6): a marker, never a class. */
const SELF_DESCRIBED_CBOR_TAG = 55_799;

/** A class that can be registered: anything with a prototype, whatever its constructor takes. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RegisteredClass<T extends object> = abstract new (...args: any[]) => T;

/** Registered classes by tag, and tags by class: cbor-x's extension table is process-wide, so is this. */
const classesByTag = new Map<number, RegisteredClass<object>>();
const tagsByClass = new Map<RegisteredClass<object>, number>();

/** Depth of {@link ValueCodec.encode} calls on the stack: the guard below is armed only inside one. */
let encoding = 0;

/** Objects cbor-x encodes as themselves: they come back with their class. */
function roundTrips(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return (
    proto === Object.prototype ||
    proto === null ||
    value instanceof Date ||
    value instanceof Set ||
    value instanceof Error ||
    value instanceof RegExp ||
    value instanceof Tag ||
    value instanceof ArrayBuffer ||
    ArrayBuffer.isView(value)
  );
}

/**
 * The guard against a silent change of class: cbor-x writes an instance of a class it has no
 * extension for as a plain object (or, when it is iterable, as an array), so it would come back as
 * something else. cbor-x asks its extensions in order with `instanceof`; this one is asked after
 * every registered class (registrations go in front of it) and before cbor-x's own ones (Date,
 * Set...), which {@link roundTrips} lets through. It answers only while one of our codecs encodes,
 * so other cbor-x users in the process see no change.
 */
const UnregisteredClass = {
  [Symbol.hasInstance](value: unknown): boolean {
    return encoding > 0 && typeof value === 'object' && value !== null && !roundTrips(value);
  },
};
addExtension({
  Class: UnregisteredClass as unknown as new () => object,
  // No tag is written: encode() throws before anything of the value is.
  tag: undefined as unknown as number,
  encode(value: object): never {
    const name = (value.constructor as { name?: string } | undefined)?.name ?? '(anonymous)';
    throw new ValueEncodeError(
      `value holds an instance of class ${name || '(anonymous)'}, which the codec does not know: it would come back as a plain object. Register the class with ValueCodec.register(tag, ${name || 'TheClass'}) on every member, or store plain data`,
    );
  },
  decode: undefined as unknown as (data: unknown) => object,
});

/**
 * The value codec: what round-trips is what cbor-x round-trips (plain objects, arrays, strings,
 * numbers, bigint, booleans, null, undefined, Date, Map, Set, Uint8Array/Buffer), and instances of
 * classes registered with {@link ValueCodec.register}.
 */
export class ValueCodec {
  /**
   * Registers a class under a CBOR tag, so its instances decode on every member as instances
   * (with their methods), not as plain objects. Register the same class under the same tag on
   * every member, before the first value of it is decoded there.
   *
   * cbor-x keeps its extensions for the whole process, so a registration holds for every codec
   * (and every cbor-x encoder) in the process. Registering the same class under the same tag again
   * changes nothing, so modules may register their classes when they load.
   *
   * @param tag the CBOR tag, from {@link MIN_CLASS_TAG} to {@link MAX_CLASS_TAG} (not 55799).
   * @param cls the class; instances of its subclasses are encoded under the same tag.
   * @param encode turns an instance into data the codec encodes.
   *   Default: a plain object of the instance's own enumerable properties.
   * @param decode turns that data, as decoded on a peer, back into an instance. It receives a
   *   peer's bytes: validate, and throw on anything malformed (the decode then fails with a
   *   {@link CodecError}). Default: a new object with the class's prototype (the constructor is
   *   not run) and the properties of the plain object; classes with private (`#`) fields or
   *   constructor logic need their own `decode`.
   * @throws {ClassRegistrationError} when the tag is out of range, or the tag or the class is
   *   already registered with another partner.
   *
   * @example
   * ```ts
   * class Point { constructor(public x = 0, public y = 0) {} norm() { return Math.hypot(this.x, this.y); } }
   * ValueCodec.register(40_501, Point, (p) => [p.x, p.y], (d) => new Point(...(d as [number, number])));
   * ```
   */
  static register<T extends object>(tag: number, cls: RegisteredClass<T>, encode?: (value: T) => unknown, decode?: (data: unknown) => T): void {
    if (!Number.isSafeInteger(tag) || tag < MIN_CLASS_TAG || tag > MAX_CLASS_TAG || tag === SELF_DESCRIBED_CBOR_TAG) {
      throw new ClassRegistrationError(
        `tag ${String(tag)} cannot carry a class: use a whole number from ${MIN_CLASS_TAG} to ${MAX_CLASS_TAG} other than ${SELF_DESCRIBED_CBOR_TAG} (lower tags belong to CBOR and cbor-x)`,
      );
    }
    if (typeof cls !== 'function' || typeof cls.prototype !== 'object') {
      throw new ClassRegistrationError(`only classes can be registered with the value codec, got ${typeof cls}`);
    }
    const holder = classesByTag.get(tag);
    const knownTag = tagsByClass.get(cls);
    if (holder === cls && knownTag === tag) return;
    if (holder !== undefined) {
      throw new ClassRegistrationError(`tag ${tag} already carries class ${holder.name || '(anonymous)'}: choose another tag for ${cls.name || 'this class'}`);
    }
    if (knownTag !== undefined) {
      throw new ClassRegistrationError(`class ${cls.name || '(anonymous)'} is already registered under tag ${knownTag}: register it once, under one tag`);
    }
    const toData = encode ?? ((value: T): unknown => ({ ...value }));
    const fromData = decode ?? ((data: unknown): T => {
      if (typeof data !== 'object' || data === null || Array.isArray(data)) {
        throw new TypeError(`tag ${tag} (${cls.name}) expects a map of properties, got ${Array.isArray(data) ? 'an array' : typeof data}`);
      }
      // Object.assign copies own data properties only; cbor-x already renamed a `__proto__` key.
      return Object.assign(Object.create(cls.prototype as object) as T, data);
    });
    classesByTag.set(tag, cls);
    tagsByClass.set(cls, tag);
    addExtension<T, unknown>({
      // cbor-x only tests `instanceof`, which abstract classes support too.
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      Class: cls as unknown as new (...args: any[]) => T,
      tag,
      // cbor-x writes what the inner encoder writes and ignores the return value.
      encode: (value, encodeData) => encodeData(toData(value)),
      decode: fromData,
    });
  }

  // Records off: peers share no structure table. Maps are tagged so a Map comes back as a Map.
  private readonly encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

  /**
   * Encodes `value` into a buffer the caller owns.
   * @throws {ValueEncodeError} when cbor-x cannot encode the value (function, symbol, cycle...),
   *   when it holds an instance of a class that is not registered (it would come back as a plain
   *   object), or when called from inside an encode (a registered class's encoder must return
   *   plain data, not bytes: cbor-x cannot nest encodes).
   */
  encode(value: unknown): Uint8Array {
    // cbor-x writes a nested encode's output into the middle of the one under way (one working
    // buffer per process): the bytes would be stored and replicated, and fail only when read.
    if (encoding > 0) {
      throw new ValueEncodeError(
        "the value codec was called while it was encoding a value (from a registered class's encoder, most likely): cbor-x cannot nest encodes. Return plain data from the class's encoder; the codec encodes it",
      );
    }
    encoding++;
    let encoded: Uint8Array | undefined;
    try {
      // cbor-x hands out views into a shared scratch buffer; copy so a stored value pins only its own bytes.
      encoded = this.encoder.encode(value);
      return Uint8Array.prototype.slice.call(encoded);
    } catch (error) {
      if (error instanceof ValueEncodeError) throw error;
      throw new ValueEncodeError(
        `value cannot be encoded with cbor-x (${error instanceof Error ? error.message : String(error)}): store plain data, or register the class with the codec`,
        { cause: error },
      );
    } finally {
      encoding--;
      // Once the bytes are copied, and never under another encode (the frame encoder's own are
      // not nested in this one): the working buffer must not be swapped under an encode in progress.
      if (encoding === 0) releaseLargeBuffer(this.encoder, encoded);
    }
  }

  /**
   * Decodes bytes produced by {@link encode}.
   * @throws {CodecError} when the bytes are not valid CBOR.
   */
  decode(bytes: Uint8Array): unknown {
    // Before cbor-x: releases disagree on stray breaks (see cbor-well-formed.ts). Bytes without
    // a 0xff (most values: UTF-8 text never holds one) cannot hold a break: no scan needed.
    if (bytes.includes(0xff) && hasStrayBreak(bytes)) throw new CodecError(`value bytes are not well-formed CBOR: a break (0xff) outside an indefinite-length item (${bytes.length} bytes)`);
    try {
      return this.encoder.decode(bytes);
    } catch (error) {
      throw new CodecError(`value bytes are not valid CBOR (${bytes.length} bytes)`, { cause: error });
    }
  }
}

/** The codec maps use unless given another. */
export const defaultValueCodec = new ValueCodec();
