/**
 * The read path: what `get` does on this member. On the key's primary it answers from the value
 * held here (once any write of it is known everywhere); elsewhere the primary answers, handing the
 * role over for a promoting read (see ConditionalWrites.take and {@link ReadPath.adopt}); under
 * faults any holder answers. A `ReplicatedMap` reads its own copy. See docs/consistency.md.
 *
 * @module
 */
import { ConditionalWriteError } from '../errors.js';
import type { Handover, MapKey } from '../codec/map-messages.js';
import { MSG_ACCESS } from '../codec/message-types.js';
import type { CallOrder } from './call-order.js';
import type { ConditionalWrites, OwnWrite, Taken } from './conditional-writes.js';
import { Entry, NOT_DECODED, type EntryStore } from './entry.js';
import { adoptExpiry, alive, expires, stampWrite, type Expiry, type ExpiryOptions } from './expiry.js';
import type { Capacity } from './capacity.js';
import type { Placer } from './placer.js';
import type { MapContext } from './map-context.js';
import type { GetOptions } from './map-options.js';
import type { Messenger } from './messenger.js';
import type { Promotion } from './promotion.js';
import type { Publisher } from './publisher.js';
import { compareVersions, nextPlacement, nextUpdate } from './version.js';

/** The slice of the map's state the read path uses. */
export type ReadPathState = Pick<
  MapContext,
  'id' | 'flavour' | 'now' | 'decoded' | 'background' | 'codec' | 'clock' | 'tombstones' | 'interner' | 'events'
> & {
  /** The entries it reads and writes (the entry table's methods, not the table). */
  readonly entries: EntryStore;
  /** Tells capacity what an entry taken over here now holds. */
  readonly capacity: Pick<Capacity, 'used'>;
  /** Chooses the backups of an entry adopted here. */
  readonly placer: Pick<Placer, 'backups'>;
};

/** What the read path asks of its siblings, one or a few methods each. */
export interface ReadPathParts {
  /** Whether a write of an entry is still being published, and publishing an entry taken over. */
  readonly publisher: Pick<Publisher, 'underWay' | 'published' | 'publishWrite' | 'publish' | 'reannounce'>;
  /** Reads a held copy (promoting it), fetches a value from its holders, counts a handover. */
  readonly promotion: Pick<Promotion, 'readHeld' | 'retrieve' | 'adoptFetched' | 'handedOver'>;
  /** A use of an expiring entry owned here, and the sweep of expired ones. */
  readonly expiry: Pick<Expiry, 'used' | 'sweep'>;
  /** Asks the key's primary: for the value, or to hand the role over. */
  readonly conditional: Pick<ConditionalWrites, 'take' | 'read' | 'created'>;
  /** Tells an expiring entry's primary of a use here. */
  readonly messenger: Pick<Messenger, 'request'>;
  /** Registers the answers a read awaits, so that later writes of the key wait for them. */
  readonly order: Pick<CallOrder, 'fetching'>;
}

/** What the read path needs of the map itself. */
export interface ReadPathHost {
  /** @throws {StoppedError} once `stop()` began. */
  assertUsable(): void;
  /** The delete of `key` made here and still being acknowledged, if any. */
  removal(key: MapKey): Promise<void> | undefined;
}

/** Answers `get`, and takes over the keys whose primary role is handed to this member. */
export class ReadPath {
  private readonly ctx: ReadPathState;
  /** The siblings it calls, a few methods each. */
  private readonly parts: ReadPathParts;
  private readonly host: ReadPathHost;
  /** The map-wide expiry of writes that name none. */
  private readonly defaults: ExpiryOptions;

  /**
   * @param state see {@link ReadPathState}.
   * @param parts see {@link ReadPathParts}.
   * @param host see {@link ReadPathHost}.
   * @param defaults the map's `ttlMs` and `maxIdleMs`, for a write that names none.
   */
  constructor(state: ReadPathState, parts: ReadPathParts, host: ReadPathHost, defaults: ExpiryOptions) {
    this.ctx = state;
    this.parts = parts;
    this.host = host;
    this.defaults = defaults;
  }

  /**
   * The value of `key` (see `get`), or `undefined`: from the value held here on the primary, from
   * the primary elsewhere (taking the role over when `promote`), from any holder under faults.
   */
  async read(key: MapKey, options: GetOptions): Promise<unknown> {
    let promote = options.promote ?? this.ctx.flavour.promoteOnRead;
    let entry = this.ctx.entries.get(key);
    if (entry === undefined) {
      await this.removedEverywhere(key);
      return undefined;
    }
    if (entry.role === 'primary') {
      this.ctx.capacity.used(entry);
      // A value still being published is not yet known elsewhere: a read here waits until it
      // is, so that no read anywhere after this one answers an older value (linearizable reads).
      // Later writes of the key here wait for this read (a fetch): it answers from before them.
      const publishing = this.parts.publisher.underWay(entry);
      if (publishing !== undefined) {
        const value = this.ctx.decoded(entry);
        await this.parts.order.fetching(key, publishing);
        return value;
      }
      if (!expires(entry)) return this.ctx.decoded(entry);
      if (!alive(entry, this.ctx.now())) {
        // Expired: never returned. Deleted everywhere now rather than at the next sweep.
        this.ctx.background(this.parts.expiry.sweep());
        return undefined;
      }
      this.parts.expiry.used(entry);
      return this.ctx.decoded(entry);
    }
    if (!this.ctx.flavour.readsCopies) {
      // Registered as a fetch of the key (as the fallback below is): a write of the key made here
      // after this read waits for it, through the fallback too, so the read answers from before it.
      const answered = await this.parts.order.fetching(
        key,
        this.readElsewhere(key, entry, promote).then(
          (value) => ({ value }),
          (error: unknown) => {
            if (error instanceof ConditionalWriteError) return undefined;
            throw error;
          },
        ),
      );
      if (answered !== undefined) return answered.value;
      // A member that is leaving (or left) answers nothing from what it still holds.
      this.host.assertUsable();
      // The primary cannot be asked (it crashed or hangs, and no failover happened yet): under
      // faults a read is served by any holder, as it always was (docs/consistency.md).
      entry = this.ctx.entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.role === 'primary') return this.read(key, options);
      // Without moving the role: only the primary hands it over (a claim made here alone would
      // leave two primaries, each updating in place what only its own holders hear of).
      promote = false;
    }
    // A copy held here is served unless it may have expired: then the primary, which knows the
    // last use, answers through the fetch below.
    if (entry.role !== 'proxy' && entry.bytes !== undefined && (!expires(entry) || alive(entry, this.ctx.now()))) {
      const value = this.parts.promotion.readHeld(entry, promote);
      this.ctx.capacity.used(entry);
      if (expires(entry)) {
        // readHeld may have made this member primary.
        const now = this.ctx.entries.get(key);
        if (now?.role === 'primary') this.parts.expiry.used(now);
        else this.useElsewhere(entry);
      }
      return value;
    }
    const copy = await this.parts.order.fetching(key, this.parts.promotion.retrieve(entry));
    entry = this.ctx.entries.get(key);
    if (copy === undefined || entry === undefined) return undefined;
    // A use on any member counts: a member that read without becoming primary tells the primary.
    if (!promote && copy.maxIdleMs !== undefined) this.useElsewhere(entry);
    // The entry came here while we were fetching: what is here now is at least as new. Read it
    // as from a holder, promotion included: a caller that changes the value and replicates it
    // must be its primary, or the change is silently lost.
    if ((entry.role === 'primary' || entry.bytes !== undefined) && entry.compare(copy.version) >= 0) return this.parts.promotion.readHeld(entry, promote);
    return this.parts.promotion.adoptFetched(entry, copy, promote);
  }

  /**
   * A read on a member that is not the key's primary: the primary answers, so the value is the
   * one every later read anywhere sees (or a newer one), never an older copy held here. A
   * promoting read has the primary hand the role over with the value (see
   * ConditionalWrites.take), then reads here as the primary does.
   */
  async readElsewhere(key: MapKey, entry: Entry, promote: boolean): Promise<unknown> {
    if (promote) {
      const taken = await this.parts.conditional.take(key, undefined);
      if (taken === 'none') return undefined;
      if (taken !== 'here') return taken.value;
      // This member decides for the key now (the role came here meanwhile): read as the primary.
      const now = this.ctx.entries.get(key);
      return now === undefined ? undefined : this.read(key, { promote: false });
    }
    const bytes = await this.parts.conditional.read(key);
    if (bytes === undefined) return undefined;
    // The primary counted the read as a use when it answered (conditional-writes.ts).
    const here = this.ctx.entries.get(key) ?? entry;
    // What lastAccess() answers on a proxy: when it last fetched the value.
    if (here.bytes === undefined) here.lastAccess = this.ctx.now();
    return this.ctx.codec.decode(bytes);
  }

  /**
   * Takes the primary role of a key handed to this member (see ConditionalWrites.take): with the
   * value handed over (a promoting read), or writing `write` (a `set`), and publishes the entry.
   * Resolves to `false`, changing nothing, when a newer state of the key is known here already.
   */
  async adopt(handover: Handover, write: OwnWrite | undefined): Promise<Taken | false> {
    const { ctx } = this;
    this.host.assertUsable();
    const { key } = handover;
    ctx.clock.observe(handover.version);
    const dead = ctx.tombstones.get(key);
    let entry = ctx.entries.get(key);
    if ((dead !== undefined && compareVersions(dead, handover.version) >= 0) || (entry !== undefined && entry.compare(handover.version) > 0)) return false;
    const bytes = write?.bytes ?? handover.bytes;
    if (bytes === undefined) return false;
    // Past the version handed over, which the member that handed it keeps (with its spare copy):
    // a write is a new value of the key; a read keeps the value and places it anew.
    const version = ctx.interner.version(write === undefined ? nextPlacement(handover.version, ctx.id) : nextUpdate(handover.version, ctx.id));
    const created = entry === undefined;
    if (entry === undefined) {
      entry = new Entry(ctx.interner.key(key), 'primary', version, ctx.id, [], bytes);
      ctx.entries.set(entry.key, entry);
    }
    ctx.tombstones.delete(key);
    const previous = entry.primary;
    // What this member announced of the entry when it was primary before (the same placement
    // may come back: a handover of the same lineage, answered again) is no longer what the
    // members know: its publication tells them all.
    if (entry.role !== 'primary') this.parts.publisher.reannounce(entry);
    entry.role = 'primary';
    entry.primary = ctx.id;
    entry.version = version;
    entry.bytes = bytes;
    entry.backups = ctx.placer.backups([]);
    const now = ctx.now();
    if (write !== undefined) {
      entry.value = write.value;
      ctx.capacity.used(entry);
      stampWrite(entry, { ttlMs: write.options.ttlMs ?? this.defaults.ttlMs, maxIdleMs: write.options.maxIdleMs ?? this.defaults.maxIdleMs }, now);
      ctx.events.emit('entrySet', key, 'local');
      const published = created ? this.parts.conditional.created(key, version) : undefined;
      try {
        await this.parts.publisher.published(entry, this.parts.publisher.publishWrite(entry));
      } finally {
        published?.();
      }
      return { value: write.value };
    }
    entry.value = NOT_DECODED;
    // Decoded now: the owner keeps the value it hands out (replicate() sends changes made to it).
    const value = ctx.decoded(entry);
    adoptExpiry(entry, handover.expiry, now);
    ctx.capacity.used(entry);
    this.parts.promotion.handedOver(entry, previous);
    // The read that took the role answers once the value is known everywhere.
    const published = created ? this.parts.conditional.created(key, version) : undefined;
    try {
      await this.parts.publisher.publish([entry]);
    } finally {
      published?.();
    }
    return { value };
  }

  /**
   * Settles once a delete of `key` made here (a `delete`, a `clear`, an eviction) reached every
   * member. A read that answers "no value" from this member's knowledge must not do so before:
   * a `clear` removes the keys here at once, while their primaries elsewhere still serve them.
   */
  async removedEverywhere(key: MapKey): Promise<void> {
    const removal = this.host.removal(key);
    if (removal !== undefined) await this.parts.order.fetching(key, removal.catch(() => undefined));
  }

  /** Tells the primary of an expiring entry read here (without becoming primary) that it was used. */
  useElsewhere(entry: Entry): void {
    if (entry.role === 'primary' || entry.maxIdleMs === undefined) return;
    this.ctx.background(this.parts.messenger.request({ type: MSG_ACCESS, keys: [entry.key] }, [entry.primary], 'none'));
  }
}
