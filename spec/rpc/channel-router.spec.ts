import { expect } from 'chai';
import { EventEmitter } from 'eventemitter3';
import { ChannelInUseError, FrameKind, ProtocolError, decodeFrame, encodeFrame, type Frame, type Transport } from '../../lib/index.js';
import { ChannelRouter, type ChannelEndpoint } from '../../lib/rpc/channel-router.js';

/** A transport that records what is sent and delivers only what the test emits. */
class FakeTransport extends EventEmitter implements Transport {
  readonly id = 'me';
  readonly sent: { to: string; frame: Frame }[] = [];
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
    return [];
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
