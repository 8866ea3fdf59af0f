import { expect } from 'chai';
import {
  ChannelInUseError,
  FrameKind,
  InMemoryNetwork,
  LazyReplicatedMap,
  ReservedChannelNameError,
  ProtocolError,
  RpcAbortedError,
  RpcChannel,
  RpcRemoteError,
  RpcTimeoutError,
  StoppedError,
  ValueEncodeError,
  decodeFrame,
  encodeFrame,
  type InMemoryTransport,
  type RpcHandler,
  type RpcResponse,
} from '../../lib/index.js';
import { deferred, once, record, rejection, thrown } from '../helpers/events.js';

/** A handler that answers with the request and the id of the member that answered. */
const answeredBy =
  (id: string): RpcHandler =>
  (request) => ({ request, by: id });

/** A handler that never answers: its member stays a target until the deadline. */
const silent: RpcHandler = () => new Promise<never>(() => undefined);

const failing =
  (message: string): RpcHandler =>
  () => {
    throw new Error(message);
  };

/** Frames delivered so far besides the hellos members exchange when they meet. */
function traffic(net: InMemoryNetwork): { messages: number; byType: Record<string, { messages: number; bytes: number }> } {
  const { messages, byType } = net.stats();
  const { HELLO, ...rest } = byType;
  return { messages: messages - (HELLO?.messages ?? 0), byType: rest };
}

const byFrom = (responses: readonly RpcResponse[]): RpcResponse[] => [...responses].sort((x, y) => x.from.localeCompare(y.from));

/** A started cluster with one channel per member, each with its handler (or none: no channel there). */
interface Cluster {
  net: InMemoryNetwork;
  t: Record<string, InMemoryTransport>;
  rpc: Record<string, RpcChannel>;
}

async function cluster(handlers: Record<string, RpcHandler | null>, name = 'q'): Promise<Cluster> {
  const net = new InMemoryNetwork();
  const t: Record<string, InMemoryTransport> = {};
  const rpc: Record<string, RpcChannel> = {};
  for (const [id, handler] of Object.entries(handlers)) {
    t[id] = net.transport(id);
    // A member without a handler of its own runs another channel, as a member running only a map would.
    rpc[id] = handler === null ? new RpcChannel(t[id], 'unrelated') : new RpcChannel(t[id], name, handler);
  }
  await Promise.all(Object.values(rpc).map((r) => r.ready()));
  await net.settled();
  return { net, t, rpc };
}

describe('RpcChannel', () => {
  it('refuses names under the reserved lrm/ prefix, and empty names, with errors that say what to change', () => {
    const net = new InMemoryNetwork();
    const t = net.transport('a');
    for (const name of ['lrm/map/sessions', 'lrm/anything']) {
      const error = thrown(() => new RpcChannel(t, name));
      expect(error).to.be.instanceOf(ReservedChannelNameError);
      expect((error as Error).message).to.include(`'${name}'`).and.include('choose another name');
    }
    expect(thrown(() => new RpcChannel(t, ''))).to.be.instanceOf(TypeError);
    // A map, the library's own user of the prefix, still opens its channel there.
    const map = new LazyReplicatedMap({ name: 'sessions', transport: t });
    return map.start().then(() => map.stop());
  });

  describe("mode 'all'", () => {
    it('resolves with one reply per other member once every one answered', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: answeredBy('b'), c: answeredBy('c'), d: answeredBy('d') });
      const replies = await rpc.a!.call({ n: 1 }, { mode: 'all', timeoutMs: 2000 });
      expect(byFrom(replies)).to.deep.equal([
        { from: 'b', reply: { request: { n: 1 }, by: 'b' } },
        { from: 'c', reply: { request: { n: 1 }, by: 'c' } },
        { from: 'd', reply: { request: { n: 1 }, by: 'd' } },
      ]);
    });

    it('is the default mode', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: answeredBy('b'), c: answeredBy('c') });
      expect(byFrom(await rpc.a!.call('x', { timeoutMs: 2000 })).map((r) => r.from)).to.deep.equal(['b', 'c']);
    });

    it('hands the handler the request and the id of the caller', async () => {
      const seen: unknown[] = [];
      const { rpc } = await cluster({
        a: answeredBy('a'),
        b: (request, from) => {
          seen.push([request, from]);
          return 'ok';
        },
      });
      await rpc.a!.call({ deep: [1, new Date(0)] }, { timeoutMs: 2000 });
      expect(seen).to.deep.equal([[{ deep: [1, new Date(0)] }, 'a']]);
    });

    it('waits for an async handler', async () => {
      const gate = deferred();
      const { rpc, net } = await cluster({
        a: answeredBy('a'),
        b: async () => {
          await gate.promise;
          return 'late but awaited';
        },
      });
      let settled = false;
      const call = rpc.a!.call('x', { timeoutMs: 5000 }).finally(() => {
        settled = true;
      });
      await net.settled();
      expect(settled).to.equal(false);
      gate.resolve();
      expect(await call).to.deep.equal([{ from: 'b', reply: 'late but awaited' }]);
    });
  });

  describe("mode 'first'", () => {
    it('settles on the first successful reply without waiting for the silent targets', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: silent, c: answeredBy('c'), d: silent });
      const replies = await rpc.a!.call('x', { mode: 'first', timeoutMs: 2000 });
      expect(replies).to.deep.equal([{ from: 'c', reply: { request: 'x', by: 'c' } }]);
    });

    it('does not settle on an error while another target may still succeed', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: failing('b broke'), c: answeredBy('c') });
      const replies = await rpc.a!.call('x', { mode: 'first', timeoutMs: 2000 });
      // b's error arrives first (its handler throws synchronously); the call still waits for c.
      expect(replies).to.have.length(2);
      expect(replies[0]!.from).to.equal('b');
      expect((replies[0] as { error: RpcRemoteError }).error.message).to.equal('b broke');
      expect(replies[1]).to.deep.equal({ from: 'c', reply: { request: 'x', by: 'c' } });
    });

    it('settles with the error entries once every target answered with an error', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: failing('b broke'), c: failing('c broke') });
      const replies = await rpc.a!.call('x', { mode: 'first', timeoutMs: 2000 });
      expect(byFrom(replies).map((r) => ('error' in r ? [r.from, r.error.message] : r))).to.deep.equal([
        ['b', 'b broke'],
        ['c', 'c broke'],
      ]);
    });

    it('does not settle on errors while a target is still silent', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: failing('b broke'), c: silent });
      const error = await rejection(rpc.a!.call('x', { mode: 'first', timeoutMs: 50 }));
      expect(error).to.be.instanceOf(RpcTimeoutError);
      expect((error as RpcTimeoutError).replies.map((r) => r.from)).to.deep.equal(['b']);
    });
  });

  describe("mode 'majority'", () => {
    it('with 3 targets settles once 2 answered', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: answeredBy('b'), c: silent, d: answeredBy('d') });
      const replies = await rpc.a!.call('x', { mode: 'majority', timeoutMs: 2000 });
      expect(byFrom(replies).map((r) => r.from)).to.deep.equal(['b', 'd']);
    });

    it('with 3 targets does not settle on 1 answer', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: answeredBy('b'), c: silent, d: silent });
      const error = await rejection(rpc.a!.call('x', { mode: 'majority', timeoutMs: 50 }));
      expect(error).to.be.instanceOf(RpcTimeoutError);
      expect((error as RpcTimeoutError).replies).to.deep.equal([{ from: 'b', reply: { request: 'x', by: 'b' } }]);
    });

    it('with 4 targets settles once 2 answered (at least half)', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: silent, c: answeredBy('c'), d: silent, e: answeredBy('e') });
      const replies = await rpc.a!.call('x', { mode: 'majority', timeoutMs: 2000 });
      expect(byFrom(replies).map((r) => r.from)).to.deep.equal(['c', 'e']);
    });

    it('with 4 targets does not settle on 1 answer', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: silent, c: answeredBy('c'), d: silent, e: silent });
      const error = await rejection(rpc.a!.call('x', { mode: 'majority', timeoutMs: 50 }));
      expect(error).to.be.instanceOf(RpcTimeoutError);
      expect((error as RpcTimeoutError).replies.map((r) => r.from)).to.deep.equal(['c']);
    });

    it('counts a remote error as an answer', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: failing('no'), c: silent, d: answeredBy('d') });
      const replies = await rpc.a!.call('x', { mode: 'majority', timeoutMs: 2000 });
      expect(byFrom(replies).map((r) => [r.from, 'error' in r])).to.deep.equal([
        ['b', true],
        ['d', false],
      ]);
    });
  });

  describe("mode 'none'", () => {
    it('resolves at once with [] and still delivers the request, which is not answered', async () => {
      const seen: unknown[] = [];
      const record = (id: string): RpcHandler => (request) => {
        seen.push([id, request]);
        return 'ignored';
      };
      const { rpc, net } = await cluster({ a: answeredBy('a'), b: record('b'), c: record('c') });
      const replies = await rpc.a!.call('fire and forget', { mode: 'none' });
      expect(replies).to.deep.equal([]);
      expect(seen).to.deep.equal([]);
      await net.settled();
      expect(seen.sort()).to.deep.equal([
        ['b', 'fire and forget'],
        ['c', 'fire and forget'],
      ]);
      expect(traffic(net).byType).to.deep.equal({ RPC_NOTIFY: net.stats().byType.RPC_NOTIFY });
      expect(net.stats().byType.RPC_NOTIFY!.messages).to.equal(2);
    });

    it("reports a throwing handler on the receiver's error event, since nobody waits for an answer", async () => {
      const { rpc, net } = await cluster({ a: answeredBy('a'), b: failing('nobody listens') });
      const errors = record<[Error]>(rpc.b!, 'error');
      await rpc.a!.call('x', { mode: 'none' });
      await net.settled();
      expect(errors.events.map(([e]) => e.message)).to.deep.equal(['nobody listens']);
      expect(traffic(net).messages).to.equal(1);
    });
  });

  describe('targets', () => {
    it('asks only the members listed in `to`', async () => {
      const asked: string[] = [];
      const tracking = (id: string): RpcHandler => () => {
        asked.push(id);
        return id;
      };
      const { rpc, net } = await cluster({ a: answeredBy('a'), b: tracking('b'), c: tracking('c'), d: tracking('d') });
      const replies = await rpc.a!.call('x', { to: ['d', 'b'], timeoutMs: 2000 });
      await net.settled();
      expect(byFrom(replies)).to.deep.equal([
        { from: 'b', reply: 'b' },
        { from: 'd', reply: 'd' },
      ]);
      expect(asked.sort()).to.deep.equal(['b', 'd']);
    });

    it('never asks the caller itself, even when `to` names it', async () => {
      const asked: string[] = [];
      const { rpc } = await cluster({
        a: () => {
          asked.push('a');
        },
        b: answeredBy('b'),
      });
      const replies = await rpc.a!.call('x', { to: ['a', 'b'], timeoutMs: 2000 });
      expect(replies.map((r) => r.from)).to.deep.equal(['b']);
      expect(asked).to.deep.equal([]);
    });

    it('does not wait for members in `to` that do not exist', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      const replies = await rpc.a!.call('x', { to: ['ghost', 'b'], timeoutMs: 2000 });
      expect(replies.map((r) => r.from)).to.deep.equal(['b']);
    });

    it('settles at once with [] when there is no target', async () => {
      const { rpc, net } = await cluster({ a: answeredBy('a') });
      for (const mode of ['first', 'majority', 'all'] as const) {
        expect(await rpc.a!.call('x', { mode, timeoutMs: 2000 })).to.deep.equal([]);
      }
      const two = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      expect(await two.rpc.a!.call('x', { to: [], timeoutMs: 2000 })).to.deep.equal([]);
      expect(await two.rpc.a!.call('x', { to: ['ghost'], timeoutMs: 2000 })).to.deep.equal([]);
      expect(net.stats().messages).to.equal(0);
    });

    it('does not wait for a member that runs only a channel of another name, which answers at once', async () => {
      const { rpc, net } = await cluster({ a: answeredBy('a'), b: answeredBy('b'), c: null });
      const replies = await rpc.a!.call('x', { mode: 'all', timeoutMs: 2000 });
      expect(replies.map((r) => r.from)).to.deep.equal(['b']);
      await net.settled();
      expect(net.stats().byType.RPC_NO_CHANNEL).to.deep.equal({ messages: 1, bytes: net.stats().byType.RPC_NO_CHANNEL!.bytes });
    });

    it('does not count a member without the channel as a target for majority', async () => {
      // Targets b, c, d; d has no such channel, so 1 of the 2 that count is a majority.
      // Were d counted, 2 answers would be needed and the call would time out on silent c.
      const { rpc } = await cluster({ a: answeredBy('a'), b: answeredBy('b'), c: silent, d: null });
      const replies = await rpc.a!.call('x', { mode: 'majority', timeoutMs: 2000 });
      expect(replies.map((r) => r.from)).to.deep.equal(['b']);
    });

    it('treats a channel opened without a handler as no channel', async () => {
      const net = new InMemoryNetwork();
      const a = new RpcChannel(net.transport('a'), 'q', answeredBy('a'));
      new RpcChannel(net.transport('b'), 'q');
      const c = new RpcChannel(net.transport('c'), 'q', answeredBy('c'));
      await Promise.all([a.ready(), c.ready()]);
      await net.settled();
      const replies = await a.call('x', { mode: 'all', timeoutMs: 2000 });
      expect(replies.map((r) => r.from)).to.deep.equal(['c']);
    });

    it('does not wait for a target that crashes during the call', async () => {
      const cAsked = deferred();
      const { rpc, net } = await cluster({
        a: answeredBy('a'),
        b: answeredBy('b'),
        c: () => {
          cAsked.resolve();
          return new Promise(() => undefined);
        },
      });
      const call = rpc.a!.call('x', { mode: 'all', timeoutMs: 5000 });
      await cAsked.promise;
      net.crash('c');
      const replies = await call;
      expect(replies).to.deep.equal([{ from: 'b', reply: { request: 'x', by: 'b' } }]);
    });

    it('does not wait for a target cut off by a partition during the call', async () => {
      const cAsked = deferred();
      const { rpc, net } = await cluster({
        a: answeredBy('a'),
        b: answeredBy('b'),
        c: () => {
          cAsked.resolve();
          return new Promise(() => undefined);
        },
      });
      const call = rpc.a!.call('x', { mode: 'all', timeoutMs: 5000 });
      await cAsked.promise;
      net.partition(['a', 'b'], ['c']);
      expect((await call).map((r) => r.from)).to.deep.equal(['b']);
    });
  });

  describe('remote errors', () => {
    it('turns a throwing handler into { from, error } with an RpcRemoteError carrying its message and name', async () => {
      const { rpc } = await cluster({
        a: answeredBy('a'),
        b: () => {
          throw new TypeError('bad input: expected a key');
        },
      });
      const [entry, ...rest] = await rpc.a!.call('x', { timeoutMs: 2000 });
      expect(rest).to.deep.equal([]);
      expect(entry!.from).to.equal('b');
      expect(entry).to.not.have.property('reply');
      const error = (entry as { error: RpcRemoteError }).error;
      expect(error).to.be.instanceOf(RpcRemoteError);
      expect(error.name).to.equal('RpcRemoteError');
      expect(error.message).to.equal('bad input: expected a key');
      expect(error.from).to.equal('b');
      expect(error.remoteName).to.equal('TypeError');
    });

    it('does the same for a rejected promise and for a thrown non-error', async () => {
      const { rpc } = await cluster({
        a: answeredBy('a'),
        b: () => Promise.reject(new RangeError('out of range')),
        c: () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- a careless handler is the point
          throw 'a plain string';
        },
      });
      const replies = byFrom(await rpc.a!.call('x', { timeoutMs: 2000 }));
      expect(replies.map((r) => ('error' in r ? [r.from, r.error.remoteName, r.error.message] : r))).to.deep.equal([
        ['b', 'RangeError', 'out of range'],
        ['c', 'Error', 'a plain string'],
      ]);
    });

    it('answers with an RpcRemoteError when the handler returns something the codec cannot encode', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: () => ({ f: () => 1 }) });
      const [entry] = await rpc.a!.call('x', { timeoutMs: 2000 });
      const error = (entry as { error: RpcRemoteError }).error;
      expect(error).to.be.instanceOf(RpcRemoteError);
      expect(error.remoteName).to.equal('ValueEncodeError');
      expect(error.message).to.include('reply could not be encoded');
    });

    it('answers with the transport\u2019s own error, not an encoding one, when sending the reply fails', async () => {
      const { rpc, t } = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      // b's transport fails its first reply, as a socket that was reset would, and carries the next frame.
      const send = t.b!.send.bind(t.b!);
      let failed = false;
      t.b!.send = (to, frame) => {
        if (!failed && decodeFrame(frame).kind === FrameKind.Reply) {
          failed = true;
          return Promise.reject(new Error('connection reset'));
        }
        return send(to, frame);
      };
      const [entry] = await rpc.a!.call('x', { timeoutMs: 2000 });
      const error = (entry as { error: RpcRemoteError }).error;
      expect(error).to.be.instanceOf(RpcRemoteError);
      expect(error.remoteName).to.equal('Error');
      expect(error.message).to.equal('reply could not be sent: connection reset');
    });
  });

  describe('deadline', () => {
    it('rejects with an RpcTimeoutError holding the replies that did arrive', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: answeredBy('b'), c: silent });
      const error = await rejection(rpc.a!.call('x', { mode: 'all', timeoutMs: 50 }));
      expect(error).to.be.instanceOf(RpcTimeoutError);
      const timeout = error as RpcTimeoutError;
      expect(timeout.name).to.equal('RpcTimeoutError');
      expect(timeout.replies).to.deep.equal([{ from: 'b', reply: { request: 'x', by: 'b' } }]);
      expect(timeout.message).to.equal(
        "RPC 'q' timed out after 50 ms with 1 of 2 replies (mode 'all'): raise timeoutMs if members are slow",
      );
    });

    it('creates the timeout error at the call site, so its stack shows the caller', async function callerOfTheTimedOutCall() {
      const { rpc } = await cluster({ a: answeredBy('a'), b: silent });
      const error = (await rejection(rpc.a!.call('x', { timeoutMs: 20 }))) as RpcTimeoutError;
      expect(error).to.be.instanceOf(RpcTimeoutError);
      expect(error.stack).to.match(/^RpcTimeoutError: RPC 'q' timed out/);
      expect(error.stack).to.include('callerOfTheTimedOutCall');
    });

    it('emits a reply that arrives after the deadline as lateReply', async () => {
      const gate = deferred();
      const { rpc, net } = await cluster({
        a: answeredBy('a'),
        b: async () => {
          await gate.promise;
          return 'too late';
        },
      });
      const late = record<[RpcResponse]>(rpc.a!, 'lateReply');
      expect(await rejection(rpc.a!.call('x', { timeoutMs: 20 }))).to.be.instanceOf(RpcTimeoutError);
      gate.resolve();
      await net.settled();
      expect(late.events).to.deep.equal([[{ from: 'b', reply: 'too late' }]]);
    });
  });

  describe('abort', () => {
    it('rejects with an RpcAbortedError holding the replies so far, with the reason as cause', async () => {
      const { rpc, t } = await cluster({ a: answeredBy('a'), b: answeredBy('b'), c: silent });
      const controller = new AbortController();
      const bAnswered = once(t.a!, 'message', (from) => from === 'b');
      const call = rpc.a!.call('x', { mode: 'all', timeoutMs: 5000, signal: controller.signal });
      await bAnswered;
      const reason = new Error('user navigated away');
      controller.abort(reason);
      const error = await rejection(call);
      expect(error).to.be.instanceOf(RpcAbortedError);
      expect((error as RpcAbortedError).replies).to.deep.equal([{ from: 'b', reply: { request: 'x', by: 'b' } }]);
      expect((error as RpcAbortedError).cause).to.equal(reason);
      expect((error as RpcAbortedError).message).to.equal("RPC 'q' was aborted with 1 of 2 replies");
    });

    it('rejects with an RpcAbortedError, sending nothing, when the signal is already aborted', async () => {
      const { rpc, net } = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      const reason = new Error('gave up before asking');
      const error = await rejection(rpc.a!.call('x', { timeoutMs: 5000, signal: AbortSignal.abort(reason) }));
      expect(error).to.be.instanceOf(RpcAbortedError);
      expect((error as RpcAbortedError).replies).to.deep.equal([]);
      expect((error as RpcAbortedError).cause).to.equal(reason);
      expect((error as RpcAbortedError).message).to.equal("RPC 'q' was aborted before it was sent");
      await net.settled();
      expect(traffic(net).messages).to.equal(0);
    });
  });

  describe('duplicated delivery', () => {
    it('runs a request the transport delivers twice once, and answers it once', async () => {
      let served = 0;
      const { rpc, net } = await cluster({
        a: answeredBy('a'),
        b: (request) => {
          served++;
          return { request, by: 'b', served };
        },
      });
      // Every frame from now on arrives twice.
      net.configure({ duplicateRate: 1 });
      const replies = await rpc.a!.call('x', { mode: 'all', timeoutMs: 2000 });
      await net.settled();
      expect(replies).to.deep.equal([{ from: 'b', reply: { request: 'x', by: 'b', served: 1 } }]);
      expect(served).to.equal(1);
      // A second request is a new id: it runs.
      await rpc.a!.call('y', { mode: 'all', timeoutMs: 2000 });
      await net.settled();
      expect(served).to.equal(2);
    });

    it('runs every notification (mode none): they carry no id, so none is taken for a duplicate of another', async () => {
      const seen: unknown[] = [];
      const { rpc, net } = await cluster({
        a: answeredBy('a'),
        b: (request) => {
          seen.push(request);
          return undefined;
        },
      });
      for (const note of ['first', 'second', 'third']) await rpc.a!.call(note, { mode: 'none', to: ['b'] });
      await net.settled();
      // A request between them changes nothing.
      await rpc.a!.call('asked', { mode: 'all', to: ['b'], timeoutMs: 2000 });
      await rpc.a!.call('fourth', { mode: 'none', to: ['b'] });
      await net.settled();
      expect(seen).to.deep.equal(['first', 'second', 'third', 'asked', 'fourth']);
    });

    it('serves a restarted peer whose request ids start over', async () => {
      let served = 0;
      const net = new InMemoryNetwork();
      const b = new RpcChannel(net.transport('b'), 'q', () => ++served);
      let a = new RpcChannel(net.transport('a'), 'q');
      await Promise.all([a.ready(), b.ready()]);
      await net.settled();
      await a.call('x', { mode: 'all', timeoutMs: 2000 });
      net.crash('a');
      await net.settled();
      await net.transport('a').start();
      a = new RpcChannel(net.transport('a'), 'q');
      await a.ready();
      await net.settled();
      const replies = await a.call('x', { mode: 'all', timeoutMs: 2000 });
      expect(replies.map((r) => ('reply' in r ? r.reply : r.error.message))).to.deep.equal([2]);
    });
  });

  describe('lateReply', () => {
    it('emits the replies and errors that arrive after the call settled, once per member', async () => {
      const gate = deferred();
      const { rpc, net } = await cluster({
        a: answeredBy('a'),
        b: answeredBy('b'),
        c: async () => {
          await gate.promise;
          throw new Error('c failed later');
        },
        d: async () => {
          await gate.promise;
          return 'd answered later';
        },
      });
      const late = record<[RpcResponse]>(rpc.a!, 'lateReply');
      const replies = await rpc.a!.call('x', { mode: 'first', timeoutMs: 2000 });
      expect(replies.map((r) => r.from)).to.deep.equal(['b']);
      gate.resolve();
      await net.settled();
      const events = byFrom(late.events.map(([r]) => r));
      expect(events.map((r) => ('error' in r ? [r.from, r.error.message] : [r.from, r.reply]))).to.deep.equal([
        ['c', 'c failed later'],
        ['d', 'd answered later'],
      ]);
    });

    it('is not emitted for the replies the call settled with', async () => {
      const { rpc, net } = await cluster({ a: answeredBy('a'), b: answeredBy('b'), c: answeredBy('c') });
      const late = record(rpc.a!, 'lateReply');
      await rpc.a!.call('x', { mode: 'all', timeoutMs: 2000 });
      await net.settled();
      expect(late.events).to.deep.equal([]);
    });
  });

  describe('lifecycle', () => {
    it('rejects call() after close() with a StoppedError', async () => {
      const { rpc } = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      await rpc.a!.close();
      expect(rpc.a!.isClosed).to.equal(true);
      for (const mode of ['all', 'none'] as const) {
        expect(await rejection(rpc.a!.call('x', { mode, timeoutMs: 2000 }))).to.be.instanceOf(StoppedError);
      }
    });

    it('rejects a request the codec cannot encode with a ValueEncodeError and sends nothing', async () => {
      const { rpc, net } = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const mode of ['all', 'first', 'none'] as const) {
        expect(await rejection(rpc.a!.call({ f: () => 1 }, { mode, timeoutMs: 2000 }))).to.be.instanceOf(ValueEncodeError);
      }
      expect(await rejection(rpc.a!.call(cyclic, { timeoutMs: 2000 }))).to.be.instanceOf(ValueEncodeError);
      await net.settled();
      expect(traffic(net).messages).to.equal(0);
      expect(await rpc.a!.call('fine', { timeoutMs: 2000 })).to.have.length(1);
    });

    it("reports a garbage frame as a ProtocolError on 'error' naming the sender, and keeps serving", async () => {
      const { rpc, t, net } = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      const errors = record<[Error]>(rpc.a!, 'error');
      await t.b!.send('a', new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
      await net.settled();
      expect(errors.events).to.have.length(1);
      const [error] = errors.events[0]!;
      expect(error).to.be.instanceOf(ProtocolError);
      expect(error).to.have.property('from', 'b');
      expect(error.message).to.include("from 'b'");
      expect(await rpc.a!.call('x', { timeoutMs: 2000 })).to.deep.equal([{ from: 'b', reply: { request: 'x', by: 'b' } }]);
      expect(await rpc.b!.call('y', { timeoutMs: 2000 })).to.deep.equal([{ from: 'a', reply: { request: 'y', by: 'a' } }]);
    });

    it("reports a malformed error reply as a ProtocolError on 'error' and ignores replies to calls it never made", async () => {
      const { rpc, t, net } = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      const errors = record<[Error]>(rpc.a!, 'error');
      const late = record(rpc.a!, 'lateReply');
      await t.b!.send('a', encodeFrame({ kind: FrameKind.Error, channel: 'q', id: 1, body: 'not [name, message]' }));
      await t.b!.send('a', encodeFrame({ kind: FrameKind.Reply, channel: 'q', id: 999, body: 'unsolicited' }));
      await net.settled();
      expect(errors.events.map(([e]) => [e.name, e.message])).to.deep.equal([
        ['ProtocolError', "malformed error reply from 'b' on channel 'q'"],
      ]);
      expect(late.events).to.deep.equal([]);
      expect(await rpc.a!.call('x', { timeoutMs: 2000 })).to.deep.equal([{ from: 'b', reply: { request: 'x', by: 'b' } }]);
    });

    it('lets two channels of different names share one transport without interfering', async () => {
      const net = new InMemoryNetwork();
      const channels = (id: string): [RpcChannel, RpcChannel] => {
        const t = net.transport(id);
        return [new RpcChannel(t, 'x', (r) => `x:${id}:${String(r)}`), new RpcChannel(t, 'y', (r) => `y:${id}:${String(r)}`)];
      };
      const [ax, ay] = channels('a');
      channels('b');
      channels('c');
      await net.settled();
      const [xs, ys] = await Promise.all([ax.call(1, { timeoutMs: 2000 }), ay.call(2, { timeoutMs: 2000 })]);
      expect(byFrom(xs)).to.deep.equal([
        { from: 'b', reply: 'x:b:1' },
        { from: 'c', reply: 'x:c:1' },
      ]);
      expect(byFrom(ys)).to.deep.equal([
        { from: 'b', reply: 'y:b:2' },
        { from: 'c', reply: 'y:c:2' },
      ]);
    });

    it('refuses a second channel of the same name on one transport', async () => {
      const { t } = await cluster({ a: answeredBy('a') });
      const error = thrown(() => new RpcChannel(t.a!, 'q'));
      expect(error).to.be.instanceOf(ChannelInUseError);
      expect((error as ChannelInUseError).message).to.include("'q'").and.to.include('use another name');
    });

    it('starts its transport if it is not started', async () => {
      const net = new InMemoryNetwork();
      const b = net.transport('b');
      await b.start();
      const bSeesA = once(b, 'peerUp', (id) => id === 'a');
      const rpc = new RpcChannel(net.transport('a'), 'q');
      await rpc.ready();
      await bSeesA;
      expect(net.members()).to.deep.equal(['a', 'b']);
    });

    it('keeps the transport running when one of two channels on it closes', async () => {
      const net = new InMemoryNetwork();
      const a = net.transport('a');
      const first = new RpcChannel(a, 'one');
      new RpcChannel(a, 'two', answeredBy('a'));
      const b = new RpcChannel(net.transport('b'), 'two', answeredBy('b'));
      await net.settled();
      const downs = record(b.transport, 'peerDown');
      await first.close();
      await net.settled();
      expect(downs.events).to.deep.equal([]);
      expect(net.members()).to.deep.equal(['a', 'b']);
      expect(await b.call('still there?', { timeoutMs: 2000 })).to.deep.equal([{ from: 'a', reply: { request: 'still there?', by: 'a' } }]);
    });

    it('stops the transport when its last channel closes: peers see peerDown', async () => {
      const net = new InMemoryNetwork();
      const a = net.transport('a');
      const first = new RpcChannel(a, 'one');
      const second = new RpcChannel(a, 'two');
      const b = new RpcChannel(net.transport('b'), 'two');
      await net.settled();
      const downs = record(b.transport, 'peerDown');
      await first.close();
      await second.close();
      await net.settled();
      expect(downs.events).to.deep.equal([['a']]);
      expect(net.members()).to.deep.equal(['b']);
    });

    it('closes when its member crashes: close is emitted and calls reject with StoppedError', async () => {
      const { rpc, net } = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      const closed = once(rpc.a!, 'close');
      net.crash('a');
      await closed;
      expect(rpc.a!.isClosed).to.equal(true);
      expect(await rejection(rpc.a!.call('x', { timeoutMs: 2000 }))).to.be.instanceOf(StoppedError);
    });

    it("starts a crashed member's transport again when a new channel opens on it", async () => {
      const { rpc, t, net } = await cluster({ a: answeredBy('a'), b: answeredBy('b') });
      net.crash('a');
      await net.settled();
      expect(rpc.a!.isClosed).to.equal(true);
      const reopened = new RpcChannel(t.a!, 'q', answeredBy('a again'));
      await reopened.ready();
      await net.settled();
      expect(net.members()).to.deep.equal(['a', 'b']);
      expect(await reopened.call('x', { timeoutMs: 2000 })).to.deep.equal([{ from: 'b', reply: { request: 'x', by: 'b' } }]);
      expect(await rpc.b!.call('y', { timeoutMs: 2000 })).to.deep.equal([{ from: 'a', reply: { request: 'y', by: 'a again' } }]);
    });
  });
});
