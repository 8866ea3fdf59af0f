/**
 * One TCP (or TLS) connection to a peer: its framing, its write path with coalescing and
 * backpressure, and its life; the handshake itself is in handshake.ts.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { BackpressureError, CodecError, FrameRefusedError, FrameTooLargeError, HandshakeError, PeerUnreachableError } from '../../errors.js';
import { FrameDecoder } from './frame-decoder.js';
import { Handshake, type HandshakeHost, type HandshakeLink, type PeerIdentity, type Refusal } from './handshake.js';
import type { TcpCounters } from './tcp-stats.js';
import { HANDSHAKE_MAX_FRAME_BYTES, TcpMessage, agreedFailureTimeout, control, controlBody, header, type HandshakeTerms } from './wire.js';
import { atEndOfTurn } from '../end-of-turn.js';

export type { PeerIdentity } from './handshake.js';

/** What a connection needs from its transport. */
export interface ConnectionHost extends Omit<HandshakeHost, 'redundant'> {
  readonly counters: TcpCounters;
  readonly maxFrameBytes: number;
  readonly maxQueueBytes: number;
  now(): number;
  /** See {@link HandshakeHost.redundant}. */
  redundant(connection: Connection): string | undefined;
  established(connection: Connection): void;
  closed(connection: Connection, error?: Error): void;
  data(connection: Connection, frame: Uint8Array): void;
  gossip(connection: Connection, members: Array<[string, string]>): void;
  /** The peer sent a frame above `maxFrameBytes`: it was dropped, the connection kept. */
  oversize(connection: Connection, error: FrameTooLargeError): void;
}

/** Lifecycle of a connection. */
export type ConnectionState = 'handshaking' | 'established' | 'closed';

/** A connection to one peer. */
export class Connection implements HandshakeLink {
  /** Who initiated it: this member (`'out'`) or the peer (`'in'`). */
  readonly direction: 'in' | 'out';
  /** How the peer is named before it says who it is: the address dialled, or the socket's. */
  readonly remote: string;
  state: ConnectionState = 'handshaking';
  /** What the peer said of itself in the handshake (its heartbeat timing), once established. */
  peerTerms: HandshakeTerms | undefined;
  /** When the connection was opened, by the host's clock (its handshake deadline runs from it). */
  readonly openedAt: number;
  /** When something last arrived, by the host's clock. */
  lastHeard: number;
  /** When something was last sent, by the host's clock. */
  lastSent: number;
  /** The peer said goodbye (so it is not to be retried). */
  saidBye = false;
  /** Replaced by another connection to the same peer: its end is not a peer going away. */
  superseded = false;
  /** Turned down in its handshake (by either side) only because the pair keeps another one. */
  redundant = false;
  private readonly socket: Socket;
  private readonly host: ConnectionHost;
  private readonly decoder: FrameDecoder;
  private readonly handshake: Handshake;
  private corked = false;
  /** The first bytes the peer sent, kept while handshaking: they tell what else answers there. */
  private opening: Buffer = Buffer.alloc(0);

  /**
   * @param remote for an outgoing connection the address dialled; for an incoming one, defaults
   *   to the socket's remote address.
   */
  constructor(socket: Socket, direction: 'in' | 'out', host: ConnectionHost, remote?: string) {
    this.socket = socket;
    this.direction = direction;
    this.host = host;
    this.remote = remote ?? `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.handshake = new Handshake(direction, { ...host, redundant: () => host.redundant(this) }, this);
    // Until the peer has authenticated it may send only handshake-sized messages.
    this.decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES, 'the limit before the handshake completes');
    this.openedAt = host.now();
    this.lastHeard = this.openedAt;
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

  /** The peer, once its Hello or Welcome was read (authenticated once established). */
  get peer(): PeerIdentity | undefined {
    return this.handshake.peer;
  }

  /**
   * Silence after which the peer is declared gone: the larger of both members' `failureTimeoutMs`
   * (exchanged at the handshake), so neither flaps when their settings differ.
   */
  get failureTimeoutMs(): number {
    return agreedFailureTimeout(this.host.terms.failureTimeoutMs, this.peerTerms?.failureTimeoutMs);
  }

  /** Opens the handshake (the connector speaks first). */
  hello(): void {
    // A dial that connects after the transport began to stop has nothing to say.
    if (this.state === 'handshaking') this.handshake.hello();
  }

  /** Sends a control message (the handshake's). */
  sendControl(type: TcpMessage, body?: readonly unknown[]): void {
    this.write(control(type, body));
  }

  /**
   * Queues a library frame. Writes in one tick are coalesced into one system call (cork/uncork).
   * @throws {PeerUnreachableError} when the connection is not established.
   * @throws {FrameRefusedError} when the peer declared at the handshake that it accepts no frame
   *   that large: not sent, and the connection stays up.
   * @throws {BackpressureError} when more than `maxQueueBytes` are already waiting.
   */
  send(frame: Uint8Array): void {
    if (this.state !== 'established') throw new PeerUnreachableError(this.peer?.id ?? '?');
    const limit = this.peerTerms?.maxFrameBytes;
    if (limit !== undefined && frame.byteLength > limit) throw new FrameRefusedError(this.peer?.id ?? '?', frame.byteLength, limit);
    if (this.socket.writableLength > this.host.maxQueueBytes) {
      throw new BackpressureError(
        `${this.socket.writableLength} bytes are waiting for member '${this.peer?.id ?? '?'}' (limit ${this.host.maxQueueBytes}, option maxQueueBytes): it does not read fast enough`,
      );
    }
    this.host.counters.framesOut++;
    this.host.counters.bytesOut += frame.byteLength;
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

  /** Refuses the handshake and reports `error` (a duplicate is routine: no error). */
  refuse(refusal: Refusal, error: HandshakeError | undefined): void {
    this.redundant = error === undefined;
    this.write(control(TcpMessage.Refuse, [refusal.reason, refusal.code]));
    this.state = 'closed';
    // Closed as soon as the refusal is handed to the system: a refused peer that does not read
    // (a stranger) must not keep the connection open until it does.
    this.socket.end(() => this.socket.destroy());
    this.host.closed(this, error);
  }

  /** The peer refused the handshake. */
  refused(error: HandshakeError | undefined): void {
    this.redundant = error === undefined;
    this.close(error);
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
    // Everything written until the end of this turn goes out in one write, in this turn: a group
    // the map sends at the end of the turn included (see end-of-turn.ts).
    atEndOfTurn(this.uncork, 'write');
  }

  private readonly uncork = (): void => {
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastHeard = this.host.now();
    if (this.state === 'handshaking' && this.opening.length < OPENING_BYTES) {
      this.opening = Buffer.concat([this.opening, chunk.subarray(0, OPENING_BYTES - this.opening.length)]);
    }
    try {
      for (const m of this.decoder.push(chunk)) {
        this.onMessage(m.type, m.payload);
        if (this.isClosed()) return;
      }
    } catch (error) {
      if (this.state === 'handshaking' && error instanceof FrameTooLargeError) {
        this.close(this.stranger(error));
        return;
      }
      this.close(error instanceof Error ? error : new CodecError(String(error)));
    }
  }

  /**
   * What to say when the other end sent, before any handshake, a length no member would: it is no
   * member of this library. A length prefix read from text ('HTTP' is 1213486159) is named as text.
   */
  private stranger(error: FrameTooLargeError): HandshakeError {
    const text = textPreview(this.opening);
    const out = this.direction === 'out';
    const where = out ? `what answers at ${this.remote}` : `a client at ${this.remote}`;
    const hint = out
      ? 'check option `seeds` (and the `advertise` option of the members that gossip this address): it must name the `port` of a member'
      : "something other than a member connects to this member's `port`";
    const what =
      text === undefined
        ? `it announced a message of ${this.opening.length >= 4 ? this.opening.readUInt32BE(0) - 1 : '?'} bytes before any handshake`
        : `it speaks another protocol${/^(HTTP\/|GET |POST |PUT |HEAD |DELETE |OPTIONS |PATCH )/.test(text) ? ' (HTTP)' : ''}: it sent ${JSON.stringify(text)}`;
    return new HandshakeError(`${where} is not a lazy-replicated-map member: ${what}; ${hint}`, this.remote, { cause: error });
  }

  private onMessage(type: number, payload: Buffer): void {
    if (this.state === 'established') {
      switch (type) {
        case TcpMessage.Data:
          this.host.counters.framesIn++;
          this.host.counters.bytesIn += payload.length;
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
    this.handshake.step(type, controlBody(type === TcpMessage.Data ? Buffer.alloc(0) : payload));
  }

  /** The handshake passed on both sides. */
  establish(_peer: PeerIdentity, terms: HandshakeTerms): void {
    this.state = 'established';
    this.peerTerms = terms;
    // Authenticated: from the next message on, the peer may send frames up to the real limit,
    // and one above it is dropped alone: closing would make the peer reconnect and send it again.
    this.decoder.maxFrameBytes = this.host.maxFrameBytes;
    this.decoder.limitName = 'option maxFrameBytes';
    this.decoder.skipOversize = (bytes) => {
      const who = `member '${this.peer?.id ?? '?'}' at ${this.peer?.address ?? this.remote}`;
      this.host.oversize(
        this,
        new FrameTooLargeError(
          `${who} sent a ${bytes}-byte frame; this member accepts at most ${this.host.maxFrameBytes} bytes (option maxFrameBytes): the frame was dropped and the connection kept; raise maxFrameBytes here, or send smaller values (members that declare their limit at the handshake never send more)`,
        ),
      );
    };
    this.host.established(this);
  }
}

/** Bytes of the peer's opening kept to name what it is. */
const OPENING_BYTES = 64;

/** The first line of `bytes` when they start as printable ASCII text, else undefined. */
function textPreview(bytes: Buffer): string | undefined {
  if (bytes.length < 4) return undefined;
  let end = 0;
  while (end < bytes.length && (bytes[end] as number) >= 0x20 && (bytes[end] as number) < 0x7f) end++;
  return end < 4 ? undefined : bytes.toString('latin1', 0, Math.min(end, 40));
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
