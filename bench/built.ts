/**
 * The library as users run it: the compiled package in dist/ (which `npm run bench` builds first),
 * not lib/ through tsx. tsx's transform wraps every function it creates at run time in a naming
 * helper (`__name`, its `keepNames`), which users never pay: on the TCP `set` path at 1 in flight
 * it cost the primary about 17% more user CPU (docs/performance.md, "What users run").
 *
 * `BENCH_SOURCE=lib` loads lib/ instead (no build needed while iterating on the code; figures are
 * then tsx's, not what users get).
 *
 * @module
 */
import type * as Main from '../lib/index.js';
import type * as Session from '../lib/session/index.js';

const fromLib = process.env['BENCH_SOURCE'] === 'lib';

/** The package's main entry point (`lazy-replicated-map`). */
export const main = (await import(fromLib ? '../lib/index.js' : '../dist/index.js')) as typeof Main;

/** The session store's entry point (`lazy-replicated-map/session`). */
export const session = (await import(fromLib ? '../lib/session/index.js' : '../dist/session/index.js')) as typeof Session;
