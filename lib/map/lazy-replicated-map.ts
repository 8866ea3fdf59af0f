/**
 * The lazy map: each entry has one primary, `backups` full copies, and proxies everywhere else
 * (Tomcat Tribes: `LazyReplicatedMap`, the store behind `BackupManager`).
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';
import { MSG_BACKUP } from '../codec/message-types.js';
import { BaseReplicatedMap } from './base-replicated-map.js';
import { LAZY_REPLICATED_MAP_OPTION_RULES, type LazyReplicatedMapOptions } from './map-options.js';

/** Copies of each entry besides the primary, by default. */
export const DEFAULT_BACKUPS = 1;

/**
 * A distributed map whose entries survive the loss of a member without an external store.
 * Traffic per write grows with `backups`, not with the number of members.
 *
 * @example
 * ```ts
 * const net = new InMemoryNetwork();
 * const map = new LazyReplicatedMap<string, { user: string }>({ name: 'sessions', transport: net.transport('a') });
 * await map.start();
 * await map.set('s1', { user: 'ada' });   // resolves once the backup acknowledged
 * map.entryInfo('s1');                     // { role: 'primary', primary: 'a', backups: [...] }
 * ```
 */
export class LazyReplicatedMap<K extends MapKey = MapKey, V = unknown> extends BaseReplicatedMap<K, V> {
  /** Copies of each entry besides the primary. */
  readonly backups: number;

  /** @param options see {@link LazyReplicatedMapOptions}. */
  constructor(options: LazyReplicatedMapOptions) {
    // Checked (with every other option) by the base constructor, before it is ever used.
    const backups = (options as Partial<LazyReplicatedMapOptions> | undefined)?.backups ?? DEFAULT_BACKUPS;
    super(
      options,
      {
        // What is promised; the map takes as many as there are members (MapContext.wanted).
        desiredBackups: () => backups,
        holderRole: 'backup',
        copyMessage: MSG_BACKUP,
        readsCopies: false,
        promoteOnRead: true,
      },
      LAZY_REPLICATED_MAP_OPTION_RULES,
    );
    this.backups = backups;
  }
}
