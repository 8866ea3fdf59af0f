/**
 * Speaks the TCP transport's wire protocol by hand, so specs can play members that a real
 * TcpTransport never would: one that goes silent after its handshake, one that stops reading, one
 * that opens a second connection, one that forges a proof. The handshake is written out here from
 * the protocol's description (wire.ts): it doubles as a check that the format is what it says.
 *
 * Every socket and server made here is registered; `destroyAllRaw()` closes them (in `afterEach`).
 *
 * @module
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { FrameDecoder, type StreamMessage } from '../../../lib/transport/tcp/frame-decoder.js';
import { REFUSE_DUPLICATE, TCP_PROTOCOL_VERSION, TcpMessage, control, controlBody, header } from '../../../lib/transport/tcp/wire.js';

/** Who a raw member claims to be. */
export interface RawIdentity {
  id: string;
  /** @default '' (the transport's default: no secret) */
  secret?: string;
  /** @default 'lazy-replicated-map' */
  cluster?: string;
  /** @default a fresh UUID */
  incarnation?: string;
  /** The address it advertises. @default '127.0.0.1:1' (nobody should dial it) */
  address?: string;
  /**
   * The heartbeat timing it announces, `[heartbeatIntervalMs, failureTimeoutMs]`. The default is
   * shorter than any member's, so the member under test detects failures on its own timing.
   * @default [1, 2]
   */
  timing?: [number, number];
}

/** The terms a raw member announces in its Hello or Welcome (see wire.ts). */
function termsOf(me: RawIdentity): [number, number, boolean] {
  const [heartbeatIntervalMs, failureTimeoutMs] = me.timing ?? [1, 2];
  return [heartbeatIntervalMs, failureTimeoutMs, (me.secret ?? '') !== ''];
}

/** The peer as a handshake revealed it. */
export interface RawPeerIdentity {
  id: string;
  incarnation: string;
  address: string;
}

const DEFAULT_CLUSTER = 'lazy-replicated-map';
/** Raw connections accept anything a test sends them (4 MiB frames and more). */
const RAW_MAX_FRAME_BYTES = 64 * 1024 * 1024;

const sockets = new Set<Socket>();
const servers = new Set<Server>();

/** Destroys every raw socket and closes every raw server made so far; resolves once all are closed. */
export async function destroyAllRaw(): Promise<void> {
  const closing: Promise<void>[] = [];
  for (const s of sockets) {
    if (!s.closed) closing.push(new Promise((resolve) => s.once('close', () => { resolve(); })));
    s.destroy();
  }
  for (const server of servers) {
    closing.push(new Promise((resolve) => server.close(() => { resolve(); })));
  }
  sockets.clear();
  servers.clear();
  await Promise.all(closing);
}

function track(socket: Socket): Socket {
  sockets.add(socket);
  // A raw socket is often reset by the member under test: that is expected, not a test failure.
  socket.on('error', () => undefined);
  socket.once('close', () => sockets.delete(socket));
  return socket;
}

/** The HMAC a member proves it knows the secret with (the transport's own construction). */
export function proofOf(secret: string, label: 'welcome' | 'proof', ...parts: string[]): Buffer {
  return createHmac('sha256', secret).update([label, ...parts].join('\0')).digest();
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

/** Opens a plain TCP socket to `address` and resolves once connected (the socket is registered). */
export function rawSocket(address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = track(createConnection(splitAddress(address)));
    socket.once('connect', () => { resolve(socket); });
    socket.once('error', reject);
  });
}

/** Resolves once `socket` is closed (at once if it already is). */
export function closedSocket(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => { resolve(); }));
}

/** One connection that speaks the wire format: it cuts incoming bytes into messages. */
export class RawConnection {
  readonly socket: Socket;
  /** The peer, once a handshake revealed it. */
  peer: RawPeerIdentity | undefined;
  /** Resolves once the socket is closed. */
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder(RAW_MAX_FRAME_BYTES);
  private readonly inbox: StreamMessage[] = [];
  private waiter: { types: readonly number[]; resolve: (m: StreamMessage) => void; reject: (e: Error) => void } | undefined;

  constructor(socket: Socket) {
    this.socket = track(socket);
    this.closed = closedSocket(socket);
    socket.on('data', (chunk: Buffer) => {
      for (const m of this.decoder.push(chunk)) this.deliver(m);
    });
    socket.once('close', () => {
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(new Error('the connection closed'));
    });
  }

  private deliver(m: StreamMessage): void {
    const w = this.waiter;
    if (w !== undefined && w.types.includes(m.type)) {
      this.waiter = undefined;
      w.resolve(m);
      return;
    }
    this.inbox.push(m);
  }

  /**
   * The next message of one of `types`; messages of other types that come first (heartbeats,
   * gossip) are skipped. Rejects if the connection closes first.
   */
  next(...types: number[]): Promise<StreamMessage> {
    while (this.inbox.length > 0) {
      const m = this.inbox.shift() as StreamMessage;
      if (types.includes(m.type)) return Promise.resolve(m);
    }
    if (this.socket.closed) return Promise.reject(new Error('the connection closed'));
    return new Promise((resolve, reject) => {
      this.waiter = { types, resolve, reject };
    });
  }

  /** Sends a control message. */
  sendControl(type: number, body: readonly unknown[] = []): void {
    this.socket.write(control(type as TcpMessage, body));
  }

  /** Sends a library frame. */
  sendData(frame: Uint8Array): void {
    this.socket.write(Buffer.concat([header(TcpMessage.Data, frame.byteLength), frame]));
  }
}

/** A refusal the member under test answered a raw handshake with. */
export class RawRefusal extends Error {
  override name = 'RawRefusal';
}

function refusalOf(m: StreamMessage): RawRefusal {
  const [reason] = controlBody(m.payload);
  return new RawRefusal(typeof reason === 'string' ? reason : 'no reason given');
}

/** A connector's handshake stopped after the Welcome, so a test can choose when to prove itself. */
export interface RawHello {
  readonly connection: RawConnection;
  /** Who answered (from its Welcome). */
  readonly peer: RawPeerIdentity;
  /** Sends the Proof (made with the wrong key when `forge` is set). */
  prove(forge?: boolean): void;
  /** What the acceptor sends after the Proof: Ready, or Refuse. Rejects if it closes instead. */
  answer(): Promise<StreamMessage>;
}

/**
 * Dials the member at `address` as `me`, sends Hello and waits for the Welcome. Rejects with
 * {@link RawRefusal} when the Hello is refused.
 */
export async function helloAsMember(address: string, me: RawIdentity): Promise<RawHello> {
  const c = new RawConnection(await rawSocket(address));
  const nonce = randomBytes(16).toString('hex');
  c.sendControl(TcpMessage.Hello, [me.cluster ?? DEFAULT_CLUSTER, TCP_PROTOCOL_VERSION, me.id, me.incarnation ?? randomUUID(), me.address ?? '127.0.0.1:1', nonce, termsOf(me)]);
  const welcome = await c.next(TcpMessage.Welcome, TcpMessage.Refuse);
  if (welcome.type === TcpMessage.Refuse) throw refusalOf(welcome);
  const [id, incarnation, peerAddress, peerNonce] = controlBody(welcome.payload) as [string, string, string, string];
  const peer = { id, incarnation, address: peerAddress };
  c.peer = peer;
  return {
    connection: c,
    peer,
    prove: (forge = false) => {
      const key = forge ? `${me.secret ?? ''}-forged` : (me.secret ?? '');
      c.sendControl(TcpMessage.Proof, [proofOf(key, 'proof', peerNonce, nonce, me.id, id)]);
    },
    answer: () => c.next(TcpMessage.Ready, TcpMessage.Refuse),
  };
}

/**
 * Dials the member at `address` as `me` and completes the connector's side of the handshake
 * (Hello, Welcome, Proof, Ready). Rejects with {@link RawRefusal} when refused.
 */
export async function dialAsMember(address: string, me: RawIdentity): Promise<RawConnection> {
  const hello = await helloAsMember(address, me);
  hello.prove();
  const ready = await hello.answer();
  if (ready.type === TcpMessage.Refuse) throw refusalOf(ready);
  return hello.connection;
}

/** The acceptor's side of a handshake in progress: Hello received, Welcome sent. */
export interface RawWelcome {
  readonly connection: RawConnection;
  /** Who dialled (from its Hello). */
  readonly peer: RawPeerIdentity;
  /** What the dialler sends next: its Proof, or a Refuse; rejects if it closes instead. */
  readonly answer: Promise<StreamMessage>;
  /** Sends Ready (after a Proof): the connection is established. */
  ready(): void;
  /** Turns the connection down as a duplicate (the pair keeps another one), as a member would. */
  refuseAsDuplicate(): void;
}

/** A fake member's listening side: every accepted connection is handed out by `accepted()`. */
export class RawMember {
  readonly me: RawIdentity & { incarnation: string };
  private readonly server: Server;
  private readonly queue: RawConnection[] = [];
  private waiting: ((c: RawConnection) => void) | undefined;

  private constructor(server: Server, me: RawIdentity) {
    this.server = server;
    this.me = { ...me, incarnation: me.incarnation ?? randomUUID() };
    server.on('connection', (socket: Socket) => {
      const c = new RawConnection(socket);
      const w = this.waiting;
      this.waiting = undefined;
      if (w !== undefined) w(c);
      else this.queue.push(c);
    });
  }

  /** Listens on 127.0.0.1, on a port the system picks. */
  static async listen(me: RawIdentity): Promise<RawMember> {
    const server = createServer();
    servers.add(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => { resolve(); }));
    return new RawMember(server, me);
  }

  /** `127.0.0.1:port` it listens on. */
  get address(): string {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('raw member is not listening');
    return `127.0.0.1:${a.port}`;
  }

  /** The next connection a member opened to this one. */
  accepted(): Promise<RawConnection> {
    const c = this.queue.shift();
    if (c !== undefined) return Promise.resolve(c);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** Answers the Hello on `c` with a Welcome (proved with this member's secret). */
  async welcome(c: RawConnection): Promise<RawWelcome> {
    const hello = await c.next(TcpMessage.Hello);
    const [, , id, incarnation, address, peerNonce] = controlBody(hello.payload) as [string, number, string, string, string, string];
    const peer = { id, incarnation, address };
    c.peer = peer;
    const nonce = randomBytes(16).toString('hex');
    const secret = this.me.secret ?? '';
    c.sendControl(TcpMessage.Welcome, [this.me.id, this.me.incarnation, this.me.address ?? this.address, nonce, proofOf(secret, 'welcome', peerNonce, nonce, this.me.id, id), termsOf(this.me)]);
    return {
      connection: c,
      peer,
      answer: c.next(TcpMessage.Proof, TcpMessage.Refuse),
      ready: () => {
        c.sendControl(TcpMessage.Ready);
      },
      refuseAsDuplicate: () => {
        c.sendControl(TcpMessage.Refuse, ['already connected', REFUSE_DUPLICATE]);
        c.socket.end();
      },
    };
  }

  /** Accepts the next connection and completes the acceptor's side of its handshake. */
  async acceptMember(): Promise<RawConnection> {
    const w = await this.welcome(await this.accepted());
    const answer = await w.answer;
    if (answer.type !== TcpMessage.Proof) throw refusalOf(answer);
    w.ready();
    return w.connection;
  }
}
