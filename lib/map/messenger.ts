/**
 * How a map talks to its peers over its RPC channel: requests with the map's deadline, counted by
 * type, whose timeouts come back as "no reply"; placements and deletes cut into messages of
 * bounded size.
 *
 * @module
 */
import { RpcTimeoutError, StoppedError, ValueTooLargeError, type RpcResponse } from '../errors.js';
import { mapMessageToWire, type MapMessage, type Placement, type Removal } from '../codec/map-messages.js';
import { MSG_PROXY, MSG_REMOVE } from '../codec/message-types.js';
import type { RpcChannel } from '../rpc/rpc-channel.js';
import type { RpcCallOptions, RpcReplyMode } from '../rpc/rpc-options.js';
import { mapChannelName } from './map-channel.js';
import type { MapContext } from './map-context.js';
import { chunked, envelopeBound, placementBound, placementSize, removalBound, removalSize, type FrameBudget } from './message-size.js';

/**
 * What the messenger needs of the map: its name, deadline and frame limit, its channel (calls
 * only), counting what it sends and the timeouts (not the counters themselves), and where errors go.
 */
export type MessengerState = Pick<MapContext, 'name' | 'rpcTimeoutMs' | 'countSent' | 'countTimeout' | 'frameLimit' | 'events'> & {
  /** The map's channel; throws before the map started (see `MapContext.rpc`). */
  readonly rpc: Pick<RpcChannel, 'call'>;
};

/** Sends the map's messages and counts them. */
export class Messenger {
  private readonly state: MessengerState;

  /** @param state see {@link MessengerState}. */
  constructor(state: MessengerState) {
    this.state = state;
  }

  /** A map message as sent on the wire (a reply included), counted as sent. */
  wire(message: MapMessage): unknown[] {
    this.state.countSent(message.type);
    return mapMessageToWire(message);
  }

  /** The options of every map request: the map's deadline, and no stack capture (nobody reads it). */
  callOptions(to: readonly string[], mode: RpcReplyMode): RpcCallOptions {
    return { mode, to, timeoutMs: this.state.rpcTimeoutMs, stackAtCallSite: false };
  }

  /**
   * The replies that did arrive before a request's deadline passed (counted as a timeout).
   * @throws `error` itself when it is not an {@link RpcTimeoutError}.
   */
  timedOut(error: unknown): RpcResponse[] {
    if (!(error instanceof RpcTimeoutError)) throw error;
    this.state.countTimeout();
    return error.replies;
  }

  /**
   * Sends a map message; failures (timeouts included) come back as "no reply" from that target.
   * A message above the cluster's frame limit is not sent, and reported as `'error'`: the calls
   * of the map's users are checked before anything changes (see `set`), so only a limit lowered
   * since (a member with a smaller `maxFrameBytes` joined) gets here, with an entry written before.
   */
  async request(message: MapMessage, to: readonly string[], mode: RpcReplyMode): Promise<RpcResponse[]> {
    if (to.length === 0) return [];
    for (let i = 0; i < to.length; i++) this.state.countSent(message.type);
    try {
      return await this.state.rpc.call(mapMessageToWire(message), this.callOptions(to, mode));
    } catch (error) {
      if (error instanceof StoppedError) return [];
      if (error instanceof ValueTooLargeError) {
        this.state.events.emit('error', error);
        return [];
      }
      return this.timedOut(error);
    }
  }

  /** The strict budget of a list of items in one frame, when the cluster declares a frame limit. */
  budget<T>(bound: (item: T) => number): FrameBudget<T> | undefined {
    const limit = this.state.frameLimit();
    return Number.isFinite(limit) ? { bound, maxBytes: limit - envelopeBound(mapChannelName(this.state.name)) } : undefined;
  }

  /** Sends placements to a member, in messages of bounded size (see {@link chunked}); one promise per message. */
  sendPlacements(to: string, placements: readonly Placement[], mode: RpcReplyMode): Promise<RpcResponse[]>[] {
    return chunked(placements, placementSize, undefined, this.budget(placementBound)).map((entries) => this.request({ type: MSG_PROXY, entries }, [to], mode));
  }

  /** Sends deletes to members, in messages of bounded size; one promise per message. */
  sendRemovals(to: readonly string[], removals: readonly Removal[], mode: RpcReplyMode): Promise<RpcResponse[]>[] {
    return chunked(removals, removalSize, undefined, this.budget(removalBound)).map((list) => this.request({ type: MSG_REMOVE, removals: list }, to, mode));
  }
}
