/**
 * `lazy-replicated-map/session`: a session store on the lazy map (Tomcat's `BackupManager`) for
 * express-session, @fastify/session and koa-session. express-session is needed only by express
 * apps (an optional peer dependency).
 *
 * @packageDocumentation
 */
export { BackupSessionStore, type StoredSession } from './backup-session-store.js';
export { DEFAULT_SESSION_TTL_MS, type BackupSessionStoreOptions, type SessionMap } from './session-store-options.js';
export { SessionValue, SESSION_VALUE_TAG, SESSION_FIELD_KINDS, type SessionAction, type SessionFieldKind } from './session-value.js';
export { SESSION_ID_RANDOM_BYTES, newSessionId, routeOf } from './session-id.js';
