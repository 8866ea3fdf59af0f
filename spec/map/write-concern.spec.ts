import { expect } from 'chai';
import { classifyFrame, InMemoryNetwork, LazyReplicatedMap, ReplicationError, ReplicatedMap, type UnderReplication } from '../../lib/index.js';
import { record, rejection } from '../helpers/events.js';
import { KeyvStore } from '../../lib/keyv/index.js';
import { BackupSessionStore } from '../../lib/session/index.js';
import { fakeMember } from './fake-member.js';
import { cluster, type Cluster } from './helpers.js';

type Short = [UnderReplication<string | number>];

describe('LazyReplicatedMap write concern', () => {
  let c: Cluster | undefined;
  const extra: Array<{ stop(options?: { discard?: boolean }): Promise<void> }> = [];
  afterEach(async () => {
    for (const m of extra.splice(0)) await m.stop({ discard: true }).catch(() => undefined);
    await c?.stopAll();
    c = undefined;
  });

  describe('too few live members', () => {
    it('resolves a set on 2 members with backups: 2 holding 1 copy, and emits underReplicated (wanted 2, held 1)', async () => {
      c = await cluster(['a', 'b'], { backups: 2 });
      const short = record<Short>(c.maps.a!, 'underReplicated');
      await c.maps.a!.set('k', 1);
      expect(c.maps.a!.entryInfo('k')!.backups).to.deep.equal(['b']);
      expect(short.events).to.deep.equal([[{ key: 'k', keys: ['k'], wanted: 2, held: 1 }]]);
      expect(c.maps.a!.stats().underReplicated).to.equal(1);
    });

    it('emits underReplicated with held 0 for every write on a lone member', async () => {
      c = await cluster(['a'], { backups: 1 });
      const short = record<Short>(c.maps.a!, 'underReplicated');
      await c.maps.a!.set('k', 1);
      expect(c.maps.a!.entryInfo('k')!.backups).to.deep.equal([]);
      expect(short.events).to.deep.equal([[{ key: 'k', keys: ['k'], wanted: 1, held: 0 }]]);
      // Every write that resolves short says so, an update of a key already short included.
      await c.maps.a!.set('k', 2);
      await c.maps.a!.set('j', 1);
      expect(short.events.map(([e]) => e.key)).to.deep.equal(['k', 'k', 'j']);
      expect(c.maps.a!.stats().underReplicated).to.equal(2);
    });

    it('emits nothing, and counts nothing short, once every entry holds its copies', async () => {
      c = await cluster(['a', 'b', 'c'], { backups: 2 });
      const short = record<Short>(c.maps.a!, 'underReplicated');
      for (let i = 0; i < 10; i++) await c.maps.a!.set(`k${i}`, i);
      expect(short.events).to.deep.equal([]);
      expect(c.maps.a!.stats().underReplicated).to.equal(0);
    });

    it('emits nothing with ack: none', async () => {
      const net = new InMemoryNetwork({ seed: 1 });
      const a = new LazyReplicatedMap<string, number>({ name: 'none', transport: net.transport('a'), backups: 2, ack: 'none' });
      const b = new LazyReplicatedMap<string, number>({ name: 'none', transport: net.transport('b'), backups: 2, ack: 'none' });
      extra.push(a, b);
      await a.start();
      await b.start();
      await net.settled();
      const short = record<Short>(a, 'underReplicated');
      await a.set('k', 1);
      await net.settled();
      b.stop().catch(() => undefined);
      await net.settled();
      await a.set('j', 1);
      await net.settled();
      expect(short.events).to.deep.equal([]);
    });

    it('reports entries a member took with it when it leaves, in one event, and again after they were refilled and lost again', async () => {
      c = await cluster(['a'], { backups: 1 });
      const short = record<Short>(c.maps.a!, 'underReplicated');
      for (let i = 0; i < 5; i++) await c.maps.a!.set(`k${i}`, i);
      expect(short.events).to.have.length(5);
      short.events.length = 0;
      // A member joins: every entry gets its backup, nothing is short any more.
      const b = new LazyReplicatedMap<string, number>({ name: 'test', transport: c.net.transport('b'), backups: 1 });
      c.maps.b = b;
      await b.start();
      await c.net.settled();
      expect(c.maps.a!.stats().underReplicated).to.equal(0);
      expect(short.events).to.deep.equal([]);
      // It crashes: nobody is left to take the copies. One event for the re-homing, not one per key.
      c.net.crash('b');
      await c.net.settled();
      expect(short.events).to.have.length(1);
      const [event] = short.events[0]!;
      expect([...event.keys].sort()).to.deep.equal(['k0', 'k1', 'k2', 'k3', 'k4']);
      expect(event).to.deep.include({ key: event.keys[0], wanted: 1, held: 0 });
      expect(c.maps.a!.stats().underReplicated).to.equal(5);
    });

    it('resolves a write whose backup is cut off before it heard of the cut with the copies left, never with an error', async () => {
      c = await cluster(['a', 'b'], { backups: 1 });
      const short = record<Short>(c.maps.a!, 'underReplicated');
      // The send to b fails at once; b's peerDown is still on its way.
      c.net.partition(['a'], ['b']);
      await c.maps.a!.set('k', 1);
      expect(c.maps.a!.entryInfo('k')!.backups).to.deep.equal([]);
      expect(short.events).to.deep.equal([[{ key: 'k', keys: ['k'], wanted: 1, held: 0 }]]);
    });

    it('resolves a write whose backup is leaving (it refuses copies while it stops) with the copies left, and says so', async () => {
      c = await cluster(['a', 'b'], { backups: 1 });
      const short = record<Short>(c.maps.a!, 'underReplicated');
      // b's goodbye (MSG_STOP) is held back until a's write is over: a still counts b as a
      // member when b refuses the copy because it is stopping.
      const tb = c.net.transport('b');
      const send = tb.send.bind(tb);
      const held: Array<() => void> = [];
      tb.send = (to: string, frame: Uint8Array): Promise<void> => {
        if (classifyFrame(frame) !== 'MSG_STOP') return send(to, frame);
        return new Promise((resolve, reject) => held.push(() => { send(to, frame).then(resolve, reject); }));
      };
      const leaving = c.maps.b!.stop();
      await c.maps.a!.set('k', 1);
      expect(held, 'the goodbye was held back').to.have.length(1);
      for (const release of held) release();
      await leaving;
      expect(c.maps.a!.entryInfo('k')!.backups).to.deep.equal([]);
      expect(short.events).to.deep.equal([[{ key: 'k', keys: ['k'], wanted: 1, held: 0 }]]);
    });

    it('never reports a ReplicatedMap short of members: it promises a copy on every member there is', async () => {
      c = await cluster(['a', 'b'], { replicated: true });
      const short = record<Short>(c.maps.a!, 'underReplicated');
      await c.maps.a!.set('k', 1);
      c.net.crash('b');
      await c.net.settled();
      await c.maps.a!.set('k', 2);
      expect(short.events).to.deep.equal([]);
      expect(c.maps.a!.stats().underReplicated).to.equal(0);
    });
  });

  describe('a live member that refuses its copy', () => {
    const refuse = { refuse: { name: 'DiskFullError', message: 'no space left for copies' } };

    it('lands the write on another live member', async () => {
      c = await cluster(['a', 'c'], { backups: 1 });
      // 'b' sorts first, so it is the first backup chosen.
      const b = fakeMember(c.net.transport('b'), 'test', refuse);
      await c.net.settled();
      expect(c.maps.a!.members()).to.deep.equal(['a', 'b', 'c']);
      const short = record<Short>(c.maps.a!, 'underReplicated');
      await c.maps.a!.set('k', 1);
      expect(b.copiesOf).to.deep.equal(['k']);
      expect(c.maps.a!.entryInfo('k')!.backups).to.deep.equal(['c']);
      expect(await c.maps.c!.get('k', { promote: false })).to.equal(1);
      expect(c.maps.c!.entryInfo('k')!.role).to.equal('backup');
      expect(short.events).to.deep.equal([]);
    });

    it('rejects the write with ReplicationError naming the member and its reason when no other live member takes it; the value stays written here', async () => {
      c = await cluster(['a'], { backups: 1 });
      const b = fakeMember(c.net.transport('b'), 'test', refuse);
      await c.net.settled();
      expect(c.maps.a!.members()).to.deep.equal(['a', 'b']);
      const short = record<Short>(c.maps.a!, 'underReplicated');
      const error = await rejection(c.maps.a!.set('k', 1));
      expect(error).to.be.instanceOf(ReplicationError);
      const e = error as ReplicationError;
      expect(e.name).to.equal('ReplicationError');
      expect(e.key).to.equal('k');
      expect(e.wanted).to.equal(1);
      expect(e.held).to.deep.equal([]);
      expect(e.refusals).to.deep.equal([{ member: 'b', reason: 'DiskFullError: no space left for copies' }]);
      expect(e.message).to.contain("'b'").and.contain('no space left').and.contain('not rolled back');
      expect(e.stack, 'the stack shows the caller').to.contain('write-concern.spec.ts');
      // The local state afterwards: written here as primary, with no backup.
      expect(c.maps.a!.entryInfo('k')).to.deep.equal({ role: 'primary', primary: 'a', backups: [] });
      expect(await c.maps.a!.get('k')).to.equal(1);
      expect(short.events).to.deep.equal([[{ key: 'k', keys: ['k'], wanted: 1, held: 0 }]]);
      // The next write tries the member again, and resolves once it takes the copy.
      b.copy = 'ack';
      await c.maps.a!.set('k', 2);
      expect(b.copiesOf).to.deep.equal(['k', 'k']);
      expect(c.maps.a!.entryInfo('k')!.backups).to.deep.equal(['b']);
      expect(c.maps.a!.stats().underReplicated).to.equal(0);
    });

    it('rejects replicate() as set() does', async () => {
      c = await cluster(['a'], { backups: 1 });
      await c.maps.a!.set('k', { n: 1 });
      const b = fakeMember(c.net.transport('b'), 'test', 'ack');
      await c.net.settled();
      expect(c.maps.a!.entryInfo('k')!.backups).to.deep.equal(['b']);
      b.copy = refuse;
      const error = await rejection(c.maps.a!.replicate('k', true));
      expect(error).to.be.instanceOf(ReplicationError);
      expect((error as ReplicationError).refusals.map((r) => r.member)).to.deep.equal(['b']);
    });

    it('rejects a write that a live member never answers once rpcTimeoutMs passed', async () => {
      const net = new InMemoryNetwork({ seed: 1 });
      const a = new LazyReplicatedMap<string, number>({ name: 'silent', transport: net.transport('a'), backups: 1, rpcTimeoutMs: 50 });
      extra.push(a);
      await a.start();
      fakeMember(net.transport('b'), 'silent', 'ignore');
      await net.settled();
      const error = await rejection(a.set('k', 1));
      expect(error).to.be.instanceOf(ReplicationError);
      expect((error as ReplicationError).refusals).to.deep.equal([{ member: 'b', reason: 'no answer within rpcTimeoutMs, or its connection was lost' }]);
    });

    it("reports a re-homing refused by a live member as one 'error' and one underReplicated", async () => {
      c = await cluster(['a', 'c'], { backups: 1 });
      for (let i = 0; i < 3; i++) await c.maps.a!.set(`k${i}`, i);
      fakeMember(c.net.transport('b'), 'test', refuse);
      await c.net.settled();
      const errors = record<[unknown]>(c.maps.a!, 'error');
      const short = record<Short>(c.maps.a!, 'underReplicated');
      c.net.crash('c');
      await c.net.settled();
      expect(errors.events).to.have.length(1);
      const [error] = errors.events[0]!;
      expect(error).to.be.instanceOf(ReplicationError);
      expect([...(error as ReplicationError).keys].sort()).to.deep.equal(['k0', 'k1', 'k2']);
      expect((error as ReplicationError).refusals.map((r) => r.member)).to.deep.equal(['b']);
      expect(short.events).to.have.length(1);
      expect(short.events[0]![0]).to.deep.include({ wanted: 1, held: 0 });
    });
  });

  it('makes the Keyv and session stores reject a write a live member refused, with the same error', async () => {
    c = await cluster(['a'], { backups: 1 });
    fakeMember(c.net.transport('b'), 'test', { refuse: { name: 'Error', message: 'no' } });
    await c.net.settled();
    const keyv = new KeyvStore({ map: c.maps.a! });
    expect(await rejection(keyv.set('k', 1))).to.be.instanceOf(ReplicationError);
    const sessions = new BackupSessionStore({ map: c.maps.a!, route: 'a' });
    expect(await rejection(sessions.set('sid.a', { cookie: {}, user: 'ada' }))).to.be.instanceOf(ReplicationError);
  });

  it('keeps the ReplicatedMap promise too: a copy refused by a live member rejects the write', async () => {
    const net = new InMemoryNetwork({ seed: 1 });
    const a = new ReplicatedMap<string, number>({ name: 'r', transport: net.transport('a') });
    extra.push(a);
    await a.start();
    fakeMember(net.transport('b'), 'r', { refuse: { name: 'Error', message: 'no' } });
    await net.settled();
    const error = await rejection(a.set('k', 1));
    expect(error).to.be.instanceOf(ReplicationError);
    expect((error as ReplicationError).wanted).to.equal(1);
  });
});
