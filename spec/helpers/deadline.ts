/**
 * Bounds on waiting. `within` puts a deadline on a promise so a missing event fails the test with
 * a message that names it (instead of mocha's generic timeout). `waitFor` polls a condition, and
 * is meant only for conditions in other processes, which no event of ours can announce.
 *
 * @module
 */

/** Resolves as `promise` does, or rejects once `ms` passed first, naming `what` was awaited. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => {
    clearTimeout(timer);
  });
}

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** What is awaited, for the timeout error. */
  what: string;
  /** Give up after this long, in milliseconds. @default 10000 */
  timeoutMs?: number;
  /** Pause between two checks, in milliseconds. @default 50 */
  intervalMs?: number;
  /** The state seen at the last check, for the timeout error. */
  detail?: () => string;
}

/**
 * Checks `condition` until it holds; rejects with an error naming what was awaited (and the last
 * state seen) after `timeoutMs`. Only for conditions in other processes: within one process,
 * await an event.
 */
export async function waitFor(condition: () => Promise<boolean> | boolean, options: WaitForOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const started = Date.now();
  for (;;) {
    let failure = '';
    try {
      if (await condition()) return;
    } catch (error) {
      failure = `; last check threw ${String(error)}`;
    }
    if (Date.now() - started > timeoutMs) {
      const detail = options.detail === undefined ? '' : `; last seen: ${options.detail()}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what}${detail}${failure}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
