import { expect } from 'chai';
import {
  FrameKind,
  InMemoryNetwork,
  NotStartedError,
  LazyReplicatedMap,
  ProtocolError,
  RpcChannel,
  StoppedError,
  ValueEncodeError,
  classifyFrame,
  encodeFrame,
} from '../../lib/index.js';
import type { EntryInfo, MapKey } from '../../lib/index.js';
import { record, rejection, thrown } from '../helpers/events.js';
import { cluster, type Cluster } from './helpers.js';
import { assertConverged } from './invariants.js';

const IDS = ['a', 'b', 'c'];
type AnyMap = LazyReplicatedMap<string | number>;

/** Every member's view of `key`. */
function views(c: Cluster, key: MapKey, ids: string[] = IDS): (EntryInfo | undefined)[] {
  return ids.map((id) => c.maps[id]!.entryInfo(key));
}

/** Asserts that no member in `ids` knows `key` or reads a value for it. */
async function goneEverywhere(c: Cluster, key: MapKey, ids: string[] = IDS): Promise<void> {
  for (const id of ids) {
    const map = c.maps[id]!;
    expect(map.has(key), `'${id}' has ${String(key)}`).to.equal(false);
    expect(map.entryInfo(key), `entryInfo on '${id}'`).to.equal(undefined);
    expect(await map.get(key, { promote: false }), `value on '${id}'`).to.equal(undefined);
  }
}

/** A deterministic byte generator (an LCG): garbage that is the same on every run. */
function garbage(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

describe('LazyReplicatedMap API', () => {
  let c: Cluster | undefined;
  const extra: AnyMap[] = [];
  afterEach(async () => {
    for (const m of extra.splice(0)) if (m.state === 'running') await m.stop({ discard: true });
    await c?.stopAll();
    c = undefined;
  });

  describe('delete', () => {
    for (const role of ['primary', 'backup', 'proxy'] as const) {
      it(`removes the key on every member and resolves to true when called on its ${role}`, async () => {
        c = await cluster(IDS);
        await c.maps.a!.set('k', 'v');
        await c.maps.a!.set('other', 'stays');
        await c.net.settled();
        const deleter = IDS.find((id) => c!.maps[id]!.entryInfo('k')?.role === role) as string;
        expect(deleter, `a member with role ${role}`).to.be.a('string');

        expect(await c.maps[deleter]!.delete('k')).to.equal(true);
        expect(c.maps[deleter]!.has('k')).to.equal(false);
        await c.net.settled();

        await goneEverywhere(c, 'k');
        for (const id of IDS) {
          expect(c.maps[id]!.size, `size on '${id}'`).to.equal(1);
          expect(await c.maps[id]!.get('other', { promote: false })).to.equal('stays');
        }
        assertConverged(Object.values(c.maps), IDS, 1);
      });
    }

    it('resolves to false for a key not known here, and changes nothing', async () => {
      c = await cluster(IDS);
      await c.maps.a!.set('k', 'v');
      await c.net.settled();
      expect(await c.maps.b!.delete('unknown')).to.equal(false);
      await c.net.settled();
      for (const id of IDS) expect(await c.maps[id]!.get('k', { promote: false })).to.equal('v');
    });

    it('does not let a replayed older MSG_BACKUP or MSG_PROXY bring a deleted key back', async () => {
      c = await cluster(IDS);
      // Capture the frames that carried the write, as a network that delays them would.
      const captured = new Map<string, { from: string; frame: Uint8Array }>();
      const listeners = IDS.map((id) => {
        const t = c!.net.transport(id);
        const listener = (from: string, frame: Uint8Array): void => {
          const type = classifyFrame(frame);
          if (type === 'MSG_BACKUP' || type === 'MSG_PROXY') captured.set(id, { from, frame: frame.slice() });
        };
        t.on('message', listener);
        return () => t.off('message', listener);
      });
      await c.maps.a!.set('k', 'old');
      await c.net.settled();
      for (const off of listeners) off();
      const backup = c.maps.a!.entryInfo('k')?.backups[0] as string;
      const proxy = IDS.find((id) => id !== 'a' && id !== backup) as string;
      expect(classifyFrame(captured.get(backup)!.frame)).to.equal('MSG_BACKUP');
      expect(classifyFrame(captured.get(proxy)!.frame)).to.equal('MSG_PROXY');

      expect(await c.maps[proxy]!.delete('k')).to.equal(true);
      await c.net.settled();
      await goneEverywhere(c, 'k');

      // The late frames arrive now, from their original sender.
      for (const id of [backup, proxy]) {
        const { from, frame } = captured.get(id)!;
        await c.net.transport(from).send(id, frame);
      }
      await c.net.settled();
      await goneEverywhere(c, 'k');
      expect(c.maps[backup]!.stats().tombstones).to.equal(1);
    });

    it('keeps a key deleted right after a write on every member, whatever order the network delivers them in', async () => {
      let lateWrites = 0;
      for (let seed = 1; seed <= 12; seed++) {
        c = await cluster(IDS, { seed, netOptions: { reorder: true, delay: { min: 0, max: 3 } } });
        await c.maps.a!.set('k', 'first');
        await c.net.settled();
        // Record what reaches each member: the write and the delete race there.
        const order = new Map<string, string[]>();
        const offs = ['b', 'c'].map((id) => {
          const t = c!.net.transport(id);
          const seen: string[] = [];
          order.set(id, seen);
          const listener = (_from: string, frame: Uint8Array): void => {
            const type = classifyFrame(frame);
            if (type === 'MSG_BACKUP' || type === 'MSG_REMOVE') seen.push(type);
          };
          t.on('message', listener);
          return () => t.off('message', listener);
        });
        const write = c.maps.a!.set('k', 'second');
        const deleted = await c.maps.a!.delete('k');
        await write;
        await c.net.settled();
        for (const off of offs) off();

        expect(deleted, `seed ${seed}`).to.equal(true);
        await goneEverywhere(c, 'k');
        for (const seen of order.values()) if (seen.includes('MSG_BACKUP') && seen.indexOf('MSG_REMOVE') < seen.indexOf('MSG_BACKUP')) lateWrites++;
        await c.stopAll();
        c = undefined;
      }
      // The seeds must include at least one run where the write reached the backup after the delete.
      expect(lateWrites, 'runs in which the older write arrived after the delete').to.be.at.least(1);
    });
  });

  it('clear() deletes every key on every member, whoever wrote it', async () => {
    c = await cluster(IDS);
    await c.maps.a!.set('x', 1);
    await c.maps.b!.set('y', 2);
    await c.maps.c!.set(3, 'three');
    await c.net.settled();
    await c.maps.b!.clear();
    await c.net.settled();
    for (const id of IDS) {
      expect(c.maps[id]!.size, `size on '${id}'`).to.equal(0);
      expect([...c.maps[id]!.keys()]).to.deep.equal([]);
    }
    for (const key of ['x', 'y', 3]) await goneEverywhere(c, key);
    // The map is still usable afterwards.
    await c.maps.c!.set('x', 'again');
    await c.net.settled();
    expect(await c.maps.a!.get('x')).to.equal('again');
  });

  it('reports has, size, keys and the async iterator alike on every member, in every role, without promoting', async () => {
    c = await cluster(IDS);
    await c.maps.a!.set('x', { v: 1 });
    await c.maps.b!.set('y', [2]);
    await c.maps.c!.set(3, 'three');
    await c.net.settled();
    const before = IDS.map((id) => ['x', 'y', 3].map((k) => c!.maps[id]!.entryInfo(k)));
    for (const id of IDS) {
      const map = c.maps[id]!;
      expect(map.size, `size on '${id}'`).to.equal(3);
      for (const k of ['x', 'y', 3]) expect(map.has(k), `'${id}' has ${String(k)}`).to.equal(true);
      expect(map.has('z')).to.equal(false);
      expect(map.has('3'), "the string '3' is not the number 3").to.equal(false);
      expect([...map.keys()].map(String).sort()).to.deep.equal(['3', 'x', 'y']);
      const seen = new Map<MapKey, unknown>();
      for await (const [k, v] of map) seen.set(k, v);
      expect(seen).to.deep.equal(
        new Map<MapKey, unknown>([
          ['x', { v: 1 }],
          ['y', [2]],
          [3, 'three'],
        ]),
      );
    }
    await c.net.settled();
    expect(IDS.map((id) => ['x', 'y', 3].map((k) => c!.maps[id]!.entryInfo(k)))).to.deep.equal(before);
    for (const id of IDS) expect(c.maps[id]!.stats().promotions).to.equal(0);
  });

  it('counts as sent exactly the MSG_ACKs that crossed the network', async () => {
    c = await cluster(['a', 'b', 'c', 'd']);
    for (let i = 0; i < 20; i++) await c.maps[IDS[i % IDS.length]!]!.set(`k${i}`, i);
    await c.maps.b!.get('k0');
    await c.maps.d!.delete('k1');
    await c.net.settled();
    const delivered = c.net.stats().byType['MSG_ACK']?.messages ?? 0;
    const counted = Object.values(c.maps).reduce((sum, m) => sum + (m.stats().sent['MSG_ACK'] ?? 0), 0);
    expect(delivered).to.be.greaterThan(0);
    expect(counted).to.equal(delivered);
  });

  it('treats the keys 1 and "1" as different keys', async () => {
    c = await cluster(IDS);
    await c.maps.a!.set(1, 'number');
    await c.maps.b!.set('1', 'string');
    await c.net.settled();
    for (const id of IDS) {
      expect(c.maps[id]!.size).to.equal(2);
      expect(c.maps[id]!.entryInfo(1)?.primary).to.equal('a');
      expect(c.maps[id]!.entryInfo('1')?.primary).to.equal('b');
    }
    expect(await c.maps.c!.get(1)).to.equal('number');
    expect(await c.maps.c!.get('1')).to.equal('string');
    expect(await c.maps.c!.delete(1)).to.equal(true);
    await c.net.settled();
    for (const id of IDS) {
      expect(c.maps[id]!.has(1)).to.equal(false);
      expect(await c.maps[id]!.get('1', { promote: false })).to.equal('string');
    }
  });

  it('rejects keys that are not strings or finite numbers with a TypeError, and sends nothing', async () => {
    c = await cluster(IDS);
    const map = c.maps.a!;
    const before = c.net.stats();
    const bad: unknown[] = [{}, { k: 1 }, [1], NaN, Infinity, -Infinity, undefined, null, true, 1n, Symbol('k')];
    for (const key of bad) {
      const k = key as string;
      const label = typeof key === 'symbol' ? 'symbol' : String(key);
      expect(await rejection(map.set(k, 'v')), `set(${label})`).to.be.instanceOf(TypeError);
      expect(await rejection(map.get(k)), `get(${label})`).to.be.instanceOf(TypeError);
      expect(await rejection(map.delete(k)), `delete(${label})`).to.be.instanceOf(TypeError);
      expect(await rejection(map.replicate(k)), `replicate(${label})`).to.be.instanceOf(TypeError);
      // Rejected, not thrown, by the methods that return their call's own promise (rejecting()).
      expect(await rejection(map.touch(k)), `touch(${label})`).to.be.instanceOf(TypeError);
    }
    expect(await rejection(map.get('k', { promote: 'yes' } as never)), 'get with a bad option').to.be.instanceOf(TypeError);
    await c.net.settled();
    expect(c.net.stats().messages).to.equal(before.messages);
    for (const id of IDS) expect(c.maps[id]!.size).to.equal(0);
  });

  it('rejects an unencodable value with a ValueEncodeError and leaves the old value on every member', async () => {
    c = await cluster(IDS);
    await c.maps.a!.set('k', { old: true });
    await c.net.settled();
    const placement = views(c, 'k');
    const before = c.net.stats();

    const unencodable: unknown[] = [() => 1, Symbol('s'), { nested: { fn: () => 2 } }, [Symbol('t')]];
    for (const value of unencodable) {
      // From the primary, from another member, and for a key that does not exist yet.
      expect(await rejection(c.maps.a!.set('k', value))).to.be.instanceOf(ValueEncodeError);
      expect(await rejection(c.maps.c!.set('k', value))).to.be.instanceOf(ValueEncodeError);
      expect(await rejection(c.maps.b!.set('fresh', value))).to.be.instanceOf(ValueEncodeError);
    }
    await c.net.settled();

    expect(c.net.stats().messages).to.equal(before.messages);
    expect(views(c, 'k')).to.deep.equal(placement);
    for (const id of IDS) {
      expect(await c.maps[id]!.get('k', { promote: false }), `value on '${id}'`).to.deep.equal({ old: true });
      expect(c.maps[id]!.has('fresh')).to.equal(false);
    }
  });

  it('rejects every call after stop() with a StoppedError, and stays usable on the other members', async () => {
    c = await cluster(IDS);
    await c.maps.a!.set('k', 'v');
    await c.net.settled();
    const map = c.maps.b!;
    await map.stop();
    expect(map.state).to.equal('stopped');

    expect(await rejection(map.set('k', 1))).to.be.instanceOf(StoppedError);
    expect(await rejection(map.get('k'))).to.be.instanceOf(StoppedError);
    expect(await rejection(map.delete('k'))).to.be.instanceOf(StoppedError);
    expect(await rejection(map.clear())).to.be.instanceOf(StoppedError);
    expect(await rejection(map.replicate('k'))).to.be.instanceOf(StoppedError);
    expect(await rejection(map.touch('k'))).to.be.instanceOf(StoppedError);
    // Rejects, never throws at the caller (a throw would escape rejection() and fail here).
    expect(await rejection(map.sweep())).to.be.instanceOf(StoppedError);
    expect(await rejection(map[Symbol.asyncIterator]().next())).to.be.instanceOf(StoppedError);
    expect(thrown(() => map.has('k'))).to.be.instanceOf(StoppedError);
    expect(thrown(() => map.size)).to.be.instanceOf(StoppedError);
    expect(thrown(() => map.keys())).to.be.instanceOf(StoppedError);
    expect(thrown(() => map.entryInfo('k'))).to.be.instanceOf(StoppedError);
    // A second stop() is harmless; starting the stopped map again is a call after stop() too.
    await map.stop();
    expect(await rejection(map.start())).to.be.instanceOf(StoppedError);
    expect(map.state).to.equal('stopped');

    await c.net.settled();
    expect(c.maps.a!.members()).to.deep.equal(['a', 'c']);
    expect(await c.maps.c!.get('k')).to.equal('v');
  });

  it('refuses synchronous reads before start() with a NotStartedError, and async calls start it', async () => {
    const net = new InMemoryNetwork();
    const map = new LazyReplicatedMap<string, number>({ name: 'early', transport: net.transport('solo') });
    extra.push(map);
    for (const read of [() => map.has('k'), () => map.size, () => map.keys(), () => map.entryInfo('k'), () => map.lastAccess('k')]) {
      const error = thrown(read);
      expect(error).to.be.instanceOf(NotStartedError);
      expect((error as Error).message).to.include('await map.start()');
    }
    await map.set('k', 1);
    expect(map.state).to.equal('running');
    expect(map.has('k')).to.equal(true);
  });

  it('rejects calls with a StoppedError once its member crashed', async () => {
    c = await cluster(IDS);
    await c.maps.a!.set('k', 'v');
    await c.net.settled();
    c.net.crash('c');
    await c.net.settled();
    expect(c.maps.c!.state).to.equal('stopped');
    expect(await rejection(c.maps.c!.get('k'))).to.be.instanceOf(StoppedError);
    expect(await rejection(c.maps.c!.set('k', 1))).to.be.instanceOf(StoppedError);
  });

  it('counts entries by role and promotions by read in stats()', async () => {
    c = await cluster(['a', 'b', 'c', 'd']);
    await c.maps.a!.set('k1', 1);
    await c.maps.a!.set('k2', 2);
    await c.net.settled();
    expect(c.maps.a!.stats().entries).to.deep.equal({ primary: 2, backup: 0, copy: 0, proxy: 0 });
    const holders = ['b', 'c', 'd'].map((id) => c!.maps[id]!.stats().entries);
    for (const e of holders) {
      expect(e.primary + e.backup + e.proxy, 'every key is known').to.equal(2);
      expect(e.primary).to.equal(0);
      expect(e.copy).to.equal(0);
    }
    expect(holders.reduce((n, e) => n + e.backup, 0), 'one backup per key').to.equal(2);

    const proxy = ['b', 'c', 'd'].find((id) => c!.maps[id]!.entryInfo('k1')?.role === 'proxy') as string;
    await c.maps[proxy]!.get('k1');
    await c.net.settled();
    expect(c.maps[proxy]!.stats().promotions).to.equal(1);
    expect(c.maps[proxy]!.stats().entries.primary).to.equal(1);
    expect(c.maps.a!.stats().entries.primary).to.equal(1);
    expect(c.maps.a!.stats().promotions).to.equal(0);
    const total = { primary: 0, backup: 0, copy: 0, proxy: 0 };
    for (const id of ['a', 'b', 'c', 'd']) {
      const e = c.maps[id]!.stats().entries;
      total.primary += e.primary;
      total.backup += e.backup;
      total.copy += e.copy;
      total.proxy += e.proxy;
    }
    expect(total).to.deep.equal({ primary: 2, backup: 2, copy: 0, proxy: 4 });
  });

  it('keeps two maps of different names on one transport apart, and stopping one leaves the other and the transport running', async () => {
    c = await cluster(IDS, { name: 'one' });
    const two: Record<string, AnyMap> = {};
    for (const id of IDS) {
      const m = new LazyReplicatedMap<string | number, unknown>({ name: 'two', transport: c.net.transport(id) });
      extra.push(m);
      two[id] = m;
      await m.start();
    }
    await c.net.settled();

    await c.maps.a!.set('k', 'in one');
    await two.b!.set('k', 'in two');
    await two.b!.set('only-two', true);
    await c.net.settled();
    for (const id of IDS) {
      expect(await c.maps[id]!.get('k', { promote: false })).to.equal('in one');
      expect(await two[id]!.get('k', { promote: false })).to.equal('in two');
      expect(c.maps[id]!.entryInfo('k')?.primary).to.equal('a');
      expect(two[id]!.entryInfo('k')?.primary).to.equal('b');
      expect(c.maps[id]!.has('only-two')).to.equal(false);
    }
    expect(await c.maps.c!.delete('k')).to.equal(true);
    await c.net.settled();
    expect(await two.a!.get('k', { promote: false })).to.equal('in two');

    const disappeared = record<[string]>(c.maps.b!, 'memberDisappeared');
    await two.a!.stop();
    await c.net.settled();
    disappeared.stop();

    expect(c.net.members()).to.include('a');
    expect(disappeared.events, "map 'one' saw no member go").to.deep.equal([]);
    expect(two.b!.members()).to.deep.equal(['b', 'c']);
    expect(c.maps.b!.members()).to.deep.equal(['a', 'b', 'c']);
    await c.maps.a!.set('after', 'still works');
    await c.net.settled();
    expect(await c.maps.b!.get('after')).to.equal('still works');
    await c.net.settled();
    assertConverged(Object.values(c.maps), IDS, 1);
    // The stopped map's entries live on in map 'two' on the other members.
    expect(await two.c!.get('only-two')).to.equal(true);
  });

  describe('bad messages from a peer', () => {
    /** A member running the library (one RPC channel, no map) that sends garbage to 'a'. */
    async function withRogue(): Promise<{ c: Cluster; send: (frame: Uint8Array) => Promise<void>; errors: ReturnType<typeof record<[Error]>> }> {
      c = await cluster(IDS);
      await c.maps.a!.set('k', 'v');
      await c.net.settled();
      const rogue = c.net.transport('rogue');
      const rpc = new RpcChannel(rogue, 'rogue');
      await rpc.ready();
      await c.net.settled();
      const errors = record<[Error]>(c.maps.a!, 'error');
      return { c, send: (frame) => rogue.send('a', frame), errors };
    }

    /** The map keeps serving: its key is intact, and a new write and read work across members. */
    async function stillServing(c: Cluster): Promise<void> {
      for (const id of IDS) expect(await c.maps[id]!.get('k', { promote: false })).to.equal('v');
      await c.maps.a!.set('later', 42);
      await c.net.settled();
      expect(await c.maps.c!.get('later')).to.equal(42);
      expect(await c.maps.b!.get('k')).to.equal('v');
      await c.net.settled();
      for (const id of IDS) expect(c.maps[id]!.size).to.equal(2);
      assertConverged(Object.values(c.maps), IDS, 1);
    }

    it("reports random bytes as a ProtocolError on 'error' and keeps serving", async () => {
      const { c, send, errors } = await withRogue();
      for (let i = 0; i < 20; i++) await send(garbage(i + 1, 1 + ((i * 7) % 40)));
      await c.net.settled();
      errors.stop();
      expect(errors.events).to.have.length(20);
      for (const [e] of errors.events) {
        expect(e).to.be.instanceOf(ProtocolError);
        expect(e).to.have.property('from', 'rogue');
      }
      await stillServing(c);
    });

    it('reports a well-formed frame with an unknown map message type as one ProtocolError and keeps serving', async () => {
      const { c, send, errors } = await withRogue();
      await send(encodeFrame({ kind: FrameKind.Request, channel: 'lrm/map/test', id: 1, body: [99, 'what'] }));
      await send(encodeFrame({ kind: FrameKind.Request, channel: 'lrm/map/test', id: 2, body: 'not even an array' }));
      // A reserved Tomcat type this protocol version does not use, as a request and as a one-way notice.
      await send(encodeFrame({ kind: FrameKind.Request, channel: 'lrm/map/test', id: 3, body: [8] }));
      await send(encodeFrame({ kind: FrameKind.Notify, channel: 'lrm/map/test', id: 0, body: [8] }));
      // A reply to a request the map never made is not a request: it is ignored.
      await send(encodeFrame({ kind: FrameKind.Reply, channel: 'lrm/map/test', id: 987654, body: [14] }));
      await c.net.settled();
      errors.stop();
      expect(errors.events, 'one report per bad message').to.have.length(4);
      for (const [e] of errors.events) {
        expect(e).to.be.instanceOf(ProtocolError);
        expect(e).to.have.property('from', 'rogue');
      }
      await stillServing(c);
    });

    it('reports a malformed MSG_BACKUP as a ProtocolError, applies none of it and keeps serving', async () => {
      const { c, send, errors } = await withRogue();
      const good = ['evil', [9, 'rogue', 0, 'rogue'], 'rogue', ['a'], new Uint8Array([0xf6])];
      const malformed: unknown[] = [
        [1, [['evil', 'not a version', 'rogue', ['a'], new Uint8Array([0xf6])]]],
        [1, [['evil', [9, 'rogue', 0, 'rogue'], 'rogue', ['a'], 'not bytes']]],
        [1, [[{ key: 'object' }, [9, 'rogue', 0, 'rogue'], 'rogue', ['a'], new Uint8Array([0xf6])]]],
        [1, [['evil', [9, 'rogue', 0, 'rogue'], '', ['a'], new Uint8Array([0xf6])]]],
        [1, [good, 'second entry is not an entry']],
        [1, 'entries'],
        [1],
      ];
      let id = 1;
      for (const body of malformed) await send(encodeFrame({ kind: FrameKind.Request, channel: 'lrm/map/test', id: id++, body }));
      await c.net.settled();
      errors.stop();
      expect(errors.events).to.have.length(malformed.length);
      for (const [e] of errors.events) expect(e).to.be.instanceOf(ProtocolError);
      expect(c.maps.a!.has('evil'), 'no part of a malformed message is applied').to.equal(false);
      await stillServing(c);
    });
  });

  it('round-trips values of many types through a write, a backup promotion and a proxy fetch', async () => {
    c = await cluster(IDS);
    const value = {
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, { x: [1, 2] }],
      ]),
      set: new Set<unknown>([1, 'two', 3.5]),
      date: new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123)),
      big: 12345678901234567890123n,
      negBig: -(2n ** 70n),
      bytes: new Uint8Array([0, 1, 254, 255]),
      buffer: Buffer.from('héllo'),
      nested: { deep: [1, [2, { z: null, t: true, f: false }]], empty: {}, list: [] as unknown[] },
      text: 'ünïcødé ✓',
      float: -0.5,
      max: Number.MAX_SAFE_INTEGER,
    };
    const expected = structuredClone(value);
    await c.maps.a!.set('v', value);
    await c.net.settled();
    const backup = c.maps.a!.entryInfo('v')?.backups[0] as string;
    const proxy = IDS.find((id) => id !== 'a' && id !== backup) as string;

    const fromBackup = await c.maps[backup]!.get('v');
    expect(c.maps[backup]!.entryInfo('v')?.role).to.equal('primary');
    expect(fromBackup).to.deep.equal(expected);
    await c.net.settled();
    const fromProxy = await c.maps[proxy]!.get('v');
    expect(fromProxy).to.deep.equal(expected);
    await c.net.settled();
    expect(await c.maps.a!.get('v', { promote: false })).to.deep.equal(expected);
    const read = fromProxy as typeof value;
    expect(read.map).to.be.instanceOf(Map);
    expect(read.set).to.be.instanceOf(Set);
    expect(read.date).to.be.instanceOf(Date);
    expect(read.bytes).to.be.instanceOf(Uint8Array);
    expect(typeof read.big).to.equal('bigint');
  });
});
