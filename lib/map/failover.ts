/**
 * Failover: taking over the keys of a member that left the map (crash, partition, stop; it is
 * removed by member-changes.ts, which then calls {@link Failover.rehome}). Every entry it held is
 * re-homed: a surviving holder takes over, missing backups are re-chosen, proxies are updated.
 * Placements that name a primary already gone here (news that arrives late, or from a peer that
 * went down before it was met) fail over as they arrive. (A member that stops gives the entries
 * only it holds to someone first: see departure.ts.)
 *
 * @module
 */
import type { MapKey, Placement } from '../codec/map-messages.js';
import type { Membership } from '../membership/membership.js';
import type { Entry, EntryStore } from './entry.js';
import { push, type MapEmitter } from './map-context.js';
import type { Messenger } from './messenger.js';
import type { Placer } from './placer.js';
import type { Promotion } from './promotion.js';
import type { Publisher } from './publisher.js';

/** What failover reads of the map (the map's `MapContext` is one). */
export interface FailoverState {
  /** This member's id. */
  readonly id: string;
  /** Whether this member sent its goodbye: from then on it takes nothing over (set by a departure, through `MapContext.markGoodbye`). */
  readonly saidGoodbye: boolean;
  /** True while the map serves (or is joining). */
  readonly serving: boolean;
  /** The entries known here: those a gone member held are re-homed, or dropped when lost. */
  readonly entries: Pick<EntryStore, 'values' | 'delete'>;
  /** Who is a member now. */
  readonly members: Pick<Membership, 'has' | 'ids'>;
  /** Re-chooses the backups of an entry owned here. */
  readonly placer: Pick<Placer, 'again'>;
  /** Where `entryRemoved` goes for a key lost with its holders. */
  readonly events: MapEmitter;
  /** Lets work run on, reporting its failure. */
  background(work: Promise<unknown>): void;
}

/** What failover asks of its siblings, one or a few methods each. */
export interface FailoverParts {
  /** Tells a holder that it takes over. */
  readonly messenger: Pick<Messenger, 'sendPlacements'>;
  /** Publishes re-homed entries. */
  readonly publisher: Pick<Publisher, 'publishAll' | 'publish' | 'reannounce'>;
  /** Makes this member primary of entries whose primary is gone. */
  readonly promotion: Pick<Promotion, 'claim'>;
  /** The member this member handed a key's primary role to, if it did (see ConditionalWrites). */
  readonly handovers: { handedTo(key: MapKey): string | undefined };
}

/** Re-homes the entries of members that are gone. */
export class Failover {
  private readonly state: FailoverState;
  private readonly messenger: FailoverParts['messenger'];
  private readonly publisher: FailoverParts['publisher'];
  private readonly promotion: FailoverParts['promotion'];
  private readonly handovers: FailoverParts['handovers'];

  /**
   * @param state see {@link FailoverState}.
   * @param parts see {@link FailoverParts}.
   */
  constructor(state: FailoverState, parts: FailoverParts) {
    this.state = state;
    this.messenger = parts.messenger;
    this.publisher = parts.publisher;
    this.promotion = parts.promotion;
    this.handovers = parts.handovers;
  }

  /**
   * Member `id` is gone (and no member here any more). Every entry it held is re-homed: where it
   * was primary, the first surviving backup takes over; where it was a backup, the primary picks
   * another; an entry with no surviving copy is dropped here (every member computes the same from
   * its own view).
   */
  rehome(id: string): void {
    const { state } = this;
    // After this member's own goodbye nothing may be claimed: it would be published naming a
    // primary that the others already saw leave.
    if (state.saidGoodbye) return;
    const republish: Entry[] = [];
    const handover = new Map<string, Placement[]>();
    const lost: Placement[] = [];
    for (const e of [...state.entries.values()]) {
      if (e.primary !== id && !e.backups.includes(id)) continue;
      const alive = this.liveHolders(e);
      if (alive.length === 0 && e.bytes !== undefined) {
        // A spare copy (see applyPlacement) outlived every holder named: it carries on.
        this.takeOver(e);
        republish.push(e);
        continue;
      }
      if (alive.length === 0) {
        this.lost(e, lost);
        continue;
      }
      // Not `e.primary === id`: when the primary and a backup go together, the backup that would
      // have taken over may be reported gone after the primary, and the next holder must take over.
      if (e.primary !== state.id && !state.members.has(e.primary)) {
        if (alive[0] === state.id && e.bytes !== undefined) {
          this.takeOver(e);
          republish.push(e);
        } else if (alive[0] !== undefined && alive[0] !== state.id && e.bytes !== undefined) {
          // The holder that takes over may never have got this placement (its primary died while
          // publishing it, after this copy was acknowledged): tell it, or nobody takes over.
          push(handover, alive[0], e.placement());
        }
      } else if (e.role === 'primary') {
        this.replace(e);
        republish.push(e);
      }
    }
    if (republish.length > 0) {
      // A failover is a claim made alone: another member may have claimed the same key (the
      // other side of a partition), and members that hear of that claim after this one take it
      // for the primary. The next write here, even in place, tells every member again, so
      // none keeps the losing claim once this member's newer value exists.
      state.background(this.publisher.publishAll(republish).finally(() => {
        for (const e of republish) this.publisher.reannounce(e);
      }));
    }
    for (const [member, placements] of handover) void this.messenger.sendPlacements(member, placements, 'none');
    this.tellLost(lost);
  }

  /**
   * News of a placement whose primary is already gone here: fail over now, as
   * {@link rehome} would have, had this member known the placement then.
   */
  primaryGone(e: Entry): void {
    const { state } = this;
    const alive = this.liveHolders(e);
    if ((alive[0] === state.id || alive.length === 0) && e.bytes !== undefined) {
      this.takeOver(e);
      state.background(this.publisher.publish([e]));
    } else if (alive.length === 0) {
      const lost: Placement[] = [];
      this.lost(e, lost);
      this.tellLost(lost);
    }
  }

  /**
   * A peer that is not a member here went down. Placements it sent as their primary while it was
   * being introduced (a heal, a restart: see Reconciler.applyPlacement) name it still: fail them
   * over now, as {@link rehome} would have.
   */
  vanished(id: string): void {
    if (this.state.saidGoodbye || this.state.members.has(id)) return;
    for (const e of [...this.state.entries.values()]) if (e.primary === id && e.role !== 'primary') this.primaryGone(e);
  }

  /**
   * A failover was claimed by a holder of an older value of this entry (it missed an update in
   * place its primary made), while this member holds the newer one and knows the primary gone:
   * this member takes over instead. Its claim outranks the other (the newer value comes first in
   * the order of versions), so every member ends with it and with one primary.
   */
  outrankClaim(e: Entry): void {
    if (!this.state.serving || e.bytes === undefined) return;
    this.takeOver(e);
    this.state.background(this.publisher.publish([e]));
  }

  /** The holders of an entry still alive as seen here, this member included, in placement order. */
  private liveHolders(e: Entry): string[] {
    return e.holders().filter((m) => m === this.state.id || this.state.members.has(m));
  }

  /** Re-chooses the backups of an entry owned here (the live ones stay) under a new placement. */
  private replace(e: Entry): void {
    this.state.placer.again(e);
  }

  /** Makes this member primary of an entry whose primary is gone (it holds the value); the caller publishes. */
  private takeOver(e: Entry): void {
    this.promotion.claim(e, 'failover');
  }

  /**
   * Every copy of the entry is gone: so is the key, here (no stale proxy is kept). Every member
   * that knew this placement drops the key alike. One that never heard of it names an older
   * placement, and may name this member as primary if this member handed the key over to the
   * primary now gone (its announcement of the handover may not have reached everyone before it
   * died): that placement is then added to `tell`, for {@link tellLost}.
   */
  private lost(e: Entry, tell: Placement[]): void {
    // Asked before the entry goes: the record counts while the entry names its primary.
    if (this.handovers.handedTo(e.key) === e.primary) tell.push(e.placement());
    this.state.entries.delete(e.key);
    this.state.events.emit('entryRemoved', e.key, 'lost');
  }

  /**
   * Passes placements of keys lost with their holders on to every member: one that still names
   * an older placement drops it as lost too (Heal.secondHand), one that knows nothing of the key
   * keeps nothing, and one that holds a copy of that very write keeps it (it is a holder left). Only after a handover this member made (see {@link lost}), so a crash costs no
   * message per lost key otherwise.
   */
  private tellLost(lost: readonly Placement[]): void {
    if (lost.length === 0) return;
    for (const m of this.state.members.ids()) if (m !== this.state.id) void this.messenger.sendPlacements(m, lost, 'none');
  }
}
