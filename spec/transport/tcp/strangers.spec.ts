/**
 * TcpTransport against strangers: connections that never authenticate. Before its handshake a
 * peer may send only handshake-sized messages, only so many such connections are kept at once,
 * and each has a deadline. What a member holds for strangers stays small however they behave.
 * Every wait is for an event (a socket closed by the member, a write that ended); memory is
 * sampled once every stranger's writes have ended, after a forced collection when `--expose-gc`
 * is on (it is, in .mocharc.cjs).
 */
import type { Socket } from 'node:net';
import { expect } from 'chai';
import { FrameTooLargeError, HandshakeError, TcpTransport } from '../../../lib/index.js';
import { HANDSHAKE_MAX_FRAME_BYTES, TcpMessage, header } from '../../../lib/transport/tcp/wire.js';
import { within } from '../../helpers/deadline.js';
import { record } from '../../helpers/events.js';
import { EVENT_MS, FakeClock, created, member, stopAllMembers, type ErrorArgs } from './tcp-helpers.js';
import { closedSocket, destroyAllRaw, dialAsMember, rawSocket } from './raw-peer.js';

const MiB = 1024 * 1024;

/** Bytes this process holds in Buffers and on the JS heap, after a full collection if possible. */
function heldBytes(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return m.arrayBuffers + m.heapUsed;
}

/** Resolves once `bytes` were handed to the kernel, or the write failed (the peer closed). */
function written(socket: Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    socket.write(bytes, () => {
      resolve();
    });
  });
}

describe('TcpTransport against unauthenticated connections', () => {
  afterEach(async () => {
    await stopAllMembers();
    await destroyAllRaw();
  });

  it('keeps its memory flat while 40 strangers each announce a 15 MiB message and stream it, and closes them all', async () => {
    // The handshake deadline is far away: only the limit before authentication may close them.
    const a = member('a', { handshakeTimeoutMs: 60_000 });
    await a.start();
    const errors = record<ErrorArgs>(a, 'error');
    const strangers = 40;
    const announced = 15 * MiB;
    // One buffer for every stranger's payload, so the senders' side costs nothing per connection.
    const payload = Buffer.alloc(announced, 0x5a);
    const sockets = await Promise.all(Array.from({ length: strangers }, () => rawSocket(a.address)));
    const before = heldBytes();
    await within(
      Promise.all(sockets.map((s) => written(s, Buffer.concat([header(TcpMessage.Hello, announced), payload.subarray(0, 64 * 1024)])).then(() => written(s, payload)))),
      EVENT_MS * 4,
      "every stranger's writes to end",
    );
    const growth = heldBytes() - before;
    await within(Promise.all(sockets.map(closedSocket)), EVENT_MS, 'a to close every stranger');
    // Buffering what was announced would hold 600 MiB; the limit before authentication holds 4 KiB each.
    expect(growth, `bytes held after ${strangers} strangers streamed ${announced} bytes each`).to.be.lessThan(32 * MiB);
    expect(a.stats().handshakeFailures.malformed).to.equal(strangers);
    // One report for the 40 (they all come from 127.0.0.1): repeats are held back for a minute.
    expect(errors.events).to.have.length(1);
    for (const [error] of errors.events) {
      expect(error).to.be.instanceOf(HandshakeError);
      expect(error.message).to.match(/^a client at 127\.0\.0\.1:\d+ is not a lazy-replicated-map member: it announced a message of 15728640 bytes before any handshake/);
      expect(error.cause).to.be.instanceOf(FrameTooLargeError);
      expect((error.cause as Error).message).to.match(new RegExp(`the limit is ${HANDSHAKE_MAX_FRAME_BYTES} \\(the limit before the handshake completes\\)`));
    }
    expect(a.state).to.equal('running');
  });

  it('closes at once an incoming connection beyond maxPendingConnections, and lets the handshake deadline free the others', async () => {
    const clock = new FakeClock();
    const a = new TcpTransport({ id: 'a', clock, maxPendingConnections: 4, handshakeTimeoutMs: 1000 });
    created.push(a);
    await a.start();
    // Connected one after the other, so the member accepts them in this order.
    const pending: Socket[] = [];
    for (let i = 0; i < 4; i++) pending.push(await rawSocket(a.address));
    const extra = [await rawSocket(a.address), await rawSocket(a.address)];
    await within(Promise.all(extra.map(closedSocket)), EVENT_MS, 'a to close the connections beyond the cap');
    // Accepted in order: the four before them were accepted first and are still open.
    expect(pending.map((s) => s.closed)).to.deep.equal([false, false, false, false]);
    expect(a.stats().handshakeFailures.pendingLimit).to.equal(2);
    expect(a.stats().connections).to.deep.equal({ open: 4, pending: 4, established: 0 });

    clock.advance(1000 + clock.period);
    await within(Promise.all(pending.map(closedSocket)), EVENT_MS, 'a to close the connections past their handshake deadline');
    expect(a.stats().handshakeFailures.timeout).to.equal(4);
    const up = record(a, 'peerUp');
    await within(dialAsMember(a.address, { id: 'honest' }), EVENT_MS, 'a handshake once the pending connections are gone');
    expect(up.events).to.deep.equal([['honest']]);
  });
});
