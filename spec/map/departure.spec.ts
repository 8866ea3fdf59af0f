/**
 * A graceful stop never drops entries silently: the last member waits for a newcomer to hand its
 * entries to, members stopping at once never count on each other, and what is lost is reported.
 * On the in-memory network; the same with real processes is in spec/cluster/last-member.spec.ts.
 */
import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { DataLossError, InMemoryNetwork, LazyReplicatedMap, StoppedError } from '../../lib/index.js';
import { once } from '../helpers/events.js';

type Map = LazyReplicatedMap<string>;

describe('a map that stops (departure)', () => {
  let net: InMemoryNetwork;
  let maps: Map[] = [];

  const member = (id: string, stopWaitMs?: number): Map => {
    const map = new LazyReplicatedMap<string, unknown>({ name: 'd', transport: net.transport(id), ...(stopWaitMs === undefined ? {} : { stopWaitMs }) });
    maps.push(map);
    return map;
  };
  const keys = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const write = async (map: Map, list: string[]): Promise<void> => {
    for (const k of list) await map.set(k, { k });
  };
  /** The values `map` serves for `list` (fetched, without moving anything). */
  const values = async (map: Map, list: string[]): Promise<unknown[]> => Promise.all(list.map((k) => map.get(k, { promote: false })));

  beforeEach(() => {
    net = new InMemoryNetwork({ seed: 7 });
    maps = [];
  });
  afterEach(async () => {
    for (const m of maps) if (m.state !== 'stopped') await m.stop({ discard: true }).catch(() => undefined);
  });

  it('hands the primary role of its keys to a staying backup before it says goodbye, so no backup claims them on its own', async () => {
    const [a, b, c] = [member('a'), member('b'), member('c')];
    for (const m of [a, b, c]) await m.start();
    await net.settled();
    const list = keys('k', 12);
    await write(a, list);
    // Keys whose first write was placed on another member are handed to a: a is primary of all.
    for (const k of list) expect(a.entryInfo(k)?.role, k).to.equal('primary');
    await net.settled();
    await a.stop();
    await net.settled();
    for (const k of list) {
      const heir = b.entryInfo(k)?.primary;
      expect(heir, `primary of ${k}`).to.be.oneOf(['b', 'c']);
      expect(c.entryInfo(k)?.primary, `primary of ${k} as c sees it`).to.equal(heir);
    }
    // The role came with a placement from a, not from a failover claim after its goodbye.
    expect(b.stats().failovers + c.stats().failovers).to.equal(0);
    expect(await values(c, list)).to.deep.equal(list.map((k) => ({ k })));
    expect(await values(b, list)).to.deep.equal(list.map((k) => ({ k })));
  });

  it('waits for a member to join when it is the last one holding entries, and hands them all over', async () => {
    const [a, b] = [member('a'), member('b')];
    await a.start();
    await b.start();
    const list = keys('k', 20);
    await write(a, list);
    await b.stop();
    // The last member gets its SIGTERM before its replacement started (a hasty rolling update).
    const stopping = a.stop();
    const c = member('c');
    await c.start();
    await stopping;
    expect(await values(c, list)).to.deep.equal(list.map((k) => ({ k })));
    expect(c.entryInfo('k0')?.role).to.equal('primary');
    expect(c.members()).to.deep.equal(['c']);
  });

  it('reports the loss, naming how many entries were dropped, when no member joins within stopWaitMs', async () => {
    const [a, b] = [member('a', 20), member('b')];
    await a.start();
    await b.start();
    await write(a, keys('k', 12));
    await b.stop();
    const reported = once<[Error]>(a, 'error');
    const error: unknown = await a.stop().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(DataLossError);
    expect((error as DataLossError).dropped).to.equal(12);
    expect((error as Error).message).to.match(/dropped 12 entries/).and.to.include('stopWaitMs');
    expect((await reported)[0]).to.equal(error);
    expect(a.state).to.equal('stopped');
  });

  it('stops a lone member that never had a peer at once, with a process warning naming the entries dropped', async function () {
    // Waiting for a member (stopWaitMs) would outlast the test's timeout.
    this.timeout(5000);
    const a = member('a', 60_000);
    await a.start();
    await write(a, keys('k', 3));
    const warned = once<[Error]>(process, 'warning', (w) => w.name === 'DataLossError');
    await a.stop();
    const [warning] = await warned;
    expect(warning).to.be.instanceOf(DataLossError).and.to.have.property('dropped', 3);
    expect(warning.message).to.include('never had a peer');
  });

  it('drops knowingly with discard: no wait and no error', async function () {
    this.timeout(5000);
    const [a, b] = [member('a', 60_000), member('b')];
    await a.start();
    await b.start();
    await write(a, keys('k', 5));
    await b.stop();
    await a.stop({ discard: true });
    expect(a.state).to.equal('stopped');
  });

  it('never hands entries to a member that is stopping too: two stopping at once leave everything to the one that stays', async () => {
    const [a, b, c] = [member('a'), member('b'), member('c')];
    for (const m of [a, b, c]) await m.start();
    const onA = keys('a', 15);
    const onB = keys('b', 15);
    await write(a, onA);
    await write(b, onB);
    await Promise.all([a.stop(), b.stop()]);
    const all = [...onA, ...onB];
    expect(await values(c, all)).to.deep.equal(all.map((k) => ({ k })));
    for (const k of all) expect(c.entryInfo(k)?.role, k).to.equal('primary');
  });

  it('two last members stopping at once both wait, and a newcomer gets what both held', async () => {
    const [a, b] = [member('a'), member('b')];
    await a.start();
    await b.start();
    const onA = keys('a', 10);
    const onB = keys('b', 10);
    await write(a, onA);
    await write(b, onB);
    const stopping = Promise.all([a.stop(), b.stop()]);
    const c = member('c');
    await c.start();
    await stopping;
    const all = [...onA, ...onB];
    expect(await values(c, all)).to.deep.equal(all.map((k) => ({ k })));
  });

  it('two last members stopping at once with no newcomer both report their loss instead of handing to each other', async () => {
    const [a, b] = [member('a', 30), member('b', 30)];
    // Reported on 'error' too (a warning when nobody listens): the rejections are checked below.
    for (const m of [a, b]) m.on('error', () => undefined);
    await a.start();
    await b.start();
    await write(a, keys('a', 4));
    await write(b, keys('b', 6));
    const outcomes = await Promise.allSettled([a.stop(), b.stop()]);
    for (const o of outcomes) {
      expect(o.status).to.equal('rejected');
      // Each held all ten (its own primaries and the other's backups): nobody staying holds them.
      expect(((o as PromiseRejectedResult).reason as DataLossError).dropped).to.equal(10);
    }
  });

  it('refuses a stopWaitMs that is not a whole number of milliseconds >= 0', () => {
    expect(() => member('a', -1)).to.throw(RangeError, 'stopWaitMs');
    expect(() => member('b', 1.5)).to.throw(RangeError, 'stopWaitMs');
  });
});

describe('a map\'s readiness', () => {
  let net: InMemoryNetwork;
  beforeEach(() => {
    net = new InMemoryNetwork({ seed: 3 });
  });

  it('is ready once it joined and knows every key, and not from the moment stop() begins', async () => {
    const a = new LazyReplicatedMap<string, number>({ name: 'r', transport: net.transport('a') });
    await a.set('k', 1);
    const b = new LazyReplicatedMap<string, number>({ name: 'r', transport: net.transport('b') });
    expect(b.isReady).to.equal(false);
    const ready = b.whenReady();
    const starting = b.start();
    expect(b.isReady, 'while joining').to.equal(false);
    await ready;
    expect(b.isReady).to.equal(true);
    expect(b.has('k'), 'ready means it knows every key').to.equal(true);
    await starting;
    await b.whenReady();
    const stopping = b.stop();
    expect(b.isReady, 'while stopping').to.equal(false);
    await stopping;
    await a.stop({ discard: true });
  });

  it('whenReady() rejects with the error of a start that fails', async () => {
    const failure = new Error('cannot listen');
    const transport = Object.assign(new EventEmitter(), {
      id: 'x',
      start: () => Promise.reject(failure),
      stop: () => Promise.resolve(),
      peers: () => [],
      send: () => Promise.resolve(),
    });
    const a = new LazyReplicatedMap<string, number>({ name: 'r', transport });
    const starting = a.start().catch((e: unknown) => e);
    const error: unknown = await a.whenReady().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.equal(failure);
    expect(await starting).to.equal(failure);
  });

  it('whenReady() rejects when the map stops before it was ready', async () => {
    const a = new LazyReplicatedMap<string, number>({ name: 'r', transport: net.transport('a') });
    const ready = a.whenReady();
    await a.stop();
    const error: unknown = await ready.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(StoppedError);
    await a.whenReady().then(
      () => expect.fail('a stopped map is never ready'),
      (e: unknown) => expect(e).to.be.instanceOf(StoppedError),
    );
  });
});
