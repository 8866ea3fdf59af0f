/**
 * Deleted keys, remembered with the version of their delete so that a delayed, duplicated or
 * reordered write of an older version cannot bring them back. Collected after a bounded time,
 * and, on a member with a limit (`maxEntries`, `maxBytes`, or `maxTombstones` itself), beyond a
 * bounded count, oldest first: a write older than the delete that arrives after the delete was
 * forgotten is the one case left open (see docs/map.md, "Bounded memory").
 *
 * @module
 */
import type { MapKey, Removal } from '../codec/map-messages.js';
import { compareVersions, type Version } from './version.js';

interface Tombstone {
  readonly version: Version;
  readonly at: number;
}

/** The tombstones of one map on one member, oldest first. */
export class Tombstones {
  private readonly byKey = new Map<MapKey, Tombstone>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** At most this many are kept (`undefined`: no count limit, only the ttl). */
  private max: number | undefined;
  /** Deletes forgotten because of {@link max} before their ttl ran out, since start. */
  private dropped = 0;

  /**
   * @param ttlMs how long a tombstone is kept, in milliseconds.
   * @param now the clock (injectable for tests).
   */
  constructor(ttlMs: number, now: () => number) {
    this.ttlMs = ttlMs;
    this.now = now;
  }

  /** The version of `key`'s delete, if it is remembered. */
  get(key: MapKey): Version | undefined {
    return this.byKey.get(key)?.version;
  }

  /** Records a delete unless a newer one is remembered. */
  add(key: MapKey, version: Version): void {
    const old = this.byKey.get(key);
    if (old !== undefined && compareVersions(old.version, version) >= 0) return;
    // Re-insert so iteration order stays oldest-first for the sweep.
    this.byKey.delete(key);
    this.byKey.set(key, { version, at: this.now() });
    this.sweep();
    this.trim();
  }

  /**
   * Keeps at most `max` deletes from now on (`undefined`: as many as `ttlMs` leaves), forgetting
   * the oldest at once if there are more.
   */
  bound(max: number | undefined): void {
    this.max = max;
    this.trim();
  }

  /** The count limit now (`undefined`: none). */
  get limit(): number | undefined {
    return this.max;
  }

  /** Deletes forgotten because of the count limit, before `ttlMs` (since start). */
  get forgotten(): number {
    return this.dropped;
  }

  /** Forgets `key` (a newer write replaced the delete). */
  delete(key: MapKey): void {
    this.byKey.delete(key);
  }

  /** Every remembered delete, for state transfer. */
  list(): Removal[] {
    return [...this.live()];
  }

  /**
   * Every remembered delete, read lazily from the live set (for a paged state transfer): a delete
   * forgotten before its turn is skipped, one recorded meanwhile may be included.
   */
  *live(): Generator<Removal, void, undefined> {
    this.sweep();
    for (const [key, t] of this.byKey) yield { key, version: t.version };
  }

  /** Number of remembered deletes. */
  get size(): number {
    return this.byKey.size;
  }

  /** Drops expired tombstones. Runs on every add: no timer is needed, so none can leak. */
  sweep(): void {
    const limit = this.now() - this.ttlMs;
    for (const [key, t] of this.byKey) {
      if (t.at > limit) break;
      this.byKey.delete(key);
    }
  }

  /**
   * Forgets the oldest deletes beyond the count limit. The map iterates in insertion order and
   * `add` re-inserts, so the first key is the oldest: O(1) per delete forgotten.
   */
  private trim(): void {
    if (this.max === undefined) return;
    while (this.byKey.size > this.max) {
      const oldest = this.byKey.keys().next();
      if (oldest.done === true) return;
      this.byKey.delete(oldest.value);
      this.dropped++;
    }
  }
}
