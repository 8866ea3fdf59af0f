/**
 * The session specs' app on koa 3 with koa-session 7 and an external store, serving the routes
 * every framework serves (see {@link AppFactory}). Errors koa reports (`app.on('error')`) are kept
 * in {@link koaErrors} for the specs to check.
 *
 * @module
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import Koa, { type Context } from 'koa';
import koaSession from 'koa-session';
import type { AppFactory } from './apps.js';

/** Errors koa apps reported since the last reset, by member id. */
export const koaErrors: { member: string; error: unknown }[] = [];

function param(ctx: Context, name: string): string {
  const v = ctx.query[name];
  return typeof v === 'string' ? v : '';
}

/** The session as a bag of attributes (koa-session keeps its own `_expire`, `_maxAge` among them). */
function session(ctx: Context): Record<string, unknown> {
  return (ctx as unknown as { session: Record<string, unknown> }).session;
}

export const koaApp: AppFactory = async (member, options) => {
  const app = new Koa();
  app.keys = ['a secret of the test suite, long enough for HMAC-256'];
  app.silent = true;
  app.on('error', (error: unknown) => koaErrors.push({ member: member.id, error }));
  const maxAge = options.maxAge === undefined ? 60_000 : options.maxAge;
  app.use(
    koaSession(
      {
        key: 'koa.sess',
        maxAge: maxAge ?? 'session',
        // The store's promise methods take koa-session's `(key, session, maxAge, { ctx, rolling })`.
        store: member.store,
        genid: () => member.store.genid(),
      },
      app,
    ),
  );
  app.use(async (ctx) => {
    const s = session(ctx);
    switch (`${ctx.method} ${ctx.path}`) {
      case 'POST /login':
        s.user = param(ctx, 'user');
        ctx.body = { member: member.id };
        return;
      case 'GET /me':
        ctx.body = { user: s.user ?? null, member: member.id };
        return;
      case 'POST /set':
        s[param(ctx, 'name')] = param(ctx, 'value');
        ctx.body = { ok: true };
        return;
      case 'GET /attributes': {
        // toJSON() leaves out koa-session's own state (isNew, ...); its expiry fields go too.
        const { _expire: _e, _maxAge: _m, ...rest } = (s as { toJSON(): Record<string, unknown> }).toJSON();
        ctx.body = rest;
        return;
      }
      case 'POST /hold':
        await new Promise<void>((resolve) => { member.held.add(resolve); });
        s[param(ctx, 'name')] = param(ctx, 'value');
        ctx.body = { ok: true };
        return;
      case 'POST /logout':
        (ctx as unknown as { session: null }).session = null;
        ctx.body = { ok: true };
        return;
      default:
        ctx.status = 404;
    }
  });
  const handle = app.callback();
  const server = createServer((req, res) => void handle(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
};
