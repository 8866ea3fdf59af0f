import { expect } from 'chai';
import type { LazyReplicatedMap } from '../../lib/index.js';
import { SessionValue } from '../../lib/session/index.js';
import { members, type Cluster } from './apps.js';

const IDS = ['a', 'b', 'c'];
const cookie = (maxAge = 60_000): Record<string, unknown> => ({ originalMaxAge: maxAge, path: '/', httpOnly: true });

/** Counts the `get`s of `map` from now on. */
function countGets(map: LazyReplicatedMap<string>): { count: number } {
  const counter = { count: 0 };
  const get = map.get.bind(map);
  map.get = (...args: Parameters<typeof get>) => {
    counter.count++;
    return get(...args);
  };
  return counter;
}

describe('BackupSessionStore: touch at the end of a request that only read', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });

  it('counts a use of the session it loaded without reading it again', async () => {
    c = await members(IDS);
    const { store, map } = c.members.a!;
    const sid = store.genid();
    await store.set(sid, { cookie: cookie(), user: 'ada' });
    await c.net.settled();
    const gets = countGets(map);
    const loaded = (await store.get(sid))!;
    c.clock.time += 5_000;
    await store.touch(sid, loaded);
    expect(gets.count, 'map reads for one load and one touch').to.equal(1);
    expect(map.lastAccess(sid), 'the use is counted').to.equal(c.clock.time);
    expect(map.entryInfo(sid)?.role).to.equal('primary');
  });

  it('writes the session with the lifetime a touch asks for when it is not the one loaded', async () => {
    c = await members(IDS);
    const { store, map } = c.members.a!;
    const sid = store.genid();
    await store.set(sid, { cookie: cookie(60_000), user: 'ada' });
    const loaded = (await store.get(sid))!;
    await store.touch(sid, { ...loaded, cookie: cookie(120_000) });
    await c.net.settled();
    for (const m of IDS.map((id) => c!.members[id]!.map).filter((m) => m.entryInfo(sid)?.role !== 'proxy')) {
      const held = (await m.get(sid, { promote: false })) as SessionValue;
      expect(held.maxInactiveMs, `idle limit on ${m.id}`).to.equal(120_000);
    }
    expect(map.entryInfo(sid)?.role).to.equal('primary');
  });

  it('tells the primary of the use when the session moved to another member meanwhile, and leaves it there', async () => {
    c = await members(IDS);
    const a = c.members.a!;
    const b = c.members.b!;
    const sid = a.store.genid();
    await a.store.set(sid, { cookie: cookie(), user: 'ada' });
    const loaded = (await a.store.get(sid))!;
    // A request on b loads the session (b becomes its primary) before a's request ends.
    await b.store.get(sid);
    await c.net.settled();
    expect(a.map.entryInfo(sid)?.primary).to.equal('b');
    c.clock.time += 5_000;
    await a.store.touch(sid, loaded);
    await c.net.settled();
    expect(b.map.entryInfo(sid)?.role, 'a touch moves no session').to.equal('primary');
    expect(b.map.lastAccess(sid), 'the primary heard of the use').to.equal(c.clock.time);
  });

  it('still works without a load (a direct call): the session is read', async () => {
    c = await members(IDS);
    const { store, map } = c.members.a!;
    const sid = store.genid();
    await store.set(sid, { cookie: cookie(), user: 'ada' });
    c.clock.time += 5_000;
    await store.touch(sid, { cookie: cookie(), user: 'ada' });
    expect(map.lastAccess(sid)).to.equal(c.clock.time);
    await store.touch(store.genid(), { cookie: cookie() });
  });
});
