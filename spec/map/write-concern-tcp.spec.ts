import { expect } from 'chai';
import { LazyReplicatedMap, ReplicationError, type TcpTransport, type UnderReplication } from '../../lib/index.js';
import { within } from '../helpers/deadline.js';
import { once, record, rejection } from '../helpers/events.js';
import { destroyAllRaw } from '../transport/tcp/raw-peer.js';
import { EVENT_MS, addressesOf, connected, member, stopAllMembers } from '../transport/tcp/tcp-helpers.js';
import { rawMapPeer, type RawCopyAnswer, type RawMapPeer } from './raw-map-peer.js';

type Short = [UnderReplication<string>];
type Map_ = LazyReplicatedMap<string, number>;

/** What a member answers when a frame is over its limit, as a refusing peer would send it. */
const REFUSED_FRAME: RawCopyAnswer = { refuse: { name: 'FrameTooLargeError', message: 'a frame of 20971528 bytes is over this member\'s maxFrameBytes (16777216)' } };

describe('LazyReplicatedMap write concern over TCP', () => {
  const maps: Map_[] = [];
  afterEach(async () => {
    await destroyAllRaw();
    for (const m of maps.splice(0)) await m.stop({ discard: true }).catch(() => undefined);
    await stopAllMembers();
  });

  /**
   * Members on 127.0.0.1 that met. The failure timeout is long: a raw peer sends no heartbeats,
   * and what the specs are about is a connection that closes, which is seen at once.
   */
  async function members(...ids: string[]): Promise<TcpTransport[]> {
    const first = member(ids[0] as string, { failureTimeoutMs: 30_000 });
    const rest = ids.slice(1).map((id) => member(id, { failureTimeoutMs: 30_000, seeds: addressesOf(first) }));
    await connected(first, ...rest);
    return [first, ...rest];
  }

  async function mapsOn(...ts: TcpTransport[]): Promise<Map_[]> {
    const out = ts.map((transport) => new LazyReplicatedMap<string, number>({ name: 'wc', transport, backups: 1, rpcTimeoutMs: 2000 }));
    maps.push(...out);
    await Promise.all(out.map((m) => m.start()));
    // Every member is a member of every map: the first write's backup is chosen among them all.
    await within(Promise.all(out.map((m) => waitMembers(m, out.length))), EVENT_MS, 'the maps to meet');
    return out;
  }

  async function waitMembers(m: Map_, n: number): Promise<void> {
    while (m.members().length < n) await once(m, 'memberAdded');
  }

  /** A raw member 'b' of the map on `a`'s member; resolves once `a`'s map counts it. */
  async function rawB(a: Map_, ta: TcpTransport, copy: RawCopyAnswer): Promise<RawMapPeer> {
    const added = once<[string]>(a, 'memberAdded', (id) => id === 'b');
    const peer = await within(rawMapPeer(ta.address, 'b', 'wc', copy), EVENT_MS, 'the raw member to connect');
    await within(added, EVENT_MS, "the map on 'a' to meet the raw member");
    return peer;
  }

  describe("a backup's connection dropped mid-write", () => {
    it('lands the write on another live member', async () => {
      const [ta, tc] = await members('a', 'c');
      const [a, c] = (await mapsOn(ta!, tc!)) as [Map_, Map_];
      const b = await rawB(a, ta!, 'drop');
      const short = record<Short>(a, 'underReplicated');
      // 'b' sorts first among a's members: it is the first backup chosen.
      await within(a.set('k', 1), EVENT_MS, 'the write');
      expect(b.copiesOf).to.deep.equal(['k']);
      expect(a.entryInfo('k')!.backups).to.deep.equal(['c']);
      expect(c.entryInfo('k')!.role).to.equal('backup');
      expect(await c.get('k', { promote: false })).to.equal(1);
      expect(short.events).to.deep.equal([]);
    });

    it('resolves with the copies left and emits underReplicated when no member is left to take it', async () => {
      const [ta] = await members('a');
      const [a] = (await mapsOn(ta!)) as [Map_];
      const b = await rawB(a, ta!, 'drop');
      const short = record<Short>(a, 'underReplicated');
      await within(a.set('k', 1), EVENT_MS, 'the write');
      expect(b.copiesOf).to.deep.equal(['k']);
      expect(a.entryInfo('k')).to.deep.equal({ role: 'primary', primary: 'a', backups: [] });
      expect(short.events).to.deep.equal([[{ key: 'k', keys: ['k'], wanted: 1, held: 0 }]]);
    });
  });

  describe('a refused frame (the backup answers its copy with an error and stays connected)', () => {
    it('lands the write on another live member', async () => {
      const [ta, tc] = await members('a', 'c');
      const [a, c] = (await mapsOn(ta!, tc!)) as [Map_, Map_];
      const b = await rawB(a, ta!, REFUSED_FRAME);
      await within(a.set('k', 1), EVENT_MS, 'the write');
      expect(b.copiesOf).to.deep.equal(['k']);
      expect(a.entryInfo('k')!.backups).to.deep.equal(['c']);
      expect(await c.get('k', { promote: false })).to.equal(1);
    });

    it('rejects with ReplicationError naming the member and its reason when no other member takes it', async () => {
      const [ta] = await members('a');
      const [a] = (await mapsOn(ta!)) as [Map_];
      await rawB(a, ta!, REFUSED_FRAME);
      const short = record<Short>(a, 'underReplicated');
      const error = await within(rejection(a.set('k', 1)), EVENT_MS, 'the write to reject');
      expect(error).to.be.instanceOf(ReplicationError);
      expect((error as ReplicationError).refusals).to.deep.equal([{ member: 'b', reason: "FrameTooLargeError: a frame of 20971528 bytes is over this member's maxFrameBytes (16777216)" }]);
      // Still a member: it refused, it did not leave.
      expect(a.members()).to.deep.equal(['a', 'b']);
      expect(a.entryInfo('k')).to.deep.equal({ role: 'primary', primary: 'a', backups: [] });
      expect(await a.get('k')).to.equal(1);
      expect(short.events).to.deep.equal([[{ key: 'k', keys: ['k'], wanted: 1, held: 0 }]]);
    });
  });

  describe('a member leaving mid-write', () => {
    it('lands the write on another live member', async () => {
      const [ta, tb, tc] = await members('a', 'b', 'c');
      const [a, b, c] = (await mapsOn(ta!, tb!, tc!)) as [Map_, Map_, Map_];
      const short = record<Short>(a, 'underReplicated');
      // b is stopping from now on: it refuses copies, then says goodbye.
      const leaving = b.stop();
      await within(a.set('k', 1), EVENT_MS, 'the write');
      await within(leaving, EVENT_MS, "b's stop");
      expect(a.entryInfo('k')!.backups).to.deep.equal(['c']);
      expect(await c.get('k', { promote: false })).to.equal(1);
      expect(short.events).to.deep.equal([]);
    });

    it('resolves with the copies left and emits underReplicated when no member is left to take it', async () => {
      const [ta, tb] = await members('a', 'b');
      const [a, b] = (await mapsOn(ta!, tb!)) as [Map_, Map_];
      const short = record<Short>(a, 'underReplicated');
      const leaving = b.stop();
      await within(a.set('k', 1), EVENT_MS, 'the write');
      await within(leaving, EVENT_MS, "b's stop");
      expect(a.entryInfo('k')!.backups).to.deep.equal([]);
      expect(short.events).to.deep.equal([[{ key: 'k', keys: ['k'], wanted: 1, held: 0 }]]);
    });
  });
});
