/**
 * The pluggable carrier every map and RPC channel talks through. Anything that can move opaque
 * frames between named members (sockets, a message broker, worker threads) can implement it.
 *
 * @module
 */

/**
 * Events a transport emits. A transport never interprets frames: what is inside one (channel,
 * message type, CBOR body) is the business of the layers above.
 */
export interface TransportEvents {
  /** A frame from member `from` arrived. The receiver must not assume it owns `frame`'s buffer beyond the call. */
  message: (from: string, frame: Uint8Array) => void;
  /** Member `id` became reachable. */
  peerUp: (id: string) => void;
  /** Member `id` is gone (crashed, stopped, cut off). */
  peerDown: (id: string) => void;
  /**
   * Optional: this transport itself stopped or died (for example, the simulated crash of its member).
   * Maps and channels on it stop serving. A transport that never emits it is fine: `stop()` is then
   * the only way to end them.
   */
  close: () => void;
  /** Optional: a fault the transport survived (a bad connection, a rejected peer). */
  error: (error: Error) => void;
}

/**
 * The slice of an event emitter the library relies on: `on`, `off` and `emit`. Both
 * eventemitter3 and `node:events` satisfy it.
 */
export interface TransportEmitter {
  on(event: 'message', listener: TransportEvents['message']): unknown;
  on(event: 'peerUp' | 'peerDown', listener: TransportEvents['peerUp']): unknown;
  on(event: 'close', listener: TransportEvents['close']): unknown;
  on(event: 'error', listener: TransportEvents['error']): unknown;
  off(event: 'message', listener: TransportEvents['message']): unknown;
  off(event: 'peerUp' | 'peerDown', listener: TransportEvents['peerUp']): unknown;
  off(event: 'close', listener: TransportEvents['close']): unknown;
  off(event: 'error', listener: TransportEvents['error']): unknown;
  emit(event: 'message', from: string, frame: Uint8Array): boolean;
  emit(event: 'peerUp' | 'peerDown', id: string): boolean;
  emit(event: 'close'): boolean;
  emit(event: 'error', error: Error): boolean;
}

/**
 * A member's endpoint in a cluster. Many maps and channels share one transport.
 *
 * Contract: `start()` and `stop()` are idempotent; `peers()` lists live other members, sorted;
 * `send()` rejects when `to` is unreachable; delivery to one receiver preserves the sender's order
 * unless the transport documents otherwise.
 */
export interface Transport extends TransportEmitter {
  /** This member's id, unique in the cluster. */
  readonly id: string;
  /** Joins the cluster. Idempotent. */
  start(): Promise<void>;
  /** Leaves the cluster; peers see `peerDown`. Idempotent. */
  stop(): Promise<void>;
  /** Ids of the live other members, sorted. */
  peers(): string[];
  /**
   * Optional: the largest frame, in bytes, this transport accepts from a peer (and so the largest
   * it can carry to this member). Members announce it in their hello when they meet, and callers
   * size their frames by the smallest limit in the cluster (`ChannelRouter.frameLimit()`). A
   * transport that declares none is taken as unlimited.
   * @default undefined (unlimited)
   */
  readonly maxFrameBytes?: number;
  /**
   * Queues `frame` for `to`. Rejects when `to` is unreachable or this transport is stopped.
   * `frame` may be a view into a larger buffer: carry its `byteLength` bytes, not its `buffer`
   * (docs/custom-transport.md, 8).
   */
  send(to: string, frame: Uint8Array): Promise<void>;
  /**
   * Optional: resolves once the transport has met the members it can find right now (for a
   * transport that discovers members in the background after `start()`, such as TCP with seeds).
   * A map waits for it, at most `rpcTimeoutMs`, before asking the others for their state.
   *
   * It may reject with the reason this member cannot join, when waiting cannot fix it (every
   * member it reached refused it: a wrong secret, a duplicate id, another cluster); `map.start()`
   * then rejects with that error instead of running alone. Members it could not reach are no
   * reason to reject: the first member of a cluster starts alone.
   */
  joined?(): Promise<void>;
}
