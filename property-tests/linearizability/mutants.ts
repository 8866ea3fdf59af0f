/**
 * Deliberately broken versions of the map, to show that the linearizability checker catches what
 * it is meant to catch. Each mutant replaces one method on a prototype for the duration of one
 * run and puts it back afterwards: nothing in `lib/` knows of them, so no user can switch one on.
 *
 * @module
 */
import type { MapKey } from '../../lib/index.js';
import { BaseReplicatedMap } from '../../lib/map/base-replicated-map.js';
import { Promotion } from '../../lib/map/promotion.js';
import { Reconciler } from '../../lib/map/reconciliation.js';

/** The mutants. */
export const MUTANTS = ['old-delete', 'stale-holder-read', 'one-sided-promotion'] as const;
export type MutantName = (typeof MUTANTS)[number];

/** What each mutant does, for reports. */
export const MUTANT_DESCRIPTIONS: Record<MutantName, string> = {
  'old-delete': 'delete yields a turn (awaits ready()) before it takes its version, as before the call-order fix',
  'stale-holder-read': 'a backup acknowledges a copy at once but stores it 30 turns later, so the first holder to answer a read (or a read on that backup) serves the older copy',
  'one-sided-promotion': 'a read that promotes its member claims the key and counts the claim as announced, but tells nobody: the old primary and the proxies keep the old placement',
};

/** The private parts of the map a mutant reaches into (tests only). */
interface MapInternals {
  ready(): Promise<void>;
  remove(keys: MapKey[]): Promise<void>;
  ctx: { entries: Map<MapKey, unknown> };
}

interface PromotionInternals {
  state: { serving: boolean };
  publisher: { announced: WeakMap<object, unknown> };
  claim(entry: { placement(): unknown }, why: 'read' | 'failover'): void;
}

/** Runs `fn` after `turns` turns of the event loop. */
function later(turns: number, fn: () => void): void {
  if (turns <= 0) fn();
  else setImmediate(() => { later(turns - 1, fn); });
}

/** Replaces `proto[method]` with `replacement(original)`; returns the undo. */
function patch(proto: object, method: string, replacement: (original: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown): () => void {
  const target = proto as Record<string, unknown>;
  const original = target[method] as (...args: unknown[]) => unknown;
  Object.defineProperty(proto, method, { value: replacement(original), writable: true, configurable: true });
  return () => {
    Object.defineProperty(proto, method, { value: original, writable: true, configurable: true });
  };
}

/** Switches `mutant` on; returns the function that switches it off. */
export function applyMutant(mutant: MutantName): () => void {
  switch (mutant) {
    case 'old-delete':
      return patch(BaseReplicatedMap.prototype, 'delete', () =>
        async function (this: MapInternals, key: unknown): Promise<boolean> {
          await this.ready();
          const known = this.ctx.entries.has(key as MapKey);
          await this.remove([key as MapKey]);
          return known;
        },
      );
    case 'stale-holder-read':
      return patch(Reconciler.prototype, 'applyCopies', (original) =>
        function (this: unknown, ...args: unknown[]): void {
          later(30, () => original.apply(this, args));
        },
      );
    case 'one-sided-promotion':
      return patch(Promotion.prototype, 'promote', () =>
        function (this: PromotionInternals, entry: { placement(): unknown }): void {
          if (!this.state.serving) return;
          this.claim(entry, 'read');
          this.publisher.announced.set(entry, entry.placement());
        } as (...args: unknown[]) => unknown,
      );
  }
}

/** Runs `fn` with `mutant` switched on (or none), and always switches it off. */
export async function withMutant<T>(mutant: MutantName | undefined, fn: () => Promise<T>): Promise<T> {
  const undo = mutant === undefined ? () => undefined : applyMutant(mutant);
  try {
    return await fn();
  } finally {
    undo();
  }
}
