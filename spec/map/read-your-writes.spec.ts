import { expect } from 'chai';
import { InMemoryNetwork, LazyReplicatedMap, type NetworkStats } from '../../lib/index.js';
import { SessionValue } from '../../lib/session/session-value.js';
import { cluster, type Cluster, keysDecidedBy } from './helpers.js';
import { assertConverged } from './invariants.js';

/** Messages of every type delivered between two snapshots, by type. */
function sent(before: NetworkStats, after: NetworkStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [type, { messages }] of Object.entries(after.byType)) {
    const n = messages - (before.byType[type]?.messages ?? 0);
    if (n > 0) out[type] = n;
  }
  return out;
}

/** The member of `ids` that is neither primary nor backup of `key`, as `on` sees it. */
function proxyOf(c: Cluster, on: string, key: string, ids: string[]): string {
  const info = c.maps[on]!.entryInfo(key)!;
  return ids.find((id) => id !== info.primary && !info.backups.includes(id))!;
}

describe('Read-your-writes', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  // Delayed and reordered delivery: without the wait for every member, a proxy would not know the key yet.
  const faults = { delay: { min: 0, max: 4 }, reorder: true, duplicateRate: 0.1 };

  it('a get on every member returns a value as soon as its set resolved, without settling', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    c = await cluster(ids, { backups: 1, seed: 7, netOptions: faults });
    for (let i = 0; i < 40; i++) {
      const writer = ids[(i * 3) % ids.length]!;
      await c.maps[writer]!.set(`k${i % 13}`, `v${i}`);
      for (const id of ids) expect(await c.maps[id]!.get(`k${i % 13}`, { promote: false }), `k${i % 13} on ${id}`).to.equal(`v${i}`);
      // A read that promotes moves the key; the next write from anywhere must still be seen everywhere.
      if (i % 4 === 0) await c.maps[ids[(i + 2) % ids.length]!]!.get(`k${i % 13}`);
    }
  });

  it('no member returns a deleted or cleared value once delete() or clear() resolved', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { backups: 1, seed: 3, netOptions: faults });
    for (let i = 0; i < 12; i++) await c.maps[ids[i % 4]!]!.set(`k${i}`, i);
    for (let i = 0; i < 6; i++) {
      await c.maps[ids[(i + 1) % 4]!]!.delete(`k${i}`);
      for (const id of ids) {
        expect(c.maps[id]!.has(`k${i}`), `k${i} listed on ${id}`).to.equal(false);
        expect(await c.maps[id]!.get(`k${i}`, { promote: false })).to.equal(undefined);
      }
    }
    await c.maps.d!.clear();
    for (const id of ids) expect(c.maps[id]!.size, `size on ${id}`).to.equal(0);
  });

  it('a proxy delete wins over every update its primary made since the proxy last heard of the key', async () => {
    const ids = ['a', 'b', 'c'];
    c = await cluster(ids, { backups: 1 });
    await c.maps.a!.set('k', 0);
    const proxy = proxyOf(c, 'a', 'k', ids);
    const before = c.net.stats();
    for (let i = 1; i <= 50; i++) await c.maps.a!.set('k', i);
    await c.net.settled();
    expect(sent(before, c.net.stats())['MSG_PROXY'] ?? 0, 'updates in place told the proxy nothing').to.equal(0);

    expect(await c.maps[proxy]!.delete('k')).to.equal(true);
    for (const id of ids) expect(await c.maps[id]!.get('k', { promote: false }), `k on ${id}`).to.equal(undefined);
    await c.net.settled();
    expect(assertConverged(Object.values(c.maps), ids, 1)).to.deep.equal([]);
  });

  it('a write on a proxy wins over every update its primary made since the proxy last heard of the key', async () => {
    const ids = ['a', 'b', 'c'];
    c = await cluster(ids, { backups: 1 });
    await c.maps.a!.set('k', 0);
    const proxy = proxyOf(c, 'a', 'k', ids);
    for (let i = 1; i <= 50; i++) await c.maps.a!.set('k', i);
    await c.maps[proxy]!.set('k', 'from the proxy');
    for (const id of ids) expect(await c.maps[id]!.get('k', { promote: false }), `k on ${id}`).to.equal('from the proxy');
    await c.net.settled();
    assertConverged(Object.values(c.maps), ids, 1);
    expect(c.maps.a!.entryInfo('k')?.primary).to.equal(proxy);
  });

  for (const size of [3, 8, 16]) {
    it(`an update in place costs its backup and nothing else at ${size} members (set, replicate, access)`, async () => {
      const ids = Array.from({ length: size }, (_, i) => `m${String(i).padStart(2, '0')}`);
      c = await cluster(ids, { backups: 1 });
      const writer = c.maps[ids[0]!]!;
      const session = new SessionValue();
      session.set('attribute', 'n', 0);
      await writer.set('k', session);
      await writer.set('plain', 0);
      await c.net.settled();

      let before = c.net.stats();
      for (let i = 1; i <= 10; i++) await writer.set('plain', i);
      await c.net.settled();
      expect(sent(before, c.net.stats()), 'ten sets in place').to.deep.equal({ MSG_BACKUP: 10, MSG_ACK: 10 });

      before = c.net.stats();
      for (let i = 1; i <= 10; i++) {
        session.set('attribute', 'n', i);
        await writer.replicate('k');
      }
      await c.net.settled();
      expect(sent(before, c.net.stats()), 'ten diffs').to.deep.equal({ MSG_DIFF: 10, MSG_ACK: 10 });

      before = c.net.stats();
      for (let i = 1; i <= 10; i++) await writer.replicate('k');
      await c.net.settled();
      expect(sent(before, c.net.stats()), 'ten accesses').to.deep.equal({ MSG_ACCESS: 10, MSG_ACK: 10 });
      for (const id of ids) expect(await c.maps[id]!.get('plain', { promote: false })).to.equal(10);
    });
  }

  it('does not wait for a member that crashes while a write waits for it', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { backups: 1, netOptions: { delay: { min: 2, max: 2 } } });
    const write = c.maps.a!.set('k', 'v');
    // The copy and the notices are on their way (two rounds each); d dies before it can answer.
    c.net.crash('d');
    await write;
    for (const id of ['a', 'b', 'c']) expect(await c.maps[id]!.get('k', { promote: false }), `k on ${id}`).to.equal('v');
    await c.net.settled();
    assertConverged([c.maps.a!, c.maps.b!, c.maps.c!], ['a', 'b', 'c'], 1);
  });

  it('a write whose backup crashes while it waits resolves once a new backup holds it, and every survivor sees it', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { backups: 1, netOptions: { delay: { min: 2, max: 2 } } });
    // A key 'a' decides for, so that its write places it there at once (no handover first).
    const [k] = keysDecidedBy('a', ids, 1) as [string];
    const write = c.maps.a!.set(k, 'v');
    const backup = c.maps.a!.entryInfo(k)!.backups[0]!;
    c.net.crash(backup);
    await write;
    const live = ids.filter((id) => id !== backup);
    const info = c.maps.a!.entryInfo(k)!;
    expect(info.backups).to.have.length(1);
    expect(info.backups[0]).to.not.equal(backup);
    for (const id of live) expect(await c.maps[id]!.get(k, { promote: false }), `k on ${id}`).to.equal('v');
  });

  it('a member that joins while a write waits still learns the key', async () => {
    const net = new InMemoryNetwork({ seed: 5, delay: { min: 1, max: 3 } });
    const open = (id: string): LazyReplicatedMap<string, string> => new LazyReplicatedMap({ name: 'j', transport: net.transport(id), backups: 1 });
    const a = open('a'), b = open('b');
    await Promise.all([a.start(), b.start()]);
    const writes = Array.from({ length: 20 }, (_, i) => a.set(`k${i}`, `v${i}`));
    const late = open('late');
    await Promise.all([late.start(), ...writes]);
    for (let i = 0; i < 20; i++) expect(await late.get(`k${i}`, { promote: false }), `k${i} on the late member`).to.equal(`v${i}`);
    await Promise.all([a.stop({ discard: true }), b.stop({ discard: true }), late.stop({ discard: true })]);
  });
});
