/**
 * Bounded memory (issue 24): `maxEntries` / `maxBytes` with `evictionPolicy` 'reject', 'lru' and
 * 'ttl-first'; the accounting behind `stats().held` and `stats().capacity`.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  CapacityError,
  DIAGNOSTICS_CHANNELS,
  InMemoryNetwork,
  LazyReplicatedMap,
  PROXY_METADATA_BYTES,
  ReplicatedMap,
  type EvictionMessage,
  type LazyReplicatedMapOptions,
} from '../../lib/index.js';
import type { MapKey } from '../../lib/codec/map-messages.js';
import { BackupSessionStore } from '../../lib/session/index.js';
import { KeyvStore } from '../../lib/keyv/index.js';
import type { Entry } from '../../lib/map/entry.js';

type M = LazyReplicatedMap<string>;

interface Bounded {
  net: InMemoryNetwork;
  maps: Record<string, M>;
  stop(): Promise<void>;
}

let running: Bounded | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** Members `ids`, each with `opts` (and `per[id]` over them), started in order, settled. */
async function bounded(ids: string[], opts: Partial<LazyReplicatedMapOptions> & { replicated?: boolean }, per: Record<string, Partial<LazyReplicatedMapOptions>> = {}): Promise<Bounded> {
  const net = new InMemoryNetwork({ seed: 7 });
  const maps: Record<string, M> = {};
  const { replicated, ...rest } = opts;
  for (const id of ids) {
    const settings = { name: 'm', transport: net.transport(id), expirySweepIntervalMs: 0, ...rest, ...per[id] };
    maps[id] = replicated === true ? (new ReplicatedMap<string, unknown>(settings) as unknown as M) : new LazyReplicatedMap<string, unknown>(settings);
  }
  for (const id of ids) await maps[id]?.start();
  await net.settled();
  const stop = async (): Promise<void> => {
    for (const m of Object.values(maps)) if (m.state === 'running') await m.stop({ discard: true }).catch(() => undefined);
    await net.settled();
  };
  running = { net, maps, stop };
  return running;
}

/** The entries of a map, read from its context (what the ledger must agree with). */
function entriesOf(map: M): Map<MapKey, Entry> {
  return (map as unknown as { ctx: { entries: Map<MapKey, Entry> } }).ctx.entries;
}

/** What `stats().held` should say, counted by scanning every entry. */
function scanned(map: M): Record<string, { entries: number; bytes: number }> {
  const out: Record<string, { entries: number; bytes: number }> = { primary: { entries: 0, bytes: 0 }, backup: { entries: 0, bytes: 0 }, copy: { entries: 0, bytes: 0 }, proxy: { entries: 0, bytes: 0 } };
  for (const e of entriesOf(map).values()) {
    const r = out[e.role] as { entries: number; bytes: number };
    r.entries++;
    r.bytes += (e.bytes?.byteLength ?? 0) + (e.role === 'proxy' ? PROXY_METADATA_BYTES + (typeof e.key === 'string' ? e.key.length : 8) : 0);
  }
  return out;
}

function expectLedgerExact(maps: Record<string, M>): void {
  for (const [id, m] of Object.entries(maps)) {
    if (m.state !== 'running') continue;
    expect(m.stats().held, `member ${id}`).to.deep.equal(scanned(m));
    // The eviction candidates are exactly the primaries held here, each knowing its place.
    const candidates = (m as unknown as { ctx: { capacity: { candidates: Entry[] } } }).ctx.capacity.candidates;
    expect(candidates.map((e) => e.key).sort(), `candidates of ${id}`).to.deep.equal([...entriesOf(m).values()].filter((e) => e.role === 'primary').map((e) => e.key).sort());
    candidates.forEach((e, i) => expect(e.slot).to.equal(i));
  }
}

/** Keys known on any running member. */
function known(maps: Record<string, M>, key: string): string[] {
  return Object.entries(maps)
    .filter(([, m]) => m.state === 'running' && m.has(key))
    .map(([id]) => id);
}

describe('Bounded memory (maxEntries, maxBytes, evictionPolicy)', () => {
  describe("evictionPolicy 'reject'", () => {
    it('refuses a new key at maxEntries with a CapacityError before anything is sent, and still accepts updates', async () => {
      const { net, maps } = await bounded(['a', 'b', 'c'], {}, { a: { maxEntries: 3, evictionPolicy: 'reject' } });
      const a = maps.a as M;
      for (const k of ['k1', 'k2', 'k3']) await a.set(k, k);
      await net.settled();
      const before = net.stats().messages;
      const error = await a.set('k4', 'v').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(CapacityError);
      expect((error as CapacityError).option).to.equal('maxEntries');
      expect((error as CapacityError).limit).to.equal(3);
      expect((error as CapacityError).message).to.match(/maxEntries/).and.match(/evictionPolicy/);
      await net.settled();
      expect(net.stats().messages, 'nothing sent').to.equal(before);
      expect(a.has('k4')).to.equal(false);
      expect(known(maps, 'k4')).to.deep.equal([]);
      // Updates of keys held here are accepted at the limit.
      await a.set('k1', 'again');
      expect(await maps.b?.get('k1', { promote: false })).to.equal('again');
      expect(a.stats().capacity).to.include({ entries: 3, rejected: 1, evicted: 0, maxEntries: 3, evictionPolicy: 'reject' });
      // Room made by a delete is room.
      await a.delete('k2');
      await a.set('k4', 'v');
      expect(await maps.c?.get('k4', { promote: false })).to.equal('v');
    });

    it('counts maxBytes: the values held plus the proxies metadata', async () => {
      const { net, maps } = await bounded(['a', 'b'], {}, { a: { maxBytes: 3000, evictionPolicy: 'reject' } });
      const a = maps.a as M;
      await maps.b?.set('elsewhere', 'x'); // a holds its backup
      await a.set('big1', 'x'.repeat(1000));
      await net.settled();
      const held = a.stats().capacity.bytes;
      expect(held).to.be.greaterThan(1000).and.lessThan(1100);
      await a.set('big2', 'y'.repeat(1000));
      await a.set('small', 'z'.repeat(500));
      const error = await a.set('big3', 'w'.repeat(1000)).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(CapacityError);
      expect((error as CapacityError).option).to.equal('maxBytes');
      expectLedgerExact(maps);
    });

    it('keeps entries that arrive by failover beyond the limit, reports them, and never evicts them', async () => {
      const { net, maps } = await bounded(['a', 'b', 'c'], { maxEntries: 2, evictionPolicy: 'reject' });
      const a = maps.a as M;
      await a.set('x1', 1);
      await a.set('x2', 2);
      await maps.b?.set('y1', 3);
      await maps.c?.set('z1', 4);
      await net.settled();
      net.crash('a');
      await net.settled();
      const survivors = { b: maps.b as M, c: maps.c as M };
      const held = Object.values(survivors).map((m) => m.stats().capacity.entries);
      expect(Math.max(...held), 'a survivor holds more than its limit').to.be.greaterThan(2);
      for (const m of Object.values(survivors)) expect(m.stats().capacity.evicted).to.equal(0);
      expect(Object.values(survivors).some((m) => m.stats().capacity.overLimit > 0), 'reported').to.equal(true);
      for (const k of ['x1', 'x2', 'y1', 'z1']) expect(await survivors.b.get(k, { promote: false }), k).to.not.equal(undefined);
      expectLedgerExact(survivors);
    });
  });

  describe('what arrives from a snapshot', () => {
    let dir = '';
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'lrm-eviction-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    /** Writes five entries into a snapshot, then starts a lone member with `limits` on it. */
    async function restored(limits: Partial<LazyReplicatedMapOptions>): Promise<M> {
      const file = join(dir, 'm.snapshot');
      const writer = new LazyReplicatedMap<string>({ name: 'm', transport: new InMemoryNetwork({ seed: 1 }).transport('w'), snapshot: file });
      for (let i = 0; i < 5; i++) await writer.set(`k${i}`, i);
      await writer.stop();
      const { maps } = await bounded(['a'], { snapshot: file, ...limits });
      return maps.a as M;
    }

    it("is kept beyond the limit under 'reject', and reported", async () => {
      const a = await restored({ maxEntries: 2, evictionPolicy: 'reject' });
      expect(a.size).to.equal(5);
      expect(a.stats().capacity).to.include({ entries: 5, evicted: 0 });
      expect(a.stats().capacity.overLimit).to.be.greaterThan(0);
    });

    it("is evicted down to the limit once the map runs under 'lru'", async () => {
      const a = await restored({ maxEntries: 2, evictionPolicy: 'lru' });
      await running?.net.settled();
      expect(a.size).to.equal(2);
      expect(a.stats().capacity).to.include({ entries: 2, evicted: 3 });
    });
  });

  describe("evictionPolicy 'lru'", () => {
    it('evicts the least recently used entry from every member, emits evicted, and publishes it', async () => {
      // A sample as large as the candidates: exact LRU, so the victim is known.
      const { net, maps } = await bounded(['a', 'b', 'c'], {}, { a: { maxEntries: 3, evictionPolicy: 'lru', evictionSample: 100 } });
      const a = maps.a as M;
      const evicted: Array<[unknown, string]> = [];
      a.on('evicted', (k, why) => evicted.push([k, why]));
      const published: EvictionMessage[] = [];
      const listener = (m: unknown): void => {
        published.push(m as EvictionMessage);
      };
      subscribe(DIAGNOSTICS_CHANNELS.eviction, listener);
      try {
        for (const k of ['k1', 'k2', 'k3']) await a.set(k, k);
        await a.get('k1');
        await a.touch('k2');
        await a.set('k4', 'v4');
        await net.settled();
      } finally {
        unsubscribe(DIAGNOSTICS_CHANNELS.eviction, listener);
      }
      expect(evicted).to.deep.equal([['k3', 'maxEntries']]);
      expect(published).to.deep.equal([{ map: 'm', member: 'a', key: 'k3', reason: 'maxEntries' }]);
      expect(known(maps, 'k3')).to.deep.equal([]);
      for (const k of ['k1', 'k2', 'k4']) expect(known(maps, k), k).to.deep.equal(['a', 'b', 'c']);
      expect(a.stats().capacity).to.include({ entries: 3, evicted: 1, rejected: 0 });
      expectLedgerExact(maps);
    });

    it('never brings an evicted key back after a heal, even where a cut-off backup took it over', async () => {
      const { net, maps } = await bounded(['a', 'b', 'c'], {}, { a: { maxEntries: 2, evictionPolicy: 'lru', evictionSample: 100 } });
      const a = maps.a as M;
      await a.set('old', 1);
      await a.set('new', 2);
      const holder = a.entryInfo('old')?.backups[0] as string;
      const other = holder === 'b' ? 'c' : 'b';
      net.partition(['a', other], [holder]);
      await net.settled();
      // The cut-off backup took 'old' over; meanwhile a evicts it.
      expect(maps[holder]?.entryInfo('old')?.role).to.equal('primary');
      await a.set('third', 3);
      await net.settled();
      expect(a.has('old')).to.equal(false);
      net.heal();
      await net.settled();
      for (const m of Object.values(maps)) expect(await m.get('old', { promote: false })).to.equal(undefined);
      expect(known(maps, 'old')).to.deep.equal([]);
    });

    it('chooses the same victims for the same history (seeded sample)', async () => {
      const victims = async (): Promise<unknown[]> => {
        const c = await bounded(['a', 'b'], {}, { a: { maxEntries: 20, evictionPolicy: 'lru', evictionSample: 3 } });
        const maps = c.maps;
        const out: unknown[] = [];
        maps.a?.on('evicted', (k) => out.push(k));
        for (let i = 0; i < 60; i++) {
          await maps.a?.set(`k${i}`, i);
          if (i % 3 === 0) await maps.a?.get(`k${i >> 1}`);
        }
        await c.stop();
        running = undefined;
        return out;
      };
      const first = await victims();
      expect(first).to.have.length(40);
      expect(await victims()).to.deep.equal(first);
    });

    it('evicts by maxBytes', async () => {
      const { net, maps } = await bounded(['a', 'b'], {}, { a: { maxBytes: 5000, evictionPolicy: 'lru' } });
      const a = maps.a as M;
      const reasons = new Set<string>();
      a.on('evicted', (_k, why) => reasons.add(why));
      for (let i = 0; i < 20; i++) await a.set(`k${i}`, 'v'.repeat(1000));
      await net.settled();
      expect(a.stats().capacity.bytes).to.be.at.most(5000);
      expect(a.stats().capacity.evicted).to.be.greaterThan(10);
      expect([...reasons]).to.deep.equal(['maxBytes']);
      expectLedgerExact(maps);
      // A value larger than the limit on its own: no eviction could make room, so it is refused.
      const before = a.stats().capacity.evicted;
      const error = await a.set('huge', 'h'.repeat(6000)).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(CapacityError);
      expect((error as CapacityError).option).to.equal('maxBytes');
      expect(a.stats().capacity.evicted).to.equal(before);
    });

    it('frees a backup over its limit through the primaries evicting: a backup never evicts a copy', async () => {
      // b holds only backups: it can evict nothing, and reports what it keeps over its limit.
      const { net, maps } = await bounded(['a', 'b'], {}, { b: { maxEntries: 2, evictionPolicy: 'lru' } });
      for (let i = 0; i < 4; i++) await maps.a?.set(`k${i}`, i);
      await net.settled();
      const b = maps.b as M;
      expect(b.stats().capacity).to.include({ entries: 4, evicted: 0 });
      expect(b.stats().capacity.overLimit).to.be.greaterThan(0);
      for (let i = 0; i < 4; i++) expect(known(maps, `k${i}`)).to.deep.equal(['a', 'b']);
    });

    it('evicts only keys it is primary of, after other members took some over', async () => {
      const { net, maps } = await bounded(['a', 'b', 'c'], {}, { a: { maxEntries: 6, evictionPolicy: 'lru' } });
      const a = maps.a as M;
      const evicted: unknown[] = [];
      a.on('evicted', (k) => evicted.push(k));
      for (let i = 0; i < 6; i++) await a.set(`k${i}`, i);
      // b and c write some of them: a is their primary no more (a proxy, or a backup).
      for (let i = 0; i < 6; i += 2) await (maps[i % 4 === 0 ? 'b' : 'c'] as M).set(`k${i}`, 'moved');
      await net.settled();
      expectLedgerExact(maps);
      for (let i = 6; i < 12; i++) await a.set(`k${i}`, i);
      await net.settled();
      for (const k of evicted) expect(['k1', 'k3', 'k5', 'k6', 'k7', 'k8', 'k9', 'k10', 'k11'], String(k)).to.include(k);
      for (let i = 0; i < 6; i += 2) expect(await a.get(`k${i}`, { promote: false }), `k${i}`).to.equal('moved');
      expectLedgerExact(maps);
    });

    it('never evicts a key the evictable option exempts', async () => {
      const { net, maps } = await bounded(['a', 'b'], {}, { a: { maxEntries: 2, evictionPolicy: 'lru', evictionSample: 100, evictable: (k) => !String(k).startsWith('lock:') } });
      const a = maps.a as M;
      await a.set('lock:x', 'me');
      for (let i = 0; i < 5; i++) await a.set(`k${i}`, i);
      await net.settled();
      expect(a.has('lock:x')).to.equal(true);
      expect(a.stats().capacity.entries).to.equal(2);
    });

    it('keeps a ReplicatedMap within the limit on every member: each evicts what it is primary of', async () => {
      const { net, maps } = await bounded(['a', 'b', 'c'], { replicated: true, maxEntries: 6, evictionPolicy: 'lru' });
      for (let i = 0; i < 30; i++) await (maps[['a', 'b', 'c'][i % 3] as string] as M).set(`k${i}`, i);
      await net.settled();
      for (const m of Object.values(maps)) expect(m.stats().capacity.entries).to.be.at.most(6);
      expect(new Set(Object.values(maps).map((m) => [...m.keys()].sort().join()))).to.have.length(1);
      expectLedgerExact(maps);
    });
  });

  describe('tombstones of a member with a limit', () => {
    /** The keys whose deletes `map` remembers, oldest first. */
    function tombstoneKeys(map: M): MapKey[] {
      return (map as unknown as { ctx: { tombstones: { list(): Array<{ key: MapKey }> } } }).ctx.tombstones.list().map((r) => r.key);
    }

    it('stay within maxTombstones through ten times maxEntries of evicting writes, the oldest forgotten first and counted', async () => {
      const n = 10;
      const { net, maps } = await bounded(['a', 'b', 'c'], { maxEntries: n, evictionPolicy: 'lru', evictionSample: 100, maxTombstones: n });
      const a = maps.a as M;
      const evicted: unknown[] = [];
      a.on('evicted', (k) => evicted.push(k));
      for (let i = 0; i < 10 * n; i++) {
        await a.set(`k${i}`, i);
        for (const m of Object.values(maps)) expect(m.stats().tombstones, `after write ${i}`).to.be.at.most(n);
      }
      await net.settled();
      expect(evicted).to.have.length(9 * n);
      // Exact LRU: a evicted k0, k1, ... in order; it remembers the last n of them.
      expect(tombstoneKeys(a)).to.deep.equal(evicted.slice(-n));
      expect(a.stats().capacity).to.include({ tombstones: n, maxTombstones: n, tombstonesForgotten: 8 * n });
      for (const m of Object.values(maps)) {
        expect(m.stats().tombstones).to.be.at.most(n);
        expect(m.stats().capacity.tombstones).to.equal(m.stats().tombstones);
      }
    });

    it('are bounded by default as maxEntries, at least 10,000, or maxBytes / 300; not at all without a limit', async () => {
      const { maps } = await bounded(['a', 'b', 'c', 'd', 'e'], {}, { a: { maxEntries: 20 }, b: { maxEntries: 50_000 }, c: { maxBytes: 30_000_000 }, e: { maxTombstones: 7 } });
      expect(maps.a?.stats().capacity.maxTombstones).to.equal(10_000);
      expect(maps.b?.stats().capacity.maxTombstones).to.equal(50_000);
      expect(maps.c?.stats().capacity.maxTombstones).to.equal(100_000);
      expect(maps.d?.stats().capacity.maxTombstones, 'no limit: only tombstoneTtlMs, as before').to.equal(undefined);
      expect(maps.e?.stats().capacity.maxTombstones, 'given without a limit, it applies').to.equal(7);
      // A store's limit set after start bounds them too.
      (maps.d as M).configureCapacity({ maxEntries: 12_345 });
      expect(maps.d?.stats().capacity.maxTombstones).to.equal(12_345);
    });

    it('without a limit, keep every delete for tombstoneTtlMs as before', async () => {
      const { net, maps } = await bounded(['a', 'b'], {});
      const a = maps.a as M;
      for (let i = 0; i < 300; i++) await a.set(`k${i}`, i);
      for (let i = 0; i < 300; i++) await a.delete(`k${i}`);
      await net.settled();
      for (const m of Object.values(maps)) expect(m.stats().capacity).to.include({ tombstones: 300, maxTombstones: undefined, tombstonesForgotten: 0 });
    });

    /**
     * a evicts 'old' while the member holding its backup, cut off, took it over; then a evicts
     * `more` keys before the heal. Every member has maxEntries 2 and maxTombstones 3.
     */
    async function evictedDuringPartition(more: number): Promise<Bounded & { holder: string }> {
      const cluster = await bounded(['a', 'b', 'c'], { maxEntries: 2, evictionPolicy: 'lru', evictionSample: 100, maxTombstones: 3 });
      const { net, maps } = cluster;
      const a = maps.a as M;
      await a.set('old', 1);
      await a.set('new', 2);
      const holder = a.entryInfo('old')?.backups[0] as string;
      const other = holder === 'b' ? 'c' : 'b';
      net.partition(['a', other], [holder]);
      await net.settled();
      expect(maps[holder]?.entryInfo('old')?.role).to.equal('primary');
      await a.set('third', 3);
      for (let i = 0; i < more; i++) await a.set(`more${i}`, i);
      await net.settled();
      expect(a.has('old')).to.equal(false);
      return { ...cluster, holder };
    }

    it('still keep a delete inside the bound from coming back after a heal', async () => {
      const { net, maps } = await evictedDuringPartition(1);
      const a = maps.a as M;
      expect(tombstoneKeys(a)).to.include('old');
      net.heal();
      await net.settled();
      for (const m of Object.values(maps)) expect(await m.get('old', { promote: false })).to.equal(undefined);
      expect(known(maps, 'old')).to.deep.equal([]);
    });

    it('let a delete forgotten beyond the bound be undone by a copy cut off longer (the documented window)', async () => {
      const { net, maps } = await evictedDuringPartition(4);
      const a = maps.a as M;
      expect(tombstoneKeys(a)).to.not.include('old');
      expect(a.stats().capacity.tombstonesForgotten).to.be.greaterThan(0);
      net.heal();
      await net.settled();
      expect(await a.get('old', { promote: false }), 'the cut-off copy came back').to.equal(1);
    });
  });

  describe("evictionPolicy 'ttl-first'", () => {
    it('evicts the entry closest to its expiry first, then the least recently used', async () => {
      const { net, maps } = await bounded(['a', 'b'], {}, { a: { maxEntries: 3, evictionPolicy: 'ttl-first', evictionSample: 100 } });
      const a = maps.a as M;
      const evicted: unknown[] = [];
      a.on('evicted', (k) => evicted.push(k));
      await a.set('forever', 1);
      await a.set('long', 2, { ttlMs: 600_000 });
      await a.set('short', 3, { ttlMs: 60_000 });
      await a.get('short');
      await a.set('n1', 4);
      await a.set('n2', 5);
      await net.settled();
      expect(evicted).to.deep.equal(['short', 'long']);
    });
  });

  describe('stats().held', () => {
    it('matches a scan of the entries after writes, reads, promotions, deletes and a failover', async () => {
      const { net, maps } = await bounded(['a', 'b', 'c', 'd'], { backups: 1 });
      for (let i = 0; i < 40; i++) await (maps[['a', 'b', 'c', 'd'][i % 4] as string] as M).set(`k${i}`, 'v'.repeat(i));
      expectLedgerExact(maps);
      for (let i = 0; i < 40; i += 3) await (maps[['b', 'c', 'd', 'a'][i % 4] as string] as M).get(`k${i}`);
      for (let i = 0; i < 40; i += 7) await maps.c?.delete(`k${i}`);
      await maps.a?.set('k1', 'grown'.repeat(50));
      await net.settled();
      expectLedgerExact(maps);
      net.crash('b');
      await net.settled();
      expectLedgerExact(maps);
      const a = maps.a as M;
      const s = a.stats();
      expect(s.held.primary.entries).to.equal(s.entries.primary);
      expect(s.held.proxy.entries).to.equal(s.entries.proxy);
      expect(s.capacity.entries).to.equal(s.entries.primary + s.entries.backup);
      expect(s.capacity).to.include({ maxEntries: undefined, evictionPolicy: 'reject', evicted: 0 });
    });

    it('sets limits after start with configureCapacity, evicting at once', async () => {
      const { net, maps } = await bounded(['a', 'b'], {});
      const a = maps.a as M;
      for (let i = 0; i < 10; i++) await a.set(`k${i}`, i);
      a.configureCapacity({ maxEntries: 4, evictionPolicy: 'lru' });
      await net.settled();
      expect(a.stats().capacity).to.include({ entries: 4, evicted: 6 });
      expect(() => {
        a.configureCapacity({ maxEntries: 0 });
      }).to.throw(RangeError, /maxEntries/);
    });
  });

  describe('the stores map their limits onto the map', () => {
    it('BackupSessionStore maxSessions: a new session on a full member is refused, saves of held ones are not', async () => {
      const { maps } = await bounded(['a', 'b'], {});
      const store = new BackupSessionStore({ map: maps.a as M, route: 'a', maxSessions: 2 });
      expect((maps.a as M).capacityLimits()).to.deep.equal({ maxEntries: 2, maxBytes: undefined, evictionPolicy: 'reject' });
      const session = (n: number): { cookie: object; n: number } => ({ cookie: { maxAge: 60_000 }, n });
      const [s1, s2, s3] = [store.genid(), store.genid(), store.genid()];
      await store.set(s1, session(1));
      await store.set(s2, session(2));
      const error = await store.set(s3, session(3)).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(CapacityError);
      await store.set(s1, session(11));
      expect(await store.get(s1)).to.include({ n: 11 });
      expect(await store.length()).to.equal(2);
    });

    it("BackupSessionStore maxSessions with evictionPolicy 'lru' evicts the least recently used session", async () => {
      const { maps } = await bounded(['a', 'b'], {});
      const store = new BackupSessionStore({ map: maps.a as M, route: 'a', maxSessions: 2, evictionPolicy: 'lru' });
      const ids = [store.genid(), store.genid(), store.genid()];
      for (const [i, sid] of ids.entries()) await store.set(sid, { cookie: { maxAge: 60_000 }, i });
      expect(await store.length()).to.equal(2);
      expect(await store.get(ids[0] as string)).to.equal(null);
    });

    it('refuses a store limit that contradicts the map', async () => {
      const { maps } = await bounded(['a'], {}, { a: { maxEntries: 10 } });
      expect(() => new BackupSessionStore({ map: maps.a as M, route: 'a', maxSessions: 5 })).to.throw(TypeError, /maxSessions.*one place/);
      expect(() => new BackupSessionStore({ map: maps.a as M, route: 'a', maxSessions: 10 })).to.not.throw();
      expect(() => new KeyvStore({ map: maps.a as M, maxEntries: 10 })).to.throw(TypeError, /evictionPolicy 'reject'/);
    });

    it("KeyvStore maxEntries evicts ('lru' by default)", async () => {
      const { net, maps } = await bounded(['a', 'b'], {});
      const store = new KeyvStore({ map: maps.a as M, maxEntries: 3 });
      for (let i = 0; i < 6; i++) await store.set(`k${i}`, i);
      await net.settled();
      expect((maps.a as M).stats().capacity).to.include({ entries: 3, evicted: 3, evictionPolicy: 'lru' });
      expect(await store.get('k5')).to.equal(5);
      expect(await store.get('k0')).to.equal(undefined);
    });
  });
});
