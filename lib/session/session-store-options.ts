/**
 * Settings of the session store, and the slice of a map it needs.
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';
import type { EntryInfo } from '../map/entry.js';
import type { GetOptions } from '../map/map-options.js';

/** How long a session lives unused when its cookie sets no lifetime, in milliseconds (one day). */
export const DEFAULT_SESSION_TTL_MS = 24 * 60 * 60 * 1000;
/** How often the store sweeps expired sessions, in milliseconds (Tomcat: every 60 s by default). */
export const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
/**
 * How many lifetimes a backup keeps a session unused before it sweeps it (Tomcat: twice as long).
 * A backup hears of use a little later than the primary, and may miss a notice; a live session
 * must not be swept by its backup.
 */
export const BACKUP_LIFETIME_FACTOR = 2;

/**
 * The map the store keeps sessions in: a `LazyReplicatedMap<string, unknown>` (or a
 * `ReplicatedMap`) fits. Method syntax keeps parameters bivariant, so maps of wider key and value
 * types fit too.
 */
export interface SessionMap {
  /** This member's id. */
  readonly id: string;
  /** The value of `key`; promotes this member to its primary unless `promote: false`. */
  get(key: string, options?: GetOptions): Promise<unknown>;
  /** Stores a value whole, making this member its primary. */
  set(key: string, value: unknown): Promise<unknown>;
  /** Deletes `key` on every member. */
  delete(key: string): Promise<boolean>;
  /** Deletes every key on every member. */
  clear(): Promise<void>;
  /** Sends the holders the changes made in place to a value owned here (a diff, an access notice, or the whole value). */
  replicate(key: string, complete?: boolean): Promise<void>;
  /** True when `key` is known here in any role. */
  has(key: string): boolean;
  /** The keys known here. */
  keys(): IterableIterator<MapKey>;
  /** This member's role for `key`, and where it lives. */
  entryInfo(key: string): EntryInfo | undefined;
  /** When this member last saw `key` used, by the map's clock. */
  lastAccess(key: string): number | undefined;
  /** The map's `entrySet` and `entryRemoved` events: a key's value changed here, or the key is gone. */
  on(event: 'entrySet' | 'entryRemoved', listener: (key: MapKey, detail: string) => void): unknown;
  off(event: 'entrySet' | 'entryRemoved', listener: (key: MapKey, detail: string) => void): unknown;
}

/** The timer the store sweeps with; tests inject a fake. */
export interface SweepTimers {
  /** Calls `callback` every `ms` milliseconds; must not keep the process alive. */
  setInterval(callback: () => void, ms: number): unknown;
  /** Stops what `setInterval` returned. */
  clearInterval(handle: unknown): void;
}

/** Settings of a {@link BackupSessionStore}. */
export interface BackupSessionStoreOptions {
  /** The map holding the sessions, started or not; use it for sessions only. */
  map: SessionMap;
  /**
   * This member's route: the suffix of every session id it generates (`<random>.<route>`), which
   * a sticky load balancer routes by. 1 to 64 characters of `A-Z a-z 0-9 _ -`.
   */
  route: string;
  /**
   * How long a session lives unused when its cookie sets no lifetime (no `maxAge`, no `expires`),
   * in milliseconds. A cookie's `maxAge` wins: each session lives `maxAge` after its last use.
   * @default 86400000 (one day)
   */
  ttlMs?: number;
  /**
   * How often expired sessions are swept, in milliseconds; `0` sweeps only when `sweep()` is
   * called. The timer never keeps the process alive, and `close()` stops it.
   * @default 60000
   */
  sweepIntervalMs?: number;
  /**
   * The wall clock, in milliseconds. Pass the clock the map was given (its `now` option): expiry
   * compares it with the map's last-access times.
   * @default Date.now
   */
  now?: () => number;
  /** The sweep timer. @default Node's `setInterval` (unref'd) and `clearInterval` */
  timers?: SweepTimers;
}
