/**
 * lazy-replicated-map: an embeddable distributed map for Node.js in the spirit of Tomcat's
 * BackupManager. This module is the curated public surface.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export type { Transport, TransportEvents, TransportEmitter } from './transport/transport.js';
export { InMemoryNetwork } from './in-memory-network.js';
export { InMemoryTransport, type InMemoryTransportOptions } from './transport/memory/in-memory-transport.js';
export type { InMemoryNetworkOptions, NetworkStats } from './transport/memory/in-memory-network-options.js';
export { RpcChannel, DEFAULT_RPC_TIMEOUT_MS, RESERVED_CHANNEL_PREFIX } from './rpc/rpc-channel.js';
export type { RpcCallOptions, RpcChannelEvents, RpcHandler, RpcReplyMode } from './rpc/rpc-options.js';
export type { RpcCallContext } from './rpc/rpc-diagnostics.js';
export { ValueCodec, defaultValueCodec, MIN_CLASS_TAG, MAX_CLASS_TAG, type RegisteredClass } from './codec/value-codec.js';
export { PROTOCOL_VERSION, OLDEST_COMPATIBLE_PROTOCOL_VERSION, FrameKind, encodeFrame, decodeFrame, type Frame } from './codec/frame.js';
export { frameClassifier, type BodyNamer, type FrameClassifier } from './codec/frame-classifier.js';
export { classifyFrame, MAP_CHANNEL_PREFIX } from './map/map-channel.js';
export * from './codec/message-types.js';
export {
  mapMessageFromWire,
  mapMessageToWire,
  isMapKey,
  type MapKey,
  type MapMessage,
  type MapMessageOf,
  type Version,
  type Placement,
  type EntryCopy,
  type EntryExpiry,
  type EntryDiff,
  type HeldCopy,
  type HeldAnswer,
  type Removal,
  type ConditionKind,
  type ConditionalRequest,
  type ConditionalOutcome,
} from './codec/map-messages.js';
export { LazyReplicatedMap, DEFAULT_BACKUPS } from './map/lazy-replicated-map.js';
export { ReplicatedMap } from './map/replicated-map.js';
export type { EntryInfo, EntryRole } from './map/entry.js';
export { isDeltaValue, type DeltaValue } from './map/delta-value.js';
export {
  DEFAULT_MAP_JOIN_TIMEOUT_MS,
  DEFAULT_MAP_RPC_TIMEOUT_MS,
  DEFAULT_STOP_WAIT_MS,
  DEFAULT_TOMBSTONE_TTL_MS,
  DEFAULT_UPDATE_ATTEMPTS,
  type AckMode,
  type UpdateOptions,
  type GetOptions,
  type SetOptions,
  type StopOptions,
  type LazyReplicatedMapOptions,
  type MapEvents,
  type MapStats,
  type ReplicatedMapOptions,
  type ExpiryTimers,
  type MapState,
  type UnderReplication,
  type SnapshotReport,
} from './map/map-options.js';
export type { SnapshotStore, SnapshotRetireReason } from './snapshot/snapshot-store.js';
export { FileSnapshotStore, DEFAULT_KEEP_RETIRED, type FileSnapshotStoreOptions } from './snapshot/file-snapshot-store.js';
export { SNAPSHOT_FORMAT_VERSION } from './snapshot/snapshot-format.js';
export { TcpTransport, type TcpTransportState } from './transport/tcp/tcp-transport.js';
export { dnsSeeds, type DnsSeedQuery, type DnsSeedOptions, type SeedSource } from './transport/tcp/dns-seeds.js';
export type { TcpStats, HandshakeFailureReason } from './transport/tcp/tcp-stats.js';
export {
  DEFAULT_FAILURE_TIMEOUT_MS,
  DEFAULT_FORGET_AFTER_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_JOIN_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_RECONNECT_DELAY_MS,
  type TcpClock,
  type TcpTlsOptions,
  type TcpTransportOptions,
} from './transport/tcp/tcp-options.js';
export { DEFAULT_EVICTION_SAMPLE, PROXY_METADATA_BYTES, type CapacityStats, type EvictionPolicy, type RoleHolding } from './map/capacity.js';
export { DEFAULT_EXPIRY_SWEEP_MS, BACKUP_IDLE_FACTOR } from './map/expiry.js';
export {
  DIAGNOSTICS_CHANNELS,
  type DiagnosticsChannelName,
  type MapOperation,
  type MapOperationContext,
  type MemberMessage,
  type ClaimMessage,
  type ExpiryMessage,
  type PeerErrorMessage,
  type UnderReplicatedMessage,
  type EvictionMessage,
} from './diagnostics/channels.js';
export { stopOnSignals, type Stoppable, type StopOnSignalsOptions } from './lifecycle/stop-on-signals.js';
export { readinessProbe, type ReadinessSource } from './lifecycle/readiness.js';
export { UNKNOWN_OPTION_WARNING, MAX_TIMER_MS } from './options/validate.js';
