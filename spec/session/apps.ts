/**
 * Real apps for the session store specs (express here; fastify and koa in their own files, with
 * the same routes): one per member, each with its own map over one seeded in-memory network and
 * its own BackupSessionStore, listening on 127.0.0.1 port 0. A {@link Browser} keeps the session
 * cookies across requests, as a user's browser does, and can send them to any member, as a load
 * balancer would.
 *
 * @module
 */
import { once } from 'node:events';
import { request as httpRequest, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session from 'express-session';
import { InMemoryNetwork, LazyReplicatedMap, ReplicatedMap } from '../../lib/index.js';
import { BackupSessionStore, type BackupSessionStoreOptions } from '../../lib/session/index.js';
import type { ExpiryTimers } from '../../lib/index.js';
import { fastifyApp } from './fastify-app.js';
import { koaApp } from './koa-app.js';

/** A query parameter as a string ('' when absent or repeated). */
function param(req: express.Request, name: string): string {
  const v = req.query[name];
  return typeof v === 'string' ? v : '';
}

/** A request's session as a bag of attributes (no global SessionData augmentation in the suite). */
function attributes(req: express.Request): Record<string, unknown> {
  return req.session as unknown as Record<string, unknown>;
}

/** A fake wall clock for maps and stores. */
export class FakeClock {
  time = 1_000_000;
  readonly now = (): number => this.time;
}

/** A fake interval timer: records what is scheduled, runs it on demand. */
export class FakeTimers implements ExpiryTimers {
  readonly active = new Map<number, { callback: () => void; ms: number }>();
  private next = 1;

  setInterval(callback: () => void, ms: number): unknown {
    const handle = this.next++;
    this.active.set(handle, { callback, ms });
    return handle;
  }

  clearInterval(handle: unknown): void {
    this.active.delete(handle as number);
  }

  /** Runs every scheduled callback once. */
  fire(): void {
    for (const t of [...this.active.values()]) t.callback();
  }
}

/** Requests parked by the `/hold` route until the test releases them. */
export class HoldQueue {
  private readonly parked: (() => void)[] = [];
  private readonly waiters: { n: number; resolve: () => void }[] = [];

  /** Parks a request's continuation. */
  add(resume: () => void): void {
    this.parked.push(resume);
    for (const w of this.waiters.filter((x) => this.parked.length >= x.n)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  /** Resolves once `n` requests are parked. */
  whenParked(n: number): Promise<void> {
    if (this.parked.length >= n) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Resumes the parked requests in the order they arrived. */
  releaseAll(): void {
    for (const resume of this.parked.splice(0)) resume();
  }
}

/** The frameworks the specs run the store behind. */
export type Framework = 'express' | 'fastify' | 'koa';

/** What an app is built around: one member's map and store. */
export interface MemberParts {
  id: string;
  map: LazyReplicatedMap<string>;
  store: BackupSessionStore;
  /** Requests waiting in `/hold`. */
  held: HoldQueue;
}

/** An app listening on 127.0.0.1, and how to shut it. */
export interface ServedApp {
  server: Server;
  close(): Promise<void>;
}

/**
 * Builds and starts one member's app. Every framework serves the same routes: `POST /login?user=`,
 * `GET /me`, `POST /set?name=&value=`, `GET /attributes`, `POST /hold?name=&value=` (loads the
 * session, then waits in {@link MemberParts.held}), `POST /logout`.
 */
export type AppFactory = (member: MemberParts, options: MembersOptions) => Promise<ServedApp>;

/** One member: its map, store, app and server. */
export interface Member extends MemberParts {
  server: Server;
  port: number;
}

/** Settings of {@link members}. */
export interface MembersOptions {
  /** The session cookie's maxAge, in ms; `null` for a browser-session cookie. @default 60000 */
  maxAge?: number | null;
  /** The store's ttlMs. */
  ttlMs?: BackupSessionStoreOptions['ttlMs'];
  /** The store's disableTouch. @default false */
  disableTouch?: boolean;
  /** The framework each member's app runs on. @default 'express' */
  framework?: Framework;
  /** The maps' expiry sweep timers; by default no sweep timer runs (expirySweepIntervalMs 0). */
  timers?: ExpiryTimers;
  /** Keep the sessions in ReplicatedMaps (a copy everywhere, reads do not promote). @default false */
  replicated?: boolean;
}

/** The members of one test and the network between them. */
export interface Cluster {
  net: InMemoryNetwork;
  clock: FakeClock;
  members: Record<string, Member>;
  /** Closes every server and store and stops every running map (idempotent; fit for afterEach). */
  close(): Promise<void>;
}

/** Closes a node HTTP server and its open connections. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
}

/** Listens on 127.0.0.1, an ephemeral port. */
export async function listen(server: Server): Promise<ServedApp> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, close: () => closeServer(server) };
}

const expressApp: AppFactory = (member, options) => listen(createServer(app(member, options)));

const FACTORIES: Record<Framework, AppFactory> = { express: expressApp, fastify: fastifyApp, koa: koaApp };

function app(member: MemberParts, options: MembersOptions): express.Express {
  const a = express();
  const maxAge = options.maxAge === undefined ? 60_000 : options.maxAge;
  a.use(
    session({
      // It is express-session's Store at run time (extended when express-session is installed),
      // but typed without express-session's types so koa and fastify apps need none of them.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
      store: member.store,
      secret: 'a secret of the test suite, long enough for HMAC-256',
      genid: (req) => member.store.genid(req),
      resave: false,
      saveUninitialized: false,
      ...(maxAge === null ? {} : { cookie: { maxAge } }),
    }),
  );
  a.post('/login', (req, res) => {
    attributes(req).user = param(req, 'user');
    res.json({ sid: req.sessionID, member: member.id });
  });
  a.get('/me', (req, res) => {
    res.json({ user: attributes(req).user ?? null, sid: req.sessionID, member: member.id });
  });
  a.post('/set', (req, res) => {
    attributes(req)[param(req, 'name')] = param(req, 'value');
    res.json({ ok: true });
  });
  a.post('/big', (req, res) => {
    attributes(req).big = 'b'.repeat(Number(req.query.size));
    res.json({ ok: true });
  });
  a.get('/attributes', (req, res) => {
    const { cookie: _cookie, ...rest } = attributes(req);
    res.json(rest);
  });
  // Loads the session, then waits for the test to release it before changing it: two requests
  // held here have both loaded the session before either saves.
  a.post('/hold', (req, res) => {
    member.held.add(() => {
      attributes(req)[param(req, 'name')] = param(req, 'value');
      res.json({ ok: true });
    });
  });
  a.post('/logout', (req, res, next) => {
    req.session.destroy((error: unknown) => {
      if (error !== undefined && error !== null) next(error);
      else res.json({ ok: true });
    });
  });
  return a;
}

/** Starts one member per id, in order, and waits until the network is settled. */
export async function members(ids: string[], options: MembersOptions = {}): Promise<Cluster> {
  const net = new InMemoryNetwork({ seed: 11 });
  const clock = new FakeClock();
  const out: Record<string, Member> = {};
  const served: ServedApp[] = [];
  const close = async (): Promise<void> => {
    for (const s of served.splice(0)) await s.close();
    for (const m of Object.values(out)) {
      m.store.close();
      if (m.map.state === 'running') await m.map.stop({ discard: true }).catch(() => undefined);
    }
    await net.settled();
  };
  try {
    for (const id of ids) {
      const settings = {
        name: 'sessions',
        transport: net.transport(id),
        now: clock.now,
        ...(options.timers === undefined ? { expirySweepIntervalMs: 0 } : { timers: options.timers }),
      };
      // Same surface; typed as the lazy map so specs read members uniformly.
      const map = options.replicated === true ? (new ReplicatedMap<string>(settings) as unknown as LazyReplicatedMap<string>) : new LazyReplicatedMap<string>(settings);
      await map.start();
      const store = new BackupSessionStore({
        map,
        route: id,
        ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
        ...(options.disableTouch === undefined ? {} : { disableTouch: options.disableTouch }),
      });
      const parts = { id, map, store, held: new HoldQueue() };
      const s = await FACTORIES[options.framework ?? 'express'](parts, options);
      served.push(s);
      out[id] = { ...parts, server: s.server, port: (s.server.address() as AddressInfo).port };
    }
    await net.settled();
  } catch (error) {
    await close();
    throw error;
  }
  return { net, clock, members: out, close };
}

/** An HTTP answer. */
export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** The session cookie's name, and how to read the session id from its value, per framework. */
const SESSION_COOKIES: Record<Framework, { name: string; sid(value: string): string }> = {
  // express-session signs as `s:<sid>.<signature>`.
  express: { name: 'connect.sid', sid: (v) => v.slice(2, v.lastIndexOf('.')) },
  // @fastify/cookie's signer appends `.<signature>`.
  fastify: { name: 'sessionId', sid: (v) => v.slice(0, v.lastIndexOf('.')) },
  // koa signs in a second cookie (`koa.sess.sig`); the value is the id itself.
  koa: { name: 'koa.sess', sid: (v) => v },
};

/** A user agent with a cookie jar: it keeps every cookie members set, and sends them all. */
export class Browser {
  /** Cookie values by name, as the browser would send them. */
  readonly jar = new Map<string, string>();
  readonly framework: Framework;

  constructor(framework: Framework = 'express') {
    this.framework = framework;
  }

  /** The Cookie header this browser sends, or `undefined` with an empty jar. */
  get cookie(): string | undefined {
    return this.jar.size === 0 ? undefined : [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** The session id its session cookie carries. */
  get sid(): string | undefined {
    const format = SESSION_COOKIES[this.framework];
    const value = this.jar.get(format.name);
    return value === undefined ? undefined : format.sid(decodeURIComponent(value));
  }

  /** Another browser with the same cookies: a second tab, or the same user retrying elsewhere. */
  copy(): Browser {
    const other = new Browser(this.framework);
    for (const [name, value] of this.jar) other.jar.set(name, value);
    return other;
  }

  /** Sends a request to a member, with the cookies; keeps the cookies the member sets. No keep-alive. */
  send(member: Member, method: 'GET' | 'POST', path: string): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const cookie = this.cookie;
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: member.port,
          method,
          path,
          agent: false,
          headers: cookie === undefined ? {} : { cookie },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            for (const set of res.headers['set-cookie'] ?? []) {
              const pair = set.slice(0, set.indexOf(';') < 0 ? undefined : set.indexOf(';'));
              const name = pair.slice(0, pair.indexOf('='));
              const value = pair.slice(pair.indexOf('=') + 1);
              // A cleared cookie comes back empty (and expired).
              if (value === '') this.jar.delete(name);
              else this.jar.set(name, value);
            }
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
            } catch {
              resolve({ status: res.statusCode ?? 0, body: { text } });
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
}
