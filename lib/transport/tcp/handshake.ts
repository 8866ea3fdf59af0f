/**
 * The handshake of a TCP connection, apart from its framing: who speaks when, what is checked,
 * and which typed error each side reports when it fails.
 *
 * Connector → acceptor `HELLO`; acceptor → connector `WELCOME` with its proof of the secret;
 * connector → acceptor `PROOF`; acceptor → connector `READY`. Either side may answer `REFUSE`
 * with a code instead, so both sides report the same failure, each naming the other.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError, ClusterMismatchError, DuplicateIdError, HandshakeError } from '../../errors.js';
import {
  REFUSE_DUPLICATE,
  TCP_PROTOCOL_VERSION,
  TcpMessage,
  termsFromWire,
  termsToWire,
  type HandshakeTerms,
  type RefuseCode,
} from './wire.js';

/** Who the peer says it is, once the handshake passed. */
export interface PeerIdentity {
  readonly id: string;
  readonly incarnation: string;
  readonly address: string;
}

/** A reason to turn a peer down. */
export interface Refusal {
  readonly reason: string;
  readonly code: RefuseCode;
}

/** What a handshake needs from its transport. */
export interface HandshakeHost {
  readonly id: string;
  readonly incarnation: string;
  readonly address: string;
  readonly cluster: string;
  readonly secret: string;
  /** This member's terms, told to the peer. */
  readonly terms: HandshakeTerms;
  /** The check of a peer's claimed identity, the same on both sides; a refusal, or undefined. */
  admit(peer: PeerIdentity): Refusal | undefined;
  /**
   * Called at the last moment a connection can still be dropped before either side uses it (the
   * connector before its Proof, the acceptor before its Ready): returns a reason when the pair
   * already keeps, or prefers, another connection.
   */
  redundant(): string | undefined;
}

/** What a handshake does to its connection. */
export interface HandshakeLink {
  /** How to name the peer before it has said who it is (the address dialled, or the socket's). */
  readonly remote: string;
  sendControl(type: TcpMessage, body?: readonly unknown[]): void;
  /** Sends Refuse, ends the connection, and reports `error` (none for a duplicate). */
  refuse(refusal: Refusal, error: HandshakeError | undefined): void;
  /** The peer turned the connection down: closes it and reports `error` (none for a duplicate). */
  refused(error: HandshakeError | undefined): void;
  /** Both sides are satisfied: the connection carries frames from now on. */
  establish(peer: PeerIdentity, terms: HandshakeTerms, nonces: { readonly mine: string; readonly theirs: string }): void;
}

/** The HMAC a member proves it knows the secret with. */
export function proof(secret: string, label: 'welcome' | 'proof', ...parts: string[]): Buffer {
  // The label keeps a connector's proof from being replayed as an acceptor's, and vice versa.
  return createHmac('sha256', secret).update([label, ...parts].join('\0')).digest();
}

function sameProof(a: Buffer, b: unknown): boolean {
  return b instanceof Uint8Array && b.length === a.length && timingSafeEqual(a, b);
}

const ADVICE: Record<RefuseCode, string> = {
  secret: 'give every member the same `secret` option',
  id: 'give every member its own `id` option',
  cluster: 'set the same `cluster` option on every member',
  version: 'run the same version of lazy-replicated-map on every member',
  malformed: 'only members of this library may connect to this port',
  duplicate: '',
};

/** The typed error for a failure of kind `code`. */
function errorOf(code: RefuseCode, message: string, peer: string): HandshakeError {
  if (code === 'secret') return new AuthenticationError(message, peer);
  if (code === 'id') return new DuplicateIdError(message, peer);
  if (code === 'cluster' || code === 'version') return new ClusterMismatchError(message, peer);
  return new HandshakeError(message, peer);
}

function isRefuseCode(code: unknown): code is RefuseCode {
  return typeof code === 'string' && Object.hasOwn(ADVICE, code);
}

/** One side of one connection's handshake. */
export class Handshake {
  /** The peer, once its Hello (acceptor) or Welcome (connector) was read. */
  peer: PeerIdentity | undefined;
  private peerTerms: HandshakeTerms | undefined;
  private readonly nonce = randomBytes(16).toString('hex');
  private peerNonce = '';
  private readonly direction: 'in' | 'out';
  private readonly host: HandshakeHost;
  private readonly link: HandshakeLink;

  constructor(direction: 'in' | 'out', host: HandshakeHost, link: HandshakeLink) {
    this.direction = direction;
    this.host = host;
    this.link = link;
  }

  /** The peer named for a message: `member 'id' at address`, or the address it was reached at. */
  get who(): string {
    return this.peer === undefined ? `the member at ${this.link.remote}` : `member '${this.peer.id}' at ${this.peer.address}`;
  }

  /** Opens the handshake (the connector speaks first). */
  hello(): void {
    const h = this.host;
    this.link.sendControl(TcpMessage.Hello, [h.cluster, TCP_PROTOCOL_VERSION, h.id, h.incarnation, h.address, this.nonce, termsToWire(h.terms)]);
  }

  /**
   * Takes one message of the handshake.
   * @throws {HandshakeError} for a message that has no place here or is malformed.
   */
  step(type: number, body: unknown[]): void {
    if (type === TcpMessage.Refuse && (this.peer !== undefined || this.direction === 'out')) {
      this.onRefuse(body);
      return;
    }
    // The acceptor takes Hello, then Proof; the connector Welcome, then Ready; nothing else.
    const known = this.peer !== undefined;
    const inbound = this.direction === 'in';
    if (inbound && type === TcpMessage.Hello && !known) this.onHello(body);
    else if (inbound && type === TcpMessage.Proof && known) this.onProof(body);
    else if (!inbound && type === TcpMessage.Welcome && !known) this.onWelcome(body);
    else if (!inbound && type === TcpMessage.Ready && known) this.establish();
    else throw new HandshakeError(`unexpected TCP message type ${type} during the handshake with ${this.who}`, this.who);
  }

  /** The acceptor reads the connector's Hello: cluster, version, identity; answers Welcome. */
  private onHello(body: unknown[]): void {
    const [cluster, version, id, incarnation, address, nonce, terms] = body;
    // Something that is not even a Hello gets no answer; a member of another cluster or version does.
    if (typeof id !== 'string' || typeof incarnation !== 'string' || typeof address !== 'string' || typeof nonce !== 'string') this.malformed('hello');
    if (cluster !== this.host.cluster) {
      this.refuse({ code: 'cluster', reason: `cluster '${String(cluster)}' is not '${this.host.cluster}'` });
      return;
    }
    if (version !== TCP_PROTOCOL_VERSION) {
      this.refuse({ code: 'version', reason: `protocol version ${String(version)} is not ${TCP_PROTOCOL_VERSION}` });
      return;
    }
    if (!this.identify(id, incarnation, address, nonce, terms, 'hello')) return;
    const p = proof(this.host.secret, 'welcome', this.peerNonce, this.nonce, this.host.id, this.peer?.id ?? '');
    const h = this.host;
    this.link.sendControl(TcpMessage.Welcome, [h.id, h.incarnation, h.address, this.nonce, p, termsToWire(h.terms)]);
  }

  /** The connector reads the acceptor's Welcome: its proof, then its identity; answers Proof. */
  private onWelcome(body: unknown[]): void {
    const [id, incarnation, address, nonce, p, terms] = body;
    if (!this.identify(id, incarnation, address, nonce, terms, 'welcome', p)) return;
    if (this.dropIfRedundant()) return;
    this.link.sendControl(TcpMessage.Proof, [proof(this.host.secret, 'proof', this.peerNonce, this.nonce, this.host.id, this.peer?.id ?? '')]);
  }

  /** The acceptor checks the connector's proof; answers Ready. */
  private onProof(body: unknown[]): void {
    const peer = this.peer as PeerIdentity;
    if (!sameProof(proof(this.host.secret, 'proof', this.nonce, this.peerNonce, peer.id, this.host.id), body[0])) {
      this.refuseSecret();
      return;
    }
    // Decided only now that the peer is authenticated, and before Ready lets it use the connection.
    if (this.dropIfRedundant()) return;
    this.link.sendControl(TcpMessage.Ready);
    this.establish();
  }

  /**
   * The identity check both sides make of the other, in one place: the shape of its fields, its
   * proof of the secret (the connector checks the acceptor's), and whether its id may join.
   */
  private identify(id: unknown, incarnation: unknown, address: unknown, nonce: unknown, terms: unknown, what: string, welcomeProof?: unknown): boolean {
    const peerTerms = termsFromWire(terms);
    if (typeof id !== 'string' || typeof incarnation !== 'string' || typeof address !== 'string' || typeof nonce !== 'string' || peerTerms === undefined) {
      this.malformed(what);
    }
    this.peer = { id, incarnation, address };
    this.peerNonce = nonce;
    this.peerTerms = peerTerms;
    if (this.direction === 'out' && !sameProof(proof(this.host.secret, 'welcome', this.nonce, nonce, id, this.host.id), welcomeProof)) {
      this.refuseSecret();
      return false;
    }
    const refusal = this.host.admit(this.peer);
    if (refusal !== undefined) {
      this.refuse(refusal);
      return false;
    }
    return true;
  }

  private malformed(what: string): never {
    throw new HandshakeError(`malformed ${what} from ${this.who}: ${ADVICE.malformed}`, this.who);
  }

  private dropIfRedundant(): boolean {
    const duplicate = this.host.redundant();
    if (duplicate === undefined) return false;
    this.link.refuse({ code: REFUSE_DUPLICATE, reason: duplicate }, undefined);
    return true;
  }

  /** Why the secrets differ, as far as either side can tell. */
  private secretDetail(): string {
    const mine = this.host.secret !== '';
    const theirs = this.peerTerms?.hasSecret;
    if (theirs === undefined || theirs === mine) return 'the two members have different `secret` options';
    return mine ? 'it has no `secret` option set, this member has one' : 'this member has no `secret` option set, it has one';
  }

  private refuseSecret(): void {
    this.refuse({ code: 'secret', reason: 'authentication failed: the proof does not match this member\'s secret' });
  }

  /** Turns the peer down, reporting the matching typed error here too. */
  private refuse(refusal: Refusal): void {
    const message =
      refusal.code === 'secret'
        ? `authentication failed: ${this.who} does not know the cluster secret this member has (its proof does not match; ${this.secretDetail()}): ${ADVICE.secret}`
        : `refused ${this.who}: ${refusal.reason}; ${ADVICE[refusal.code]}`;
    this.link.refuse(refusal, errorOf(refusal.code, message, this.who));
  }

  /** The peer turned us down: quietly if it keeps another connection with us, as a fault otherwise. */
  private onRefuse(body: unknown[]): void {
    const [reason, code] = body;
    if (code === REFUSE_DUPLICATE) {
      this.link.refused(undefined);
      return;
    }
    const kind: RefuseCode = isRefuseCode(code) ? code : 'malformed';
    const said = typeof reason === 'string' ? reason : 'no reason given';
    const message =
      kind === 'secret'
        ? `authentication failed: ${this.who} does not know the cluster secret this member has (it refused this member's proof; ${this.secretDetail()}): ${ADVICE.secret}`
        : `refused by ${this.who}: ${said}${kind === 'malformed' ? '' : `; ${ADVICE[kind]}`}`;
    this.link.refused(errorOf(kind, message, this.who));
  }

  private establish(): void {
    this.link.establish(this.peer as PeerIdentity, this.peerTerms as HandshakeTerms, { mine: this.nonce, theirs: this.peerNonce });
  }
}
