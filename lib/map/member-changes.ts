/**
 * Member changes: the bookkeeping of who runs the map, as members join and leave. A member joins
 * when its `MSG_START`, or its answer to ours, arrives (see state-transfer.ts): it is added with
 * its incarnation, the map says so (`memberAdded`), and the entries owned here short of backups
 * get more (a lone member that gains a peer). A member leaves when its transport goes down or it
 * says goodbye (`MSG_STOP`), and a known member that comes back under a new incarnation left
 * first (it restarted and lost what it held): it is removed, the map says so
 * (`memberDisappeared`), and failover re-homes the keys it held (see failover.ts).
 *
 * @module
 */
import { publishMember } from '../diagnostics/publish.js';
import type { Membership } from '../membership/membership.js';
import type { ConditionalWrites } from './conditional-writes.js';
import type { Entry, EntryStore } from './entry.js';
import type { Failover } from './failover.js';
import type { MapEmitter } from './map-context.js';
import type { MapState } from './map-options.js';
import type { Placer } from './placer.js';
import type { Publisher } from './publisher.js';

/** What member changes read of the map (the map's `MapContext` is one). */
export interface MemberChangesState {
  /** The map's name (for diagnostics). */
  readonly name: string;
  /** This member's id. */
  readonly id: string;
  /** Where the map is in its life (only `MapLifecycle` writes it). */
  readonly lifecycle: MapState;
  /** Whether this member sent its goodbye (set by a departure, through `MapContext.markGoodbye`). */
  readonly saidGoodbye: boolean;
  /** The map's members, by incarnation. */
  readonly members: Pick<Membership, 'incarnation' | 'add' | 'remove'>;
  /** The entries known here (those owned here short of backups get more). */
  readonly entries: Pick<EntryStore, 'values'>;
  /** Chooses more backups for an entry owned here. */
  readonly placer: Pick<Placer, 'again'>;
  /** Where `memberAdded` and `memberDisappeared` go. */
  readonly events: MapEmitter;
  /** Backups each entry wants now. */
  wanted(): number;
  /** Lets work run on, reporting its failure. */
  background(work: Promise<unknown>): void;
}

/** What member changes ask of their siblings, one method each. */
export interface MemberChangesParts {
  /** Re-homes the keys a member that left held. */
  readonly failover: Pick<Failover, 'rehome'>;
  /** Publishes the entries that got more backups. */
  readonly publisher: Pick<Publisher, 'publishAll'>;
  /** Forgets that a member that left was sent this member's state (`StateTransfer.forgetSent`). */
  readonly transfer: { forgetSent(id: string): void };
  /** Told of each member added (it asks it again for handovers left unanswered). */
  readonly conditional: Pick<ConditionalWrites, 'met'>;
}

/** Adds and removes the map's members, and hands what follows to failover and publication. */
export class MemberChanges {
  private readonly state: MemberChangesState;
  private readonly parts: MemberChangesParts;

  /**
   * @param state see {@link MemberChangesState}.
   * @param parts see {@link MemberChangesParts}.
   */
  constructor(state: MemberChangesState, parts: MemberChangesParts) {
    this.state = state;
    this.parts = parts;
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
    this.parts.conditional.met(id);
    if (state.lifecycle !== 'stopping') this.rebackup();
  }

  /** A member is gone: remove it, and have failover re-home every entry it held. */
  disappeared(id: string): void {
    const { state } = this;
    this.parts.transfer.forgetSent(id);
    if (!state.members.remove(id)) return;
    state.events.emit('memberDisappeared', id);
    publishMember('gone', state, id);
    this.parts.failover.rehome(id);
  }

  /** Entries owned here with fewer copies than wanted get more (a lone member that gains a peer). */
  private rebackup(): void {
    const wanted = this.state.wanted();
    const short: Entry[] = [];
    for (const e of this.state.entries.values()) {
      if (e.role !== 'primary' || e.backups.length >= wanted) continue;
      this.state.placer.again(e);
      short.push(e);
    }
    if (short.length > 0) this.state.background(this.parts.publisher.publishAll(short));
  }
}
