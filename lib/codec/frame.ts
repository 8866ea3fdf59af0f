/**
 * The envelope around everything that crosses a transport. One CBOR array:
 * `[protocolVersion, kind, channel, requestId, body]`. The transport never looks inside; the
 * {@link ChannelRouter} reads the envelope and hands `body` to the channel named in it.
 *
 * @module
 */
import { Encoder } from 'cbor-x';
import { releaseLargeBuffer } from './encode-buffer.js';
import { CodecError, ValueEncodeError } from '../errors.js';
import { hasStrayBreak } from './cbor-well-formed.js';
import './exact-dates.js';

/**
 * Version of the wire protocol: the envelope, the map's messages and RPC. It moves with every
 * change of a message's shape (the golden frames in spec/codec/golden-frames.spec.ts fail until
 * it does). Members announce it in their hello when they meet (see {@link FrameKind.Hello}).
 * 1: 0.1.0, without a hello. 2: the map's message shapes of 0.2.0, and the hello.
 */
export const PROTOCOL_VERSION = 2;

/**
 * The oldest protocol version this build interoperates with in one cluster. Policy
 * (docs/protocol.md): versions N and N−1 interoperate, unless the CHANGELOG says "no rolling
 * upgrade" for a release, as it does for version 2 (from 0.1.0, which has no hello).
 */
export const OLDEST_COMPATIBLE_PROTOCOL_VERSION = 2;

/**
 * The first version with a hello. The envelope of a hello (and of a refusal) keeps its shape in
 * every later version, so that any two builds from this one on can tell each other's version.
 */
const FIRST_HELLO_VERSION = 2;

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
  /**
   * Sent by the channel router to every member its transport reports up, before anything else:
   * body `[protocolVersion, oldestCompatibleVersion, maxFrameBytes | null, answer]` (`answer`:
   * true when it answers the other member's opening hello). Its shape never changes, whatever the
   * version in the envelope (a later version may only add fields at the end).
   */
  Hello: 6,
  /**
   * The answer to a hello this member cannot interoperate with: body `[protocolVersion,
   * oldestCompatibleVersion]`, so the other side reports the refusal too. Shape fixed, like Hello.
   */
  Refuse: 7,
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
  return encodeFrameAs(PROTOCOL_VERSION, frame);
}

/**
 * Encodes a frame under another envelope version: only the router's hello uses it, when a test
 * simulates another build. Not exported from the package.
 * @internal
 */
export function encodeFrameAs(version: number, frame: Frame): Uint8Array {
  let encoded: Uint8Array | undefined;
  try {
    encoded = encoder.encode([version, frame.kind, frame.channel, frame.id, frame.body]);
    return encoded;
  } catch (error) {
    throw new ValueEncodeError(
      `message for channel '${frame.channel}' cannot be encoded with cbor-x (${error instanceof Error ? error.message : String(error)}): send plain data`,
      { cause: error },
    );
  } finally {
    // Outside the try: whatever it does, it is not a failure to encode this frame.
    releaseLargeBuffer(encoder, encoded);
  }
}

/**
 * Decodes and validates an envelope. Any byte string yields a {@link Frame} or throws a
 * {@link CodecError}; nothing else escapes.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  // A frame without a 0xff byte holds no break at all: the native search spares most frames the scan.
  if (bytes.includes(0xff) && hasStrayBreak(bytes)) throw new CodecError(`frame is not well-formed CBOR: a break (0xff) outside an indefinite-length item (${bytes.length} bytes)`);
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
  // Hellos and refusals of any version from the first hello on are read, so that members of
  // different versions can tell each other apart; everything else must be of a version spoken here.
  const handshake = (kind === FrameKind.Hello || kind === FrameKind.Refuse) && typeof version === 'number' && Number.isSafeInteger(version) && version >= FIRST_HELLO_VERSION;
  if (!handshake && !(typeof version === 'number' && version >= OLDEST_COMPATIBLE_PROTOCOL_VERSION && version <= PROTOCOL_VERSION)) {
    throw new CodecError(
      `frame has protocol version ${String(version)}, this member speaks ${PROTOCOL_VERSION}: run the same library version on every member`,
    );
  }
  if (kind !== 1 && kind !== 2 && kind !== 3 && kind !== 4 && kind !== 5 && kind !== 6 && kind !== 7) {
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

/**
 * The protocol version in the envelope of `bytes`, read from its first bytes without decoding the
 * rest (every version's envelope starts as a CBOR array whose first item is the version), or
 * `undefined` when the bytes do not start like an envelope. Lets the router name the version of
 * a frame it cannot decode.
 */
export function envelopeVersion(bytes: Uint8Array): number | undefined {
  // 0x80..0x97: an array of 0..23 items; 0x9f: of indefinite length.
  const head = bytes[0];
  if (head === undefined || !((head >= 0x80 && head <= 0x97) || head === 0x9f)) return undefined;
  const first = bytes[1];
  if (first === undefined) return undefined;
  if (first < 24) return first;
  if (first === 24) return bytes[2];
  if (first === 25 && bytes.length >= 4) return ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  return undefined;
}
