/**
 * Settings of the session store, and the slice of a map it needs.
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';
import type { EntryInfo } from '../map/entry.js';
import type { GetOptions, SetOptions } from '../map/map-options.js';
import { boolean, finiteNumber, func, oneOf, required, shaped, wholeNumber, type OptionRule, type OptionRules } from '../options/validate.js';
import type { CapacityConfigurable, EvictionPolicy } from '../map/capacity.js';
import { assertRoute } from './session-id.js';

/** How long a session lives unused when its cookie sets no lifetime, in milliseconds (one day). */
export const DEFAULT_SESSION_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * The map the store keeps sessions in: a `LazyReplicatedMap<string, unknown>` (or a
 * `ReplicatedMap`) fits. Method syntax keeps parameters bivariant, so maps of wider key and value
 * types fit too.
 */
export interface SessionMap extends CapacityConfigurable {
  /** This member's id. */
  readonly id: string;
  /** The value of `key`; promotes this member to its primary unless `promote: false`. */
  get(key: string, options?: GetOptions): Promise<unknown>;
  /** Stores a value whole, making this member its primary, with the expiry given. */
  set(key: string, value: unknown, options?: SetOptions): Promise<unknown>;
  /** Counts as a use of `key` for its idle limit. */
  touch(key: string): Promise<boolean>;
  /** Deletes the expired entries this member is primary of, now. */
  sweep(): Promise<number>;
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
   * How long a session lives when neither its cookie nor the framework sets a lifetime, in
   * milliseconds, or a function of the session that says so (connect-redis's `ttl`, in ms). A
   * cookie's `maxAge` wins, then its `expires`.
   * @default 86400000 (one day)
   */
  ttlMs?: number | ((session: { cookie?: object; [attribute: string]: unknown }) => number);
  /**
   * Make `touch` do nothing, as connect-redis's `disableTouch`: a session then lives its lifetime
   * after its last save, not after its last use, and requests that only read write nothing.
   * @default false
   */
  disableTouch?: boolean;
  /**
   * The wall clock, in milliseconds: cookie times are compared with it.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Sessions this member may hold (as primary or backup), as Tomcat's `maxActiveSessions`: the
   * store sets it as its map's `maxEntries` (a map with a different limit already is a
   * `TypeError`: set the limit in one place). At the limit, `evictionPolicy` decides.
   * @default none: no limit (the map's own options apply)
   */
  maxSessions?: number;
  /**
   * With `maxSessions`: `'reject'` refuses a new session on a full member (the framework's
   * callback gets a `CapacityError`; Tomcat refuses to create the session), `'lru'` evicts the
   * least recently used session this member is primary of, `'ttl-first'` the one closest to its
   * expiry. The map's `evictionPolicy`.
   * @default 'reject'
   */
  evictionPolicy?: EvictionPolicy;
}

/** A lifetime in milliseconds (> 0), or a function of the session that gives one. */
const lifetime: OptionRule = (value, option, owner) => {
  if (typeof value !== 'function') finiteNumber({ min: 0, above: true, unit: 'milliseconds' })(value, option, owner);
};

/**
 * The rule of every option of a {@link BackupSessionStore}, checked at construction: one line
 * per option.
 */
export const SESSION_STORE_OPTION_RULES: OptionRules<BackupSessionStoreOptions> = {
  map: required(shaped('a LazyReplicatedMap or ReplicatedMap', ['get', 'set', 'touch', 'sweep', 'delete', 'clear', 'replicate', 'has', 'keys', 'entryInfo'], ['id'])),
  route: required((value) => {
    assertRoute(value);
  }),
  ttlMs: lifetime,
  disableTouch: boolean,
  now: func,
  maxSessions: wholeNumber({ min: 1 }),
  evictionPolicy: oneOf(['reject', 'lru', 'ttl-first'] satisfies EvictionPolicy[]),
};
