/**
 * Counters of a {@link TcpTransport}: cheap increments on paths that run anyway, read as a
 * snapshot by `transport.stats()`.
 *
 * @module
 */

/** Why a handshake failed, as counted in {@link TcpStats.handshakeFailures}. */
export type HandshakeFailureReason =
  /** The two members do not share the secret (either side noticed). */
  | 'secret'
  /** The id is taken (a live member's, or this member's own). */
  | 'id'
  /** Another cluster name or protocol version. */
  | 'cluster'
  /** A malformed or out-of-place handshake message, or one larger than the limit before authentication. */
  | 'malformed'
  /** Not finished within `handshakeTimeoutMs`. */
  | 'timeout'
  /** The connection closed (or failed) before the handshake finished. */
  | 'closed'
  /** Closed unread: `maxPendingConnections` incoming connections were already in their handshake. */
  | 'pendingLimit';

/** What `TcpTransport.stats()` returns. Counts are since the transport was made. */
export interface TcpStats {
  /** Connections now: `open` (every one), `pending` (in their handshake), `established`. */
  readonly connections: { readonly open: number; readonly pending: number; readonly established: number };
  /** Library frames received and sent. */
  readonly framesIn: number;
  readonly framesOut: number;
  /** Bytes of library frames received and sent (payloads, without the 5-byte header). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Failed handshakes, by reason (both directions). */
  readonly handshakeFailures: Readonly<Record<HandshakeFailureReason, number>>;
  /** Dials that retried a seed or a member after a failed attempt or a lost connection. */
  readonly reconnects: number;
  /** Peers the failure detector declared gone (silent past the agreed failure timeout). */
  readonly peersDeclaredDown: number;
}

/** The mutable counters behind {@link TcpStats}. */
export class TcpCounters {
  framesIn = 0;
  framesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  reconnects = 0;
  peersDeclaredDown = 0;
  readonly handshakeFailures: Record<HandshakeFailureReason, number> = {
    secret: 0,
    id: 0,
    cluster: 0,
    malformed: 0,
    timeout: 0,
    closed: 0,
    pendingLimit: 0,
  };

  /** A snapshot, with the connection counts of the moment. */
  snapshot(connections: TcpStats['connections']): TcpStats {
    return {
      connections,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      handshakeFailures: { ...this.handshakeFailures },
      reconnects: this.reconnects,
      peersDeclaredDown: this.peersDeclaredDown,
    };
  }
}
