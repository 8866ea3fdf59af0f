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
export const TCP_PROTOCOL_VERSION = 2;

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
  /** Connector → acceptor: `[cluster, version, id, incarnation, address, nonce, terms]`. */
  Hello: 1,
  /** Acceptor → connector: `[id, incarnation, address, nonce, proof, terms]`. */
  Welcome: 2,
  /** Connector → acceptor: `[proof]`. */
  Proof: 3,
  /** Acceptor → connector: the connection is established. */
  Ready: 4,
  /**
   * Either side: `[reason, code]` (a {@link RefuseCode}), then the connection closes. The code
   * `REFUSE_DUPLICATE` is not a fault: the members are (or are about to be) connected another way.
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

/**
 * Why a handshake was refused, so the refused side can report a typed error: `secret` (the
 * proofs did not match), `id` (the id is taken), `cluster` (another cluster name), `version`
 * (another protocol version), `malformed`, or `duplicate` (not a fault, see `REFUSE_DUPLICATE`).
 */
export type RefuseCode = typeof REFUSE_DUPLICATE | 'secret' | 'id' | 'cluster' | 'version' | 'malformed';

/**
 * What each member tells the other in its Hello or Welcome, as `[heartbeatIntervalMs,
 * failureTimeoutMs, hasSecret, maxFrameBytes?]`: its heartbeat timing, so both detect failures
 * with timings both tolerate; whether it has a secret at all, so a missing secret is named as
 * such; and the largest frame it accepts, so the other never sends it a larger one (absent from
 * members built before it was added: then nothing is known of their limit).
 */
export interface HandshakeTerms {
  readonly heartbeatIntervalMs: number;
  readonly failureTimeoutMs: number;
  readonly hasSecret: boolean;
  readonly maxFrameBytes?: number;
}

/** The wire form of {@link HandshakeTerms}. */
export function termsToWire(terms: HandshakeTerms): [number, number, boolean] | [number, number, boolean, number] {
  const base: [number, number, boolean] = [terms.heartbeatIntervalMs, terms.failureTimeoutMs, terms.hasSecret];
  return terms.maxFrameBytes === undefined ? base : [...base, terms.maxFrameBytes];
}

/** Reads {@link HandshakeTerms}; undefined when malformed. */
export function termsFromWire(wire: unknown): HandshakeTerms | undefined {
  if (!Array.isArray(wire)) return undefined;
  const [heartbeatIntervalMs, failureTimeoutMs, hasSecret, maxFrameBytes] = wire as unknown[];
  if (typeof heartbeatIntervalMs !== 'number' || !(heartbeatIntervalMs > 0) || !Number.isFinite(heartbeatIntervalMs)) return undefined;
  if (typeof failureTimeoutMs !== 'number' || !(failureTimeoutMs > 0) || !Number.isFinite(failureTimeoutMs)) return undefined;
  if (typeof hasSecret !== 'boolean') return undefined;
  if (maxFrameBytes === undefined) return { heartbeatIntervalMs, failureTimeoutMs, hasSecret };
  if (typeof maxFrameBytes !== 'number' || !Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) return undefined;
  return { heartbeatIntervalMs, failureTimeoutMs, hasSecret, maxFrameBytes };
}

/**
 * The agreed failure timeout of a link: the larger of the two members' `failureTimeoutMs`. Each
 * member's own is at least twice its heartbeat interval, so both tolerate the other's interval.
 * Kept with the terms it reads (a connection applies it, and the failure detector imports the
 * connection, so it cannot live in the detector without a cycle).
 */
export function agreedFailureTimeout(own: number, peer: number | undefined): number {
  return Math.max(own, peer ?? 0);
}

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
