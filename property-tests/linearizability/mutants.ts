/**
 * Deliberately broken versions of the map, to show that the linearizability checker catches what
 * it is meant to catch. Each mutant replaces one method on a prototype for the duration of one
 * run and puts it back afterwards: nothing in `lib/` knows of them, so no user can switch one on.
 *
 * @module
 */
import type { MapKey } from '../../lib/index.js';
import { BaseReplicatedMap } from '../../lib/map/base-replicated-map.js';
import { Capacity, type CapacityHost } from '../../lib/map/capacity.js';
import { ReadPath } from '../../lib/map/read-path.js';
import { Reconciler } from '../../lib/map/reconciler.js';
import { Removals } from '../../lib/map/removals.js';
import { WritePath } from '../../lib/map/write-path.js';

/** The mutants. */
export const MUTANTS = ['old-delete', 'stale-holder-read', 'one-sided-promotion', 'local-eviction'] as const;
export type MutantName = (typeof MUTANTS)[number];

/** What each mutant does, for reports. */
export const MUTANT_DESCRIPTIONS: Record<MutantName, string> = {
  'old-delete': 'delete yields a turn (awaits ready()) before it takes its version, as before the call-order fix',
  'stale-holder-read': 'a read on a backup serves the copy held there instead of asking the primary, and a backup acknowledges a copy at once but stores it 30 turns later',
  'one-sided-promotion': 'a read or a write on a member that is not the primary makes that member primary on its own, without a handover (a read claims and tells nobody; a write places the key anew), as before the handover',
  'local-eviction': 'an eviction deletes the key on the evicting primary only: no tombstone is sent to the other members, which keep their copies and proxies',
};

/** The private parts of the map a mutant reaches into (tests only). */
interface MapInternals {
  lifecycle: { ready(): Promise<void> };
  removals: { remove(keys: MapKey[]): Promise<void> };
  ctx: { entries: Map<MapKey, unknown> };
}

/** An entry as the read path sees it (tests only). */
interface EntryInternals {
  bytes: Uint8Array | undefined;
  value: unknown;
}

/** The map's read path a mutant reaches into (tests only). */
interface ReadInternals {
  ctx: { decoded(entry: EntryInternals): unknown };
  promotion: { claim(entry: EntryInternals, why: 'read' | 'failover'): void };
}

/** What the local-eviction mutant reaches into in Removals (tests only). */
interface RemovalInternals {
  ctx: { id: string; clock: { tick(id: string): unknown } };
  parts: { reconciler: { applyRemoval(removal: { key: MapKey; version: unknown }, origin: 'local'): void } };
}

/** The map's own write path, which the one-sided mutant calls on any member (tests only). */
interface WriteInternals {
  writeHere(...args: unknown[]): Promise<unknown>;
}

/** The map's read on a member that is not the key's primary (see read-path.ts). */
type ReadElsewhere = (this: ReadInternals, key: MapKey, entry: EntryInternals, promote: boolean) => Promise<unknown>;

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
          await this.lifecycle.ready();
          const known = this.ctx.entries.has(key as MapKey);
          await this.removals.remove([key as MapKey]);
          return known;
        },
      );
    case 'stale-holder-read': {
      const undoCopies = patch(Reconciler.prototype, 'applyCopies', (original) =>
        function (this: unknown, ...args: unknown[]): void {
          later(30, () => original.apply(this, args));
        },
      );
      const undoRead = patch(ReadPath.prototype, 'readElsewhere', (original) =>
        async function (this: ReadInternals, key: MapKey, entry: EntryInternals, promote: boolean): Promise<unknown> {
          if (promote || entry.bytes === undefined) return (original as ReadElsewhere).call(this, key, entry, promote);
          return this.ctx.decoded(entry);
        } as (...args: unknown[]) => unknown,
      );
      return () => {
        undoRead();
        undoCopies();
      };
    }
    case 'one-sided-promotion': {
      // Reads and writes elsewhere take the primary role without the primary: what the map did
      // before the handover.
      const undoRead = patch(ReadPath.prototype, 'readElsewhere', (original) =>
        async function (this: ReadInternals, key: MapKey, entry: EntryInternals, promote: boolean): Promise<unknown> {
          if (!promote || entry.bytes === undefined) return (original as ReadElsewhere).call(this, key, entry, promote);
          const value = this.ctx.decoded(entry);
          this.promotion.claim(entry, 'read');
          entry.value = value;
          return value;
        } as (...args: unknown[]) => unknown,
      );
      const undoWrite = patch(WritePath.prototype, 'store', () =>
        function (this: WriteInternals, ...args: unknown[]): Promise<unknown> {
          return this.writeHere(...args);
        },
      );
      return () => {
        undoWrite();
        undoRead();
      };
    }
    case 'local-eviction': {
      // Eviction goes through the delete path (Removals.remove) from the capacity's host; while
      // the host evicts, that path applies the removal here and tells nobody.
      let evicting = false;
      const undoAttach = patch(Capacity.prototype, 'attach', (original) =>
        function (this: unknown, host: CapacityHost): unknown {
          const evict: CapacityHost['evict'] = (keys, reason) => {
            evicting = true;
            try {
              host.evict(keys, reason);
            } finally {
              evicting = false;
            }
          };
          return original.call(this, { ...host, evict });
        } as (...args: unknown[]) => unknown,
      );
      const undoRemove = patch(Removals.prototype, 'remove', (original) =>
        function (this: RemovalInternals, keys: MapKey[]): Promise<void> {
          if (!evicting) return original.call(this, keys) as Promise<void>;
          for (const key of keys) this.parts.reconciler.applyRemoval({ key, version: this.ctx.clock.tick(this.ctx.id) }, 'local');
          return Promise.resolve();
        } as (...args: unknown[]) => unknown,
      );
      return () => {
        undoRemove();
        undoAttach();
      };
    }
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
