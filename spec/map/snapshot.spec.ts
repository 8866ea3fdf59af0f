import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryNetwork, LazyReplicatedMap, ReplicatedMap, SnapshotError, type SnapshotReport, type SnapshotStore } from '../../lib/index.js';
import { BackupSessionStore } from '../../lib/session/index.js';
import { once } from '../helpers/events.js';

type TestMap = LazyReplicatedMap<string>;

interface MapSettings {
  snapshot?: string | SnapshotStore;
  now?: () => number;
}

/** Collects what a map reported: its snapshot reports and errors. */
function watch(map: TestMap): { reports: SnapshotReport[]; errors: Error[] } {
  const seen = { reports: [] as SnapshotReport[], errors: [] as Error[] };
  map.on('snapshot', (r) => seen.reports.push(r));
  map.on('error', (e) => seen.errors.push(e));
  return seen;
}

describe('map snapshots', () => {
  let dir = '';
  let file = '';
  const running: TestMap[] = [];

  function member(net: InMemoryNetwork, id: string, settings: MapSettings = {}): TestMap {
    const map = new LazyReplicatedMap<string, unknown>({ name: 'test', transport: net.transport(id), expirySweepIntervalMs: 0, ...settings });
    running.push(map);
    return map;
  }

  /** A lone member on its own network that writes `entries` (and deletes `deleted`), then stops: the snapshot. */
  async function writeSnapshot(path: string, entries: Record<string, unknown>, deleted: string[] = [], id = 'w'): Promise<void> {
    const map = member(new InMemoryNetwork({ seed: 1 }), id, { snapshot: path });
    for (const [k, v] of Object.entries(entries)) await map.set(k, v);
    for (const k of deleted) await map.delete(k);
    await map.stop();
  }

  async function siblings(): Promise<string[]> {
    return (await readdir(dir)).sort();
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lrm-snapshot-'));
    file = join(dir, 'test.snapshot');
  });

  afterEach(async () => {
    for (const map of running.splice(0)) if (map.state === 'running' || map.state === 'starting') await map.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('a single member keeps its entries across a restart: written at stop, loaded at start, renamed once loaded', async () => {
    const first = member(new InMemoryNetwork({ seed: 1 }), 'a', { snapshot: file });
    const seen = watch(first);
    const when = new Date('2024-01-02T03:04:05.678Z');
    await first.set('user:1', { name: 'Ada', at: when, tags: new Set(['x']) });
    await first.set('user:2', 'Grace');
    await first.set('gone', 'soon deleted');
    await first.delete('gone');
    await first.stop();
    expect(seen.reports).to.have.length(1);
    expect(seen.reports[0]).to.include({ action: 'written', entries: 2, tombstones: 1, location: file });
    expect((await stat(file)).mode & 0o777, 'file mode').to.equal(0o600);
    expect(await siblings(), 'no temporary file is left').to.deep.equal(['test.snapshot']);

    const second = member(new InMemoryNetwork({ seed: 2 }), 'a', { snapshot: file });
    const seen2 = watch(second);
    await second.start();
    expect(seen2.errors).to.deep.equal([]);
    expect(seen2.reports[0]).to.include({ action: 'loaded', entries: 2, tombstones: 1, expired: 0 });
    expect([...second.keys()].sort()).to.deep.equal(['user:1', 'user:2']);
    expect(await second.get('user:1')).to.deep.equal({ name: 'Ada', at: when, tags: new Set(['x']) });
    expect(await second.get('user:2')).to.equal('Grace');
    expect(second.entryInfo('user:2')).to.deep.equal({ role: 'primary', primary: 'a', backups: [] });
    expect(second.stats().tombstones).to.equal(1);
    const names = await siblings();
    expect(names).to.have.length(1);
    expect(names[0]).to.match(/^test\.snapshot\.loaded-\d{4}-\d\d-\d\dT/);

    // Loaded once: a third start (the second did not stop) finds no snapshot.
    const third = member(new InMemoryNetwork({ seed: 3 }), 'a', { snapshot: file });
    const seen3 = watch(third);
    await third.start();
    expect(third.size).to.equal(0);
    expect(seen3.reports).to.deep.equal([]);
  });

  it('only the last member of a cluster writes it, with every entry the cluster held; it loads on the next start', async () => {
    const net = new InMemoryNetwork({ seed: 4 });
    const fileA = join(dir, 'a.snapshot');
    const a = member(net, 'a', { snapshot: fileA });
    const b = member(net, 'b', { snapshot: file });
    const seenA = watch(a);
    await a.start();
    await b.start();
    for (let i = 0; i < 20; i++) await (i % 2 === 0 ? a : b).set(`k${i}`, i);
    await net.settled();
    await a.stop();
    expect(seenA.reports, 'a had a live member to hand over to').to.deep.equal([]);
    const seenB = watch(b);
    await b.stop();
    expect(seenB.reports[0]).to.include({ action: 'written', entries: 20 });
    expect(await siblings()).to.deep.equal(['test.snapshot']);

    const again = member(new InMemoryNetwork({ seed: 5 }), 'c', { snapshot: file });
    await again.start();
    expect(again.size).to.equal(20);
    for (let i = 0; i < 20; i++) expect(await again.get(`k${i}`)).to.equal(i);
    // New writes outrank what was loaded (the clock moved past its versions).
    await again.set('k0', 'new');
    expect(await again.get('k0')).to.equal('new');
  });

  it('a member stopped while it loads writes what it loaded: a quick restart loses nothing', async () => {
    await writeSnapshot(file, { x: 1, y: 2 });
    const map = member(new InMemoryNetwork({ seed: 18 }), 'a', { snapshot: file });
    const starting = map.start();
    const stopping = map.stop(); // before start() resolved: the load is under way
    await starting;
    await stopping;
    const again = member(new InMemoryNetwork({ seed: 19 }), 'a', { snapshot: file });
    await again.start();
    expect(await again.get('x')).to.equal(1);
    expect(await again.get('y')).to.equal(2);
  });

  it('loaded entries get backups as members join', async () => {
    await writeSnapshot(file, { x: 1, y: 2 });
    const net = new InMemoryNetwork({ seed: 6 });
    const a = member(net, 'a', { snapshot: file });
    await a.start();
    const b = member(net, 'b');
    await b.start();
    await net.settled();
    expect(a.entryInfo('x')).to.deep.equal({ role: 'primary', primary: 'a', backups: ['b'] });
    expect(b.entryInfo('y')).to.deep.equal({ role: 'backup', primary: 'a', backups: ['b'] });
  });

  it('holds the deletes: a stale snapshot met later does not bring a deleted key back', async () => {
    const fileA = join(dir, 'a.snapshot');
    const fileB = join(dir, 'b.snapshot');
    // b's old snapshot holds k; a's newer one remembers k's delete (a later Lamport tick).
    await writeSnapshot(fileB, { k: 'stale', other: 'kept' }, [], 'b');
    await writeSnapshot(fileA, { k: 'to delete' }, ['k'], 'a');

    // Both start cut off from each other, so each finds no member and loads its own snapshot.
    const net = new InMemoryNetwork({ seed: 7 });
    const a = member(net, 'a', { snapshot: fileA });
    const b = member(net, 'b', { snapshot: fileB });
    net.partition(['a'], ['b']);
    await a.start();
    await b.start();
    expect(a.stats().tombstones).to.equal(1);
    expect(await b.get('k')).to.equal('stale');
    net.heal();
    await net.settled();
    for (const m of [a, b]) {
      expect([...m.keys()].sort(), `keys on ${m.id}`).to.deep.equal(['other']);
      expect(await m.get('k'), `k on ${m.id}`).to.equal(undefined);
    }
  });

  it('does not load expired entries; the rest keep the time they had left (time down counts)', async () => {
    let now = 1_000_000;
    const clock = (): number => now;
    const first = member(new InMemoryNetwork({ seed: 8 }), 'a', { snapshot: file, now: clock });
    await first.set('ttl-short', 1, { ttlMs: 1000 });
    await first.set('idle-short', 2, { maxIdleMs: 1000 });
    await first.set('ttl-long', 3, { ttlMs: 10_000 });
    await first.set('idle-long', 4, { maxIdleMs: 10_000 });
    await first.set('forever', 5);
    now += 500;
    await first.stop();
    now += 1000; // down for a second

    const second = member(new InMemoryNetwork({ seed: 9 }), 'a', { snapshot: file, now: clock });
    const seen = watch(second);
    await second.start();
    expect(seen.reports[0]).to.include({ action: 'loaded', entries: 3, expired: 2 });
    expect([...second.keys()].sort()).to.deep.equal(['forever', 'idle-long', 'ttl-long']);
    now += 8000; // 9.5 s after their write: ttl-long has 0.5 s left, idle-long was idle 9.5 s
    expect(await second.get('ttl-long')).to.equal(3);
    expect(await second.get('idle-long')).to.equal(4); // a use: its idle time starts again
    now += 600;
    expect(await second.get('ttl-long')).to.equal(undefined);
    expect(await second.get('idle-long')).to.equal(4);
  });

  describe('a snapshot that cannot be used is reported, set aside, and nothing of it is loaded', () => {
    async function startOn(): Promise<{ map: TestMap; errors: Error[]; reports: SnapshotReport[] }> {
      const map = member(new InMemoryNetwork({ seed: 10 }), 'a', { snapshot: file });
      const seen = watch(map);
      await map.start(); // resolves: a bad snapshot does not keep the member from starting
      return { map, ...seen };
    }

    async function expectRefused(reason: string): Promise<void> {
      const { map, errors, reports } = await startOn();
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(SnapshotError);
      expect(errors[0]).to.include({ name: 'SnapshotError', reason, location: file });
      expect(map.size, 'entries loaded').to.equal(0);
      expect(map.stats().tombstones, 'deletes loaded').to.equal(0);
      expect(reports).to.deep.equal([]);
      const names = await siblings();
      expect(names).to.have.length(1);
      expect(names[0]).to.match(/^test\.snapshot\.rejected-/);
    }

    const entries = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, `value ${i}`]));

    it('a byte changed in the middle: corrupt', async () => {
      await writeSnapshot(file, entries, ['k1']);
      const bytes = await readFile(file);
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      await writeFile(file, bytes);
      await expectRefused('corrupt');
    });

    it('only the checksum changed, every record intact: still corrupt, nothing loaded', async () => {
      await writeSnapshot(file, entries, ['k1']);
      const bytes = await readFile(file);
      bytes[bytes.length - 1]! ^= 0x01;
      await writeFile(file, bytes);
      await expectRefused('corrupt');
    });

    it('cut short in the middle: truncated', async () => {
      await writeSnapshot(file, entries);
      await truncate(file, Math.floor((await stat(file)).size / 2));
      await expectRefused('truncated');
    });

    it('cut short before its checksum: truncated', async () => {
      await writeSnapshot(file, entries);
      await truncate(file, (await stat(file)).size - 32);
      await expectRefused('truncated');
    });

    it('a record claiming more bytes than the file holds: truncated', async () => {
      await writeSnapshot(file, entries);
      const bytes = await readFile(file);
      const firstRecord = 16 + bytes.readUInt32LE(12);
      bytes.writeUInt32LE(0x3fff_ffff, firstRecord);
      await writeFile(file, bytes);
      await expectRefused('truncated');
    });

    it('another format version: version', async () => {
      await writeSnapshot(file, entries);
      const bytes = await readFile(file);
      bytes.writeUInt32LE(99, 8);
      await writeFile(file, bytes);
      await expectRefused('version');
    });

    it('not a snapshot at all: corrupt', async () => {
      await writeFile(file, 'user,password\nada,secret\n');
      await expectRefused('corrupt');
    });

    it('an empty file: truncated', async () => {
      await writeFile(file, '');
      await expectRefused('truncated');
    });

    it("another map's snapshot: wrong-map", async () => {
      const other = new LazyReplicatedMap<string, unknown>({ name: 'other', transport: new InMemoryNetwork({ seed: 11 }).transport('o'), snapshot: file });
      await other.set('k', 1);
      await other.stop();
      await expectRefused('wrong-map');
    });
  });

  it('a member that finds members ignores its snapshot and sets it aside unread', async () => {
    await writeSnapshot(file, { old: 'from the snapshot' });
    const net = new InMemoryNetwork({ seed: 12 });
    const a = member(net, 'a');
    await a.start();
    await a.set('live', 'from the cluster');
    const b = member(net, 'b', { snapshot: file });
    const seen = watch(b);
    await b.start();
    await net.settled();
    expect(seen.reports).to.have.length(1);
    expect(seen.reports[0]).to.include({ action: 'ignored', entries: 0 });
    expect(seen.errors).to.deep.equal([]);
    for (const m of [a, b]) expect([...m.keys()], `keys on ${m.id}`).to.deep.equal(['live']);
    const names = await siblings();
    expect(names).to.have.length(1);
    expect(names[0]).to.match(/^test\.snapshot\.ignored-/);
  });

  it('a snapshot that cannot be written makes stop() reject with SnapshotError, after the map stopped', async () => {
    const map = member(new InMemoryNetwork({ seed: 13 }), 'a', { snapshot: join(dir, 'missing-dir', 'x.snapshot') });
    await map.set('k', 1);
    const error = await map.stop().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(SnapshotError);
    expect(error).to.include({ reason: 'io' });
    expect((error as Error).message).to.match(/1 entries held only here are lost/);
    expect((error as Error).cause).to.include({ code: 'ENOENT' });
    expect(map.state).to.equal('stopped');
  });

  it('keeps the sessions of a BackupSessionStore, which stay sessions with their idle limit', async () => {
    let now = 5_000_000;
    const clock = (): number => now;
    const first = member(new InMemoryNetwork({ seed: 16 }), 'a', { snapshot: file, now: clock });
    const store = new BackupSessionStore({ map: first, route: 'a', now: clock });
    await first.start();
    const sid = store.genid();
    const cookie = { originalMaxAge: 60_000, maxAge: 60_000, httpOnly: true, path: '/' };
    await store.set(sid, { cookie, user: 'ada', cart: new Map([['book', 2]]) });
    await first.stop();
    now += 30_000;

    const second = member(new InMemoryNetwork({ seed: 17 }), 'a', { snapshot: file, now: clock });
    const again = new BackupSessionStore({ map: second, route: 'a', now: clock });
    await second.start();
    const session = (await again.get(sid)) as unknown as { user: string; cart: Map<string, number> } | null;
    expect(session?.user).to.equal('ada');
    expect(session?.cart).to.deep.equal(new Map([['book', 2]]));
    now += 61_000; // idle past its cookie's maxAge since that read
    expect(await again.get(sid)).to.equal(null);
  });

  it('works with a custom store and with a ReplicatedMap', async () => {
    let kept: Uint8Array[] | undefined;
    const retired: string[] = [];
    const store: SnapshotStore = {
      location: 'memory',
      read: () => Promise.resolve(kept),
      write: async (chunks) => {
        const all: Uint8Array[] = [];
        for await (const c of chunks) all.push(c);
        kept = all;
      },
      retire: (reason) => {
        retired.push(reason);
        const had = kept !== undefined;
        kept = undefined;
        return Promise.resolve(had);
      },
    };
    const first = new ReplicatedMap<string, number>({ name: 'r', transport: new InMemoryNetwork({ seed: 14 }).transport('a'), snapshot: store });
    await first.set('one', 1);
    const written = once<[SnapshotReport]>(first, 'snapshot');
    await first.stop();
    expect((await written)[0]).to.include({ action: 'written', location: 'memory', entries: 1 });
    const second = new ReplicatedMap<string, number>({ name: 'r', transport: new InMemoryNetwork({ seed: 15 }).transport('a'), snapshot: store });
    await second.start();
    expect(await second.get('one')).to.equal(1);
    expect(retired).to.deep.equal(['loaded']);
    await second.stop();
  });
});
