/**
 * What each request saw of a session when it loaded it, so that its save sends only what it
 * changed and two requests that change different attributes of one session both keep their
 * change. Frameworks hand `set` a different object from the one `get` returned (express copies it
 * into a `Session`, koa-session serializes it), so loads are matched to saves by session id and
 * content, not by object identity: the save is compared with the load it agrees with most.
 *
 * @module
 */
import { isDeepStrictEqual } from 'node:util';
import { samePlain } from './plain-data.js';

/** A session's attributes as a request loaded them. */
export type Baseline = ReadonlyMap<string, unknown>;

/** How many loads of one session are remembered (concurrent requests for one session are few). */
const LOADS_PER_SESSION = 8;
/** How long a load waits for its save or touch before it is forgotten (a request that saved nothing). */
const LOAD_LIFETIME_MS = 60_000;

/** The lifetime of a session as a request loaded it (see {@link LoadedSession}). */
export interface LoadedLifetime {
  /** The stored session's idle limit (`SessionValue.maxInactiveMs`), in ms. */
  readonly maxInactiveMs: number | undefined;
  /** The stored cookie's absolute expiry, in ms since 1970, if it has one. */
  readonly expiresAt: number | undefined;
}

/** What a request loaded of a session: its attributes and its lifetime. */
export interface LoadedSession {
  readonly baseline: Baseline;
  readonly lifetime: LoadedLifetime | undefined;
}

interface Load extends LoadedSession {
  readonly at: number;
}

/** The loads of sessions on this member not yet matched to a save. */
export class RequestBaselines {
  private readonly loads = new Map<string, Load[]>();
  private readonly now: () => number;

  /** @param now the clock loads are aged by. */
  constructor(now: () => number) {
    this.now = now;
  }

  /** A request loaded session `sid` with these attributes and this lifetime. */
  loaded(sid: string, baseline: Baseline, lifetime?: LoadedLifetime): void {
    const now = this.now();
    const list = (this.loads.get(sid) ?? []).filter((l) => now - l.at < LOAD_LIFETIME_MS);
    list.push({ baseline, lifetime, at: now });
    if (list.length > LOADS_PER_SESSION) list.shift();
    this.loads.set(sid, list);
  }

  /**
   * The baseline of the load a save of `attributes` most likely came from (the one that agrees
   * with it on the most attributes; the newest of equals), forgotten from then on; `undefined`
   * when no load is remembered (a save without a load: compare with what is stored).
   */
  take(sid: string, attributes: ReadonlyMap<string, unknown>): Baseline | undefined {
    return this.match(sid, attributes)?.baseline;
  }

  /** The load {@link take} chooses, forgotten from then on. */
  private match(sid: string, attributes: ReadonlyMap<string, unknown>): LoadedSession | undefined {
    const list = this.loads.get(sid);
    if (list === undefined || list.length === 0) return undefined;
    // One request at a time per session, the usual case: its load is the one, nothing to compare.
    if (list.length === 1) {
      this.loads.delete(sid);
      return list[0];
    }
    let best = list.length - 1;
    let bestScore = -1;
    for (let i = list.length - 1; i >= 0; i--) {
      const score = agreement((list[i] as Load).baseline, attributes);
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    }
    const [chosen] = list.splice(best, 1);
    return chosen;
  }

  /** A request ended without saving (a touch): forget its load, and hand it back. */
  ended(sid: string, attributes: ReadonlyMap<string, unknown>): LoadedSession | undefined {
    return this.match(sid, attributes);
  }

  /** The session is gone: forget every load of it. */
  forget(sid: string): void {
    this.loads.delete(sid);
  }

  /** Forgets everything. */
  clear(): void {
    this.loads.clear();
  }
}

/** How many attributes two snapshots hold with equal values, minus those only one holds. */
function agreement(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): number {
  let score = 0;
  for (const [name, v] of a) {
    if (!b.has(name)) score--;
    else if (samePlain(v, b.get(name)) ?? isDeepStrictEqual(v, b.get(name))) score++;
  }
  for (const name of b.keys()) if (!a.has(name)) score--;
  return score;
}
