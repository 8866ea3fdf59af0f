/**
 * Expiry: entries written with a time to live (`ttlMs`) or an idle limit (`maxIdleMs`) are never
 * returned once they expire, and their primary deletes them from every member at its next sweep.
 *
 * Uses are replicated lazily, as Tomcat does for sessions: a read on the primary sends nothing
 * unless the backups' idea of the last use has grown so old that their copy could expire before
 * the primary's. The backups therefore keep a copy longer than the primary would (see
 * {@link BACKUP_IDLE_FACTOR}), so a failover never drops an entry that had not expired, and they
 * never serve a copy they cannot prove alive: a read or retrieval of such a copy goes to the
 * primary, which knows.
 *
 * Times travel as durations (time to live left, idle time so far), never as instants: each member
 * counts from the moment a message arrives, so clocks need not agree.
 *
 * @module
 */
import { RetrieveError } from '../errors.js';
import type { EntryExpiry, MapKey } from '../codec/map-messages.js';
import type { Entry, EntryStore } from './entry.js';
import type { MapContext } from './map-context.js';
import type { ExpiryTimers } from './map-options.js';
import type { Version } from './version.js';

// Declared with the settings that take it (the settings must not import expiry: map-context
// imports the settings); exported here too under its first home.
export type { ExpiryTimers } from './map-options.js';

/** How often the primary looks for expired entries, in milliseconds. */
export const DEFAULT_EXPIRY_SWEEP_MS = 1000;

/**
 * The primary tells its backups of a use once their last news of one is older than this share of
 * the idle limit. A backup's copy then lives at least `maxIdleMs × (1 - 1/2)` past the primary's
 * deadline, whatever the primary saw since.
 */
const ACCESS_NEWS_SHARE = 0.5;

/**
 * A backup deletes its copy only this many idle limits after its last news of a use: the
 * primary's true deadline is at most `maxIdleMs × (1 + ACCESS_NEWS_SHARE)` after that news.
 */
export const BACKUP_IDLE_FACTOR = 1 + ACCESS_NEWS_SHARE;

/** Expiry settings of one write: both optional, both in milliseconds. */
export interface ExpiryOptions {
  /** The entry expires this long after the write. */
  ttlMs?: number | undefined;
  /** The entry expires this long after its last `get`, `set` or `touch` on any member. */
  maxIdleMs?: number | undefined;
}

/** Whether `entry` carries any expiry at all (most entries do not: then nothing here costs anything). */
export function expires(entry: Entry): boolean {
  return entry.expiresAt !== undefined || entry.maxIdleMs !== undefined;
}

/** Sets a write's expiry on the entry the primary writes: it was used now. */
export function stampWrite(entry: Entry, options: ExpiryOptions, now: number): void {
  entry.expiresAt = options.ttlMs === undefined ? undefined : now + options.ttlMs;
  entry.maxIdleMs = options.maxIdleMs;
  entry.lastAccess = now;
  entry.accessSent = now;
}

/** The expiry to send with a copy of `entry`, or `undefined` when it has none. */
export function expiryOf(entry: Entry, now: number): EntryExpiry | undefined {
  if (!expires(entry)) return undefined;
  const ttlMs = entry.expiresAt === undefined ? undefined : Math.max(0, Math.ceil(entry.expiresAt - now));
  const idleMs = entry.lastAccess === undefined ? undefined : Math.max(0, Math.round(now - entry.lastAccess));
  return {
    ...(ttlMs === undefined ? {} : { ttlMs }),
    ...(entry.maxIdleMs === undefined ? {} : { maxIdleMs: entry.maxIdleMs }),
    ...(idleMs === undefined ? {} : { idleMs }),
  };
}

/** Takes the expiry that came with a copy (or its absence: the entry no longer expires). */
export function adoptExpiry(entry: Entry, expiry: EntryExpiry | undefined, now: number): void {
  entry.expiresAt = expiry?.ttlMs === undefined ? undefined : now + expiry.ttlMs;
  entry.maxIdleMs = expiry?.maxIdleMs;
  entry.lastAccess = now - (expiry?.idleMs ?? 0);
  entry.accessSent = now;
}

/**
 * Whether `entry` may be served here now. The primary knows its entries' last use exactly; any
 * other holder knows a use at least as old as the true last one, so its answer errs on the side
 * of "maybe expired", and the caller then asks the primary.
 */
export function alive(entry: Entry, now: number): boolean {
  if (entry.expiresAt !== undefined && now >= entry.expiresAt) return false;
  if (entry.maxIdleMs !== undefined && entry.lastAccess !== undefined && now >= entry.lastAccess + entry.maxIdleMs) return false;
  return true;
}

/**
 * Whether a holder that is not primary may delete its copy: only once the primary's deadline has
 * surely passed (its sweep deletes it everywhere well before), whatever uses the primary did not
 * report. `graceMs` covers the primary's sweep interval and the delete's way here.
 */
export function surelyExpired(entry: Entry, now: number, graceMs: number): boolean {
  if (entry.expiresAt !== undefined && now >= entry.expiresAt + graceMs) return true;
  return entry.maxIdleMs !== undefined && entry.lastAccess !== undefined && now >= entry.lastAccess + entry.maxIdleMs * BACKUP_IDLE_FACTOR + graceMs;
}

/**
 * A backup becomes primary because the primary disappeared. The primary may have seen uses it had
 * not reported yet (at most {@link ACCESS_NEWS_SHARE} of the idle limit's worth), so the new
 * primary assumes the latest it could have been: a failover never drops a live entry. Its deadline
 * may thus be up to half an idle limit later than the dead primary's would have been.
 */
export function assumeUnreportedUse(entry: Entry, now: number): void {
  if (entry.maxIdleMs === undefined || entry.lastAccess === undefined) return;
  entry.lastAccess = Math.min(now, entry.lastAccess + entry.maxIdleMs * ACCESS_NEWS_SHARE);
  entry.accessSent = entry.lastAccess;
}

/** The slice of the map's state expiry uses. */
export type ExpiryState = Pick<MapContext, 'id' | 'now' | 'serving' | 'background'> & {
  /** The entries it reads and writes (the entry table's methods, not the table). */
  readonly entries: EntryStore;
};

/** What expiry asks of the rest of the map. */
export interface ExpiryHost {
  /** Tells the entry's backups it was used now (`MSG_ACCESS`). */
  access(entry: Entry): Promise<void>;
  /** Deletes keys on every member, as `delete` does. */
  remove(keys: MapKey[]): Promise<void>;
  /** Reports that this member expired `key` (as its primary). */
  expired(key: MapKey): void;
  /** Passes a use of `key` on to `primary` (`MSG_ACCESS`, no answer awaited). */
  forward(key: MapKey, primary: string): Promise<unknown>;
}

/** Marks a copy just received (of `version`) as used now, if it is the copy held here. */
export function copyReceived(entry: Entry | undefined, version: Version, now: number): void {
  if (entry?.holding === true && entry.sameWrite(version)) entry.lastAccess = now;
}

/** Node's timers, unref'd: a sweep never keeps a process alive. */
export const NODE_TIMERS: ExpiryTimers = {
  setInterval(callback, ms) {
    const handle = setInterval(callback, ms);
    handle.unref();
    return handle;
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout);
  },
};

/** Uses, sweeps and the sweep timer of one map on one member. */
export class Expiry {
  private readonly state: ExpiryState;
  private readonly host: ExpiryHost;
  private readonly sweepMs: number;
  private readonly timers: ExpiryTimers;
  private timer: unknown;
  private sweeping: Promise<number> | undefined;

  /**
   * @param state see {@link ExpiryState}.
   * @param host see {@link ExpiryHost}.
   * @param sweepMs how often to sweep; 0: only when {@link sweep} is called.
   * @param timers the timers to sweep on.
   */
  constructor(state: ExpiryState, host: ExpiryHost, sweepMs: number, timers: ExpiryTimers) {
    this.state = state;
    this.host = host;
    this.sweepMs = sweepMs;
    this.timers = timers;
  }

  /** Starts sweeping every `sweepMs`. */
  start(): void {
    if (this.sweepMs > 0 && this.timer === undefined) {
      this.timer = this.timers.setInterval(() => {
        this.sweepInBackground();
      }, this.sweepMs);
    }
  }

  /** Stops the timer; a sweep under way finishes on its own. */
  stop(): void {
    if (this.timer !== undefined) this.timers.clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * A use of an entry this member is primary of (`get`, `touch`, a use reported by another
   * member). The backups hear of it only when their news of a use is getting old.
   */
  used(entry: Entry): void {
    if (!expires(entry)) return;
    const now = this.state.now();
    entry.lastAccess = now;
    if (entry.maxIdleMs === undefined) return;
    if (entry.accessSent !== undefined && now - entry.accessSent < entry.maxIdleMs * ACCESS_NEWS_SHARE) return;
    entry.accessSent = now;
    this.state.background(this.host.access(entry));
  }

  /**
   * Hears of uses of `keys` from member `from` (`MSG_ACCESS`). From the primary: the backups
   * mark their copies used. To the primary (a touch or read on another member): a use, which the
   * primary passes on to its backups when due. A use of an entry that already expired brings
   * nothing back: the primary deletes it, and a touch that waits for the answer learns it is gone.
   * @throws {RetrieveError} when `wantsReply` and a key expired here (its primary) or is unknown.
   */
  heard(keys: readonly MapKey[], from: string, wantsReply: boolean): void {
    const { state } = this;
    // Tomcat: the holder marks its copy accessed. By this member's clock: clocks need not agree.
    let expired: MapKey | undefined;
    let unknown: MapKey | undefined;
    for (const key of keys) {
      const e = state.entries.get(key);
      // Every member knows every key: one unknown here was deleted, or swept once it expired.
      if (e === undefined) unknown = key;
      else if (e.role === 'primary') {
        if (alive(e, state.now())) this.used(e);
        else expired = key;
      } else if (from === e.primary) {
        if (e.bytes !== undefined) e.lastAccess = state.now();
      } else {
        // Sent here as if this member were primary (a touch or read racing a promotion): the
        // use goes on to the primary known here. A holder does not mark its own copy, so its
        // idea of the last use is never newer than its primary's.
        state.background(this.host.forward(key, e.primary));
      }
    }
    if (expired !== undefined) {
      state.background(this.sweep());
      if (wantsReply) throw new RetrieveError(`key ${String(expired)} expired on its primary '${state.id}'`, expired);
    }
    if (unknown !== undefined && wantsReply) throw new RetrieveError(`key ${String(unknown)} is not known on member '${state.id}': deleted, or expired and swept`, unknown);
  }

  /**
   * Deletes, on every member, the expired entries this member is primary of, and the copies held
   * here whose primary's deadline surely passed (their primary is gone or cut off). Resolves to
   * the number of keys deleted. Runs every sweep interval by itself.
   */
  async sweep(): Promise<number> {
    if (!this.state.serving) return 0;
    const now = this.state.now();
    const grace = 2 * Math.max(this.sweepMs, DEFAULT_EXPIRY_SWEEP_MS);
    const gone: MapKey[] = [];
    for (const entry of this.state.entries.values()) {
      if (!entry.holding || !expires(entry)) continue;
      if (entry.role === 'primary' ? !alive(entry, now) : surelyExpired(entry, now, grace)) gone.push(entry.key);
    }
    if (gone.length === 0) return 0;
    for (const key of gone) if (this.state.entries.get(key)?.role === 'primary') this.host.expired(key);
    await this.host.remove(gone);
    return gone.length;
  }

  private sweepInBackground(): void {
    if (this.sweeping !== undefined) return;
    const run = this.sweep();
    this.sweeping = run;
    const done = (): void => {
      this.sweeping = undefined;
    };
    run.then(done, done);
    this.state.background(run.then(() => undefined));
  }
}
