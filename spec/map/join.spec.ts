import { expect } from 'chai';
import { LazyReplicatedMap } from '../../lib/index.js';
import { cluster, type Cluster } from './helpers.js';
import { assertConverged, assertSameValues } from './invariants.js';

type Map_ = LazyReplicatedMap<string | number>;

function live(c: Cluster, ids: string[]): Map_[] {
  return ids.map((id) => c.maps[id]!);
}

/** A new, not yet started map of the cluster on member `id` (its transport is created if needed). */
function member(c: Cluster, id: string, backups = 1): Map_ {
  const map = new LazyReplicatedMap<string | number, unknown>({ name: 'test', transport: c.net.transport(id), backups });
  c.maps[id] = map;
  return map;
}

describe('LazyReplicatedMap join', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('re-backs up the entries of a lone member to the first peer that joins', async () => {
    c = await cluster(['a'], { backups: 1 });
    for (let i = 0; i < 10; i++) await c.maps.a!.set(`k${i}`, i);
    expect(c.maps.a!.entryInfo('k0')!.backups, 'a lone member has nobody to back up to').to.deep.equal([]);

    const b = member(c, 'b');
    await b.start();
    await c.net.settled();

    assertConverged(live(c, ['a', 'b']), ['a', 'b'], 1);
    for (let i = 0; i < 10; i++) expect(b.entryInfo(`k${i}`)!.role).to.equal('backup');
    // The copies are real: they survive the loss of the member that wrote them.
    c.net.crash('a');
    await c.net.settled();
    for (let i = 0; i < 10; i++) {
      expect(b.entryInfo(`k${i}`)!.role).to.equal('primary');
      expect(await b.get(`k${i}`)).to.equal(i);
    }
  });

  it('knows every one of 1000 keys, as proxies, as soon as start() resolves', async () => {
    c = await cluster(['a', 'b', 'c'], { backups: 1 });
    const writers = ['a', 'b', 'c'];
    await Promise.all(Array.from({ length: 1000 }, (_, i) => c!.maps[writers[i % 3]!]!.set(`k${i}`, { i })));
    await c.net.settled();

    const d = member(c, 'd');
    await d.start();

    expect(d.size, 'keys known when start() resolves').to.equal(1000);
    for (let i = 0; i < 1000; i++) {
      const info = d.entryInfo(`k${i}`);
      expect(info?.role, `role of k${i} on the joiner`).to.equal('proxy');
      expect(info?.primary).to.equal(writers[i % 3]);
    }
    await c.net.settled();
    for (let i = 0; i < 1000; i += 37) expect(await d.get(`k${i}`, { promote: false })).to.deep.equal({ i });
    expect(await d.get('k999')).to.deep.equal({ i: 999 });
    await c.net.settled();
    expect(d.entryInfo('k999')!.role, 'a read on the joiner promotes it').to.equal('primary');
    assertConverged(live(c, ['a', 'b', 'c', 'd']), ['a', 'b', 'c', 'd'], 1);
  });

  // Writes land at every point of the join: before the start reaches a member, between two
  // members' answers, after the answers, and while copies of the joiner's first entries travel.
  for (const delayRounds of [0, 1, 2, 3, 5]) {
    it(`loses no write or delete made by others while a member joins (writes after ${delayRounds} rounds)`, async () => {
      c = await cluster(['a', 'b', 'c'], { backups: 1, seed: delayRounds + 1 });
      for (let i = 0; i < 30; i++) await c.maps[['a', 'b', 'c'][i % 3]!]!.set(`old${i}`, i);
      await c.net.settled();

      const d = member(c, 'd');
      const joining = d.start();
      for (let r = 0; r < delayRounds; r++) await new Promise<void>((resolve) => setImmediate(resolve));
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i++) {
        const writer = c.maps[['a', 'b', 'c'][(i + 1) % 3]!]!;
        if (i % 3 === 0) work.push(writer.delete(`old${i}`));
        else work.push(writer.set(`old${i}`, `new${i}`));
        work.push(writer.set(`fresh${i}`, i));
      }
      await Promise.all([joining, ...work]);
      await c.net.settled();

      const ids = ['a', 'b', 'c', 'd'];
      const keys = assertConverged(live(c, ids), ids, 1);
      expect(keys).to.have.length(50);
      for (let i = 0; i < 30; i++) {
        expect(d.has(`fresh${i}`), `fresh${i} on the joiner`).to.equal(true);
        expect(await d.get(`fresh${i}`, { promote: false })).to.equal(i);
        if (i % 3 === 0) expect(d.has(`old${i}`), `deleted old${i} on the joiner`).to.equal(false);
        else expect(await d.get(`old${i}`, { promote: false }), `old${i} on the joiner`).to.equal(`new${i}`);
      }
      await assertSameValues(live(c, ids), ids);
    });
  }

  for (const notice of ['after the others noticed the crash', 'before the others noticed the crash'] as const) {
    it(`re-homes what a member held when it restarts under the same id (${notice})`, async () => {
      c = await cluster(['a', 'b', 'c'], { backups: 1 });
      for (let i = 0; i < 30; i++) await c.maps[['a', 'b', 'c'][i % 3]!]!.set(`k${i}`, i);
      await c.net.settled();
      const heldByB = [...c.maps.b!.keys()].filter((k) => c!.maps.b!.entryInfo(k)!.role !== 'proxy');
      expect(heldByB.length).to.be.greaterThan(10);

      c.net.crash('b');
      if (notice === 'after the others noticed the crash') await c.net.settled();
      await c.net.transport('b').start();
      const b = member(c, 'b');
      await b.start();
      await c.net.settled();

      const ids = ['a', 'b', 'c'];
      for (const id of ids) expect(c.maps[id]!.members(), `members as '${id}' sees them`).to.deep.equal(ids);
      const keys = assertConverged(live(c, ids), ids, 1);
      expect(keys).to.have.length(30);
      const values = await assertSameValues(live(c, ids), ids);
      for (let i = 0; i < 30; i++) expect(values.get(`k${i}`), `k${i}`).to.equal(i);
    });
  }
});
