/**
 * Settings of the Keyv store, and the slice of a map it needs.
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';
import type { GetOptions, MapState, SetOptions } from '../map/map-options.js';
import { oneOf, required, shaped, string, wholeNumber, type OptionRules } from '../options/validate.js';
import type { CapacityConfigurable, EvictionPolicy } from '../map/capacity.js';

/** Between a namespace and a key in the map (`<namespace>:<key>`), as Keyv 5 writes its keys. */
export const KEYV_NAMESPACE_SEPARATOR = ':';

/**
 * The map the store keeps Keyv's entries in: a `LazyReplicatedMap<string, unknown>` (or a
 * `ReplicatedMap`) fits. Method syntax keeps parameters bivariant, so maps of wider key and value
 * types fit too.
 */
export interface KeyvMap extends CapacityConfigurable {
  /** This member's id. */
  readonly id: string;
  /** Where the map is in its life. */
  readonly state: MapState;
  /** Joins the map's members; idempotent. */
  start(): Promise<unknown>;
  /** The value of `key`; promotes this member to its primary unless `promote: false`. */
  get(key: string, options?: GetOptions): Promise<unknown>;
  /** Stores a value, making this member its primary; `ttlMs` is the map's own expiry. */
  set(key: string, value: unknown, options?: SetOptions): Promise<unknown>;
  /** Deletes `key` on every member. */
  delete(key: string): Promise<boolean>;
  /** Deletes every key on every member. */
  clear(): Promise<void>;
  /** The keys known here. */
  keys(): IterableIterator<MapKey>;
  /** The map's `error` event: a peer fault or a background failure. */
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}

/** Settings of a {@link KeyvStore}. */
export interface KeyvStoreOptions {
  /** The map holding the entries, started or not. Other users of the map should keep out of Keyv's namespaces. */
  map: KeyvMap;
  /**
   * The namespace of the store's keys. Keyv sets it to its own `namespace` option, so this is
   * only the starting value.
   * @default undefined (no namespace: every key of the map is the store's)
   */
  namespace?: string;
  /**
   * Values this member may hold (primaries and backups), set as the map's `maxEntries` (a map
   * with a different limit already is a `TypeError`). The limit is the map's: with several
   * namespaces on one map, they share it.
   * @default none: no limit (the map's own options apply)
   */
  maxEntries?: number;
  /** Bytes this member may hold, set as the map's `maxBytes` (see `maxEntries`). @default none */
  maxBytes?: number;
  /**
   * With `maxEntries` or `maxBytes`: what a full member does (the map's `evictionPolicy`). A
   * cache evicts: `'lru'` by default, `'ttl-first'` for keys written with a TTL first, `'reject'`
   * to make `keyv.set` reject with `CapacityError`.
   * @default 'lru'
   */
  evictionPolicy?: EvictionPolicy;
}

/** The rule of every option of a {@link KeyvStore}, checked at construction: one line per option. */
export const KEYV_STORE_OPTION_RULES: OptionRules<KeyvStoreOptions> = {
  map: required(shaped('a LazyReplicatedMap or ReplicatedMap', ['start', 'get', 'set', 'delete', 'clear', 'keys', 'on', 'off'], ['id'])),
  namespace: string,
  maxEntries: wholeNumber({ min: 1 }),
  maxBytes: wholeNumber({ min: 1, unit: 'bytes' }),
  evictionPolicy: oneOf(['reject', 'lru', 'ttl-first'] satisfies EvictionPolicy[]),
};

/** Events of a {@link KeyvStore}. */
export interface KeyvStoreEvents {
  /** The map reported an error (a peer fault, a failed background operation). Keyv re-emits it. */
  error: (error: Error) => void;
}
