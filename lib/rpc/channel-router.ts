/**
 * Many maps and RPC channels share one transport. The router is the single listener on it: it
 * decodes each frame's envelope once, hands the frame to the channel named in it, and answers
 * requests for channels this member does not run, so callers never wait for them.
 *
 * It also admits members. When the transport reports a member up, the router sends it a hello
 * (this build's protocol version, the oldest it interoperates with, its transport's frame limit)
 * and tells its channels about the member only once the member's compatible hello arrived. A
 * member of an incompatible version is refused, on both sides, with an
 * {@link IncompatibleProtocolError}, and never admitted.
 *
 * @module
 */
import { ChannelInUseError, CodecError, IncompatibleProtocolError, ProtocolError } from '../errors.js';
import { assertFrameFits } from './frame-limit.js';
import {
  FrameKind,
  OLDEST_COMPATIBLE_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  encodeFrameAs,
  envelopeVersion,
  type Frame,
} from '../codec/frame.js';
import type { Transport } from '../transport/transport.js';

/** The channel name in the envelope of hellos and refusals (reserved: under `lrm/`). */
export const ROUTER_CHANNEL = 'lrm/router';

/**
 * A member that keeps sending frames of a version this member cannot read is reported again at
 * most this often (with the count of frames dropped), in milliseconds.
 */
const LEGACY_REPORT_INTERVAL_MS = 60_000;

/** The protocol versions a router announces. */
interface Versions {
  /** The version this build speaks. */
  readonly version: number;
  /** The oldest version it interoperates with. */
  readonly oldest: number;
}

/** What a member said in its hello. */
interface PeerHello extends Versions {
  /** The largest frame its transport accepts, in bytes; `Infinity` when it declared none. */
  readonly maxFrameBytes: number;
  /** An answer to this member's hello (not to be answered), rather than an opening one. */
  readonly answer: boolean;
}

/** One member the transport reports, as the router sees it (forgotten when it goes down). */
interface PeerState {
  /** The transport reported it up, and this member sent it a hello. */
  up: boolean;
  /** Its hello, once it arrived (possibly before the local `peerUp`). */
  hello: PeerHello | undefined;
  /** Told to the channels: hellos exchanged and compatible. */
  admitted: boolean;
  /** Why it was refused, if it was (reported once). */
  refused: IncompatibleProtocolError | undefined;
  /**
   * An opening hello that arrived once one was already taken: a duplicate, or, on a transport
   * that lets frames overtake peer events, the hello of the member's next connection arriving
   * before the `peerDown` of this one. Kept for that next connection (a duplicate of the same
   * build's hello admits it just as well); a transport that keeps order and never duplicates
   * never fills it.
   */
  next: PeerHello | undefined;
}

/** Frames of a version this member cannot read, from one member: counted, reported rate-limited. */
interface LegacyFrames {
  version: number;
  dropped: number;
  reportedAt: number;
  error: IncompatibleProtocolError;
}

/** Versions a test makes a router announce, to simulate another build in one process. */
const simulated = new WeakMap<Transport, Versions>();

/**
 * Makes the router of `transport` announce other protocol versions in its hello, as another build
 * would. For the specs only: not exported from the package, so no application can set it.
 * @internal
 */
export function simulateProtocolVersion(transport: Transport, version: number, oldest: number): void {
  simulated.set(transport, { version, oldest });
}

/** What a channel registered with a {@link ChannelRouter} is told. */
export interface ChannelEndpoint {
  /** A frame for this channel arrived from `from`. */
  onFrame(from: string, frame: Frame): void;
  /** A member became reachable. */
  onPeerUp(id: string): void;
  /** A member is gone. */
  onPeerDown(id: string): void;
  /** The transport itself closed (stopped or crashed). */
  onClose(): void;
  /** A peer sent something undecodable; every endpoint hears of it, since the channel is unknown. */
  onError(error: Error): void;
}

const routers = new WeakMap<Transport, ChannelRouter>();

/** Routes the frames of one transport to its channels. One per transport; get it with {@link ChannelRouter.of}. */
export class ChannelRouter {
  /** The transport routed. */
  readonly transport: Transport;
  private readonly endpoints = new Map<string, ChannelEndpoint>();
  private started: Promise<void> | undefined;
  /** Members the transport reported or that sent a hello, until they go down. */
  private readonly states = new Map<string, PeerState>();
  /** Members sending frames of a version this member cannot read (kept across reconnections). */
  private readonly legacy = new Map<string, LegacyFrames>();
  /** Admitted members, sorted; `undefined` after a change. */
  private admittedIds: string[] | undefined;
  /** Called on every change of a member's admission (`joined()` waits with them). */
  private readonly watchers = new Set<() => void>();

  private readonly onMessage = (from: string, bytes: Uint8Array): void => {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      const version = envelopeVersion(bytes);
      if (version !== undefined && (version < OLDEST_COMPATIBLE_PROTOCOL_VERSION || version > PROTOCOL_VERSION)) {
        this.legacyFrame(from, version);
        return;
      }
      const cause = error instanceof CodecError ? error : new CodecError('undecodable frame', { cause: error });
      this.broadcastError(new ProtocolError(`dropped a frame from '${from}': ${cause.message}`, from, { cause }));
      return;
    }
    if (frame.kind === FrameKind.Hello) {
      this.onHello(from, frame.body);
      return;
    }
    if (frame.kind === FrameKind.Refuse) {
      this.onRefuse(from, frame.body);
      return;
    }
    // A refused member's frames are not read. (Frames of a member whose hello has not arrived yet
    // are: a transport that reorders frames may deliver them first, and their envelope version
    // was checked above.)
    if (this.states.get(from)?.refused !== undefined) return;
    const endpoint = this.endpoints.get(frame.channel);
    if (endpoint !== undefined) {
      endpoint.onFrame(from, frame);
    } else if (frame.kind === FrameKind.Request) {
      this.send(from, { kind: FrameKind.NoChannel, channel: frame.channel, id: frame.id, body: null }).catch(() => {
        // The requester is gone; it will not wait for an answer either.
      });
    }
  };

  private readonly onPeerUp = (id: string): void => {
    const state = this.stateOf(id);
    // A repeated peerUp (the sweep at start met the member first) changes nothing.
    if (state.up) return;
    state.up = true;
    this.sendHello(id, false);
    // The member's hello may have arrived before the transport reported it up.
    if (state.hello !== undefined && state.refused === undefined) this.admit(id, state);
    this.changed();
  };

  private readonly onPeerDown = (id: string): void => {
    // A member that comes back (a restart, a healed partition) says hello again.
    const state = this.states.get(id);
    this.states.delete(id);
    if (state?.admitted === true) this.admittedIds = undefined;
    if (state?.next !== undefined) this.heard(id, this.stateOf(id), state.next);
    for (const e of [...this.endpoints.values()]) e.onPeerDown(id);
    this.changed();
  };

  private readonly onClose = (): void => {
    // The transport may be started again (a restarted member); the next register() must start it.
    this.started = undefined;
    this.forgetPeers();
    for (const e of [...this.endpoints.values()]) e.onClose();
  };

  private constructor(transport: Transport) {
    this.transport = transport;
  }

  /** The router of `transport`, created on first use. */
  static of(transport: Transport): ChannelRouter {
    let router = routers.get(transport);
    if (router === undefined) {
      router = new ChannelRouter(transport);
      routers.set(transport, router);
    }
    return router;
  }

  /**
   * Registers a channel and starts the transport (idempotent). Resolves once the transport runs.
   * @throws {ChannelInUseError} when a channel of that name is already registered on this transport.
   */
  register(name: string, endpoint: ChannelEndpoint): Promise<void> {
    if (this.endpoints.has(name)) {
      throw new ChannelInUseError(`a channel or map named '${name}' already runs on transport '${this.transport.id}': use another name`);
    }
    if (this.endpoints.size === 0) this.attach();
    this.endpoints.set(name, endpoint);
    // Members the transport met before the router listened (a transport started earlier, or
    // started by another router user) get their hello too.
    this.started ??= this.transport.start().then(() => {
      this.sweep();
    });
    return this.started;
  }

  /**
   * Removes a channel. When it was the last one, the router lets go of the transport and stops it:
   * a transport is never stopped while another map or channel still uses it.
   */
  async unregister(name: string): Promise<void> {
    if (!this.endpoints.delete(name) || this.endpoints.size > 0) return;
    this.detach();
    this.started = undefined;
    this.forgetPeers();
    await this.transport.stop();
  }

  /**
   * Ids of the admitted members (hellos exchanged, versions compatible) that the transport still
   * lists as live, sorted. The transport's own view counts at once: a member cut off is not live
   * although its `peerDown` may still be on its way (a write must not count it as a refusing one).
   */
  peers(): string[] {
    const live = new Set(this.transport.peers());
    return this.admitted().filter((id) => live.has(id));
  }

  /**
   * Ids of the admitted members, sorted, whether or not the transport still lists them as live:
   * {@link peers} and the members whose `peerDown` is on its way. The same array until a member
   * is admitted or dropped, so a caller may keep what it computed from it (a map's frame bounds).
   */
  admitted(): readonly string[] {
    this.admittedIds ??= [...this.states].filter(([, s]) => s.admitted).map(([id]) => id).sort();
    return this.admittedIds;
  }

  /**
   * The largest frame, in bytes, that every admitted member (and this member's transport) accepts:
   * the smallest `maxFrameBytes` declared among them; `Infinity` when none declares one. Callers
   * check their frames against it before sending (a frame over it would be refused by a peer).
   */
  frameLimit(): number {
    let limit = this.transport.maxFrameBytes ?? Infinity;
    for (const state of this.states.values()) {
      if (state.admitted && state.hello !== undefined) limit = Math.min(limit, state.hello.maxFrameBytes);
    }
    return limit;
  }

  /**
   * Resolves once the transport met the members it can find now (its `joined()`, which may
   * reject with the reason this member cannot join) and every member it reports has been
   * admitted or refused. Callers bound the wait: a member that never says hello (no library on
   * it, or a build too old to send one and silent) is not waited for forever.
   */
  async joined(): Promise<void> {
    await this.transport.joined?.();
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (!this.allHeard()) return;
        this.watchers.delete(check);
        resolve();
      };
      this.watchers.add(check);
      check();
    });
  }

  /**
   * Why no member was admitted, when members were met and every one of them was refused for its
   * protocol version: the first refusal; otherwise `undefined`.
   */
  refusal(): IncompatibleProtocolError | undefined {
    if (this.peers().length > 0) return undefined;
    for (const state of this.states.values()) if (state.refused !== undefined) return state.refused;
    for (const id of this.transport.peers()) {
      const legacy = this.legacy.get(id);
      if (legacy !== undefined) return legacy.error;
    }
    return undefined;
  }

  /** Resolves `true` once some member is admitted, or `false` after `timeoutMs` milliseconds. */
  admittedAny(timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = (admitted: boolean): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve(admitted);
      };
      const check = (): void => {
        if (this.peers().length > 0) done(true);
      };
      const timer = setTimeout(() => {
        done(false);
      }, timeoutMs);
      this.watchers.add(check);
      check();
    });
  }

  /** True when a channel of that name is registered here. */
  has(name: string): boolean {
    return this.endpoints.has(name);
  }

  /**
   * Encodes and sends a frame. Rejects like `transport.send`, with the encoder's error, or with a
   * `ValueTooLargeError` (nothing sent) when the frame exceeds {@link frameLimit}.
   */
  send(to: string, frame: Frame): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame);
      assertFrameFits(() => `a ${frameKindName(frame.kind)} on channel '${frame.channel}'`, bytes.byteLength, this.frameLimit(), 'answer with less');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.transport.send(to, bytes);
  }

  /** Sends already-encoded frame bytes (used to send one encoding to many members). */
  sendEncoded(to: string, bytes: Uint8Array): Promise<void> {
    return this.transport.send(to, bytes);
  }

  private broadcastError(error: Error): void {
    for (const e of [...this.endpoints.values()]) e.onError(error);
  }

  /** The versions this router announces (a spec may simulate another build's). */
  private versions(): Versions {
    return simulated.get(this.transport) ?? { version: PROTOCOL_VERSION, oldest: OLDEST_COMPATIBLE_PROTOCOL_VERSION };
  }

  private stateOf(id: string): PeerState {
    let state = this.states.get(id);
    if (state === undefined) {
      state = { up: false, hello: undefined, admitted: false, refused: undefined, next: undefined };
      this.states.set(id, state);
    }
    return state;
  }

  /**
   * Says hello: an opening one when the transport reports the member up, an answer to the
   * member's opening one. The answer is what makes the exchange complete when the member's
   * router started listening after this member's opening hello reached its transport (a
   * transport started before its first map): that hello was dropped unheard, and the member's
   * own opening hello, sent when its router started, is answered.
   */
  private sendHello(to: string, answer: boolean): void {
    const { version, oldest } = this.versions();
    const limit = this.transport.maxFrameBytes;
    const body = [version, oldest, limit === undefined || limit === Infinity ? null : limit, answer];
    this.sendControl(to, version, { kind: FrameKind.Hello, channel: ROUTER_CHANNEL, id: 0, body });
  }

  private sendControl(to: string, version: number, frame: Frame): void {
    this.transport.send(to, encodeFrameAs(version, frame)).catch(() => {
      // The member is gone already: its peerDown follows, and it says hello again if it returns.
    });
  }

  private onHello(from: string, body: unknown): void {
    const hello = readHello(body);
    if (hello === undefined) {
      this.broadcastError(new ProtocolError(`dropped a malformed hello from '${from}'`, from));
      return;
    }
    const state = this.stateOf(from);
    if (state.refused !== undefined) return;
    if (state.hello !== undefined) {
      // An answer to a hello of this connection changes nothing; an opening one may be the next's.
      if (!hello.answer) state.next = hello;
      return;
    }
    // Not up yet: the opening hello this member sends at its peerUp is answered in turn.
    if (!hello.answer && state.up) this.sendHello(from, true);
    this.heard(from, state, hello);
    this.changed();
  }

  /** Takes `hello` as the member's: admits it once it is up, or refuses it. */
  private heard(from: string, state: PeerState, hello: PeerHello): void {
    state.hello = hello;
    const mine = this.versions();
    if (compatible(mine, hello)) {
      if (state.up) this.admit(from, state);
      return;
    }
    this.refuse(from, state, hello, 'its hello');
    // Told even when this member is the newer one, so that both sides report the refusal.
    this.sendControl(from, mine.version, { kind: FrameKind.Refuse, channel: ROUTER_CHANNEL, id: 0, body: [mine.version, mine.oldest] });
  }

  private onRefuse(from: string, body: unknown): void {
    const theirs = readVersions(body);
    if (theirs === undefined) {
      this.broadcastError(new ProtocolError(`dropped a malformed refusal from '${from}'`, from));
      return;
    }
    const state = this.stateOf(from);
    if (state.refused !== undefined) return;
    if (state.admitted) {
      // It admitted nothing of ours after all: it stops being a member for the channels.
      state.admitted = false;
      this.admittedIds = undefined;
      for (const e of [...this.endpoints.values()]) e.onPeerDown(from);
    }
    this.refuse(from, state, theirs, 'its refusal');
    this.changed();
  }

  private refuse(from: string, state: PeerState, theirs: Versions, heard: string): void {
    const mine = this.versions();
    const message =
      `member '${from}' speaks protocol version ${theirs.version} (interoperates down to ${theirs.oldest}), member '${this.transport.id}' speaks ${mine.version} (down to ${mine.oldest}), ` +
      `as ${heard} says: the two cannot share a cluster, so it was not admitted. Run releases whose protocol versions interoperate (docs/protocol.md); ` +
      `across a release whose CHANGELOG says "no rolling upgrade", stop every member, then start them all on the new release`;
    state.refused = new IncompatibleProtocolError(message, { peer: from, peerVersion: theirs.version, version: mine.version });
    this.broadcastError(state.refused);
  }

  private admit(id: string, state: PeerState): void {
    if (state.admitted) return;
    state.admitted = true;
    this.admittedIds = undefined;
    for (const e of [...this.endpoints.values()]) e.onPeerUp(id);
  }

  /**
   * A frame whose envelope version this member cannot read: a build without the hello (such as
   * 0.1.0) sends its map traffic regardless. Never admitted; reported on its first frame, then
   * at most every {@link LEGACY_REPORT_INTERVAL_MS} with the count dropped since it was met.
   */
  private legacyFrame(from: string, version: number): void {
    const now = Date.now();
    let legacy = this.legacy.get(from);
    const due = legacy === undefined || now - legacy.reportedAt >= LEGACY_REPORT_INTERVAL_MS;
    const dropped = (legacy?.dropped ?? 0) + 1;
    if (legacy !== undefined && !due) {
      legacy.dropped = dropped;
      return;
    }
    const mine = this.versions();
    const older = version < mine.version;
    const message =
      `member '${from}' sends frames of protocol version ${version}, member '${this.transport.id}' speaks ${mine.version} (down to ${mine.oldest}): ` +
      (older ? 'it runs an older release without the join hello (such as 0.1.0)' : 'it runs a newer release that does not speak this version') +
      `, so it was not admitted and its frames are dropped (${dropped} so far). ` +
      (older
        ? 'Upgrade it: the release after 0.1.0 has "no rolling upgrade" (CHANGELOG): stop every member, then start them all on the new release'
        : 'Run releases whose protocol versions interoperate (docs/protocol.md)');
    const error = new IncompatibleProtocolError(message, { peer: from, peerVersion: version, version: mine.version, dropped });
    legacy = { version, dropped, reportedAt: now, error };
    this.legacy.set(from, legacy);
    this.broadcastError(error);
    this.changed();
  }

  /** True when every member the transport reports was admitted or refused (or sent old frames). */
  private allHeard(): boolean {
    for (const id of this.transport.peers()) {
      const state = this.states.get(id);
      if (state?.admitted === true || state?.refused !== undefined || this.legacy.has(id)) continue;
      return false;
    }
    return true;
  }

  private changed(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  /** Says hello to the members the transport already reports (a repeated peerUp is ignored). */
  private sweep(): void {
    if (this.endpoints.size === 0) return;
    for (const id of this.transport.peers()) this.onPeerUp(id);
  }

  private forgetPeers(): void {
    this.states.clear();
    this.legacy.clear();
    this.admittedIds = undefined;
    this.changed();
  }

  private attach(): void {
    this.transport.on('message', this.onMessage);
    this.transport.on('peerUp', this.onPeerUp);
    this.transport.on('peerDown', this.onPeerDown);
    this.transport.on('close', this.onClose);
    // The transport's own faults are not relayed: the transport reports them (its 'error', or a
    // process warning when nobody listens), and each channel and map repeating them logged every
    // fault once per map, plus once (see docs/observability.md).
  }

  private detach(): void {
    this.transport.off('message', this.onMessage);
    this.transport.off('peerUp', this.onPeerUp);
    this.transport.off('peerDown', this.onPeerDown);
    this.transport.off('close', this.onClose);
  }
}

/** Both members accept each other's version. */
function compatible(mine: Versions, theirs: Versions): boolean {
  return theirs.version >= mine.oldest && mine.version >= theirs.oldest;
}

function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

/** `[version, oldest, ...]` of a hello or refusal; `undefined` when malformed. */
function readVersions(body: unknown): Versions | undefined {
  if (!Array.isArray(body)) return undefined;
  const [version, oldest] = body as unknown[];
  if (!isVersion(version) || !isVersion(oldest) || oldest > version) return undefined;
  return { version, oldest };
}

/** `[version, oldest, maxFrameBytes | null, answer]`; `undefined` when malformed. */
function readHello(body: unknown): PeerHello | undefined {
  const versions = readVersions(body);
  if (versions === undefined) return undefined;
  const [, , limit, answer] = body as unknown[];
  if (limit !== null && !(typeof limit === 'number' && Number.isSafeInteger(limit) && limit > 0)) return undefined;
  // A later version may add fields after these; these four keep their place.
  if (typeof answer !== 'boolean') return undefined;
  return { ...versions, maxFrameBytes: limit ?? Infinity, answer };
}

/** How an error message names a frame of `kind`. */
function frameKindName(kind: FrameKind): string {
  switch (kind) {
    case FrameKind.Request:
    case FrameKind.Notify:
      return 'request';
    case FrameKind.Reply:
      return 'reply';
    default:
      return 'answer';
  }
}
