/**
 * Tracing of public operations with `diagnostics_channel.tracingChannel`, applied to a class's
 * prototype in one place (the bottom of the class's file), so the methods themselves stay free of
 * instrumentation. A traced method is called straight through when nobody subscribes.
 *
 * @module
 */
import { tracingChannel, type TracingChannel } from 'node:diagnostics_channel';
import { publishPeerError } from './peer-error.js';
import type { PeerErrorMessage } from './channels.js';

type AsyncMethod = (...args: unknown[]) => Promise<unknown>;

/**
 * Whether anyone listens to any event of `tc`. Not `tc.hasSubscribers`: that arrived in Node
 * 20.13, and the library supports every Node 20.
 */
function subscribed(tc: TracingChannel<unknown, object>): boolean {
  return tc.start.hasSubscribers || tc.end.hasSubscribers || tc.asyncStart.hasSubscribers || tc.asyncEnd.hasSubscribers || tc.error.hasSubscribers;
}

/**
 * Replaces the async method `method` of `proto` with one that publishes on the tracing channel
 * `name` (start, end, asyncStart, asyncEnd, error) with the context `contextOf` builds, built
 * only when someone subscribes.
 */
export function traceMethod<T extends object>(proto: T, method: keyof T & string, name: string, contextOf: (self: T, args: unknown[]) => object): void {
  const original = proto[method] as unknown as AsyncMethod;
  const tc = tracingChannel<object>(name);
  const traced = function (this: T, ...args: unknown[]): Promise<unknown> {
    if (!subscribed(tc)) return original.apply(this, args);
    return tc.tracePromise(original, contextOf(this, args), this, ...args);
  };
  Object.defineProperty(traced, 'name', { value: method });
  Object.defineProperty(proto, method, { value: traced, writable: true, configurable: true, enumerable: false });
}

/** What {@link publishErrorsOf} needs of an emitter. */
interface Emitting {
  emit: (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;
}

/**
 * Makes every `'error'` an instance of `proto` emits also go to `lazy-replicated-map:peer.error`,
 * described by `describe` (whatever part of the library emits it, one wrapper sees them all).
 */
export function publishErrorsOf<T extends Emitting>(proto: T, source: PeerErrorMessage['source'], describe: (self: T) => { member: string; name?: string }): void {
  const original = proto.emit;
  const emit = function (this: T, event: string | symbol, ...args: unknown[]): boolean {
    const error = args[0];
    if (event === 'error' && error instanceof Error) {
      const { member, name } = describe(this);
      publishPeerError(source, member, error, name);
    }
    return original.call(this, event, ...args);
  };
  Object.defineProperty(proto, 'emit', { value: emit, writable: true, configurable: true, enumerable: false });
}
