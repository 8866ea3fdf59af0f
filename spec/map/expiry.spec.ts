import { expect } from 'chai';
import { InMemoryNetwork, LazyReplicatedMap, type ExpiryTimers, type NetworkStats } from '../../lib/index.js';
import { thrown } from '../helpers/events.js';

/** A fake wall clock and fake interval timers shared by every map of a spec. */
class FakeTime implements ExpiryTimers {
  time = 0;
  readonly intervals = new Set<{ callback: () => void; ms: number }>();
  readonly now = (): number => this.time;
  setInterval(callback: () => void, ms: number): unknown {
    const handle = { callback, ms };
    this.intervals.add(handle);
    return handle;
  }
  clearInterval(handle: unknown): void {
    this.intervals.delete(handle as { callback: () => void; ms: number });
  }
  /** Moves the clock to `at` and fires every interval timer once (a sweep round). */
  fire(at: number): void {
    this.time = at;
    for (const t of [...this.intervals]) t.callback();
  }
}

function sent(before: NetworkStats, after: NetworkStats, type: string): number {
  return (after.byType[type]?.messages ?? 0) - (before.byType[type]?.messages ?? 0);
}

describe('LazyReplicatedMap expiry', () => {
  const IDS = ['a', 'b', 'c'];
  let net: InMemoryNetwork;
  let time: FakeTime;
  let maps: Record<string, LazyReplicatedMap<string, string>>;

  async function start(options: { ttlMs?: number; maxIdleMs?: number } = {}): Promise<void> {
    net = new InMemoryNetwork({ seed: 3 });
    time = new FakeTime();
    maps = {};
    for (const id of IDS) {
      maps[id] = new LazyReplicatedMap<string, string>({ name: 'exp', transport: net.transport(id), backups: 1, now: time.now, timers: time, ...options });
      await maps[id].start();
    }
    await net.settled();
  }
  afterEach(async () => {
    for (const m of Object.values(maps)) if (m.state === 'running') await m.stop({ discard: true });
    await net.settled();
    expect(time.intervals.size, 'stop() leaves no sweep timer').to.equal(0);
  });

  const roles = (key: string): { primary: LazyReplicatedMap<string, string>; backup: LazyReplicatedMap<string, string>; proxy: LazyReplicatedMap<string, string> } => {
    const info = maps.a!.entryInfo(key)!;
    const proxy = IDS.find((id) => id !== info.primary && !info.backups.includes(id))!;
    return { primary: maps[info.primary]!, backup: maps[info.backups[0]!]!, proxy: maps[proxy]! };
  };
  const everywhere = async (key: string): Promise<(string | undefined)[]> => Promise.all(IDS.map((id) => maps[id]!.get(key, { promote: false })));

  it('returns an entry until its time to live runs out and from then on on no member, before any sweep', async () => {
    await start();
    await maps.a!.set('k', 'v', { ttlMs: 1000 });
    const { backup, proxy } = roles('k');
    time.time = 999;
    expect(await everywhere('k')).to.deep.equal(['v', 'v', 'v']);
    time.time = 1000;
    // Reads through the backup or the proxy ask the primary, which knows; promotion brings nothing back.
    expect(await backup.get('k')).to.equal(undefined);
    expect(await proxy.get('k')).to.equal(undefined);
    expect(await everywhere('k')).to.deep.equal([undefined, undefined, undefined]);
  });

  it('deletes expired entries from every member within one sweep', async () => {
    await start();
    for (let i = 0; i < 100; i++) await maps[IDS[i % 3]!]!.set(`k${i}`, 'v', { ttlMs: 50 });
    await maps.a!.set('forever', 'v');
    expect(maps.c!.size).to.equal(101);
    time.fire(1000);
    await net.settled();
    for (const id of IDS) {
      expect(maps[id]!.size, `size on ${id}`).to.equal(1);
      expect([...maps[id]!.keys()]).to.deep.equal(['forever']);
    }
  });

  it('counts get, set and touch on any member as uses for maxIdleMs, and sends the backups nothing per read', async () => {
    await start();
    await maps.a!.set('k', 'v', { maxIdleMs: 1000 });
    const { primary, proxy } = roles('k');
    const before = net.stats();
    for (const at of [100, 200, 300, 400]) {
      time.time = at;
      expect(await primary.get('k')).to.equal('v');
    }
    await net.settled();
    expect(sent(before, net.stats(), 'MSG_ACCESS'), 'reads within half the idle limit tell nobody').to.equal(0);
    time.time = 600;
    await primary.get('k');
    await net.settled();
    expect(sent(before, net.stats(), 'MSG_ACCESS'), 'then one access notice to the backup').to.equal(1);

    time.time = 1500;
    expect(await proxy.touch('k'), 'a touch through a proxy').to.equal(true);
    time.time = 2400;
    expect(await everywhere('k'), 'alive: last use at 1500').to.deep.equal(['v', 'v', 'v']);
    time.time = 3300;
    expect(await everywhere('k'), 'the reads at 2400 were uses too').to.deep.equal(['v', 'v', 'v']);
    time.time = 4400;
    expect(await everywhere('k')).to.deep.equal([undefined, undefined, undefined]);
  });

  it('answers touch() with false through any member once the entry expired, and deletes it', async () => {
    await start();
    await maps.a!.set('k', 'v', { maxIdleMs: 1000 });
    const { primary, backup, proxy } = roles('k');
    time.time = 999;
    expect(await proxy.touch('k'), 'alive: a use').to.equal(true);
    time.time = 1998;
    expect(await backup.touch('k'), 'alive since the touch at 999').to.equal(true);
    time.time = 2998;
    expect(await proxy.touch('k'), 'expired: idle since 1998').to.equal(false);
    expect(await primary.touch('k')).to.equal(false);
    await net.settled();
    for (const id of IDS) expect(maps[id]!.has('k'), `k on ${id}`).to.equal(false);
  });

  it('counts a touch sent to a primary that was just replaced: it goes on to the new primary', async () => {
    await start();
    await maps.a!.set('k', 'v', { maxIdleMs: 1000 });
    const { backup, proxy } = roles('k');
    time.time = 100;
    expect(await backup.get('k'), 'the backup becomes primary; the proxy hears of it later').to.equal('v');
    time.time = 900;
    expect(await proxy.touch('k')).to.equal(true);
    await net.settled();
    time.time = 1500; // last use at 900
    expect(await everywhere('k')).to.deep.equal(['v', 'v', 'v']);
  });

  it('never drops a live entry on failover, though its primary saw uses it had not reported', async () => {
    await start();
    await maps.a!.set('k', 'v', { maxIdleMs: 1000 });
    const { primary, backup } = roles('k');
    time.time = 400;
    await primary.get('k'); // not reported: within half the idle limit
    time.time = 1200; // the backup's own news (0) says expired at 1000; the truth is 1400
    net.crash(primary.id);
    await net.settled();
    expect(backup.entryInfo('k')?.role).to.equal('primary');
    expect(await backup.get('k')).to.equal('v');
    time.fire(1300);
    await net.settled();
    expect(backup.has('k')).to.equal(true);
  });

  it('expires an entry at its time to live on both sides of a partition that cut its primary off', async () => {
    await start();
    await maps.a!.set('k', 'v', { ttlMs: 1000 });
    const { primary, backup } = roles('k');
    net.partition([primary.id], IDS.filter((id) => id !== primary.id));
    await net.settled();
    // Cut off, the backup became primary; it serves the entry until its time to live runs out.
    expect(await backup.get('k')).to.equal('v');
    time.fire(1000);
    await net.settled();
    for (const id of IDS.filter((m) => m !== primary.id)) expect(maps[id]!.has('k'), `k on ${id}`).to.equal(false);
    expect(primary.has('k')).to.equal(false);
  });

  it('takes map-wide defaults, lets a write override them, and a write without expiry makes the entry last', async () => {
    await start({ ttlMs: 1000 });
    await maps.a!.set('default', 'v');
    await maps.a!.set('longer', 'v', { ttlMs: 5000 });
    await maps.a!.set('idle', 'v', { maxIdleMs: 300 });
    time.time = 1000;
    expect(await maps.b!.get('default', { promote: false })).to.equal(undefined);
    expect(await maps.b!.get('longer', { promote: false })).to.equal('v');
    expect(await maps.b!.get('idle', { promote: false }), 'both limits apply: the default ttl too').to.equal(undefined);
  });

  it('restarts the time to live on every write, also an update in place, but not on replicate or touch', async () => {
    await start();
    await maps.a!.set('k', 'v1', { ttlMs: 1000 });
    time.time = 800;
    await maps.a!.set('k', 'v2', { ttlMs: 1000 });
    time.time = 1700;
    expect(await everywhere('k')).to.deep.equal(['v2', 'v2', 'v2']);
    await maps.a!.touch('k');
    time.time = 1800;
    expect(await everywhere('k')).to.deep.equal([undefined, undefined, undefined]);
  });

  it('refuses invalid expiry settings with a RangeError naming the option', async () => {
    await start();
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect((thrown(() => new LazyReplicatedMap({ name: 'x', transport: net.transport('x'), ttlMs: bad })) as Error).message).to.include('`ttlMs`');
      const rejected = await maps.a!.set('k', 'v', { maxIdleMs: bad }).then(() => undefined, (e: unknown) => e);
      expect(rejected).to.be.instanceOf(RangeError);
      expect((rejected as Error).message).to.include('`maxIdleMs`');
    }
    expect(maps.a!.has('k')).to.equal(false);
  });

  it('emits expired on the primary, and sweeps on its timer', async () => {
    await start({ maxIdleMs: 100 });
    const expired: string[] = [];
    maps.a!.on('expired', (key) => expired.push(key));
    await maps.a!.set('k', 'v');
    time.fire(50);
    await net.settled();
    expect(expired).to.deep.equal([]);
    time.fire(100);
    await net.settled();
    expect(expired).to.deep.equal(['k']);
    for (const id of IDS) expect(maps[id]!.has('k')).to.equal(false);
  });
});
