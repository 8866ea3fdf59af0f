/**
 * The public API both maps share, documented once: `LazyReplicatedMap` and `ReplicatedMap`
 * implement it through their common facade (base-replicated-map.ts), whose members carry no
 * documentation of their own (editors and the declaration files show these). What differs between
 * the two kinds is said here where it matters (`get`, `entryInfo`).
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';
import type { EvictionPolicy } from './capacity.js';
import type { EntryInfo } from './entry.js';
import type { GetOptions, MapState, MapStats, SetOptions, StopOptions, UpdateOptions } from './map-options.js';

/** What a map offers its users, on the member it runs on. */
export interface MapApi<K extends MapKey, V> {
  /** This member's id. */
  readonly id: string;

  /** Where the map is in its life. */
  readonly state: MapState;

  /**
   * Joins the map's members (starting the transport if needed). Resolves once this member knows
   * every key of the map: each member answers with the entries it owns and the deletes it remembers.
   */
  start(): Promise<this>;

  /**
   * True while the map serves as a full member: it joined (every member found in one discovery
   * round sent its state, so it knows every key) and is not stopping. What a readiness probe
   * answers (see `readinessProbe`); false again from the moment `stop()` begins.
   */
  readonly isReady: boolean;

  /**
   * Resolves once the map {@link isReady} (at once if it is); it does not start the map.
   * @throws {StoppedError} when the map stops before it was ready.
   * @throws the error of the start under way, when it fails.
   */
  whenReady(): Promise<void>;

  /**
   * Leaves gracefully: this member tells the others it is leaving (so none counts on it), every
   * entry it holds that no staying member holds gets a copy on one, then the others are told to
   * re-home what it held. When no staying member is there to take them (the last member of a
   * rolling update), it writes them to the snapshot if one is configured, else waits up to
   * `stopWaitMs` for a member to join. Calls afterwards reject with {@link StoppedError}. Stops the
   * transport only if no other map or channel uses it.
   *
   * A member that never met another one (development) does not wait; if it drops entries it says
   * so with a process warning.
   * @throws {DataLossError} when entries were dropped because no member appeared to take them
   *   (the map stopped all the same; the error is also emitted as `'error'` when listened to, and
   *   always as a process warning). Not with `discard: true`.
   * @throws {SnapshotError} when the snapshot could not be written (the map stopped all the same).
   */
  stop(options?: StopOptions): Promise<void>;

  /** Ids of the live members of this map, this member included, sorted. */
  members(): string[];

  /** Number of keys of the whole map known here, in any role. */
  readonly size: number;

  /** True when `key` is known here, in any role. */
  has(key: K): boolean;

  /** The keys known here. */
  keys(): IterableIterator<K>;

  /** Where `key` lives, as this member knows it; `undefined` when the key is not known here. */
  entryInfo(key: K): EntryInfo | undefined;

  /**
   * When this member last saw `key` used, in milliseconds by the map's clock (the `now` option):
   * written, replicated or touched here, read here (for an expiring entry: a read is a use), or a
   * copy, diff or access notice received from the key's primary. On a proxy, when it last fetched
   * the value. `undefined` when the key is unknown here or its last use is not known. Expiry's
   * `maxIdleMs` is built on it (Tomcat: `lastAccessedTime`).
   */
  lastAccess(key: K): number | undefined;

  /**
   * Sets this member's limits after construction, as the options `maxEntries`, `maxBytes` and
   * `evictionPolicy` do (the session and Keyv stores map theirs onto their map with it). Omitted
   * fields keep their value. A member over a new limit evicts at once (policy permitting).
   * @throws {RangeError} / {TypeError} for a value the option would refuse.
   */
  configureCapacity(limits: { maxEntries?: number; maxBytes?: number; evictionPolicy?: EvictionPolicy }): void;

  /** This member's limits now (`undefined`: none). */
  capacityLimits(): { maxEntries: number | undefined; maxBytes: number | undefined; evictionPolicy: EvictionPolicy };

  /** Counters of this map on this member. */
  stats(): MapStats;

  /**
   * The value of `key`, or `undefined`. On the primary, sends nothing. Elsewhere the key's primary
   * answers (a `LazyReplicatedMap` never serves a backup's copy, which may be older): unless
   * `promote: false`, it hands the primary role over with the value, and this member becomes the
   * key's primary. A key unknown here answers `undefined` at once (every member knows every key
   * whose write resolved). A `ReplicatedMap` reads its own copy. When the primary cannot be asked
   * (it crashed and no failover happened yet), any holder answers (first reply wins).
   * @throws {RetrieveError} when no holder answered within `rpcTimeoutMs`.
   */
  get(key: K, options?: GetOptions): Promise<V | undefined>;

  /** Every key known here with its value, fetched without promotion. Keys deleted meanwhile are skipped. */
  [Symbol.asyncIterator](): AsyncIterator<[K, V]>;

  /**
   * Stores `value` under `key`, making this member its primary. Resolves (to the map) once every
   * backup acknowledged its copy (or at once with `ack: 'none'`). On a member that is not the
   * key's primary, the primary first hands the role over (one round trip), so that every write
   * of a key is ordered by the one member that holds it (docs/consistency.md).
   *
   * Write concern (docs/map.md): the write is promised `backups` copies besides this one. A backup
   * that does not take its copy is replaced by another live member. When fewer members are live
   * than promised (or one leaves during the write), it resolves with the copies the cluster can
   * hold: `entryInfo(key).backups` names them and the map emits `'underReplicated'`. It never
   * resolves short because a live member refused: then it rejects with {@link ReplicationError}.
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when the value cannot be encoded; the map is unchanged.
   * @throws {ValueTooLargeError} when the copy of the entry would not fit the cluster's frame
   *   limit (the smallest `maxFrameBytes` of the members); nothing is written or sent.
   * @throws {ReplicationError} when live members refused their copy (an error answer, or no answer
   *   within `rpcTimeoutMs`) and no other live member took it. The value stays written on this
   *   member, its primary, with the backups that did take it (`error.held`); nothing is rolled back.
   */
  set(key: K, value: V, options?: SetOptions): Promise<this>;

  /**
   * Stores `value` under `key` only if the key holds no value (none was written, it was deleted,
   * or it expired). Resolves to `true` if it wrote, `false` if the key held a value (left as it
   * was). Of racing `setIfAbsent`s of one key, from any members, exactly one answers `true`.
   *
   * Decided once, by the key's primary, in its call order (a key no member knows: by the member
   * the key hashes to over the live members, which becomes its primary). **The caller does not
   * become primary**, unlike `set`: elsewhere it asks the primary (`MSG_CONDITIONAL`) and keeps
   * a proxy. A `true` resolves once the write is acknowledged as `set`'s is (write concern); a
   * `false` once the value it found is known to every live member. See docs/map.md.
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when the value cannot be encoded; nothing was sent.
   * @throws {ValueTooLargeError} when the value would not fit the cluster's frame limit; nothing was sent.
   * @throws {ConditionalWriteError} when the member deciding for the key could not be reached or
   *   found (`mayHaveWritten` says whether the write may have happened).
   * @throws {StoppedError} after `stop()`.
   */
  setIfAbsent(key: K, value: V, options?: SetOptions): Promise<boolean>;

  /**
   * Replaces `key`'s value with `value` only if it currently equals `expected`, compared by the
   * codec's encoding: equal means the same encoded bytes. For plain data that is deep equality
   * with two exceptions: the order of an object's properties (and of a `Map`'s or `Set`'s
   * entries) counts, so `{ a: 1, b: 2 }` does not equal `{ b: 2, a: 1 }`; and the encoding
   * distinguishes what the codec does (`1` and `1.5` are numbers of different widths, but `1` and
   * `1.0` are the same). Resolves to `true` if it replaced the value; `false` if the key held
   * another value or none (use {@link setIfAbsent} to create a key). Decided like
   * {@link setIfAbsent}: by the key's primary, the caller does not become primary.
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when `expected` or `value` cannot be encoded; nothing was sent.
   * @throws {ValueTooLargeError} when the value (with `expected`, when sent to the primary) would
   *   not fit the cluster's frame limit; nothing was sent.
   * @throws {ConditionalWriteError} as {@link setIfAbsent}.
   * @throws {StoppedError} after `stop()`.
   */
  compareAndSet(key: K, expected: V, value: V, options?: SetOptions): Promise<boolean>;

  /**
   * Read-modify-write: stores `fn(old)` where `old` is `key`'s current value (`undefined` when it
   * has none), so that concurrent updates from any members lose no update. Resolves to the value
   * written (what `fn` returned last). `fn` must be synchronous and should have no side effects:
   *
   * - on the key's primary (or the member that decides for a key no member knows) `fn` runs once,
   *   in this member's call order, and the result is written as `set` writes it;
   * - elsewhere the value is read from the primary, `fn` runs here, and its result is sent to the
   *   primary as a compare-and-set of the encoded value it was computed from; if another write
   *   came first, `fn` runs again on the newer value, at most `options.maxAttempts` times
   *   (default {@link DEFAULT_UPDATE_ATTEMPTS}). So **`fn` may run more than once**.
   *
   * The caller does not become primary. `options.ttlMs` / `maxIdleMs` set the expiry of the value
   * written, as for `set` (default: the map's).
   * @throws {UpdateConflictError} when the value kept changing under it `maxAttempts` times.
   * @throws {ConditionalWriteError} as {@link setIfAbsent}.
   * @throws whatever `fn` throws; nothing of this call is written then.
   * @throws {ValueEncodeError} / {@link ValueTooLargeError} for a result that cannot be encoded or is too large.
   * @throws {StoppedError} after `stop()`.
   */
  update(key: K, fn: (old: V | undefined) => V, options?: UpdateOptions): Promise<V>;

  /**
   * Pushes changes made in place to `key`'s value (owned here) to its holders, as Tomcat's
   * `replicate(key, complete)` does:
   * - a {@link DeltaValue} with changes, unless `complete`: only its diff (`MSG_DIFF`), to the
   *   holders of the version the diff applies to; a holder without that version refuses it and
   *   gets the whole value (`MSG_BACKUP`) instead;
   * - a {@link DeltaValue} without changes, unless `complete`: an access notice (`MSG_ACCESS`),
   *   so the holders know the entry is still in use (see {@link lastAccess}); nothing is written;
   * - any other value, or `complete`: the whole value, encoded again (`MSG_BACKUP`).
   *
   * Resolves once the holders acknowledged (at once with `ack: 'none'`). Does nothing on a member
   * that is not the key's primary. Keeps the write concern of {@link set}.
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when the value or its diff cannot be encoded; nothing changed.
   * @throws {ValueTooLargeError} when the value (or its diff) would not fit the cluster's frame
   *   limit; nothing is sent and the entry keeps its version and bytes (the value object itself
   *   is let go of: the map serves the value as last replicated).
   * @throws {ReplicationError} as {@link set} does.
   */
  replicate(key: K, complete?: boolean): Promise<void>;

  /**
   * Counts as a use of `key` for its `maxIdleMs`, without reading or moving the value. On the
   * primary it sends nothing (the backups hear of uses only when due); elsewhere it tells the
   * primary. Resolves to whether the key was known here and not expired.
   * @throws {TypeError} for a key that is not a string or a finite number.
   */
  touch(key: K): Promise<boolean>;

  /**
   * Deletes, on every member, the expired entries this member is primary of (and copies held here
   * whose primary's deadline surely passed). Runs every `expirySweepIntervalMs` by itself; call it
   * to sweep now (with `expirySweepIntervalMs: 0`, or a fake clock). Resolves to the number deleted.
   */
  sweep(): Promise<number>;

  /**
   * Deletes `key` on every member. Resolves to whether the key held a live value when the delete
   * took effect, as the key's primary decides it (elsewhere, one round trip to it): of two deletes
   * of one value, one answers `true`. When the primary cannot be asked (a fault), the delete is
   * made here and answered from what this member knows.
   */
  delete(key: K): Promise<boolean>;

  /** Deletes every key of the map on every member. */
  clear(): Promise<void>;
}
