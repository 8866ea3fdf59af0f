/**
 * What the TCP transport's specs share: a member factory on 127.0.0.1 with quick timings (every
 * transport made is stopped by `stopAllMembers()` in `afterEach`), waits for members to meet and
 * exchange frames, a fake clock for the failure detector, and a count of open handles.
 *
 * @module
 */
import { expect } from 'chai';
import { TcpTransport, type TcpClock, type TcpTransportOptions } from '../../../lib/index.js';
import { within } from '../../helpers/deadline.js';
import { once } from '../../helpers/events.js';
import { numberedFrame, sameBytes } from '../../helpers/frames.js';

export type PeerArgs = [id: string];
export type MessageArgs = [from: string, frame: Uint8Array];
export type ErrorArgs = [error: Error];

/** How long any single expected event may take on loopback before the test fails naming it. */
export const EVENT_MS = 5000;

/** Every transport a test made; all stopped in `afterEach`. */
export const created: TcpTransport[] = [];

/** A transport on 127.0.0.1 with quick timings (each test overrides what it is about). */
export function member(id: string, options: Partial<TcpTransportOptions> = {}): TcpTransport {
  const t = new TcpTransport({
    id,
    host: '127.0.0.1',
    port: 0,
    heartbeatIntervalMs: 50,
    failureTimeoutMs: 1000,
    maxReconnectDelayMs: 200,
    ...options,
  });
  created.push(t);
  return t;
}

/** The addresses of the given transports that are listening now: a `seeds` function. */
export function addressesOf(...ts: TcpTransport[]): () => string[] {
  return () => ts.flatMap((t) => (t.state === 'running' ? [t.address] : []));
}

/** Starts `ts` and resolves once every one has seen every other come up. */
export async function connected(...ts: TcpTransport[]): Promise<void> {
  const ups = ts.flatMap((t) => ts.filter((o) => o !== t).map((o) => once<PeerArgs>(t, 'peerUp', (id) => id === o.id)));
  for (const t of ts) await t.start();
  await within(Promise.all(ups), EVENT_MS, `members ${ts.map((t) => t.id).join(', ')} to see each other`);
}

/** Sends one frame each way between `x` and `y` and checks it arrives intact from the right sender. */
export async function roundTrip(x: TcpTransport, y: TcpTransport, seq: number): Promise<void> {
  for (const [from, to] of [[x, y], [y, x]] as const) {
    const arrived = once<MessageArgs>(to, 'message', (sender) => sender === from.id);
    await from.send(to.id, numberedFrame(seq));
    const [, frame] = await within(arrived, EVENT_MS, `frame ${seq} from '${from.id}' at '${to.id}'`);
    expect(sameBytes(frame, numberedFrame(seq))).to.equal(true);
  }
}

/** A fake {@link TcpClock}: time moves only when the test says so, and intervals fire on the way. */
export class FakeClock implements TcpClock {
  time = 1_000_000;
  private readonly timers = new Map<number, { callback: () => void; ms: number; due: number }>();
  private nextHandle = 1;

  now(): number {
    return this.time;
  }

  setInterval(callback: () => void, ms: number): unknown {
    const handle = this.nextHandle++;
    this.timers.set(handle, { callback, ms, due: this.time + ms });
    return handle;
  }

  clearInterval(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Intervals registered and not cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** The period of the (single) interval the transport runs. */
  get period(): number {
    const [first] = this.timers.values();
    if (first === undefined) throw new Error('no interval is running');
    return first.ms;
  }

  /** Moves time forward by `ms`, firing each interval at every due time on the way, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: { callback: () => void; ms: number; due: number } | undefined;
      for (const t of this.timers.values()) if (t.due <= end && (next === undefined || t.due < next.due)) next = t;
      if (next === undefined) break;
      this.time = next.due;
      next.due += next.ms;
      next.callback();
    }
    this.time = end;
  }

  /**
   * Moves time forward by `ms` with nothing firing (the event loop was held up), then fires every
   * interval that came due once, late, as Node's timers do, each next due a period later.
   */
  stall(ms: number): void {
    this.time += ms;
    for (const t of [...this.timers.values()]) {
      if (t.due > this.time) continue;
      t.due = this.time + t.ms;
      t.callback();
    }
  }
}

/** Counts of the active handles a transport could leave behind. */
export function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = { TCPServerWrap: 0, TCPSocketWrap: 0, TLSWrap: 0, Timeout: 0 };
  for (const r of process.getActiveResourcesInfo()) if (r in counts) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** Stops every transport `member()` made; for `afterEach`. */
export async function stopAllMembers(): Promise<void> {
  await Promise.all(created.map((t) => t.stop()));
  created.length = 0;
}
