/**
 * Members with different heartbeat settings agree at the handshake: each pair uses the larger
 * failure timeout of the two, so neither declares the other gone between the other's
 * heartbeats. Two real transports on one fake clock: time moves without any byte being
 * delivered, the worst case for the detector, and both verdicts are read off the clock.
 */
import { expect } from 'chai';
import { TcpTransport } from '../../../lib/index.js';
import { within } from '../../helpers/deadline.js';
import { record } from '../../helpers/events.js';
import { EVENT_MS, FakeClock, connected, created, roundTrip, stopAllMembers, type PeerArgs } from './tcp-helpers.js';
import { destroyAllRaw, dialAsMember } from './raw-peer.js';

describe('TcpTransport heartbeat timing agreed at the handshake', () => {
  afterEach(async () => {
    await stopAllMembers();
    await destroyAllRaw();
  });

  it('keeps a quick member (50/200 ms) and a slow one (500/2000 ms) connected through 1999 ms of silence, and both see the other go after 2000', async () => {
    const clock = new FakeClock();
    const quick = new TcpTransport({ id: 'quick', clock, heartbeatIntervalMs: 50, failureTimeoutMs: 200 });
    const slow = new TcpTransport({ id: 'slow', clock, heartbeatIntervalMs: 500, failureTimeoutMs: 2000, seeds: () => (quick.state === 'running' ? [quick.address] : []) });
    created.push(quick, slow);
    await connected(quick, slow);
    const downs = [record<PeerArgs>(quick, 'peerDown'), record<PeerArgs>(slow, 'peerDown')];
    // Nothing is delivered while the clock moves (no await): each side hears nothing at all.
    for (let t = 0; t < 1990; t += 10) clock.advance(10);
    clock.advance(9);
    expect(downs.map((d) => d.events), 'declared gone within the larger timeout').to.deep.equal([[], []]);
    expect([quick.peers(), slow.peers()]).to.deep.equal([['slow'], ['quick']]);
    for (let t = 0; t < 110; t += 10) clock.advance(10);
    expect(downs.map((d) => d.events)).to.deep.equal([[['slow']], [['quick']]]);
    expect([quick.stats().peersDeclaredDown, slow.stats().peersDeclaredDown]).to.deep.equal([1, 1]);
  });

  it("tolerates a raw peer's announced failure timeout longer than its own", async () => {
    const clock = new FakeClock();
    const a = new TcpTransport({ id: 'a', clock, heartbeatIntervalMs: 50, failureTimeoutMs: 200 });
    created.push(a);
    await a.start();
    const up = record<PeerArgs>(a, 'peerUp');
    await within(dialAsMember(a.address, { id: 'slow', timing: [500, 2000] }), EVENT_MS, 'the handshake');
    expect(up.events).to.deep.equal([['slow']]);
    const downs = record<PeerArgs>(a, 'peerDown');
    clock.advance(2000);
    expect(downs.events).to.deep.equal([]);
    clock.advance(clock.period);
    expect(downs.events).to.deep.equal([['slow']]);
  });

  it('declares nobody gone on the first tick after its own event loop was held up past the failure timeout; the next tick does, if the peer stayed silent', async () => {
    const clock = new FakeClock();
    const a = new TcpTransport({ id: 'a', clock, heartbeatIntervalMs: 50, failureTimeoutMs: 200 });
    const b = new TcpTransport({ id: 'b', clock, heartbeatIntervalMs: 50, failureTimeoutMs: 200, seeds: () => (a.state === 'running' ? [a.address] : []) });
    created.push(a, b);
    await connected(a, b);
    const downs = [record<PeerArgs>(a, 'peerDown'), record<PeerArgs>(b, 'peerDown')];
    // Both members' event loops held up for a second, five failure timeouts: what the peer sent
    // meanwhile would still wait unread in the socket when the late tick runs.
    clock.stall(1000);
    expect(downs.map((d) => d.events), 'declared gone on the late tick').to.deep.equal([[], []]);
    expect([a.peers(), b.peers()]).to.deep.equal([['b'], ['a']]);
    // Once frames are read again, the link lives on.
    await roundTrip(a, b, 1);
    clock.advance(clock.period);
    expect(downs.map((d) => d.events)).to.deep.equal([[], []]);
    // A peer silent past the timeout on prompt ticks is still declared gone.
    for (let t = 0; t < 210; t += 10) clock.advance(10);
    expect(downs.map((d) => d.events)).to.deep.equal([[['b']], [['a']]]);
  });

  it('counts a silent peer by prompt ticks only: a tick late by less than the timeout does not declare it, the next prompt one does', async () => {
    const clock = new FakeClock();
    const a = new TcpTransport({ id: 'a', clock, heartbeatIntervalMs: 50, failureTimeoutMs: 200 });
    const b = new TcpTransport({ id: 'b', clock, heartbeatIntervalMs: 50, failureTimeoutMs: 200, seeds: () => (a.state === 'running' ? [a.address] : []) });
    created.push(a, b);
    await connected(a, b);
    await roundTrip(a, b, 1);
    const downs = [record<PeerArgs>(a, 'peerDown'), record<PeerArgs>(b, 'peerDown')];
    // Nothing is delivered from here on (no await): 150 ms of prompt ticks, then a 100 ms stall.
    for (let t = 0; t < 150; t += 10) clock.advance(10);
    clock.stall(100);
    expect(downs.map((d) => d.events), "250 ms of silence, 90 of them the late tick's own").to.deep.equal([[], []]);
    for (let t = 0; t < 60; t += 10) clock.advance(10);
    expect(downs.map((d) => d.events), 'past 200 ms of silence on prompt ticks').to.deep.equal([[['b']], [['a']]]);
  });
});
