import { expect } from 'chai';
import {
  DiffApplyError,
  InMemoryNetwork,
  LazyReplicatedMap,
  MSG_ACK,
  MSG_DIFF,
  ReplicatedMap,
  RpcChannel,
  ValueCodec,
  classifyFrame,
  mapMessageFromWire,
  mapMessageToWire,
  type NetworkStats,
  type Transport,
  type Version,
} from '../../lib/index.js';
import { openLibraryChannel } from '../../lib/rpc/rpc-channel.js';
import { record } from '../helpers/events.js';
import { assertConverged, assertSameValues } from './invariants.js';

import { Doc, docCodec } from '../helpers/delta-doc.js';

const IDS = ['a', 'b', 'c'];
type AnyMap = LazyReplicatedMap<string>;

/** A fake wall clock shared by every map of a spec. */
class FakeClock {
  time = 1_000;
  readonly now = (): number => this.time;
}

/** What a network delivered between two snapshots, by message type. */
function delivered(before: NetworkStats, after: NetworkStats): Record<string, { messages: number; bytes: number }> {
  const out: Record<string, { messages: number; bytes: number }> = {};
  for (const [type, s] of Object.entries(after.byType)) {
    const b = before.byType[type] ?? { messages: 0, bytes: 0 };
    if (s.messages > b.messages) out[type] = { messages: s.messages - b.messages, bytes: s.bytes - b.bytes };
  }
  return out;
}

describe('DeltaValue replication (map.replicate)', () => {
  let net: InMemoryNetwork;
  let maps: Record<string, AnyMap>;
  let clock: FakeClock;
  const channels: RpcChannel[] = [];

  async function start(options: { ack?: 'none'; transports?: Record<string, Transport> } = {}): Promise<void> {
    for (const id of IDS) {
      const transport = options.transports?.[id] ?? net.transport(id);
      maps[id] = new LazyReplicatedMap<string>({ name: 'delta', transport, now: clock.now, ...(id === 'a' && options.ack ? { ack: options.ack } : {}) });
      await maps[id].start();
    }
    await net.settled();
  }

  /** The members holding `key`: its primary, then its backup. */
  function roles(key: string): { primary: AnyMap; backup: AnyMap; proxy: AnyMap } {
    const by = (role: string): AnyMap => IDS.map((id) => maps[id]!).find((m) => m.entryInfo(key)?.role === role)!;
    return { primary: by('primary'), backup: by('backup'), proxy: by('proxy') };
  }

  beforeEach(() => {
    net = new InMemoryNetwork({ seed: 7 });
    maps = {};
    clock = new FakeClock();
  });

  afterEach(async () => {
    for (const c of channels.splice(0)) await c.close();
    for (const m of Object.values(maps)) if (m.state === 'running') await m.stop({ discard: true });
    await net.settled();
  });

  it('sends a dirty value only its diff, which the backup applies to its copy', async () => {
    await start();
    const doc = new Doc().put('big', 'x'.repeat(20_000)).put('n', 1);
    await maps.a!.set('k', doc);
    await net.settled();
    const { backup, proxy } = roles('k');
    const before = net.stats();

    doc.put('n', 2);
    await maps.a!.replicate('k');
    await net.settled();

    const sent = delivered(before, net.stats());
    expect(sent.MSG_DIFF?.messages, 'one diff, to the backup').to.equal(1);
    expect(sent.MSG_DIFF!.bytes, 'the diff does not carry the big field').to.be.below(200);
    expect(sent.MSG_BACKUP, 'no whole value').to.equal(undefined);
    expect(doc.isDirty(), 'the diff was reset once sent').to.equal(false);
    const copy = (await backup.get('k', { promote: false })) as Doc;
    expect(copy, 'the backup decodes its copy as a Doc').to.be.instanceOf(Doc);
    expect(copy.fields.n).to.equal(2);
    expect(copy.fields.big).to.have.length(20_000);
    expect(((await proxy.get('k', { promote: false })) as Doc).fields.n, 'a proxy fetches the new value').to.equal(2);
    assertConverged(Object.values(maps), IDS, 1);
  });

  it('has a backup decode its copy once for a run of diffs and encode it only when its bytes are needed', async () => {
    await start();
    const doc = new Doc().put('big', 'x'.repeat(2_000)).put('n', 0);
    await maps.a!.set('k', doc);
    await net.settled();
    const { backup } = roles('k');
    const heldBefore = backup.stats().held.backup.bytes;
    const counted = { ...docCodec };

    for (let i = 1; i <= 5; i++) {
      doc.put('n', i);
      await maps.a!.replicate('k');
    }
    await net.settled();
    expect(docCodec.encoded - counted.encoded, 'the primary encodes the whole value once per replicate, the backup never').to.equal(5);
    expect(docCodec.decoded - counted.decoded, 'the backup decoded its copy once, for the first diff').to.equal(1);
    expect(backup.stats().held.backup.bytes, 'the diffs count as held until the copy is encoded').to.be.above(heldBefore);

    // A read on the backup encodes the copy, and gets a value of its own.
    const copy = (await backup.get('k', { promote: false })) as Doc;
    expect(copy.fields.n).to.equal(5);
    expect(docCodec.encoded - counted.encoded, 'encoded once, for the read').to.equal(6);
    expect(backup.stats().held.backup.bytes, 'counted exactly again once encoded').to.equal(heldBefore);
    copy.put('n', 99);
    expect(((await backup.get('k', { promote: false })) as Doc).fields.n, 'changing what a read returned does not change the copy').to.equal(5);

    // More diffs after the read, then the primary dies: the backup takes over the latest value.
    doc.put('n', 6);
    await maps.a!.replicate('k');
    doc.put('n', 7);
    await maps.a!.replicate('k');
    await net.settled();
    net.crash('a');
    await net.settled();
    const survivor = [maps.b!, maps.c!].find((m) => m.entryInfo('k')?.role === 'primary');
    expect(survivor, 'a survivor took over').to.not.equal(undefined);
    for (const m of [maps.b!, maps.c!]) expect(((await m.get('k')) as Doc).fields.n, 'every survivor reads the latest value').to.equal(7);
  });

  it('serves elsewhere the value as last replicated, not changes made in place since: the primary encodes the whole value at each replicate', async () => {
    // Why the primary does not encode its live value later, as a backup does its copy: the value
    // is the live object get() hands out, changed in place between two replicate() calls. Bytes
    // encoded later would carry changes no holder had, under the version of the last replicate: a
    // read elsewhere would see them early, and a copy sent whole would get them twice with the
    // next diff. (A value whose diffs bound its growth is instead rebuilt from its last bytes and
    // the diffs since: replay-log.spec.ts.)
    await start();
    const doc = new Doc().put('n', 0).put('log', []);
    await maps.a!.set('k', doc);
    await net.settled();
    const { proxy, backup } = roles('k');
    doc.put('n', 1).put('log', ['one']);
    await maps.a!.replicate('k');
    await net.settled();
    doc.put('n', 2).put('log', ['one', 'two']);
    for (const m of [proxy, backup]) {
      const read = (await m.get('k', { promote: false })) as Doc;
      expect([read.fields.n, read.fields.log], `a read on '${m.id}' answers the value as replicated`).to.deep.equal([1, ['one']]);
    }
    await maps.a!.replicate('k');
    await net.settled();
    for (const m of [proxy, backup]) expect(((await m.get('k', { promote: false })) as Doc).fields.log).to.deep.equal(['one', 'two']);
    assertConverged(Object.values(maps), IDS, 1);
  });

  it('keeps no half-applied copy when applyDiff throws on a copy already changed by diffs', async () => {
    // The whole value a's backup gets after refusing the poisoned diff is lost on the way, and a
    // then dies: what the backup holds is all that is left.
    const transports: Record<string, Transport> = {};
    const ta = net.transport('a');
    let dropWhole = false;
    const send = ta.send.bind(ta);
    ta.send = (to: string, frame: Uint8Array): Promise<void> => (dropWhole && classifyFrame(frame) === 'MSG_BACKUP' ? Promise.resolve() : send(to, frame));
    transports.a = ta;
    await start({ ack: 'none', transports });
    const doc = new Doc().put('n', 1);
    await maps.a!.set('k', doc);
    await net.settled();
    const { backup } = roles('k');
    doc.put('n', 2);
    await maps.a!.replicate('k');
    await net.settled();
    const errors = record<[Error]>(backup, 'error');

    // applyDiff sets `m`, then throws on `poison`: the backup's decoded copy is half changed.
    dropWhole = true;
    doc.put('m', 1).put('poison', true);
    await maps.a!.replicate('k');
    await net.settled();
    errors.stop();
    expect(errors.events.map(([e]) => e.name)).to.deep.equal(['DiffApplyError']);
    net.crash('a');
    await net.settled();
    for (const m of [maps.b!, maps.c!]) {
      const v = (await m.get('k')) as Doc | undefined;
      expect(v?.fields, 'never a value nobody wrote (m without poison)').to.not.deep.equal({ n: 2, m: 1 });
    }
  });

  it('advances the version like a write: an older write arriving later does not undo the diff', async () => {
    await start();
    const doc = new Doc().put('n', 1);
    await maps.a!.set('k', doc);
    doc.put('n', 2);
    await maps.a!.replicate('k');
    doc.put('n', 3);
    await maps.a!.replicate('k');
    await net.settled();
    await assertSameValues(Object.values(maps), IDS, ['k']);
    expect(((await maps.c!.get('k', { promote: false })) as Doc).fields.n).to.equal(3);
  });

  it('sends a clean value an access notice, which moves the last access on primary and backup only', async () => {
    await start();
    const doc = new Doc().put('n', 1);
    await maps.a!.set('k', doc);
    await net.settled();
    const { primary, backup, proxy } = roles('k');
    expect(primary.lastAccess('k')).to.equal(1_000);
    expect(backup.lastAccess('k'), 'the copy arrived at 1000').to.equal(1_000);
    expect(proxy.lastAccess('k'), 'a proxy holds nothing').to.equal(undefined);
    const infoBefore = IDS.map((id) => maps[id]!.entryInfo('k'));
    clock.time = 9_000;
    const before = net.stats();

    await maps.a!.replicate('k');
    await net.settled();

    const sent = delivered(before, net.stats());
    expect(Object.keys(sent).sort(), 'a notice and its acknowledgement').to.deep.equal(['MSG_ACCESS', 'MSG_ACK']);
    expect(sent.MSG_ACCESS!.messages).to.equal(1);
    expect(primary.lastAccess('k')).to.equal(9_000);
    expect(backup.lastAccess('k')).to.equal(9_000);
    expect(proxy.lastAccess('k')).to.equal(undefined);
    expect(IDS.map((id) => maps[id]!.entryInfo('k')), 'nothing was written or moved').to.deep.equal(infoBefore);
  });

  it('sends the whole value when asked for a complete replication, and forgets the diff', async () => {
    await start();
    const doc = new Doc().put('n', 1);
    await maps.a!.set('k', doc);
    await net.settled();
    let before = net.stats();
    doc.put('n', 2);
    await maps.a!.replicate('k', true);
    await net.settled();
    let sent = delivered(before, net.stats());
    expect(sent.MSG_BACKUP?.messages).to.equal(1);
    expect(sent.MSG_DIFF).to.equal(undefined);
    expect(doc.isDirty()).to.equal(false);
    expect(((await roles('k').backup.get('k', { promote: false })) as Doc).fields.n).to.equal(2);

    before = net.stats();
    await maps.a!.replicate('k');
    await net.settled();
    sent = delivered(before, net.stats());
    expect(sent.MSG_ACCESS?.messages, 'nothing left to send but an access').to.equal(1);
  });

  it('sends a value that is not a DeltaValue whole, changes made in place included', async () => {
    await start();
    const value = { n: 1, list: [1] };
    await maps.a!.set('k', value);
    await net.settled();
    const before = net.stats();
    value.list.push(2);
    await maps.a!.replicate('k');
    await net.settled();
    const sent = delivered(before, net.stats());
    expect(sent.MSG_BACKUP?.messages).to.equal(1);
    expect(sent.MSG_DIFF).to.equal(undefined);
    expect(sent.MSG_ACCESS).to.equal(undefined);
    expect(await roles('k').backup.get('k', { promote: false })).to.deep.equal({ n: 1, list: [1, 2] });
  });

  it('replicates changes made in place to a value read on a backup, which promoted it (they used to be lost)', async () => {
    await start();
    await maps.a!.set('k', new Doc().put('n', 1));
    await net.settled();
    const { backup } = roles('k');
    const mine = (await backup.get('k')) as Doc;
    expect(backup.entryInfo('k')?.role).to.equal('primary');
    mine.put('n', 2);
    await backup.replicate('k');
    await net.settled();
    for (const id of IDS) expect(((await maps[id]!.get('k', { promote: false })) as Doc).fields.n, `n on '${id}'`).to.equal(2);
  });

  it('promotes a proxy whose fetch is overtaken by a copy of a newer write, so changes to the value it read replicate', async () => {
    await start();
    await maps.a!.set('k', new Doc().put('n', 1));
    await net.settled();
    expect(maps.c!.entryInfo('k')?.role).to.equal('proxy');
    // c asks the holders while a writes again, choosing c (round-robin) as the new backup: the
    // copy reaches c before the answer to its fetch.
    const read = maps.c!.get('k');
    const write = maps.a!.set('k', new Doc().put('n', 2));
    const mine = (await read) as Doc;
    await write;
    expect(mine.fields.n).to.equal(2);
    expect(maps.c!.entryInfo('k')?.role, 'a read with promotion promotes').to.equal('primary');
    mine.put('n', 3);
    await maps.c!.replicate('k');
    await net.settled();
    for (const id of IDS) expect(((await maps[id]!.get('k', { promote: false })) as Doc).fields.n, `n on '${id}'`).to.equal(3);
    assertConverged(Object.values(maps), IDS, 1);
  });

  it('answers a diff for a base it does not hold with a refusal, and never creates an entry from a diff', async () => {
    await start();
    await maps.a!.set('k', new Doc().put('n', 1));
    await net.settled();
    const { backup, proxy } = roles('k');
    // A fake primary on a fourth member: it talks the map protocol by hand.
    const x = net.transport('x');
    await x.start();
    const rpc = openLibraryChannel(x, 'lrm/map/delta'); // posing as a map peer
    channels.push(rpc);
    await rpc.ready();
    const diff = (key: string, base: Version): unknown =>
      mapMessageToWire({
        type: MSG_DIFF,
        entry: { key, version: [99, 'x', 0, 'x'], primary: 'x', backups: [backup.id, proxy.id] },
        base,
        diff: new ValueCodec().encode([['n', 42]]),
      });
    const ask = async (to: string, body: unknown): Promise<string> => {
      const [answer] = await rpc.call(body, { mode: 'all', to: [to], timeoutMs: 1000 });
      return answer !== undefined && 'error' in answer ? (answer.error.remoteName ?? 'error') : 'ack';
    };

    expect(await ask(backup.id, diff('k', [1, 'x', 0, 'x'])), 'a backup of another write').to.equal('DiffBaseMissingError');
    expect(await ask(proxy.id, diff('k', [1, 'a', 0, 'a'])), 'a proxy, even given the right base').to.equal('DiffBaseMissingError');
    expect(await ask(proxy.id, diff('unknown', [1, 'a', 0, 'a'])), 'a member that never heard of the key').to.equal('DiffBaseMissingError');
    await net.settled();
    expect(proxy.has('unknown'), 'no hole: the refused diff left no entry').to.equal(false);
    expect(proxy.entryInfo('k')?.role, 'the proxy stays a proxy').to.equal('proxy');
    expect(((await backup.get('k', { promote: false })) as Doc).fields.n, 'the backup kept its copy').to.equal(1);
    assertConverged([maps.a!, maps.b!, maps.c!], IDS, 1);
  });

  it('sends the whole value to a backup that lacks the base (its copy was lost on the way)', async () => {
    // a's copies of 'k' to its backup are lost once: with ack 'none' nobody notices, as when a
    // member restarts or a frame is lost. The backup then refuses the diff and gets the value.
    const transports: Record<string, Transport> = {};
    const ta = net.transport('a');
    let dropped = 0;
    const send = ta.send.bind(ta);
    ta.send = (to: string, frame: Uint8Array): Promise<void> => {
      if (dropped === 0 && classifyFrame(frame) === 'MSG_BACKUP') {
        dropped++;
        return Promise.resolve();
      }
      return send(to, frame);
    };
    transports.a = ta;
    await start({ ack: 'none', transports });
    const doc = new Doc().put('n', 1).put('big', 'y'.repeat(5_000));
    await maps.a!.set('k', doc);
    await net.settled();
    expect(dropped).to.equal(1);
    const backup = maps[maps.a!.entryInfo('k')!.backups[0]!]!;
    expect(backup.has('k'), 'the backup never got its copy').to.equal(false);
    const before = net.stats();

    doc.put('n', 2);
    await maps.a!.replicate('k');
    await net.settled();

    const sent = delivered(before, net.stats());
    expect(sent.MSG_DIFF?.messages, 'the diff was tried').to.equal(1);
    expect(sent.RPC_ERROR?.messages, 'and refused').to.equal(1);
    expect(sent.MSG_BACKUP?.messages, 'then the whole value was sent').to.equal(1);
    const copy = (await backup.get('k', { promote: false })) as Doc;
    expect(copy.fields.n).to.equal(2);
    expect(copy.fields.big).to.have.length(5_000);
    assertConverged(Object.values(maps), IDS, 1);
  });

  it('sends the whole value to a backup that cannot apply the diff, reports it there, and resolves once it holds it', async () => {
    await start();
    const doc = new Doc().put('n', 1);
    await maps.a!.set('k', doc);
    await net.settled();
    const { backup } = roles('k');
    const errors = record<[Error]>(backup, 'error');
    const before = net.stats();

    doc.put('poison', true);
    await maps.a!.replicate('k');
    // Resolved: the backup acknowledged the whole value, without waiting for the network to settle.
    expect(((await backup.get('k', { promote: false })) as Doc).fields.poison).to.equal(true);
    await net.settled();
    errors.stop();

    const sent = delivered(before, net.stats());
    expect(sent.MSG_DIFF?.messages).to.equal(1);
    expect(sent.MSG_BACKUP?.messages).to.equal(1);
    expect(errors.events.map(([e]) => e)).to.have.length(1);
    expect(errors.events[0]![0]).to.be.instanceOf(DiffApplyError);
    expect(errors.events[0]![0].message).to.include('poisoned diff');
  });

  it('ignores a duplicate or outdated diff, and acknowledges it', async () => {
    await start();
    const doc = new Doc().put('n', 1);
    await maps.a!.set('k', doc);
    doc.put('n', 2);
    await maps.a!.replicate('k');
    await net.settled();
    const { backup } = roles('k');
    const x = net.transport('x');
    await x.start();
    const rpc = openLibraryChannel(x, 'lrm/map/delta'); // posing as a map peer
    channels.push(rpc);
    await rpc.ready();
    // The first write's version again: older than what the backup holds now.
    const stale = mapMessageToWire({
      type: MSG_DIFF,
      entry: { key: 'k', version: [1, 'a', 0, 'a'], primary: 'a', backups: [backup.id] },
      base: [0, 'a', 0, 'a'],
      diff: new ValueCodec().encode([['n', -1]]),
    });
    const [answer] = await rpc.call(stale, { mode: 'all', to: [backup.id], timeoutMs: 1000 });
    expect(answer !== undefined && 'reply' in answer && mapMessageFromWire(answer.reply).type).to.equal(MSG_ACK);
    await net.settled();
    expect(((await backup.get('k', { promote: false })) as Doc).fields.n).to.equal(2);
  });

  it('counts a read through a proxy as a use (the contract: a get on any member is a use)', async () => {
    await start();
    await maps.a!.set('k', new Doc().put('n', 1));
    await net.settled();
    const { proxy } = roles('k');
    clock.time = 61_000;
    await proxy.get('k', { promote: false });
    expect(proxy.lastAccess('k'), 'read now').to.equal(61_000);
    clock.time = 62_000;
    await proxy.get('k');
    expect(proxy.entryInfo('k')?.role).to.equal('primary');
    expect(proxy.lastAccess('k'), 'promoted by a read: used now').to.equal(62_000);
  });

  it('works on a ReplicatedMap: every copy applies the diff', async () => {
    const replicated: Record<string, ReplicatedMap<string>> = {};
    for (const id of IDS) {
      replicated[id] = new ReplicatedMap<string>({ name: 'delta', transport: net.transport(id) });
      await replicated[id].start();
      maps[id] = replicated[id] as unknown as AnyMap;
    }
    await net.settled();
    const doc = new Doc().put('n', 1).put('big', 'z'.repeat(5_000));
    await replicated.a!.set('k', doc);
    await net.settled();
    const before = net.stats();
    doc.put('n', 2);
    await replicated.a!.replicate('k');
    await net.settled();
    const sent = delivered(before, net.stats());
    expect(sent.MSG_DIFF?.messages).to.equal(2);
    expect(sent.MSG_COPY).to.equal(undefined);
    for (const id of ['b', 'c']) expect(((await replicated[id]!.get('k')) as Doc).fields.n).to.equal(2);
  });

  it('rejects a value whose diff cannot be encoded, and changes nothing', async () => {
    await start();
    const doc = new Doc().put('n', 1);
    await maps.a!.set('k', doc);
    await net.settled();
    const before = net.stats();
    doc.put('f', () => undefined);
    const error = await maps.a!.replicate('k').then(() => undefined, (e: unknown) => e);
    expect((error as Error).name).to.equal('ValueEncodeError');
    await net.settled();
    expect(delivered(before, net.stats())).to.deep.equal({});
    expect(doc.isDirty(), 'the changes are still pending').to.equal(true);
    expect(((await roles('k').backup.get('k', { promote: false })) as Doc).fields.n).to.equal(1);
  });
});
