/**
 * How long a session lives, from its cookie and the store's settings, as the map's expiry options.
 * Cookie times are wall-clock times (`Date.now`): browsers and frameworks set them so.
 *
 * @module
 */
import type { SetOptions } from '../map/map-options.js';

/** What the store knows of a session's cookie: the fields frameworks set (all optional). */
interface CookieTimes {
  originalMaxAge?: unknown;
  maxAge?: unknown;
  expires?: unknown;
}

/** A cookie's absolute expiry in ms since 1970, or `undefined` when it has none. */
export function cookieExpiry(cookie: unknown): number | undefined {
  if (typeof cookie !== 'object' || cookie === null) return undefined;
  const { expires } = cookie as CookieTimes;
  if (!(expires instanceof Date) && typeof expires !== 'string' && typeof expires !== 'number') return undefined;
  const at = new Date(expires).getTime();
  return Number.isFinite(at) ? at : undefined;
}

/** A cookie's relative lifetime (`originalMaxAge`, else `maxAge`) in ms, or `undefined`. */
export function cookieMaxAge(cookie: unknown): number | undefined {
  if (typeof cookie !== 'object' || cookie === null) return undefined;
  const { originalMaxAge, maxAge } = cookie as CookieTimes;
  if (typeof originalMaxAge === 'number' && Number.isFinite(originalMaxAge)) return originalMaxAge;
  if (typeof maxAge === 'number' && Number.isFinite(maxAge)) return maxAge;
  return undefined;
}

/**
 * The map expiry of a session being saved, or `'expired'` when it must not be stored at all.
 * - a cookie whose `expires` has passed: expired, whatever else it says;
 * - a relative lifetime (`maxAge`, or the framework's `maxAge` argument): that long after the last
 *   use (`maxIdleMs`), or after the last save with `disableTouch` (`ttlMs`), as connect-redis does;
 * - an absolute `expires` alone: until then (`ttlMs`);
 * - neither: the store's `ttlMs` (a number, or what its function says for this session), as a
 *   relative lifetime.
 */
export function sessionExpiry(
  session: { cookie?: unknown },
  frameworkMaxAge: number | undefined,
  fallback: (session: unknown) => number,
  disableTouch: boolean,
  wallClock: number,
): SetOptions | 'expired' {
  const expires = cookieExpiry(session.cookie);
  if (expires !== undefined && expires <= wallClock) return 'expired';
  const relative = cookieMaxAge(session.cookie) ?? frameworkMaxAge ?? (expires === undefined ? fallback(session) : undefined);
  if (relative === undefined) return { ttlMs: Math.max(1, Math.ceil((expires as number) - wallClock)) };
  if (relative <= 0) return 'expired';
  const ms = Math.ceil(relative);
  return disableTouch ? { ttlMs: ms } : { maxIdleMs: ms };
}
