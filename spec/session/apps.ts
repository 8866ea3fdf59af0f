/**
 * Real express apps for the session store specs: one per member, each with its own map over one
 * seeded in-memory network and its own BackupSessionStore, listening on 127.0.0.1 port 0. A
 * {@link Browser} keeps the session cookie across requests, as a user's browser does, and can
 * send it to any member, as a load balancer would.
 *
 * @module
 */
import { once } from 'node:events';
import { request as httpRequest, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session from 'express-session';
import { InMemoryNetwork, LazyReplicatedMap, ReplicatedMap } from '../../lib/index.js';
import { BackupSessionStore } from '../../lib/session/index.js';
import type { ExpiryTimers } from '../../lib/index.js';

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

/** One member: its map, store, app and server. */
export interface Member {
  id: string;
  map: LazyReplicatedMap<string>;
  store: BackupSessionStore;
  server: Server;
  port: number;
  /** Requests waiting in `/hold`. */
  held: HoldQueue;
}

/** Settings of {@link members}. */
export interface MembersOptions {
  /** The session cookie's maxAge, in ms; `null` for a browser-session cookie. @default 60000 */
  maxAge?: number | null;
  /** The store's ttlMs. */
  ttlMs?: number;
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

function app(member: Omit<Member, 'server' | 'port'>, options: MembersOptions): express.Express {
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
  const servers: Server[] = [];
  const close = async (): Promise<void> => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    }
    for (const m of Object.values(out)) {
      m.store.close();
      if (m.map.state === 'running') await m.map.stop().catch(() => undefined);
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
      });
      const partial = { id, map, store, held: new HoldQueue() };
      const server = createServer(app(partial, options));
      servers.push(server);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      out[id] = { ...partial, server, port: (server.address() as AddressInfo).port };
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

/** A user agent with a cookie jar of one cookie: the session's. */
export class Browser {
  cookie: string | undefined;

  /** The session id the cookie carries (`s:<sid>.<signature>`, URL-encoded). */
  get sid(): string | undefined {
    if (this.cookie === undefined) return undefined;
    const value = decodeURIComponent(this.cookie.slice(this.cookie.indexOf('=') + 1));
    return value.slice(2, value.lastIndexOf('.'));
  }

  /** Sends a request to a member, with the cookie; keeps the cookie the member sets. No keep-alive. */
  send(member: Member, method: 'GET' | 'POST', path: string): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: member.port,
          method,
          path,
          agent: false,
          headers: this.cookie === undefined ? {} : { cookie: this.cookie },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const set = res.headers['set-cookie']?.[0];
            if (set !== undefined) this.cookie = set.slice(0, set.indexOf(';'));
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
