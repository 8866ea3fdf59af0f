/**
 * Conditional writes: `setIfAbsent`, `compareAndSet` and `update`, decided once by the key's
 * primary (or, for a key no member knows, by the member it hashes to), in its call order.
 */
import { expect } from 'chai';
import {
  ConditionalWriteError,
  LazyReplicatedMap,
  MSG_CONDITIONAL,
  StoppedError,
  UpdateConflictError,
  ValueTooLargeError,
} from '../../lib/index.js';
import { addressesOf, connected, member, stopAllMembers } from '../transport/tcp/tcp-helpers.js';
import { rejection } from '../helpers/events.js';
import { cluster, type Cluster } from './helpers.js';

type AnyMap = LazyReplicatedMap<string | number>;

async function everywhere(maps: AnyMap[], key: string): Promise<unknown[]> {
  return Promise.all(maps.map((m) => m.get(key, { promote: false })));
}

/** The member `ids` names that holds `key` in `role`, as `a` sees it. */
function holder(c: Cluster, key: string, role: 'primary' | 'backup' | 'proxy'): AnyMap {
  const ids = Object.keys(c.maps);
  const info = c.maps[ids[0]!]!.entryInfo(key)!;
  const id = role === 'primary' ? info.primary : role === 'backup' ? info.backups[0]! : ids.find((m) => m !== info.primary && !info.backups.includes(m))!;
  return c.maps[id]!;
}

for (const replicated of [false, true]) {
  const kind = replicated ? 'ReplicatedMap' : 'LazyReplicatedMap';
  describe(`Conditional writes (${kind}, in memory)`, () => {
    let c: Cluster;
    let all: AnyMap[];
    beforeEach(async () => {
      c = await cluster(['a', 'b', 'c'], { replicated });
      all = Object.values(c.maps);
    });
    afterEach(async () => {
      await c.stopAll();
    });

    it('racing setIfAbsent of a fresh key from 3 members, pipelined: exactly one true, and every member reads its value (many rounds and seeds)', async function () {
      this.timeout(60_000);
      for (let seed = 1; seed <= 4; seed++) {
        await c.stopAll();
        c = await cluster(['a', 'b', 'c'], { replicated, seed, netOptions: seed % 2 === 0 ? { delay: { min: 0, max: 3 }, reorder: true } : {} });
        all = Object.values(c.maps);
        for (let round = 0; round < 25; round++) {
          const key = `lock-${round}`;
          // Two calls per member, not awaited: six racers.
          // A loser reads at once, before the winner's call resolved: it must see a value.
          const race = (m: AnyMap, value: string): Promise<[boolean, unknown]> =>
            m.setIfAbsent(key, value).then(async (won) => [won, won ? value : await m.get(key, { promote: false })]);
          const calls = all.flatMap((m) => [race(m, `${m.id}.1`), race(m, `${m.id}.2`)]);
          const results = await Promise.all(calls);
          const answers = results.map(([won]) => won);
          expect(answers.filter((x) => x), `seed ${seed} round ${round}: ${JSON.stringify(answers)}`).to.have.length(1);
          const winner = ['a.1', 'a.2', 'b.1', 'b.2', 'c.1', 'c.2'][answers.indexOf(true)];
          expect(results.map(([, seen]) => seen), `seed ${seed} round ${round}: what each racer saw`).to.deep.equal(results.map(() => winner));
          expect(await everywhere(all, key), `seed ${seed} round ${round}`).to.deep.equal(all.map(() => winner));
        }
      }
    });

    it('setIfAbsent on an existing key answers false and leaves the value, on the primary, a backup and a proxy', async () => {
      await c.maps.a!.set('k', 'first');
      for (const role of ['primary', 'backup', 'proxy'] as const) {
        if (replicated && role === 'proxy') continue;
        const on = holder(c, 'k', role);
        expect(await on.setIfAbsent('k', `from ${role}`), role).to.equal(false);
        expect(await everywhere(all, 'k')).to.deep.equal(all.map(() => 'first'));
      }
      // The caller does not become primary.
      expect(c.maps.a!.entryInfo('k')!.role).to.equal('primary');
    });

    it('setIfAbsent after a delete writes again', async () => {
      await c.maps.a!.set('k', 'first');
      await c.maps.b!.delete('k');
      expect(await c.maps.c!.setIfAbsent('k', 'second')).to.equal(true);
      expect(await everywhere(all, 'k')).to.deep.equal(all.map(() => 'second'));
    });

    it('compareAndSet by encoded bytes: true replaces, false leaves; property order counts', async () => {
      await c.maps.a!.set('k', { a: 1, b: [1, 2] });
      const proxyOrBackup = holder(c, 'k', replicated ? 'backup' : 'proxy');
      expect(await proxyOrBackup.compareAndSet('k', { a: 1, b: [1, 3] }, { a: 9 })).to.equal(false);
      // Same content, other key order: other bytes, so not equal.
      expect(await proxyOrBackup.compareAndSet('k', { b: [1, 2], a: 1 }, { a: 9 })).to.equal(false);
      expect(await everywhere(all, 'k')).to.deep.equal(all.map(() => ({ a: 1, b: [1, 2] })));
      expect(await proxyOrBackup.compareAndSet('k', { a: 1, b: [1, 2] }, { a: 2 })).to.equal(true);
      expect(await everywhere(all, 'k')).to.deep.equal(all.map(() => ({ a: 2 })));
      // On the primary too, and on an absent key it answers false.
      expect(await c.maps.a!.compareAndSet('k', { a: 2 }, { a: 3 })).to.equal(true);
      expect(await c.maps.b!.compareAndSet('absent', 'x', 'y')).to.equal(false);
      expect(await everywhere(all, 'absent')).to.deep.equal(all.map(() => undefined));
      expect(await everywhere(all, 'k')).to.deep.equal(all.map(() => ({ a: 3 })));
    });

    it('3 members x 20 concurrent update(k, n => (n ?? 0) + 1), not awaited: 60 everywhere', async function () {
      this.timeout(30_000);
      const runs = { count: 0 };
      const calls = all.flatMap((m) =>
        Array.from({ length: 20 }, () =>
          m.update('counter', (n) => {
            runs.count++;
            return ((n as number | undefined) ?? 0) + 1;
          }),
        ),
      );
      const results = (await Promise.all(calls)) as number[];
      expect([...results].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(await everywhere(all, 'counter')).to.deep.equal(all.map(() => 60));
      expect(runs.count).to.be.at.least(60);
    });

    it('update gives up after maxAttempts with UpdateConflictError, writing nothing of its own', async () => {
      await c.maps.a!.set('k', 0);
      const other = holder(c, 'k', replicated ? 'backup' : 'proxy');
      let runs = 0;
      // Each run of fn races a write on the primary, which reaches it first.
      const error = await other
        .update(
          'k',
          (n) => {
            runs++;
            void c.maps.a!.set('k', 1000 + runs);
            return (n as number) + 1;
          },
          { maxAttempts: 3 },
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).to.be.instanceOf(UpdateConflictError);
      expect((error as UpdateConflictError).attempts).to.equal(3);
      expect((error as Error).name).to.equal('UpdateConflictError');
      expect(runs).to.equal(3);
      await c.net.settled();
      expect(await everywhere(all, 'k')).to.deep.equal(all.map(() => 1003));
    });

    it('update on the primary runs fn once, synchronously in call order', async () => {
      await c.maps.a!.set('k', 1);
      let runs = 0;
      const a = c.maps.a!;
      const updated = a.update('k', (n) => {
        runs++;
        return (n as number) * 10;
      });
      const set = a.set('k', 5);
      expect(await updated).to.equal(10);
      await set;
      expect(runs).to.equal(1);
      expect(await everywhere(all, 'k')).to.deep.equal(all.map(() => 5));
    });

    it('a value too large is refused before anything is sent; options are validated', async () => {
      const small = await cluster(['x', 'y'], { replicated });
      try {
        // The in-memory network has no frame limit: check the options here, the size over TCP.
        expect(await rejection(small.maps.y!.setIfAbsent('k', 'v', { ttlMs: -1 }))).to.be.instanceOf(RangeError);
        expect(await rejection(small.maps.y!.update('k', () => 1, { maxAttempts: 0 }))).to.be.instanceOf(RangeError);
        expect(await rejection(small.maps.y!.update('k', 'no' as unknown as () => number))).to.be.instanceOf(TypeError);
        expect(await rejection(small.maps.y!.compareAndSet({} as unknown as string, 1, 2))).to.be.instanceOf(TypeError);
      } finally {
        await small.stopAll();
      }
    });

    it('a conditional write with ttlMs from another member leaves the primary where it was', async () => {
      await c.maps.a!.set('k', 'x');
      expect(await c.maps.b!.compareAndSet('k', 'x', 'y', { ttlMs: 60_000 })).to.equal(true);
      expect(await c.maps.c!.update('k', (v) => `${String(v)}z`, { maxIdleMs: 60_000 })).to.equal('yz');
      for (const m of all) expect(m.entryInfo('k')!.primary, m.id).to.equal('a');
      expect(await everywhere(all, 'k')).to.deep.equal(all.map(() => 'yz'));
    });

    it('conditional writes after stop reject with StoppedError', async () => {
      const a = c.maps.a!;
      await a.stop();
      expect(await rejection(a.setIfAbsent('k', 1))).to.be.instanceOf(StoppedError);
      expect(await rejection(a.compareAndSet('k', 1, 2))).to.be.instanceOf(StoppedError);
      expect(await rejection(a.update('k', () => 1))).to.be.instanceOf(StoppedError);
    });
  });
}

const all3 = (c: Cluster): AnyMap[] => [c.maps.a!, c.maps.b!, c.maps.c!];

describe('Conditional writes under a crash (in memory)', () => {
  it('a primary killed mid-update: the update lands once or rejects with ConditionalWriteError, never twice', async function () {
    this.timeout(60_000);
    let landed = 0;
    let rejected = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const c = await cluster(['a', 'b', 'c'], { seed, backups: 1, netOptions: { delay: { min: 0, max: 2 } } });
      try {
        await c.maps.a!.set('k', 0);
        const proxy = holder(c, 'k', 'proxy');
        await c.net.settled();
        const runs: number[] = [];
        const done = proxy.update('k', (n) => {
          runs.push(n as number);
          return (n as number) + 1;
        });
        // Crash the primary once a seed-dependent number of frames arrived anywhere: before the
        // read, between the read and the compare-and-set, while its copy goes to the backup, or
        // before the answer gets back.
        const crashAfter = seed % 10;
        let frames = 0;
        const count = (): void => {
          if (frames++ === crashAfter && c.maps.a!.state === 'running') c.net.crash('a');
        };
        for (const m of all3(c)) m.transport.on('message', count);
        if (crashAfter === 0) c.net.crash('a');
        const outcome = await done.then(
          (v) => ({ ok: true as const, v }),
          (e: unknown) => ({ ok: false as const, e }),
        );
        await c.net.settled();
        const survivors = [c.maps.b!, c.maps.c!];
        expect(runs.length, `seed ${seed}: fn ran at most once (no conflicting writer)`).to.be.at.most(1);
        const values = await everywhere(survivors, 'k');
        expect(values[0], `seed ${seed}: members agree`).to.deep.equal(values[1]);
        if (outcome.ok) {
          landed++;
          expect(outcome.v).to.equal(1);
          // Landed once: the survivors hold 1 (or lost it with its only copy, never 2).
          expect([1, undefined], `seed ${seed}`).to.include(values[0]);
        } else {
          rejected++;
          expect(outcome.e, `seed ${seed}: ${String(outcome.e)}`).to.be.instanceOf(ConditionalWriteError);
          expect([0, 1, undefined], `seed ${seed}`).to.include(values[0]);
        }
      } finally {
        await c.stopAll();
      }
    }
    // Both outcomes were exercised.
    expect(landed, 'updates that landed').to.be.greaterThan(0);
    expect(rejected, 'updates rejected').to.be.greaterThan(0);
  });
});

describe('Conditional writes over TCP', () => {
  const maps: AnyMap[] = [];
  afterEach(async () => {
    for (const m of maps.splice(0)) await m.stop({ discard: true }).catch(() => undefined);
    await stopAllMembers();
  });

  it('3 members over TCP: racing setIfAbsent answers one true; 3 x 10 concurrent updates end at 30; a value too large is refused before sending', async function () {
    this.timeout(30_000);
    const ta = member('a', { maxFrameBytes: 64 * 1024 });
    const tb = member('b', { seeds: addressesOf(ta), maxFrameBytes: 64 * 1024 });
    const tc = member('c', { seeds: addressesOf(ta), maxFrameBytes: 64 * 1024 });
    await connected(ta, tb, tc);
    for (const t of [ta, tb, tc]) {
      const m = new LazyReplicatedMap<string | number>({ name: 'cond', transport: t, backups: 1 });
      maps.push(m);
    }
    await Promise.all(maps.map((m) => m.start()));
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(maps.map((m) => m.setIfAbsent(`lock-${round}`, m.id)));
      expect(answers.filter((x) => x)).to.have.length(1);
      const winner = maps[answers.indexOf(true)]!.id;
      expect(await everywhere(maps, `lock-${round}`)).to.deep.equal(maps.map(() => winner));
    }
    const results = await Promise.all(maps.flatMap((m) => Array.from({ length: 10 }, () => m.update('n', (n) => ((n as number | undefined) ?? 0) + 1))));
    expect(results).to.have.length(30);
    expect(await everywhere(maps, 'n')).to.deep.equal(maps.map(() => 30));
    const before = maps[1]!.stats().sent[MSG_CONDITIONAL] ?? 0;
    expect(await rejection(maps[1]!.setIfAbsent('big', 'x'.repeat(100 * 1024)))).to.be.instanceOf(ValueTooLargeError);
    expect(maps[1]!.stats().sent[MSG_CONDITIONAL] ?? 0, 'nothing sent').to.equal(before);
    expect(maps[1]!.has('big')).to.equal(false);
  });
});

