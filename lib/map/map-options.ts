/**
 * Settings, events and statistics of the maps.
 *
 * @module
 */
import type { Transport } from '../transport/transport.js';
import type { ValueCodec } from '../codec/value-codec.js';
import type { MapKey } from '../codec/map-messages.js';
import { boolean, func, nonEmptyString, oneOf, shaped, required, timerMs, transportRule, wholeNumber, type OptionRule, type OptionRules } from '../options/validate.js';
import type { SnapshotStore } from '../snapshot/snapshot-store.js';
import type { CapacityStats, EvictionPolicy, RoleHolding } from './capacity.js';

/** How long a peer RPC (value retrieval, state transfer, acknowledgement) may take, in milliseconds. */
export const DEFAULT_MAP_RPC_TIMEOUT_MS = 5000;
/**
 * How long `stop()` waits for a member to hand entries to when no staying member holds them, in
 * milliseconds: below `stopOnSignals`' default `timeoutMs` (20 s), itself below Kubernetes'
 * default grace period (30 s).
 */
export const DEFAULT_STOP_WAIT_MS = 10_000;
/** How long `start()` waits to meet another member with `mustJoin`, in milliseconds. */
export const DEFAULT_MAP_JOIN_TIMEOUT_MS = 10_000;
/** How long a delete is remembered to stop older writes from resurrecting the key, in milliseconds. */
export const DEFAULT_TOMBSTONE_TTL_MS = 10 * 60 * 1000;

/** Lifecycle of a map on one member. */
export type MapState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Timers expiry runs on (tests inject fakes). */
export interface ExpiryTimers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/**
 * When a write counts as done.
 * - `backups`: once every backup acknowledged its copy (the default; an acknowledged write survives
 *   the loss of its primary).
 * - `none`: as soon as the copies are sent (fire-and-forget; faster, and a crash right after the
 *   write may lose it).
 */
export type AckMode = 'backups' | 'none';

/** Settings shared by {@link LazyReplicatedMap} and {@link ReplicatedMap}. */
export interface ReplicatedMapOptions {
  /** The map's name: maps of one name on different members form one map; other names never interfere. */
  name: string;
  /** This member's transport, shared with other maps and channels. */
  transport: Transport;
  /**
   * Deadline of every request to peers (value retrieval, state transfer, acknowledgements), in milliseconds.
   * @default 5000
   */
  rpcTimeoutMs?: number;
  /**
   * When a `set` resolves.
   * @default 'backups'
   */
  ack?: AckMode;
  /**
   * How long deletes are remembered, in milliseconds. A write older than a delete that arrives
   * later than this (a partition that long) could resurrect the key.
   * @default 600000
   */
  tombstoneTtlMs?: number;
  /**
   * Estimated size of one page of a state transfer, in bytes. A member's entries and deletes reach
   * a joining (or healed) member in pages of about this size, one page in flight at a time, so a
   * member owning millions of entries never sends a frame larger than a peer accepts. Lower it
   * only for a transport whose frames must stay smaller (a TCP `maxFrameBytes` below 1 MiB, a
   * message broker's limit); every member of a map may use its own.
   * @default 1048576 (1 MiB, as every other list the map sends)
   */
  statePageBytes?: number;
  /** The value codec. @default the shared cbor-x codec */
  codec?: ValueCodec;
  /** The wall clock for tombstones, last use and expiry (tests inject a fake). @default Date.now */
  now?: () => number;
  /**
   * Map-wide time to live of entries whose `set` names none, in milliseconds: an entry expires
   * this long after its write.
   * @default none: entries do not expire
   */
  ttlMs?: number;
  /**
   * Map-wide idle limit of entries whose `set` names none, in milliseconds: an entry expires this
   * long after its last `get`, `set` or `touch` on any member.
   * @default none: entries do not expire
   */
  maxIdleMs?: number;
  /**
   * How often the primary deletes its expired entries from every member, in milliseconds. 0: only
   * when `map.sweep()` is called. Expired entries are never returned either way.
   * @default 1000
   */
  expirySweepIntervalMs?: number;
  /** Timers the expiry sweep runs on (tests inject fakes). @default Node's timers, unref'd */
  timers?: ExpiryTimers;
  /**
   * Whether `start()` must meet another member. By default a member whose seeds cannot be reached
   * starts alone (the first member of a cluster does); with `true`, `start()` rejects with a
   * `JoinTimeoutError` (and the map stops) when no member was admitted within `joinTimeoutMs`.
   * Refusals that waiting cannot fix (wrong secret, duplicate id, another cluster, an incompatible
   * protocol version) make `start()` reject either way.
   * @default false
   */
  mustJoin?: boolean;
  /**
   * With `mustJoin`: how long `start()` waits for another member to be admitted, in milliseconds,
   * after the transport's discovery (itself bounded by `rpcTimeoutMs`).
   * @default 10000
   */
  joinTimeoutMs?: number;
  /**
   * Where the map keeps a snapshot between runs: a file path, or a {@link SnapshotStore}. The last
   * member to stop (no live member would keep its entries) writes every entry it holds and every
   * delete it remembers, atomically, with mode 0600; a member whose `start()` finds no other
   * member of the map loads it (unexpired entries only) and renames it `<file>.loaded-<time>`,
   * so it is never loaded twice. A member that finds members sets its file aside unread
   * (`<file>.ignored-<time>`): their state is newer. A damaged file is reported as a
   * `SnapshotError` on `'error'`, set aside, and nothing of it is loaded. See docs/map.md.
   * @default none: a map that loses its last member loses its entries
   */
  snapshot?: string | SnapshotStore;
  /**
   * Values this member may hold (primaries and backups or copies; proxies do not count), for
   * bounded memory (docs/map.md, "Bounded memory"). What happens at the limit is the
   * `evictionPolicy`'s business. Each member has its own limit.
   * @default none: no limit
   */
  maxEntries?: number;
  /**
   * Bytes this member may hold: the encoded values it holds in every role plus an estimate of
   * each proxy's metadata (`PROXY_METADATA_BYTES`, 224, plus its key's length), in bytes. A new
   * key whose value alone is larger is refused with `CapacityError` whatever the policy. See
   * `maxEntries`.
   * @default none: no limit
   */
  maxBytes?: number;
  /**
   * What a member at `maxEntries` or `maxBytes` does: `'reject'` refuses writes of keys it does
   * not hold with a `CapacityError` (Tomcat's `maxActiveSessions`); `'lru'` deletes, from every
   * member, the least recently used of a sample of the entries it is primary of; `'ttl-first'`
   * the one of the sample closest to its expiry, then the least recently used. Has no effect
   * without a limit.
   * @default 'reject' (nothing is ever lost silently, as Redis' default `noeviction`)
   */
  evictionPolicy?: EvictionPolicy;
  /**
   * Entries sampled for each eviction (Redis' `maxmemory-samples`): more is closer to an exact
   * LRU and costs more per eviction.
   * @default 5
   */
  evictionSample?: number;
  /**
   * Which keys may be evicted: a key for which it returns `false` is never evicted (a lock taken
   * with `setIfAbsent`, say). Give every member the same function: whichever member is a key's
   * primary decides.
   * @default every key may be evicted
   */
  evictable?: (key: MapKey) => boolean;
  /**
   * Deletes this member remembers at most (tombstones, about 300 B each): beyond it the oldest is
   * forgotten, before `tombstoneTtlMs`. Keeps a limited member's memory bounded however fast it
   * evicts or deletes; the price is a shorter window against resurrection: a delete is remembered
   * for about `maxTombstones / (deletes per second here)` seconds (evictions count), and an older
   * copy of its key cut off longer than that can come back after a heal (docs/map.md, "Bounded
   * memory"). `stats().capacity.tombstonesForgotten` counts those forgotten early.
   * @default with `maxEntries`: `max(maxEntries, 10000)`; with only `maxBytes`:
   *   `max(floor(maxBytes / 300), 10000)`; without a limit: none (only `tombstoneTtlMs`)
   */
  maxTombstones?: number;
  /**
   * How long `stop()` waits, in milliseconds, for a member to join when this member holds entries
   * that no staying member holds (the last old member of a rolling update, whose replacement is
   * still starting): the newcomer is handed them. If none joins in time, the entries are dropped
   * and `stop()` rejects with `DataLossError`. Only a member that has had a peer waits; a lone
   * development member stops at once (with a warning if it drops entries). 0: never wait. With a
   * `snapshot`, those entries are written to it instead, without a wait. Keep it below
   * `stopOnSignals`' `timeoutMs`, which checks it.
   * @default 10000
   */
  stopWaitMs?: number;
}

/** Options of `stop()`. */
export interface StopOptions {
  /**
   * Drop knowingly what only this member holds (tests, scripts that shut a whole cluster down,
   * Redis' `SHUTDOWN NOSAVE`): no wait for a member to appear, no `DataLossError`, no warning.
   * Entries that a staying member can take are still handed over, and a configured `snapshot` is
   * still written.
   * @default false
   */
  discard?: boolean;
}

/** What a map did with its snapshot (the `'snapshot'` event). */
export interface SnapshotReport {
  /**
   * `written`: the last member to stop saved its entries; `loaded`: a member that started alone
   * took them; `ignored`: a member that found members set its snapshot aside unread.
   */
  readonly action: 'written' | 'loaded' | 'ignored';
  /** Where the snapshot lives. */
  readonly location: string;
  /** Entries written, or loaded (0 when ignored). */
  readonly entries: number;
  /** Deletes written or loaded. */
  readonly tombstones: number;
  /** Entries of the snapshot not loaded because they expired (while the map was down, say). */
  readonly expired: number;
  /** How long reading or writing took, in milliseconds. */
  readonly ms: number;
}

/** `snapshot`: a file path, or a store with its three methods and a `location`. */
function snapshotRule(): OptionRule {
  const store = shaped('a file path or a SnapshotStore', ['read', 'write', 'retire'], ['location']);
  return (value, option, owner) => {
    if (typeof value === 'string') nonEmptyString(value, option, owner);
    else store(value, option, owner);
  };
}

/**
 * The rule of every map option, checked before the map builds anything: one line per option
 * (a new option of {@link ReplicatedMapOptions} fails the type check until it has its line here).
 */
export const REPLICATED_MAP_OPTION_RULES: OptionRules<ReplicatedMapOptions> = {
  name: required(nonEmptyString),
  transport: required(transportRule),
  rpcTimeoutMs: timerMs(),
  ack: oneOf(['backups', 'none'] satisfies AckMode[]),
  tombstoneTtlMs: wholeNumber({ min: 1, unit: 'milliseconds' }),
  statePageBytes: wholeNumber({ min: 1, unit: 'bytes' }),
  codec: shaped('a ValueCodec', ['encode', 'decode']),
  now: func,
  ttlMs: wholeNumber({ min: 1, unit: 'milliseconds' }),
  maxIdleMs: wholeNumber({ min: 1, unit: 'milliseconds' }),
  expirySweepIntervalMs: timerMs(0),
  timers: shaped('timers', ['setInterval', 'clearInterval']),
  mustJoin: boolean,
  joinTimeoutMs: timerMs(1),
  snapshot: snapshotRule(),
  stopWaitMs: timerMs(0),
  maxEntries: wholeNumber({ min: 1 }),
  maxBytes: wholeNumber({ min: 1, unit: 'bytes' }),
  evictionPolicy: oneOf(['lru', 'ttl-first', 'reject'] satisfies EvictionPolicy[]),
  evictionSample: wholeNumber({ min: 1, max: 1000 }),
  evictable: func,
  maxTombstones: wholeNumber({ min: 1 }),
};

/** The rules of `map.configureCapacity(limits)`: those of the options of the same names. */
export const CAPACITY_OPTION_RULES: OptionRules<{ maxEntries?: number; maxBytes?: number; evictionPolicy?: EvictionPolicy }> = {
  maxEntries: REPLICATED_MAP_OPTION_RULES.maxEntries,
  maxBytes: REPLICATED_MAP_OPTION_RULES.maxBytes,
  evictionPolicy: REPLICATED_MAP_OPTION_RULES.evictionPolicy,
};

/** The rules of {@link LazyReplicatedMapOptions}: the shared ones and `backups`. */
export const LAZY_REPLICATED_MAP_OPTION_RULES: OptionRules<LazyReplicatedMapOptions> = {
  ...REPLICATED_MAP_OPTION_RULES,
  backups: wholeNumber({ min: 0 }),
};

/** The rules of {@link SetOptions}. */
export const SET_OPTION_RULES: OptionRules<SetOptions> = {
  ttlMs: wholeNumber({ min: 1, unit: 'milliseconds' }),
  maxIdleMs: wholeNumber({ min: 1, unit: 'milliseconds' }),
};

/**
 * Times `update` runs its function and offers the result before it gives up with
 * {@link UpdateConflictError} (see {@link UpdateOptions.maxAttempts}).
 */
export const DEFAULT_UPDATE_ATTEMPTS = 16;

/** The rules of {@link UpdateOptions}. */
export const UPDATE_OPTION_RULES: OptionRules<UpdateOptions> = {
  ...SET_OPTION_RULES,
  maxAttempts: wholeNumber({ min: 1 }),
};

/** The rules of {@link GetOptions}. */
export const GET_OPTION_RULES: OptionRules<GetOptions> = {
  promote: boolean,
};

/** Options of `set`: expiry of this write, overriding the map's defaults. */
export interface SetOptions {
  /** The entry expires this long after this write, in milliseconds. @default the map's `ttlMs` */
  ttlMs?: number;
  /**
   * The entry expires this long after its last `get`, `set` or `touch` on any member, in milliseconds.
   * @default the map's `maxIdleMs`
   */
  maxIdleMs?: number;
}

/** Options of `update`: the expiry of the value it writes (as for `set`), and how often it retries. */
export interface UpdateOptions extends SetOptions {
  /**
   * How many times `fn` may run on a member that is not the key's primary, each run's result
   * offered to the primary as a compare-and-set of the value it was computed from, before the call
   * rejects with `UpdateConflictError` because other writers kept changing the value. On the
   * primary itself `fn` runs once.
   * @default 16 ({@link DEFAULT_UPDATE_ATTEMPTS})
   */
  maxAttempts?: number;
}

/** Settings of a {@link LazyReplicatedMap}. */
export interface LazyReplicatedMapOptions extends ReplicatedMapOptions {
  /**
   * Copies of each entry besides the primary. With fewer members, fewer copies, and the map says
   * so (`'underReplicated'`, `stats().underReplicated`); see docs/map.md, "Write concern".
   * @default 1
   */
  backups?: number;
}

/** Options of `get`. */
export interface GetOptions {
  /**
   * Make this member the primary of the key (the lazy map's default). `false` reads the value,
   * fetching it if needed, without changing roles.
   * @default true
   */
  promote?: boolean;
}

/**
 * What an `'underReplicated'` event reports: entries owned by this member that hold fewer copies
 * than the map promises, and no live member is left to take another (see docs/map.md, "Write
 * concern").
 */
export interface UnderReplication<K extends MapKey = MapKey> {
  /** The key (for an event about many entries, the first of {@link keys}). */
  key: K;
  /**
   * Every key this event is about, `key` first: one for a write; for a re-homing (a member gone,
   * a failover), every entry of one publication (at most 10,000) left with `held` copies.
   */
  keys: readonly K[];
  /** Copies besides the primary the map promises: the `backups` option (a `ReplicatedMap`: every other member). */
  wanted: number;
  /** Copies besides the primary the entries hold now (acknowledged); `entryInfo(key).backups` names them. */
  held: number;
}

/** Events of a map. */
export interface MapEvents<K extends MapKey = MapKey> {
  /** A member started this map (or reappeared). */
  memberAdded: (id: string) => void;
  /** A member of this map is gone (crashed, cut off, stopped). */
  memberDisappeared: (id: string) => void;
  /** This member became primary of `key` (by a read, or by failover). */
  promoted: (key: K) => void;
  /** A key's value changed here (`origin`: this member's write, or a peer's). */
  entrySet: (key: K, origin: 'local' | 'remote') => void;
  /** An entry this member is primary of expired; its delete on every member follows. */
  expired: (key: K) => void;
  /** A key was deleted, or lost with every copy. */
  entryRemoved: (key: K, reason: 'deleted' | 'lost') => void;
  /**
   * Entries owned here hold fewer copies than the map promises (`wanted`) because too few members
   * are live (or a live member refused and no other took the copy): a `set` or `replicate` that
   * resolved (or rejected with `ReplicationError`) with `held` copies, or a member that left or
   * failed over with nobody to take its copies. Emitted on every write that resolves short; for a
   * re-homing, once per entry each time its count drops below what it was last reported with.
   * Never with `ack: 'none'`. `map.stats().underReplicated` counts such entries now.
   */
  underReplicated: (info: UnderReplication<K>) => void;
  /** A peer sent something bad, or an operation failed in the background. The map keeps serving. */
  error: (error: Error) => void;
  /** The map joined and is ready (see `map.isReady`). */
  ready: () => void;
  /** The map stopped (by `stop()`, or because its transport closed). */
  stopped: () => void;
  /** The map wrote, loaded or set aside its snapshot (see the `snapshot` option). */
  snapshot: (report: SnapshotReport) => void;
  /**
   * This member, the key's primary, evicted `key` to stay within `reason` (the option whose limit
   * was exceeded); its delete on every member follows, as for `delete` (other members see
   * `'entryRemoved'` with `'deleted'`).
   */
  evicted: (key: K, reason: 'maxEntries' | 'maxBytes') => void;
}

/** Counters of a map on one member, from `map.stats()`. */
export interface MapStats {
  /** Keys known here, by this member's role. */
  entries: { primary: number; backup: number; copy: number; proxy: number };
  /** Deletes remembered. */
  tombstones: number;
  /** Messages this map sent, by type name (`MSG_BACKUP`, ...). */
  sent: Record<string, number>;
  /** Messages this map received, by type name. */
  received: Record<string, number>;
  /** Times this member became primary of a key by a read. */
  promotions: number;
  /** Times this member became primary of a key because its primary disappeared. */
  failovers: number;
  /** Requests to peers that hit `rpcTimeoutMs`. */
  rpcTimeouts: number;
  /**
   * Entries this member is primary of that hold fewer copies than the map promises now (too few
   * live members, or a refusal): a gauge, counted when `stats()` is called. With `ack: 'none'` it
   * counts the backups named, which may not have taken their copy.
   */
  underReplicated: number;
  /**
   * What this member holds, by role: keys and bytes (encoded values; for proxies, an estimate of
   * their metadata). Kept at each change, not counted when `stats()` is called.
   */
  held: { primary: RoleHolding; backup: RoleHolding; copy: RoleHolding; proxy: RoleHolding };
  /** The limits (`maxEntries`, `maxBytes`), what they count now, and what they caused. */
  capacity: CapacityStats;
}
