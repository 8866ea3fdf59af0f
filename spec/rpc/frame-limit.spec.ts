import { expect } from 'chai';
import {
  FrameTooLargeError,
  InMemoryNetwork,
  RpcChannel,
  RpcRemoteError,
  ValueTooLargeError,
  encodeFrame,
  FrameKind,
  type InMemoryTransport,
  type RpcHandler,
} from '../../lib/index.js';
import { once, record, rejection } from '../helpers/events.js';

/** Every member accepts frames of at most this many bytes. */
const LIMIT = 2000;

async function cluster(handler: RpcHandler): Promise<{ net: InMemoryNetwork; t: Record<string, InMemoryTransport>; rpc: Record<string, RpcChannel> }> {
  const net = new InMemoryNetwork();
  const t: Record<string, InMemoryTransport> = {};
  const rpc: Record<string, RpcChannel> = {};
  for (const id of ['a', 'b', 'c']) {
    t[id] = net.transport(id, { maxFrameBytes: LIMIT });
    rpc[id] = new RpcChannel(t[id], 'q', handler);
  }
  await Promise.all(Object.values(rpc).map((r) => r.ready()));
  await net.settled();
  return { net, t, rpc };
}

describe('RpcChannel and the frame limit', () => {
  it('rejects a request above the limit with a ValueTooLargeError naming size, limit and option, and sends nothing', async () => {
    const served: unknown[] = [];
    const { net, rpc } = await cluster((request) => {
      served.push(request);
      return 'ok';
    });
    const before = net.stats().messages;
    const error = await rejection(rpc.a!.call('x'.repeat(3000), { timeoutMs: 60_000 }));
    expect(error).to.be.instanceOf(ValueTooLargeError);
    const e = error as ValueTooLargeError;
    expect(e.limit).to.equal(LIMIT);
    expect(e.bytes).to.be.greaterThan(3000);
    expect(e.message).to.include(String(e.bytes)).and.include(String(LIMIT)).and.include('maxFrameBytes');
    // The stack shows the caller, not the channel's internals.
    expect(e.stack).to.include('frame-limit.spec');
    await net.settled();
    expect(net.stats().messages).to.equal(before);
    expect(served).to.deep.equal([]);
    // A request that fits still goes through.
    expect((await rpc.a!.call('small')).length).to.equal(2);
  });

  it("rejects a one-way request (mode 'none') above the limit too", async () => {
    const { net, rpc } = await cluster(() => 'ok');
    const before = net.stats().messages;
    expect(await rejection(rpc.a!.call('x'.repeat(3000), { mode: 'none' }))).to.be.instanceOf(ValueTooLargeError);
    await net.settled();
    expect(net.stats().messages).to.equal(before);
  });

  it('answers a reply above the limit with a typed error entry at once, and reports it on the handler side', async () => {
    const { rpc } = await cluster((request) => (request === 'big' ? 'y'.repeat(3000) : 'small'));
    const handlerErrors = record<[Error]>(rpc.b!, 'error');
    // No deadline would pass during the test: the answer must come from the error reply.
    const replies = await rpc.a!.call('big', { to: ['b'], timeoutMs: 600_000 });
    expect(replies).to.have.length(1);
    const entry = replies[0]!;
    expect(entry.from).to.equal('b');
    expect('error' in entry).to.equal(true);
    const remote = (entry as { error: RpcRemoteError }).error;
    expect(remote).to.be.instanceOf(RpcRemoteError);
    expect(remote.remoteName).to.equal('ValueTooLargeError');
    expect(remote.message).to.include('maxFrameBytes').and.include(String(LIMIT));
    expect(handlerErrors.events.map(([e]) => e.name)).to.deep.equal(['ValueTooLargeError']);
  });

  it('refuses, on an in-memory member with maxFrameBytes, a bigger frame: reported there, not delivered', async () => {
    const net = new InMemoryNetwork();
    const a = net.transport('a');
    const b = net.transport('b', { maxFrameBytes: 100 });
    await Promise.all([a.start(), b.start()]);
    await net.settled();
    const delivered = record(b, 'message');
    const refused = once<[Error]>(b, 'error');
    await a.send('b', encodeFrame({ kind: FrameKind.Notify, channel: 'q', id: 0, body: 'z'.repeat(200) }));
    const [error] = await refused;
    await net.settled();
    expect(error).to.be.instanceOf(FrameTooLargeError);
    expect(error.message).to.include("'a'").and.include('100');
    expect(delivered.events).to.deep.equal([]);
    // A frame within the limit is delivered.
    await a.send('b', new Uint8Array(50));
    await net.settled();
    expect(delivered.events).to.have.length(1);
  });

  it('validates an in-memory maxFrameBytes', () => {
    const net = new InMemoryNetwork();
    expect(() => net.transport('a', { maxFrameBytes: 0 })).to.throw(RangeError, /maxFrameBytes/);
    expect(() => net.transport('b', { maxFrameBytes: Number.NaN })).to.throw(RangeError, /maxFrameBytes/);
  });
});
