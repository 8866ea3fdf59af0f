/**
 * Session ids that carry the member's route, as Tomcat's `jvmRoute` does: `<random>.<route>`, so
 * a sticky load balancer can send each request to the member that owns its session.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';

/** Random bytes in a session id: 192 bits, far beyond guessing (OWASP asks for at least 64). */
export const SESSION_ID_RANDOM_BYTES = 24;

/** What a route may be made of: the base64url alphabet, so it needs no escaping in a cookie and holds no `.`. */
const ROUTE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Checks a route for use as a session id suffix.
 * @throws {TypeError} unless `route` is 1 to 64 characters of `A-Z a-z 0-9 _ -`.
 */
export function assertRoute(route: unknown): asserts route is string {
  if (typeof route !== 'string' || !ROUTE.test(route)) {
    throw new TypeError(
      `BackupSessionStore option \`route\` must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-' (it ends every session id after a '.'), got ${typeof route === 'string' ? JSON.stringify(route) : typeof route}`,
    );
  }
}

/** A new session id for `route`: {@link SESSION_ID_RANDOM_BYTES} random bytes in base64url, a `.`, the route. */
export function newSessionId(route: string): string {
  return `${randomBytes(SESSION_ID_RANDOM_BYTES).toString('base64url')}.${route}`;
}

/** The route a session id ends with, or `undefined` when the id is not of the `<random>.<route>` form. */
export function routeOf(sessionId: string): string | undefined {
  const dot = sessionId.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const route = sessionId.slice(dot + 1);
  return ROUTE.test(route) && !sessionId.slice(0, dot).includes('.') ? route : undefined;
}
