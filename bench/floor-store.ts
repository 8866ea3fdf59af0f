/**
 * The least a replicated session store can do in Node, for the sessions benchmark's `floor` row:
 * express-session's MemoryStore (a JSON string per session in this process) plus one copy of each
 * saved session sent to a Node backup, whose acknowledgement the save waits for, as ours and
 * connect-redis wait for theirs. Nothing else: no versions, no placement, no diffs, no failover,
 * no expiry, no limits, no validation. It is not a store anyone should use; it measures what any
 * design that keeps a copy in another Node process must pay on this machine (the copy's encode, a
 * frame over loopback TCP, the backup process woken to store it, an acknowledgement back for the
 * frames of one read), so that what our store costs above it is our store's own work.
 *
 * Like ours, it is sticky (ids end with the app's route), a read sends nothing, and each session's
 * copy goes to one of the other apps (by the id's last character, so the apps' copies spread over
 * both). Frames written in one turn of the event loop leave in one system call (the socket is
 * corked until the turn's end), and a backup answers all the frames of one read with one
 * acknowledgement: the grouping ours does, at no cost.
 *
 * Wire format, both ways over one connection per pair: a save is `u32 length, u8 1, u16 id
 * length, id, JSON`; a delete `u32 length, u8 2, u16 id length, id`; an acknowledgement
 * `u32 4, u32 count` for the oldest `count` frames not yet acknowledged.
 *
 * @module
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import session from 'express-session';

type Callback = (error?: unknown, value?: unknown) => void;

const SAVE = 1;
const DELETE = 2;

/** One connection to a backup: frames out, acknowledgements back, callbacks in order. */
class Link {
  private readonly waiting: Callback[] = [];
  private corked = false;

  constructor(
    readonly socket: Socket,
    private readonly counted: () => void,
  ) {
    let pending: Buffer = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      while (pending.length - at >= 8) {
        const count = pending.readUInt32BE(at + 4);
        at += 8;
        for (const callback of this.waiting.splice(0, count)) setImmediate(callback);
      }
      pending = pending.subarray(at);
    });
    // A broken link fails the saves waiting on it (the bench counts them as errors) instead of
    // crashing the app with an unhandled 'error'; later saves fail as the socket refuses them.
    socket.on('error', (error) => {
      for (const callback of this.waiting.splice(0)) setImmediate(callback, error);
    });
  }

  send(frame: Buffer, callback: Callback): void {
    this.waiting.push(callback);
    this.counted();
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }
}

/** Serves the copies other apps send this one: stores them and acknowledges each read's frames. */
function serveCopies(socket: Socket, copies: Map<string, string>, counted: () => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    let count = 0;
    while (pending.length - at >= 4) {
      const length = pending.readUInt32BE(at);
      if (pending.length - at < 4 + length) break;
      const kind = pending[at + 4];
      const idLength = pending.readUInt16BE(at + 5);
      const id = pending.toString('latin1', at + 7, at + 7 + idLength);
      if (kind === SAVE) copies.set(id, pending.toString('utf8', at + 7 + idLength, at + 4 + length));
      else copies.delete(id);
      at += 4 + length;
      count++;
    }
    pending = pending.subarray(at);
    if (count > 0) {
      const ack = Buffer.allocUnsafe(8);
      ack.writeUInt32BE(4, 0);
      ack.writeUInt32BE(count, 4);
      socket.write(ack);
      counted();
    }
  });
  // The app that sent the copies is gone: its saves fail there, nothing is owed here.
  socket.on('error', () => {
    socket.destroy();
  });
}

/**
 * The floor store of one app: a MemoryStore-like store whose saves are copied to a backup app.
 * `listen()` first, then `connect()` to the other apps' addresses.
 */
export class FloorStore extends session.Store {
  /** Frames sent, both kinds, acknowledgements included (the bench's "messages"). */
  messagesSent = 0;
  private readonly sessions = new Map<string, string>();
  /** Copies held for the other apps (never read: the bench kills no app). */
  private readonly copies = new Map<string, string>();
  private readonly links: Link[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(readonly route: string) {
    super();
  }

  /** `<random>.<route>`, as ours, so the load generator routes by suffix. */
  genid(): string {
    return `${randomBytes(24).toString('base64url')}.${this.route}`;
  }

  /** Listens for the other apps' copies; resolves to `host:port`. */
  async listen(): Promise<string> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      serveCopies(socket, this.copies, () => this.messagesSent++);
    });
    this.server = server;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return `127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  }

  /** Connects to the other apps (`host:port` each), one of which holds each saved session's copy. */
  async connect(addresses: string[]): Promise<void> {
    for (const address of addresses) {
      const [host, port] = address.split(':');
      const socket = connect({ host, port: Number(port) });
      await once(socket, 'connect');
      this.sockets.add(socket);
      this.links.push(new Link(socket, () => this.messagesSent++));
    }
  }

  get(sid: string, callback: (error: unknown, session?: session.SessionData | null) => void): void {
    const json = this.sessions.get(sid);
    setImmediate(callback, null, json === undefined ? null : (JSON.parse(json) as session.SessionData));
  }

  set(sid: string, data: session.SessionData, callback?: Callback): void {
    const json = JSON.stringify(data);
    this.sessions.set(sid, json);
    const id = Buffer.from(sid, 'latin1');
    const body = Buffer.from(json, 'utf8');
    const frame = Buffer.allocUnsafe(7 + id.length + body.length);
    frame.writeUInt32BE(3 + id.length + body.length, 0);
    frame[4] = SAVE;
    frame.writeUInt16BE(id.length, 5);
    id.copy(frame, 7);
    body.copy(frame, 7 + id.length);
    this.linkOf(sid).send(frame, callback ?? (() => undefined));
  }

  destroy(sid: string, callback?: Callback): void {
    this.sessions.delete(sid);
    const id = Buffer.from(sid, 'latin1');
    const frame = Buffer.allocUnsafe(7 + id.length);
    frame.writeUInt32BE(3 + id.length, 0);
    frame[4] = DELETE;
    frame.writeUInt16BE(id.length, 5);
    id.copy(frame, 7);
    this.linkOf(sid).send(frame, callback ?? (() => undefined));
  }

  /** A read sends nothing (as ours: the copy's expiry is not kept here at all). */
  override touch(_sid: string, _data: session.SessionData, callback?: Callback): void {
    if (callback !== undefined) setImmediate(callback);
  }

  /** Closes every connection and the listener. */
  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server?.close();
  }

  private linkOf(sid: string): Link {
    const link = this.links[sid.charCodeAt(sid.length - 1 - this.route.length - 1) % this.links.length];
    if (link === undefined) throw new Error('FloorStore: connect() to the other apps first');
    return link;
  }
}
