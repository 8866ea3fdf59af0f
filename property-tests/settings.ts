/**
 * fast-check settings shared by every property: the seed and run count come from `FC_SEED` and
 * `FC_NUM_RUNS`, so a failure printed in CI replays with the same two variables locally
 * (see docs/testing.md).
 *
 * @module
 */
import fc from 'fast-check';

/** Runs per property in `npm test` (a short deterministic pass) unless FC_NUM_RUNS says otherwise. */
export const QUICK_RUNS = 12;

function intFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got '${raw}'`);
  return n;
}

/** The seed of this run: `FC_SEED`, or a fixed default so CI is reproducible. */
export const seed = intFromEnv('FC_SEED') ?? 42;

/** Parameters for `fc.assert`: seeded, with a run count from `FC_NUM_RUNS` (or `defaultRuns`). */
export function params<T>(defaultRuns: number): fc.Parameters<T> {
  const path = process.env['FC_PATH'];
  return {
    seed,
    numRuns: intFromEnv('FC_NUM_RUNS') ?? defaultRuns,
    ...(path === undefined || path === '' ? {} : { path }),
    endOnFailure: false,
    verbose: fc.VerbosityLevel.Verbose,
  };
}

/**
 * Runs a property. On failure fast-check's message (seed, path, shrunk counterexample and the
 * error) is kept and a line to replay exactly that case is added.
 */
export async function holds<T>(property: fc.IAsyncPropertyWithHooks<T> | fc.IPropertyWithHooks<T>, defaultRuns: number): Promise<void> {
  try {
    await fc.assert(property as fc.IAsyncPropertyWithHooks<T>, params<T>(defaultRuns));
  } catch (error) {
    if (error instanceof Error) {
      const replayPath = /path: "([^"]*)"/.exec(error.message)?.[1] ?? '';
      error.message += `\nReplay: FC_SEED=${seed} FC_PATH=${replayPath} npm run test:property`;
    }
    throw error;
  }
}
