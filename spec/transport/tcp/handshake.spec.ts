/**
 * The handshake on its own, without sockets: two `Handshake`s wired back to back through fake
 * links that pass each control message over at once (through the wire encoding). What each side
 * establishes, refuses or reports is checked directly.
 */
import { expect } from 'chai';
import { AuthenticationError, ClusterMismatchError, DuplicateIdError, HandshakeError } from '../../../lib/index.js';
import { Handshake, type HandshakeHost, type HandshakeLink, type PeerIdentity, type Refusal } from '../../../lib/transport/tcp/handshake.js';
import { TcpMessage, control, controlBody, type HandshakeTerms } from '../../../lib/transport/tcp/wire.js';

/** A link that records what its handshake did and hands control messages to the other side. */
class FakeLink implements HandshakeLink {
  readonly remote: string;
  other: Handshake | undefined;
  sent: number[] = [];
  established: { peer: PeerIdentity; terms: HandshakeTerms } | undefined;
  refusal: Refusal | undefined;
  error: HandshakeError | undefined;
  ended = false;

  constructor(remote: string) {
    this.remote = remote;
  }

  sendControl(type: TcpMessage, body?: readonly unknown[]): void {
    this.sent.push(type);
    if (this.ended) return;
    // Through the real encoding, as on a socket.
    const bytes = control(type, body);
    this.other?.step(type, controlBody(bytes.subarray(5)));
  }

  refuse(refusal: Refusal, error: HandshakeError | undefined): void {
    this.refusal = refusal;
    this.error = error;
    this.sendControl(TcpMessage.Refuse, [refusal.reason, refusal.code]);
    this.ended = true;
  }

  refused(error: HandshakeError | undefined): void {
    this.error = error;
    this.ended = true;
  }

  establish(peer: PeerIdentity, terms: HandshakeTerms): void {
    this.established = { peer, terms };
  }
}

function host(id: string, overrides: Partial<HandshakeHost> = {}): HandshakeHost {
  return {
    id,
    incarnation: `${id}-1`,
    address: `10.0.0.1:${id.charCodeAt(0)}`,
    cluster: 'c',
    secret: 's',
    terms: { heartbeatIntervalMs: 500, failureTimeoutMs: 2000, hasSecret: true },
    admit: () => undefined,
    redundant: () => undefined,
    ...overrides,
  };
}

/** Runs a whole handshake between a connector and an acceptor. */
function run(connector: HandshakeHost, acceptor: HandshakeHost): { out: FakeLink; in: FakeLink } {
  const out = new FakeLink('10.0.0.2:4000');
  const inbound = new FakeLink('10.0.0.1:51000');
  const dialler = new Handshake('out', connector, out);
  const listener = new Handshake('in', acceptor, inbound);
  out.other = listener;
  inbound.other = dialler;
  dialler.hello();
  return { out, in: inbound };
}

describe('Handshake', () => {
  it('establishes both sides, each with the identity and terms of the other', () => {
    const { out, in: inbound } = run(host('a'), host('b', { terms: { heartbeatIntervalMs: 50, failureTimeoutMs: 200, hasSecret: true } }));
    expect(out.sent).to.deep.equal([TcpMessage.Hello, TcpMessage.Proof]);
    expect(inbound.sent).to.deep.equal([TcpMessage.Welcome, TcpMessage.Ready]);
    expect(out.established?.peer).to.deep.equal({ id: 'b', incarnation: 'b-1', address: host('b').address });
    expect(out.established?.terms).to.deep.equal({ heartbeatIntervalMs: 50, failureTimeoutMs: 200, hasSecret: true });
    expect(inbound.established?.peer.id).to.equal('a');
    expect(inbound.established?.terms.failureTimeoutMs).to.equal(2000);
  });

  it('reports an AuthenticationError on both sides when the secrets differ, and establishes neither', () => {
    const { out, in: inbound } = run(host('a', { secret: 'x' }), host('b'));
    expect(out.refusal?.code).to.equal('secret');
    expect(out.error).to.be.instanceOf(AuthenticationError);
    expect(inbound.error).to.be.instanceOf(AuthenticationError);
    expect(out.error?.message).to.include("member 'b'");
    expect(inbound.error?.message).to.include("member 'a'");
    expect([out.established, inbound.established]).to.deep.equal([undefined, undefined]);
  });

  it('names a missing secret on the side that has none and on the side that has one', () => {
    const { out, in: inbound } = run(host('a', { secret: '', terms: { heartbeatIntervalMs: 500, failureTimeoutMs: 2000, hasSecret: false } }), host('b'));
    expect(out.error?.message).to.include('this member has no `secret` option set');
    expect(inbound.error?.message).to.include('it has no `secret` option set');
  });

  it('makes the same identity check on both sides: a refusal by either is a DuplicateIdError on both', () => {
    const taken: Refusal = { code: 'id', reason: 'id is taken' };
    for (const [connector, acceptor] of [
      [host('a', { admit: () => taken }), host('b')],
      [host('a'), host('b', { admit: () => taken })],
    ] as const) {
      const { out, in: inbound } = run(connector, acceptor);
      expect(out.error).to.be.instanceOf(DuplicateIdError);
      expect(inbound.error).to.be.instanceOf(DuplicateIdError);
      expect([out.established, inbound.established]).to.deep.equal([undefined, undefined]);
    }
  });

  it('refuses another cluster with a ClusterMismatchError on both sides, naming the option', () => {
    const { out, in: inbound } = run(host('a', { cluster: 'green' }), host('b', { cluster: 'blue' }));
    expect(out.error).to.be.instanceOf(ClusterMismatchError);
    expect(inbound.error).to.be.instanceOf(ClusterMismatchError);
    expect(out.error?.message).to.include("refused by the member at 10.0.0.2:4000: cluster 'green' is not 'blue'; set the same `cluster` option");
  });

  it('turns down a redundant connection quietly: a duplicate refusal, no error on either side', () => {
    const { out, in: inbound } = run(host('a', { redundant: () => 'already connected' }), host('b'));
    expect(out.refusal?.code).to.equal('duplicate');
    expect([out.error, inbound.error]).to.deep.equal([undefined, undefined]);
  });

  it('throws a HandshakeError for a message out of place', () => {
    const h = new Handshake('in', host('b'), new FakeLink('x'));
    expect(() => {
      h.step(TcpMessage.Proof, []);
    }).to.throw(HandshakeError, /unexpected TCP message type 3/);
  });
});
