/**
 * The delete path: `delete`, `clear`, and the deletes of eviction and expiry. A delete takes a
 * Lamport version here, removes the keys here at once and tells every member (acknowledged by
 * all, so that no holder promotes a deleted key back to life). The deletes made here and not yet
 * acknowledged are remembered by key: reads and conditional writes of those keys wait for them
 * (see call-order.ts, read-path.ts, conditional-writes.ts). See docs/consistency.md.
 *
 * @module
 */
import { ConditionalWriteError } from '../errors.js';
import type { MapKey, Removal } from '../codec/map-messages.js';
import type { ConditionalWrites } from './conditional-writes.js';
import type { Entry, EntryStore } from './entry.js';
import { alive } from './expiry.js';
import type { Membership } from '../membership/membership.js';
import type { MapContext } from './map-context.js';
import type { Messenger } from './messenger.js';
import type { Reconciler } from './reconciler.js';

/** The slice of the map's state the delete path uses. */
export type RemovalsState = Pick<MapContext, 'id' | 'flavour' | 'now' | 'clock'> & {
  /** Who must be told of a delete: the members, and those reachable still being introduced. */
  readonly members: Pick<Membership, 'ids' | 'reachable'>;
  /** The entries it reads and writes (the entry table's methods, not the table). */
  readonly entries: EntryStore;
};

/** What the delete path asks of its siblings, one method each. */
export interface RemovalsParts {
  /** Applies a delete made here to what this member holds. */
  readonly reconciler: Pick<Reconciler, 'applyRemoval'>;
  /** Tells the members of deletes. */
  readonly messenger: Pick<Messenger, 'sendRemovals'>;
  /** Asks the key's primary to decide a delete (so that its answer is exact). */
  readonly conditional: Pick<ConditionalWrites, 'delete'>;
}

/** What the delete path needs of the map itself. */
export interface RemovalsHost {
  /** @throws {StoppedError} once `stop()` began. */
  assertUsable(): void;
}

/** Deletes keys on every member, and remembers the deletes made here until every member has them. */
export class Removals {
  private readonly ctx: RemovalsState;
  /** The siblings it calls, a few methods each. */
  private readonly parts: RemovalsParts;
  private readonly host: RemovalsHost;
  /** Deletes made here whose acknowledgements are awaited, by key (see {@link remove}). */
  private readonly removals = new Map<MapKey, Promise<void>>();

  /**
   * @param state see {@link RemovalsState}.
   * @param parts see {@link RemovalsParts}.
   * @param host see {@link RemovalsHost}.
   */
  constructor(state: RemovalsState, parts: RemovalsParts, host: RemovalsHost) {
    this.ctx = state;
    this.parts = parts;
    this.host = host;
  }

  /** The delete of `key` made here and still being acknowledged, if any. */
  pending(key: MapKey): Promise<void> | undefined {
    return this.removals.get(key);
  }

  /**
   * A `delete` of `key` (see the map's `delete`): resolves to whether the key held a live value
   * when the delete took effect, as the key's primary decides it.
   */
  async delete(key: MapKey): Promise<boolean> {
    const entry = this.ctx.entries.get(key);
    if (entry?.role === 'primary' || this.ctx.flavour.readsCopies) {
      const held = entry !== undefined && !this.expiredHere(entry);
      await this.remove([key]);
      return held;
    }
    // Decided by the key's primary (or the member that decides for a key unknown here), so
    // that the answer is exact and two deletes of one value never both answer true.
    try {
      return await this.parts.conditional.delete(key);
    } catch (error) {
      // Asked and unanswered (it may have deleted), or this member is leaving: no guess.
      if (!(error instanceof ConditionalWriteError) || error.mayHaveWritten) throw error;
      this.host.assertUsable();
      // The primary cannot be asked (gone, leaving, or not found): deleted from here, answered
      // from what is known here, as a write is placed here then (see WritePath.store).
      const now = this.ctx.entries.get(key);
      await this.remove([key]);
      return now !== undefined && !this.expiredHere(now);
    }
  }

  /** Whether this member knows that `entry` expired: the primary knows; a backup knows its copy's time to live ran out. */
  private expiredHere(entry: Entry): boolean {
    const now = this.ctx.now();
    if (entry.role === 'primary') return !alive(entry, now);
    // A copy's deadline counts from the copy's arrival, so it passes after the primary's. A proxy
    // holds no copy: what it may remember of an expiry belongs to an older write.
    return entry.bytes !== undefined && entry.expiresAt !== undefined && now >= entry.expiresAt;
  }

  /** A `clear`: deletes every key known here on every member. */
  async clear(): Promise<void> {
    // Deletes made here and still being acknowledged (an earlier clear, a delete) removed their
    // keys here already, so this clear does not list them; it resolves after them all the same,
    // or a read elsewhere could still find a value from before this clear once it resolved.
    const earlier = [...new Set(this.removals.values())].map((r) => r.catch(() => undefined));
    await Promise.all([this.remove([...this.ctx.entries.keys()]), ...earlier]);
  }

  /** Deletes `keys` on every member, as their primary; resolves once every member acknowledged. */
  remove(keys: MapKey[]): Promise<void> {
    const done = this.removing(keys);
    // A conditional write of one of these keys made here later asks its decider only once every
    // member has the delete (see conditional-writes.ts): the decider must decide after it.
    for (const key of keys) this.removals.set(key, done);
    const forget = (): void => {
      for (const key of keys) if (this.removals.get(key) === done) this.removals.delete(key);
    };
    done.then(forget, forget);
    return done;
  }

  private async removing(keys: MapKey[]): Promise<void> {
    const removals: Removal[] = keys.map((key) => ({ key, version: this.ctx.clock.tick(this.ctx.id) }));
    for (const r of removals) this.parts.reconciler.applyRemoval(r, 'local');
    // Acknowledged by every member: a holder that missed the delete could otherwise promote the
    // key back to life on failover. Members still being introduced (reachable, not yet members
    // here: a join or heal under way) are told too; if this member left before their start
    // reached it, nobody else would tell them.
    const targets = new Set([...this.ctx.members.ids(), ...this.ctx.members.reachable()]);
    await Promise.all(this.parts.messenger.sendRemovals([...targets], removals, 'all'));
  }
}
