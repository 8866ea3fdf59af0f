import type { RpcResponse } from '../errors.js';
import { boolean, oneOf, shaped, stringArray, timerMs, type OptionRules } from '../options/validate.js';

/**
 * How many replies a call waits for.
 * - `first`: the first successful reply (or every error, once all targets answered);
 * - `majority`: at least half of the targets;
 * - `all`: every target;
 * - `none`: nothing; the request is still delivered.
 */
export type RpcReplyMode = 'first' | 'majority' | 'all' | 'none';

/** Options of one {@link RpcChannel.call}. */
export interface RpcCallOptions {
  /**
   * How many replies to wait for.
   * @default 'all'
   */
  mode?: RpcReplyMode;
  /**
   * Deadline in milliseconds; when it passes first, the call rejects with `RpcTimeoutError`.
   * @default 5000
   */
  timeoutMs?: number;
  /** Members to ask. Default: every other live member of the transport's cluster. This member is never asked. */
  to?: readonly string[];
  /** Aborts the call: it rejects with `RpcAbortedError` carrying the replies so far. */
  signal?: AbortSignal;
  /**
   * Take the caller's stack when the call is made, so a timeout or abort error shows where the
   * call came from. Costs one stack capture per call; internal callers on hot paths turn it off.
   * @default true
   */
  stackAtCallSite?: boolean;
}

/**
 * The rule of every option of {@link RpcChannel.call}, checked on each call before anything is
 * sent: one line per option.
 */
export const RPC_CALL_OPTION_RULES: OptionRules<RpcCallOptions> = {
  mode: oneOf(['first', 'majority', 'all', 'none'] satisfies RpcReplyMode[]),
  timeoutMs: timerMs(),
  to: stringArray,
  signal: shaped('an AbortSignal', ['addEventListener', 'removeEventListener']),
  stackAtCallSite: boolean,
};

/**
 * Handles one request: its return value (or promise) is the reply; a throw answers with an error.
 * `wantsReply` is false for a one-way request (mode `'none'`): whatever it returns is dropped, so
 * a handler can skip building a reply.
 */
export type RpcHandler = (request: unknown, from: string, wantsReply: boolean) => unknown;

/** Events of an {@link RpcChannel}. */
export interface RpcChannelEvents {
  /** A reply (or remote error) that arrived after its call settled (Tomcat: `leftOver`). */
  lateReply: (response: RpcResponse) => void;
  /** A peer sent something this channel could not use; the channel keeps serving. */
  error: (error: Error) => void;
  /** A member became reachable on the transport. */
  peerUp: (id: string) => void;
  /** A member left the transport; calls stop waiting for it. */
  peerDown: (id: string) => void;
  /** The channel stopped (closed, or its transport closed). */
  close: () => void;
}

export type { RpcResponse };
