/**
 * A Keyv storage adapter on the lazy map: Keyv's entries live in a {@link LazyReplicatedMap} and
 * survive the loss of a member; Keyv's ttl becomes the map's own expiry.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import { StoppedError } from '../errors.js';
import { validateOptions } from '../options/validate.js';
import { applyStoreLimit } from '../map/capacity.js';
import { KEYV_NAMESPACE_SEPARATOR, KEYV_STORE_OPTION_RULES, type KeyvMap, type KeyvStoreEvents, type KeyvStoreOptions } from './keyv-store-options.js';

/** What Keyv finds in `store.opts`. */
export interface KeyvStoreOpts {
  /** Names this adapter; not one of the dialects Keyv 5 knows how to iterate (see {@link KeyvStore.iterator}). */
  dialect: 'lazy-replicated-map';
  /** Keyv 5 reads `opts.url` of any store with an `iterator`; without one it throws. Not a connection string. */
  url: 'lazy-replicated-map';
  /** Keyv and its test suite may park their own settings here. */
  [setting: string]: unknown;
}

/** One entry of {@link KeyvStore.setMany}, as Keyv hands it over. */
export interface KeyvStoreEntry {
  /** The key, prefixed by Keyv 5 with its namespace. */
  key: string;
  /** The value as Keyv hands it over: usually its serialized string, stored as given. */
  value: unknown;
  /** Time to live in milliseconds; `undefined` or `0` for none. */
  ttl?: number | undefined;
}

/**
 * A Keyv storage adapter (the `KeyvStoreAdapter` interface of Keyv 5: relative `ttl`; Keyv 6 uses
 * it through its `KeyvBridgeAdapter`) that keeps Keyv's entries in a `LazyReplicatedMap`. Every
 * member of the cluster sees every entry: a write resolves once every live member knows it, and an
 * entry survives the loss of its primary.
 *
 * - **TTL.** `set(key, value, ttl)` is `map.set(key, value, { ttlMs: ttl })`: the map's own expiry,
 *   so an expired entry is removed from every member by the map's sweep, read or not.
 * - **Namespaces.** With a `namespace` (Keyv sets it), keys live in the map as
 *   `<namespace>:<key>`, and `clear()` deletes only that namespace's keys (on every member).
 *   Keyv 5 prefixes keys itself too, so its keys read `keyv:keyv:foo` in the map unless it is
 *   given `useKeyPrefix: false`; Keyv 6 leaves namespacing to the store.
 * - **Values** are stored as Keyv hands them over (usually its serialized string; with other
 *   serializers anything the map's codec encodes) and returned as given.
 * - **Errors.** The map's `'error'` events are re-emitted on the store, which Keyv re-emits.
 *   Calls after the map stopped reject with a `StoppedError`, and the first of them also emits
 *   it on `'error'` (once per store), since Keyv 5 turns a failed `get` into `undefined`.
 *
 * Reads promote as the map's `get` does (the reading member becomes the primary); `has`,
 * `iterator` and the store's own lookups do not.
 *
 * @example
 * ```ts
 * import Keyv from 'keyv';
 * import { InMemoryNetwork, LazyReplicatedMap } from 'lazy-replicated-map';
 * import { KeyvStore } from 'lazy-replicated-map/keyv';
 *
 * const map = new LazyReplicatedMap<string, unknown>({ name: 'cache', transport: new InMemoryNetwork().transport('a') });
 * const keyv = new Keyv({ store: new KeyvStore({ map }), namespace: 'users' });
 * await keyv.set('42', { name: 'Ada' }, 60_000); // expires on every member after a minute
 * await keyv.get('42'); // { name: 'Ada' }
 * ```
 */
export class KeyvStore extends EventEmitter<KeyvStoreEvents> {
  /** The namespace of the store's keys; Keyv assigns it. `undefined`: every key of the map. */
  namespace: string | undefined;
  /** Settings Keyv looks at; see {@link KeyvStoreOpts}. */
  readonly opts: KeyvStoreOpts = { dialect: 'lazy-replicated-map', url: 'lazy-replicated-map' };
  /** The map holding the entries. */
  readonly map: KeyvMap;
  private disconnected = false;
  /** Whether the stopped map was reported on `'error'` (once: a stopped map never runs again). */
  private stoppedReported = false;
  private readonly forward = (error: Error): void => {
    // eventemitter3 drops an unheard 'error'; a map fault must not vanish silently.
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error);
  };

  /**
   * @param options see {@link KeyvStoreOptions}.
   * @throws {TypeError} when `map` is not a map or `namespace` not a string.
   */
  constructor(options: KeyvStoreOptions) {
    super();
    validateOptions('KeyvStore', options, KEYV_STORE_OPTION_RULES);
    this.map = options.map;
    this.namespace = options.namespace;
    if (options.maxEntries !== undefined || options.maxBytes !== undefined) {
      applyStoreLimit('KeyvStore', options.maxEntries !== undefined ? 'maxEntries' : 'maxBytes', options.map, { maxEntries: options.maxEntries, maxBytes: options.maxBytes, evictionPolicy: options.evictionPolicy ?? 'lru' });
    }
    this.map.on('error', this.forward);
  }

  /** The value stored under `key` (as it was given to `set`), or `undefined`. */
  async get(key: string): Promise<unknown> {
    this.assertConnected();
    try {
      return await this.map.get(this.mapKey(key));
    } catch (error) {
      // Keyv 5 turns a store's rejected get into `undefined` without an event: the map stopping
      // under an in-flight read must still be heard.
      if (error instanceof StoppedError) this.reportStopped(error);
      throw error;
    }
  }

  /** The values of `keys`, in order, `undefined` where there is none. */
  async getMany(keys: string[]): Promise<unknown[]> {
    return Promise.all(keys.map((key) => this.get(key)));
  }

  /**
   * Stores `value` under `key`, expiring `ttl` milliseconds from now on every member (fractions
   * rounded up). No `ttl`, `0` or `Infinity`: no expiry; a negative `ttl` (already expired)
   * deletes the key. Resolves to `true` once every live member knows the write.
   */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    this.assertConnected();
    const mapKey = this.mapKey(key);
    if (ttl !== undefined && ttl < 0) {
      await this.map.delete(mapKey);
      return true;
    }
    await this.map.set(mapKey, value, ttl !== undefined && ttl > 0 && Number.isFinite(ttl) ? { ttlMs: Math.ceil(ttl) } : {});
    return true;
  }

  /** Stores each entry as {@link set} does; resolves to one `true` per entry. */
  async setMany(entries: KeyvStoreEntry[]): Promise<boolean[]> {
    return Promise.all(entries.map((e) => this.set(e.key, e.value, e.ttl)));
  }

  /** Deletes `key` on every member; resolves to whether it existed. */
  async delete(key: string): Promise<boolean> {
    this.assertConnected();
    return this.map.delete(this.mapKey(key));
  }

  /** Deletes `keys` on every member; resolves to whether every one existed (as Keyv 5's own fallback). */
  async deleteMany(keys: string[]): Promise<boolean> {
    const deleted = await Promise.all(keys.map((key) => this.delete(key)));
    return deleted.every(Boolean);
  }

  /** Whether `key` holds an unexpired value. Fetches it if held elsewhere, without promotion. */
  async has(key: string): Promise<boolean> {
    this.assertConnected();
    return (await this.map.get(this.mapKey(key), { promote: false })) !== undefined;
  }

  /** {@link has} for each of `keys`, in order. */
  async hasMany(keys: string[]): Promise<boolean[]> {
    return Promise.all(keys.map((key) => this.has(key)));
  }

  /**
   * Deletes the namespace's keys on every member, and nothing else; without a namespace, every
   * key of the map (`map.clear()`).
   */
  async clear(): Promise<void> {
    this.assertConnected();
    if (this.namespace === undefined || this.namespace === '') {
      await this.map.clear();
      return;
    }
    await Promise.all((await this.keysOf(this.namespace)).map((key) => this.map.delete(key)));
  }

  /**
   * Yields `[key, value]` for every unexpired key of `namespace` (default: the store's), keys
   * without the namespace prefix. Values are fetched without promotion: iterating moves nothing.
   * Keyv 6 uses it for `keyv.iterator()`; Keyv 5 offers iteration only for the SQL, Mongo, Redis
   * and etcd dialects, so there it is the store's own method.
   */
  async *iterator(namespace: string | undefined = this.namespace): AsyncGenerator<[string, unknown], void> {
    this.assertConnected();
    const skip = namespace === undefined || namespace === '' ? 0 : namespace.length + KEYV_NAMESPACE_SEPARATOR.length;
    for (const key of await this.keysOf(namespace)) {
      const value = await this.map.get(key, { promote: false });
      if (value !== undefined) yield [key.slice(skip), value];
    }
  }

  /**
   * Detaches the store from the map (its `'error'` events are no longer forwarded); later calls
   * reject with `StoppedError`. The map is the caller's: it keeps running.
   */
  async disconnect(): Promise<void> {
    if (this.disconnected) return;
    this.disconnected = true;
    this.map.off('error', this.forward);
    await Promise.resolve();
  }

  /** The map's key of `key`: prefixed with the namespace, when there is one. */
  private mapKey(key: string): string {
    return this.namespace === undefined || this.namespace === '' ? key : `${this.namespace}${KEYV_NAMESPACE_SEPARATOR}${key}`;
  }

  /** The string keys of the map known here in `namespace` (all of them without one). */
  private async keysOf(namespace: string | undefined): Promise<string[]> {
    if (this.map.state === 'new' || this.map.state === 'starting') await this.map.start();
    const prefix = namespace === undefined || namespace === '' ? '' : `${namespace}${KEYV_NAMESPACE_SEPARATOR}`;
    return [...this.map.keys()].filter((key): key is string => typeof key === 'string' && key.startsWith(prefix));
  }

  private assertConnected(): void {
    if (this.disconnected) throw new StoppedError(`this KeyvStore on member '${this.map.id}' was disconnected: create a new KeyvStore for the map`);
    if (this.map.state === 'stopped' || this.map.state === 'stopping') {
      const error = new StoppedError(`the map under this KeyvStore on member '${this.map.id}' is stopped: every call fails; create and start a new map and store`);
      this.reportStopped(error);
      throw error;
    }
  }

  /**
   * Tells the store's `'error'` listeners (Keyv re-emits them) once that the map stopped: Keyv 5
   * answers a failed `get` with `undefined` and no event (unless `throwOnErrors`), so without this
   * a stopped map would look like an empty one. Once: the map never runs again, and every later
   * call rejects anyway.
   */
  private reportStopped(error: StoppedError): void {
    if (this.stoppedReported) return;
    this.stoppedReported = true;
    this.forward(error);
  }
}
