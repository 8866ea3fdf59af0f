/**
 * A session store on a {@link LazyReplicatedMap}: what Tomcat's `BackupManager` does for servlet
 * sessions, for express-session, @fastify/session and koa-session alike. Each session lives on the
 * member that last served it (its primary) and on `backups` others; a request that changes one
 * attribute replicates that attribute only; a request that only reads sends nothing; a member
 * that dies takes no session with it. Expiry is the map's own.
 *
 * @module
 */
import { isDeepStrictEqual } from 'node:util';
import type { MapKey } from '../codec/map-messages.js';
import { defaultValueCodec } from '../codec/value-codec.js';
import { StoppedError, ValueEncodeError } from '../errors.js';
import type { SetOptions } from '../map/map-options.js';
import { RequestBaselines } from './request-baselines.js';
import { newSessionId } from './session-id.js';
import { cookieExpiry, cookieMaxAge, sessionExpiry } from './session-lifetime.js';
import { DEFAULT_SESSION_TTL_MS, SESSION_STORE_OPTION_RULES, type BackupSessionStoreOptions, type SessionMap } from './session-store-options.js';
import { validateOptions } from '../options/validate.js';
import { applyStoreLimit } from '../map/capacity.js';
import { copyPlain, NOT_PLAIN, samePlain } from './plain-data.js';
import { SessionValue } from './session-value.js';
import { StoreBase } from './store-base.js';

/**
 * A session as frameworks hand it to a store: its attributes, and (express, fastify) a `cookie`
 * object whose `originalMaxAge`/`maxAge`/`expires` give its lifetime.
 */
export interface StoredSession {
  cookie?: object;
  // Attributes are the application's: any value the codec encodes.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [attribute: string]: any;
}

/** A callback in the node style: `(error, result)`. */
type Callback<T> = (error: unknown, result?: T) => void;

/** Marks an attribute a request removed. */
const REMOVED: unique symbol = Symbol('removed');

/**
 * Splits a store call's trailing arguments: the callback (the last argument, when it is a function)
 * and koa-session's `maxAge` (a number in second place; `'session'` means a browser-session cookie).
 */
function callArgs<T>(rest: readonly unknown[]): { callback: Callback<T> | undefined; maxAge: number | undefined } {
  const last = rest[rest.length - 1];
  const callback = typeof last === 'function' ? (last as Callback<T>) : undefined;
  const first = rest[0];
  return { callback, maxAge: typeof first === 'number' && Number.isFinite(first) ? first : undefined };
}

/**
 * Runs `work` for a store method: with a callback, calls it once `work` settles, outside the
 * promise chain (a callback that throws is an uncaught exception, as with any callback API), and
 * returns nothing to await; without one, returns the promise.
 *
 * The callback runs in the check phase of the event loop (`setImmediate`), as MemoryStore's do,
 * not on the next tick. Measured (docs/performance.md, "Store callbacks in the check phase"): about
 * 11% less server CPU per request end to end, reads and writes (medians of three quick ABBA pairs).
 * Why is a hypothesis, not measured: the frameworks' callbacks go on to run the request's handlers
 * and write its answer, and deferred to the check phase the requests read in one poll of the event
 * loop run those steps one after the other, instead of each interleaving them with the parsing of
 * the next.
 */
function settle<T>(work: Promise<T>, callback: Callback<T> | undefined): Promise<T> | undefined {
  if (callback === undefined) return work;
  work.then(
    (value) => {
      setImmediate(callback, null, value);
    },
    (error: unknown) => {
      setImmediate(callback, error);
    },
  );
  return undefined;
}

/** Sets property `name` of a new object, as `Object.fromEntries` would (an own `__proto__` included). */
function define(object: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') Object.defineProperty(object, name, { value, writable: true, enumerable: true, configurable: true });
  else object[name] = value;
}

/** A session's attributes: its own enumerable properties but the cookie. */
function attributesOf(session: StoredSession): Map<string, unknown> {
  // Read as Object.entries reads them, without its array of pairs (this runs at every request).
  const attributes = new Map<string, unknown>();
  for (const name of Object.keys(session)) if (name !== 'cookie') attributes.set(name, session[name]);
  return attributes;
}

/** The fields of a session cookie (express-session's `Cookie` or a plain object), without the unset ones. */
function cookieFields(cookie: unknown): Map<string, unknown> {
  if (typeof cookie !== 'object' || cookie === null) return new Map();
  const withJson = cookie as { toJSON?: () => unknown };
  const data = typeof withJson.toJSON === 'function' ? withJson.toJSON() : cookie;
  if (typeof data !== 'object' || data === null) return new Map();
  const fields = new Map<string, unknown>();
  for (const name of Object.keys(data)) {
    const v = (data as Record<string, unknown>)[name];
    if (v !== undefined) fields.set(name, v);
  }
  // A cookie with a relative lifetime has an `expires` that moves with every request: it is not
  // stored (it would make every request a write), but given back as now plus the lifetime.
  // @fastify/session copies the `expires` it loaded into `originalExpires`: it moves likewise.
  if (cookieMaxAge(data) !== undefined) {
    fields.delete('expires');
    fields.delete('originalExpires');
  }
  return fields;
}

/**
 * A session store that keeps sessions in a {@link LazyReplicatedMap}, so an app behind a load
 * balancer keeps its sessions when a member dies. It is an express-session `Store` (when
 * express-session is installed), and every method also returns a promise when called without a
 * callback, with the arguments koa-session passes, so koa-session and @fastify/session use it as is.
 *
 * - **Placement.** A session lives on the member that served its last request (a request
 *   elsewhere moves it there) and on the map's `backups` others. Ids end with the member's route
 *   (`genid`), so a sticky load balancer sends requests where the session lives.
 * - **Cost.** A request that changes attributes sends the backups those attributes only
 *   (`MSG_DIFF`); a request that reads sends nothing (the map replicates uses lazily).
 * - **Concurrency.** A save sends what its request changed compared to what it loaded, so two
 *   requests that change different attributes of one session both keep their change; of two
 *   changes of one attribute the later save wins. Requests on different members at once: the
 *   later write of the session wins.
 * - **Expiry**, by the map: a cookie's `maxAge` is how long the session lives after its last use
 *   (after its last save with `disableTouch`); a cookie `expires` alone is when it ends; neither:
 *   `ttlMs`. A session past its expiry, or whose stored cookie `expires` has passed, is never
 *   returned by any member, and its primary deletes it everywhere within a second.
 * - `all()`, `length()` and `ids()` move no session (no promotion).
 *
 * @example
 * ```ts
 * import express from 'express';
 * import session from 'express-session';
 * import { LazyReplicatedMap, TcpTransport } from 'lazy-replicated-map';
 * import { BackupSessionStore } from 'lazy-replicated-map/session';
 *
 * const map = new LazyReplicatedMap<string>({ name: 'sessions', transport: new TcpTransport({ id: 'node1', seeds }) });
 * await map.start();
 * const store = new BackupSessionStore({ map, route: 'node1' });
 * const app = express();
 * app.use(session({ store, secret, genid: (req) => store.genid(req), resave: false, saveUninitialized: false }));
 * ```
 */
export class BackupSessionStore extends StoreBase {
  /** The map the sessions live in. */
  readonly map: SessionMap;
  /** This member's route, the suffix of the ids it generates. */
  readonly route: string;
  /** Whether `touch` does nothing (sessions then live their lifetime after their last save). */
  readonly disableTouch: boolean;
  private readonly fallbackLifetime: (session: unknown) => number;
  private readonly wallClock: () => number;
  private readonly baselines: RequestBaselines;
  private closed = false;

  // Inherited from express-session's Store when it is installed (express calls them).
  /* eslint-disable @typescript-eslint/no-explicit-any */
  /** express-session's `Store#regenerate` (present when express-session is installed). */
  declare regenerate: (req: any, callback: (error?: any) => any) => void;
  /** express-session's `Store#load` (present when express-session is installed). */
  declare load: (sid: string, callback: (error: any, session?: any) => any) => void;
  /** express-session's `Store#createSession` (present when express-session is installed). */
  declare createSession: (req: any, session: any) => any;
  /* eslint-enable @typescript-eslint/no-explicit-any */

  /**
   * @param options see {@link BackupSessionStoreOptions}.
   * @throws {TypeError} for a malformed route, or a `maxSessions` its map cannot take (see
   *   {@link BackupSessionStoreOptions.maxSessions}).
   * @throws {RangeError} for a `ttlMs` that is not a number of milliseconds > 0 or a function.
   */
  constructor(options: BackupSessionStoreOptions) {
    super();
    validateOptions('BackupSessionStore', options, SESSION_STORE_OPTION_RULES);
    const ttl = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    if (typeof ttl === 'number') {
      this.fallbackLifetime = () => ttl;
    } else {
      this.fallbackLifetime = (session) => {
        const ms = ttl(session as StoredSession);
        if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new RangeError(`BackupSessionStore option \`ttlMs\` returned ${String(ms)}, not a number of milliseconds`);
        return ms;
      };
    }
    this.map = options.map;
    this.route = options.route;
    this.disableTouch = options.disableTouch ?? false;
    this.wallClock = options.now ?? Date.now;
    this.baselines = new RequestBaselines(this.wallClock);
    if (options.maxSessions !== undefined) {
      applyStoreLimit('BackupSessionStore', 'maxSessions', options.map, { maxEntries: options.maxSessions, evictionPolicy: options.evictionPolicy ?? 'reject' });
    }
  }

  /**
   * A new session id: 192 random bits (base64url), a `.`, and this member's route. Pass it to
   * the framework (`genid: (req) => store.genid(req)` for express-session, `idGenerator` for
   * @fastify/session, `genid` for koa-session).
   */
  genid(_request?: unknown): string {
    return newSessionId(this.route);
  }

  /**
   * Loads a session (making this member its primary); `null` when unknown or expired.
   * `get(sid, callback)` (express, fastify) or `await get(sid, maxAge?, options?)` (koa).
   */
  get(sid: string, callback: Callback<StoredSession | null>): void;
  get(sid: string, maxAge?: unknown, options?: unknown): Promise<StoredSession | null>;
  get(sid: string, ...rest: unknown[]): Promise<StoredSession | null> | undefined {
    return settle(this.fetch(sid), callArgs<StoredSession | null>(rest).callback);
  }

  /**
   * Saves a session. When this member holds its previous version, only the attributes this request
   * changed are replicated. `set(sid, session, callback?)` or `await set(sid, session, maxAge?, options?)`.
   */
  set(sid: string, session: StoredSession, callback: Callback<undefined>): void;
  set(sid: string, session: StoredSession, maxAge?: unknown, options?: unknown): Promise<undefined>;
  set(sid: string, session: StoredSession, ...rest: unknown[]): Promise<undefined> | undefined {
    const { callback, maxAge } = callArgs<undefined>(rest);
    return settle(this.save(sid, session, maxAge), callback);
  }

  /** Deletes a session on every member. */
  destroy(sid: string, callback: Callback<undefined>): void;
  destroy(sid: string, ...rest: unknown[]): Promise<undefined>;
  destroy(sid: string, ...rest: unknown[]): Promise<undefined> | undefined {
    return settle(this.remove(sid), callArgs<undefined>(rest).callback);
  }

  /**
   * Marks a session used (express-session calls it for requests that changed nothing): its idle
   * time starts again. Sends nothing from the session's primary. Nothing with `disableTouch`.
   */
  touch(sid: string, session: StoredSession, callback: Callback<undefined>): void;
  touch(sid: string, session: StoredSession, maxAge?: unknown, options?: unknown): Promise<undefined>;
  touch(sid: string, session: StoredSession, ...rest: unknown[]): Promise<undefined> | undefined {
    const { callback, maxAge } = callArgs<undefined>(rest);
    return settle(this.use(sid, session, maxAge), callback);
  }

  /** Every live session by id, read where they are without moving any. */
  all(callback: Callback<Record<string, StoredSession>>): void;
  all(): Promise<Record<string, StoredSession>>;
  all(...rest: unknown[]): Promise<Record<string, StoredSession>> | undefined {
    const work = this.collect().then((found) => Object.fromEntries(found.map(([sid, value]) => [sid, this.dataOf(value)])));
    return settle(work, callArgs<Record<string, StoredSession>>(rest).callback);
  }

  /** The number of live sessions, counted without moving any. */
  length(callback: Callback<number>): void;
  length(): Promise<number>;
  length(...rest: unknown[]): Promise<number> | undefined {
    return settle(this.collect().then((found) => found.length), callArgs<number>(rest).callback);
  }

  /** The ids of the live sessions, without moving any. */
  ids(callback: Callback<string[]>): void;
  ids(): Promise<string[]>;
  ids(...rest: unknown[]): Promise<string[]> | undefined {
    return settle(this.collect().then((found) => found.map(([sid]) => sid)), callArgs<string[]>(rest).callback);
  }

  /** Deletes every session on every member. */
  clear(callback: Callback<undefined>): void;
  clear(): Promise<undefined>;
  clear(...rest: unknown[]): Promise<undefined> | undefined {
    return settle(this.removeAll(), callArgs<undefined>(rest).callback);
  }

  /** Deletes expired sessions now, as the map's sweep does every second. Resolves to the number deleted. */
  async sweep(): Promise<number> {
    // async: a closed store rejects, as its other calls do, rather than throwing at the caller.
    this.assertOpen();
    return this.map.sweep();
  }

  /** Detaches from the map: later calls fail with {@link StoppedError}. The map is not stopped. */
  close(): void {
    this.closed = true;
    this.baselines.clear();
  }

  // ---------------------------------------------------------------- the work behind the methods

  private assertOpen(): void {
    if (this.closed) throw new StoppedError(`session store of member '${this.map.id}' is closed: create a new one`);
  }

  /** The live session `sid`, now owned here; `undefined` when unknown, not a session, or expired (then deleted). */
  private async claim(sid: string): Promise<SessionValue | undefined> {
    this.assertOpen();
    if (!this.map.has(sid)) return undefined;
    // Promotes: the member serving the session's requests should own it (Tomcat does the same).
    // The map never returns an expired entry; a stored absolute `expires` is checked here too.
    const value = await this.map.get(sid);
    if (!(value instanceof SessionValue)) return undefined;
    const expires = storedExpiry(value);
    if (expires !== undefined && expires <= this.wallClock()) {
      await this.map.delete(sid);
      return undefined;
    }
    return value;
  }

  private async fetch(sid: string): Promise<StoredSession | null> {
    const value = await this.claim(sid);
    if (value === undefined) return null;
    // The stored attribute values are never changed in place (save() replaces them), so the
    // baseline may share them; the request gets copies it may change.
    // Its lifetime too: a touch at the request's end that asks for the same one needs no new read.
    this.baselines.loaded(sid, new Map(value.fieldsOf('attribute')), { maxInactiveMs: value.maxInactiveMs, expiresAt: storedExpiry(value) });
    return this.dataOf(value);
  }

  /**
   * The session as frameworks want it: fresh copies of its attributes and, if it had one, its
   * cookie, which the request may change in place without changing the stored session or its
   * baseline. Plain data is copied directly (what a codec round trip gives, at a fraction of its
   * cost); anything else goes through the codec, one attribute at a time.
   */
  private dataOf(value: SessionValue): StoredSession {
    const data: StoredSession = {};
    for (const [name, v] of value.fieldsOf('attribute')) define(data, name, this.copy(v));
    const cookie = value.fieldsOf('cookie');
    if (cookie.size > 0) {
      const fields: Record<string, unknown> = {};
      for (const [name, v] of cookie) define(fields, name, this.copy(v));
      const maxAge = cookieMaxAge(fields);
      // A relative lifetime runs from this use, as the framework itself will count it.
      if (maxAge !== undefined) fields.expires = new Date(this.wallClock() + maxAge).toISOString();
      data.cookie = fields;
    }
    return data;
  }

  private clone(value: unknown): unknown {
    return defaultValueCodec.decode(defaultValueCodec.encode(value));
  }

  /** What {@link clone} gives, without the codec for plain data. */
  private copy(value: unknown): unknown {
    const copy = copyPlain(value);
    return copy === NOT_PLAIN ? this.clone(value) : copy;
  }

  /**
   * A copy of attribute `name`'s value as it will be stored.
   * @throws {ValueEncodeError} naming the attribute when the value cannot be stored.
   */
  private storable(name: string, value: unknown): unknown {
    // Plain data always encodes: the codec is needed (and asked) only for anything else.
    const copy = copyPlain(value);
    if (copy !== NOT_PLAIN) return copy;
    try {
      return this.clone(value);
    } catch (error) {
      if (!(error instanceof ValueEncodeError)) throw error;
      throw new ValueEncodeError(`session attribute '${name}' cannot be stored, so the session was not saved: ${error.message}`, { cause: error });
    }
  }

  private expiryOf(session: StoredSession, frameworkMaxAge: number | undefined): SetOptions | 'expired' {
    return sessionExpiry(session, frameworkMaxAge, this.fallbackLifetime, this.disableTouch, this.wallClock());
  }

  private async save(sid: string, session: StoredSession, frameworkMaxAge: number | undefined): Promise<undefined> {
    this.assertOpen();
    const expiry = this.expiryOf(session, frameworkMaxAge);
    if (expiry === 'expired') return this.remove(sid);
    const incoming = attributesOf(session);
    const cookie = cookieFields(session.cookie);
    const current = await this.claim(sid);
    if (current === undefined) {
      const value = new SessionValue();
      for (const [name, v] of incoming) value.set('attribute', name, this.storable(name, v));
      for (const [name, v] of cookie) value.set('cookie', name, this.copy(v));
      value.maxInactiveMs = expiry.maxIdleMs ?? expiry.ttlMs;
      await this.map.set(sid, value, expiry);
      return undefined;
    }
    const changed = this.change(sid, current, incoming, cookie);
    // A save is a use (an idle limit starts again) or a write (a time to live starts again). On
    // the primary, with the same idle limit, the diff alone does that; otherwise the whole session
    // goes with its new expiry. A newer write elsewhere that overtook the load also takes the
    // whole session: replicate() does nothing on a member that is not primary, and would lose it.
    // A save that changed nothing (@fastify/session saves every request: `rolling`) is a use,
    // which the map replicates lazily, as touch() does; replicate() would send an access notice.
    if (this.map.entryInfo(sid)?.role === 'primary' && sameLifetime(current, expiry)) {
      if (!changed) await this.map.touch(sid);
      else await this.map.replicate(sid);
    } else {
      current.maxInactiveMs = expiry.maxIdleMs ?? expiry.ttlMs;
      await this.map.set(sid, current, expiry);
    }
    return undefined;
  }

  /**
   * Makes in `current` the changes a save of `incoming` and `cookie` brings (see {@link save});
   * false when there are none. Synchronous, and in a function of its own so that `save`'s
   * suspended frame keeps only the result.
   */
  private change(sid: string, current: SessionValue, incoming: ReadonlyMap<string, unknown>, cookie: ReadonlyMap<string, unknown>): boolean {
    // What this request changed, against what it loaded: changes other requests saved meanwhile
    // to other attributes are left alone. Without a load (a direct call), against what is stored.
    const before = this.baselines.take(sid, incoming) ?? current.fieldsOf('attribute');
    // Made when first needed: a request that changed nothing (a rolling save) needs none.
    let changes: Map<string, unknown> | undefined;
    for (const [name, v] of incoming) {
      if (!before.has(name) || !same(before.get(name), v)) (changes ??= new Map()).set(name, this.storable(name, v));
    }
    for (const name of before.keys()) if (!incoming.has(name)) (changes ??= new Map()).set(name, REMOVED);
    let cookieChanges: Map<string, unknown> | undefined;
    for (const [name, v] of cookie) if (!same(current.get('cookie', name), v)) (cookieChanges ??= new Map()).set(name, this.copy(v));
    for (const name of current.fieldsOf('cookie').keys()) if (!cookie.has(name)) (cookieChanges ??= new Map()).set(name, REMOVED);
    // Everything is cloned (and so encodable) before the stored session changes.
    for (const [name, v] of changes ?? []) {
      if (v === REMOVED) current.remove('attribute', name);
      else current.set('attribute', name, v);
    }
    for (const [name, v] of cookieChanges ?? []) {
      if (v === REMOVED) current.remove('cookie', name);
      else current.set('cookie', name, v);
    }
    return changes !== undefined || cookieChanges !== undefined;
  }

  private async use(sid: string, session: StoredSession, frameworkMaxAge: number | undefined): Promise<undefined> {
    this.assertOpen();
    const attributes = attributesOf(session);
    const load = this.baselines.ended(sid, attributes);
    const loaded = load?.baseline;
    // express-session decides between set and touch by a JSON hash of the session, which does not
    // see a function or a symbol: an attribute holding one comes here, and would be lost without
    // a word. What changed since the load must be storable, or the request hears why.
    for (const [name, v] of attributes) {
      if (loaded === undefined || !loaded.has(name) || !same(loaded.get(name), v)) this.storable(name, v);
    }
    if (this.disableTouch) return undefined;
    const expiry = this.expiryOf(session, frameworkMaxAge);
    if (expiry === 'expired') return this.remove(sid);
    // The lifetime this request loaded, and a stored cookie that has not expired since: a use of
    // the session, which the map counts without the session being read again (on its primary,
    // where the load made it live, nothing is sent; on another member the primary is told).
    const lifetime = load?.lifetime;
    if (lifetime !== undefined && sameIdleLimit(lifetime.maxInactiveMs, expiry) && (lifetime.expiresAt === undefined || lifetime.expiresAt > this.wallClock())) {
      await this.map.touch(sid);
      return undefined;
    }
    const current = await this.claim(sid);
    if (current === undefined) return undefined;
    // The same lifetime: a use, which the map replicates lazily (nothing sent from the primary).
    // Another one (the cookie's maxAge changed): the session is written with it.
    if (sameLifetime(current, expiry)) await this.map.touch(sid);
    else {
      current.maxInactiveMs = expiry.maxIdleMs ?? expiry.ttlMs;
      await this.map.set(sid, current, expiry);
    }
    return undefined;
  }

  private async remove(sid: string): Promise<undefined> {
    this.assertOpen();
    this.baselines.forget(sid);
    await this.map.delete(sid);
    return undefined;
  }

  private async removeAll(): Promise<undefined> {
    this.assertOpen();
    this.baselines.clear();
    await this.map.clear();
    return undefined;
  }

  /** Every live session, read where it is held or fetched, without moving any (no promotion). */
  private async collect(): Promise<[string, SessionValue][]> {
    this.assertOpen();
    const found: [string, SessionValue][] = [];
    const now = this.wallClock();
    for (const key of [...this.map.keys()] as MapKey[]) {
      if (typeof key !== 'string') continue;
      const value = await this.map.get(key, { promote: false });
      if (!(value instanceof SessionValue)) continue;
      const expires = storedExpiry(value);
      if (expires === undefined || expires > now) found.push([key, value]);
    }
    return found;
  }
}

/**
 * Whether storing `a` or `b` keeps the same data (a request left an attribute as it loaded it):
 * compared directly for plain data, by `isDeepStrictEqual` for anything else.
 */
function same(a: unknown, b: unknown): boolean {
  return samePlain(a, b) ?? isDeepStrictEqual(a, b);
}

/** True when a stored session was written with the lifetime `expiry` gives (kept in its `maxInactiveMs`). */
function sameLifetime(value: SessionValue, expiry: SetOptions): boolean {
  return sameIdleLimit(value.maxInactiveMs, expiry);
}

/** True when `expiry` is an idle limit of `maxInactiveMs`. */
function sameIdleLimit(maxInactiveMs: number | undefined, expiry: SetOptions): boolean {
  return expiry.maxIdleMs !== undefined && maxInactiveMs === expiry.maxIdleMs;
}

/** A stored session's absolute cookie expiry (ms since 1970), if its cookie has one. */
function storedExpiry(value: SessionValue): number | undefined {
  return cookieExpiry({ expires: value.get('cookie', 'expires') });
}

