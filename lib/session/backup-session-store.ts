/**
 * An express-session store on a {@link LazyReplicatedMap}: what Tomcat's `BackupManager` does for
 * servlet sessions. Each session lives on the member that last served it (its primary) and on
 * `backups` others; a request that changes one attribute replicates that attribute only; a member
 * that dies takes no session with it.
 *
 * @module
 */
import { isDeepStrictEqual } from 'node:util';
import { Store, type SessionData } from 'express-session';
import { defaultValueCodec } from '../codec/value-codec.js';
import type { MapKey } from '../codec/map-messages.js';
import { StoppedError } from '../errors.js';
import { assertRoute, newSessionId } from './session-id.js';
import {
  BACKUP_LIFETIME_FACTOR,
  DEFAULT_SESSION_TTL_MS,
  DEFAULT_SWEEP_INTERVAL_MS,
  type BackupSessionStoreOptions,
  type SessionMap,
  type SweepTimers,
} from './session-store-options.js';
import { SessionValue } from './session-value.js';

/** A request's view of a session's attributes when it loaded it: the values as stored then. */
type Baseline = ReadonlyMap<string, unknown>;

/** Marks an attribute a request removed. */
const REMOVED: unique symbol = Symbol('removed');

/** Node's timers, unref'd: a sweep timer never keeps a process alive. */
const nodeTimers: SweepTimers = {
  setInterval(callback, ms) {
    const handle = setInterval(callback, ms);
    handle.unref();
    return handle;
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout);
  },
};

/**
 * Calls an express-session callback once `work` settles, outside the promise chain: a callback
 * that throws is an uncaught exception, as with any callback API, not a rejected promise.
 */
function settle<T>(work: Promise<T>, callback: ((error: unknown, value?: T) => void) | undefined): void {
  work.then(
    (value) => {
      if (callback !== undefined) process.nextTick(callback, null, value);
    },
    (error: unknown) => {
      if (callback !== undefined) process.nextTick(callback, error);
    },
  );
}

/** The fields of a session cookie (express-session's `Cookie` or a plain object), without the unset ones. */
function cookieFields(cookie: unknown): Map<string, unknown> {
  if (typeof cookie !== 'object' || cookie === null) return new Map();
  const withJson = cookie as { toJSON?: () => unknown };
  const data = typeof withJson.toJSON === 'function' ? withJson.toJSON() : cookie;
  if (typeof data !== 'object' || data === null) return new Map();
  return new Map(Object.entries(data).filter(([, v]) => v !== undefined));
}

/** A session's attributes: its own enumerable properties but the cookie. */
function attributesOf(session: SessionData): Map<string, unknown> {
  return new Map(Object.entries(session).filter(([name]) => name !== 'cookie'));
}

/**
 * A real express-session `Store` that keeps sessions in a {@link LazyReplicatedMap}, so any
 * express app behind a load balancer keeps its sessions when a member dies.
 *
 * - **Placement.** A session lives on the member that served its last request (its primary; a
 *   request elsewhere moves it there) and on the map's `backups` others. Session ids end with the
 *   member's route (`genid`), so a sticky load balancer sends requests where the session lives.
 * - **Deltas.** A request that changes attributes sends the backups those attributes only
 *   (`MSG_DIFF`); a request that changes nothing sends an access notice (`MSG_ACCESS`).
 * - **Concurrency.** Each save sends what its request changed compared to what it loaded, so two
 *   requests that change different attributes of one session both keep their change; of two
 *   changes of one attribute the later save wins. Requests on different members at once:
 *   the later write of the session wins.
 * - **Expiry.** A session lives its cookie's `maxAge` (or `ttlMs`) after its last use, and is never
 *   returned after that. The primary sweeps it; a backup sweeps only after twice as long (Tomcat
 *   does the same), so a failover never drops a live session.
 * - `all()` and `length()` move no session (no promotion).
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
export class BackupSessionStore extends Store {
  /** The map the sessions live in. */
  readonly map: SessionMap;
  /** This member's route, the suffix of the ids it generates. */
  readonly route: string;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly timers: SweepTimers;
  private readonly timer: unknown;
  /** Session data handed to express-session by `get`, with the attributes as stored then. */
  private readonly loaded = new WeakMap<object, Baseline>();
  /** Each request's `Session` object, with what it believes the store holds (see `save`). */
  private readonly baselines = new WeakMap<object, Baseline>();
  /** Lifetimes of sessions held here, so a sweep need not decode every backup copy each time. */
  private readonly lifetimes = new Map<MapKey, number>();
  private readonly forget = (key: MapKey): void => {
    this.lifetimes.delete(key);
  };
  private sweeping: Promise<number> | undefined;
  private closed = false;

  /** @param options see {@link BackupSessionStoreOptions}. */
  constructor(options: BackupSessionStoreOptions) {
    super();
    assertRoute(options.route);
    const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    if (typeof ttlMs !== 'number' || Number.isNaN(ttlMs) || ttlMs <= 0) {
      throw new TypeError(`session store option \`ttlMs\` must be a number of milliseconds > 0, got ${String(ttlMs)}`);
    }
    const every = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (!Number.isSafeInteger(every) || every < 0) {
      throw new TypeError(`session store option \`sweepIntervalMs\` must be a whole number of milliseconds >= 0 (0: no timer), got ${String(every)}`);
    }
    this.map = options.map;
    this.route = options.route;
    this.ttlMs = ttlMs;
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? nodeTimers;
    // A session's lifetime changes only with a write of it, and every write passes here as one of these.
    this.map.on('entrySet', this.forget);
    this.map.on('entryRemoved', this.forget);
    this.timer = every > 0 ? this.timers.setInterval(() => { this.sweepInBackground(); }, every) : undefined;
  }

  /**
   * A new session id: 192 random bits (base64url), a `.`, and this member's route. Pass it to
   * express-session: `genid: (req) => store.genid(req)`.
   */
  genid(_request?: unknown): string {
    return newSessionId(this.route);
  }

  // ---------------------------------------------------------------- express-session's Store

  /** Loads a session (making this member its primary); `null` when unknown or expired. */
  override get(sid: string, callback: (error: unknown, session?: SessionData | null) => void): void {
    settle(this.fetch(sid), callback);
  }

  /**
   * Saves a session. When this member holds its previous version, only the attributes this
   * request changed are replicated (see the class notes on concurrency).
   */
  override set(sid: string, session: SessionData, callback?: (error?: unknown) => void): void {
    settle(this.save(sid, session), callback);
  }

  /** Deletes a session on every member. */
  override destroy(sid: string, callback?: (error?: unknown) => void): void {
    settle(this.remove(sid), callback);
  }

  /**
   * Marks a session used (express-session calls it for requests that changed nothing): its expiry
   * moves, and its backups receive an access notice, not the session.
   */
  override touch(sid: string, session: SessionData, callback?: (error?: unknown) => void): void {
    settle(this.use(sid, session), callback);
  }

  /** Every live session by id, read where they are without moving any. */
  override all(callback: (error: unknown, sessions?: Record<string, SessionData> | null) => void): void {
    settle(this.collect().then((found) => Object.fromEntries(found.map(([sid, value]) => [sid, this.dataOf(value)]))), callback);
  }

  /** The number of live sessions, counted without moving any. */
  override length(callback: (error: unknown, length?: number) => void): void {
    settle(this.collect().then((found) => found.length), callback);
  }

  /** Deletes every session on every member. */
  override clear(callback?: (error?: unknown) => void): void {
    settle(this.removeAll(), callback);
  }

  /**
   * Keeps, for the session express-session builds from data `get` returned, the attributes as
   * they were loaded: `set` compares against them to find what the request changed.
   */
  override createSession(...args: Parameters<Store['createSession']>): ReturnType<Store['createSession']> {
    const [, data] = args;
    const session = super.createSession(...args);
    const baseline = this.loaded.get(data);
    if (baseline !== undefined) this.baselines.set(session, baseline);
    return session;
  }

  // ---------------------------------------------------------------- expiry

  /**
   * Deletes, on every member, the expired sessions held here: those this member is primary of
   * after their lifetime, those it backs up after {@link BACKUP_LIFETIME_FACTOR} lifetimes.
   * Resolves to the number deleted. Runs every `sweepIntervalMs` by itself.
   */
  async sweep(): Promise<number> {
    this.assertOpen();
    let removed = 0;
    for (const key of [...this.map.keys()]) {
      if (typeof key !== 'string') continue;
      const role = this.map.entryInfo(key)?.role;
      const last = this.map.lastAccess(key);
      if (role === undefined || role === 'proxy' || last === undefined) continue;
      const lifetime = await this.lifetimeOf(key);
      if (lifetime === undefined) continue;
      const factor = role === 'primary' ? 1 : BACKUP_LIFETIME_FACTOR;
      if (this.now() < last + factor * lifetime) continue;
      await this.map.delete(key);
      removed++;
    }
    return removed;
  }

  /**
   * Stops the sweep timer and detaches from the map. Calls afterwards fail with
   * {@link StoppedError}. The map is not stopped: it may serve other users.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearInterval(this.timer);
    this.map.off('entrySet', this.forget);
    this.map.off('entryRemoved', this.forget);
    this.lifetimes.clear();
  }

  private sweepInBackground(): void {
    if (this.closed || this.sweeping !== undefined) return;
    this.sweeping = this.sweep();
    this.sweeping.then(
      () => { this.sweeping = undefined; },
      (error: unknown) => {
        this.sweeping = undefined;
        this.report(error);
      },
    );
  }

  /** Reports a background failure: on 'error' when someone listens (node's emitter throws otherwise), else as a process warning. */
  private report(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else process.emitWarning(e);
  }

  /** True when `value`, stored under `sid`, has not been used for `factor` lifetimes. */
  private expired(sid: string, value: SessionValue, factor: number): boolean {
    const last = this.map.lastAccess(sid);
    const lifetime = value.maxInactiveMs ?? this.ttlMs;
    return last !== undefined && this.now() >= last + factor * lifetime;
  }

  /** The lifetime of a session held here, decoded once per write of it. */
  private async lifetimeOf(key: string): Promise<number | undefined> {
    const known = this.lifetimes.get(key);
    if (known !== undefined) return known;
    const value = await this.map.get(key, { promote: false });
    if (!(value instanceof SessionValue)) return undefined;
    const lifetime = value.maxInactiveMs ?? this.ttlMs;
    this.lifetimes.set(key, lifetime);
    return lifetime;
  }

  /**
   * How long a session lives unused, from its cookie: `originalMaxAge` (express-session's
   * `maxAge`), else `maxAge`, else what is left until `expires`, else `ttlMs`. A cookie's times
   * are by the wall clock (`Date.now`), whatever `now` the store was given.
   */
  private lifetime(cookie: unknown): number {
    if (typeof cookie === 'object' && cookie !== null) {
      const { originalMaxAge, maxAge, expires } = cookie as { originalMaxAge?: unknown; maxAge?: unknown; expires?: unknown };
      if (typeof originalMaxAge === 'number' && !Number.isNaN(originalMaxAge)) return originalMaxAge;
      if (typeof maxAge === 'number' && !Number.isNaN(maxAge)) return maxAge;
      if (expires instanceof Date || typeof expires === 'string' || typeof expires === 'number') {
        const at = new Date(expires).getTime();
        if (Number.isFinite(at)) return at - Date.now();
      }
    }
    return this.ttlMs;
  }

  // ---------------------------------------------------------------- the work behind the callbacks

  private assertOpen(): void {
    if (this.closed) throw new StoppedError(`session store of member '${this.map.id}' is closed: create a new one`);
  }

  /** The live session `sid`, now owned here; `undefined` when unknown, not a session, or expired (then deleted). */
  private async claim(sid: string): Promise<SessionValue | undefined> {
    this.assertOpen();
    if (!this.map.has(sid)) return undefined;
    // Promotes: the member serving the session's requests should own it (Tomcat does the same).
    const value = await this.map.get(sid);
    if (!(value instanceof SessionValue)) return undefined;
    if (this.expired(sid, value, 1)) {
      await this.map.delete(sid);
      return undefined;
    }
    return value;
  }

  private async fetch(sid: string): Promise<SessionData | null> {
    const value = await this.claim(sid);
    if (value === undefined) return null;
    const data = this.dataOf(value);
    // The stored attribute values are never changed in place (save() replaces them), so the
    // baseline may share them; the request gets copies it may change.
    this.loaded.set(data, new Map(value.entries('attribute')));
    return data;
  }

  /** The session as express-session wants it: attributes and `cookie`, all fresh copies. */
  private dataOf(value: SessionValue): SessionData {
    const copy = this.clone(value) as SessionValue;
    const data = Object.fromEntries(copy.entries('attribute')) as Record<string, unknown>;
    data.cookie = Object.fromEntries(copy.entries('cookie'));
    return data as unknown as SessionData;
  }

  private clone(value: unknown): unknown {
    return defaultValueCodec.decode(defaultValueCodec.encode(value));
  }

  private async save(sid: string, session: SessionData): Promise<void> {
    const maxInactiveMs = this.lifetime(session.cookie);
    if (maxInactiveMs <= 0) {
      await this.remove(sid);
      return;
    }
    const incoming = attributesOf(session);
    const cookie = cookieFields(session.cookie);
    const current = await this.claim(sid);
    if (current === undefined) {
      const value = new SessionValue();
      const stored = new Map<string, unknown>();
      for (const [name, v] of incoming) stored.set(name, this.clone(v));
      for (const [name, v] of stored) value.set('attribute', name, v);
      for (const [name, v] of cookie) value.set('cookie', name, this.clone(v));
      value.maxInactiveMs = maxInactiveMs;
      await this.map.set(sid, value);
      this.lifetimes.set(sid, maxInactiveMs);
      this.baselines.set(session, stored);
      return;
    }
    // What this request changed, against what it loaded: changes other requests saved meanwhile
    // to other attributes are left alone. Without a load (a direct call), against what is stored.
    const before = this.baselines.get(session) ?? new Map(current.entries('attribute'));
    const changes = new Map<string, unknown>();
    for (const [name, v] of incoming) {
      if (!before.has(name) || !isDeepStrictEqual(before.get(name), v)) changes.set(name, this.clone(v));
    }
    for (const name of before.keys()) if (!incoming.has(name)) changes.set(name, REMOVED);
    const cookieChanges = new Map<string, unknown>();
    for (const [name, v] of cookie) if (!isDeepStrictEqual(current.get('cookie', name), v)) cookieChanges.set(name, this.clone(v));
    for (const [name] of current.entries('cookie')) if (!cookie.has(name)) cookieChanges.set(name, REMOVED);
    // Everything is cloned (and so encodable) before the stored session changes.
    const after = new Map(before);
    for (const [name, v] of changes) {
      if (v === REMOVED) {
        current.remove('attribute', name);
        after.delete(name);
      } else {
        current.set('attribute', name, v);
        after.set(name, v);
      }
    }
    for (const [name, v] of cookieChanges) {
      if (v === REMOVED) current.remove('cookie', name);
      else current.set('cookie', name, v);
    }
    if (current.maxInactiveMs !== maxInactiveMs) current.maxInactiveMs = maxInactiveMs;
    this.lifetimes.set(sid, maxInactiveMs);
    // Normally the load made this member primary and `current` is the map's own value. If a newer
    // write elsewhere overtook the load (a request on another member), write the merged session
    // whole: replicate() would do nothing on a member that is not primary, and lose this save.
    if (this.map.entryInfo(sid)?.role === 'primary') await this.map.replicate(sid);
    else await this.map.set(sid, current);
    // A second save of the same request sends only what changed after this one.
    this.baselines.set(session, after);
  }

  private async use(sid: string, session: SessionData): Promise<void> {
    const current = await this.claim(sid);
    if (current === undefined) return;
    const maxInactiveMs = this.lifetime(session.cookie);
    if (maxInactiveMs <= 0) {
      await this.remove(sid);
      return;
    }
    if (current.maxInactiveMs !== maxInactiveMs) {
      current.maxInactiveMs = maxInactiveMs;
      this.lifetimes.set(sid, maxInactiveMs);
    }
    // Clean: an access notice to the backups. A changed lifetime: a diff of that one field.
    await this.map.replicate(sid);
  }

  private async remove(sid: string): Promise<void> {
    this.assertOpen();
    await this.map.delete(sid);
    this.lifetimes.delete(sid);
  }

  private async removeAll(): Promise<void> {
    this.assertOpen();
    await this.map.clear();
    this.lifetimes.clear();
  }

  /** Every live session, read where it is held or fetched, without moving any (no promotion). */
  private async collect(): Promise<[string, SessionValue][]> {
    this.assertOpen();
    const found: [string, SessionValue][] = [];
    for (const key of [...this.map.keys()]) {
      if (typeof key !== 'string') continue;
      const value = await this.map.get(key, { promote: false });
      if (value instanceof SessionValue && !this.expired(key, value, 1)) found.push([key, value]);
    }
    return found;
  }
}
