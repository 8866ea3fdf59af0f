import { expect } from 'chai';
import type { StoredSession } from '../../lib/session/index.js';
import { SessionValue } from '../../lib/session/index.js';
import { members, type Cluster } from './apps.js';

const IDS = ['a', 'b', 'c'];

/** What member `id` holds of session `sid`, read without moving it. */
async function held(c: Cluster, id: string, sid: string): Promise<Record<string, unknown>> {
  const value = await c.members[id]!.map.get(sid, { promote: false });
  expect(value).to.be.instanceOf(SessionValue);
  return Object.fromEntries((value as SessionValue).entries('attribute'));
}

describe('BackupSessionStore: what a request gets is its own copy', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });

  const cookie = { originalMaxAge: 60_000, path: '/', httpOnly: true };
  const profile = (): Record<string, unknown> => ({ name: 'ada', roles: ['reader'], prefs: { theme: 'dark' } });

  it('changes nothing stored when the app changes a loaded session in place, until it saves it', async () => {
    c = await members(IDS);
    const store = c.members.a!.store;
    const sid = store.genid();
    await store.set(sid, { cookie, profile: profile(), n: 1 });
    await c.net.settled();

    const loaded = (await store.get(sid))!;
    (loaded.profile as { roles: string[] }).roles.push('admin');
    (loaded.profile as { prefs: Record<string, string> }).prefs.theme = 'light';
    (loaded.cookie as Record<string, unknown>).path = '/changed';
    expect((await store.get(sid))?.profile, 'a second load').to.deep.equal(profile());
    expect(((await store.get(sid))?.cookie as { path?: string } | undefined)?.path, 'the cookie').to.equal('/');
    expect((await held(c, 'a', sid)).profile, 'the primary').to.deep.equal(profile());

    // A touch is a use, not a save: the change stays the request's.
    await store.touch(sid, loaded);
    await c.net.settled();
    for (const id of IDS) expect((await held(c, id, sid)).profile, `held by ${id} after a touch`).to.deep.equal(profile());

    // The save of the loaded session stores the change, on every holder.
    await store.set(sid, loaded);
    await c.net.settled();
    const saved = { ...profile(), roles: ['reader', 'admin'], prefs: { theme: 'light' } };
    expect((await store.get(sid))?.profile).to.deep.equal(saved);
    const backup = IDS.find((id) => id !== 'a' && c!.members[id]!.map.entryInfo(sid)?.role === 'backup');
    expect(backup, 'a backup').to.not.equal(undefined);
    expect((await held(c, backup!, sid)).profile, 'the backup').to.deep.equal(saved);
  });

  it('keeps what a save stored when the app changes the saved object afterwards', async () => {
    c = await members(IDS);
    const store = c.members.a!.store;
    const sid = store.genid();
    const session: StoredSession = { cookie, profile: profile() };
    await store.set(sid, session);
    (session.profile as { roles: string[] }).roles.push('admin');
    const loaded = (await store.get(sid))!;
    expect(loaded.profile).to.deep.equal(profile());
    // And a later save of that request's changes still sees the first as stored.
    (loaded.profile as { name: string }).name = 'grace';
    await store.set(sid, loaded);
    expect((await store.get(sid))?.profile).to.deep.equal({ ...profile(), name: 'grace' });
  });

  it('hands out copies of values that are not plain data too (through the codec), with their class', async () => {
    c = await members(IDS);
    const store = c.members.a!.store;
    const sid = store.genid();
    await store.set(sid, { cookie, at: new Date(1_000), seen: new Map([['x', [1]]]), tags: new Set(['t']) });
    const loaded = (await store.get(sid))!;
    expect(loaded.at).to.be.instanceOf(Date);
    expect(loaded.seen).to.be.instanceOf(Map);
    expect(loaded.tags).to.be.instanceOf(Set);
    (loaded.at as Date).setTime(2_000);
    (loaded.seen as Map<string, number[]>).get('x')!.push(2);
    (loaded.tags as Set<string>).add('u');
    const again = (await store.get(sid))!;
    expect((again.at as Date).getTime()).to.equal(1_000);
    expect([...(again.seen as Map<string, number[]>)]).to.deep.equal([['x', [1]]]);
    expect([...(again.tags as Set<string>)]).to.deep.equal(['t']);
  });

  it('gives an attribute named __proto__ back as an own attribute, not as the prototype', async () => {
    c = await members(IDS);
    const store = c.members.a!.store;
    const sid = store.genid();
    await store.set(sid, JSON.parse('{"cookie": {"originalMaxAge": 60000}, "__proto__": {"polluted": true}}') as StoredSession);
    const loaded = (await store.get(sid))!;
    expect(Object.getPrototypeOf(loaded)).to.equal(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(loaded, '__proto__')?.value).to.deep.equal({ polluted: true });
    expect((loaded as { polluted?: unknown }).polluted).to.equal(undefined);
  });
});
