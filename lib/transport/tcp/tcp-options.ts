/**
 * Settings of a {@link TcpTransport}.
 *
 * @module
 */
import type { SecureContextOptions } from 'node:tls';

/** The timer functions the transport uses; tests may pass fakes (heartbeats, failure detection, retries). */
export interface TcpClock {
  now(): number;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** Node's own timers. */
export const systemClock: TcpClock = {
  now: () => Date.now(),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => {
    clearInterval(handle as NodeJS.Timeout);
  },
};

/** Largest frame accepted by default: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Unsent bytes allowed per connection by default before `send` rejects: 64 MiB. */
export const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024;
/** How often members show they are alive, in milliseconds. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 500;
/** Silence after which a member is declared gone, in milliseconds (plus at most one heartbeat interval). */
export const DEFAULT_FAILURE_TIMEOUT_MS = 2000;
/** Time allowed for a connection's handshake, in milliseconds. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 3000;
/** Longest wait between two attempts to reach a seed or a lost member, in milliseconds. */
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 5000;
/** Incoming connections allowed to be in their handshake at once, by default. */
export const DEFAULT_MAX_PENDING_CONNECTIONS = 64;
/** How long `start()` waits to meet another member with `mustJoin`, in milliseconds. */
export const DEFAULT_JOIN_TIMEOUT_MS = 10_000;
/** How long a lost member (gone without saying goodbye) is retried before it is forgotten, in milliseconds. */
export const DEFAULT_FORGET_AFTER_MS = 60_000;

/**
 * TLS for a {@link TcpTransport}: the secure context (key, cert, ca...) serves both as server
 * and as client, since every member is both.
 */
export interface TcpTlsOptions extends SecureContextOptions {
  /**
   * Ask connecting members for a client certificate (mutual TLS).
   * @default false
   */
  requestCert?: boolean;
  /**
   * Refuse peers whose certificate does not verify against `ca`.
   * @default true
   */
  rejectUnauthorized?: boolean;
  /** Server name to verify on the peers' certificates (when addresses are IPs). */
  servername?: string;
}

/** Settings of a {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** This member's id, unique in the cluster. */
  id: string;
  /**
   * Interface to listen on. Use `127.0.0.1` for tests; a routable address for a real cluster.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Port to listen on; 0 picks a free one (see `transport.address` after `start()`).
   * @default 0
   */
  port?: number;
  /**
   * `host:port` addresses of members to contact first, retried in the background until they
   * answer. A function (returning an array or a promise of one) is called on every attempt,
   * useful when addresses are learned late (DNS). An array entry that is not a `host:port`
   * address makes the constructor throw a `RangeError`; a function's bad entry is skipped and
   * reported as an `InvalidSeedError`. A seed that cannot be reached is reported as a
   * `SeedUnreachableError` (once until it answers) and retried.
   * @default []
   */
  seeds?: readonly string[] | (() => readonly string[] | Promise<readonly string[]>);
  /**
   * Make `start()` resolve only once this member is connected to another member, and reject
   * with `JoinTimeoutError` (stopping the transport) when none was met within `joinTimeoutMs`.
   * For deployments where a member must never run alone (its writes would have no backup). Do
   * not set it on the member that founds the cluster. Without it, `start()` resolves once
   * listening and a member whose seeds never answer runs alone.
   * @default false
   */
  mustJoin?: boolean;
  /**
   * With `mustJoin`: how long `start()` waits to meet another member, in milliseconds.
   * @default 10000
   */
  joinTimeoutMs?: number;
  /**
   * Address other members should use to reach this one, when it differs from the bound one
   * (containers, NAT).
   * @default the bound `host:port`
   */
  advertise?: string;
  /**
   * Name of the cluster; members of other clusters are refused at the handshake.
   * @default 'lazy-replicated-map'
   */
  cluster?: string;
  /**
   * Shared secret. Members prove they know it with an HMAC over nonces from both sides; it never
   * crosses the wire. A member without it can neither join nor inject frames. Without TLS the
   * traffic itself is not encrypted.
   */
  secret?: string;
  /** TLS settings. When set, every connection uses TLS. */
  tls?: TcpTlsOptions;
  /**
   * Largest frame accepted, in bytes; a bigger one closes the connection that sent it.
   * @default 16777216
   */
  maxFrameBytes?: number;
  /**
   * Unsent bytes allowed per connection; beyond it `send` rejects with `BackpressureError`.
   * @default 67108864
   */
  maxQueueBytes?: number;
  /**
   * Heartbeat interval in milliseconds: a connection idle this long sends a heartbeat. At most
   * half of `failureTimeoutMs`.
   * @default 500
   */
  heartbeatIntervalMs?: number;
  /**
   * A member silent for this long (milliseconds) is declared gone, at most a twentieth of it
   * later (the detector checks every `min(heartbeatIntervalMs / 2, failureTimeoutMs / 20)`).
   * Members exchange it at the handshake and each pair uses the larger of its two values, so
   * members with different settings do not declare each other gone between heartbeats.
   * At least twice `heartbeatIntervalMs`.
   * @default 2000
   */
  failureTimeoutMs?: number;
  /**
   * Time allowed for a handshake, in milliseconds; a connection that has not authenticated by
   * then is closed.
   * @default 3000
   */
  handshakeTimeoutMs?: number;
  /**
   * Incoming connections that may be in their handshake (not yet authenticated) at once; a
   * connection beyond it is closed at once. Bounds what strangers can make this member hold:
   * each pending connection buffers at most a handshake-sized message (4 KiB).
   * @default 64
   */
  maxPendingConnections?: number;
  /**
   * Longest wait between two reconnection attempts, in milliseconds (backoff doubles up to it).
   * @default 5000
   */
  maxReconnectDelayMs?: number;
  /**
   * How long a member lost without a goodbye is retried before it is forgotten, in milliseconds.
   * @default 60000
   */
  forgetAfterMs?: number;
  /**
   * Timers (tests may pass fakes).
   * @default Node's timers
   */
  clock?: TcpClock;
}
