/**
 * The envelope around everything that crosses a transport. One CBOR array:
 * `[protocolVersion, kind, channel, requestId, body]`. The transport never looks inside; the
 * {@link ChannelRouter} reads the envelope and hands `body` to the channel named in it.
 *
 * @module
 */
import { Encoder } from 'cbor-x';
import { CodecError, ValueEncodeError } from '../errors.js';
import { hasStrayBreak } from './cbor-well-formed.js';
import './exact-dates.js';

/** Version of the wire protocol. A frame of another version is rejected with a {@link CodecError}. */
export const PROTOCOL_VERSION = 1;

/** What a frame is, within the request/reply protocol every channel uses. */
export const FrameKind = {
  /** A request whose sender waits for a reply. */
  Request: 1,
  /** A one-way request: no reply is sent. */
  Notify: 2,
  /** A successful reply to a `Request`. */
  Reply: 3,
  /** The handler of a `Request` threw; body is `[errorName, message]`. */
  Error: 4,
  /** The receiver runs the library but has no channel of that name. */
  NoChannel: 5,
} as const;
/** One of {@link FrameKind}'s values. */
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** A decoded envelope. `body` is still unvalidated: the channel it is for checks it. */
export interface Frame {
  readonly kind: FrameKind;
  /** Name of the channel (RPC channel or map) the frame is for. */
  readonly channel: string;
  /** Request id, chosen by the requester; 0 on kinds that need none. */
  readonly id: number;
  readonly body: unknown;
}

// One encoder for envelopes: records off (peers share no structure table), plain objects as maps.
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

/**
 * Encodes a frame.
 * @throws {ValueEncodeError} when the body holds something cbor-x cannot encode.
 */
export function encodeFrame(frame: Frame): Uint8Array {
  try {
    return encoder.encode([PROTOCOL_VERSION, frame.kind, frame.channel, frame.id, frame.body]);
  } catch (error) {
    throw new ValueEncodeError(
      `message for channel '${frame.channel}' cannot be encoded with cbor-x (${error instanceof Error ? error.message : String(error)}): send plain data`,
      { cause: error },
    );
  }
}

/**
 * Decodes and validates an envelope. Any byte string yields a {@link Frame} or throws a
 * {@link CodecError}; nothing else escapes.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (hasStrayBreak(bytes)) throw new CodecError(`frame is not well-formed CBOR: a break (0xff) outside an indefinite-length item (${bytes.length} bytes)`);
  let raw: unknown;
  try {
    raw = encoder.decode(bytes);
  } catch (error) {
    throw new CodecError(`frame is not valid CBOR (${bytes.length} bytes)`, { cause: error });
  }
  if (!Array.isArray(raw) || raw.length !== 5) {
    throw new CodecError('frame is not a 5-element envelope array');
  }
  const [version, kind, channel, id, body] = raw as unknown[];
  if (version !== PROTOCOL_VERSION) {
    throw new CodecError(
      `frame has protocol version ${String(version)}, this member speaks ${PROTOCOL_VERSION}: run the same library version on every member`,
    );
  }
  if (kind !== 1 && kind !== 2 && kind !== 3 && kind !== 4 && kind !== 5) {
    throw new CodecError(`frame has unknown kind ${String(kind)}`);
  }
  if (typeof channel !== 'string' || channel.length === 0) {
    throw new CodecError('frame has no channel name');
  }
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw new CodecError('frame has an invalid request id');
  }
  return { kind, channel, id, body };
}
