/**
 * Encodes user values with cbor-x. Values are encoded once, by the member that writes them, and
 * travel and rest as bytes on backups; only a member that reads a value decodes it.
 *
 * @module
 */
import { Encoder } from 'cbor-x';
import { CodecError, ValueEncodeError } from '../errors.js';

/**
 * The value codec: what round-trips is what cbor-x round-trips (plain objects, arrays, strings,
 * numbers, bigint, booleans, null, undefined, Date, Map, Set, Uint8Array/Buffer).
 */
export class ValueCodec {
  // Records off: peers share no structure table. Maps are tagged so a Map comes back as a Map.
  private readonly encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

  /**
   * Encodes `value` into a buffer the caller owns.
   * @throws {ValueEncodeError} when cbor-x cannot encode the value (function, symbol, cycle...).
   */
  encode(value: unknown): Uint8Array {
    try {
      // cbor-x hands out views into a shared scratch buffer; copy so a stored value pins only its own bytes.
      return Uint8Array.prototype.slice.call(this.encoder.encode(value));
    } catch (error) {
      throw new ValueEncodeError(
        `value cannot be encoded with cbor-x (${error instanceof Error ? error.message : String(error)}): store plain data, or register the class with the codec`,
        { cause: error },
      );
    }
  }

  /**
   * Decodes bytes produced by {@link encode}.
   * @throws {CodecError} when the bytes are not valid CBOR.
   */
  decode(bytes: Uint8Array): unknown {
    let value: unknown;
    try {
      value = this.encoder.decode(bytes);
    } catch (error) {
      throw new CodecError(`value bytes are not valid CBOR (${bytes.length} bytes)`, { cause: error });
    }
    // cbor-x returns its internal "break" marker (an empty object) for a stray 0xff byte.
    if (value === this.breakMarker) throw new CodecError('value bytes are a lone CBOR break, not a value');
    return value;
  }

  private readonly breakMarker: unknown = this.encoder.decode(Uint8Array.of(0xff));
}

/** The codec maps use unless given another. */
export const defaultValueCodec = new ValueCodec();
