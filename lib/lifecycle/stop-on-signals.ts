/**
 * Graceful scale-down: on SIGTERM (Kubernetes, PM2, systemd) or SIGINT, stop the maps (each hands
 * every entry it holds over to the survivors, waiting up to its `stopWaitMs` for one to appear)
 * and the transport, then exit; exit with code 1 if a map dropped entries (`DataLossError`) or
 * that takes longer than `timeoutMs`, so the process ends before the orchestrator's SIGKILL and
 * says it did not finish. See docs/kubernetes.md.
 *
 * @module
 */
import { inspect } from 'node:util';

import { constants } from 'node:os';
import { describeValue, func, timerMs, validateOptions, type OptionRule, type OptionRules } from '../options/validate.js';

/** Anything with an async `stop()`: a map, a transport, an HTTP server wrapped by the caller. */
export interface Stoppable {
  stop(): Promise<void>;
  /** A map's `stopWaitMs`: `stopOnSignals` checks that its `timeoutMs` leaves room for it. */
  readonly stopWaitMs?: number;
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
   * `kill_timeout`) and above every map's `stopWaitMs` (checked), so that a map that waited in
   * vain for a member still reports what it dropped.
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
   * Called once everything stopped, or with the first error a stop threw (before `exit`).
   * @default none: an error is written to stderr
   */
  onStopped?: (error: unknown) => void;
}

/** A list of signal names this platform knows (`'SIGTERM'`, ...). */
const signalList: OptionRule = (value, option, owner) => {
  const known = constants.signals as Record<string, number | undefined>;
  if (!Array.isArray(value) || !(value as unknown[]).every((s) => typeof s === 'string' && known[s] !== undefined)) {
    throw new TypeError(`${owner} option \`${option}\` must be an array of signal names such as 'SIGTERM', got ${describeValue(value)}`);
  }
};

/** The rule of every option of {@link stopOnSignals}: one line per option. */
export const STOP_ON_SIGNALS_OPTION_RULES: OptionRules<StopOnSignalsOptions> = {
  signals: signalList,
  timeoutMs: timerMs(),
  exit: (value, option, owner) => {
    if (value !== false) func(value, option, owner);
  },
  onStopped: func,
};

/** @internal */
export const DEFAULT_STOP_TIMEOUT_MS = 20_000;
/** @internal */
export const DEFAULT_STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * On the first of `signals`, stops `targets` one after another, in order (maps first, then their
 * transport, then whatever else), and exits with 0, or with 1 after `timeoutMs` or on a failure.
 * A target whose stop fails does not keep the next ones from stopping (a map that dropped entries
 * has stopped all the same, and its transport still says goodbye); the exit code is then 1.
 * A map's `stop()` resolves only once every entry it held has a copy on a live member, and
 * rejects with `DataLossError` when it had to drop some, so an exit with 0 lost nothing.
 * Returns a disposer that removes the signal handlers.
 *
 * @throws {RangeError} when `timeoutMs` is not a whole number of milliseconds > 0 that a timer keeps.
 * @throws {TypeError} for targets without `stop()`, unknown signals, or `exit`/`onStopped` that are not functions.
 * @throws {RangeError} when `timeoutMs` is not a whole number of milliseconds > 0, or not above
 *   the `stopWaitMs` of every target that has one.
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
  validateOptions('stopOnSignals', options, STOP_ON_SIGNALS_OPTION_RULES);
  const given: unknown = targets;
  if (!Array.isArray(given) || !(given as readonly unknown[]).every((t) => typeof (t as Partial<Stoppable> | null)?.stop === 'function')) {
    throw new TypeError(`stopOnSignals: \`targets\` must be an array of things with a stop() method (maps, transports), got ${describeValue(targets)}`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  for (const t of targets) {
    // The timeout would end the process while the map still waits for a member, and the loss it
    // is about to report would show as a mere timeout.
    if (typeof t.stopWaitMs === 'number' && t.stopWaitMs >= timeoutMs) {
      throw new RangeError(`stopOnSignals: \`timeoutMs\` (${timeoutMs} ms) must be above a map's \`stopWaitMs\` (${t.stopWaitMs} ms): raise timeoutMs (and the grace period above it) or lower stopWaitMs`);
    }
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
    if (options.onStopped !== undefined) options.onStopped(error);
    else if (error !== undefined) {
      // Never a silent exit 1. Synchronous (stderr is a file, a pipe or a terminal here): the exit
      // right after must not swallow it.
      const why = error instanceof Error ? `${error.name}: ${error.message}` : inspect(error);
      process.stderr.write(`stopOnSignals: exiting with code ${code}: ${why}\n`);
    }
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
      let failure: { error: unknown } | undefined;
      for (const t of targets) {
        try {
          await t.stop();
        } catch (error) {
          failure ??= { error };
        }
      }
      if (failure !== undefined) throw failure.error;
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
