/**
 * A real cluster over TCP (or TLS): members find each other through seeds and gossip, prove they
 * share the cluster secret, keep one connection per pair, and declare a silent member gone within
 * a bounded time. This file is the facade: the lifecycle and the public API. The work is done by
 * collaborators sharing this transport's state: sockets.ts (listening, dialling), connection.ts
 * and handshake.ts (one connection), links.ts (one connection per pair), discovery.ts (seeds,
 * gossip, reconnection) and failure-detector.ts (heartbeats and timeouts on the clock).
 *
 * @module
 */
import { publishPeerError } from '../../diagnostics/peer-error.js';
import { randomUUID } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import {
  AuthenticationError,
  ClusterMismatchError,
  DuplicateIdError,
  HandshakeTimeout,
  LazyReplicatedMapError,
  PeerUnreachableError,
  TransportStoppedError,
} from '../../errors.js';
import type { Transport, TransportEvents } from '../transport.js';
import { Connection, type ConnectionHost } from './connection.js';
import { Discovery, type Target } from './discovery.js';
import { FailureDetector } from './failure-detector.js';
import { LinkTable } from './links.js';
import { REPEAT_REPORT_INTERVAL_MS, ReportLimiter } from './report-limiter.js';
import { resolveTcpOptions, type ResolvedTcpOptions } from './resolve-options.js';
import { dial, listen, unlisten } from './sockets.js';
import type { TcpClock, TcpTransportOptions } from './tcp-options.js';
import { TcpCounters, type HandshakeFailureReason, type TcpStats } from './tcp-stats.js';

/** Lifecycle of a TCP transport. */
export type TcpTransportState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * A {@link Transport} over TCP, optionally TLS.
 *
 * Errors: peer faults and misconfigurations found while running (a refused handshake on either
 * side, an unreachable or malformed seed, a bad frame) are emitted as `'error'`; with no
 * `'error'` listener they become process warnings (`process.emitWarning`), never silence.
 *
 * @example
 * ```ts
 * const t = new TcpTransport({ id: 'a', host: '127.0.0.1', port: 0, seeds: ['127.0.0.1:4000'], secret: 's3cret' });
 * t.on('error', (e) => console.error(e.name, e.message));
 * await t.start();          // resolves once listening; seeds are contacted in the background
 * console.log(t.address);   // '127.0.0.1:53211'
 * ```
 */
export class TcpTransport extends EventEmitter<TransportEvents> implements Transport {
  /** This member's id. */
  readonly id: string;
  private readonly options: ResolvedTcpOptions;
  private readonly clock: TcpClock;
  private readonly counters = new TcpCounters();
  private readonly links: LinkTable;
  private readonly limiter: ReportLimiter;
  private readonly discovery: Discovery;
  private readonly detector: FailureDetector;
  private server: Server | undefined;
  private bound: string | undefined;
  private lifecycle: TcpTransportState = 'new';
  private incarnation = randomUUID();
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private readonly dialing = new Map<Connection, Target>();
  /** With `mustJoin`: settles `start()` once a peer is met, or fails it at the deadline. */
  private joinWait: { deadline: number; resolve: () => void; reject: (error: Error) => void } | undefined;

  /**
   * @param options see {@link TcpTransportOptions}.
   * @throws {TypeError} for an option of the wrong type (`id` missing, `seeds` not an array).
   * @throws {RangeError} for an invalid number (0, negative, NaN, a fraction where an integer is
   *   needed) or a `seeds`/`advertise` entry that is not `host:port`, naming the option.
   */
  constructor(options: TcpTransportOptions) {
    super();
    this.options = resolveTcpOptions(options);
    this.id = this.options.id;
    this.clock = this.options.clock;
    this.links = new LinkTable(this.id, () => this.clock.now());
    this.limiter = new ReportLimiter(() => this.clock.now());
    // The collaborators read the lifecycle and the address live, through these getters.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.discovery = new Discovery({
      id: this.id,
      options: this.options,
      links: this.links,
      counters: this.counters,
      get address() {
        return self.address;
      },
      running: () => this.lifecycle === 'running',
      ended: () => this.lifecycle === 'stopping' || this.lifecycle === 'stopped',
      dial: (target) => {
        this.dial(target);
      },
      report: (error, source) => {
        this.report(error, source);
      },
      recovered: (source) => {
        this.limiter.forget(source);
      },
    });
    this.detector = new FailureDetector({
      clock: this.clock,
      links: this.links,
      counters: this.counters,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      failureTimeoutMs: this.options.failureTimeoutMs,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs,
      afterTick: () => {
        this.discovery.tick();
        this.checkJoinDeadline();
      },
    });
  }

  /** The `host:port` actually bound (after `start()`), as advertised to other members. */
  get address(): string {
    if (this.bound === undefined) throw new TransportStoppedError(`transport '${this.id}' is not listening: await start() first`);
    return this.options.advertise ?? this.bound;
  }

  /**
   * The largest frame this member accepts, in bytes (option `maxFrameBytes`): announced to the
   * other members when they meet (in the TCP handshake and the library's hello), so that nobody
   * sends it a frame it would refuse; maps and RPC channels refuse larger calls at the caller.
   */
  get maxFrameBytes(): number {
    return this.options.maxFrameBytes;
  }

  /** Where the transport is in its life. */
  get state(): TcpTransportState {
    return this.lifecycle;
  }

  /**
   * Listens, then contacts the seeds in the background. Resolves once listening; with `mustJoin`,
   * once connected to another member, or rejects with `JoinTimeoutError` (and stops) when none
   * was met within `joinTimeoutMs`. Idempotent.
   */
  start(): Promise<void> {
    if (this.lifecycle === 'stopping' || this.lifecycle === 'stopped') {
      // A stopped transport may start again: a new incarnation, as a restarted process would be.
      if (this.stopPromise !== undefined && this.lifecycle === 'stopping') return this.stopPromise.then(() => this.start());
      this.startPromise = undefined;
      this.stopPromise = undefined;
      this.incarnation = randomUUID();
    }
    this.startPromise ??= this.listen();
    return this.startPromise;
  }

  private async listen(): Promise<void> {
    this.lifecycle = 'starting';
    const { server, bound } = await listen(
      this.options,
      (socket) => {
        this.accept(socket);
      },
      (error) => {
        this.report(error);
      },
    );
    this.server = server;
    this.bound = bound;
    this.lifecycle = 'running';
    if (!this.options.mustJoin) {
      this.detector.start();
      return;
    }
    const met = new Promise<void>((resolve, reject) => {
      this.joinWait = { deadline: this.clock.now() + this.options.joinTimeoutMs, resolve, reject };
    });
    this.detector.start();
    try {
      await met;
    } catch (error) {
      await this.shutdown();
      throw error;
    }
  }

  private checkJoinDeadline(): void {
    const wait = this.joinWait;
    if (wait === undefined) return;
    if (this.links.links.size > 0) {
      this.joinWait = undefined;
      wait.resolve();
    } else if (this.clock.now() >= wait.deadline) {
      this.joinWait = undefined;
      wait.reject(this.discovery.joinTimeout());
    }
  }

  /** Says goodbye to every peer (they see `peerDown` at once), closes everything. Idempotent. */
  stop(): Promise<void> {
    if (this.lifecycle === 'new' || this.lifecycle === 'stopped') {
      this.lifecycle = 'stopped';
      return Promise.resolve();
    }
    // A start() still waiting to meet a member (mustJoin) fails now rather than at its deadline.
    const wait = this.joinWait;
    this.joinWait = undefined;
    wait?.reject(new TransportStoppedError(`transport '${this.id}' was stopped before it met another member`));
    this.stopPromise ??= (this.startPromise ?? Promise.resolve()).catch(() => undefined).then(() => this.shutdown());
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    if (this.lifecycle === 'stopped') return;
    this.lifecycle = 'stopping';
    this.detector.stop();
    this.discovery.clear();
    const connections = [...this.links.open];
    const peers = [...this.links.links.keys()];
    this.links.links.clear();
    await Promise.all(connections.map((c) => c.bye()));
    await unlisten(this.server);
    this.server = undefined;
    this.bound = undefined;
    this.lifecycle = 'stopped';
    this.discovery.checkJoined();
    for (const p of peers) this.emit('peerDown', p);
    this.emit('close');
  }

  /** Ids of the members connected now, sorted. */
  peers(): string[] {
    return [...this.links.links.keys()].sort();
  }

  /**
   * Queues a frame for `to`. Rejects when `to` is not connected, when its queue is full, or with a
   * `FrameRefusedError` when `to` declared a smaller `maxFrameBytes` (the connection stays up).
   */
  send(to: string, frame: Uint8Array): Promise<void> {
    if (this.lifecycle !== 'running') {
      return Promise.reject(new TransportStoppedError(`transport '${this.id}' is not running: call start() first`));
    }
    const link = this.links.links.get(to);
    if (link === undefined) return Promise.reject(new PeerUnreachableError(to));
    try {
      link.send(frame);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Resolves once the members this one can find now have been tried: every seed answered or failed
   * once, every member learned by gossip was dialled, and every peer connected so far has said
   * whom it knows. Maps wait for it before asking for the map's state, so `map.start()` really
   * knows every key. Resolves at once without seeds (callers bound the wait; use `mustJoin` to
   * make `start()` fail when no member can be met).
   *
   * Rejects, once every seed was tried, when this member is connected to nobody and at least one
   * member it reached refused it for a reason waiting cannot fix: the refusal's
   * {@link AuthenticationError} (another `secret`), {@link DuplicateIdError} (its id is taken) or
   * {@link ClusterMismatchError} (another `cluster` or TCP protocol version). `map.start()` then
   * rejects with it rather than run alone. Seeds nobody answers at are no such reason.
   */
  joined(): Promise<void> {
    return this.discovery.joined();
  }

  /** Counters: connections now, frames and bytes, handshake failures by reason, reconnects, failures detected. */
  stats(): TcpStats {
    return this.counters.snapshot(this.links.counts());
  }

  /**
   * Emits `error` to its listeners, or as a process warning when nobody listens: never silently.
   * This is the one place a transport fault is reported (maps and channels do not repeat it). A
   * fault that repeats from one `source` (a seed's address, a peer) is reported at once, then at
   * most once per {@link REPEAT_REPORT_INTERVAL_MS}, saying how many were held back.
   */
  private report(error: Error, source?: string): void {
    if (source !== undefined) {
      const { report, held } = this.limiter.admit(`${error.name}\0${source}`);
      if (!report) return;
      if (held > 0) error.message += ` [${held} more like it from ${source} in the last ${Math.round(REPEAT_REPORT_INTERVAL_MS / 1000)} s were not reported]`;
    }
    publishPeerError('transport', this.id, error);
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error);
  }

  // ------------------------------------------------------------------ connections

  /** What a connection reads of this transport, with the current incarnation and address. */
  private hostView(): ConnectionHost {
    const o = this.options;
    return {
      id: this.id,
      incarnation: this.incarnation,
      address: this.address,
      cluster: o.cluster,
      secret: o.secret,
      terms: { heartbeatIntervalMs: o.heartbeatIntervalMs, failureTimeoutMs: o.failureTimeoutMs, hasSecret: o.secret !== '', maxFrameBytes: o.maxFrameBytes },
      counters: this.counters,
      maxFrameBytes: o.maxFrameBytes,
      maxQueueBytes: o.maxQueueBytes,
      now: () => this.clock.now(),
      admit: (peer) => this.links.admit(peer),
      redundant: (c) => this.links.redundant(c),
      established: (c) => {
        this.established(c);
        this.discovery.checkJoined();
        this.checkJoinDeadline();
      },
      closed: (c, error) => {
        this.closed(c, error);
        this.discovery.checkJoined();
      },
      data: (c, frame) => {
        // Only the connection kept for a peer delivers: a superseded one may still drain.
        if (c.peer !== undefined && this.links.links.get(c.peer.id) === c) this.emit('message', c.peer.id, frame);
      },
      gossip: (c, members) => {
        this.discovery.learn(c, members);
      },
      oversize: (c, error) => {
        this.report(error, c.peer?.id ?? c.remote);
      },
    };
  }

  private accept(socket: Socket): void {
    if (this.lifecycle !== 'running') {
      socket.destroy();
      return;
    }
    // Strangers may open connections without ever authenticating: beyond the cap, a new one is
    // closed before it can cost anything (its bytes are never read).
    if (this.links.pendingIncoming() >= this.options.maxPendingConnections) {
      this.counters.handshakeFailures.pendingLimit++;
      socket.destroy();
      return;
    }
    this.links.open.add(new Connection(socket, 'in', this.hostView()));
  }

  private dial(target: Target): void {
    const host = this.hostView();
    const box: { connection?: Connection } = {};
    const socket = dial(target.hostPort, this.options.tls, () => {
      box.connection?.hello();
    });
    const connection = new Connection(socket, 'out', host, target.address);
    box.connection = connection;
    this.links.open.add(connection);
    this.dialing.set(connection, target);
  }

  private established(c: Connection): void {
    const target = this.dialing.get(c);
    this.dialing.delete(c);
    const peer = c.peer;
    if (peer === undefined) return;
    if (target !== undefined) this.discovery.reached(target, peer.id);
    this.limiter.forget(peer.id);
    this.discovery.remember(peer.address, peer.id);
    const change = this.links.adopt(c, peer);
    if (change.down !== undefined) this.emit('peerDown', change.down);
    if (change.up === undefined) return;
    this.emit('peerUp', change.up);
    this.discovery.broadcast();
  }

  private closed(c: Connection, error?: Error): void {
    const wasLink = this.links.release(c);
    const target = this.dialing.get(c);
    this.dialing.delete(c);
    // A connection closed in its handshake failed, unless it was only redundant (routine).
    if (c.peerTerms === undefined && !c.redundant) {
      this.counters.handshakeFailures[failureReason(error)]++;
      if (target !== undefined) this.discovery.failed(target, c, error);
    } else if (target !== undefined) {
      this.discovery.failed(target, c, undefined);
    }
    // Peer faults (bad handshake, oversize or malformed frames) are reported; plain socket errors
    // (refused, reset) are the ordinary life of a network and only end the connection.
    if (error instanceof LazyReplicatedMapError && this.lifecycle === 'running') this.report(error, target?.address ?? c.peer?.id ?? remoteHost(c.remote));
    const peer = c.peer;
    if (!wasLink || peer === undefined) return;
    this.discovery.lost(c);
    this.emit('peerDown', peer.id);
  }
}

/** The host of `host:port` (an incoming connection's port changes at every attempt). */
function remoteHost(remote: string): string {
  const colon = remote.lastIndexOf(':');
  return colon === -1 ? remote : remote.slice(0, colon);
}

/** Which counter a failed handshake goes to. */
function failureReason(error: Error | undefined): HandshakeFailureReason {
  if (error instanceof AuthenticationError) return 'secret';
  if (error instanceof DuplicateIdError) return 'id';
  if (error instanceof ClusterMismatchError) return 'cluster';
  if (error instanceof HandshakeTimeout) return 'timeout';
  if (error instanceof LazyReplicatedMapError) return 'malformed';
  return 'closed';
}
