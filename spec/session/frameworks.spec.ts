import { expect } from 'chai';
import type { EntryInfo } from '../../lib/index.js';
import { SessionValue } from '../../lib/session/index.js';
import { Browser, members, type Cluster, type Framework, type Member } from './apps.js';
import { koaErrors } from './koa-app.js';

const IDS = ['a', 'b', 'c'];
const MAX_AGE = 60_000;
/** koa-session hands its store `maxAge + 10 s` so the store outlives the cookie a little. */
const KOA_STORE_SLACK_MS = 10_000;

describe('BackupSessionStore behind real fastify and koa apps', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });

  function withRole(sid: string, role: EntryInfo['role']): Member {
    const found = Object.values(c!.members).find((m) => m.map.state === 'running' && m.map.entryInfo(sid)?.role === role);
    expect(found, `a member with role ${role} for the session`).to.not.equal(undefined);
    return found!;
  }

  async function login(browser: Browser, member: Member, user = 'ada'): Promise<string> {
    const answer = await browser.send(member, 'POST', `/login?user=${user}`);
    expect(answer.status).to.equal(200);
    await c!.net.settled();
    expect(browser.sid, 'a session cookie').to.be.a('string');
    return browser.sid!;
  }

  /** The idle limit the store gave the session, read from the map on its primary. */
  async function storedIdleLimit(sid: string): Promise<number | undefined> {
    const value = await withRole(sid, 'primary').map.get(sid, { promote: false });
    expect(value).to.be.instanceOf(SessionValue);
    return (value as SessionValue).maxInactiveMs;
  }

  for (const framework of ['fastify', 'koa'] as Framework[]) {
    /** How long the session lives idle, as the framework asks the store. */
    const idle = framework === 'koa' ? MAX_AGE + KOA_STORE_SLACK_MS : MAX_AGE;

    describe(framework, () => {
      it('serves a login made on one member through another, and through a survivor once the first crashed', async () => {
        c = await members(IDS, { framework });
        const browser = new Browser(framework);
        const sid = await login(browser, c.members.a!);
        expect(sid).to.match(/^[A-Za-z0-9_-]{32}\.a$/);

        expect((await browser.send(c.members.b!, 'GET', '/me')).body.user, 'read through b').to.equal('ada');
        await c.net.settled();
        expect(c.members.b!.map.entryInfo(sid)?.role, 'b serves it now').to.equal('primary');

        c.net.crash('b');
        await c.net.settled();
        expect((await browser.send(c.members.c!, 'GET', '/me')).body.user, 'read through c after b crashed').to.equal('ada');
        await c.net.settled();
        expect((await browser.send(c.members.a!, 'GET', '/me')).body.user, 'and through a').to.equal('ada');
        expect(browser.sid, 'the same session throughout').to.equal(sid);
      });

      it('never serves an expired session through any member, the backup that still holds a copy included', async () => {
        c = await members(IDS, { framework });
        const browser = new Browser(framework);
        const sid = await login(browser, c.members.a!);
        expect(await storedIdleLimit(sid)).to.equal(idle);
        // A use just before the limit keeps it alive: the limit is an idle limit.
        c.clock.time += idle - 1;
        expect((await browser.copy().send(c.members.a!, 'GET', '/me')).body.user).to.equal('ada');
        await c.net.settled();

        c.clock.time += idle;
        const backup = withRole(sid, 'backup');
        const proxy = withRole(sid, 'proxy');
        for (const m of [backup, proxy, c.members.a!]) {
          // A copy of the browser each time: a member that refuses the session may clear the cookie.
          expect((await browser.copy().send(m, 'GET', '/me')).body.user, `served by '${m.id}'`).to.equal(null);
          await c.net.settled();
        }
        for (const m of Object.values(c.members)) await m.map.sweep();
        await c.net.settled();
        for (const m of Object.values(c.members)) expect(m.map.has(sid), `'${m.id}' knows it`).to.equal(false);
      });

      it('logs out everywhere', async () => {
        c = await members(IDS, { framework });
        const browser = new Browser(framework);
        const sid = await login(browser, c.members.a!);
        await browser.send(c.members.b!, 'POST', '/set?name=theme&value=dark');
        await c.net.settled();
        expect((await browser.send(c.members.c!, 'GET', '/attributes')).body).to.deep.equal({ user: 'ada', theme: 'dark' });
        await c.net.settled();

        expect((await browser.copy().send(c.members.a!, 'POST', '/logout')).status).to.equal(200);
        await c.net.settled();
        for (const m of Object.values(c.members)) {
          expect(m.map.has(sid), `'${m.id}' knows the session`).to.equal(false);
          expect((await browser.copy().send(m, 'GET', '/me')).body.user, `logged in on '${m.id}'`).to.equal(null);
        }
      });
    });
  }

  describe('koa', () => {
    it('gets koa\u2019s maxAge in set, and no request fails or leaves an unhandled rejection', async () => {
      const rejections: unknown[] = [];
      const onRejection = (reason: unknown): void => { rejections.push(reason); };
      process.on('unhandledRejection', onRejection);
      koaErrors.length = 0;
      try {
        c = await members(IDS, { framework: 'koa' });
        const seen: unknown[][] = [];
        const store = c.members.a!.store;
        const set = store.set.bind(store) as (...args: unknown[]) => unknown;
        (store as unknown as { set: (...args: unknown[]) => unknown }).set = (...args: unknown[]) => {
          seen.push(args.slice(2).map((a) => (typeof a === 'object' && a !== null ? Object.keys(a).sort().join() : a)));
          return set(...args);
        };
        const browser = new Browser('koa');
        const sid = await login(browser, c.members.a!);
        for (const path of ['/set?name=x&value=1', '/set?name=y&value=2']) {
          expect((await browser.send(c.members.a!, 'POST', path)).status).to.equal(200);
          await c.net.settled();
        }
        expect((await browser.send(c.members.b!, 'GET', '/attributes')).body).to.deep.equal({ user: 'ada', x: '1', y: '2' });

        expect(seen, 'koa-session calls set(sid, session, maxAge, { changed, ctx, rolling })').to.deep.equal([
          [MAX_AGE + KOA_STORE_SLACK_MS, 'changed,ctx,rolling'],
          [MAX_AGE + KOA_STORE_SLACK_MS, 'changed,ctx,rolling'],
          [MAX_AGE + KOA_STORE_SLACK_MS, 'changed,ctx,rolling'],
        ]);
        expect(await storedIdleLimit(sid)).to.equal(MAX_AGE + KOA_STORE_SLACK_MS);
        // A tick for any rejection left behind to be reported.
        await new Promise<void>((resolve) => setImmediate(resolve));
        expect(koaErrors.map((e) => String(e.error)), 'errors koa reported').to.deep.equal([]);
        expect(rejections.map(String), 'unhandled rejections').to.deep.equal([]);
      } finally {
        process.off('unhandledRejection', onRejection);
      }
    });

    it('stores a session without a cookie as it is, with nothing added', async () => {
      c = await members(IDS, { framework: 'koa' });
      const sid = await login(new Browser('koa'), c.members.a!);
      const value = (await c.members.a!.map.get(sid, { promote: false })) as SessionValue;
      expect([...value.entries('cookie')], 'no cookie fields').to.deep.equal([]);
      const loaded = await c.members.b!.store.get(sid);
      expect(loaded).to.not.have.property('cookie');
      expect(Object.keys(loaded ?? {}).sort()).to.deep.equal(['_expire', '_maxAge', 'user']);
    });
  });

  describe('fastify', () => {
    it('keeps both changes of two requests that loaded the session together and change different attributes', async () => {
      c = await members(IDS, { framework: 'fastify' });
      const a = c.members.a!;
      const browser = new Browser('fastify');
      await login(browser, a);
      const first = browser.copy().send(a, 'POST', '/hold?name=x&value=1');
      const second = browser.copy().send(a, 'POST', '/hold?name=y&value=2');
      await a.held.whenParked(2);
      a.held.releaseAll();
      expect((await Promise.all([first, second])).map((r) => r.status)).to.deep.equal([200, 200]);
      await c.net.settled();

      for (const m of Object.values(c.members)) {
        expect((await browser.send(m, 'GET', '/attributes')).body, `on '${m.id}'`).to.deep.equal({ user: 'ada', x: '1', y: '2' });
        await c.net.settled();
      }
    });

    it('sends no map message for a request that only reads, on the session\u2019s primary', async () => {
      c = await members(IDS, { framework: 'fastify' });
      const browser = new Browser('fastify');
      const sid = await login(browser, c.members.a!);
      const primary = withRole(sid, 'primary');
      const before = c.net.stats();
      expect((await browser.send(primary, 'GET', '/me')).body.user).to.equal('ada');
      await c.net.settled();
      const after = c.net.stats();
      expect(after.messages - before.messages, JSON.stringify(after.byType)).to.equal(0);
    });
  });
});
