/**
 * The names and message shapes of the library's `node:diagnostics_channel` channels. Publishing
 * costs nothing when nobody subscribes: every publisher checks `hasSubscribers` before it builds a
 * message. See docs/observability.md for recipes (prom-client, OpenTelemetry).
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';

/**
 * Every channel the library publishes on. The `map.*` and `rpc.call` names are tracing channels
 * (`diagnostics_channel.tracingChannel(name)`: subscribe to `start`, `end`, `asyncStart`,
 * `asyncEnd` and `error`, or to the plain channels `tracing:<name>:start` ...); the others are
 * plain channels (`diagnostics_channel.subscribe(name, listener)`).
 */
export const DIAGNOSTICS_CHANNELS = {
  /** Tracing: `map.get(key)`. Message: {@link MapOperationContext}. */
  mapGet: 'lazy-replicated-map:map.get',
  /** Tracing: `map.set(key, value)`. Message: {@link MapOperationContext}. */
  mapSet: 'lazy-replicated-map:map.set',
  /** Tracing: `map.delete(key)`. Message: {@link MapOperationContext}. */
  mapDelete: 'lazy-replicated-map:map.delete',
  /** Tracing: `map.clear()` (no `key`). Message: {@link MapOperationContext}. */
  mapClear: 'lazy-replicated-map:map.clear',
  /** Tracing: `map.replicate(key)`. Message: {@link MapOperationContext}. */
  mapReplicate: 'lazy-replicated-map:map.replicate',
  mapTouch: 'lazy-replicated-map:map.touch',
  /** Tracing: every `RpcChannel.call`, the maps' own requests included. Message: `RpcCallContext` (declared with the RPC channel, in `rpc/rpc-diagnostics.ts`). */
  rpcCall: 'lazy-replicated-map:rpc.call',
  /** Plain: a member started this map (or reappeared). Message: {@link MemberMessage}. */
  memberAdded: 'lazy-replicated-map:member.added',
  /** Plain: a member of this map is gone (crashed, cut off, stopped). Message: {@link MemberMessage}. */
  memberGone: 'lazy-replicated-map:member.gone',
  /** Plain: this member became primary of a key because its primary disappeared. Message: {@link ClaimMessage}. */
  failover: 'lazy-replicated-map:failover',
  /** Plain: this member became primary of a key by reading it. Message: {@link ClaimMessage}. */
  promotion: 'lazy-replicated-map:promotion',
  /** Plain: published when an entry expires. Message: {@link ExpiryMessage}. */
  expiry: 'lazy-replicated-map:expiry',
  /** Plain: this member evicted an entry it was primary of (`maxEntries`, `maxBytes`). Message: {@link EvictionMessage}. */
  eviction: 'lazy-replicated-map:eviction',
  /**
   * Plain: entries owned by `member` hold fewer copies than the map promises and no live member
   * is left to take another (what the map emits as `'underReplicated'`). Message: {@link UnderReplicatedMessage}.
   */
  underReplicated: 'lazy-replicated-map:under-replicated',
  /**
   * Plain: a fault a peer caused or an operation failed in the background (what the transports,
   * channels and maps report on `'error'`): protocol errors, handshake failures, unreachable seeds.
   * Each error is published once, by the first part that reports it. Message: {@link PeerErrorMessage}.
   */
  peerError: 'lazy-replicated-map:peer.error',
} as const;

/** The name of one of the library's channels. */
export type DiagnosticsChannelName = (typeof DIAGNOSTICS_CHANNELS)[keyof typeof DIAGNOSTICS_CHANNELS];

/** A map operation the library traces. */
export type MapOperation = 'get' | 'set' | 'delete' | 'clear' | 'replicate' | 'touch';

/**
 * The context of a traced map operation. The same object is passed to every event of one call,
 * so a subscriber may keep its own fields on it (a start time, a span); `result` or `error` is
 * set by the time of `asyncEnd` / `error`.
 */
export interface MapOperationContext {
  /** The operation. */
  op: MapOperation;
  /** The map's name. */
  map: string;
  /** This member's id. */
  member: string;
  /** The key (absent for `clear`). */
  key?: MapKey;
  /** What the operation resolved to (set by `diagnostics_channel` before `asyncStart`). */
  result?: unknown;
  /** Why it rejected (set before `error`). */
  error?: unknown;
}

/** A member of a map appeared or disappeared, as seen by `member`. */
export interface MemberMessage {
  /** The map's name. */
  map: string;
  /** The member that saw it (this process). */
  member: string;
  /** The member that appeared or disappeared. */
  peer: string;
}

/** This member became primary of a key (by a read, or by failover). */
export interface ClaimMessage {
  /** The map's name. */
  map: string;
  /** The new primary (this member). */
  member: string;
  /** The key. */
  key: MapKey;
  /** The primary before (the disappeared member on failover; a live one after a read). */
  previous: string;
}

/** An entry expired. */
export interface ExpiryMessage {
  /** The map's name. */
  map: string;
  /** The member that found it expired. */
  member: string;
  /** The key. */
  key: MapKey;
}

/** An entry was evicted by its primary. */
export interface EvictionMessage {
  /** The map's name. */
  map: string;
  /** The member that evicted it (its primary). */
  member: string;
  /** The key. */
  key: MapKey;
  /** The option whose limit was exceeded. */
  reason: 'maxEntries' | 'maxBytes';
}

/** Entries hold fewer copies than their map promises (see the map's `'underReplicated'` event). */
export interface UnderReplicatedMessage {
  /** The map's name. */
  map: string;
  /** The member that owns the entries (their primary). */
  member: string;
  /** The keys: one for a write, every entry of one re-homing left with `held` copies. */
  keys: readonly MapKey[];
  /** Copies besides the primary the map promises. */
  wanted: number;
  /** Copies besides the primary the entries hold. */
  held: number;
}

/** A fault reported on an `'error'` event. */
export interface PeerErrorMessage {
  /** What reported it first: the transport, an RPC channel, or a map. */
  source: 'transport' | 'channel' | 'map';
  /** This member's id. */
  member: string;
  /** The map's or channel's name (absent for the transport). */
  name?: string;
  /** The error, as emitted (`ProtocolError`, `AuthenticationError`, ...). */
  error: Error;
}
