import { expect } from 'chai';
import {
  FrameKind,
  InMemoryNetwork,
  MSG_BACKUP,
  PeerUnreachableError,
  RpcChannel,
  TransportConfigError,
  TransportStoppedError,
  encodeFrame,
  type InMemoryNetworkOptions,
  type InMemoryTransport,
} from '../../../lib/index.js';
import { record, rejection, thrown } from '../../helpers/events.js';
import { numberedFrame, sequenceOf } from '../../helpers/frames.js';

type MessageArgs = [from: string, frame: Uint8Array];

/** Creates and starts members, and waits until each has seen the others come up. */
async function members(net: InMemoryNetwork, ids: string[]): Promise<InMemoryTransport[]> {
  const transports = ids.map((id) => net.transport(id));
  await Promise.all(transports.map((t) => t.start()));
  await net.settled();
  return transports;
}

/** Everything a transport emits, as `'peerUp a'`, `'peerDown a'`, `'message a 3'`, `'close'`. */
function eventLog(t: InMemoryTransport): string[] {
  const log: string[] = [];
  t.on('peerUp', (id) => log.push(`peerUp ${id}`));
  t.on('peerDown', (id) => log.push(`peerDown ${id}`));
  t.on('message', (from, frame) => log.push(`message ${from} ${sequenceOf(frame)}`));
  t.on('close', () => log.push('close'));
  return log;
}

/** Sequence numbers of the frames `t` received from `from`, in arrival order. */
function received(t: InMemoryTransport, from?: string): number[] {
  const seqs: number[] = [];
  t.on('message', (sender, frame) => {
    if (from === undefined || sender === from) seqs.push(sequenceOf(frame));
  });
  return seqs;
}

const range = (n: number, offset = 0): number[] => Array.from({ length: n }, (_, i) => offset + i);

/** One turn of the event loop: one delivery round of the network. */
const turn = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

describe('InMemoryNetwork', () => {
  describe('transport()', () => {
    it('returns the same transport when asked twice for one id', () => {
      const net = new InMemoryNetwork();
      expect(net.transport('a')).to.equal(net.transport('a'));
      expect(net.transport('a')).to.not.equal(net.transport('b'));
    });

    it('rejects an empty member id with a TransportConfigError', () => {
      expect(thrown(() => new InMemoryNetwork().transport(''))).to.be.instanceOf(TransportConfigError);
    });

    it('lists the started members in members(), sorted', async () => {
      const net = new InMemoryNetwork();
      await members(net, ['c', 'a', 'b']);
      net.transport('idle');
      expect(net.members()).to.deep.equal(['a', 'b', 'c']);
    });
  });

  describe('delivery', () => {
    it('delivers the frames of each sender/receiver pair in the order sent by default', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c] = await members(net, ['a', 'b', 'c']);
      const atBFromA = received(b!, 'a');
      const atBFromC = received(b!, 'c');
      const atA = received(a!, 'b');
      for (let seq = 0; seq < 300; seq++) {
        void a!.send('b', numberedFrame(seq));
        void c!.send('b', numberedFrame(1000 + seq));
        void b!.send('a', numberedFrame(2000 + seq));
      }
      await net.settled();
      expect(atBFromA).to.deep.equal(range(300));
      expect(atBFromC).to.deep.equal(range(300, 1000));
      expect(atA).to.deep.equal(range(300, 2000));
    });

    it('delivers a copy of the frame, so the sender may reuse its buffer right after send()', async () => {
      const net = new InMemoryNetwork();
      const [a, b] = await members(net, ['a', 'b']);
      const frames = record<MessageArgs>(b!, 'message');
      const buffer = numberedFrame(5, 16);
      await a!.send('b', buffer);
      buffer.fill(0);
      await net.settled();
      expect(frames.events.map(([, f]) => [...f])).to.deep.equal([[...numberedFrame(5, 16)]]);
    });

    it('rejects send() from a member that was never started with a TransportStoppedError', async () => {
      const net = new InMemoryNetwork();
      await members(net, ['b']);
      const error = await rejection(net.transport('a').send('b', numberedFrame(1)));
      expect(error).to.be.instanceOf(TransportStoppedError);
    });

    it('rejects send() to an unknown member and to itself with a PeerUnreachableError naming the member', async () => {
      const net = new InMemoryNetwork();
      const [a] = await members(net, ['a', 'b']);
      const unknown = await rejection(a!.send('nobody', numberedFrame(1)));
      expect(unknown).to.be.instanceOf(PeerUnreachableError);
      expect((unknown as PeerUnreachableError).peer).to.equal('nobody');
      const self = await rejection(a!.send('a', numberedFrame(1)));
      expect(self).to.be.instanceOf(PeerUnreachableError);
      expect((self as PeerUnreachableError).peer).to.equal('a');
    });

    it('still delivers what a member sent before a graceful stop, then shows it gone', async () => {
      const net = new InMemoryNetwork();
      const [a, b] = await members(net, ['a', 'b']);
      const log = eventLog(b!);
      for (let seq = 0; seq < 3; seq++) void a!.send('b', numberedFrame(seq));
      await a!.stop();
      await net.settled();
      expect(log).to.deep.equal(['message a 0', 'message a 1', 'message a 2', 'peerDown a']);
    });

    it('emits close on the transport of a member that stops', async () => {
      const net = new InMemoryNetwork();
      const [a] = await members(net, ['a', 'b']);
      const closes = record(a!, 'close');
      await a!.stop();
      await a!.stop();
      expect(closes.events).to.have.length(1);
    });
  });

  describe('crash()', () => {
    it('drops the traffic queued to and from the crashed member', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c] = await members(net, ['a', 'b', 'c']);
      const logA = eventLog(a!);
      const logB = eventLog(b!);
      const logC = eventLog(c!);
      for (let seq = 0; seq < 5; seq++) {
        void a!.send('b', numberedFrame(seq));
        void b!.send('a', numberedFrame(seq));
        void b!.send('c', numberedFrame(seq));
      }
      net.crash('a');
      await net.settled();
      expect(logA).to.deep.equal(['close']);
      expect(logB).to.deep.equal(['peerDown a']);
      expect(logC).to.deep.equal(['message b 0', 'message b 1', 'message b 2', 'message b 3', 'message b 4', 'peerDown a']);
    });

    it('drops the frames a member crashed mid-round still had due in that round', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c] = await members(net, ['a', 'b', 'c']);
      const logC = eventLog(c!);
      // Both frames are due in the same round; the first one's handler crashes b.
      b!.on('message', () => {
        net.crash('b');
      });
      void a!.send('b', numberedFrame(0));
      void b!.send('c', numberedFrame(1));
      await net.settled();
      expect(logC).to.deep.equal(['peerDown b']);
    });

    it('removes the crashed member from every view and rejects sends to and from it', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c] = await members(net, ['a', 'b', 'c']);
      net.crash('a');
      await net.settled();
      expect(net.members()).to.deep.equal(['b', 'c']);
      expect(a!.peers()).to.deep.equal([]);
      expect(b!.peers()).to.deep.equal(['c']);
      expect(c!.peers()).to.deep.equal(['b']);
      expect(await rejection(b!.send('a', numberedFrame(1)))).to.be.instanceOf(PeerUnreachableError);
      expect(await rejection(a!.send('b', numberedFrame(1)))).to.be.instanceOf(TransportStoppedError);
    });

    it('is a no-op for a member that is not running: no second close, no second peerDown', async () => {
      const net = new InMemoryNetwork();
      const [a, b] = await members(net, ['a', 'b']);
      const logA = eventLog(a!);
      const logB = eventLog(b!);
      net.crash('a');
      net.crash('a');
      net.crash('nobody');
      await net.settled();
      expect(logA).to.deep.equal(['close']);
      expect(logB).to.deep.equal(['peerDown a']);
    });

    it('lets a crashed member start again: it sees the others, they see it with peerUp, traffic flows', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c] = await members(net, ['a', 'b', 'c']);
      const logA = eventLog(a!);
      const logB = eventLog(b!);
      net.crash('a');
      await net.settled();
      await a!.start();
      await net.settled();
      expect(logB).to.deep.equal(['peerDown a', 'peerUp a']);
      expect(logA.filter((e) => e.startsWith('peer')).sort()).to.deep.equal(['peerUp b', 'peerUp c']);
      expect(a!.peers()).to.deep.equal(['b', 'c']);
      expect(c!.peers()).to.deep.equal(['a', 'b']);
      await a!.send('b', numberedFrame(9));
      await net.settled();
      expect(logB).to.deep.equal(['peerDown a', 'peerUp a', 'message a 9']);
    });
  });

  describe('partition()', () => {
    it('lets no traffic cross between groups while traffic within a group flows', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c, d] = await members(net, ['a', 'b', 'c', 'd']);
      net.partition(['a', 'b'], ['c', 'd']);
      await net.settled();
      expect(a!.peers()).to.deep.equal(['b']);
      expect(d!.peers()).to.deep.equal(['c']);
      expect(await rejection(a!.send('c', numberedFrame(1)))).to.be.instanceOf(PeerUnreachableError);
      expect(await rejection(d!.send('b', numberedFrame(1)))).to.be.instanceOf(PeerUnreachableError);
      const atB = received(b!);
      const atC = received(c!);
      await a!.send('b', numberedFrame(2));
      await d!.send('c', numberedFrame(3));
      await net.settled();
      expect(atB).to.deep.equal([2]);
      expect(atC).to.deep.equal([3]);
    });

    it('drops frames queued across the cut, both ways, but not those within a group', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c] = await members(net, ['a', 'b', 'c']);
      const atA = received(a!);
      const atB = received(b!);
      const atC = received(c!);
      for (let seq = 0; seq < 3; seq++) {
        void a!.send('c', numberedFrame(seq));
        void c!.send('a', numberedFrame(10 + seq));
        void a!.send('b', numberedFrame(20 + seq));
      }
      net.partition(['a', 'b'], ['c']);
      await net.settled();
      expect(atA).to.deep.equal([]);
      expect(atB).to.deep.equal([20, 21, 22]);
      expect(atC).to.deep.equal([]);
    });

    it('drops frames queued across a cut even when their sender stopped before the cut', async () => {
      const net = new InMemoryNetwork();
      const [a, c] = await members(net, ['a', 'c']);
      const atC = received(c!);
      void a!.send('c', numberedFrame(1));
      await a!.stop();
      net.partition(['a'], ['c']);
      await net.settled();
      expect(atC).to.deep.equal([]);
    });

    it('drops frames queued across a cut even when the partition heals before they were due', async () => {
      const net = new InMemoryNetwork();
      const [a, c] = await members(net, ['a', 'c']);
      const atC = received(c!);
      void a!.send('c', numberedFrame(1));
      net.partition(['a'], ['c']);
      net.heal();
      await a!.send('c', numberedFrame(2));
      await net.settled();
      expect(atC).to.deep.equal([2]);
    });

    it('still shows a member across the cut gone when it crashes before that news was due', async () => {
      // Delays make the cut's peerDown wait some rounds; the crash comes before it arrives.
      const net = new InMemoryNetwork({ seed: 7, delay: { min: 3, max: 3 } });
      const [a, b] = await members(net, ['a', 'b', 'c']);
      const logs = [a, b].map((t) => eventLog(t!));
      net.partition(['a'], ['b', 'c']);
      net.crash('b');
      await net.settled();
      // a was cut off from b before b crashed: it must learn b is down, once.
      expect(logs[0]!.filter((e) => e.endsWith(' b'))).to.deep.equal(['peerDown b']);
      expect(logs[1]).to.deep.equal(['close']);
    });

    it('shows each side the members of the other side disappear', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c] = await members(net, ['a', 'b', 'c']);
      const logs = [a, b, c].map((t) => eventLog(t!));
      net.partition(['a', 'b'], ['c']);
      await net.settled();
      expect(logs[0]).to.deep.equal(['peerDown c']);
      expect(logs[1]).to.deep.equal(['peerDown c']);
      expect(logs[2]!.sort()).to.deep.equal(['peerDown a', 'peerDown b']);
    });

    it('cuts a member named in no group off from every named member', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c, d] = await members(net, ['a', 'b', 'c', 'd']);
      const logC = eventLog(c!);
      net.partition(['a'], ['b']);
      await net.settled();
      expect(logC.sort()).to.deep.equal(['peerDown a', 'peerDown b']);
      expect(a!.peers()).to.deep.equal([]);
      expect(b!.peers()).to.deep.equal([]);
      // The members named nowhere are cut from the named ones; among themselves they stay together.
      expect(c!.peers()).to.deep.equal(['d']);
      expect(d!.peers()).to.deep.equal(['c']);
      expect(await rejection(c!.send('a', numberedFrame(1)))).to.be.instanceOf(PeerUnreachableError);
    });

    it('replaces the previous partition with a new one, reporting only the changes', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c] = await members(net, ['a', 'b', 'c']);
      net.partition(['a'], ['b', 'c']);
      await net.settled();
      const logs = [a, b, c].map((t) => eventLog(t!));
      net.partition(['a', 'b'], ['c']);
      await net.settled();
      expect(logs[0]).to.deep.equal(['peerUp b']);
      expect(logs[1]!.sort()).to.deep.equal(['peerDown c', 'peerUp a']);
      expect(logs[2]).to.deep.equal(['peerDown b']);
      expect(a!.peers()).to.deep.equal(['b']);
      expect(b!.peers()).to.deep.equal(['a']);
      expect(c!.peers()).to.deep.equal([]);
    });

    it('places a member started during a partition in its group', async () => {
      const net = new InMemoryNetwork();
      const [a, c] = await members(net, ['a', 'c']);
      net.partition(['a', 'b'], ['c']);
      await net.settled();
      const logA = eventLog(a!);
      const logC = eventLog(c!);
      const b = net.transport('b');
      await b.start();
      await net.settled();
      expect(b.peers()).to.deep.equal(['a']);
      expect(logA).to.deep.equal(['peerUp b']);
      expect(logC).to.deep.equal([]);
    });

    it('heal() lets traffic flow again and shows the sides to each other with peerUp', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c] = await members(net, ['a', 'b', 'c']);
      net.partition(['a', 'b'], ['c']);
      await net.settled();
      const logs = [a, b, c].map((t) => eventLog(t!));
      net.heal();
      await net.settled();
      expect(logs[0]).to.deep.equal(['peerUp c']);
      expect(logs[1]).to.deep.equal(['peerUp c']);
      expect(logs[2]!.sort()).to.deep.equal(['peerUp a', 'peerUp b']);
      expect(c!.peers()).to.deep.equal(['a', 'b']);
      await a!.send('c', numberedFrame(4));
      await net.settled();
      expect(logs[2]!.at(-1)).to.equal('message a 4');
    });
  });

  describe('settled()', () => {
    it('resolves only once frames delayed over several rounds have all arrived', async () => {
      const net = new InMemoryNetwork({ seed: 5, delay: { min: 2, max: 6 } });
      const [a, b] = await members(net, ['a', 'b']);
      const atB = received(b!);
      for (let seq = 0; seq < 50; seq++) void a!.send('b', numberedFrame(seq));
      await turn();
      await turn();
      // Every frame is due at least three rounds after it was sent.
      expect(atB).to.deep.equal([]);
      await net.settled();
      expect(atB).to.deep.equal(range(50));
    });

    it('waits for the replies a listener sends to every message', async () => {
      const net = new InMemoryNetwork({ seed: 9, delay: { min: 1, max: 4 } });
      const [a, b] = await members(net, ['a', 'b']);
      b!.on('message', (from, frame) => {
        void b!.send(from, numberedFrame(1000 + sequenceOf(frame)));
      });
      const atA = received(a!);
      for (let seq = 0; seq < 50; seq++) void a!.send('b', numberedFrame(seq));
      await net.settled();
      expect(atA).to.deep.equal(range(50, 1000));
    });

    it('waits for a conversation of many delayed hops, replies sent from promise continuations included', async () => {
      const net = new InMemoryNetwork({ seed: 3, delay: { min: 0, max: 3 } });
      const [a, b] = await members(net, ['a', 'b']);
      const hops: number[] = [];
      for (const t of [a!, b!]) {
        t.on('message', (from, frame) => {
          const hop = sequenceOf(frame);
          hops.push(hop);
          if (hop < 40) {
            void Promise.resolve().then(() => t.send(from, numberedFrame(hop + 1)));
          }
        });
      }
      await a!.send('b', numberedFrame(0));
      await net.settled();
      expect(hops).to.deep.equal(range(41));
    });

    it('waits for replies a listener defers by a full turn of the event loop', async () => {
      const net = new InMemoryNetwork();
      const [a, b] = await members(net, ['a', 'b']);
      const hops: number[] = [];
      for (const t of [a!, b!]) {
        t.on('message', (from, frame) => {
          const hop = sequenceOf(frame);
          hops.push(hop);
          if (hop < 10) {
            // Two turns later: a full turn passes in which nothing happens on the network.
            setImmediate(() => {
              setImmediate(() => {
                void t.send(from, numberedFrame(hop + 1));
              });
            });
          }
        });
      }
      await a!.send('b', numberedFrame(0));
      await net.settled();
      expect(hops).to.deep.equal(range(11));
    });

    it('waits for peer events', async () => {
      const net = new InMemoryNetwork({ seed: 2, delay: { min: 1, max: 5 } });
      const transports = ['a', 'b', 'c'].map((id) => net.transport(id));
      const ups = transports.map((t) => record(t, 'peerUp'));
      await Promise.all(transports.map((t) => t.start()));
      await net.settled();
      expect(ups.map((u) => u.events.length)).to.deep.equal([2, 2, 2]);
    });
  });

  describe('stats()', () => {
    it('counts delivered RPC traffic, by frame kind, to the byte', async () => {
      const net = new InMemoryNetwork();
      const [a, b, c, d] = await members(net, ['a', 'b', 'c', 'd']);
      const rpcA = new RpcChannel(a!, 'echo', (request) => request);
      new RpcChannel(b!, 'echo', (request) => request);
      new RpcChannel(c!, 'echo', () => {
        throw new Error('no');
      });
      new RpcChannel(d!, 'other', () => null);
      await net.settled();
      // Only the hellos the routers exchange when members meet (every pair, both ways, answered).
      const hellos = net.stats().byType.HELLO!;
      expect(net.stats()).to.deep.equal({ messages: hellos.messages, bytes: hellos.bytes, byType: { HELLO: hellos } });
      expect(hellos.messages).to.equal(4 * 3 * 2);

      const replies = await rpcA.call('hi', { mode: 'all', timeoutMs: 5000 });
      expect(replies.map((r) => r.from).sort()).to.deep.equal(['b', 'c']);
      await rpcA.call('note', { mode: 'none' });
      await net.settled();

      const size = (kind: FrameKind, id: number, body: unknown): number => encodeFrame({ kind, channel: 'echo', id, body }).byteLength;
      const request = size(FrameKind.Request, 1, 'hi');
      const reply = size(FrameKind.Reply, 1, 'hi');
      const error = size(FrameKind.Error, 1, ['Error', 'no']);
      const noChannel = size(FrameKind.NoChannel, 1, null);
      const notify = size(FrameKind.Notify, 0, 'note');
      expect(net.stats()).to.deep.equal({
        messages: hellos.messages + 3 + 1 + 1 + 1 + 3,
        bytes: hellos.bytes + 3 * request + reply + error + noChannel + 3 * notify,
        byType: {
          HELLO: hellos,
          RPC_REQUEST: { messages: 3, bytes: 3 * request },
          RPC_REPLY: { messages: 1, bytes: reply },
          RPC_ERROR: { messages: 1, bytes: error },
          RPC_NO_CHANNEL: { messages: 1, bytes: noChannel },
          RPC_NOTIFY: { messages: 3, bytes: 3 * notify },
        },
      });
    });

    it('names map messages by their Tomcat type and counts unclassifiable frames only in the totals', async () => {
      const net = new InMemoryNetwork();
      const [a] = await members(net, ['a', 'b']);
      const backup = encodeFrame({ kind: FrameKind.Request, channel: 'lrm/map/sessions', id: 1, body: [MSG_BACKUP, []] });
      await a!.send('b', backup);
      await a!.send('b', new Uint8Array([0xff, 0x00, 0x13]));
      await net.settled();
      expect(net.stats()).to.deep.equal({
        messages: 2,
        bytes: backup.byteLength + 3,
        byType: { MSG_BACKUP: { messages: 1, bytes: backup.byteLength } },
      });
    });

    it('uses the classify option to name frames', async () => {
      const net = new InMemoryNetwork({ classify: (frame) => (frame.byteLength > 10 ? 'big' : undefined) });
      const [a] = await members(net, ['a', 'b']);
      await a!.send('b', numberedFrame(1, 20));
      await a!.send('b', numberedFrame(2, 5));
      await net.settled();
      expect(net.stats()).to.deep.equal({ messages: 2, bytes: 25, byType: { big: { messages: 1, bytes: 20 } } });
    });

    it('returns a snapshot that the caller cannot change', async () => {
      const net = new InMemoryNetwork({ classify: () => 'x' });
      const [a] = await members(net, ['a', 'b']);
      await a!.send('b', numberedFrame(1, 8));
      await net.settled();
      const snapshot = net.stats();
      snapshot.messages = 100;
      snapshot.byType.x!.messages = 100;
      expect(net.stats()).to.deep.equal({ messages: 1, bytes: 8, byType: { x: { messages: 1, bytes: 8 } } });
    });
  });

  describe('seeded faults', () => {
    /** The order in which `d` receives 30 frames from each of `a`, `b` and `c`, all sent in one go. */
    async function arrivalOrder(options: InMemoryNetworkOptions): Promise<string[]> {
      const net = new InMemoryNetwork(options);
      const [a, b, c, d] = await members(net, ['a', 'b', 'c', 'd']);
      const order: string[] = [];
      d!.on('message', (from, frame) => order.push(`${from}${sequenceOf(frame)}`));
      for (let seq = 0; seq < 30; seq++) for (const t of [a!, b!, c!]) void t.send('d', numberedFrame(seq));
      await net.settled();
      return order;
    }

    it('replays the same delivery order for the same seed, with reorder and delays', async () => {
      const options = { reorder: true, delay: { min: 0, max: 3 } };
      const first = await arrivalOrder({ seed: 11, ...options });
      const second = await arrivalOrder({ seed: 11, ...options });
      const other = await arrivalOrder({ seed: 12, ...options });
      expect(first).to.have.length(90);
      expect(second).to.deep.equal(first);
      expect(other).to.not.deep.equal(first);
      expect([...other].sort()).to.deep.equal([...first].sort());
    });

    it('lets frames of one pair overtake each other with reorder: true', async () => {
      const net = new InMemoryNetwork({ seed: 1, reorder: true });
      const [a, b] = await members(net, ['a', 'b']);
      const atB = received(b!);
      for (let seq = 0; seq < 50; seq++) void a!.send('b', numberedFrame(seq));
      await net.settled();
      expect(atB).to.not.deep.equal(range(50));
      expect([...atB].sort((x, y) => x - y)).to.deep.equal(range(50));
    });

    it('loses every frame with dropRate 1, while send() still resolves and peer events still arrive', async () => {
      const net = new InMemoryNetwork({ dropRate: 1 });
      const [a, b] = await members(net, ['a', 'b']);
      expect(b!.peers()).to.deep.equal(['a']);
      const atB = received(b!);
      const downs = record(b!, 'peerDown');
      await Promise.all(range(20).map((seq) => a!.send('b', numberedFrame(seq))));
      await a!.stop();
      await net.settled();
      expect(atB).to.deep.equal([]);
      expect(downs.events).to.deep.equal([['a']]);
      expect(net.stats().messages).to.equal(0);
    });

    it('delivers every frame twice with duplicateRate 1, in order without reorder', async () => {
      const net = new InMemoryNetwork({ duplicateRate: 1 });
      const [a, b] = await members(net, ['a', 'b']);
      const atB = received(b!);
      for (let seq = 0; seq < 10; seq++) void a!.send('b', numberedFrame(seq));
      await net.settled();
      expect(atB).to.deep.equal(range(10).flatMap((seq) => [seq, seq]));
      expect(net.stats().messages).to.equal(20);
    });

    it('keeps each pair in order under random delays without reorder, but not with it', async () => {
      const delay = { min: 0, max: 8 };
      const inOrder = await arrivalOrder({ seed: 4, delay });
      const byPair = (order: string[], from: string): number[] =>
        order.filter((e) => e.startsWith(from)).map((e) => Number(e.slice(1)));
      for (const from of ['a', 'b', 'c']) expect(byPair(inOrder, from)).to.deep.equal(range(30));
      // The delays are real: senders' frames interleave differently than they were sent.
      const sentOrder = range(30).flatMap((seq) => ['a', 'b', 'c'].map((from) => `${from}${seq}`));
      expect(inOrder).to.not.deep.equal(sentOrder);

      const reordered = await arrivalOrder({ seed: 4, delay, reorder: true });
      expect(['a', 'b', 'c'].some((from) => byPair(reordered, from).join() !== range(30).join())).to.equal(true);
    });

    it('applies settings changed with configure() to frames sent afterwards', async () => {
      const net = new InMemoryNetwork();
      const [a, b] = await members(net, ['a', 'b']);
      const atB = received(b!);
      net.configure({ dropRate: 1 });
      await a!.send('b', numberedFrame(1));
      net.configure({ dropRate: 0, duplicateRate: 1 });
      await a!.send('b', numberedFrame(2));
      await net.settled();
      expect(atB).to.deep.equal([2, 2]);
    });
  });
});
