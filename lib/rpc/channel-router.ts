/**
 * Many maps and RPC channels share one transport. The router is the single listener on it: it
 * decodes each frame's envelope once, hands the frame to the channel named in it, and answers
 * requests for channels this member does not run, so callers never wait for them.
 *
 * @module
 */
import { ChannelInUseError, CodecError, ProtocolError } from '../errors.js';
import { assertFrameFits } from './frame-limit.js';
import { FrameKind, decodeFrame, encodeFrame, type Frame } from '../codec/frame.js';
import type { Transport } from '../transport/transport.js';

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

  private readonly onMessage = (from: string, bytes: Uint8Array): void => {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      const cause = error instanceof CodecError ? error : new CodecError('undecodable frame', { cause: error });
      this.broadcastError(new ProtocolError(`dropped a frame from '${from}': ${cause.message}`, from, { cause }));
      return;
    }
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
    for (const e of [...this.endpoints.values()]) e.onPeerUp(id);
  };

  private readonly onPeerDown = (id: string): void => {
    for (const e of [...this.endpoints.values()]) e.onPeerDown(id);
  };

  private readonly onClose = (): void => {
    // The transport may be started again (a restarted member); the next register() must start it.
    this.started = undefined;
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
    this.started ??= this.transport.start();
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
    await this.transport.stop();
  }

  /**
   * The largest frame that every member of the cluster accepts, in bytes: `Infinity` when no
   * transport declares a limit. Calls check their frames against it before sending anything.
   *
   * Placeholder: only this member's own `transport.maxFrameBytes` for now; the limits the members
   * exchange when they join replace it.
   */
  frameLimit(): number {
    return this.transport.maxFrameBytes ?? Infinity;
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
