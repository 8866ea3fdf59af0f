/**
 * The session specs' app on fastify 5 with @fastify/cookie and @fastify/session, serving the
 * routes every framework serves (see {@link AppFactory}).
 *
 * @module
 */
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify, { type FastifyRequest } from 'fastify';
import type { AppFactory } from './apps.js';

/** A query parameter as a string ('' when absent). */
function param(request: FastifyRequest, name: string): string {
  const v = (request.query as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : '';
}

/** The session's attributes: its own enumerable properties but the cookie (fastify keeps the rest in symbols). */
function attributes(request: FastifyRequest): Record<string, unknown> {
  const { cookie: _cookie, ...rest } = request.session as unknown as Record<string, unknown>;
  return rest;
}

export const fastifyApp: AppFactory = async (member, options) => {
  const app = Fastify();
  const maxAge = options.maxAge === undefined ? 60_000 : options.maxAge;
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    store: member.store,
    secret: 'a secret of the test suite, long enough for HMAC-256',
    idGenerator: () => member.store.genid(),
    saveUninitialized: false,
    // Plain HTTP in the specs: a secure cookie would never be set, nor the session saved.
    cookie: { secure: false, ...(maxAge === null ? {} : { maxAge }) },
  });
  app.post('/login', (request) => {
    request.session.set('user' as never, param(request, 'user') as never);
    return { sid: request.session.sessionId, member: member.id };
  });
  app.get('/me', (request) => ({ user: attributes(request).user ?? null, sid: request.session.sessionId, member: member.id }));
  app.post('/set', (request) => {
    request.session.set(param(request, 'name') as never, param(request, 'value') as never);
    return { ok: true };
  });
  app.get('/attributes', (request) => attributes(request));
  // The session is loaded before the handler runs; it waits here until the test releases it.
  app.post('/hold', async (request) => {
    await new Promise<void>((resolve) => { member.held.add(resolve); });
    request.session.set(param(request, 'name') as never, param(request, 'value') as never);
    return { ok: true };
  });
  app.post('/logout', async (request) => {
    await request.session.destroy();
    return { ok: true };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    server: app.server,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
};
