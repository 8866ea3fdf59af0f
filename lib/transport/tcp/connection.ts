/**
 * One TCP (or TLS) connection to a peer: its handshake, its framing, and its write path with
 * coalescing and backpressure.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { BackpressureError, CodecError, HandshakeError, PeerUnreachableError } from '../../errors.js';
import { FrameDecoder } from './frame-decoder.js';
import { HANDSHAKE_MAX_FRAME_BYTES, REFUSE_DUPLICATE, TCP_PROTOCOL_VERSION, TcpMessage, control, controlBody, header } from './wire.js';

/** Who the peer says it is, once the handshake passed. */
export interface PeerIdentity {
  readonly id: string;
  readonly incarnation: string;
  readonly address: string;
}

/** What a connection needs from its transport. */
export interface ConnectionHost {
  readonly id: string;
  readonly incarnation: string;
  readonly address: string;
  readonly cluster: string;
  readonly secret: string;
  readonly maxFrameBytes: number;
  readonly maxQueueBytes: number;
  now(): number;
  /** The check of a newcomer's identity (on both sides); returns a reason to refuse it, or undefined. */
  admit(peer: PeerIdentity): string | undefined;
  /**
   * Called at the last moment a connection can still be dropped before either side uses it (the
   * connector before its Proof, the acceptor before its Ready): returns a reason when the pair
   * already keeps, or prefers, another connection.
   */
  redundant(connection: Connection): string | undefined;
  established(connection: Connection): void;
  closed(connection: Connection, error?: Error): void;
  data(connection: Connection, frame: Uint8Array): void;
  gossip(connection: Connection, members: Array<[string, string]>): void;
}

/** Lifecycle of a connection. */
export type ConnectionState = 'handshaking' | 'established' | 'closed';

function proof(secret: string, label: string, ...parts: string[]): Buffer {
  // The label keeps a connector's proof from being replayed as an acceptor's, and vice versa.
  return createHmac('sha256', secret).update([label, ...parts].join('\0')).digest();
}

function sameProof(a: Buffer, b: unknown): boolean {
  return b instanceof Uint8Array && b.length === a.length && timingSafeEqual(a, b);
}

/** A connection to one peer. */
export class Connection {
  /** Who initiated it: this member (`'out'`) or the peer (`'in'`). */
  readonly direction: 'in' | 'out';
  /** The peer, once the handshake passed. */
  peer: PeerIdentity | undefined;
  state: ConnectionState = 'handshaking';
  /** When something last arrived, by the host's clock. */
  lastHeard: number;
  /** When something was last sent, by the host's clock. */
  lastSent: number;
  /** The peer said goodbye (so it is not to be retried). */
  saidBye = false;
  /** Replaced by another connection to the same peer: its end is not a peer going away. */
  superseded = false;
  private readonly socket: Socket;
  private readonly host: ConnectionHost;
  private readonly decoder: FrameDecoder;
  private readonly nonce = randomBytes(16).toString('hex');
  private peerNonce = '';
  private corked = false;

  constructor(socket: Socket, direction: 'in' | 'out', host: ConnectionHost) {
    this.socket = socket;
    this.direction = direction;
    this.host = host;
    // Until the peer has authenticated it may send only handshake-sized messages.
    this.decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES, 'the limit before the handshake completes');
    this.lastHeard = host.now();
    this.lastSent = host.now();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    socket.on('error', (error) => {
      this.close(error);
    });
    socket.on('close', () => {
      if (this.endTimer !== undefined) clearTimeout(this.endTimer);
      this.close();
    });
  }

  private endTimer: NodeJS.Timeout | undefined;

  /** Ends the socket gracefully; destroys it if the peer does not finish closing in a second. */
  private end(): void {
    this.socket.end();
    this.endTimer ??= setTimeout(() => this.socket.destroy(), 1000);
  }

  /** Opens the handshake (the connector speaks first). */
  hello(): void {
    this.write(control(TcpMessage.Hello, [this.host.cluster, TCP_PROTOCOL_VERSION, this.host.id, this.host.incarnation, this.host.address, this.nonce]));
  }

  /**
   * Queues a library frame. Writes in one tick are coalesced into one system call (cork/uncork).
   * @throws {PeerUnreachableError} when the connection is not established.
   * @throws {BackpressureError} when more than `maxQueueBytes` are already waiting.
   */
  send(frame: Uint8Array): void {
    if (this.state !== 'established') throw new PeerUnreachableError(this.peer?.id ?? '?');
    if (this.socket.writableLength > this.host.maxQueueBytes) {
      throw new BackpressureError(
        `${this.socket.writableLength} bytes are waiting for member '${this.peer?.id ?? '?'}' (limit ${this.host.maxQueueBytes}, option maxQueueBytes): it does not read fast enough`,
      );
    }
    this.cork();
    this.socket.write(header(TcpMessage.Data, frame.byteLength));
    this.socket.write(frame);
  }

  /** Sends a heartbeat if nothing was sent for `idleMs`. */
  heartbeat(idleMs: number): void {
    if (this.state === 'established' && this.host.now() - this.lastSent >= idleMs) this.write(control(TcpMessage.Heartbeat));
  }

  /** Sends the member list. */
  sendGossip(members: Array<[string, string]>): void {
    if (this.state === 'established') this.write(control(TcpMessage.Gossip, [members]));
  }

  /** Says goodbye and closes once the goodbye is written. */
  bye(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => {
        resolve();
      });
      if (this.state === 'established') this.write(control(TcpMessage.Bye));
      this.state = 'closed';
      // A peer that never acknowledges the end must not hold stop() up.
      this.end();
    });
  }

  /** Closes at once (failure detected, refused, superseded, stopping). */
  close(error?: Error): void {
    const wasClosed = this.state === 'closed';
    this.state = 'closed';
    if (!this.socket.destroyed) this.socket.destroy();
    if (!wasClosed || error !== undefined) this.host.closed(this, error);
  }

  /** Refuses the handshake; a `duplicate` refusal is routine and reported to nobody as an error. */
  private refuse(reason: string, duplicate = false): void {
    this.write(control(TcpMessage.Refuse, duplicate ? [reason, REFUSE_DUPLICATE] : [reason]));
    this.state = 'closed';
    this.end();
    this.host.closed(this, duplicate ? undefined : new HandshakeError(`refused a connection: ${reason}`));
  }

  /** The peer refused: quietly if it keeps another connection with us, as a fault otherwise. */
  private refused(body: unknown[]): void {
    if (body[1] === REFUSE_DUPLICATE) {
      this.close();
      return;
    }
    throw new HandshakeError(`refused by ${this.peer?.id ?? 'a seed'}: ${typeof body[0] === 'string' ? body[0] : 'no reason given'}`);
  }

  private write(bytes: Buffer): void {
    if (this.socket.destroyed) return;
    this.cork();
    this.socket.write(bytes);
  }

  private cork(): void {
    this.lastSent = this.host.now();
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    // Everything written until the end of this turn goes out in one write.
    setImmediate(() => {
      this.corked = false;
      if (!this.socket.destroyed) this.socket.uncork();
    });
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastHeard = this.host.now();
    try {
      for (const m of this.decoder.push(chunk)) {
        this.onMessage(m.type, m.payload);
        if (this.isClosed()) return;
      }
    } catch (error) {
      this.close(error instanceof Error ? error : new CodecError(String(error)));
    }
  }

  private onMessage(type: number, payload: Buffer): void {
    if (this.state === 'established') {
      switch (type) {
        case TcpMessage.Data:
          this.host.data(this, payload);
          return;
        case TcpMessage.Heartbeat:
          return;
        case TcpMessage.Gossip:
          this.host.gossip(this, gossipBody(controlBody(payload)));
          return;
        case TcpMessage.Bye:
          this.saidBye = true;
          this.close();
          return;
        default:
          throw new CodecError(`unexpected TCP message type ${type} on an established connection`);
      }
    }
    const body = controlBody(type === TcpMessage.Data ? Buffer.alloc(0) : payload);
    if (this.direction === 'in') this.acceptorStep(type, body);
    else this.connectorStep(type, body);
  }

  private establish(): void {
    this.state = 'established';
    // Authenticated: from the next message on, the peer may send frames up to the real limit.
    this.decoder.maxFrameBytes = this.host.maxFrameBytes;
    this.decoder.limitName = 'option maxFrameBytes';
    this.host.established(this);
  }

  /** The acceptor's side: Hello → Welcome, Proof → Ready. Nothing else is allowed before Ready. */
  private acceptorStep(type: number, body: unknown[]): void {
    if (type === TcpMessage.Hello && this.peer === undefined) {
      const [cluster, version, id, incarnation, address, nonce] = body;
      if (typeof id !== 'string' || typeof incarnation !== 'string' || typeof address !== 'string' || typeof nonce !== 'string') {
        throw new HandshakeError('malformed hello');
      }
      if (cluster !== this.host.cluster) {
        this.refuse(`cluster '${String(cluster)}' is not '${this.host.cluster}'`);
        return;
      }
      if (version !== TCP_PROTOCOL_VERSION) {
        this.refuse(`protocol version ${String(version)} is not ${TCP_PROTOCOL_VERSION}`);
        return;
      }
      this.peer = { id, incarnation, address };
      this.peerNonce = nonce;
      const reason = this.host.admit(this.peer);
      if (reason !== undefined) {
        this.refuse(reason);
        return;
      }
      const p = proof(this.host.secret, 'welcome', this.peerNonce, this.nonce, this.host.id, id);
      this.write(control(TcpMessage.Welcome, [this.host.id, this.host.incarnation, this.host.address, this.nonce, p]));
      return;
    }
    if (type === TcpMessage.Proof && this.peer !== undefined) {
      const expected = proof(this.host.secret, 'proof', this.nonce, this.peerNonce, this.peer.id, this.host.id);
      if (!sameProof(expected, body[0])) {
        this.refuse('authentication failed: wrong cluster secret');
        return;
      }
      // Decided only now that the peer is authenticated, and before Ready lets it use the connection.
      const duplicate = this.host.redundant(this);
      if (duplicate !== undefined) {
        this.refuse(duplicate, true);
        return;
      }
      this.write(control(TcpMessage.Ready));
      this.establish();
      return;
    }
    // The connector may turn the connection down too (a duplicate, or an id already in use).
    if (type === TcpMessage.Refuse && this.peer !== undefined) {
      this.refused(body);
      return;
    }
    throw new HandshakeError(`unexpected TCP message type ${type} during the handshake`);
  }

  /** The connector's side: Welcome → Proof, Ready → established, Refuse → closed. */
  private connectorStep(type: number, body: unknown[]): void {
    if (type === TcpMessage.Welcome && this.peer === undefined) {
      const [id, incarnation, address, nonce, p] = body;
      if (typeof id !== 'string' || typeof incarnation !== 'string' || typeof address !== 'string' || typeof nonce !== 'string') {
        throw new HandshakeError('malformed welcome');
      }
      const expected = proof(this.host.secret, 'welcome', this.nonce, nonce, id, this.host.id);
      if (!sameProof(expected, p)) throw new HandshakeError(`member '${id}' at ${address} does not know the cluster secret`);
      if (id === this.host.id) throw new HandshakeError(`reached a member with this member's own id '${id}' at ${address}`);
      this.peer = { id, incarnation, address };
      this.peerNonce = nonce;
      // The identity checks apply to the member we dial as well: without this, dialling a second
      // process that claims a live member's id replaced the live member's connection.
      const reason = this.host.admit(this.peer);
      if (reason !== undefined) {
        this.refuse(reason);
        return;
      }
      // Last moment to drop the connection before the acceptor may use it (it does on our Proof).
      const duplicate = this.host.redundant(this);
      if (duplicate !== undefined) {
        this.refuse(duplicate, true);
        return;
      }
      this.write(control(TcpMessage.Proof, [proof(this.host.secret, 'proof', nonce, this.nonce, this.host.id, id)]));
      return;
    }
    if (type === TcpMessage.Ready && this.peer !== undefined) {
      this.establish();
      return;
    }
    if (type === TcpMessage.Refuse) {
      this.refused(body);
      return;
    }
    throw new HandshakeError(`unexpected TCP message type ${type} during the handshake`);
  }
}

function gossipBody(body: unknown[]): Array<[string, string]> {
  const list = body[0];
  if (!Array.isArray(list)) throw new CodecError('gossip is not a list');
  const out: Array<[string, string]> = [];
  for (const item of list as unknown[]) {
    if (Array.isArray(item) && typeof item[0] === 'string' && typeof item[1] === 'string') out.push([item[0], item[1]]);
  }
  return out;
}
