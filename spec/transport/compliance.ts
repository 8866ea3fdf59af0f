/**
 * The compliance suite every {@link Transport} must pass, whatever carries its frames (the
 * in-memory network, TCP, a user's message broker). A transport's spec calls
 * {@link transportCompliance} with a factory for its own harness.
 *
 * The suite waits for explicit events (`peerUp`, `message`, ...) rather than for quiescence, so it
 * holds on a real network where "settled" can only mean "the awaited event arrived". `settle()` is
 * used only to make a negative assertion ("nothing more arrived") after the positive one.
 *
 * @module
 */
import { expect } from 'chai';
import type { Transport } from '../../lib/index.js';
import { collect, once, record, rejection } from '../helpers/events.js';
import { numberedFrame, sameBytes, sequenceOf } from '../helpers/frames.js';

/** One cluster under test, fresh for every test. */
export interface TransportHarness {
  /** Creates one transport per id, all able to reach each other, none started. */
  transports(ids: string[]): Promise<Transport[]>;
  /**
   * Resolves once everything already in flight (frames and peer events) has been delivered, or
   * once the transport could plausibly deliver it (a real transport may wait for a short quiet
   * period). Used only before asserting that something did *not* happen.
   */
  settle(): Promise<void>;
  /** Kills a member without a goodbye, when the transport can simulate that. */
  crash?: (id: string) => Promise<void>;
  /** Stops every transport and frees what the harness holds (sockets, servers). */
  teardown(): Promise<void>;
}

/** Builds a fresh harness; called before every test. */
export type TransportHarnessFactory = () => Promise<TransportHarness>;

type MessageArgs = [from: string, frame: Uint8Array];
type PeerArgs = [id: string];

/**
 * Defines a `describe` block that checks `Transport`'s contract (ids, lifecycle, peer events,
 * ordered intact delivery, rejections, asynchronous delivery, `on`/`off`) against the transports
 * a harness from `factory` creates.
 */
export function transportCompliance(name: string, factory: TransportHarnessFactory): void {
  describe(`${name} (Transport compliance)`, () => {
    let harness: TransportHarness;

    beforeEach(async () => {
      harness = await factory();
    });

    afterEach(async () => {
      await harness.teardown();
    });

    /** Creates and starts the members, and resolves once every one has seen every other come up. */
    async function cluster(ids: string[]): Promise<Transport[]> {
      const transports = await harness.transports(ids);
      const ups = transports.flatMap((t) =>
        transports.filter((o) => o !== t).map((o) => once<PeerArgs>(t, 'peerUp', (id) => id === o.id)),
      );
      await Promise.all(transports.map((t) => t.start()));
      await Promise.all(ups);
      return transports;
    }

    it('has the id it was created with', async () => {
      const [a, b] = await harness.transports(['alpha', 'beta']);
      expect(a!.id).to.equal('alpha');
      expect(b!.id).to.equal('beta');
    });

    it('shows each started member to the other with peerUp', async () => {
      const [a, b] = await harness.transports(['a', 'b']);
      const aSeesB = once<PeerArgs>(a!, 'peerUp');
      const bSeesA = once<PeerArgs>(b!, 'peerUp');
      await a!.start();
      await b!.start();
      expect(await aSeesB).to.deep.equal(['b']);
      expect(await bSeesA).to.deep.equal(['a']);
    });

    it('treats a second start() as a no-op: it resolves and peers see a single peerUp', async () => {
      const [a, b] = await harness.transports(['a', 'b']);
      const ups = record<PeerArgs>(b!, 'peerUp');
      const bSeesA = once(b!, 'peerUp');
      await b!.start();
      await Promise.all([a!.start(), a!.start()]);
      await a!.start();
      await bSeesA;
      await harness.settle();
      expect(ups.events).to.deep.equal([['a']]);
      expect(a!.peers()).to.deep.equal(['b']);
      expect(b!.peers()).to.deep.equal(['a']);
    });

    it('treats a second stop() as a no-op: it resolves and peers see a single peerDown', async () => {
      const [a, b] = await cluster(['a', 'b']);
      const downs = record<PeerArgs>(b!, 'peerDown');
      const bSeesAGo = once(b!, 'peerDown');
      await Promise.all([a!.stop(), a!.stop()]);
      await a!.stop();
      await bSeesAGo;
      await harness.settle();
      expect(downs.events).to.deep.equal([['a']]);
      expect(b!.peers()).to.deep.equal([]);
    });

    it('lists the other live members in peers(), sorted and without itself', async () => {
      const [carol, alice, bob] = await cluster(['carol', 'alice', 'bob']);
      expect(carol!.peers()).to.deep.equal(['alice', 'bob']);
      expect(alice!.peers()).to.deep.equal(['bob', 'carol']);
      expect(bob!.peers()).to.deep.equal(['alice', 'carol']);
    });

    it('shows a stopped member to the others with peerDown and drops it from peers()', async () => {
      const [a, b, c] = await cluster(['a', 'b', 'c']);
      const bSeesAGo = once<PeerArgs>(b!, 'peerDown');
      const cSeesAGo = once<PeerArgs>(c!, 'peerDown');
      await a!.stop();
      expect(await bSeesAGo).to.deep.equal(['a']);
      expect(await cSeesAGo).to.deep.equal(['a']);
      expect(b!.peers()).to.deep.equal(['c']);
      expect(c!.peers()).to.deep.equal(['b']);
    });

    it('delivers 200 frames per sender intact, from the right sender, in the order sent', async () => {
      const [a, b, c] = await cluster(['a', 'b', 'c']);
      const count = 200;
      const arrived = collect<MessageArgs>(b!, 'message', 2 * count);
      const sends: Promise<void>[] = [];
      for (let seq = 0; seq < count; seq++) {
        sends.push(a!.send('b', numberedFrame(seq)));
        sends.push(c!.send('b', numberedFrame(10_000 + seq)));
      }
      await Promise.all(sends);
      const frames = await arrived;
      for (const [sender, offset] of [['a', 0], ['c', 10_000]] as const) {
        const mine = frames.filter(([from]) => from === sender).map(([, frame]) => frame);
        expect(mine.map(sequenceOf)).to.deep.equal(Array.from({ length: count }, (_, i) => offset + i));
        mine.forEach((frame, i) => {
          expect(sameBytes(frame, numberedFrame(offset + i)), `frame ${i} from '${sender}'`).to.equal(true);
        });
      }
    });

    it('delivers a frame only to its addressee', async () => {
      const [a, b, c] = await cluster(['a', 'b', 'c']);
      const atC = record<MessageArgs>(c!, 'message');
      const atB = once<MessageArgs>(b!, 'message');
      await a!.send('b', numberedFrame(1));
      const [from, frame] = await atB;
      expect(from).to.equal('a');
      expect(sequenceOf(frame)).to.equal(1);
      await harness.settle();
      expect(atC.events).to.deep.equal([]);
    });

    it('delivers a 1 MiB frame intact', async () => {
      const [a, b] = await cluster(['a', 'b']);
      const big = numberedFrame(7, 1024 * 1024);
      const arrived = once<MessageArgs>(b!, 'message');
      await a!.send('b', big);
      const [from, frame] = await arrived;
      expect(from).to.equal('a');
      expect(frame.byteLength).to.equal(1024 * 1024);
      expect(sameBytes(frame, big)).to.equal(true);
    });

    it('never calls a message listener inside send()', async () => {
      const [a, b] = await cluster(['a', 'b']);
      let insideSend = false;
      const calledInside: boolean[] = [];
      b!.on('message', () => {
        calledInside.push(insideSend);
      });
      const arrived = collect(b!, 'message', 3);
      for (let seq = 0; seq < 3; seq++) {
        insideSend = true;
        const sent = a!.send('b', numberedFrame(seq));
        insideSend = false;
        await sent;
      }
      await arrived;
      expect(calledInside).to.deep.equal([false, false, false]);
    });

    it('rejects send() to a member that does not exist', async () => {
      const [a] = await cluster(['a', 'b']);
      const error = await rejection(a!.send('nobody', numberedFrame(1)));
      expect(error).to.be.instanceOf(Error);
    });

    it('rejects send() to a member that stopped', async () => {
      const [a, b] = await cluster(['a', 'b']);
      const aSeesBGo = once(a!, 'peerDown');
      await b!.stop();
      await aSeesBGo;
      const error = await rejection(a!.send('b', numberedFrame(1)));
      expect(error).to.be.instanceOf(Error);
    });

    it('rejects send() once the sender itself stopped', async () => {
      const [a] = await cluster(['a', 'b']);
      await a!.stop();
      const error = await rejection(a!.send('b', numberedFrame(1)));
      expect(error).to.be.instanceOf(Error);
    });

    it('rejects send() before start()', async () => {
      const [a, b] = await harness.transports(['a', 'b']);
      await b!.start();
      const error = await rejection(a!.send('b', numberedFrame(1)));
      expect(error).to.be.instanceOf(Error);
    });

    it('stops calling a listener removed with off() and keeps calling the others', async () => {
      const [a, b] = await cluster(['a', 'b']);
      const removed: number[] = [];
      const kept: number[] = [];
      const removedListener = (_from: string, frame: Uint8Array): void => {
        removed.push(sequenceOf(frame));
      };
      b!.on('message', removedListener);
      b!.on('message', (_from, frame) => {
        kept.push(sequenceOf(frame));
      });
      const first = once(b!, 'message');
      await a!.send('b', numberedFrame(1));
      await first;
      b!.off('message', removedListener);
      // Both listeners hear one emission together, so once the kept one heard frame 2, the
      // removed one would have too.
      const second = once(b!, 'message');
      await a!.send('b', numberedFrame(2));
      await second;
      expect(removed).to.deep.equal([1]);
      expect(kept).to.deep.equal([1, 2]);
    });

    it('lets a stopped member start again and be seen with peerUp', async () => {
      const [a, b] = await cluster(['a', 'b']);
      const bSeesAGo = once(b!, 'peerDown');
      await a!.stop();
      await bSeesAGo;
      const bSeesACome = once<PeerArgs>(b!, 'peerUp');
      const aSeesB = once<PeerArgs>(a!, 'peerUp');
      await a!.start();
      expect(await bSeesACome).to.deep.equal(['a']);
      expect(await aSeesB).to.deep.equal(['b']);
      const arrived = once<MessageArgs>(b!, 'message');
      await a!.send('b', numberedFrame(3));
      expect(sequenceOf((await arrived)[1])).to.equal(3);
    });

    it('shows a crashed member to the others with peerDown, and send() to it rejects', async function () {
      const crash = harness.crash;
      if (crash === undefined) {
        this.skip();
      }
      const [, b, c] = await cluster(['a', 'b', 'c']);
      const bSeesAGo = once<PeerArgs>(b!, 'peerDown');
      const cSeesAGo = once<PeerArgs>(c!, 'peerDown');
      await crash('a');
      expect(await bSeesAGo).to.deep.equal(['a']);
      expect(await cSeesAGo).to.deep.equal(['a']);
      expect(b!.peers()).to.deep.equal(['c']);
      expect(await rejection(b!.send('a', numberedFrame(1)))).to.be.instanceOf(Error);
    });
  });
}
