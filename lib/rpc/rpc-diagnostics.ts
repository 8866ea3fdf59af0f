/**
 * The RPC channel's diagnostics: every `call` on `lazy-replicated-map:rpc.call` (a tracing channel)
 * and every `'error'` on `lazy-replicated-map:peer.error` (see docs/observability.md). Applied once
 * to the prototype, so `call` carries no instrumentation.
 *
 * @module
 */
import { DIAGNOSTICS_CHANNELS } from '../diagnostics/channels.js';
import { publishErrorsOf, traceMethod } from '../diagnostics/tracing.js';
import type { RpcCallOptions, RpcReplyMode } from './rpc-options.js';

/**
 * The context of a traced RPC call (on `lazy-replicated-map:rpc.call`). Declared here, with the
 * channel, rather than in `diagnostics/channels.ts`: it names the channel's own types, and the
 * diagnostics module, which every layer imports, imports no layer above the codec.
 */
export interface RpcCallContext {
  /** The channel's name (`lrm/map/<name>` for a map's own requests). */
  channel: string;
  /** This member's id. */
  member: string;
  /** The reply mode. */
  mode: RpcReplyMode;
  /** The members asked, as known when the call began (`to`, or every other live member). */
  targets: readonly string[];
  /** The deadline, in milliseconds. */
  timeoutMs: number | undefined;
  /** The replies, once it resolved. */
  result?: unknown;
  /** Why it rejected (`RpcTimeoutError`, ...). */
  error?: unknown;
}

/** The slice of an RPC channel the instrumentation reads. */
interface InstrumentedChannel {
  readonly name: string;
  readonly transport: { readonly id: string };
  targetsOf(to: readonly string[] | undefined): string[];
  call(request: unknown, options?: RpcCallOptions): Promise<unknown>;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

/** Instruments `RpcChannel.prototype` (once, where the class is defined). */
export function instrumentRpcChannel(proto: object): void {
  const channel = proto as InstrumentedChannel;
  traceMethod(channel, 'call', DIAGNOSTICS_CHANNELS.rpcCall, (self, args): RpcCallContext => {
    const options = (args[1] ?? {}) as RpcCallOptions;
    return { channel: self.name, member: self.transport.id, mode: options.mode ?? 'all', targets: self.targetsOf(options.to), timeoutMs: options.timeoutMs };
  });
  publishErrorsOf(channel, 'channel', (self) => ({ member: self.transport.id, name: self.name }));
}
