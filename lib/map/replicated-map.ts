/**
 * The full-copy map: every member holds every value (Tomcat Tribes: `ReplicatedMap`). Reads are
 * local everywhere; each write costs a copy per member, so traffic grows with the square of the
 * cluster in total. Use it for small, read-mostly data.
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';
import { MSG_COPY } from '../codec/message-types.js';
import { BaseReplicatedMap } from './base-replicated-map.js';
import type { ReplicatedMapOptions } from './map-options.js';

/**
 * A distributed map with a full copy on every member. `entryInfo` reports role `'copy'` on members
 * that are not the key's primary; `get` on a copy sends nothing.
 *
 * @example
 * ```ts
 * const flags = new ReplicatedMap<string, boolean>({ name: 'flags', transport });
 * await flags.start();
 * await flags.set('beta', true);       // every member holds it once this resolves
 * ```
 */
export class ReplicatedMap<K extends MapKey = MapKey, V = unknown> extends BaseReplicatedMap<K, V> {
  /** @param options see {@link ReplicatedMapOptions}. */
  constructor(options: ReplicatedMapOptions) {
    super(options, {
      desiredBackups: (others) => others,
      holderRole: 'copy',
      copyMessage: MSG_COPY,
      readsCopies: true,
        promoteOnRead: false,
    });
  }
}
