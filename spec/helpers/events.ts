/**
 * Waiting for events instead of time: every helper here resolves on an explicit event, so specs
 * stay deterministic on the in-memory network and stay valid on a real transport (TCP), where
 * "settled" can only mean "the event we expect has arrived".
 *
 * @module
 */
import { inspect } from 'node:util';

/** The slice of an emitter the helpers need; eventemitter3, `node:events` and `Transport` all fit. */
export interface EmitterLike {
  // Method syntax keeps parameters bivariant, so emitters with typed overloads (Transport) fit;
  // `any` lets eventemitter3's generic, event-map-typed `on`/`off` fit too. Callers name the
  // argument types they expect through the helpers' type parameter instead.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

/**
 * Resolves with the arguments of the next `event` for which `predicate` holds. The listener is
 * attached synchronously, so call it *before* the action that triggers the event.
 */
export function once<A extends unknown[] = unknown[]>(
  emitter: EmitterLike,
  event: string,
  predicate: (...args: A) => boolean = () => true,
): Promise<A> {
  return new Promise<A>((resolve) => {
    const listener = (...raw: unknown[]): void => {
      const args = raw as A;
      if (!predicate(...args)) return;
      emitter.off(event, listener);
      resolve(args);
    };
    emitter.on(event, listener);
  });
}

/** Resolves with the arguments of the first `n` events for which `predicate` holds. */
export function collect<A extends unknown[] = unknown[]>(
  emitter: EmitterLike,
  event: string,
  n: number,
  predicate: (...args: A) => boolean = () => true,
): Promise<A[]> {
  return new Promise<A[]>((resolve) => {
    const seen: A[] = [];
    if (n === 0) {
      resolve(seen);
      return;
    }
    const listener = (...raw: unknown[]): void => {
      const args = raw as A;
      if (!predicate(...args)) return;
      seen.push(args);
      if (seen.length < n) return;
      emitter.off(event, listener);
      resolve(seen);
    };
    emitter.on(event, listener);
  });
}

/** Records every `event` with its arguments, in arrival order, until `stop()` is called. */
// The type parameter only names the caller's view of the arguments, as `once` and `collect` do.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function record<A extends unknown[] = unknown[]>(emitter: EmitterLike, event: string): { events: A[]; stop(): void } {
  const events: A[] = [];
  const listener = (...raw: unknown[]): void => {
    events.push(raw as A);
  };
  emitter.on(event, listener);
  return {
    events,
    stop: () => {
      emitter.off(event, listener);
    },
  };
}

/**
 * Resolves with what `promise` rejected with, and fails the test if it resolved: chai has no
 * promise assertions without a plugin, and a plain try/catch would let a resolution pass silently.
 */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`expected a rejection, but the promise resolved with ${inspect(value)}`);
}

/** Runs `fn` and returns what it threw; fails the test if it returned. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw, but the function returned');
}

/** A promise with its resolve function outside, to open a gate from the test at a chosen moment. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

/** Creates a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
