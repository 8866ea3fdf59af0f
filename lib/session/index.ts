/**
 * `lazy-replicated-map/session`: an express-session store on the lazy map (Tomcat's
 * `BackupManager`). Needs `express-session` installed (an optional peer dependency).
 *
 * @packageDocumentation
 */
export { BackupSessionStore } from './backup-session-store.js';
export {
  BACKUP_LIFETIME_FACTOR,
  DEFAULT_SESSION_TTL_MS,
  DEFAULT_SWEEP_INTERVAL_MS,
  type BackupSessionStoreOptions,
  type SessionMap,
  type SweepTimers,
} from './session-store-options.js';
export { SessionValue, SESSION_VALUE_TAG, SESSION_FIELD_KINDS, type SessionAction, type SessionFieldKind } from './session-value.js';
export { SESSION_ID_RANDOM_BYTES, newSessionId, routeOf } from './session-id.js';
