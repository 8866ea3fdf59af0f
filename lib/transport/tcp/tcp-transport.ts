/**
 * A real cluster over TCP (or TLS): members find each other through seeds and gossip, prove they
 * share the cluster secret, keep one connection per pair, and declare a silent member gone within
 * a bounded time.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { LazyReplicatedMapError, PeerUnreachableError, TransportConfigError, TransportStoppedError } from '../../errors.js';
import type { Transport, TransportEvents } from '../transport.js';
import { Connection, type ConnectionHost, type PeerIdentity } from './connection.js';
import {
  DEFAULT_FAILURE_TIMEOUT_MS,
  DEFAULT_FORGET_AFTER_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_RECONNECT_DELAY_MS,
  systemClock,
  type TcpClock,
  type TcpTransportOptions,
} from './tcp-options.js';

/** Lifecycle of a TCP transport. */
export type TcpTransportState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/** A place to (re)connect to: a seed, or a member learned by gossip or lost without a goodbye. */
interface Target {
  readonly address: string;
  /** Known member id at that address, if any (seeds start unknown). */
  id: string | undefined;
  readonly seed: boolean;
  attempts: number;
  nextAttemptAt: number;
  /** When the member was lost; forgotten after `forgetAfterMs` (never for seeds). */
  lostAt: number | undefined;
  connecting: boolean;
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new TransportConfigError(`'${address}' is not a host:port address`);
  }
  return { host, port };
}

/**
 * A {@link Transport} over TCP, optionally TLS.
 *
 * @example
 * ```ts
 * const t = new TcpTransport({ id: 'a', host: '127.0.0.1', port: 0, seeds: ['127.0.0.1:4000'], secret: 's3cret' });
 * await t.start();          // resolves once listening; seeds are contacted in the background
 * console.log(t.address);   // '127.0.0.1:53211'
 * ```
 */
export class TcpTransport extends EventEmitter<TransportEvents> implements Transport {
  /** This member's id. */
  readonly id: string;
  private readonly options: Required<Omit<TcpTransportOptions, 'secret' | 'tls' | 'advertise' | 'seeds' | 'clock'>> & {
    secret: string;
    tls: TcpTransportOptions['tls'];
    advertise: string | undefined;
    seeds: () => readonly string[];
  };
  private readonly clock: TcpClock;
  private server: Server | undefined;
  private bound: string | undefined;
  private lifecycle: TcpTransportState = 'new';
  private incarnation = randomUUID();
  private ticker: unknown;
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  /** The established connection of each peer: one per pair. */
  private readonly links = new Map<string, Connection>();
  /** Every open connection, handshaking or established. */
  private readonly open = new Set<Connection>();
  private readonly targets = new Map<string, Target>();
  private readonly handshakeTimers = new Map<Connection, number>();

  /** @param options see {@link TcpTransportOptions}. */
  constructor(options: TcpTransportOptions) {
    super();
    if (typeof options.id !== 'string' || options.id.length === 0) throw new TransportConfigError('option `id` must be a non-empty string');
    this.id = options.id;
    const seeds = options.seeds;
    this.options = {
      id: options.id,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      seeds: typeof seeds === 'function' ? seeds : () => seeds ?? [],
      advertise: options.advertise,
      cluster: options.cluster ?? 'lazy-replicated-map',
      secret: options.secret ?? '',
      tls: options.tls,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      maxQueueBytes: options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
      failureTimeoutMs: options.failureTimeoutMs ?? DEFAULT_FAILURE_TIMEOUT_MS,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      maxPendingConnections: options.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS,
      forgetAfterMs: options.forgetAfterMs ?? DEFAULT_FORGET_AFTER_MS,
    };
    this.clock = options.clock ?? systemClock;
  }

  /** The `host:port` actually bound (after `start()`), as advertised to other members. */
  get address(): string {
    if (this.bound === undefined) throw new TransportStoppedError(`transport '${this.id}' is not listening: await start() first`);
    return this.options.advertise ?? this.bound;
  }

  /** Where the transport is in its life. */
  get state(): TcpTransportState {
    return this.lifecycle;
  }

  /** Listens, then contacts the seeds in the background. Resolves once listening. Idempotent. */
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
    const server = this.options.tls === undefined ? createServer() : createTlsServer(this.options.tls);
    server.on(this.options.tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
      this.accept(socket);
    });
    server.on('tlsClientError', (error: Error) => this.emit('error', error));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error: Error) => this.emit('error', error));
    this.server = server;
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new TransportConfigError('server has no TCP address');
    this.bound = `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    this.lifecycle = 'running';
    // The failure detector looks at every tick: a member is declared gone at most one tick after
    // its timeout, so the tick is a twentieth of the timeout (never more than half a heartbeat
    // interval, so idle connections get their heartbeats in time).
    const tickMs = Math.max(5, Math.floor(Math.min(this.options.heartbeatIntervalMs / 2, this.options.failureTimeoutMs / 20)));
    this.ticker = this.clock.setInterval(() => {
      this.tick();
    }, tickMs);
    this.tick();
  }

  /** Says goodbye to every peer (they see `peerDown` at once), closes everything. Idempotent. */
  stop(): Promise<void> {
    if (this.lifecycle === 'new' || this.lifecycle === 'stopped') {
      this.lifecycle = 'stopped';
      return Promise.resolve();
    }
    this.stopPromise ??= this.shutdown();
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    await this.startPromise?.catch(() => undefined);
    this.lifecycle = 'stopping';
    if (this.ticker !== undefined) this.clock.clearInterval(this.ticker);
    this.ticker = undefined;
    this.targets.clear();
    const connections = [...this.open];
    const peers = [...this.links.keys()];
    this.links.clear();
    await Promise.all(connections.map((c) => c.bye()));
    await new Promise<void>((resolve) => {
      if (this.server === undefined) {
        resolve();
        return;
      }
      this.server.close(() => {
        resolve();
      });
    });
    this.server = undefined;
    this.bound = undefined;
    this.lifecycle = 'stopped';
    this.checkJoined();
    for (const p of peers) this.emit('peerDown', p);
    this.emit('close');
  }

  /** Ids of the members connected now, sorted. */
  peers(): string[] {
    return [...this.links.keys()].sort();
  }

  /** Queues a frame for `to`. Rejects when `to` is not connected or its queue is full. */
  send(to: string, frame: Uint8Array): Promise<void> {
    if (this.lifecycle !== 'running') {
      return Promise.reject(new TransportStoppedError(`transport '${this.id}' is not running: call start() first`));
    }
    const link = this.links.get(to);
    if (link === undefined) return Promise.reject(new PeerUnreachableError(to));
    try {
      link.send(frame);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ------------------------------------------------------------------ connections

  /** What a connection reads of this transport, with the current incarnation and address. */
  private hostView(): ConnectionHost {
    return {
      id: this.id,
      incarnation: this.incarnation,
      address: this.address,
      cluster: this.options.cluster,
      secret: this.options.secret,
      maxFrameBytes: this.options.maxFrameBytes,
      maxQueueBytes: this.options.maxQueueBytes,
      now: () => this.clock.now(),
      admit: (peer) => this.admit(peer),
      redundant: (c) => this.redundant(c),
      established: (c) => {
        this.established(c);
        this.checkJoined();
      },
      closed: (c, error) => {
        this.closed(c, error);
        this.checkJoined();
      },
      data: (c, frame) => {
        // Only the connection kept for a peer delivers: a superseded one may still drain.
        if (c.peer !== undefined && this.links.get(c.peer.id) === c) this.emit('message', c.peer.id, frame);
      },
      gossip: (c, members) => {
        this.gossiped.add(c);
        this.learn(members);
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
    let pending = 0;
    for (const c of this.open) if (c.direction === 'in' && c.state === 'handshaking') pending++;
    if (pending >= this.options.maxPendingConnections) {
      socket.destroy();
      return;
    }
    this.track(new Connection(socket, 'in', this.hostView()));
  }

  private dial(target: Target): void {
    let address: { host: string; port: number };
    try {
      address = splitAddress(target.address);
    } catch (error) {
      this.emit('error', error as Error);
      this.targets.delete(target.address);
      return;
    }
    target.connecting = true;
    target.attempts++;
    const socket =
      this.options.tls === undefined
        ? createConnection(address)
        : tlsConnect({ ...this.options.tls, host: address.host, port: address.port });
    const connection = new Connection(socket, 'out', this.hostView());
    this.track(connection, target);
    socket.once(this.options.tls === undefined ? 'connect' : 'secureConnect', () => {
      connection.hello();
    });
  }

  private track(connection: Connection, target?: Target): void {
    this.open.add(connection);
    this.handshakeTimers.set(connection, this.clock.now() + this.options.handshakeTimeoutMs);
    if (target !== undefined) this.dialing.set(connection, target);
  }

  private readonly dialing = new Map<Connection, Target>();

  /** The acceptor's check of a newcomer's claimed identity. */
  private admit(peer: PeerIdentity): string | undefined {
    if (peer.id === this.id) return `id '${peer.id}' is this member's own id: give every member its own id`;
    const existing = this.links.get(peer.id);
    if (existing !== undefined && existing.peer !== undefined && existing.peer.incarnation !== peer.incarnation) {
      // Another process claims a live member's id. A restarted member is welcome once its old
      // connection is found dead (closed, or silent past the failure timeout).
      const silent = this.clock.now() - existing.lastHeard > this.options.failureTimeoutMs;
      if (!silent) return `id '${peer.id}' is already used by a live member at ${existing.peer.address}: give every member its own id`;
    }
    return undefined;
  }

  /**
   * Whether `c` (authenticated, not yet usable by either side) would be a second connection to its
   * peer. Two members that dial each other at once used to establish both and then drop one,
   * losing or reordering the frames in flight on it. The rule, the same on both sides: an
   * established connection wins; otherwise the one opened by the smaller id (of two opened by
   * one member, the earlier). Only authenticated connections count (established, or outgoing past
   * the peer's Welcome): an unproven Hello claiming the peer's identity must not block the peer.
   */
  private redundant(c: Connection): string | undefined {
    const peer = c.peer;
    if (peer === undefined) return undefined;
    const opener = (x: Connection): string => (x.direction === 'out' ? this.id : peer.id);
    for (const o of this.open) {
      if (o === c || o.state === 'closed' || o.peer?.id !== peer.id || o.peer.incarnation !== peer.incarnation) continue;
      if (o.state === 'established') return `already connected to member '${peer.id}'`;
      if (o.direction === 'out' && opener(o) <= opener(c)) return `a connection to member '${peer.id}' opened by '${opener(o)}' is under way`;
    }
    return undefined;
  }

  /**
   * Resolves once the members this one can find now have been tried: every seed answered or failed
   * once, every member learned by gossip was dialled, and every peer connected so far has said
   * whom it knows. Maps wait for it before asking for the map's state, so `map.start()` really
   * knows every key. Resolves at once without seeds; never rejects (callers bound the wait).
   */
  joined(): Promise<void> {
    if (this.discoveryDone()) return Promise.resolve();
    return new Promise((resolve) => {
      this.joinWaiters.push(resolve);
    });
  }

  private readonly gossiped = new WeakSet<Connection>();
  private joinWaiters: Array<() => void> = [];

  private discoveryDone(): boolean {
    if (this.lifecycle !== 'running') return this.lifecycle === 'stopped' || this.lifecycle === 'stopping';
    for (const c of this.links.values()) if (!this.gossiped.has(c)) return false;
    for (const t of this.targets.values()) {
      const linked = t.id !== undefined && (t.id === this.id || this.links.has(t.id));
      if (!linked && (t.attempts === 0 || t.connecting)) return false;
    }
    return true;
  }

  /** Wakes `joined()` callers when discovery has gone quiet. */
  private checkJoined(): void {
    if (this.joinWaiters.length === 0 || !this.discoveryDone()) return;
    for (const resolve of this.joinWaiters.splice(0)) resolve();
  }

  private established(c: Connection): void {
    this.handshakeTimers.delete(c);
    const target = this.dialing.get(c);
    this.dialing.delete(c);
    const peer = c.peer;
    if (peer === undefined) return;
    if (target !== undefined) {
      target.connecting = false;
      target.attempts = 0;
      target.id = peer.id;
      target.lostAt = undefined;
    }
    this.rememberTarget(peer.address, peer.id);
    const existing = this.links.get(peer.id);
    if (existing !== undefined && existing !== c) {
      if (existing.peer?.incarnation !== peer.incarnation) {
        // The peer restarted: its old incarnation is gone for good.
        existing.superseded = true;
        existing.close();
        this.links.delete(peer.id);
        this.emit('peerDown', peer.id);
      } else {
        // Both sides dialled at once: keep the connection the smaller id opened, on both sides alike.
        const opener = (x: Connection): string => (x.direction === 'out' ? this.id : peer.id);
        const keep = opener(c) < opener(existing) ? c : existing;
        const drop = keep === c ? existing : c;
        drop.superseded = true;
        drop.close();
        if (keep === existing) return;
        this.links.set(peer.id, c);
        return;
      }
    }
    this.links.set(peer.id, c);
    this.emit('peerUp', peer.id);
    this.broadcastGossip();
  }

  private closed(c: Connection, error?: Error): void {
    this.open.delete(c);
    this.handshakeTimers.delete(c);
    const target = this.dialing.get(c);
    this.dialing.delete(c);
    if (target !== undefined) {
      target.connecting = false;
      target.nextAttemptAt = this.clock.now() + this.backoff(target.attempts);
      // Who answers at that address is known now (its proof passed): while it stays connected
      // another way, tick() need not dial it again only to be turned down as a duplicate.
      if (c.peer !== undefined) target.id = c.peer.id;
    }
    // Peer faults (bad handshake, oversize or malformed frames) are reported; plain socket errors
    // (refused, reset) are the ordinary life of a network and only end the connection.
    if (error instanceof LazyReplicatedMapError && this.lifecycle === 'running') this.emit('error', error);
    const peer = c.peer;
    if (peer === undefined || this.links.get(peer.id) !== c || c.superseded) return;
    this.links.delete(peer.id);
    if (this.lifecycle === 'running') {
      if (c.saidBye) {
        const t = this.targets.get(peer.address);
        if (t !== undefined && !t.seed) this.targets.delete(peer.address);
      } else {
        const t = this.rememberTarget(peer.address, peer.id);
        t.lostAt ??= this.clock.now();
        t.nextAttemptAt = this.clock.now();
      }
    }
    this.emit('peerDown', peer.id);
  }

  // ------------------------------------------------------------------ membership

  private rememberTarget(address: string, id: string | undefined, seed = false): Target {
    let t = this.targets.get(address);
    if (t === undefined) {
      // A member learned second-hand counts as lost from the start: if it never answers, forget it.
      t = { address, id, seed, attempts: 0, nextAttemptAt: this.clock.now(), lostAt: seed ? undefined : this.clock.now(), connecting: false };
      this.targets.set(address, t);
    }
    if (id !== undefined) t.id = id;
    return t;
  }

  private learn(members: Array<[string, string]>): void {
    for (const [id, address] of members) {
      if (id === this.id || this.links.has(id)) continue;
      this.rememberTarget(address, id);
    }
    this.tick();
  }

  private broadcastGossip(): void {
    const members: Array<[string, string]> = [[this.id, this.address]];
    for (const [id, c] of this.links) if (c.peer !== undefined) members.push([id, c.peer.address]);
    for (const c of this.links.values()) c.sendGossip(members);
  }

  private backoff(attempts: number): number {
    return Math.min(this.options.maxReconnectDelayMs, 100 * 2 ** Math.min(attempts, 16));
  }

  /** Heartbeats, failure detection, handshake deadlines and (re)connection attempts. */
  private tick(): void {
    if (this.lifecycle !== 'running') return;
    const now = this.clock.now();
    for (const seed of this.options.seeds()) {
      if (seed !== this.address) this.rememberTarget(seed, undefined, true);
    }
    for (const c of this.links.values()) {
      if (now - c.lastHeard > this.options.failureTimeoutMs) c.close();
      else c.heartbeat(this.options.heartbeatIntervalMs);
    }
    for (const [c, deadline] of this.handshakeTimers) if (now > deadline) c.close();
    for (const t of [...this.targets.values()]) {
      if (t.id !== undefined && this.links.has(t.id)) continue;
      if (t.id === this.id) continue;
      if (!t.seed && t.lostAt !== undefined && now - t.lostAt > this.options.forgetAfterMs) {
        this.targets.delete(t.address);
        continue;
      }
      if (t.connecting || now < t.nextAttemptAt) continue;
      this.dial(t);
    }
    this.checkJoined();
  }
}
