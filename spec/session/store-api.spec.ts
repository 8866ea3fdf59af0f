import { expect } from 'chai';
import type { EntryInfo } from '../../lib/index.js';
import { SessionValue } from '../../lib/session/index.js';
import { Browser, members, type Cluster, type Member } from './apps.js';

const IDS = ['a', 'b', 'c'];
const MAX_AGE = 60_000;

describe('BackupSessionStore API behind real express apps', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });

  function withRole(sid: string, role: EntryInfo['role']): Member {
    const found = Object.values(c!.members).find((m) => m.map.state === 'running' && m.map.entryInfo(sid)?.role === role);
    expect(found, `a member with role ${role}`).to.not.equal(undefined);
    return found!;
  }

  async function login(browser: Browser, member: Member, user = 'ada'): Promise<string> {
    expect((await browser.send(member, 'POST', `/login?user=${user}`)).status).to.equal(200);
    await c!.net.settled();
    return browser.sid!;
  }

  it('returns promises when called without a callback', async () => {
    c = await members(IDS);
    const store = c.members.b!.store;
    const sid = await login(new Browser(), c.members.a!);
    const loaded = await store.get(sid);
    expect(loaded?.user).to.equal('ada');
    // The two-argument forms are typed as the callback overloads (left alone here): koa's forms.
    await store.set(sid, { ...loaded, theme: 'dark' }, undefined, {});
    await c.net.settled();
    expect((await c.members.c!.store.get(sid))?.theme).to.equal('dark');
    expect(await store.length()).to.equal(1);
    await store.destroy(sid, {});
    await c.net.settled();
    expect(await c.members.a!.store.get(sid)).to.equal(null);
  });

  it('calls callbacks in the check phase, after the immediates queued before the call (as MemoryStore does)', async () => {
    // Measured to cost less CPU per request than next-tick callbacks (docs/performance.md, "Store
    // callbacks in the check phase"); why is a hypothesis there.
    c = await members(IDS);
    const store = c.members.a!.store;
    const sid = await login(new Browser(), c.members.a!);
    const order: string[] = [];
    const both = new Promise<void>((resolve, reject) => {
      setImmediate(() => order.push('immediate queued first'));
      store.get(sid, (error, session) => {
        if (error !== null) reject(new Error('get failed', { cause: error }));
        order.push(`callback: ${String(session?.user)}`);
        resolve();
      });
    });
    await both;
    expect(order).to.deep.equal(['immediate queued first', 'callback: ada']);

    // An error is called back the same way.
    store.close();
    order.length = 0;
    await new Promise<void>((resolve) => {
      setImmediate(() => order.push('immediate queued first'));
      store.get(sid, (error) => {
        order.push(`callback: ${error instanceof Error ? error.name : 'no error'}`);
        resolve();
      });
    });
    expect(order).to.deep.equal(['immediate queued first', 'callback: StoppedError']);
  });

  it('lists the ids of the live sessions with ids(), without moving any', async () => {
    c = await members(IDS);
    const sids = [await login(new Browser(), c.members.a!), await login(new Browser(), c.members.b!)];
    expect((await c.members.c!.store.ids()).sort()).to.deep.equal([...sids].sort());
    const viaCallback = await new Promise<string[]>((resolve, reject) => {
      c!.members.a!.store.ids((error, ids) => { if (error === null) resolve(ids ?? []); else reject(new Error('ids() failed', { cause: error })); });
    });
    expect(viaCallback.sort()).to.deep.equal([...sids].sort());
    for (const m of Object.values(c.members)) expect(m.map.stats().promotions, `promotions on '${m.id}'`).to.equal(0);
  });

  it('asks a ttlMs function how long each session without a cookie lifetime lives', async () => {
    c = await members(IDS, { maxAge: null, ttlMs: (s) => (s.user === 'vip' ? 20_000 : 10_000) });
    const ada = new Browser();
    const vip = new Browser();
    await login(ada, c.members.a!, 'ada');
    await login(vip, c.members.a!, 'vip');
    c.clock.time += 15_000;
    expect((await ada.send(c.members.b!, 'GET', '/me')).body.user).to.equal(null);
    expect((await vip.send(c.members.b!, 'GET', '/me')).body.user).to.equal('vip');
  });

  describe('disableTouch', () => {
    it('makes a read send nothing and not extend the session; a save starts its lifetime again', async () => {
      c = await members(IDS, { disableTouch: true });
      const browser = new Browser();
      const sid = await login(browser, c.members.a!);
      const primary = withRole(sid, 'primary');

      c.clock.time += MAX_AGE / 2;
      const before = c.net.stats();
      expect((await browser.send(primary, 'GET', '/me')).body.user).to.equal('ada');
      await c.net.settled();
      expect(c.net.stats().messages - before.messages, 'messages for a read (touch)').to.equal(0);

      c.clock.time += MAX_AGE / 2;
      expect((await browser.copy().send(primary, 'GET', '/me')).body.user, 'the read did not extend it').to.equal(null);

      const other = new Browser();
      await login(other, c.members.a!, 'bob');
      c.clock.time += MAX_AGE - 1_000;
      await other.send(c.members.a!, 'POST', '/set?name=theme&value=dark');
      await c.net.settled();
      c.clock.time += MAX_AGE - 1_000;
      expect((await other.send(c.members.b!, 'GET', '/me')).body.user, 'the save started it again').to.equal('bob');
    });
  });

  describe('nothing added to the stored session', () => {
    it('stores an express cookie with a maxAge without its moving expires', async () => {
      c = await members(IDS);
      const sid = await login(new Browser(), c.members.a!);
      const value = (await c.members.b!.map.get(sid, { promote: false })) as SessionValue;
      const cookie = Object.fromEntries(value.entries('cookie'));
      // express-session sets originalMaxAge from its own expires minus a second Date.now() (the
      // setter of `expires`, cookie.js), so it is MAX_AGE, or less by the milliseconds that passed
      // between the two reads of its clock: what is checked here is that the store kept it.
      expect(cookie.originalMaxAge).to.be.a('number').within(MAX_AGE - 1_000, MAX_AGE);
      expect(cookie).to.not.have.property('expires');
      expect([...value.entries('attribute')].map(([name]) => name)).to.deep.equal(['user']);
    });

    it('stores and reads back a session without cookie (koa style) without a cookie key', async () => {
      c = await members(IDS);
      const store = c.members.a!.store;
      const sid = store.genid();
      await store.set(sid, { user: 'ada', _expire: 1, _maxAge: 5_000 }, 5_000, { rolling: false });
      await c.net.settled();
      const read = await c.members.b!.store.get(sid);
      expect(read).to.deep.equal({ user: 'ada', _expire: 1, _maxAge: 5_000 });
      expect(await c.members.b!.map.get(sid, { promote: false })).to.satisfy((v: SessionValue) => v.entries('cookie').length === 0);
    });
  });
});
