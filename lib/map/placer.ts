/**
 * Where the entries owned here live: the one home of "choose the backups again and bump the
 * placement version". Every (re)placement of an entry this member is primary of goes through it:
 * a write or a read that takes the key, a failover, a backup refused or lost during a publication,
 * a departure's hand-over, a snapshot loaded while members came. Who is chosen is
 * {@link BackupSelector}'s round-robin; which members may be chosen is the member view's.
 *
 * @module
 */
import type { Membership } from '../membership/membership.js';
import { BackupSelector } from './backup-selector.js';
import type { Entry } from './entry.js';
import type { Interner } from './interner.js';
import { nextPlacement, nextUpdate } from './version.js';

/** What the placer needs: who this member is, which members are live, and how many backups an entry wants. */
export interface PlacerState {
  /** This member's id, the author of the placements it makes. */
  readonly id: string;
  /** The live members, and those leaving (never chosen). */
  readonly members: Pick<Membership, 'has' | 'isLeaving' | 'candidates'>;
  /** Shares the lists of backups between entries. */
  readonly interner: Pick<Interner, 'list'>;
  /** Backups each entry wants now. */
  wanted(): number;
}

/** Chooses the backups of entries owned here and versions their placements. */
export class Placer {
  private readonly state: PlacerState;
  private readonly selector = new BackupSelector();
  /** Whether backup `id` may keep its place: live, and not leaving. */
  private readonly staying = (id: string): boolean => this.state.members.has(id) && !this.state.members.isLeaving(id);

  /** @param state see {@link PlacerState}. */
  constructor(state: PlacerState) {
    this.state = state;
  }

  /**
   * Backups for an entry owned here: the live ones of `current` stay, the rest are chosen
   * round-robin (never one in `tried`) up to `wanted`. The one rule of every (re)placement.
   * A member leaving the map (`MSG_LEAVING`) is neither kept nor chosen: its copy goes with it.
   */
  backups(current: readonly string[], wanted = this.state.wanted(), tried?: ReadonlySet<string>): readonly string[] {
    const { members } = this.state;
    // Every write in place asks this: with enough backups, all live and staying, nothing is chosen
    // (the general path below returns the same list, without its copies and sets).
    if (current.length >= wanted && current.every(this.staying)) return this.state.interner.list(current);
    const keep = current.filter(this.staying);
    return this.state.interner.list(this.selector.refill(members.candidates(), keep, wanted, tried));
  }

  /**
   * Places `entry` (owned here) anew: backups chosen again from `keep` (see {@link backups}),
   * under a new placement version, so that every member replaces what it knew of the entry.
   * The caller publishes.
   */
  again(entry: Entry, keep: readonly string[] = entry.backups, wanted?: number, tried?: ReadonlySet<string>): void {
    entry.backups = this.backups(keep, wanted, tried);
    entry.version = nextPlacement(entry.version, this.state.id);
  }

  /**
   * A change of `entry`'s value here, its primary: a new update of its version, and a new
   * placement too when its backups change to `backups` (by default: the live ones stay and the
   * missing ones are refilled). The caller publishes.
   */
  update(entry: Entry, backups: readonly string[] = this.backups(entry.backups)): void {
    const { id } = this.state;
    entry.version = sameMembers(backups, entry.backups) ? nextUpdate(entry.version, id) : nextPlacement(nextUpdate(entry.version, id), id);
    entry.backups = backups;
  }
}

/** True when both lists name the same members in the same order (interned lists are usually the same array). */
export function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((m, i) => m === b[i]));
}
