import { expect } from 'chai';
import { Encoder } from 'cbor-x';
import { EventEmitter } from 'eventemitter3';
import {
  ChannelInUseError,
  FrameKind,
  IncompatibleProtocolError,
  OLDEST_COMPATIBLE_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  ProtocolError,
  decodeFrame,
  encodeFrame,
  type Frame,
  type Transport,
} from '../../lib/index.js';
import { encodeFrameAs } from '../../lib/codec/frame.js';
import { ChannelRouter, type ChannelEndpoint } from '../../lib/rpc/channel-router.js';

/** A transport that records what is sent and delivers only what the test emits. */
class FakeTransport extends EventEmitter implements Transport {
  readonly id = 'me';
  readonly sent: { to: string; frame: Frame }[] = [];
  /** Who the transport reports reachable (the test keeps it in step with the events it emits). */
  reachable: string[] = [];
  maxFrameBytes?: number;
  starts = 0;
  stops = 0;
  start(): Promise<void> {
    this.starts++;
    return Promise.resolve();
  }
  stop(): Promise<void> {
    this.stops++;
    return Promise.resolve();
  }
  peers(): string[] {
    return [...this.reachable];
  }
  send(to: string, frame: Uint8Array): Promise<void> {
    this.sent.push({ to, frame: decodeFrame(frame) });
    return Promise.resolve();
  }
}

/** An endpoint that logs every call. */
function endpoint(log: string[], name: string): ChannelEndpoint {
  return {
    onFrame: (from, frame) => log.push(`${name} frame ${from} ${String(frame.body)}`),
    onPeerUp: (id) => log.push(`${name} up ${id}`),
    onPeerDown: (id) => log.push(`${name} down ${id}`),
    onClose: () => log.push(`${name} close`),
    onError: (error) => log.push(`${name} error ${error.name}`),
  };
}

const bytes = (kind: FrameKind, channel: string, body: unknown, id = 7): Uint8Array => encodeFrame({ kind, channel, id, body });

/** A peer's hello: this build's versions, and a frame limit (`null`: none declared). */
const hello = (maxFrameBytes: number | null = null, version = PROTOCOL_VERSION, oldest = OLDEST_COMPATIBLE_PROTOCOL_VERSION, answer = false): Uint8Array =>
  encodeFrameAs(version, { kind: FrameKind.Hello, channel: 'lrm/router', id: 0, body: [version, oldest, maxFrameBytes, answer] });

describe('ChannelRouter', () => {
  it('is one router per transport', () => {
    const t = new FakeTransport();
    expect(ChannelRouter.of(t)).to.equal(ChannelRouter.of(t));
    expect(ChannelRouter.of(t)).to.not.equal(ChannelRouter.of(new FakeTransport()));
  });

  it('hands each frame to the channel named in it, and only to it', async () => {
    const t = new FakeTransport();
    const log: string[] = [];
    const router = ChannelRouter.of(t);
    await router.register('a', endpoint(log, 'A'));
    await router.register('b', endpoint(log, 'B'));
    t.emit('message', 'p', bytes(FrameKind.Notify, 'b', 'hi'));
    expect(log).to.deep.equal(['B frame p hi']);
  });

  it('answers a request for a channel it does not run with NoChannel, and ignores other frames for it', async () => {
    const t = new FakeTransport();
    const router = ChannelRouter.of(t);
    await router.register('a', endpoint([], 'A'));
    t.emit('message', 'p', bytes(FrameKind.Request, 'missing', 'x', 42));
    t.emit('message', 'p', bytes(FrameKind.Notify, 'missing', 'x'));
    expect(t.sent).to.deep.equal([{ to: 'p', frame: { kind: FrameKind.NoChannel, channel: 'missing', id: 42, body: null } }]);
  });

  it('tells every channel about peers, close, and undecodable frames', async () => {
    const t = new FakeTransport();
    const log: string[] = [];
    const router = ChannelRouter.of(t);
    await router.register('a', endpoint(log, 'A'));
    await router.register('b', endpoint(log, 'B'));
    t.emit('peerUp', 'p');
    t.emit('message', 'p', hello());
    t.emit('peerDown', 'p');
    t.emit('message', 'p', new Uint8Array([0xff, 0x00]));
    t.emit('close');
    expect(log).to.deep.equal(['A up p', 'B up p', 'A down p', 'B down p', `A error ${ProtocolError.name}`, `B error ${ProtocolError.name}`, 'A close', 'B close']);
  });

  it('refuses a second channel of one name', async () => {
    const router = ChannelRouter.of(new FakeTransport());
    await router.register('a', endpoint([], 'A'));
    expect(() => router.register('a', endpoint([], 'A2'))).to.throw(ChannelInUseError);
    expect(router.has('a')).to.equal(true);
  });

  it('starts the transport once, and stops it only when its last channel leaves', async () => {
    const t = new FakeTransport();
    const log: string[] = [];
    const router = ChannelRouter.of(t);
    await router.register('a', endpoint(log, 'A'));
    await router.register('b', endpoint(log, 'B'));
    expect(t.starts).to.equal(1);
    await router.unregister('a');
    expect(t.stops).to.equal(0);
    await router.unregister('b');
    expect(t.stops).to.equal(1);
    expect(router.has('b')).to.equal(false);
    t.emit('message', 'p', bytes(FrameKind.Notify, 'b', 'late'));
    expect(log, 'a router without channels no longer listens').to.deep.equal([]);
  });
});

describe('ChannelRouter admission (the hello)', () => {
  /** A router with one logging endpoint on a fake transport. */
  async function admission(maxFrameBytes?: number): Promise<{ t: FakeTransport; router: ChannelRouter; log: string[]; errors: Error[] }> {
    const t = new FakeTransport();
    if (maxFrameBytes !== undefined) t.maxFrameBytes = maxFrameBytes;
    const log: string[] = [];
    const errors: Error[] = [];
    const router = ChannelRouter.of(t);
    await router.register('a', { ...endpoint(log, 'A'), onError: (e) => errors.push(e) });
    return { t, router, log, errors };
  }
  const up = (t: FakeTransport, id: string): void => {
    t.reachable.push(id);
    t.emit('peerUp', id);
  };
  const down = (t: FakeTransport, id: string): void => {
    t.reachable = t.reachable.filter((p) => p !== id);
    t.emit('peerDown', id);
  };
  const hellosTo = (t: FakeTransport, id: string): Frame[] => t.sent.filter((s) => s.to === id && s.frame.kind === FrameKind.Hello).map((s) => s.frame);

  it("sends a hello with this build's versions and frame limit on peerUp, and admits the member only once its hello arrived", async () => {
    const { t, router, log } = await admission(4096);
    up(t, 'p');
    expect(hellosTo(t, 'p')).to.deep.equal([{ kind: FrameKind.Hello, channel: 'lrm/router', id: 0, body: [PROTOCOL_VERSION, OLDEST_COMPATIBLE_PROTOCOL_VERSION, 4096, false] }]);
    expect(log).to.deep.equal([]);
    expect(router.peers()).to.deep.equal([]);
    t.emit('message', 'p', hello());
    expect(log).to.deep.equal(['A up p']);
    expect(router.peers()).to.deep.equal(['p']);
  });

  it('admits a member whose hello arrived before the transport reported it up, at its peerUp', async () => {
    const { t, router, log } = await admission();
    t.emit('message', 'p', hello());
    expect(log).to.deep.equal([]);
    up(t, 'p');
    expect(log).to.deep.equal(['A up p']);
    expect(router.peers()).to.deep.equal(['p']);
    expect(hellosTo(t, 'p').map((h) => h.body), 'its opening hello is answered by this member opening').to.deep.equal([[PROTOCOL_VERSION, OLDEST_COMPATIBLE_PROTOCOL_VERSION, null, false]]);
  });

  it("is admitted by a member whose router started after this member's opening hello reached it (the answer completes the exchange)", async () => {
    const { t, router } = await admission();
    up(t, 'p');
    // p's router was not listening yet: our hello was lost. Its own opening hello comes now.
    t.emit('message', 'p', hello());
    expect(router.peers()).to.deep.equal(['p']);
    expect(hellosTo(t, 'p').map((h) => (h.body as unknown[])[3]), 'answered, so p admits this member too').to.deep.equal([false, true]);
  });

  it('never admits a member that went down before its hello arrived', async () => {
    const { t, router, log } = await admission();
    up(t, 'p');
    down(t, 'p');
    expect(router.peers()).to.deep.equal([]);
    expect(log).to.deep.equal(['A down p']);
  });

  it('asks a restarted member for a new hello: the one of its previous life does not admit it again', async () => {
    const { t, router, log } = await admission();
    up(t, 'p');
    t.emit('message', 'p', hello());
    down(t, 'p');
    up(t, 'p');
    expect(hellosTo(t, 'p').filter((h) => (h.body as unknown[])[3] === false), 'opening hellos').to.have.length(2);
    expect(router.peers(), 'not admitted before its new hello').to.deep.equal([]);
    t.emit('message', 'p', hello());
    expect(router.peers()).to.deep.equal(['p']);
    expect(log).to.deep.equal(['A up p', 'A down p', 'A up p']);
  });

  it('answers an opening hello once, never an answer, and ignores a repeated peerUp and a duplicated hello', async () => {
    const { t, router, log } = await admission();
    up(t, 'p');
    t.emit('peerUp', 'p');
    t.emit('message', 'p', hello());
    t.emit('message', 'p', hello());
    t.emit('message', 'p', hello(null, undefined, undefined, true));
    expect(hellosTo(t, 'p').map((h) => (h.body as unknown[])[3])).to.deep.equal([false, true]);
    expect(log).to.deep.equal(['A up p']);
    expect(router.peers()).to.deep.equal(['p']);
  });

  it('refuses an incompatible member with an IncompatibleProtocolError reported once, answers with a refusal, and never admits it', async () => {
    const { t, router, log, errors } = await admission();
    up(t, 'p');
    const newer = PROTOCOL_VERSION + 5;
    t.emit('message', 'p', hello(null, newer, newer));
    t.emit('message', 'p', hello(null, newer, newer));
    t.emit('message', 'p', encodeFrameAs(newer, { kind: FrameKind.Refuse, channel: 'lrm/router', id: 0, body: [newer, newer] }));
    expect(log).to.deep.equal([]);
    expect(router.peers()).to.deep.equal([]);
    expect(errors).to.have.length(1);
    const error = errors[0] as IncompatibleProtocolError;
    expect(error).to.be.instanceOf(IncompatibleProtocolError);
    expect(error.name).to.equal('IncompatibleProtocolError');
    expect(error).to.include({ peer: 'p', peerVersion: newer, version: PROTOCOL_VERSION });
    expect(error.message).to.include(`member 'p' speaks protocol version ${newer}`).and.include(`member 'me' speaks ${PROTOCOL_VERSION}`).and.include('no rolling upgrade');
    const refusals = t.sent.filter((x) => x.frame.kind === FrameKind.Refuse);
    expect(refusals).to.deep.equal([{ to: 'p', frame: { kind: FrameKind.Refuse, channel: 'lrm/router', id: 0, body: [PROTOCOL_VERSION, OLDEST_COMPATIBLE_PROTOCOL_VERSION] } }]);
    expect(router.refusal()).to.equal(error);
    // Its frames are not read.
    t.emit('message', 'p', bytes(FrameKind.Notify, 'a', 'ignored'));
    expect(log).to.deep.equal([]);
  });

  it('reports the refusal of a member that refused this one, once, even when this member would accept it', async () => {
    const { t, router, errors } = await admission();
    up(t, 'p');
    const newer = PROTOCOL_VERSION + 1;
    // p accepts nothing older than itself; this member would accept p (it is one version ahead).
    t.emit('message', 'p', encodeFrameAs(newer, { kind: FrameKind.Refuse, channel: 'lrm/router', id: 0, body: [newer, newer] }));
    t.emit('message', 'p', encodeFrameAs(newer, { kind: FrameKind.Refuse, channel: 'lrm/router', id: 0, body: [newer, newer] }));
    expect(errors.map((e) => e.name)).to.deep.equal(['IncompatibleProtocolError']);
    expect(router.peers()).to.deep.equal([]);
  });

  it('admits a member one version ahead that still speaks this version (a rolling upgrade)', async () => {
    const { t, router, errors } = await admission();
    up(t, 'p');
    t.emit('message', 'p', hello(null, PROTOCOL_VERSION + 1, PROTOCOL_VERSION));
    expect(router.peers()).to.deep.equal(['p']);
    expect(errors).to.deep.equal([]);
  });

  it('refuses a member that sends frames of an older envelope version (a build without the hello), reported once with a count', async () => {
    const { t, router, log, errors } = await admission();
    up(t, 'old');
    const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });
    for (let i = 0; i < 5; i++) t.emit('message', 'old', cbor.encode([1, FrameKind.Request, 'lrm/map/m', i + 1, { type: 1 }]));
    expect(log).to.deep.equal([]);
    expect(router.peers()).to.deep.equal([]);
    expect(errors).to.have.length(1);
    const error = errors[0] as IncompatibleProtocolError;
    expect(error).to.be.instanceOf(IncompatibleProtocolError);
    expect(error).to.include({ peer: 'old', peerVersion: 1, version: PROTOCOL_VERSION, dropped: 1 });
    expect(error.message).to.include("member 'old' sends frames of protocol version 1").and.include('no rolling upgrade');
    expect(router.refusal()).to.equal(error);
    // A reconnection of the same member is not reported again either.
    down(t, 'old');
    up(t, 'old');
    t.emit('message', 'old', cbor.encode([1, FrameKind.Notify, 'lrm/map/m', 0, null]));
    expect(errors).to.have.length(1);
  });

  it('gives the smallest frame limit of this transport and every admitted member, Infinity when none is declared', async () => {
    const plain = await admission();
    expect(plain.router.frameLimit()).to.equal(Infinity);
    up(plain.t, 'p');
    plain.t.emit('message', 'p', hello());
    expect(plain.router.frameLimit()).to.equal(Infinity);

    const { t, router } = await admission(8192);
    expect(router.frameLimit()).to.equal(8192);
    up(t, 'p');
    up(t, 'q');
    t.emit('message', 'p', hello(4096));
    expect(router.frameLimit()).to.equal(4096);
    t.emit('message', 'q', hello(100_000));
    expect(router.frameLimit()).to.equal(4096);
    down(t, 'p');
    expect(router.frameLimit(), 'a member gone no longer limits').to.equal(8192);
  });

  it('resolves joined() once every reported member was admitted or refused', async () => {
    const { t, router } = await admission();
    up(t, 'p');
    up(t, 'q');
    let joined = false;
    const joining = router.joined().then(() => {
      joined = true;
    });
    await Promise.resolve();
    t.emit('message', 'p', hello());
    await Promise.resolve();
    expect(joined).to.equal(false);
    t.emit('message', 'q', hello(null, 99, 99));
    await joining;
    expect(router.peers()).to.deep.equal(['p']);
    expect(router.refusal(), 'a member was admitted: no reason to fail').to.equal(undefined);
  });
});
