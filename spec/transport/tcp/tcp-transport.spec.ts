/**
 * TcpTransport on real sockets (127.0.0.1, ports the system picks): membership by seeds and
 * gossip, the shared secret, refusals, goodbyes, failure detection, hostile bytes, frame limits,
 * ordering, backpressure, TLS, simultaneous dials, and a clean stop. Every wait is for an event,
 * bounded by `within` so that a missing one fails with its name; the fake clock drives the failure
 * detector where exact timing is the point. Members played by hand come from raw-peer.ts.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  BackpressureError,
  CodecError,
  DEFAULT_FAILURE_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  FrameRefusedError,
  HandshakeError,
  LazyReplicatedMapError,
  PeerUnreachableError,
  TcpTransport,
} from '../../../lib/index.js';
import { TcpMessage, control, header } from '../../../lib/transport/tcp/wire.js';
import { within } from '../../helpers/deadline.js';
import { collect, once, record, rejection } from '../../helpers/events.js';
import { numberedFrame, sameBytes, sequenceOf } from '../../helpers/frames.js';
import {
  EVENT_MS,
  FakeClock,
  addressesOf,
  connected,
  created,
  member,
  resourceCounts,
  roundTrip,
  stopAllMembers,
  type ErrorArgs,
  type MessageArgs,
  type PeerArgs,
} from './tcp-helpers.js';
import { RawMember, closedSocket, destroyAllRaw, dialAsMember, helloAsMember, rawSocket } from './raw-peer.js';

/** A deterministic byte generator (xorshift32), so "random" garbage is the same on every run. */
function pseudoRandomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

describe('TcpTransport', () => {
  afterEach(async () => {
    await stopAllMembers();
    await destroyAllRaw();
  });

  describe('membership', () => {
    it('connects members seeded only with the first one to each other (gossip), and they keep working after it stops', async () => {
      const a = member('a');
      await a.start();
      const b = member('b', { seeds: [a.address] });
      const c = member('c', { seeds: [a.address] });
      const bSeesC = once<PeerArgs>(b, 'peerUp', (id) => id === 'c');
      const cSeesB = once<PeerArgs>(c, 'peerUp', (id) => id === 'b');
      await Promise.all([b.start(), c.start()]);
      await within(Promise.all([bSeesC, cSeesB]), EVENT_MS, "b and c to meet through a's gossip");
      expect(a.peers()).to.deep.equal(['b', 'c']);
      expect(b.peers()).to.deep.equal(['a', 'c']);
      expect(c.peers()).to.deep.equal(['a', 'b']);

      const gone = [once<PeerArgs>(b, 'peerDown'), once<PeerArgs>(c, 'peerDown')];
      await a.stop();
      expect(await within(Promise.all(gone), EVENT_MS, "b and c to see a leave")).to.deep.equal([['a'], ['a']]);
      expect(b.peers()).to.deep.equal(['c']);
      expect(c.peers()).to.deep.equal(['b']);
      await roundTrip(b, c, 5);
    });

    it('resolves joined() only once it has met its seed and the members the seed gossiped about', async () => {
      const a = member('a');
      await a.start();
      const b = member('b', { seeds: [a.address] });
      await b.start();
      await within(once<PeerArgs>(a, 'peerUp', (id) => id === 'b'), EVENT_MS, 'a to meet b');
      // c is seeded with a alone: b is known to it only through a's gossip.
      const c = member('c', { seeds: [a.address] });
      await c.start();
      await within(c.joined(), EVENT_MS, 'c to finish joining');
      expect(c.peers()).to.deep.equal(['a', 'b']);
    });

    it('resolves joined() at once without seeds, and after one failed attempt for a seed nobody answers', async () => {
      const alone = member('alone');
      await alone.start();
      await within(alone.joined(), EVENT_MS, 'a member without seeds to be joined');
      // A port that was free a moment ago: nobody listens there.
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const { port } = probe.address() as AddressInfo;
      await new Promise<void>((resolve) => probe.close(() => { resolve(); }));
      const hopeful = member('hopeful', { seeds: [`127.0.0.1:${port}`] });
      await hopeful.start();
      await within(hopeful.joined(), EVENT_MS, 'a member whose seed is down to be joined');
      expect(hopeful.peers()).to.deep.equal([]);
    });

    it('shows a stopped member to its peers at once (goodbye), long before the failure timeout', async () => {
      const slow = { failureTimeoutMs: 60_000 };
      const a = member('a', slow);
      const b = member('b', { ...slow, seeds: addressesOf(a) });
      await connected(a, b);
      const aSeesBGo = once<PeerArgs>(a, 'peerDown');
      await b.stop();
      // The failure detector would take 60 s: only the goodbye can make this in time.
      expect(await within(aSeesBGo, EVENT_MS, "a's peerDown for b (failure timeout 60 s)")).to.deep.equal(['b']);
      expect(a.peers()).to.deep.equal([]);
    });
  });

  describe('the shared secret and other refusals', () => {
    it('admits a member that proves the secret, and delivers its frames', async () => {
      const a = member('a', { secret: 's3cret' });
      await a.start();
      const up = once<PeerArgs>(a, 'peerUp');
      const raw = await within(dialAsMember(a.address, { id: 'honest', secret: 's3cret' }), EVENT_MS, 'the handshake');
      expect(await within(up, EVENT_MS, 'peerUp')).to.deep.equal(['honest']);
      const arrived = once<MessageArgs>(a, 'message');
      raw.sendData(numberedFrame(1));
      const [from, frame] = await within(arrived, EVENT_MS, 'the frame');
      expect(from).to.equal('honest');
      expect(sequenceOf(frame)).to.equal(1);
    });

    it('keeps out a member with another secret: neither side sees the other, it cannot send, and both report a HandshakeError', async () => {
      const late: { intruder?: TcpTransport } = {};
      // a also dials the intruder, so the check is made on both sides of a handshake.
      const a = member('a', { secret: 's3cret', seeds: () => (late.intruder === undefined ? [] : addressesOf(late.intruder)()) });
      const b = member('b', { secret: 's3cret', seeds: addressesOf(a) });
      await connected(a, b);
      const ups = [record<PeerArgs>(a, 'peerUp'), record<PeerArgs>(b, 'peerUp')];
      const messages = [record<MessageArgs>(a, 'message'), record<MessageArgs>(b, 'message')];
      const intruder = member('w', { secret: 'wrong', seeds: addressesOf(a, b) });
      late.intruder = intruder;
      const intruderUps = record<PeerArgs>(intruder, 'peerUp');
      const intruderRefused = once<ErrorArgs>(intruder, 'error', (e) => e instanceof HandshakeError);
      const aRefused = once<ErrorArgs>(a, 'error', (e) => e instanceof HandshakeError);
      await intruder.start();

      const [[intruderError], [aError]] = await within(Promise.all([intruderRefused, aRefused]), EVENT_MS, 'HandshakeErrors on both sides');
      expect(intruderError.message).to.match(/cluster secret/);
      expect(aError.message).to.match(/member 'w' .* does not know the cluster secret/);
      expect(await rejection(intruder.send('a', numberedFrame(1)))).to.be.instanceOf(PeerUnreachableError);
      expect(intruder.peers()).to.deep.equal([]);
      expect(a.peers()).to.deep.equal(['b']);
      expect(b.peers()).to.deep.equal(['a']);
      expect(intruderUps.events).to.deep.equal([]);
      expect(ups.map((u) => u.events)).to.deep.equal([[], []]);
      expect(messages.map((m) => m.events)).to.deep.equal([[], []]);
    });

    it('refuses a forged proof and delivers none of the frames sent right behind it', async () => {
      const a = member('a', { secret: 's3cret' });
      await a.start();
      const messages = record<MessageArgs>(a, 'message');
      const ups = record<PeerArgs>(a, 'peerUp');
      const refused = once<ErrorArgs>(a, 'error', (e) => e instanceof HandshakeError);
      const hello = await within(helloAsMember(a.address, { id: 'mallory', secret: 's3cret' }), EVENT_MS, 'the Welcome');
      hello.prove(true);
      const raw = hello.connection;
      raw.sendData(numberedFrame(1)); // right behind the forged proof, before any answer
      const [error] = await within(refused, EVENT_MS, "a's HandshakeError");
      expect(error.message).to.match(/authentication failed/);
      await within(raw.next(TcpMessage.Refuse), EVENT_MS, 'the Refuse');
      await within(raw.closed, EVENT_MS, 'the connection to close');
      expect(messages.events).to.deep.equal([]);
      expect(ups.events).to.deep.equal([]);
      expect(a.peers()).to.deep.equal([]);
    });

    it('refuses a frame sent before the handshake is complete', async () => {
      const a = member('a');
      await a.start();
      const messages = record<MessageArgs>(a, 'message');
      const refused = once<ErrorArgs>(a, 'error', (e) => e instanceof HandshakeError);
      const socket = await rawSocket(a.address);
      socket.write(Buffer.concat([header(TcpMessage.Data, 4), Buffer.from(numberedFrame(1, 4))]));
      const [error] = await within(refused, EVENT_MS, "a's HandshakeError");
      expect(error.message).to.match(/unexpected TCP message type 0 during the handshake/);
      await within(closedSocket(socket), EVENT_MS, 'the connection to close');
      expect(messages.events).to.deep.equal([]);
    });

    it('refuses a member of another cluster, with a HandshakeError on both sides', async () => {
      const a = member('a', { cluster: 'blue' });
      await a.start();
      const b = member('b', { cluster: 'green', seeds: [a.address] });
      const ups = [record<PeerArgs>(a, 'peerUp'), record<PeerArgs>(b, 'peerUp')];
      const aRefused = once<ErrorArgs>(a, 'error', (e) => e instanceof HandshakeError);
      const bRefused = once<ErrorArgs>(b, 'error', (e) => e instanceof HandshakeError);
      await b.start();
      const [[aError], [bError]] = await within(Promise.all([aRefused, bRefused]), EVENT_MS, 'HandshakeErrors on both sides');
      expect(aError.message).to.match(/cluster 'green' is not 'blue'/);
      expect(bError.message).to.match(/refused by the member at 127\.0\.0\.1:\d+: cluster 'green' is not 'blue'; set the same `cluster` option on every member/);
      expect(a.peers()).to.deep.equal([]);
      expect(b.peers()).to.deep.equal([]);
      expect(ups.map((u) => u.events)).to.deep.equal([[], []]);
    });

    it('refuses a second transport that dials in with the id of a live member, and keeps the first', async () => {
      const a = member('a');
      const first = member('dup', { seeds: addressesOf(a) });
      await connected(a, first);
      const downs = record<PeerArgs>(a, 'peerDown');
      const second = member('dup', { seeds: addressesOf(a) });
      const aRefused = once<ErrorArgs>(a, 'error', (e) => e instanceof HandshakeError);
      const secondRefused = once<ErrorArgs>(second, 'error', (e) => e instanceof HandshakeError);
      await second.start();
      const [[aError], [secondError]] = await within(Promise.all([aRefused, secondRefused]), EVENT_MS, 'HandshakeErrors on both sides');
      expect(aError.message).to.match(/id 'dup' is already used by a live member/);
      expect(secondError.message).to.match(/already used by a live member/);
      expect(second.peers()).to.deep.equal([]);
      expect(a.peers()).to.deep.equal(['dup']);
      const atSecond = record<MessageArgs>(second, 'message');
      await roundTrip(a, first, 9);
      expect(atSecond.events).to.deep.equal([]);
      expect(downs.events).to.deep.equal([]);
    });

    it('refuses a second transport with the id of a live member when the member dials it, and keeps the first', async () => {
      const late: { second?: TcpTransport } = {};
      const a = member('a', { seeds: () => (late.second === undefined ? [] : addressesOf(late.second)()) });
      const first = member('dup', { seeds: addressesOf(a) });
      await connected(a, first);
      const downs = record<PeerArgs>(a, 'peerDown');
      const ups = record<PeerArgs>(a, 'peerUp');
      const second = member('dup');
      late.second = second;
      const aRefused = once<ErrorArgs>(a, 'error', (e) => e instanceof HandshakeError);
      const secondRefused = once<ErrorArgs>(second, 'error', (e) => e instanceof HandshakeError);
      await second.start();
      const [[aError], [secondError]] = await within(Promise.all([aRefused, secondRefused]), EVENT_MS, 'HandshakeErrors on both sides');
      expect(aError.message).to.match(/id 'dup' is already used by a live member/);
      expect(secondError.message).to.match(/already used by a live member/);
      expect(second.peers()).to.deep.equal([]);
      expect(a.peers()).to.deep.equal(['dup']);
      await roundTrip(a, first, 10);
      expect(downs.events).to.deep.equal([]);
      expect(ups.events).to.deep.equal([]);
    });
  });

  describe('failure detection', () => {
    it('declares a silent member gone once silent longer than failureTimeoutMs, and within 3 s with the defaults (fake clock)', async () => {
      const clock = new FakeClock();
      // Default timings: the contract bounds detection at 3 s without any tuning.
      const a = new TcpTransport({ id: 'a', clock });
      created.push(a);
      await a.start();
      const up = once<PeerArgs>(a, 'peerUp');
      // Completes its handshake, then never sends another byte (no heartbeats).
      await within(dialAsMember(a.address, { id: 'mute' }), EVENT_MS, 'the handshake');
      await within(up, EVENT_MS, 'peerUp');
      const downs = record<PeerArgs>(a, 'peerDown');
      const detection: { after?: number } = {};
      const silentSince = clock.now();
      a.on('peerDown', () => {
        detection.after ??= clock.now() - silentSince;
      });
      clock.advance(DEFAULT_FAILURE_TIMEOUT_MS);
      expect(downs.events, 'silent for exactly failureTimeoutMs').to.deep.equal([]);
      expect(a.peers()).to.deep.equal(['mute']);
      const period = clock.period;
      for (let step = 0; step < 100 && detection.after === undefined; step++) clock.advance(period);
      expect(downs.events).to.deep.equal([['mute']]);
      // The detector looks 20 times per timeout (at most every half heartbeat interval).
      expect(detection.after).to.be.greaterThan(DEFAULT_FAILURE_TIMEOUT_MS).and.at.most(DEFAULT_FAILURE_TIMEOUT_MS * 1.05);
      expect(DEFAULT_FAILURE_TIMEOUT_MS * 1.05).to.be.at.most(DEFAULT_FAILURE_TIMEOUT_MS + DEFAULT_HEARTBEAT_INTERVAL_MS / 2);
      expect(detection.after).to.be.lessThan(3000);
      expect(a.peers()).to.deep.equal([]);
      await a.stop();
      expect(clock.pending, 'intervals left running after stop()').to.equal(0);
    });

    it('declares a silent member gone at most a twentieth of a tuned timeout late (fake clock)', async () => {
      const clock = new FakeClock();
      const a = new TcpTransport({ id: 'a', clock, failureTimeoutMs: 500, heartbeatIntervalMs: 100 });
      created.push(a);
      await a.start();
      const up = once<PeerArgs>(a, 'peerUp');
      await within(dialAsMember(a.address, { id: 'mute' }), EVENT_MS, 'the handshake');
      await within(up, EVENT_MS, 'peerUp');
      const silentSince = clock.now();
      let after: number | undefined;
      a.on('peerDown', () => {
        after ??= clock.now() - silentSince;
      });
      for (let step = 0; step < 1000 && after === undefined; step++) clock.advance(1);
      // Half a heartbeat interval (the old tick) would allow up to 550 ms.
      expect(after).to.be.greaterThan(500).and.at.most(525);
      await a.stop();
      expect(clock.pending, 'intervals left running after stop()').to.equal(0);
    });

    it('declares a member that stops answering gone on its own (real time, short timeout)', async () => {
      const a = member('a', { heartbeatIntervalMs: 50, failureTimeoutMs: 300 });
      await a.start();
      const up = once<PeerArgs>(a, 'peerUp');
      const down = once<PeerArgs>(a, 'peerDown');
      const before = Date.now();
      const mute = await within(dialAsMember(a.address, { id: 'mute' }), EVENT_MS, 'the handshake');
      await within(up, EVENT_MS, 'peerUp');
      expect(await within(down, EVENT_MS, "a's peerDown for the silent member")).to.deep.equal(['mute']);
      expect(Date.now() - before).to.be.greaterThan(300);
      await within(mute.closed, EVENT_MS, 'a to close the connection');
    });

    it('sends heartbeats on an idle link and keeps a peer that answers them, well past failureTimeoutMs', async () => {
      const failureTimeoutMs = 300;
      const a = member('a', { heartbeatIntervalMs: 50, failureTimeoutMs });
      await a.start();
      const up = once<PeerArgs>(a, 'peerUp');
      const peer = await within(dialAsMember(a.address, { id: 'chatty' }), EVENT_MS, 'the handshake');
      await within(up, EVENT_MS, 'peerUp');
      const downs = record<PeerArgs>(a, 'peerDown');
      // No frames flow, only heartbeats: each of a's is awaited and answered with one, for three
      // failure timeouts. Without heartbeats either way, a would drop the link within one.
      const since = Date.now();
      let beats = 0;
      while (Date.now() - since <= 3 * failureTimeoutMs) {
        await within(peer.next(TcpMessage.Heartbeat), EVENT_MS, `heartbeat ${beats + 1} from a`);
        beats++;
        peer.sendControl(TcpMessage.Heartbeat);
      }
      expect(beats).to.be.greaterThan(3);
      expect(downs.events).to.deep.equal([]);
      expect(a.peers()).to.deep.equal(['chatty']);
    });
  });

  describe('hostile or broken input', () => {
    const cases: Array<{ what: string; bytes: Buffer; error: abstract new (...args: never[]) => Error }> = [
      { what: 'random bytes', bytes: pseudoRandomBytes(1024, 42), error: LazyReplicatedMapError },
      { what: 'an HTTP request', bytes: Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), error: HandshakeError },
      { what: 'an oversize length prefix (0xFFFFFFFF)', bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), error: HandshakeError },
      { what: 'a zero length prefix', bytes: Buffer.from([0, 0, 0, 0]), error: CodecError },
      { what: 'a message of an unknown type', bytes: header(0x63 as TcpMessage, 0), error: HandshakeError },
      { what: 'a Hello whose body is not CBOR', bytes: Buffer.concat([header(TcpMessage.Hello, 2), Buffer.from([0xff, 0xff])]), error: CodecError },
      { what: 'a Hello with missing fields', bytes: control(TcpMessage.Hello, ['lazy-replicated-map', 1]), error: HandshakeError },
    ];
    for (const { what, bytes, error: errorClass } of cases) {
      it(`survives ${what} on its port: closes that connection, reports an error and keeps serving its peers`, async () => {
        const a = member('a');
        const b = member('b', { seeds: addressesOf(a) });
        await connected(a, b);
        const downs = record<PeerArgs>(a, 'peerDown');
        const reported = once<ErrorArgs>(a, 'error');
        const socket = await rawSocket(a.address);
        socket.write(bytes);
        const [error] = await within(reported, EVENT_MS, "a's error event");
        expect(error).to.be.instanceOf(errorClass);
        await within(closedSocket(socket), EVENT_MS, 'a to close the raw connection');
        expect(a.state).to.equal('running');
        expect(a.peers()).to.deep.equal(['b']);
        await roundTrip(a, b, 11);
        expect(downs.events).to.deep.equal([]);
      });
    }

    it('closes a connection that never completes its handshake, after handshakeTimeoutMs', async () => {
      const a = member('a', { handshakeTimeoutMs: 200 });
      await a.start();
      const socket = await rawSocket(a.address);
      socket.write(Buffer.from([0, 0])); // half a length prefix, then nothing
      await within(closedSocket(socket), EVENT_MS, 'a to give up on the handshake');
      expect(a.state).to.equal('running');
    });

    it('drops a peer that sends a bad message on an established connection, and reports it', async () => {
      const a = member('a');
      await a.start();
      const up = once<PeerArgs>(a, 'peerUp');
      const raw = await within(dialAsMember(a.address, { id: 'rogue' }), EVENT_MS, 'the handshake');
      await within(up, EVENT_MS, 'peerUp');
      const down = once<PeerArgs>(a, 'peerDown');
      const reported = once<ErrorArgs>(a, 'error');
      raw.sendControl(TcpMessage.Hello, ['lazy-replicated-map', 1, 'rogue', 'x', 'y', 'z']);
      const [error] = await within(reported, EVENT_MS, "a's error event");
      expect(error).to.be.instanceOf(CodecError);
      expect(error.message).to.match(/unexpected TCP message type 1 on an established connection/);
      expect(await within(down, EVENT_MS, 'peerDown')).to.deep.equal(['rogue']);
      await within(raw.closed, EVENT_MS, 'the connection to close');
    });

    it("never sends a frame larger than the receiver's maxFrameBytes: the send rejects and the connection stays", async () => {
      const a = member('a', { maxFrameBytes: 1024 });
      const b = member('b', { seeds: addressesOf(a) });
      await connected(a, b);
      const messages = record<MessageArgs>(a, 'message');
      const downs = record<PeerArgs>(a, 'peerDown');
      const atLimit = once<MessageArgs>(a, 'message');
      await b.send('a', numberedFrame(1, 1024));
      await within(atLimit, EVENT_MS, 'the frame of exactly maxFrameBytes');
      const error = await rejection(b.send('a', numberedFrame(2, 1025)));
      expect(error).to.be.instanceOf(FrameRefusedError);
      expect((error as Error).message).to.match(/a 1025-byte frame was not sent to member 'a', which accepts at most 1024 bytes \(its option maxFrameBytes\)/);
      await roundTrip(a, b, 3);
      expect(downs.events).to.deep.equal([]);
      expect(messages.events.map(([, frame]) => sequenceOf(frame))).to.deep.equal([1, 3]);
    });
  });

  describe('delivery', () => {
    it('delivers 1000 frames of mixed sizes intact and in the order sent', async () => {
      const a = member('a');
      const b = member('b', { seeds: addressesOf(a) });
      await connected(a, b);
      const count = 1000;
      const sizeOf = (seq: number): number => 4 + ((seq * 7919) % 20_000);
      const arrived = collect<MessageArgs>(b, 'message', count);
      await Promise.all(Array.from({ length: count }, (_, seq) => a.send('b', numberedFrame(seq, sizeOf(seq)))));
      const frames = (await within(arrived, EVENT_MS, '1000 frames')).map(([, frame]) => frame);
      expect(frames.map(sequenceOf)).to.deep.equal(Array.from({ length: count }, (_, i) => i));
      frames.forEach((frame, seq) => {
        expect(sameBytes(frame, numberedFrame(seq, sizeOf(seq))), `frame ${seq}`).to.equal(true);
      });
    });

    it('delivers a 4 MiB frame intact', async () => {
      const a = member('a');
      const b = member('b', { seeds: addressesOf(a) });
      await connected(a, b);
      const big = numberedFrame(4, 4 * 1024 * 1024);
      const arrived = once<MessageArgs>(b, 'message');
      await a.send('b', big);
      const [from, frame] = await within(arrived, EVENT_MS, 'the 4 MiB frame');
      expect(from).to.equal('a');
      expect(frame.byteLength).to.equal(big.byteLength);
      expect(sameBytes(frame, big)).to.equal(true);
    });

    it('rejects send() with BackpressureError while the peer does not read, loses nothing, and sends again once it reads', async () => {
      const slow = await RawMember.listen({ id: 'slow' });
      const a = member('a', { maxQueueBytes: 256 * 1024, failureTimeoutMs: 60_000, seeds: [slow.address] });
      const up = once<PeerArgs>(a, 'peerUp');
      await a.start();
      const link = await within(slow.acceptMember(), EVENT_MS, "a's connection");
      await within(up, EVENT_MS, 'peerUp');
      link.socket.pause();
      const frameBytes = 64 * 1024;
      let accepted = 0;
      let refusal: unknown;
      // 4096 frames of 64 KiB are 256 MiB: far more than socket buffers take before the queue grows.
      while (refusal === undefined && accepted < 4096) {
        try {
          await a.send('slow', numberedFrame(accepted, frameBytes));
          accepted++;
        } catch (error) {
          refusal = error;
        }
        // One turn, so the transport hands this turn's writes to the socket (it corks per turn).
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(refusal).to.be.instanceOf(BackpressureError);
      expect((refusal as Error).message).to.match(/option maxQueueBytes/);
      expect(a.peers(), 'a slow reader is not a dead one').to.deep.equal(['slow']);

      link.socket.resume();
      for (let seq = 0; seq < accepted; seq++) {
        const m = await within(link.next(TcpMessage.Data), EVENT_MS, `frame ${seq} of ${accepted}`);
        expect(sequenceOf(m.payload)).to.equal(seq);
      }
      // Everything accepted arrived, so nothing waits in a's queue any more.
      await a.send('slow', numberedFrame(accepted, frameBytes));
      const last = await within(link.next(TcpMessage.Data), EVENT_MS, 'the frame sent after the drain');
      expect(sequenceOf(last.payload)).to.equal(accepted);
    });
  });

  describe('simultaneous connections', () => {
    it('turns down a second connection from a member it is already connected to, before its proof, and keeps the first', async () => {
      const z = await RawMember.listen({ id: 'z' });
      // a dials z's listening address as a seed, not knowing yet that it is the member already connected.
      const a = member('a', { seeds: [z.address] });
      await a.start();
      const up = once<PeerArgs>(a, 'peerUp');
      const first = await within(
        dialAsMember(a.address, { id: 'z', incarnation: z.me.incarnation, address: '127.0.0.1:1' }),
        EVENT_MS,
        "z's connection to a",
      );
      await within(up, EVENT_MS, 'peerUp');
      const downs = record<PeerArgs>(a, 'peerDown');
      const errors = record<ErrorArgs>(a, 'error');
      const second = await within(z.welcome(await z.accepted()), EVENT_MS, "a's own connection to z");
      const answer = await within(second.answer, EVENT_MS, "a's answer to z's Welcome");
      expect(answer.type, 'a Refuse, not a Proof').to.equal(TcpMessage.Refuse);
      await within(second.connection.closed, EVENT_MS, 'the second connection to close');

      const atA = once<MessageArgs>(a, 'message');
      first.sendData(numberedFrame(1));
      expect(sequenceOf((await within(atA, EVENT_MS, 'the frame on the first connection'))[1])).to.equal(1);
      await a.send('z', numberedFrame(2));
      expect(sequenceOf((await within(first.next(TcpMessage.Data), EVENT_MS, "a's frame")).payload)).to.equal(2);
      expect(downs.events).to.deep.equal([]);
      expect(errors.events).to.deep.equal([]);
    });

    for (const [mine, theirs] of [['b', 'z'], ['y', 'c']] as const) {
      const winner = mine < theirs ? `the one '${mine}' opened` : `the one '${theirs}' opened`;
      it(`keeps exactly one of two crossing connections between '${mine}' and '${theirs}': ${winner}`, async () => {
        const peer = await RawMember.listen({ id: theirs });
        const a = member(mine, { seeds: [peer.address] });
        const ups = record<PeerArgs>(a, 'peerUp');
        const up = once<PeerArgs>(a, 'peerUp');
        const errors = record<ErrorArgs>(a, 'error');
        await a.start();
        // The peer dials a while a dials the peer; both Hellos are answered before either proof.
        const outgoing = await within(helloAsMember(a.address, { id: theirs, incarnation: peer.me.incarnation }), EVENT_MS, "a's Welcome to the peer");
        const incoming = await within(peer.welcome(await peer.accepted()), EVENT_MS, "a's Hello to the peer");
        const aAnswer = await within(incoming.answer, EVENT_MS, "a's answer to the peer's Welcome");
        outgoing.prove();
        const peerAnswer = await within(outgoing.answer(), EVENT_MS, "a's answer to the peer's Proof");
        // a cannot know yet (the peer's Hello is not proven) and proves itself on its own connection.
        expect(aAnswer.type, "a's answer on its own connection").to.equal(TcpMessage.Proof);
        if (mine < theirs) {
          // a's connection wins: a turns the peer's down, and the peer (as a member would) accepts a's.
          expect(peerAnswer.type, "a's answer on the peer's connection").to.equal(TcpMessage.Refuse);
          incoming.ready();
        } else {
          // The peer's connection wins: a accepts it, and the peer turns a's down as a duplicate.
          expect(peerAnswer.type, "a's answer on the peer's connection").to.equal(TcpMessage.Ready);
          incoming.refuseAsDuplicate();
        }
        const kept = mine < theirs ? incoming.connection : outgoing.connection;
        const dropped = mine < theirs ? outgoing.connection : incoming.connection;
        await within(dropped.closed, EVENT_MS, 'the losing connection to close');
        await within(up, EVENT_MS, 'peerUp');
        expect(ups.events).to.deep.equal([[theirs]]);
        const atA = once<MessageArgs>(a, 'message');
        kept.sendData(numberedFrame(7));
        expect(sequenceOf((await within(atA, EVENT_MS, 'the frame on the kept connection'))[1])).to.equal(7);
        expect(errors.events).to.deep.equal([]);
      });
    }

    it('loses no frame and shows one peerUp when two members dial each other at the same moment (200 pairs)', async () => {
      const pairs = 200;
      const perSide = 30;
      const outcomes = await Promise.all(
        Array.from({ length: pairs }, async (_, i) => {
          const x: TcpTransport = member(`x${i}`, { seeds: () => addressesOf(y)() });
          const y: TcpTransport = member(`y${i}`, { seeds: () => addressesOf(x)() });
          const log: string[] = [];
          const got: Record<string, number[]> = { [x.id]: [], [y.id]: [] };
          for (const t of [x, y]) {
            t.on('peerUp', (id) => log.push(`${t.id} up ${id}`));
            t.on('peerDown', (id) => log.push(`${t.id} down ${id}`));
            t.on('message', (_from, frame) => got[t.id]?.push(sequenceOf(frame)));
          }
          // Each side starts sending the moment it sees the other, one frame per turn, so its
          // frames span the moment a duplicate connection would be sorted out.
          const pump = (from: TcpTransport, to: TcpTransport): Promise<void> =>
            once(from, 'peerUp').then(async () => {
              for (let seq = 0; seq < perSide; seq++) {
                await from.send(to.id, numberedFrame(seq)).catch((error: unknown) => log.push(`${from.id} send ${seq}: ${String(error)}`));
                await new Promise((resolve) => setImmediate(resolve));
              }
            });
          const arrivals = [collect(x, 'message', perSide), collect(y, 'message', perSide)];
          const pumps = [pump(x, y), pump(y, x)];
          await Promise.all([x.start(), y.start()]);
          await within(Promise.all([...pumps, ...arrivals]), EVENT_MS, `pair ${i}: ${log.join(', ')}`);
          return { pair: i, log, got };
        }),
      );
      const expected = Array.from({ length: perSide }, (_, i) => i);
      for (const { pair, log, got } of outcomes) {
        expect(log.filter((l) => l.includes(' up ')).length, `pair ${pair}: ${log.join(', ')}`).to.equal(2);
        expect(log.filter((l) => !l.includes(' up ')), `pair ${pair}`).to.deep.equal([]);
        expect(got, `pair ${pair}`).to.deep.equal({ [`x${pair}`]: expected, [`y${pair}`]: expected });
      }
    });
  });

  describe('TLS', () => {
    let dir: string | undefined;
    let key = '';
    let cert = '';

    before(function () {
      dir = mkdtempSync(join(tmpdir(), 'lrm-tls-'));
      const keyPath = join(dir, 'key.pem');
      const certPath = join(dir, 'cert.pem');
      try {
        execFileSync(
          'openssl',
          ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
          { stdio: 'ignore' },
        );
      } catch {
        this.skip(); // no openssl here: nothing to make a certificate with
      }
      key = readFileSync(keyPath, 'utf8');
      cert = readFileSync(certPath, 'utf8');
    });

    after(() => {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('connects two members over TLS and exchanges frames both ways', async () => {
      const tls = { key, cert, ca: cert, servername: 'localhost' };
      const a = member('a', { tls });
      const b = member('b', { tls, seeds: addressesOf(a) });
      await connected(a, b);
      await roundTrip(a, b, 21);
      const big = numberedFrame(22, 1024 * 1024);
      const arrived = once<MessageArgs>(a, 'message');
      await b.send('a', big);
      expect(sameBytes((await within(arrived, EVENT_MS, 'the 1 MiB frame over TLS'))[1], big)).to.equal(true);
    });

    it('keeps out a member that speaks plain TCP to a TLS member', async () => {
      const a = member('a', { tls: { key, cert, ca: cert, servername: 'localhost' } });
      await a.start();
      const plain = member('b', { seeds: [a.address] });
      const ups = [record<PeerArgs>(a, 'peerUp'), record<PeerArgs>(plain, 'peerUp')];
      const reported = once<ErrorArgs>(a, 'error');
      await plain.start();
      await within(reported, EVENT_MS, "a's TLS error");
      expect(a.peers()).to.deep.equal([]);
      expect(plain.peers()).to.deep.equal([]);
      expect(ups.map((u) => u.events)).to.deep.equal([[], []]);
    });
  });

  describe('stop()', () => {
    it('leaves no server, socket or timer behind', async () => {
      // Mocha arms this test's own timeout timer once the test function returned: count after that.
      await new Promise((resolve) => setImmediate(resolve));
      const before = resourceCounts();
      const a = member('a');
      const b = member('b', { seeds: addressesOf(a) });
      await connected(a, b);
      await roundTrip(a, b, 1);
      await Promise.all([a.stop(), b.stop()]);
      // Handles closed by then are released in libuv's close phase, which follows the check phase:
      // two turns pass through it.
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
      const after = resourceCounts();
      for (const [kind, count] of Object.entries(after)) expect(count, `${kind} left open`).to.be.at.most(before[kind] ?? 0);
    });
  });
});

