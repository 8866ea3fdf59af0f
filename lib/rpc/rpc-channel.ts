/**
 * Request/reply between members over a shared transport (Tomcat Tribes: `RpcChannel`).
 *
 * @module
 */
import { instrumentRpcChannel } from './rpc-diagnostics.js';
import { EventEmitter } from 'eventemitter3';
import {
  ReservedChannelNameError,
  ProtocolError,
  RpcAbortedError,
  RpcRemoteError,
  RpcTimeoutError,
  StoppedError,
  ValueEncodeError,
  ValueTooLargeError,
  FrameRefusedError,
  type RpcResponse,
} from '../errors.js';
import { assertFrameFits } from './frame-limit.js';
import { FrameKind, encodeFrame, type Frame } from '../codec/frame.js';
import type { Transport } from '../transport/transport.js';
import { ChannelRouter, type ChannelEndpoint } from './channel-router.js';
import { PendingCall } from './pending-call.js';
import { RecentIds } from './recent-ids.js';
import { RPC_CALL_OPTION_RULES, type RpcCallOptions, type RpcChannelEvents, type RpcHandler } from './rpc-options.js';
import { func, transportRule, validateOptions } from '../options/validate.js';

/** Deadline of a call when none is given, in milliseconds. */
export const DEFAULT_RPC_TIMEOUT_MS = 5000;

/** How many settled calls are remembered to route their late replies to `lateReply`. */
const LATE_CALLS_REMEMBERED = 4096;

/** The stack of a call's caller, taken when the call is made. */
class CallSite {
  declare readonly stack: string | undefined;
  constructor() {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- only the frame to cut at
    Error.captureStackTrace(this, RpcChannel.prototype.call);
  }
}

/** Gives `error` the stack of the call site (its own first line, the caller's frames). */
function atCallSite<E extends Error>(error: E, site: CallSite | undefined): E {
  const frames = site?.stack;
  if (frames !== undefined) {
    const newline = frames.indexOf('\n');
    error.stack = `${error.name}: ${error.message}${newline === -1 ? '' : frames.slice(newline)}`;
  }
  return error;
}

interface ActiveCall {
  readonly pending: PendingCall;
  settle(): void;
  settled: boolean;
}

/** Channel names under this prefix belong to the library: maps talk on `lrm/map/<name>`. */
export const RESERVED_CHANNEL_PREFIX = 'lrm/';

/** Set only while {@link openLibraryChannel} constructs a channel. */
let openingLibraryChannel = false;

/**
 * Opens a channel under the reserved prefix, for the library's own layers (the maps). Not exported
 * from the package: applications get {@link ReservedChannelNameError} for such names.
 * @internal
 */
export function openLibraryChannel(transport: Transport, name: string, handler?: RpcHandler): RpcChannel {
  openingLibraryChannel = true;
  try {
    return new RpcChannel(transport, name, handler);
  } finally {
    openingLibraryChannel = false;
  }
}

/**
 * The largest frame the channels on `transport` may send, in bytes (see `ChannelRouter.frameLimit`):
 * for the maps, which check a write before they open their channel.
 * @internal
 */
export function frameLimitOf(transport: Transport): number {
  return ChannelRouter.of(transport).frameLimit();
}

/** Request ids remembered per peer to drop duplicates (see RpcChannel.served). */
const SERVED_REMEMBERED = 4096;

/**
 * All a channel asks about membership: who is reachable now, the default targets of a call. Its
 * router fits (the members admitted on the transport); a map's own members (`Membership`: who runs
 * the map, their incarnations, who is leaving) are none of a channel's business.
 */
interface ReachableMembers {
  /** Ids of the other members admitted now, sorted. */
  peers(): string[];
}

/**
 * A named request/reply channel. Every member that opens a channel of the same name on its
 * transport answers its requests with `handler`.
 *
 * @example
 * ```ts
 * const rpc = new RpcChannel(transport, 'echo', async (request, from) => ({ echo: request, from }));
 * const replies = await rpc.call('hi', { mode: 'majority', timeoutMs: 1000 });
 * rpc.on('lateReply', ({ from }) => console.log('late answer from', from));
 * ```
 */
export class RpcChannel extends EventEmitter<RpcChannelEvents> {
  /** The channel's name; channels of one name on different members talk to each other. */
  readonly name: string;
  /** The transport the channel talks through. */
  readonly transport: Transport;
  private readonly handler: RpcHandler | undefined;
  private readonly router: ChannelRouter;
  /** Who is reachable: the default targets of a call. */
  private readonly reachable: ReachableMembers;
  private readonly started: Promise<void>;
  /** {@link started} resolved: a call no longer waits for it (one promise hop less per call). */
  private running = false;
  private readonly calls = new Map<number, ActiveCall>();
  private nextId = 1;
  private closed = false;
  /**
   * Ids of the requests recently served, by peer (at most {@link SERVED_REMEMBERED} each), so a
   * request a transport delivers twice runs once: a handler need not be idempotent (a map's
   * handover must not hand a key's role over a second time). Forgotten when the peer goes down:
   * a new incarnation numbers its requests from 1 again. Notifications (id 0) are not remembered.
   */
  private readonly served = new Map<string, RecentIds>();

  private readonly endpoint: ChannelEndpoint = {
    onFrame: (from, frame) => {
      this.onFrame(from, frame);
    },
    onPeerUp: (id) => {
      this.served.delete(id);
      this.emit('peerUp', id);
    },
    onPeerDown: (id) => {
      this.served.delete(id);
      for (const call of [...this.calls.values()]) this.advance(call, call.pending.drop(id));
      this.emit('peerDown', id);
    },
    onClose: () => {
      void this.close();
    },
    onError: (error) => this.emit('error', error),
  };

  /**
   * Opens the channel and starts the transport if it is not started.
   * @param transport the member's transport, shared with maps and other channels.
   * @param name the channel's name; names starting with `lrm/` are reserved for the library.
   * @throws {ReservedChannelNameError} for a name starting with `lrm/`.
   * @throws {ChannelInUseError} when a channel or map of that name already runs on the transport.
   * @param handler answers requests; without one, this member answers that it has no such channel.
   */
  constructor(transport: Transport, name: string, handler?: RpcHandler) {
    super();
    if (typeof name !== 'string' || name.length === 0) throw new TypeError(`an RPC channel needs a non-empty string name, got ${typeof name === 'string' ? "''" : typeof name}`);
    transportRule(transport, 'transport', 'RpcChannel');
    if (handler !== undefined) func(handler, 'handler', 'RpcChannel');
    if (name.startsWith(RESERVED_CHANNEL_PREFIX) && !openingLibraryChannel) {
      throw new ReservedChannelNameError(`RPC channel name '${name}' starts with '${RESERVED_CHANNEL_PREFIX}', which is reserved for the library's own channels (maps talk on '${RESERVED_CHANNEL_PREFIX}map/<name>'): choose another name`);
    }
    this.transport = transport;
    this.name = name;
    this.handler = handler;
    this.router = ChannelRouter.of(transport);
    // Admitted members only: nothing is sent to a member of an incompatible version.
    this.reachable = this.router;
    this.started = this.router.register(name, this.endpoint);
    // Callers see a start failure on their first call; keep it from surfacing as unhandled here.
    this.started.then(
      () => {
        this.running = true;
      },
      () => undefined,
    );
  }

  /** Resolves once the transport runs. */
  ready(): Promise<void> {
    return this.started;
  }

  /**
   * The largest request or reply this channel can send, in bytes: the smallest `maxFrameBytes`
   * the members' transports declare (`Infinity` when none does). A larger one is refused with
   * `ValueTooLargeError` before anything is sent.
   */
  frameLimit(): number {
    return this.router.frameLimit();
  }

  /**
   * Sends `request` to the targets and resolves with the replies the mode asks for.
   * @throws {RpcTimeoutError} when `timeoutMs` passes first (with the replies that arrived).
   * @throws {RpcAbortedError} when `signal` aborts first.
   * @throws {StoppedError} after {@link close}.
   */
  async call(request: unknown, options: RpcCallOptions = {}): Promise<RpcResponse[]> {
    // The caller's stack is taken here, synchronously, so a timeout's or abort's error shows the
    // caller and not a timer. Taking a stack is the dearest part of a call: one per call, and
    // none for internal callers that ask not to.
    const site = options.stackAtCallSite === false ? undefined : new CallSite();
    // Before anything else: a bad option (a negative timeoutMs) must not become a call that
    // settles at once with nothing.
    validateOptions('RpcChannel.call', options, RPC_CALL_OPTION_RULES);
    this.assertOpen();
    if (!this.running) {
      await this.started;
      // The channel may have closed while the transport was starting.
      this.assertOpen();
    }
    const mode = options.mode ?? 'all';
    const timeoutMs = options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    const targets = this.targetsOf(options.to);

    if (mode === 'none') {
      // Delivered, but not waited for: not even for the transport to accept the frames.
      const frame: Frame = { kind: FrameKind.Notify, channel: this.name, id: 0, body: request };
      try {
        void this.sendToAll(targets, frame, () => undefined);
      } catch (error) {
        throw error instanceof ValueTooLargeError ? atCallSite(error, site) : error;
      }
      return [];
    }

    if (options.signal?.aborted === true) {
      const aborted = atCallSite(new RpcAbortedError(`RPC '${this.name}' was aborted before it was sent`, []), site);
      throw Object.assign(aborted, { cause: options.signal.reason as unknown });
    }
    const id = this.nextId++;
    const pending = new PendingCall(mode, targets);
    return new Promise<RpcResponse[]>((resolve, reject) => {
      const finish = (error?: RpcTimeoutError | RpcAbortedError): void => {
        if (call.settled) return;
        call.settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.remember(id, call);
        const replies = [...pending.responses];
        if (error === undefined) {
          resolve(replies);
        } else {
          Object.assign(error, { replies });
          reject(error);
        }
      };
      const call: ActiveCall = {
        pending,
        settled: false,
        settle: () => {
          finish();
        },
      };
      const timer = setTimeout(() => {
        const message = `RPC '${this.name}' timed out after ${timeoutMs} ms with ${pending.responses.length} of ${targets.length} replies (mode '${mode}'): raise timeoutMs if members are slow`;
        finish(atCallSite(new RpcTimeoutError(message, []), site));
      }, timeoutMs);
      const onAbort = (): void => {
        const aborted = atCallSite(new RpcAbortedError(`RPC '${this.name}' was aborted with ${pending.responses.length} of ${targets.length} replies`, []), site);
        if (options.signal?.reason !== undefined) Object.assign(aborted, { cause: options.signal.reason as unknown });
        finish(aborted);
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.calls.set(id, call);
      const frame: Frame = { kind: FrameKind.Request, channel: this.name, id, body: request };
      let sent: Promise<void>;
      try {
        sent = this.sendToAll(targets, frame, (target, error) => {
          // A target whose transport refused the frame (it declared a smaller maxFrameBytes than
          // the cluster's limit known here) answers, in effect, with that refusal: the caller
          // learns why, instead of taking it for a member that is gone.
          if (error instanceof FrameRefusedError) this.advance(call, pending.error(target, new RpcRemoteError(error.message, target, error.name)));
          else this.advance(call, pending.drop(target));
        });
      } catch (error) {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.calls.delete(id);
        call.settled = true;
        reject(error instanceof ValueTooLargeError ? atCallSite(error, site) : error);
        return;
      }
      void sent.then(() => {
        this.advance(call, pending.outcome());
      });
    });
  }

  /** @internal The members a call asks: `to`, or every other live member, never this one. */
  targetsOf(to: readonly string[] | undefined): string[] {
    return [...new Set(to ?? this.reachable.peers())].filter((t) => t !== this.transport.id);
  }

  /** Closes the channel: pending calls stop waiting (they time out or settle), requests are no longer answered. */
  close(): Promise<void> {
    // Every caller waits for the same end: the transport is released (and stopped if unused).
    this.closing ??= this.shut();
    return this.closing;
  }

  private closing: Promise<void> | undefined;

  private async shut(): Promise<void> {
    this.closed = true;
    for (const call of this.calls.values()) {
      if (!call.settled) for (const t of [...call.pending.waiting]) this.advance(call, call.pending.drop(t));
    }
    this.calls.clear();
    this.emit('close');
    await this.router.unregister(this.name);
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoppedError(`RPC channel '${this.name}' is closed: open a new channel`);
  }

  /**
   * Encodes once for every target (synchronously: an unencodable request, or one above the
   * cluster's frame limit, throws before anything is sent).
   */
  private sendToAll(targets: readonly string[], frame: Frame, unreachable: (target: string, error: unknown) => void): Promise<void> {
    if (targets.length === 0) return Promise.resolve();
    const bytes = encodeFrame(frame);
    assertFrameFits(() => `a request on RPC channel '${this.name}'`, bytes.byteLength, this.router.frameLimit());
    return Promise.all(
      targets.map((t) =>
        this.router.sendEncoded(t, bytes).catch((error: unknown) => {
          unreachable(t, error);
        }),
      ),
    ).then(() => undefined);
  }

  private advance(call: ActiveCall, outcome: 'waiting' | 'settled'): void {
    if (outcome === 'settled' && !call.settled) call.settle();
  }

  private remember(id: number, call: ActiveCall): void {
    if (call.pending.waiting.size === 0) {
      this.calls.delete(id);
      return;
    }
    // Keep a settled call while someone may still answer, so its answer goes to 'lateReply'.
    if (this.calls.size > LATE_CALLS_REMEMBERED) {
      // Forget the oldest settled call; a call still waiting for its mode is never dropped.
      for (const [oldId, old] of this.calls) {
        if (old.settled && oldId !== id) {
          this.calls.delete(oldId);
          break;
        }
      }
    }
  }

  private onFrame(from: string, frame: Frame): void {
    switch (frame.kind) {
      case FrameKind.Request:
      case FrameKind.Notify:
        void this.serve(from, frame);
        return;
      case FrameKind.Reply:
        this.answer(from, frame.id, { from, reply: frame.body });
        return;
      case FrameKind.Error: {
        const body = frame.body;
        if (!Array.isArray(body) || typeof body[0] !== 'string' || typeof body[1] !== 'string') {
          this.emit('error', new ProtocolError(`malformed error reply from '${from}' on channel '${this.name}'`, from));
          return;
        }
        this.answer(from, frame.id, { from, error: new RpcRemoteError(body[1], from, body[0]) });
        return;
      }
      case FrameKind.NoChannel: {
        const call = this.calls.get(frame.id);
        if (call !== undefined) this.advance(call, call.pending.drop(from));
        return;
      }
    }
  }

  /** True when `from`'s request `id` was served already (a duplicate); remembers it otherwise. */
  private servedBefore(from: string, id: number): boolean {
    let ids = this.served.get(from);
    if (ids === undefined) this.served.set(from, (ids = new RecentIds(SERVED_REMEMBERED)));
    return ids.seen(id);
  }

  private answer(from: string, id: number, response: RpcResponse): void {
    const call = this.calls.get(id);
    if (call === undefined) return;
    if (call.settled) {
      if (!call.pending.waiting.has(from)) return;
      call.pending.waiting.delete(from);
      if (call.pending.waiting.size === 0) this.calls.delete(id);
      this.emit('lateReply', response);
      return;
    }
    this.advance(call, 'error' in response ? call.pending.error(from, response.error) : call.pending.reply(from, response.reply));
  }

  private async serve(from: string, frame: Frame): Promise<void> {
    const wantsReply = frame.kind === FrameKind.Request;
    // Only requests are told apart by id: every notification carries id 0, so remembering it
    // would drop every later notification from that peer. A notification delivered twice runs
    // twice (the maps' notifications are placements, deletes and uses, applied by version).
    if (this.closed || (wantsReply && this.servedBefore(from, frame.id))) return;
    if (this.handler === undefined) {
      if (wantsReply) await this.reply(from, { kind: FrameKind.NoChannel, channel: this.name, id: frame.id, body: null });
      return;
    }
    let reply: unknown;
    try {
      reply = await this.handler(frame.body, from, wantsReply);
    } catch (error) {
      if (!wantsReply) {
        this.emit('error', error instanceof Error ? error : new Error(String(error)));
        return;
      }
      const e = error instanceof Error ? error : new Error(String(error));
      await this.reply(from, { kind: FrameKind.Error, channel: this.name, id: frame.id, body: [e.name, e.message] });
      return;
    }
    if (!wantsReply) return;
    try {
      await this.router.send(from, { kind: FrameKind.Reply, channel: this.name, id: frame.id, body: reply });
    } catch (error) {
      if (error instanceof Error && error.name === 'PeerUnreachableError') return;
      if (error instanceof ValueTooLargeError || error instanceof FrameRefusedError) {
        // The handler's side hears of it (its answer was never sent), and the caller gets a typed
        // error entry at once instead of waiting for its deadline.
        this.emit('error', error);
        await this.reply(from, { kind: FrameKind.Error, channel: this.name, id: frame.id, body: [error.name, `the reply of member '${this.transport.id}' was not sent: ${error.message}`] });
        return;
      }
      // Tell the caller why instead of leaving it waiting. Usually the reply could not be encoded,
      // but a transport may also fail one send and carry the next: name the real failure, never
      // report a transport fault as an encoding one.
      const e = error instanceof Error ? error : new Error(String(error));
      const what = e instanceof ValueEncodeError ? 'reply could not be encoded' : 'reply could not be sent';
      await this.reply(from, { kind: FrameKind.Error, channel: this.name, id: frame.id, body: [e.name, `${what}: ${e.message}`] });
    }
  }

  private async reply(to: string, frame: Frame): Promise<void> {
    try {
      await this.router.send(to, frame);
    } catch {
      // The requester is gone: nobody is left to tell.
    }
  }
}

// Traced calls and 'error' events on node:diagnostics_channel (docs/observability.md).
instrumentRpcChannel(RpcChannel.prototype);
