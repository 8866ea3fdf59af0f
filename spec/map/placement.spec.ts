import { expect } from 'chai';
import { classifyFrame } from '../../lib/index.js';
import type { InMemoryNetwork, NetworkStats } from '../../lib/index.js';
import { cluster, keysDecidedBy, type Cluster } from './helpers.js';
import { assertConverged } from './invariants.js';

/** Counts, per receiving member, the map messages of each type it received from now on. */
function inbox(net: InMemoryNetwork, ids: string[]): { received: (id: string, type: string) => number; stop(): void } {
  const counts = new Map<string, Map<string, number>>();
  const stops: (() => void)[] = [];
  for (const id of ids) {
    const perType = new Map<string, number>();
    counts.set(id, perType);
    const t = net.transport(id);
    const listener = (_from: string, frame: Uint8Array): void => {
      const type = classifyFrame(frame) ?? '?';
      perType.set(type, (perType.get(type) ?? 0) + 1);
    };
    t.on('message', listener);
    stops.push(() => t.off('message', listener));
  }
  return {
    received: (id, type) => counts.get(id)?.get(type) ?? 0,
    stop: () => {
      for (const s of stops) s();
    },
  };
}

/** Messages of `type` delivered between two network snapshots. */
function delta(before: NetworkStats, after: NetworkStats, type: string): number {
  return (after.byType[type]?.messages ?? 0) - (before.byType[type]?.messages ?? 0);
}

describe('LazyReplicatedMap placement', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('makes the writer primary with one backup and the other members proxies, and every member agrees', async () => {
    c = await cluster(['a', 'b', 'c', 'd', 'e']);
    const { maps, net } = c;
    await maps.a!.set('k', 'v');
    await net.settled();

    const info = maps.a!.entryInfo('k');
    expect(info?.role).to.equal('primary');
    expect(info?.primary).to.equal('a');
    expect(info?.backups).to.have.length(1);
    const backup = info?.backups[0] as string;
    expect(backup).to.not.equal('a');
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      const seen = maps[id]!.entryInfo('k');
      expect(seen?.primary, `primary as '${id}' sees it`).to.equal('a');
      expect(seen?.backups, `backups as '${id}' sees them`).to.deep.equal([backup]);
      const role = id === 'a' ? 'primary' : id === backup ? 'backup' : 'proxy';
      expect(seen?.role, `role of '${id}'`).to.equal(role);
    }
  });

  it('sends MSG_BACKUP only to the backup and MSG_PROXY to each other member, once each', async () => {
    c = await cluster(['a', 'b', 'c', 'd', 'e']);
    const { maps, net } = c;
    const box = inbox(net, ['a', 'b', 'c', 'd', 'e']);
    const before = net.stats();
    // A key 'a' decides for: its first write is made there without asking another member.
    const [k] = keysDecidedBy('a', ['a', 'b', 'c', 'd', 'e'], 1) as [string];
    await maps.a!.set(k, { n: 1 });
    await net.settled();
    box.stop();
    const after = net.stats();

    const backup = maps.a!.entryInfo(k)?.backups[0] as string;
    for (const id of ['b', 'c', 'd', 'e']) {
      const isBackup = id === backup;
      expect(box.received(id, 'MSG_BACKUP'), `MSG_BACKUP received by '${id}'`).to.equal(isBackup ? 1 : 0);
      expect(box.received(id, 'MSG_PROXY'), `MSG_PROXY received by '${id}'`).to.equal(isBackup ? 0 : 1);
    }
    expect(delta(before, after, 'MSG_BACKUP')).to.equal(1);
    expect(delta(before, after, 'MSG_PROXY')).to.equal(3);
    // Read-your-writes: the backup and every proxy acknowledge before set() resolves.
    expect(box.received('a', 'MSG_ACK')).to.equal(4);
    expect(after.messages - before.messages).to.equal(8);
  });

  it('publishes writes made together as one group: one MSG_BACKUP per backup and one MSG_PROXY per member', async () => {
    c = await cluster(['a', 'b', 'c', 'd']);
    const { maps, net } = c;
    const before = net.stats();
    // The first set leaves at once; the other 63, made while it is in flight, go as one group.
    // Keys 'a' decides for: a new key another member decides for is handed over first.
    const keys = keysDecidedBy('a', ['a', 'b', 'c', 'd'], 64);
    await Promise.all(keys.map((k, i) => maps.a!.set(k, i)));
    await net.settled();
    const after = net.stats();

    // Two groups, each to at most three backups (round-robin) and three proxies.
    expect(delta(before, after, 'MSG_BACKUP')).to.be.at.most(2 * 3);
    expect(delta(before, after, 'MSG_PROXY')).to.be.at.most(2 * 3);
    assertConverged(Object.values(maps), ['a', 'b', 'c', 'd'], 1);
    for (const [i, k] of keys.entries()) {
      const { backups } = maps.a!.entryInfo(k)!;
      expect(await maps[backups[0]!]!.get(k, { promote: false }), `copy of ${k} on its backup`).to.equal(i);
    }
  });

  it('moves the primary to the member that overwrites a key, and every member agrees on the new placement', async () => {
    c = await cluster(['a', 'b', 'c', 'd']);
    const { maps, net } = c;
    await maps.a!.set('k', 'from a');
    await net.settled();
    const proxy = ['b', 'c', 'd'].find((id) => maps[id]!.entryInfo('k')?.role === 'proxy') as string;
    await maps[proxy]!.set('k', `from ${proxy}`);
    await net.settled();

    const info = maps[proxy]!.entryInfo('k');
    expect(info?.role).to.equal('primary');
    expect(info?.backups).to.have.length(1);
    assertConverged(Object.values(maps), ['a', 'b', 'c', 'd'], 1);
    for (const id of ['a', 'b', 'c', 'd']) expect(await maps[id]!.get('k', { promote: false })).to.equal(`from ${proxy}`);
  });

  it('places `backups: 2` copies on two distinct other members, proxies elsewhere', async () => {
    c = await cluster(['a', 'b', 'c', 'd', 'e'], { backups: 2 });
    const { maps, net } = c;
    const before = net.stats();
    await maps.c!.set('k', [1, 2, 3]);
    await net.settled();
    const after = net.stats();

    const info = maps.c!.entryInfo('k');
    expect(info?.role).to.equal('primary');
    const backups = [...(info?.backups ?? [])];
    expect(backups).to.have.length(2);
    expect(new Set(backups).size).to.equal(2);
    expect(backups).to.not.include('c');
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      const seen = maps[id]!.entryInfo('k');
      expect(seen?.primary).to.equal('c');
      expect(seen?.backups).to.deep.equal(backups);
      expect(seen?.role, `role of '${id}'`).to.equal(id === 'c' ? 'primary' : backups.includes(id) ? 'backup' : 'proxy');
    }
    expect(delta(before, after, 'MSG_BACKUP')).to.equal(2);
    expect(delta(before, after, 'MSG_PROXY')).to.equal(2);
  });

  it('uses every other member as backup, and no proxy, when there are fewer members than `backups` asks for', async () => {
    c = await cluster(['a', 'b', 'c'], { backups: 3 });
    const { maps, net } = c;
    const before = net.stats();
    await maps.b!.set('k', 'v');
    await net.settled();
    const after = net.stats();

    expect([...(maps.b!.entryInfo('k')?.backups ?? [])].sort()).to.deep.equal(['a', 'c']);
    expect(maps.a!.entryInfo('k')?.role).to.equal('backup');
    expect(maps.c!.entryInfo('k')?.role).to.equal('backup');
    expect(delta(before, after, 'MSG_BACKUP')).to.equal(2);
    expect(delta(before, after, 'MSG_PROXY')).to.equal(0);
  });

  it('gives a lone member no backup and sends nothing', async () => {
    c = await cluster(['solo']);
    const { maps, net } = c;
    const before = net.stats();
    await maps.solo!.set('k', 'v');
    await net.settled();
    expect(maps.solo!.entryInfo('k')).to.deep.equal({ role: 'primary', primary: 'solo', backups: [] });
    expect(await maps.solo!.get('k')).to.equal('v');
    expect(net.stats().messages).to.equal(before.messages);
  });

  it('chooses each other member as backup equally often (within 1) over many writes from one member', async () => {
    c = await cluster(['a', 'b', 'c', 'd', 'e']);
    const { maps, net } = c;
    const writes = 302; // not a multiple of 4, so the "within 1" slack is exercised
    for (let i = 0; i < writes; i++) await maps.a!.set(`k${i}`, i);
    await net.settled();

    const chosen = new Map<string, number>();
    for (let i = 0; i < writes; i++) {
      const backups = maps.a!.entryInfo(`k${i}`)?.backups ?? [];
      expect(backups, `backups of k${i}`).to.have.length(1);
      for (const b of backups) chosen.set(b, (chosen.get(b) ?? 0) + 1);
    }
    expect([...chosen.keys()].sort()).to.deep.equal(['b', 'c', 'd', 'e']);
    const counts = [...chosen.values()];
    expect(Math.max(...counts) - Math.min(...counts), `backup counts ${JSON.stringify(Object.fromEntries(chosen))}`).to.be.at.most(1);
    // Each member holds, as backup, exactly the keys it was chosen for.
    for (const id of ['b', 'c', 'd', 'e']) expect(maps[id]!.stats().entries.backup).to.equal(chosen.get(id));
  });
});
