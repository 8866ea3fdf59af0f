/**
 * What every sessions benchmark shares: the session a logged-in user carries, and the express
 * app that serves it (bench/session-app.ts over TCP, bench/session-rung.ts in one process).
 *
 * @module
 */
import express from 'express';
import session, { type Store } from 'express-session';

/**
 * What a logged-in user's session carries besides the counter (a profile, a few preferences):
 * about 1 KB, set once when the session is created. connect-redis rewrites all of it on every
 * save; our store sends only the attributes a request changed.
 */
export const PROFILE = {
  name: 'A. N. Example',
  email: 'a.n.example@example.com',
  roles: ['reader', 'writer'],
  preferences: { theme: 'dark', language: 'en-GB', timezone: 'Europe/London' },
  recent: Array.from({ length: 16 }, (_, i) => `/articles/${String(1000 + i)}/a-reasonably-long-slug-${String(i)}`),
};

/** The request's session as a bag of attributes (no global SessionData augmentation in bench/). */
const attributes = (req: express.Request): Record<string, unknown> => req.session as unknown as Record<string, unknown>;

/**
 * An express app on express-session with `store`, answering two routes:
 * - `GET /write` increments the session's counter (creating the session on first use) and answers
 *   the new value: express-session saves the session (`store.set`).
 * - `GET /read` answers the counter without changing anything: express-session only touches the
 *   session (`store.touch`), as it does for most requests of a real app.
 * @param genid the store's id generator, when it has one (ours: `<random>.<route>`, so a load
 *   balancer routes by suffix).
 */
export function sessionApp(store: Store, genid?: () => string): express.Express {
  const app = express();
  app.set('etag', false);
  app.use(
    session({
      store,
      name: 'sid',
      secret: 'the express-session secret of the sessions benchmark',
      ...(genid === undefined ? {} : { genid }),
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 30 * 60 * 1000 },
    }),
  );
  app.get('/write', (req, res) => {
    const s = attributes(req);
    if (s['profile'] === undefined) s['profile'] = PROFILE;
    const n = (typeof s['n'] === 'number' ? s['n'] : 0) + 1;
    s['n'] = n;
    res.type('text/plain').send(String(n));
  });
  app.get('/read', (req, res) => {
    const n = attributes(req)['n'];
    res.type('text/plain').send(String(typeof n === 'number' ? n : 0));
  });
  return app;
}
