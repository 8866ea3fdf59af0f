/**
 * Deleted keys, remembered with the version of their delete so that a delayed, duplicated or
 * reordered write of an older version cannot bring them back. Collected after a bounded time:
 * a write older than the delete that arrives later than that is the one case left open (see
 * docs/map.md).
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
}
