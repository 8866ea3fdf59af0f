/**
 * Frames sent in one turn of the event loop leave in one write, in that turn, even when a group
 * is sent from the end of the turn (the map's WriteCoalescer): over TCP that used to take one more
 * iteration of the event loop, because the connection's uncork was queued from inside an
 * immediate (see lib/transport/end-of-turn.ts). The order of events is asserted, not timings.
 *
 * @module
 */
import { Socket } from 'node:net';
import { expect } from 'chai';
import { WriteCoalescer } from '../../../lib/map/write-coalescer.js';
import { within } from '../../helpers/deadline.js';
import { collect } from '../../helpers/events.js';
import { sameBytes } from '../../helpers/frames.js';
import { EVENT_MS, addressesOf, connected, member, stopAllMembers, type MessageArgs } from './tcp-helpers.js';

type Chunk = { chunk: Uint8Array };
type WriteFn = (this: Socket, ...args: unknown[]) => unknown;

/** Records, in order, each write system call's frames among `frames` (by index), and other marks. */
function recordWrites(frames: readonly Uint8Array[], events: Array<string | number[]>): () => void {
  const proto = Socket.prototype as unknown as { _writev: WriteFn; _write: WriteFn };
  const writev = proto._writev;
  const write = proto._write;
  const ours = (chunks: Uint8Array[]): void => {
    const found = chunks.flatMap((c) => frames.flatMap((f, i) => (sameBytes(c, f) ? [i] : [])));
    if (found.length > 0) events.push(found);
  };
  proto._writev = function (this: Socket, ...args: unknown[]) {
    ours((args[0] as Chunk[]).map((c) => c.chunk));
    return writev.apply(this, args);
  };
  proto._write = function (this: Socket, ...args: unknown[]) {
    ours([args[0] as Uint8Array]);
    return write.apply(this, args);
  };
  return () => {
    proto._writev = writev;
    proto._write = write;
  };
}

/** A frame of 64 bytes that no handshake or heartbeat looks like. */
const frame = (n: number): Uint8Array => new Uint8Array(64).fill(0xa0 + n);

describe('TCP writes at the end of a turn', () => {
  afterEach(async () => {
    await stopAllMembers();
  });

  it("sends a group flushed at the end of the turn with the turn's other frames, in one write, before the next iteration", async () => {
    // No heartbeat in the window: only the test's frames are written.
    const a = member('a', { heartbeatIntervalMs: 10_000, failureTimeoutMs: 30_000 });
    const b = member('b', { heartbeatIntervalMs: 10_000, failureTimeoutMs: 30_000, seeds: addressesOf(a) });
    await connected(a, b);
    const frames = [frame(0), frame(1), frame(2)];
    const arrived = collect<MessageArgs>(b, 'message', frames.length);
    const events: Array<string | number[]> = [];
    const restore = recordWrites(frames, events);
    try {
      // Groups the way the map sends them: a write with nothing in flight leaves at once; once its
      // group is acknowledged, the writes its writers make next (in the same turn) wait for the
      // end of the turn and leave together. That is every write at one in flight. The request
      // awaits before it writes, as RpcChannel.call does.
      const coalescer = new WriteCoalescer<number>(async (items) => {
        if (items.includes(1)) {
          // Queued from the end of the turn: an immediate of the next iteration of the loop.
          setImmediate(() => events.push('next iteration'));
        }
        await Promise.resolve();
        for (const i of items) await a.send('b', frames[i] as Uint8Array);
      });
      await new Promise<void>((resolve, reject) => {
        // A macrotask, as the arrival of an acknowledgement is.
        setTimeout(() => {
          coalescer
            .add(0)
            .then(() => {
              // Released by the acknowledgement of the first group, in the same turn.
              void coalescer.add(1);
              void coalescer.add(2);
              resolve();
            })
            .catch(reject);
        }, 0);
      });
      await within(arrived, EVENT_MS, 'the three frames at b');
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      restore();
    }
    expect(events).to.deep.equal([[0, 1, 2], 'next iteration']);
  });
});
