import { expect } from 'chai';
import { LazyReplicatedMap } from '../../lib/index.js';
import { record } from '../helpers/events.js';
import { cluster, type Cluster } from './helpers.js';
import { assertConverged, assertSameValues } from './invariants.js';

type Map_ = LazyReplicatedMap<string | number>;

function live(c: Cluster, ids: string[]): Map_[] {
  return ids.map((id) => c.maps[id]!);
}

function typeCount(c: Cluster, type: string): number {
  return c.net.stats().byType[type]?.messages ?? 0;
}

describe('LazyReplicatedMap failover', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('lets the backup holding the newest update take over, when the first backup missed an update in place', async () => {
    c = await cluster(['a', 'b', 'c', 'd'], { backups: 2 });
    await c.maps.a!.set('k', 'v1');
    await c.net.settled();
    const [missed] = c.maps.a!.entryInfo('k')!.backups as [string, string];
    // The primary's frames to the first backup are lost: the update in place reaches only the second.
    const transport = c.net.transport('a');
    const send = transport.send.bind(transport);
    transport.send = (to: string, frame: Uint8Array): Promise<void> => (to === missed ? Promise.resolve() : send(to, frame));
    const write = c.maps.a!.set('k', 'v2').catch(() => 'not acknowledged');
    await c.net.settled();
    c.net.crash('a');
    await c.net.settled();
    await write;
    const live = ['b', 'c', 'd'];
    expect(live.filter((id) => c!.maps[id]!.entryInfo('k')?.role === 'primary'), 'one primary').to.have.length(1);
    assertConverged(live.map((id) => c!.maps[id]!), live, 2);
    for (const id of live) expect(await c.maps[id]!.get('k', { promote: false }), `k on ${id}`).to.equal('v2');
  });

  it('makes the backup primary when the primary crashes, chooses a new backup and updates every proxy', async () => {
    c = await cluster(['a', 'b', 'c', 'd'], { backups: 1 });
    await c.maps.a!.set('k', { n: 1 });
    await c.net.settled();
    const before = c.maps.a!.entryInfo('k')!;
    expect(before.role).to.equal('primary');
    expect(before.backups).to.have.length(1);
    const backup = before.backups[0]!;

    c.net.crash('a');
    await c.net.settled();

    const survivors = ['b', 'c', 'd'];
    const info = c.maps[backup]!.entryInfo('k')!;
    expect(info.role, 'the former backup is now primary').to.equal('primary');
    expect(info.primary).to.equal(backup);
    expect(info.backups).to.have.length(1);
    expect(info.backups[0]).to.not.equal('a');
    assertConverged(live(c, survivors), survivors, 1);
    for (const id of survivors) expect(await c.maps[id]!.get('k', { promote: false })).to.deep.equal({ n: 1 });
  });

  it('makes the primary choose a new backup when the backup crashes', async () => {
    c = await cluster(['a', 'b', 'c', 'd'], { backups: 1 });
    await c.maps.a!.set('k', 'v');
    await c.net.settled();
    const backup = c.maps.a!.entryInfo('k')!.backups[0]!;

    c.net.crash(backup);
    await c.net.settled();

    const survivors = ['a', 'b', 'c', 'd'].filter((id) => id !== backup);
    const info = c.maps.a!.entryInfo('k')!;
    expect(info.role).to.equal('primary');
    expect(info.backups).to.have.length(1);
    expect(info.backups).to.not.include(backup);
    assertConverged(live(c, survivors), survivors, 1);
    await assertSameValues(live(c, survivors), survivors);
  });

  for (const order of ['primary first', 'backup first'] as const) {
    it(`forgets a key on every member when its primary and its only backup crash together (${order})`, async () => {
      c = await cluster(['a', 'b', 'c', 'd'], { backups: 1 });
      await c.maps.a!.set('k', 'v');
      await c.maps.b!.set('other', 'kept');
      await c.net.settled();
      const backup = c.maps.a!.entryInfo('k')!.backups[0]!;

      if (order === 'primary first') {
        c.net.crash('a');
        c.net.crash(backup);
      } else {
        c.net.crash(backup);
        c.net.crash('a');
      }
      await c.net.settled();

      const survivors = ['a', 'b', 'c', 'd'].filter((id) => id !== 'a' && id !== backup);
      for (const id of survivors) {
        const m = c.maps[id]!;
        expect(m.has('k'), `'${id}' no longer lists k`).to.equal(false);
        expect(m.entryInfo('k'), `'${id}' keeps no stale proxy of k`).to.equal(undefined);
        expect(await m.get('k')).to.equal(undefined);
      }
      // Only 'other' is left, when its copies survived; either way the members agree.
      assertConverged(live(c, survivors), survivors, 1);
      await assertSameValues(live(c, survivors), survivors);
    });
  }

  it('keeps a key through the crash of its primary and one backup together with backups: 2', async () => {
    c = await cluster(['a', 'b', 'c', 'd', 'e'], { backups: 2 });
    await c.maps.a!.set('k', 'v');
    await c.net.settled();
    const [b1, b2] = c.maps.a!.entryInfo('k')!.backups;

    c.net.crash('a');
    c.net.crash(b1!);
    await c.net.settled();

    const survivors = ['a', 'b', 'c', 'd', 'e'].filter((id) => id !== 'a' && id !== b1);
    expect(c.maps[b2!]!.entryInfo('k')!.role).to.equal('primary');
    assertConverged(live(c, survivors), survivors, 2);
    for (const id of survivors) expect(await c.maps[id]!.get('k', { promote: false })).to.equal('v');
  });

  it('keeps a key through the crash of both its backups together with backups: 2', async () => {
    c = await cluster(['a', 'b', 'c', 'd', 'e'], { backups: 2 });
    await c.maps.a!.set('k', 'v');
    await c.net.settled();
    const [b1, b2] = c.maps.a!.entryInfo('k')!.backups;

    c.net.crash(b1!);
    c.net.crash(b2!);
    await c.net.settled();

    const survivors = ['a', 'b', 'c', 'd', 'e'].filter((id) => id !== b1 && id !== b2);
    assertConverged(live(c, survivors), survivors, 2);
    for (const id of survivors) expect(await c.maps[id]!.get('k', { promote: false })).to.equal('v');
  });

  it('keeps a key through crashes of every original holder when the cluster settles in between', async () => {
    c = await cluster(['a', 'b', 'c', 'd'], { backups: 1 });
    await c.maps.a!.set('k', 'v');
    await c.net.settled();
    const backup = c.maps.a!.entryInfo('k')!.backups[0]!;

    c.net.crash('a');
    await c.net.settled();
    c.net.crash(backup);
    await c.net.settled();

    const survivors = ['b', 'c', 'd'].filter((id) => id !== backup);
    assertConverged(live(c, survivors), survivors, 1);
    for (const id of survivors) expect(await c.maps[id]!.get('k', { promote: false })).to.equal('v');
  });

  it('loses no acknowledged set when the primary crashes while 100 sets are in flight', async () => {
    // Random delivery delays spread the acknowledgements over many rounds, so the crash (at the
    // 30th acknowledgement) finds sets acknowledged, sets half-published and sets not yet sent.
    // The sets go in waves of 10, one turn of the event loop apart: writes made in one turn while
    // others are in flight are published as one group, and the waves keep ten groups in flight.
    c = await cluster(['a', 'b', 'c', 'd'], { backups: 1, netOptions: { delay: { min: 0, max: 8 } } });
    const acknowledged = new Map<string, number>();
    const rejected: unknown[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
      const key = `a${i}`;
      pending.push(
        c.maps.a!.set(key, i).then(
          () => {
            acknowledged.set(key, i);
            if (acknowledged.size === 30) c!.net.crash('a');
          },
          (error: unknown) => void rejected.push(error),
        ),
      );
    }
    // Sets of live members whose backup may be the crashing one: they must all be acknowledged.
    const others: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) others.push(c.maps.b!.set(`b${i}`, i));

    await Promise.all([...pending, ...others]);
    await c.net.settled();

    expect(c.maps.a!.state, 'the primary crashed mid-work').to.equal('stopped');
    expect(acknowledged.size + rejected.length).to.equal(100);
    expect(rejected.length, 'sets cut short by the crash reject').to.be.greaterThan(0);
    for (const error of rejected) expect((error as Error).name).to.equal('StoppedError');
    const survivors = ['b', 'c', 'd'];
    const keys = assertConverged(live(c, survivors), survivors, 1);
    for (const [key, value] of acknowledged) {
      expect(keys, `acknowledged key ${key} is listed`).to.include(key);
      for (const id of survivors) expect(await c.maps[id]!.get(key, { promote: false }), `${key} on '${id}'`).to.equal(value);
    }
    for (let i = 0; i < 30; i++) expect(await c.maps.c!.get(`b${i}`, { promote: false })).to.equal(i);
    await assertSameValues(live(c, survivors), survivors);
  });

  it('re-homes the 200 primaries of a crashed member with messages per member, not per entry', async () => {
    c = await cluster(['a', 'b', 'c', 'd'], { backups: 1 });
    await Promise.all(Array.from({ length: 200 }, (_, i) => c!.maps.a!.set(i, `v${i}`)));
    await c.net.settled();
    const backupsBefore = typeCount(c, 'MSG_BACKUP');
    const proxiesBefore = typeCount(c, 'MSG_PROXY');

    c.net.crash('a');
    await c.net.settled();

    const backups = typeCount(c, 'MSG_BACKUP') - backupsBefore;
    const proxies = typeCount(c, 'MSG_PROXY') - proxiesBefore;
    // Each of the 3 survivors sends at most one batch of each kind to each of the 2 others.
    expect(backups, 'MSG_BACKUP messages for 200 re-homed entries').to.be.at.most(6);
    expect(proxies, 'MSG_PROXY messages for 200 re-homed entries').to.be.at.most(6);
    expect(backups, 'the re-homed entries did get new backups').to.be.greaterThan(0);
    const survivors = ['b', 'c', 'd'];
    const keys = assertConverged(live(c, survivors), survivors, 1);
    expect(keys).to.have.length(200);
    const values = await assertSameValues(live(c, survivors), survivors);
    for (let i = 0; i < 200; i++) expect(values.get(i)).to.equal(`v${i}`);
  });

  it('re-homes 12 MB of values in messages of about 1 MiB, so no TCP peer refuses a frame as too large', async () => {
    c = await cluster(['a', 'b', 'c'], { backups: 1 });
    const value = 'x'.repeat(100_000);
    await Promise.all(Array.from({ length: 120 }, (_, i) => c!.maps.a!.set(`k${i}`, `${i}:${value}`)));
    await c.net.settled();
    let largest = 0;
    const watch = (_from: string, frame: Uint8Array): void => {
      largest = Math.max(largest, frame.byteLength);
    };
    for (const id of ['b', 'c']) c.net.transport(id).on('message', watch);
    const before = typeCount(c, 'MSG_BACKUP');

    c.net.crash('a');
    await c.net.settled();

    // 12 MB in one message would exceed TcpTransport's default maxFrameBytes (16 MiB) at 160 entries.
    expect(largest, 'largest message delivered').to.be.at.most(1024 * 1024 + 100_100);
    expect(typeCount(c, 'MSG_BACKUP') - before, 'messages for 12 MB of copies').to.be.within(12, 16);
    const survivors = ['b', 'c'];
    assertConverged(live(c, survivors), survivors, 1);
    for (let i = 0; i < 120; i++) expect(await c.maps.b!.get(`k${i}`, { promote: false })).to.equal(`${i}:${value}`);
  });

  for (const when of ['while it publishes them in slices', 'before it heard of the crash'] as const) {
    it(`hands every one of 12k re-homed primaries over when their new primary stops ${when}`, async function () {
      this.timeout(20_000);
      c = await cluster(['a', 'b', 'c'], { backups: 1 });
      for (let i = 0; i < 24_000; i += 1000) await Promise.all(Array.from({ length: 1000 }, (_, j) => c!.maps.a!.set(i + j, i + j)));
      await c.net.settled();
      const heard = new Promise<void>((resolve) => c!.maps.b!.once('memberDisappeared', () => { resolve(); }));

      // b takes over its half (12k), published in two slices of at most 10k while it runs.
      c.net.crash('a');
      if (when === 'while it publishes them in slices') await heard;
      const stopping = c.maps.b!.stop();
      await c.net.settled();
      await stopping;
      await c.net.settled();

      expect(c.maps.c!.size).to.equal(24_000);
      expect(c.maps.c!.stats().entries.primary, 'c owns every key').to.equal(24_000);
      for (const i of [0, 9_999, 10_000, 19_999, 23_999]) expect(await c.maps.c!.get(i)).to.equal(i);
    });
  }

  it('keeps every value of a member that stops gracefully while holding many primaries', async () => {
    c = await cluster(['a', 'b', 'c', 'd'], { backups: 1 });
    await Promise.all(Array.from({ length: 60 }, (_, i) => c!.maps.a!.set(`k${i}`, i)));
    await c.net.settled();
    const gone = ['b', 'c', 'd'].map((id) => record<[string]>(c!.maps[id]!, 'memberDisappeared'));

    await c.maps.a!.stop();
    await c.net.settled();

    for (const r of gone) expect(r.events).to.deep.equal([['a']]);
    const survivors = ['b', 'c', 'd'];
    for (const id of survivors) expect(c.maps[id]!.members()).to.deep.equal(survivors);
    const keys = assertConverged(live(c, survivors), survivors, 1);
    expect(keys).to.have.length(60);
    const values = await assertSameValues(live(c, survivors), survivors);
    for (let i = 0; i < 60; i++) expect(values.get(`k${i}`)).to.equal(i);
  });

  it('leaves no orphaned copy when writes and reads race with a graceful stop', async () => {
    c = await cluster(['a', 'b', 'c', 'd'], { backups: 1 });
    await c.maps.b!.set('remote', 'r');
    await c.net.settled();
    const outcomes = new Map<string, 'acknowledged' | 'rejected'>();
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      work.push(c.maps.a!.set(`k${i}`, i).then(() => outcomes.set(`k${i}`, 'acknowledged'), (error: unknown) => {
        expect((error as Error).name).to.equal('StoppedError');
        outcomes.set(`k${i}`, 'rejected');
      }));
    }
    // A read that would promote the leaving member.
    work.push(c.maps.a!.get('remote').catch(() => undefined));
    const stopping = c.maps.a!.stop();
    await Promise.all([...work, stopping]);
    await c.net.settled();

    const survivors = ['b', 'c', 'd'];
    const keys = assertConverged(live(c, survivors), survivors, 1);
    for (const [key, outcome] of outcomes) {
      if (outcome === 'acknowledged') expect(keys, `acknowledged ${key}`).to.include(key);
    }
    expect(keys).to.include('remote');
    await assertSameValues(live(c, survivors), survivors);
  });

  it('hands over entries whose only copy is on a member that stops gracefully (backups: 0)', async () => {
    c = await cluster(['a', 'b', 'c'], { backups: 0 });
    for (let i = 0; i < 10; i++) await c.maps.a!.set(`k${i}`, i);
    await c.net.settled();
    expect(c.maps.a!.entryInfo('k0')!.backups).to.deep.equal([]);
    const gone = record<[string]>(c.maps.b!, 'memberDisappeared');

    await c.maps.a!.stop();
    await c.net.settled();

    expect(gone.events).to.deep.equal([['a']]);
    const survivors = ['b', 'c'];
    const keys = assertConverged(live(c, survivors), survivors, 0);
    expect(keys).to.have.length(10);
    for (let i = 0; i < 10; i++) expect(await c.maps.c!.get(`k${i}`, { promote: false })).to.equal(i);
  });

  it('hands over the entries of a lone primary of a two-member map that stops gracefully', async () => {
    c = await cluster(['a'], { backups: 1 });
    await c.maps.a!.set('k', 'v');
    const b = new LazyReplicatedMap<string | number, unknown>({ name: 'test', transport: c.net.transport('b'), backups: 1 });
    c.maps.b = b;
    await b.start();
    await c.net.settled();

    await c.maps.a!.stop();
    await c.net.settled();

    expect(b.members()).to.deep.equal(['b']);
    expect(b.entryInfo('k')).to.deep.equal({ role: 'primary', primary: 'b', backups: [] });
    expect(await b.get('k')).to.equal('v');
  });

  it("emits 'memberAdded' when a member starts and 'memberDisappeared' when one crashes or stops", async () => {
    c = await cluster(['a', 'b'], { backups: 1 });
    const addedA = record<[string]>(c.maps.a!, 'memberAdded');
    const goneA = record<[string]>(c.maps.a!, 'memberDisappeared');
    const goneB = record<[string]>(c.maps.b!, 'memberDisappeared');
    const d = new LazyReplicatedMap<string | number, unknown>({ name: 'test', transport: c.net.transport('d') });
    const addedD = record<[string]>(d, 'memberAdded');
    c.maps.d = d;
    await d.start();
    await c.net.settled();

    expect(addedA.events).to.deep.equal([['d']]);
    expect(addedD.events.map(([id]) => id).sort()).to.deep.equal(['a', 'b']);
    expect(c.maps.a!.members()).to.deep.equal(['a', 'b', 'd']);

    c.net.crash('d');
    await c.net.settled();
    expect(goneA.events).to.deep.equal([['d']]);
    expect(goneB.events).to.deep.equal([['d']]);

    await c.maps.b!.stop();
    await c.net.settled();
    expect(goneA.events).to.deep.equal([['d'], ['b']]);
    expect(c.maps.a!.members()).to.deep.equal(['a']);
  });
});
