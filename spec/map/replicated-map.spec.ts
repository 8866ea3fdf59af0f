import { expect } from 'chai';
import { ReplicatedMap } from '../../lib/index.js';
import type { LazyReplicatedMap } from '../../lib/index.js';
import { cluster, type Cluster } from './helpers.js';
import { assertConverged, assertSameValues } from './invariants.js';

type Map_ = LazyReplicatedMap<string | number>;

function live(c: Cluster, ids: string[]): Map_[] {
  return ids.map((id) => c.maps[id]!);
}

/** Every other member holds a copy: `backups` is members - 1, and the holders report `'copy'`. */
function assertFullCopies(c: Cluster, ids: string[]): (string | number)[] {
  return assertConverged(live(c, ids), ids, ids.length - 1, { holderRole: 'copy' });
}

describe('ReplicatedMap', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('gives every member a copy of every entry, reported as role copy', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { replicated: true });
    expect(c.maps.a).to.be.instanceOf(ReplicatedMap);
    await c.maps.a!.set('k', { n: 1 });
    await c.maps.c!.set(7, 'seven');
    await c.net.settled();

    expect(c.maps.a!.entryInfo('k')).to.deep.equal({ role: 'primary', primary: 'a', backups: ['b', 'c', 'd'] });
    for (const id of ['b', 'c', 'd']) expect(c.maps[id]!.entryInfo('k')!.role).to.equal('copy');
    expect(assertFullCopies(c, ids)).to.have.length(2);
    await assertSameValues(live(c, ids), ids);
  });

  it('reads a copy without sending anything and without changing roles', async () => {
    const ids = ['a', 'b', 'c'];
    c = await cluster(ids, { replicated: true });
    await c.maps.a!.set('k', 'v');
    await c.net.settled();
    const before = c.net.stats().messages;

    expect(await c.maps.b!.get('k')).to.equal('v');
    expect(await c.maps.c!.get('k')).to.equal('v');
    await c.net.settled();

    expect(c.net.stats().messages, 'messages delivered by reads on copies').to.equal(before);
    expect(c.maps.b!.entryInfo('k')!.role).to.equal('copy');
    expect(c.maps.a!.entryInfo('k')!.role).to.equal('primary');
  });

  it('gives a member that joins later a copy of every entry once the network settles', async () => {
    c = await cluster(['a', 'b'], { replicated: true });
    for (let i = 0; i < 50; i++) await c.maps[i % 2 === 0 ? 'a' : 'b']!.set(`k${i}`, i);
    await c.net.settled();

    const d = new ReplicatedMap<string | number, unknown>({ name: 'test', transport: c.net.transport('d') });
    c.maps.d = d as unknown as Map_;
    await d.start();
    expect(d.size, 'keys known when start() resolves').to.equal(50);
    await c.net.settled();

    const ids = ['a', 'b', 'd'];
    expect(assertFullCopies(c, ids)).to.have.length(50);
    for (let i = 0; i < 50; i++) expect(d.entryInfo(`k${i}`)!.role).to.equal('copy');
    const before = c.net.stats().messages;
    for (let i = 0; i < 50; i++) expect(await d.get(`k${i}`)).to.equal(i);
    await c.net.settled();
    expect(c.net.stats().messages, 'reads on the joiner are local').to.equal(before);
  });

  it('keeps every copy when the primary crashes, and one survivor becomes primary', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { replicated: true });
    for (let i = 0; i < 20; i++) await c.maps.a!.set(`k${i}`, i);
    await c.net.settled();

    c.net.crash('a');
    await c.net.settled();

    const survivors = ['b', 'c', 'd'];
    const keys = assertFullCopies(c, survivors);
    expect(keys).to.have.length(20);
    for (let i = 0; i < 20; i++) {
      const primaries = survivors.filter((id) => c!.maps[id]!.entryInfo(`k${i}`)!.role === 'primary');
      expect(primaries, `primaries of k${i}`).to.have.length(1);
    }
    const values = await assertSameValues(live(c, survivors), survivors);
    for (let i = 0; i < 20; i++) expect(values.get(`k${i}`)).to.equal(i);
  });

  it('converges after a partition with writes on both sides heals', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { replicated: true });
    for (let i = 0; i < 10; i++) await c.maps[ids[i % 4]!]!.set(`k${i}`, i);
    await c.net.settled();

    c.net.partition(['a', 'b'], ['c', 'd']);
    await c.net.settled();
    // Every member holds a copy, so both sides keep listing every key.
    assertFullCopies(c, ['a', 'b']);
    assertFullCopies(c, ['c', 'd']);
    await c.maps.a!.set('left', 1);
    await c.maps.d!.set('right', 2);
    await c.maps.b!.delete('k1');
    await c.maps.c!.set('k2', 'right side');
    for (let i = 1; i <= 5; i++) await c.maps.a!.set('shared', `left ${i}`);
    await c.maps.d!.set('shared', 'right');
    await c.net.settled();

    c.net.heal();
    await c.net.settled();

    const keys = assertFullCopies(c, ids);
    expect(keys).to.have.length(10 - 1 + 3);
    const values = await assertSameValues(live(c, ids), ids);
    expect(values.get('left')).to.equal(1);
    expect(values.get('right')).to.equal(2);
    expect(values.has('k1')).to.equal(false);
    expect(values.get('k2')).to.equal('right side');
    expect(values.get('shared')).to.equal('left 5');
  });
});
