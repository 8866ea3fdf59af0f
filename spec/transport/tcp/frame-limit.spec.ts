import { expect } from 'chai';
import { FrameRefusedError, FrameTooLargeError, RpcChannel, RpcRemoteError, ValueTooLargeError } from '../../../lib/index.js';
import { within } from '../../helpers/deadline.js';
import { once, record } from '../../helpers/events.js';
import { numberedFrame, sequenceOf } from '../../helpers/frames.js';
import { destroyAllRaw, dialAsMember } from './raw-peer.js';
import { EVENT_MS, addressesOf, connected, member, roundTrip, stopAllMembers, type ErrorArgs, type MessageArgs } from './tcp-helpers.js';

const KiB = 1024;

describe('TcpTransport frame limits', () => {
  afterEach(async () => {
    await stopAllMembers();
    await destroyAllRaw();
  });

  it("never sends a peer a frame above the maxFrameBytes it declared: the send rejects, the connection stays up, nobody reconnects", async () => {
    const big = member('big');
    const small = member('small', { maxFrameBytes: 64 * KiB, seeds: addressesOf(big) });
    await connected(big, small);
    expect(big.maxFrameBytes).to.equal(16 * 1024 * 1024);
    expect(small.maxFrameBytes).to.equal(64 * KiB);
    const errors = [record<ErrorArgs>(big, 'error'), record<ErrorArgs>(small, 'error')];
    const downs = [record(big, 'peerDown'), record(small, 'peerDown')];
    const arrived = record<MessageArgs>(small, 'message');

    let refused: unknown;
    try {
      await big.send('small', numberedFrame(1, 64 * KiB + 1));
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(FrameRefusedError);
    const e = refused as FrameRefusedError;
    expect([e.peer, e.bytes, e.limit]).to.deep.equal(['small', 64 * KiB + 1, 64 * KiB]);
    expect(e.message).to.include('maxFrameBytes');
    // A frame at the limit goes through, on the same connection; so does one the other way that
    // only the larger member accepts.
    await big.send('small', numberedFrame(2, 64 * KiB));
    const atLimit = once<MessageArgs>(big, 'message');
    await small.send('big', numberedFrame(3, 200 * KiB));
    await within(atLimit, EVENT_MS, 'the 200 KiB frame at big');
    await roundTrip(big, small, 4);
    expect(arrived.events.map(([, f]) => sequenceOf(f))).to.deep.equal([2, 4]);
    expect(downs.map((d) => d.events)).to.deep.equal([[], []]);
    expect(errors.map((r) => r.events)).to.deep.equal([[], []]);
    expect(big.stats().reconnects + small.stats().reconnects).to.equal(0);
    expect(big.stats().connections.established).to.equal(1);
  });

  it("gives an RPC caller a typed answer, at once, for a request or reply above a member's smaller limit", async () => {
    const big = member('big');
    const small = member('small', { maxFrameBytes: 64 * KiB, seeds: addressesOf(big) });
    await connected(big, small);
    const handler = (request: unknown): unknown => (request === 'large reply' ? 'r'.repeat(100 * KiB) : 'ok');
    const onBig = new RpcChannel(big, 'q', handler);
    const onSmall = new RpcChannel(small, 'q', handler);
    await Promise.all([onBig.ready(), onSmall.ready()]);
    const bigErrors = record<ErrorArgs>(onBig, 'error');
    // No deadline passes during the test: only a typed answer ends these calls.
    const typed = (entry: unknown): string | undefined => ((entry as { error?: RpcRemoteError }).error?.remoteName);
    let request: unknown;
    try {
      request = await onBig.call('q'.repeat(100 * KiB), { to: ['small'], timeoutMs: 600_000 });
    } catch (error) {
      request = error;
    }
    // Refused before sending when the members' limits are known to the channel; else by the
    // transport, as an error entry naming the refusal.
    if (request instanceof ValueTooLargeError) expect(request.limit).to.equal(64 * KiB);
    else expect((request as unknown[]).map(typed)).to.deep.equal(['FrameRefusedError']);
    const replies = await onSmall.call('large reply', { to: ['big'], timeoutMs: 600_000 });
    expect(replies.map(typed)).to.satisfy((names: unknown[]) => names.length === 1 && ['FrameRefusedError', 'ValueTooLargeError'].includes(names[0] as string));
    expect(bigErrors.events.map(([e]) => e.name)).to.have.length(1);
    expect(await onSmall.call('small', { to: ['big'] })).to.deep.equal([{ from: 'big', reply: 'ok' }]);
    expect(big.stats().reconnects + small.stats().reconnects).to.equal(0);
    await Promise.all([onBig.close(), onSmall.close()]);
  });

  it('drops a frame above maxFrameBytes from a member that did not declare its limit, reports it naming the member, and keeps the connection', async () => {
    const m = member('m', { maxFrameBytes: 64 * KiB });
    await m.start();
    const up = once(m, 'peerUp');
    const raw = await within(dialAsMember(m.address, { id: 'old', timing: [50, 1000] }), EVENT_MS, 'the raw handshake');
    await within(up, EVENT_MS, "peerUp of 'old'");
    const reported = once<ErrorArgs>(m, 'error');
    const arrived = once<MessageArgs>(m, 'message');
    const downs = record(m, 'peerDown');
    raw.sendData(numberedFrame(1, 200 * KiB));
    raw.sendData(numberedFrame(2, 100));
    const [error] = await within(reported, EVENT_MS, 'the FrameTooLargeError');
    expect(error).to.be.instanceOf(FrameTooLargeError);
    expect(error.message).to.include("member 'old'").and.include(String(200 * KiB)).and.include(String(64 * KiB)).and.include('maxFrameBytes');
    const [from, frame] = await within(arrived, EVENT_MS, 'the frame after the dropped one');
    expect([from, sequenceOf(frame)]).to.deep.equal(['old', 2]);
    expect(downs.events).to.deep.equal([]);
    expect(raw.socket.closed).to.equal(false);
  });
});
