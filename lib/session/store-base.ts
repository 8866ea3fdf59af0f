/**
 * The class the session store extends: express-session's `Store` when express-session is
 * installed (express needs its `regenerate`, `load` and `createSession`), or a plain event emitter
 * for frameworks that need nothing else (koa-session, @fastify/session). Looked up once, without
 * a static import, so `lazy-replicated-map/session` loads without express-session.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';

/** A store base: an event emitter (express-session's `Store` is one). */
export type StoreBaseClass = new () => EventEmitter;

function findStoreBase(): StoreBaseClass {
  try {
    const expressSession = createRequire(import.meta.url)('express-session') as { Store?: unknown };
    if (typeof expressSession.Store === 'function') return expressSession.Store as StoreBaseClass;
  } catch {
    // Not installed: the store serves frameworks that call get/set/destroy only.
  }
  return EventEmitter;
}

/** express-session's `Store` if installed, else `EventEmitter`. */
export const StoreBase: StoreBaseClass = findStoreBase();
