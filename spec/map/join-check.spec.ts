/**
 * `map.start()` meets its members before it asks for the map's state, and fails fast when this
 * member may not join: every member it met speaks an incompatible protocol version (announced in
 * the hello, or shown by the envelope of an older build's frames), or `mustJoin` is set and no
 * member was admitted in time. Another build is simulated in one process with the router's
 * internal test hook; scripts/mixed-versions.sh runs a real build of 0.1.0 against this one.
 */
import { expect } from 'chai';
import { Encoder } from 'cbor-x';
import {
  FrameKind,
  IncompatibleProtocolError,
  InMemoryNetwork,
  JoinTimeoutError,
  LazyReplicatedMap,
  PROTOCOL_VERSION,
  RpcChannel,
  type InMemoryTransport,
} from '../../lib/index.js';
import { MSG_START } from '../../lib/codec/message-types.js';
import { ChannelRouter, simulateProtocolVersion } from '../../lib/rpc/channel-router.js';
import { record, rejection, thrown } from '../helpers/events.js';

type Map_ = LazyReplicatedMap<string>;

describe('LazyReplicatedMap start(): who may join', () => {
  let net: InMemoryNetwork;
  const maps: Map_[] = [];
  beforeEach(() => {
    net = new InMemoryNetwork({ seed: 3 });
  });
  afterEach(async () => {
    for (const m of maps.splice(0)) if (m.state === 'running') await m.stop().catch(() => undefined);
    await net.settled();
  });

  function mapOn(id: string, options: Partial<ConstructorParameters<typeof LazyReplicatedMap<string, unknown>>[0]> = {}): Map_ {
    const map = new LazyReplicatedMap<string, unknown>({ name: 'm', transport: net.transport(id), rpcTimeoutMs: 2000, ...options });
    maps.push(map);
    return map;
  }

  describe('protocol versions', () => {
    it('refuses a member of an incompatible version on both sides, once each, and its start() rejects with IncompatibleProtocolError', async () => {
      const a = mapOn('a');
      await a.start();
      await a.set('k', 'v');
      const aErrors = record<[Error]>(a, 'error');
      const newer = PROTOCOL_VERSION + 1;
      simulateProtocolVersion(net.transport('b'), newer, newer);
      const b = mapOn('b');
      const bErrors = record<[Error]>(b, 'error');
      const error = await rejection(b.start());
      await net.settled();

      expect(error).to.be.instanceOf(IncompatibleProtocolError);
      expect(error).to.include({ peer: 'a', peerVersion: PROTOCOL_VERSION, version: newer });
      expect((error as Error).message).to.include(`member 'a' speaks protocol version ${PROTOCOL_VERSION}`).and.include('docs/protocol.md');
      expect(bErrors.events.map(([e]) => e)).to.deep.equal([error]);
      expect(aErrors.events.map(([e]) => e.name)).to.deep.equal(['IncompatibleProtocolError']);
      expect(aErrors.events[0]?.[0]).to.include({ peer: 'b', peerVersion: newer, version: PROTOCOL_VERSION });
      // b stopped instead of running alone; a never counted it.
      expect(b.state).to.equal('stopped');
      expect(net.members(), "b's transport stopped with its only map").to.deep.equal(['a']);
      expect(a.members()).to.deep.equal(['a']);
      expect(a.entryInfo('k')).to.deep.include({ role: 'primary', backups: [] });
    });

    it('refuses, on both sides, a member two versions ahead that no longer speaks this version', async () => {
      const a = mapOn('a');
      await a.start();
      const aErrors = record<[Error]>(a, 'error');
      // b is two versions ahead and interoperates only down to one ahead of a: a reads that in
      // b's hello, b in a's; both report it (the Refuse frame is covered in channel-router.spec).
      simulateProtocolVersion(net.transport('b'), PROTOCOL_VERSION + 2, PROTOCOL_VERSION + 1);
      const b = mapOn('b');
      b.on('error', () => undefined);
      expect(await rejection(b.start())).to.be.instanceOf(IncompatibleProtocolError);
      await net.settled();
      expect(aErrors.events.map(([e]) => e.name)).to.deep.equal(['IncompatibleProtocolError']);
    });

    it('admits a member one version ahead that still speaks this version: N and N−1 share a cluster', async () => {
      const a = mapOn('a');
      await a.start();
      await a.set('k', 'v');
      simulateProtocolVersion(net.transport('b'), PROTOCOL_VERSION + 1, PROTOCOL_VERSION);
      const b = mapOn('b');
      const errors = [...[a, b].map((m) => record<[Error]>(m, 'error'))];
      await b.start();
      expect(b.members()).to.deep.equal(['a', 'b']);
      expect(await b.get('k', { promote: false })).to.equal('v');
      await net.settled();
      expect(errors.flatMap((e) => e.events)).to.deep.equal([]);
    });

    it('refuses a member that sends frames of an older envelope version (a build without the hello): start() rejects, reported once with a count', async () => {
      // A member of the previous release: its transport runs, and it introduces itself to every
      // member that comes up with its map's MSG_START, in envelope version 1.
      const old: InMemoryTransport = net.transport('old');
      await old.start();
      const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });
      let id = 0;
      const introduce = (to: string): void => {
        for (let i = 0; i < 3; i++) void old.send(to, cbor.encode([1, FrameKind.Request, 'lrm/map/m', ++id, [MSG_START, 'incarnation']]));
      };
      old.on('peerUp', introduce);
      const b = mapOn('b');
      const errors = record<[Error]>(b, 'error');
      const error = await rejection(b.start());
      expect(error).to.be.instanceOf(IncompatibleProtocolError);
      expect(error).to.include({ peer: 'old', peerVersion: 1, version: PROTOCOL_VERSION, dropped: 1 });
      expect((error as Error).message).to.include('older release without the join hello').and.include('no rolling upgrade');
      await net.settled();
      expect(errors.events.map(([e]) => e), 'reported once, the later frames only counted').to.deep.equal([error]);
      expect(b.state).to.equal('stopped');
    });

    it('sends no RPC to a member that was not admitted', async () => {
      simulateProtocolVersion(net.transport('b'), PROTOCOL_VERSION + 1, PROTOCOL_VERSION + 1);
      let asked = 0;
      const ra = new RpcChannel(net.transport('a'), 'q', () => 'a');
      const rb = new RpcChannel(net.transport('b'), 'q', () => {
        asked++;
        return 'b';
      });
      for (const r of [ra, rb]) r.on('error', () => undefined);
      await Promise.all([ra.ready(), rb.ready()]);
      await net.settled();
      expect(net.transport('a').peers(), 'the transport reaches b').to.deep.equal(['b']);
      expect(ChannelRouter.of(net.transport('a')).peers()).to.deep.equal([]);
      expect(await ra.call('x', { timeoutMs: 1000 })).to.deep.equal([]);
      await net.settled();
      expect(asked).to.equal(0);
      await ra.close();
      await rb.close();
    });
  });

  describe('mustJoin', () => {
    it('starts alone by default when no member is there (the first member of a cluster)', async () => {
      const a = mapOn('a');
      await a.start();
      expect(a.state).to.equal('running');
      expect(a.members()).to.deep.equal(['a']);
    });

    it('rejects start() with a JoinTimeoutError after joinTimeoutMs when no member was admitted, and stops', async () => {
      const a = mapOn('a', { mustJoin: true, joinTimeoutMs: 50 });
      const error = await rejection(a.start());
      expect(error).to.be.instanceOf(JoinTimeoutError);
      expect((error as Error).message).to.include('mustJoin').and.include('joinTimeoutMs').and.include("'a'");
      expect(a.state).to.equal('stopped');
    });

    it('resolves start() once a member is admitted', async () => {
      const a = mapOn('a');
      await a.start();
      const b = mapOn('b', { mustJoin: true, joinTimeoutMs: 5000 });
      await b.start();
      expect(b.members()).to.deep.equal(['a', 'b']);
    });

    it('checks its options', () => {
      for (const joinTimeoutMs of [0, -1, NaN, Infinity, 'abc']) {
        const error = thrown(() => mapOn('a', { joinTimeoutMs: joinTimeoutMs as number }));
        expect(error).to.be.instanceOf(RangeError);
        expect((error as Error).message).to.include('`joinTimeoutMs`');
      }
      const error = thrown(() => mapOn('a', { mustJoin: 'yes' as unknown as boolean }));
      expect(error).to.be.instanceOf(TypeError);
      expect((error as Error).message).to.include('`mustJoin`');
    });
  });
});
