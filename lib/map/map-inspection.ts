/**
 * What one member can tell about the map without asking another: which keys it knows, where a
 * key lives and when it was last used, the live members, and the counters behind `map.stats()`.
 * The synchronous answers are refused before `start()`: a map that met no member knows no key,
 * and `has(k) === false` would be a silent lie.
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';
import type { EntryInfo } from './entry.js';
import type { MapContext } from './map-context.js';
import type { MapLifecycle } from './map-lifecycle.js';
import type { MapStats } from './map-options.js';

/** The slice of the map's state the inspection reads (it writes nothing). */
export type MapInspectionState = Pick<MapContext, 'id' | 'members' | 'entries' | 'promised' | 'tombstones' | 'counters' | 'capacity'>;

/** What the inspection asks of the lifecycle: whether the map may answer yet. */
export type MapInspectionHost = Pick<MapLifecycle, 'assertStarted' | 'ready'>;

/** The map's answers about what this member knows (see `map.size`, `map.entryInfo`, `map.stats()`). */
export class MapInspection {
  /**
   * @param state see {@link MapInspectionState}.
   * @param host see {@link MapInspectionHost}.
   */
  constructor(
    private readonly state: MapInspectionState,
    private readonly host: MapInspectionHost,
  ) {}

  /** Ids of the live members of this map, this member included, sorted. */
  members(): string[] {
    return [this.state.id, ...this.state.members.ids()].sort();
  }

  /** Number of keys of the whole map known here, in any role. */
  get size(): number {
    this.host.assertStarted();
    return this.state.entries.size;
  }

  /** True when `key` is known here, in any role. */
  has(key: MapKey): boolean {
    this.host.assertStarted();
    return this.state.entries.has(key);
  }

  /** The keys known here. */
  keys(): IterableIterator<MapKey> {
    this.host.assertStarted();
    return [...this.state.entries.keys()][Symbol.iterator]();
  }

  /** Where `key` lives, as this member knows it; `undefined` when the key is not known here. */
  entryInfo(key: MapKey): EntryInfo | undefined {
    this.host.assertStarted();
    const e = this.state.entries.get(key);
    if (e === undefined) return undefined;
    return { role: e.role, primary: e.primary, backups: [...e.backups] };
  }

  /** When this member last saw `key` used (see `map.lastAccess`). */
  lastAccess(key: MapKey): number | undefined {
    this.host.assertStarted();
    return this.state.entries.get(key)?.lastAccess;
  }

  /** Counters of this map on this member. */
  stats(): MapStats {
    const entries = { primary: 0, backup: 0, copy: 0, proxy: 0 };
    const promised = this.state.promised();
    let underReplicated = 0;
    for (const e of this.state.entries.values()) {
      entries[e.role]++;
      if (e.role === 'primary' && e.backups.length < promised) underReplicated++;
    }
    return {
      entries,
      tombstones: this.state.tombstones.size,
      sent: { ...this.state.counters.sent },
      received: { ...this.state.counters.received },
      promotions: this.state.counters.promotions,
      failovers: this.state.counters.failovers,
      rpcTimeouts: this.state.counters.rpcTimeouts,
      underReplicated,
      held: this.state.capacity.byRole(),
      capacity: this.state.capacity.stats(),
    };
  }

  /**
   * Every key known here with its value, read with `get` (the map's, without promotion). The
   * keys are those known when the iteration starts; one deleted meanwhile is skipped.
   */
  async *entries(get: (key: MapKey) => Promise<unknown>): AsyncGenerator<[MapKey, unknown]> {
    await this.host.ready();
    for (const key of [...this.state.entries.keys()]) {
      if (!this.state.entries.has(key)) continue;
      const value = await get(key);
      if (value !== undefined || this.state.entries.has(key)) yield [key, value];
    }
  }
}
