/**
 * A session attribute the store cannot keep (a function, a symbol, an instance of a class the
 * codec does not know) reaches the app's error handler as a typed error naming the attribute,
 * behind a real express app, instead of vanishing with a 200. express-session decides between
 * `set` and `touch` with a JSON hash, which does not see a function: the store checks both paths.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import session from 'express-session';
import { InMemoryNetwork, LazyReplicatedMap, ValueEncodeError } from '../../lib/index.js';
import { BackupSessionStore } from '../../lib/session/index.js';
import { closeServer } from './apps.js';

class Shape {
  constructor(readonly sides = 3) {}
}

/** What the app puts in the session, by the `put` query parameter. */
const PUTS: Record<string, (s: Record<string, unknown>) => void> = {
  user: (s) => {
    s.user = 'ada';
  },
  function: (s) => {
    s.callback = () => 'hi';
  },
  'function and user': (s) => {
    s.callback = () => 'hi';
    s.user = 'grace';
  },
  symbol: (s) => {
    s.marker = Symbol('x');
  },
  'nested function': (s) => {
    (s.prefs as Record<string, unknown>).format = (n: number) => n.toFixed(2);
  },
  'class instance': (s) => {
    s.shape = new Shape();
  },
};

describe('BackupSessionStore with attributes it cannot store, behind a real express app', () => {
  let server: Server | undefined;
  let map: LazyReplicatedMap<string> | undefined;
  let store: BackupSessionStore;
  let port: number;
  let cookie: string | undefined;
  const errors: unknown[] = [];

  async function serve(disableTouch = false): Promise<void> {
    const net = new InMemoryNetwork();
    map = new LazyReplicatedMap<string>({ name: 'sessions', transport: net.transport('a'), expirySweepIntervalMs: 0 });
    await map.start();
    store = new BackupSessionStore({ map, route: 'a', disableTouch });
    const app = express();
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    app.use(session({ store, secret: 'a secret of the test suite, long enough', genid: (req) => store.genid(req), resave: false, saveUninitialized: false, cookie: { maxAge: 60_000 } }));
    app.post('/login', (req, res) => {
      const s = req.session as unknown as Record<string, unknown>;
      s.user = 'ada';
      s.prefs = { lang: 'en' };
      res.json({ ok: true });
    });
    app.post('/put', (req, res) => {
      PUTS[req.query.what as string]!(req.session as unknown as Record<string, unknown>);
      res.json({ ok: true });
    });
    app.get('/me', (req, res) => {
      const { cookie: _c, ...attributes } = req.session as unknown as Record<string, unknown>;
      res.json(attributes);
    });
    // An app's error handler: express-session hands it a failed save or touch after the response
    // began, so it can only record (log, alert) what it hears.
    app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      errors.push(error);
      if (!res.headersSent) res.status(500).json({ error: String(error) });
    });
    server = createServer(app);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  }

  async function send(method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: cookie === undefined ? {} : { cookie } });
    const set = response.headers.get('set-cookie');
    if (set !== null) cookie = set.split(';')[0];
    const text = await response.text();
    return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  }

  /** Waits until the app's error handler has heard `n` errors (it hears them after the response). */
  async function heard(n: number): Promise<void> {
    while (errors.length < n) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  beforeEach(() => {
    errors.length = 0;
    cookie = undefined;
  });
  afterEach(async () => {
    if (server !== undefined) await closeServer(server);
    server = undefined;
    store.close();
    if (map?.state === 'running') await map.stop();
  });

  for (const [what, attribute] of [
    ['function', 'callback'],
    ['function and user', 'callback'],
    ['symbol', 'marker'],
    ['nested function', 'prefs'],
    ['class instance', 'shape'],
  ] as const) {
    it(`tells the app's error handler that the ${what} attribute cannot be stored, naming it, and keeps the stored session`, async () => {
      await serve();
      expect((await send('POST', '/login')).status).to.equal(200);
      await send('POST', `/put?what=${encodeURIComponent(what)}`);
      await heard(1);
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(ValueEncodeError);
      expect((errors[0] as Error).message).to.include(`session attribute '${attribute}' cannot be stored`);
      // Nothing of that request was saved; the session still serves.
      expect((await send('GET', '/me')).body).to.deep.equal({ user: 'ada', prefs: { lang: 'en' } });
    });
  }

  it('also with disableTouch, where a request that only reads writes nothing', async () => {
    await serve(true);
    await send('POST', '/login');
    await send('POST', '/put?what=function');
    await heard(1);
    expect(errors[0]).to.be.instanceOf(ValueEncodeError);
  });

  it('hears nothing for a session that only holds plain data', async () => {
    await serve();
    await send('POST', '/login');
    await send('POST', '/put?what=user');
    await send('GET', '/me');
    await send('GET', '/me');
    expect(errors).to.deep.equal([]);
  });
});
