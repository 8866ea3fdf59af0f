/**
 * The TCP transport's own wire format, under the library's frames: every message is a 4-byte
 * big-endian length, then one type byte, then the payload. `DATA` carries a library frame as-is
 * (never re-encoded); the control messages carry a small CBOR array.
 *
 * @module
 */
import { Encoder } from 'cbor-x';
import { CodecError } from '../../errors.js';

/** Version of the TCP wire format, checked at the handshake. */
export const TCP_PROTOCOL_VERSION = 1;

/**
 * Largest payload a peer may send before it has authenticated, in bytes. The handshake's
 * messages are a few hundred bytes; anything bigger from a stranger is refused at its length
 * prefix, so an unauthenticated connection never makes this member buffer more than this.
 */
export const HANDSHAKE_MAX_FRAME_BYTES = 4096;

/** Message types of the TCP wire format. */
export const TcpMessage = {
  /** A library frame. */
  Data: 0,
  /** Connector → acceptor: `[cluster, version, id, incarnation, address, nonce]`. */
  Hello: 1,
  /** Acceptor → connector: `[id, incarnation, address, nonce, proof]`. */
  Welcome: 2,
  /** Connector → acceptor: `[proof]`. */
  Proof: 3,
  /** Acceptor → connector: the connection is established. */
  Ready: 4,
  /**
   * Either side: `[reason]` or `[reason, REFUSE_DUPLICATE]`, then the connection closes. The
   * second form is not a fault: the members are (or are about to be) connected another way.
   */
  Refuse: 5,
  /** Either side: nothing to say, still alive. */
  Heartbeat: 6,
  /** Members known to the sender: `[[id, address], ...]`. */
  Gossip: 7,
  /** The sender leaves the cluster now. */
  Bye: 8,
} as const;
/**
 * The code a Refuse carries when the connection is only redundant: the pair keeps another one
 * (already established, or preferred by the tie-break). Neither side reports it as an error.
 */
export const REFUSE_DUPLICATE = 'duplicate';

/** One of {@link TcpMessage}'s values. */
export type TcpMessage = (typeof TcpMessage)[keyof typeof TcpMessage];

const HEADER_BYTES = 5;
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

/** The header of a message whose payload is `payloadBytes` long. */
export function header(type: TcpMessage, payloadBytes: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32BE(payloadBytes + 1, 0);
  h.writeUInt8(type, 4);
  return h;
}

/** A whole control message. */
export function control(type: TcpMessage, body: readonly unknown[] = []): Buffer {
  const payload = body.length === 0 ? Buffer.alloc(0) : cbor.encode(body);
  return Buffer.concat([header(type, payload.length), payload]);
}

/** Decodes a control message's body; a CodecError if it is not a CBOR array. */
export function controlBody(payload: Uint8Array): unknown[] {
  if (payload.length === 0) return [];
  let body: unknown;
  try {
    body = cbor.decode(payload);
  } catch (error) {
    throw new CodecError('control message is not valid CBOR', { cause: error });
  }
  if (!Array.isArray(body)) throw new CodecError('control message body is not an array');
  return body as unknown[];
}
