import { expect } from 'chai';
import type { SessionData } from 'express-session';
import { BACKUP_IDLE_FACTOR, StoppedError, type EntryInfo, type NetworkStats } from '../../lib/index.js';
import { BackupSessionStore, SessionValue } from '../../lib/session/index.js';
import { Browser, FakeTimers, members, type Cluster, type Member } from './apps.js';

const IDS = ['a', 'b', 'c'];
const MAX_AGE = 60_000;

/** Bytes and messages the network delivered between two snapshots, in total and by type. */
function delivered(before: NetworkStats, after: NetworkStats): { bytes: number; byType: Record<string, { messages: number; bytes: number }> } {
  const byType: Record<string, { messages: number; bytes: number }> = {};
  for (const [type, s] of Object.entries(after.byType)) {
    const b = before.byType[type] ?? { messages: 0, bytes: 0 };
    if (s.messages > b.messages) byType[type] = { messages: s.messages - b.messages, bytes: s.bytes - b.bytes };
  }
  return { bytes: after.bytes - before.bytes, byType };
}

describe('BackupSessionStore behind real express apps', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });

  /** The member with `role` for the session `sid`. */
  function withRole(sid: string, role: EntryInfo['role']): Member {
    const found = Object.values(c!.members).find((m) => m.map.state === 'running' && m.map.entryInfo(sid)?.role === role);
    expect(found, `a member with role ${role} for the session`).to.not.equal(undefined);
    return found!;
  }

  /** Every running member's view of where `sid` lives. */
  function placement(sid: string): Record<string, EntryInfo | undefined> {
    return Object.fromEntries(Object.values(c!.members).filter((m) => m.map.state === 'running').map((m) => [m.id, m.map.entryInfo(sid)]));
  }

  async function login(browser: Browser, member: Member, user = 'ada'): Promise<string> {
    const answer = await browser.send(member, 'POST', `/login?user=${user}`);
    expect(answer.status).to.equal(200);
    await c!.net.settled();
    return browser.sid!;
  }

  describe('sessions across members', () => {
    it('gives ids that end with the route of the member that created them', async () => {
      c = await members(IDS);
      const browser = new Browser();
      const sid = await login(browser, c.members.b!);
      expect(sid).to.match(/^[A-Za-z0-9_-]{32}\.b$/);
      expect((await browser.send(c.members.b!, 'GET', '/me')).body.sid).to.equal(sid);
    });

    it('reads a login made on one member through another that knows it only as a proxy', async () => {
      c = await members(IDS);
      const browser = new Browser();
      const sid = await login(browser, c.members.a!);
      const proxy = withRole(sid, 'proxy');

      const me = await browser.send(proxy, 'GET', '/me');
      expect(me.body).to.deep.include({ user: 'ada', sid, member: proxy.id });
      await c.net.settled();
      expect(proxy.map.entryInfo(sid)?.role, 'the session moved to the member serving it').to.equal('primary');
      expect(browser.sid, 'the same session, no new cookie').to.equal(sid);
    });

    it('keeps the user logged in on every survivor when the member that logged them in crashes', async () => {
      c = await members(IDS);
      const browser = new Browser();
      const sid = await login(browser, c.members.a!);
      c.net.crash('a');
      await c.net.settled();

      for (const id of ['b', 'c']) {
        const me = await browser.send(c.members[id]!, 'GET', '/me');
        expect(me.body, `on '${id}'`).to.deep.include({ user: 'ada', sid });
        await c.net.settled();
      }
      expect(browser.sid).to.equal(sid);
    });

    it('merges a change saved on another member into the session, and logs out everywhere', async () => {
      c = await members(IDS);
      const browser = new Browser();
      const sid = await login(browser, c.members.a!);
      await browser.send(c.members.b!, 'POST', '/set?name=theme&value=dark');
      await c.net.settled();
      expect((await browser.send(c.members.c!, 'GET', '/attributes')).body).to.deep.equal({ user: 'ada', theme: 'dark' });

      await browser.send(c.members.a!, 'POST', '/logout');
      await c.net.settled();
      for (const m of Object.values(c.members)) {
        expect(m.map.has(sid), `'${m.id}' knows the session`).to.equal(false);
        expect((await browser.send(m, 'GET', '/me')).body.user, `logged in on '${m.id}'`).to.equal(null);
      }
    });
  });

  describe('over a ReplicatedMap', () => {
    it('writes a save made on a member that holds a copy (reads do not make it primary there)', async () => {
      c = await members(IDS, { replicated: true });
      const browser = new Browser();
      const sid = await login(browser, c.members.a!);
      expect(c.members.b!.map.entryInfo(sid)?.role).to.equal('copy');
      await browser.send(c.members.b!, 'POST', '/set?name=theme&value=dark');
      await c.net.settled();
      for (const m of Object.values(c.members)) {
        expect((await browser.send(m, 'GET', '/attributes')).body, `on '${m.id}'`).to.deep.equal({ user: 'ada', theme: 'dark' });
      }
      await browser.send(c.members.b!, 'POST', '/set?name=theme&value=light');
      await c.net.settled();
      expect((await browser.send(c.members.c!, 'GET', '/attributes')).body.theme, 'a second save on the new primary').to.equal('light');
    });
  });

  describe('delta replication', () => {
    it('sends the backup under 1 KB when a request changes one attribute of a 50 KB session', async () => {
      c = await members(IDS);
      const a = c.members.a!;
      const browser = new Browser();
      const sid = await login(browser, a);
      let before = c.net.stats();
      await browser.send(a, 'POST', '/big?size=50000');
      await c.net.settled();
      const whole = delivered(before, c.net.stats());
      expect(whole.bytes, 'adding the big attribute sent it (a diff of 50 KB)').to.be.above(50_000);

      before = c.net.stats();
      await browser.send(a, 'POST', '/set?name=theme&value=dark');
      await c.net.settled();
      const change = delivered(before, c.net.stats());

      expect(change.bytes, `bytes delivered for the change: ${JSON.stringify(change.byType)}`).to.be.below(1024);
      expect(change.byType.MSG_DIFF?.messages, 'one diff, to the backup').to.equal(1);
      expect(change.byType.MSG_BACKUP, 'no whole session').to.equal(undefined);
      const backup = withRole(sid, 'backup');
      const copy = (await backup.map.get(sid, { promote: false })) as SessionValue;
      expect(copy).to.be.instanceOf(SessionValue);
      expect(copy.get('attribute', 'theme')).to.equal('dark');
      expect(copy.get('attribute', 'big')).to.have.length(50_000);
      // And through a proxy, whole.
      const attrs = (await browser.send(withRole(sid, 'proxy'), 'GET', '/attributes')).body;
      expect(attrs.theme).to.equal('dark');
      expect(attrs.big).to.have.length(50_000);
    });

    it('sends only an access notice for a request that changes nothing, and moves the expiry on the backup', async () => {
      c = await members(IDS);
      const a = c.members.a!;
      const browser = new Browser();
      const sid = await login(browser, a);
      await browser.send(a, 'POST', '/big?size=50000');
      await c.net.settled();
      const backup = withRole(sid, 'backup');
      c.clock.time += 30_000;
      const before = c.net.stats();

      expect((await browser.send(a, 'GET', '/me')).body.user).to.equal('ada');
      await c.net.settled();

      const sent = delivered(before, c.net.stats());
      expect(Object.keys(sent.byType).sort()).to.deep.equal(['MSG_ACCESS', 'MSG_ACK']);
      expect(sent.bytes).to.be.below(200);
      expect(backup.map.lastAccess(sid)).to.equal(c.clock.time);
    });
  });

  describe('concurrent requests on one session', () => {
    it('keeps both changes of two requests that loaded the session together and change different attributes', async () => {
      c = await members(IDS);
      const a = c.members.a!;
      const browser = new Browser();
      await login(browser, a);
      const first = browser.send(a, 'POST', '/hold?name=x&value=1');
      const second = browser.send(a, 'POST', '/hold?name=y&value=2');
      await a.held.whenParked(2);
      a.held.releaseAll();
      await Promise.all([first, second]);
      await c.net.settled();

      for (const m of Object.values(c.members)) {
        expect((await browser.send(m, 'GET', '/attributes')).body, `on '${m.id}'`).to.deep.equal({ user: 'ada', x: '1', y: '2' });
        await c.net.settled();
      }
    });

    it('keeps the later save of two requests that change the same attribute (last writer wins), on every member', async () => {
      c = await members(IDS);
      const a = c.members.a!;
      const browser = new Browser();
      const sid = await login(browser, a);
      const first = browser.send(a, 'POST', '/hold?name=x&value=first');
      await a.held.whenParked(1);
      const second = browser.send(a, 'POST', '/hold?name=x&value=second');
      await a.held.whenParked(2);
      a.held.releaseAll();
      await Promise.all([first, second]);
      await c.net.settled();

      for (const m of Object.values(c.members)) {
        const value = (await m.map.get(sid, { promote: false })) as SessionValue;
        expect(value.get('attribute', 'x'), `on '${m.id}'`).to.equal('second');
        expect(value.get('attribute', 'user'), `on '${m.id}'`).to.equal('ada');
      }
    });
  });

  describe('all() and length()', () => {
    it('list the live sessions of every member without moving any', async () => {
      c = await members(IDS);
      const sids: string[] = [];
      for (const id of IDS) sids.push(await login(new Browser(), c.members[id]!, `user-${id}`));
      const where = sids.map(placement);
      const store = c.members.c!.store;

      const all = (await store.all()) as Record<string, SessionData>;
      const length = await store.length();

      expect(Object.keys(all).sort()).to.deep.equal([...sids].sort());
      for (const [i, sid] of sids.entries()) expect((all[sid] as unknown as { user: string }).user).to.equal(`user-${IDS[i]!}`);
      expect(length).to.equal(3);
      await c.net.settled();
      expect(sids.map(placement), 'no session moved').to.deep.equal(where);
      for (const m of Object.values(c.members)) expect(m.map.stats().promotions, `promotions on '${m.id}'`).to.equal(0);
    });

    it('leave out sessions past their expiry', async () => {
      c = await members(IDS);
      await login(new Browser(), c.members.a!, 'old');
      c.clock.time += MAX_AGE / 2;
      const fresh = await login(new Browser(), c.members.b!, 'new');
      c.clock.time += MAX_AGE / 2 + 1;
      const store = c.members.c!.store;
      const all = (await store.all()) as Record<string, SessionData>;
      expect(Object.keys(all)).to.deep.equal([fresh]);
      expect(await store.length()).to.equal(1);
    });
  });

  describe('expiry', () => {
    it('never returns a session past its expiry, through any member, and deletes it everywhere', async () => {
      c = await members(IDS);
      const browser = new Browser();
      const sid = await login(browser, c.members.a!);
      c.clock.time += MAX_AGE;
      const proxy = withRole(sid, 'proxy');

      expect((await browser.send(proxy, 'GET', '/me')).body.user).to.equal(null);
      await c.net.settled();
      for (const m of Object.values(c.members)) expect(m.map.has(sid), `'${m.id}' knows the session`).to.equal(false);
    });

    it('keeps a session in use alive past its first expiry, also when read through a proxy', async () => {
      c = await members(IDS);
      const browser = new Browser();
      const sid = await login(browser, c.members.a!);
      c.clock.time += MAX_AGE - 10_000;
      expect((await browser.send(c.members.a!, 'GET', '/me')).body.user, 'used just in time').to.equal('ada');
      await c.net.settled();
      c.clock.time += MAX_AGE - 10_000;
      // Past the login's expiry, within the last use's: the holder reports its idle time.
      expect((await browser.send(withRole(sid, 'proxy'), 'GET', '/me')).body.user).to.equal('ada');
    });

    it('is swept by its primary at its expiry; its backup keeps it until the primary\u2019s deadline surely passed', async () => {
      c = await members(IDS);
      const sid = await login(new Browser(), c.members.a!);
      const primary = withRole(sid, 'primary');
      const backup = withRole(sid, 'backup');

      // The backup hears of uses lazily, so it waits 1.5 idle limits and the sweep grace (2 s).
      c.clock.time += MAX_AGE * BACKUP_IDLE_FACTOR;
      expect(await backup.store.sweep(), 'the backup keeps it at 1.5 lifetimes').to.equal(0);
      await c.net.settled();
      for (const m of Object.values(c.members)) expect(m.map.has(sid), `'${m.id}' still knows it`).to.equal(true);
      expect(await primary.store.sweep(), 'the primary sweeps it').to.equal(1);
      await c.net.settled();
      for (const m of Object.values(c.members)) expect(m.map.has(sid), `'${m.id}' knows it after the sweep`).to.equal(false);

      const other = await login(new Browser(), c.members.a!);
      // The session's lifetime as express-session gave it: its cookie's originalMaxAge, which it
      // computes from two reads of the wall clock, so MAX_AGE or a millisecond or two less. Read on
      // the primary at the login's (fake) time, so it moves no deadline.
      const stored = (await withRole(other, 'primary').map.get(other)) as SessionValue;
      const lifetime = Object.fromEntries(stored.entries('cookie')).originalMaxAge as number;
      expect(lifetime).to.be.within(MAX_AGE - 1_000, MAX_AGE);
      c.net.crash(withRole(other, 'primary').id);
      await c.net.settled();
      const survivor = Object.values(c.members).find((m) => m.map.state === 'running' && m.map.entryInfo(other)?.role === 'backup');
      expect(survivor, 'a member still holds a backup copy').to.not.equal(undefined);
      c.clock.time += lifetime * BACKUP_IDLE_FACTOR + 2_000 - 1;
      expect(await survivor!.store.sweep(), 'not yet').to.equal(0);
      c.clock.time += 1;
      expect(await survivor!.store.sweep(), 'a backup sweeps its copy once the primary\u2019s deadline surely passed').to.equal(1);
    });

    it('gives a session whose cookie sets no lifetime the store\u2019s ttlMs', async () => {
      c = await members(IDS, { maxAge: null, ttlMs: 10_000 });
      const browser = new Browser();
      await login(browser, c.members.a!);
      c.clock.time += 9_999;
      expect((await browser.send(c.members.a!, 'GET', '/me')).body.user).to.equal('ada');
      await c.net.settled();
      c.clock.time += 10_000;
      expect((await browser.send(c.members.a!, 'GET', '/me')).body.user).to.equal(null);
    });

    it('is swept on the map\u2019s timer, and close() refuses later calls', async () => {
      const timers = new FakeTimers();
      c = await members(IDS, { timers });
      expect([...timers.active.values()].map((t) => t.ms), 'one sweep timer per map').to.deep.equal([1000, 1000, 1000]);
      const sid = await login(new Browser(), c.members.a!);
      c.clock.time += MAX_AGE;
      timers.fire();
      await c.net.settled();
      for (const m of Object.values(c.members)) expect(m.map.has(sid), `'${m.id}' knows it`).to.equal(false);

      const store = c.members.a!.store;
      store.close();
      const error = await store.get('any').then(() => undefined, (e: unknown) => e);
      expect(error).to.be.instanceOf(StoppedError);
      // A closed store's sweep rejects too, rather than throwing at the caller.
      let swept: Promise<number> | undefined;
      expect(() => (swept = store.sweep())).not.to.throw();
      expect(await swept?.then(() => undefined, (e: unknown) => e)).to.be.instanceOf(StoppedError);
      await c.close();
      expect(timers.active.size, 'no timer left behind once the maps stopped').to.equal(0);
    });
  });

  describe('construction', () => {
    it('rejects a route that cannot end a session id, and bad lifetimes, naming the option', async () => {
      c = await members(['a']);
      const map = c.members.a!.map;
      for (const route of ['', 'a.b', 'node 1', 'x'.repeat(65), 'ü']) {
        expect(() => new BackupSessionStore({ map, route }), JSON.stringify(route)).to.throw(TypeError, 'option `route`');
      }
      for (const ttlMs of [0, -1, Number.NaN]) expect(() => new BackupSessionStore({ map, route: 'a', ttlMs })).to.throw(RangeError, '`ttlMs`');
      expect(() => new BackupSessionStore({ map, route: 'a', ttlMs: 'long' as unknown as number })).to.throw(RangeError, '`ttlMs`');
    });
  });
});
