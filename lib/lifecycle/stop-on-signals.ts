/**
 * Graceful scale-down: on SIGTERM (Kubernetes, PM2, systemd) or SIGINT, stop the maps (each hands
 * every entry it holds over to the survivors) and the transport, then exit; exit with code 1 if
 * that takes longer than `timeoutMs`, so the process ends before the orchestrator's SIGKILL and
 * says it did not finish. See docs/kubernetes.md.
 *
 * @module
 */

/** Anything with an async `stop()`: a map, a transport, an HTTP server wrapped by the caller. */
export interface Stoppable {
  stop(): Promise<void>;
}

/** Settings of {@link stopOnSignals}. */
export interface StopOnSignalsOptions {
  /**
   * The signals that start the stop. A second one while stopping exits at once with code 1.
   * @default ['SIGTERM', 'SIGINT']
   */
  signals?: readonly NodeJS.Signals[];
  /**
   * How long the stop may take before the process exits with code 1, in milliseconds. Keep it
   * below the orchestrator's grace period (Kubernetes' `terminationGracePeriodSeconds`, PM2's
   * `kill_timeout`).
   * @default 20000
   */
  timeoutMs?: number;
  /**
   * Ends the process: called with 0 once everything stopped, 1 on timeout, failure or a second
   * signal. `false` to leave the process running (the caller's `onStopped` ends it).
   * @default process.exit
   */
  exit?: ((code: number) => void) | false;
  /**
   * Called once everything stopped, or with the error that stopped the stop (before `exit`).
   * @default none
   */
  onStopped?: (error: unknown) => void;
}

/** @internal */
export const DEFAULT_STOP_TIMEOUT_MS = 20_000;
/** @internal */
export const DEFAULT_STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * On the first of `signals`, stops `targets` one after another, in order (maps first, then their
 * transport, then whatever else), and exits with 0, or with 1 after `timeoutMs` or on a failure.
 * A map's `stop()` resolves only once every entry it held has a copy on a live member, so an
 * exit after it loses nothing. Returns a disposer that removes the signal handlers.
 *
 * @throws {RangeError} when `timeoutMs` is not a whole number of milliseconds > 0.
 *
 * @example
 * ```ts
 * import { LazyReplicatedMap, TcpTransport, stopOnSignals } from 'lazy-replicated-map';
 * const transport = new TcpTransport({ id: 'a', port: 4000 });
 * const map = new LazyReplicatedMap<string, string>({ name: 'sessions', transport });
 * await map.start();
 * const dispose = stopOnSignals([map, transport], { timeoutMs: 25_000 });
 * ```
 */
export function stopOnSignals(targets: readonly Stoppable[], options: StopOnSignalsOptions = {}): () => void {
  const timeoutMs = options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`stopOnSignals: \`timeoutMs\` must be a whole number of milliseconds > 0, got ${String(timeoutMs)}`);
  }
  const signals = options.signals ?? DEFAULT_STOP_SIGNALS;
  const exit = options.exit === undefined ? (code: number) => process.exit(code) : options.exit;
  let stopping = false;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;

  // Once only: a stop that finishes after its timeout (or a second signal) must not exit again.
  const end = (code: number, error: unknown): void => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    dispose();
    options.onStopped?.(error);
    if (exit !== false) exit(code);
  };
  const onSignal = (): void => {
    if (stopping) {
      // An impatient operator (a second Ctrl-C): do not make them wait for the hand-over.
      end(1, new Error('stopOnSignals: a second signal arrived while stopping'));
      return;
    }
    stopping = true;
    // Not unref'd: this timer is what guarantees the process ends before the orchestrator kills it.
    timer = setTimeout(() => {
      end(1, new Error(`stopOnSignals: stopping took longer than ${timeoutMs} ms (option timeoutMs)`));
    }, timeoutMs);
    void (async () => {
      for (const t of targets) await t.stop();
    })().then(
      () => {
        end(0, undefined);
      },
      (error: unknown) => {
        end(1, error);
      },
    );
  };
  function dispose(): void {
    for (const s of signals) process.off(s, onSignal);
  }
  // Keep listening while stopping: a second signal must not hit Node's default (exit without hand-over).
  for (const s of signals) process.on(s, onSignal);
  return () => {
    if (!stopping) dispose();
  };
}
