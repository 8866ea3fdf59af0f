/**
 * `TcpTransport.stats()`: the counters move with what happens on real sockets, read once the
 * event that caused them has arrived.
 */
import { expect } from 'chai';
import { TcpMessage, control } from '../../../lib/transport/tcp/wire.js';
import { within } from '../../helpers/deadline.js';
import { once } from '../../helpers/events.js';
import { numberedFrame } from '../../helpers/frames.js';
import { EVENT_MS, addressesOf, connected, member, stopAllMembers, type ErrorArgs, type MessageArgs, type PeerArgs } from './tcp-helpers.js';
import { RawMember, closedSocket, destroyAllRaw, rawSocket } from './raw-peer.js';

describe('TcpTransport.stats()', () => {
  afterEach(async () => {
    await stopAllMembers();
    await destroyAllRaw();
  });

  it('counts connections, and library frames and their bytes both ways', async () => {
    const a = member('a');
    const b = member('b', { seeds: addressesOf(a) });
    await connected(a, b);
    const sizes = [10, 200, 3000];
    const arrived = Promise.all(sizes.map((_, i) => once<MessageArgs>(b, 'message', (_from, f) => f.byteLength === sizes[i])));
    for (const [i, size] of sizes.entries()) await a.send('b', numberedFrame(i, size));
    await within(arrived, EVENT_MS, 'the frames');
    const total = sizes.reduce((x, y) => x + y, 0);
    expect(a.stats()).to.deep.include({ framesOut: 3, bytesOut: total, framesIn: 0, bytesIn: 0 });
    expect(b.stats()).to.deep.include({ framesIn: 3, bytesIn: total });
    expect(a.stats().connections).to.deep.equal({ open: 1, pending: 0, established: 1 });
    expect(a.stats().peersDeclaredDown).to.equal(0);
  });

  it('counts a malformed handshake by its reason', async () => {
    const a = member('a');
    await a.start();
    const reported = once<ErrorArgs>(a, 'error');
    const socket = await rawSocket(a.address);
    socket.write(control(TcpMessage.Hello, ['lazy-replicated-map', 2]));
    await within(reported, EVENT_MS, 'the HandshakeError');
    await within(closedSocket(socket), EVENT_MS, 'the connection to close');
    expect(a.stats().handshakeFailures).to.deep.include({ malformed: 1, secret: 0, id: 0, cluster: 0 });
    expect(a.stats().connections).to.deep.equal({ open: 0, pending: 0, established: 0 });
  });

  it('counts a reconnection to a member lost without a goodbye', async () => {
    const z = await RawMember.listen({ id: 'z' });
    const a = member('a', { seeds: [z.address] });
    const lost = once<PeerArgs>(a, 'peerDown');
    await a.start();
    const first = await within(z.acceptMember(), EVENT_MS, "a's first connection");
    expect(a.stats().reconnects).to.equal(0);
    first.socket.destroy();
    await within(lost, EVENT_MS, 'a to lose z');
    await within(z.acceptMember(), EVENT_MS, "a's second connection");
    expect(a.stats().reconnects).to.equal(1);
  });
});
