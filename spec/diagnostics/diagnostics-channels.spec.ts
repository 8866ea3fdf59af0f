/**
 * The library's node:diagnostics_channel channels, seen by a plain subscriber on an in-memory
 * cluster: every traced map operation and RPC call (start, end, asyncStart, asyncEnd, error),
 * membership, promotion, failover and peer faults. And nothing is built when nobody listens.
 */
import { expect } from 'chai';
import diagnostics from 'node:diagnostics_channel';
import { DIAGNOSTICS_CHANNELS, FrameKind, InMemoryNetwork, LazyReplicatedMap, ProtocolError, ValueEncodeError, encodeFrame, type MapOperationContext, type RpcCallContext } from '../../lib/index.js';
import { traceMethod } from '../../lib/diagnostics/tracing.js';
import { cluster, type Cluster } from '../map/helpers.js';

type Phase = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
const PHASES: Phase[] = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'];

/** Everything published on the library's channels while subscribed, in order. */
class Recorder {
  readonly traced: Array<{ channel: string; phase: Phase; context: object }> = [];
  readonly plain: Array<{ channel: string; message: unknown }> = [];
  private readonly undo: Array<() => void> = [];

  constructor() {
    for (const name of Object.values(DIAGNOSTICS_CHANNELS)) {
      if (name.includes(':map.') || name.endsWith(':rpc.call')) {
        const tc = diagnostics.tracingChannel<object>(name);
        const handlers = Object.fromEntries(PHASES.map((phase) => [phase, (context: object) => this.traced.push({ channel: name, phase, context })])) as unknown as Parameters<typeof tc.subscribe>[0];
        tc.subscribe(handlers);
        this.undo.push(() => { tc.unsubscribe(handlers); });
      } else {
        const listener = (message: unknown): void => {
          this.plain.push({ channel: name, message });
        };
        diagnostics.subscribe(name, listener);
        this.undo.push(() => diagnostics.unsubscribe(name, listener));
      }
    }
  }

  /** The phases seen for operations of `channel`, per context (one call), in order. */
  calls(channel: string): Array<{ context: object; phases: Phase[] }> {
    const byContext = new Map<object, Phase[]>();
    for (const t of this.traced.filter((x) => x.channel === channel)) {
      const phases = byContext.get(t.context) ?? [];
      phases.push(t.phase);
      byContext.set(t.context, phases);
    }
    return [...byContext].map(([context, phases]) => ({ context, phases }));
  }

  messages(channel: string): unknown[] {
    return this.plain.filter((p) => p.channel === channel).map((p) => p.message);
  }

  stop(): void {
    for (const u of this.undo.splice(0)) u();
  }
}

describe('diagnostics channels', () => {
  let c: Cluster | undefined;
  let rec: Recorder | undefined;
  afterEach(async () => {
    rec?.stop();
    rec = undefined;
    await c?.stopAll();
    c = undefined;
  });

  it('traces every map operation from start to end with the map, member, key and operation', async () => {
    rec = new Recorder();
    c = await cluster(['a', 'b', 'c'], { backups: 1 });
    const a = c.maps.a!;
    await a.set('k', { n: 1 });
    await a.get('k');
    await a.replicate('k');
    await a.delete('k');
    await a.set('x', 1);
    await a.clear();
    const ok: Phase[] = ['start', 'end', 'asyncStart', 'asyncEnd'];
    const ops = [
      [DIAGNOSTICS_CHANNELS.mapSet, 'set', ['k', 'x']],
      [DIAGNOSTICS_CHANNELS.mapGet, 'get', ['k']],
      [DIAGNOSTICS_CHANNELS.mapReplicate, 'replicate', ['k']],
      [DIAGNOSTICS_CHANNELS.mapDelete, 'delete', ['k']],
      [DIAGNOSTICS_CHANNELS.mapClear, 'clear', [undefined]],
    ] as const;
    for (const [channel, op, keys] of ops) {
      const calls = rec.calls(channel);
      expect(calls.map((x) => (x.context as MapOperationContext).key), channel).to.deep.equal(keys);
      for (const call of calls) {
        expect(call.phases, `${op} phases`).to.deep.equal(ok);
        expect(call.context).to.include({ op, map: 'test', member: 'a' });
      }
    }
    const [del] = rec.calls(DIAGNOSTICS_CHANNELS.mapDelete);
    expect((del?.context as MapOperationContext).result).to.equal(true);
  });

  it('publishes an error event, with the error on the context, for an operation that fails', async () => {
    rec = new Recorder();
    c = await cluster(['a', 'b'], { backups: 1 });
    const failure = await c.maps.a!.set('bad', () => undefined).then(() => undefined, (e: unknown) => e);
    expect(failure).to.be.instanceOf(ValueEncodeError);
    const [call] = rec.calls(DIAGNOSTICS_CHANNELS.mapSet);
    expect(call?.phases).to.deep.equal(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect((call?.context as MapOperationContext).error).to.equal(failure);
  });

  it('rejects, and traces as an error, a bad key of get, replicate and touch while traced (they are not async functions)', async () => {
    rec = new Recorder();
    c = await cluster(['a', 'b'], { backups: 1 });
    const map = c.maps.a!;
    // A synchronous throw here would escape tracePromise (it rethrows what its function throws).
    for (const [name, call] of [
      ['get', () => map.get({} as never)],
      ['replicate', () => map.replicate({} as never)],
      ['touch', () => map.touch({} as never)],
    ] as const) {
      const failure = await call().then(() => undefined, (e: unknown) => e);
      expect(failure, name).to.be.instanceOf(TypeError);
    }
    for (const channel of [DIAGNOSTICS_CHANNELS.mapGet, DIAGNOSTICS_CHANNELS.mapReplicate, DIAGNOSTICS_CHANNELS.mapTouch]) {
      const [call] = rec.calls(channel);
      expect(call?.phases, channel).to.deep.equal(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    }
  });

  it("traces the maps' RPC calls with channel, mode and targets", async () => {
    c = await cluster(['a', 'b', 'c'], { backups: 1 });
    rec = new Recorder();
    await c.maps.a!.set('k', 1);
    const calls = rec.calls(DIAGNOSTICS_CHANNELS.rpcCall);
    expect(calls).to.not.have.length(0);
    for (const call of calls) {
      const context = call.context as RpcCallContext;
      expect(context.channel).to.equal('lrm/map/test');
      expect(context.member).to.equal('a');
      expect(['first', 'majority', 'all', 'none']).to.include(context.mode);
      expect(context.targets.length).to.be.greaterThan(0);
      expect(context.targets).to.not.include('a');
      expect(call.phases.slice(0, 2)).to.deep.equal(['start', 'end']);
    }
  });

  it('publishes members added and gone, failover and promotion', async () => {
    rec = new Recorder();
    c = await cluster(['a', 'b', 'c'], { backups: 1 });
    const added = rec.messages(DIAGNOSTICS_CHANNELS.memberAdded) as Array<{ map: string; member: string; peer: string }>;
    // Every member saw every other come.
    expect(added.map((m) => `${m.member}<-${m.peer}`).sort()).to.deep.equal(['a<-b', 'a<-c', 'b<-a', 'b<-c', 'c<-a', 'c<-b']);
    expect(added.every((m) => m.map === 'test')).to.equal(true);

    await c.maps.a!.set('k', 1);
    const backup = c.maps.a!.entryInfo('k')!.backups[0]!;
    const proxy = ['b', 'c'].find((id) => id !== backup)!;
    await c.maps[proxy]!.get('k');
    expect(rec.messages(DIAGNOSTICS_CHANNELS.promotion)).to.deep.equal([{ map: 'test', member: proxy, key: 'k', previous: 'a' }]);
    await c.net.settled();

    // The new primary dies: its backup takes over.
    const holder = c.maps[proxy]!.entryInfo('k')!.backups[0]!;
    c.net.crash(proxy);
    await c.net.settled();
    const gone = rec.messages(DIAGNOSTICS_CHANNELS.memberGone) as Array<{ member: string; peer: string }>;
    expect(gone.map((m) => `${m.member}<-${m.peer}`).sort()).to.deep.equal(['a', 'b', 'c'].filter((id) => id !== proxy).map((id) => `${id}<-${proxy}`));
    expect(rec.messages(DIAGNOSTICS_CHANNELS.failover)).to.deep.equal([{ map: 'test', member: holder, key: 'k', previous: proxy }]);
  });

  it('publishes entries left short of copies on under-replicated, as the map emits them', async () => {
    rec = new Recorder();
    c = await cluster(['a', 'b'], { backups: 2 });
    await c.maps.a!.set('k', 1);
    await c.maps.a!.set('j', 2);
    expect(rec.messages(DIAGNOSTICS_CHANNELS.underReplicated)).to.deep.equal([
      { map: 'test', member: 'a', keys: ['k'], wanted: 2, held: 1 },
      { map: 'test', member: 'a', keys: ['j'], wanted: 2, held: 1 },
    ]);
    // b dies with both copies: one message for the re-homing.
    c.net.crash('b');
    await c.net.settled();
    const last = rec.messages(DIAGNOSTICS_CHANNELS.underReplicated).slice(2) as Array<{ keys: string[]; held: number }>;
    expect(last.map((m) => [[...m.keys].sort(), m.held])).to.deep.equal([[['j', 'k'], 0]]);
  });

  it('publishes an expired entry once, on its primary, and traces touch', async () => {
    rec = new Recorder();
    const net = new InMemoryNetwork();
    let time = 0;
    const maps = ['a', 'b', 'c'].map((id) => new LazyReplicatedMap<string, number>({ name: 'exp', transport: net.transport(id), now: () => time, expirySweepIntervalMs: 0 }));
    for (const m of maps) await m.start();
    const [a, b] = maps as [LazyReplicatedMap<string, number>, LazyReplicatedMap<string, number>];
    await a.set('short', 1, { ttlMs: 10 });
    await b.touch('short');
    const touches = rec.calls(DIAGNOSTICS_CHANNELS.mapTouch).map((call) => call.context as MapOperationContext);
    expect(touches.map((t) => [t.op, t.map, t.member, t.key])).to.deep.equal([['touch', 'exp', 'b', 'short']]);
    time = 10;
    await a.sweep();
    await net.settled();
    expect(rec.messages(DIAGNOSTICS_CHANNELS.expiry)).to.deep.equal([{ map: 'exp', member: 'a', key: 'short' }]);
    for (const m of maps) expect(m.has('short')).to.equal(false);
    for (const m of maps) await m.stop({ discard: true });
  });

  it('publishes a bad frame from a peer once on peer.error, naming where it was reported', async () => {
    rec = new Recorder();
    c = await cluster(['a'], { backups: 1 });
    const rogue = c.net.transport('rogue');
    await rogue.start();
    await c.net.settled();
    await rogue.send('a', encodeFrame({ kind: FrameKind.Request, channel: 'lrm/map/test', id: 1, body: [99, 'what'] }));
    await rogue.send('a', Uint8Array.from([0xff, 0x00, 0x13]));
    await c.net.settled();
    const faults = rec.messages(DIAGNOSTICS_CHANNELS.peerError) as Array<{ source: string; member: string; name?: string; error: Error }>;
    expect(faults).to.have.length(2);
    for (const f of faults) {
      expect(f.error).to.be.instanceOf(ProtocolError);
      expect(f.member).to.equal('a');
    }
    expect(faults[0]).to.include({ source: 'map', name: 'test' });
    // The undecodable frame is reported by the router to the map's channel first.
    expect(faults[1]).to.include({ source: 'channel', name: 'lrm/map/test' });
  });

  it('builds no context and calls straight through when nobody subscribes', async () => {
    class Thing {
      async work(n: number): Promise<number> {
        return Promise.resolve(n * 2);
      }
    }
    let built = 0;
    traceMethod(Thing.prototype, 'work', 'lazy-replicated-map:spec.work', () => {
      built++;
      return {};
    });
    expect(await new Thing().work(2)).to.equal(4);
    expect(built).to.equal(0);
    const tc = diagnostics.tracingChannel('lazy-replicated-map:spec.work');
    const handlers = { start: () => undefined, end: () => undefined, asyncStart: () => undefined, asyncEnd: () => undefined, error: () => undefined };
    tc.subscribe(handlers);
    try {
      expect(await new Thing().work(3)).to.equal(6);
      expect(built).to.equal(1);
    } finally {
      tc.unsubscribe(handlers);
    }
  });
});
