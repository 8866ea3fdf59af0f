/**
 * The transport's clockwork, on an injectable clock: heartbeats on idle links, the failure
 * detector (a peer silent past the failure timeout the pair agreed on is declared gone),
 * handshake deadlines, and the discovery's (re)connection attempts.
 *
 * @module
 */
import { HandshakeTimeout } from '../../errors.js';
import type { Connection } from './connection.js';
import type { LinkTable } from './links.js';
import type { TcpClock } from './tcp-options.js';
import type { TcpCounters } from './tcp-stats.js';

/** What the detector needs from its transport. */
export interface FailureDetectorHost {
  readonly clock: TcpClock;
  readonly links: LinkTable;
  readonly counters: TcpCounters;
  readonly heartbeatIntervalMs: number;
  readonly failureTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  /** Runs after the checks on every tick (discovery). */
  afterTick(): void;
}

/** Heartbeats, failure detection and handshake deadlines, every tick. */
export class FailureDetector {
  private ticker: unknown;
  private readonly host: FailureDetectorHost;
  /** When the last tick ran (see {@link tick}). */
  private lastTick: number | undefined;

  constructor(host: FailureDetectorHost) {
    this.host = host;
  }

  /**
   * The detector looks at every tick: a member is declared gone at most one tick after its
   * timeout, so the tick is a twentieth of the timeout (never more than half a heartbeat
   * interval, so idle connections get their heartbeats in time).
   */
  get tickMs(): number {
    const h = this.host;
    return Math.max(5, Math.floor(Math.min(h.heartbeatIntervalMs / 2, h.failureTimeoutMs / 20)));
  }

  start(): void {
    this.lastTick = undefined;
    this.ticker = this.host.clock.setInterval(() => {
      this.tick();
    }, this.tickMs);
    this.tick();
  }

  stop(): void {
    if (this.ticker !== undefined) this.host.clock.clearInterval(this.ticker);
    this.ticker = undefined;
  }

  tick(): void {
    const { clock, links, counters } = this.host;
    const now = clock.now();
    // Timers run before the sockets are polled: when this member's own event loop was held up (a
    // long task, GC, a machine short of CPU), what peers sent meanwhile still waits unread, and
    // that much of their silence is this member's, not theirs. A tick counts a peer's silence
    // without how late it came itself. (Counting it closed every connection of a member that woke
    // from a stall longer than the timeout, and on a loaded machine the failovers and state
    // transfers that followed held up the others in turn.)
    const late = this.lastTick === undefined ? 0 : Math.max(0, now - this.lastTick - this.tickMs);
    this.lastTick = now;
    for (const c of [...links.links.values()]) {
      if (now - c.lastHeard - late > c.failureTimeoutMs) {
        counters.peersDeclaredDown++;
        c.close();
      } else {
        c.heartbeat(this.host.heartbeatIntervalMs);
      }
    }
    for (const c of [...links.open]) if (c.state === 'handshaking' && now - c.openedAt > this.host.handshakeTimeoutMs) this.expire(c);
    this.host.afterTick();
  }

  private expire(c: Connection): void {
    c.close(new HandshakeTimeout(`no handshake within ${this.host.handshakeTimeoutMs} ms (option handshakeTimeoutMs)`));
  }
}

// Declared here first; every error class now lives in errors.ts.
export { HandshakeTimeout } from '../../errors.js';
