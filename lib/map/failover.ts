/**
 * Failover: what a member does when another one joins or leaves the map. When one leaves (crash,
 * partition, stop) every entry it held is re-homed: a surviving holder takes over, missing backups
 * are re-chosen, proxies are updated. When one joins, entries short of backups get more. (A member
 * that stops gives the entries only it holds to someone first: see departure.ts.)
 *
 * @module
 */
import { publishMember } from '../diagnostics/publish.js';
import type { Placement } from '../codec/map-messages.js';
import type { Entry } from './entry.js';
import { push, type MapContext } from './map-context.js';
import type { Messenger } from './messenger.js';
import type { Promotion } from './promotion.js';
import type { Publisher } from './publisher.js';

/** The slice of the map's state failover uses. */
export type FailoverState = Pick<
  MapContext,
  'id' | 'name' | 'lifecycle' | 'saidGoodbye' | 'entries' | 'members' | 'events' | 'wanted' | 'placer' | 'background' | 'serving'
>;

/** Re-homes entries when members come and go. */
export class Failover {
  private readonly state: FailoverState;
  private readonly messenger: Messenger;
  private readonly publisher: Publisher;
  private readonly promotion: Promotion;
  /** Forgets that a member that left was sent this member's state (state transfer owns that). */
  private readonly sent: { forgetSent(id: string): void };
  /** Told of every member added (conditional writes ask it again for handovers left unanswered). */
  private readonly met: (id: string) => void;

  /**
   * @param state see {@link FailoverState}.
   * @param messenger tells a holder that it takes over.
   * @param publisher publishes re-homed entries.
   * @param promotion makes this member primary of entries whose primary is gone.
   * @param sent forgets that a member that left was sent this member's state.
   * @param met told of each member added (see ConditionalWrites.met).
   */
  constructor(state: FailoverState, messenger: Messenger, publisher: Publisher, promotion: Promotion, sent: { forgetSent(id: string): void }, met: (id: string) => void = () => undefined) {
    this.state = state;
    this.messenger = messenger;
    this.publisher = publisher;
    this.promotion = promotion;
    this.sent = sent;
    this.met = met;
  }

  /** Member `id` runs the map with `incarnation`: add it, and give entries short of backups more. */
  added(id: string, incarnation: string): void {
    const { state } = this;
    // A stopping member still meets newcomers until its goodbye: one may be the successor it
    // waits for to hand its entries over (see departure.ts), which then re-backs them up itself.
    if (state.lifecycle === 'stopped' || state.saidGoodbye) return;
    const known = state.members.incarnation(id);
    if (known === incarnation) return;
    // Same id, new incarnation: the member restarted and lost what it held.
    if (known !== undefined) this.disappeared(id);
    state.members.add(id, incarnation);
    state.events.emit('memberAdded', id);
    publishMember('added', state, id);
    this.met(id);
    if (state.lifecycle !== 'stopping') this.rebackup();
  }

  /**
   * A member is gone. Every entry it held is re-homed: where it was primary, the first surviving
   * backup takes over; where it was a backup, the primary picks another; an entry with no
   * surviving copy is dropped here (every member computes the same from its own view).
   */
  disappeared(id: string): void {
    const { state } = this;
    this.sent.forgetSent(id);
    if (!state.members.remove(id)) return;
    state.events.emit('memberDisappeared', id);
    publishMember('gone', state, id);
    // After this member's own goodbye nothing may be claimed: it would be published naming a
    // primary that the others already saw leave.
    if (state.saidGoodbye) return;
    const republish: Entry[] = [];
    const handover = new Map<string, Placement[]>();
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
        this.lost(e);
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
  }

  /**
   * News of a placement whose primary is already gone here: fail over now, as
   * {@link disappeared} would have, had this member known the placement then.
   */
  primaryGone(e: Entry): void {
    const { state } = this;
    const alive = this.liveHolders(e);
    if ((alive[0] === state.id || alive.length === 0) && e.bytes !== undefined) {
      this.takeOver(e);
      state.background(this.publisher.publish([e]));
    } else if (alive.length === 0) {
      this.lost(e);
    }
  }

  /**
   * A peer that is not a member here went down. Placements it sent as their primary while it was
   * being introduced (a heal, a restart: see Reconciler.applyPlacement) name it still: fail them
   * over now, as {@link disappeared} would have.
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

  /** Entries owned here with fewer copies than wanted get more (a lone member that gains a peer). */
  private rebackup(): void {
    const wanted = this.state.wanted();
    const short: Entry[] = [];
    for (const e of this.state.entries.values()) {
      if (e.role !== 'primary' || e.backups.length >= wanted) continue;
      this.replace(e);
      short.push(e);
    }
    if (short.length > 0) this.state.background(this.publisher.publishAll(short));
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

  /** Every copy of the entry is gone: so is the key, here (no stale proxy is kept). */
  private lost(e: Entry): void {
    this.state.entries.delete(e.key);
    this.state.events.emit('entryRemoved', e.key, 'lost');
  }
}
