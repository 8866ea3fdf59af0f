/**
 * Heal: what happens when two sides of a partition meet again (and when a member restarts, or a
 * peer comes up that was never met). While apart, each side went on: it failed the other's keys
 * over, wrote, deleted, claimed the same keys. When they meet:
 *
 * 1. The transport's `peerUp` makes each side introduce itself (`StateTransfer.introduce`: a
 *    `MSG_START`), and each answers with its state, page by page (state-transfer.ts). A peer
 *    that goes down again before it was met has its placements failed over
 *    (`Failover.vanished`).
 * 2. Each side merges the other's state (`Reconciler.mergeState`): deletes first, then the
 *    placements of the keys the other owns. Of two claims of a key the higher version wins, and
 *    a delete newer than a write keeps the key dead (reconciler.ts).
 * 3. The rules here pass on what was learned, so that no member keeps the losing claim. A state
 *    transfer reaches only the member that asked, so it is second-hand news: it may be all that
 *    is left of a write whose holders die next, and is passed on to the members that hold the
 *    older claim. An older placement naming another primary is answered with the newer one; a
 *    placement of a key deleted since, with the delete; a failover claim of an older value is
 *    outranked by the holder of the newer one (`Failover.outrankClaim`); a primary that drops its
 *    own write for a newer one already lost deletes its write everywhere (`Heal.withdraw`). The
 *    same rules serve news that comes late or second-hand without a partition (a reordering
 *    network, a read promotion that raced an update).
 *
 * Each message applied collects what to pass on in a {@link Relay}, sent once the message is
 * applied ({@link Heal.sendNotices}).
 *
 * @module
 */
import type { MapKey, Placement, Removal } from '../codec/map-messages.js';
import type { Membership } from '../membership/membership.js';
import type { Entry, EntryRole, EntryStore } from './entry.js';
import type { Failover } from './failover.js';
import type { Interner } from './interner.js';
import type { Tombstones } from './tombstones.js';
import { push, type MapEmitter } from './map-context.js';
import type { Messenger } from './messenger.js';
import type { Version } from './version.js';

/** Where placements being applied came from, and whom to pass them on to (see `applyPlacement`). */
export interface Relay {
  /** The member the placements came from. */
  readonly from: string;
  /** Whether they are second-hand: a state transfer, or sent by a member other than their primary. */
  secondHand: boolean;
  /** Placements to pass on, by member; made when the first one is (see {@link noticeTo}). */
  notices: Map<string, Placement[]> | undefined;
  /** Deletes to pass on, by member; made when the first one is (see {@link removalTo}). */
  removals: Map<string, Removal[]> | undefined;
}

/** A relay for news from `from`, with nothing to pass on yet (a relay per message received: nothing made until needed). */
export function newRelay(from: string, secondHand: boolean): Relay {
  return { from, secondHand, notices: undefined, removals: undefined };
}

/** Passes `placement` on to `member` with the relay's other news. */
export function noticeTo(relay: Relay, member: string, placement: Placement): void {
  push((relay.notices ??= new Map<string, Placement[]>()), member, placement);
}

/** Passes `removal` on to `member` with the relay's other news. */
export function removalTo(relay: Relay, member: string, removal: Removal): void {
  push((relay.removals ??= new Map<string, Removal[]>()), member, removal);
}

/** What an entry was before a placement was adopted: its role, its primary and its version. */
export interface Before {
  /** This member's role in the entry. */
  readonly role: EntryRole;
  /** The entry's primary. */
  readonly primary: string;
  /** The entry's version. */
  readonly version: Version;
}

/** What heal reads of the map (the map's `MapContext` is one). */
export interface HealState {
  /** This member's id. */
  readonly id: string;
  /** Who is a member here, and who was met before. */
  readonly members: Pick<Membership, 'ids' | 'has' | 'wasMet'>;
  /** The entries known here: a key whose holders are all gone is dropped. */
  readonly entries: Pick<EntryStore, 'delete'>;
  /** Deletes remembered: a primary that drops its own write as overtaken by a lost one deletes it (see {@link Heal.secondHand}). */
  readonly tombstones: Pick<Tombstones, 'add'>;
  /** Shares the key a tombstone keeps. */
  readonly interner: Pick<Interner, 'key'>;
  /** Where `entryRemoved` goes for a key lost with its holders. */
  readonly events: MapEmitter;
}

/** What heal asks of its siblings, one or two methods each. */
export interface HealParts {
  /** Passes news on. */
  readonly messenger: Pick<Messenger, 'sendPlacements' | 'sendRemovals'>;
  /** Takes over from a failover claim of an older value. */
  readonly failover: Pick<Failover, 'outrankClaim'>;
}

/**
 * The rules by which news that arrives second-hand, late, or naming a losing claim is passed on
 * (see the module's description). The reconciler calls them as it applies each placement and
 * delete.
 */
export class Heal {
  private readonly state: HealState;
  private readonly messenger: HealParts['messenger'];
  private readonly failover: HealParts['failover'];
  /**
   * Keys this member told another member it holds a copy of (an older primary, see
   * {@link olderClaim}) and still does. Should its own primary's word make it a mere proxy, it passes
   * that word on: the member it told would otherwise count on a copy that is no longer here.
   */
  private readonly vouched = new Set<MapKey>();

  /**
   * @param state see {@link HealState}.
   * @param parts see {@link HealParts}.
   */
  constructor(state: HealState, parts: HealParts) {
    this.state = state;
    this.messenger = parts.messenger;
    this.failover = parts.failover;
  }

  /** A placement of a key deleted here since (`dead`, the delete's version) arrived. */
  deletedSince(p: Placement, dead: Version, relay: Relay): void {
    // A primary publishes a key deleted since (the delete reached it only second-hand, or not
    // at all): tell it, for the same reason as below.
    if (relay.from === p.primary && relay.from !== dead[1]) removalTo(relay, relay.from, { key: p.key, version: dead });
  }

  /** A placement older than the `entry` known here, naming another primary, arrived. */
  olderClaim(entry: Entry, p: Placement, relay: Relay): void {
    if (entry.role === 'primary') {
      // The owner of a newer value hears of an older placement naming another primary (a
      // read promotion or failover that raced its update, or such news passed on). Its
      // updates in place reached only its holders, so every member that took the older
      // placement would keep a wrong primary: tell them all, not only its sender.
      for (const m of this.state.members.ids()) noticeTo(relay, m, entry.placement());
    } else if (entry.bytes !== undefined && entry.primary !== this.state.id && entry.primary !== p.primary && this.state.members.wasMet(entry.primary) && !this.state.members.has(entry.primary)) {
      // A failover claim of an older value: the holder that took over missed an update in
      // place. This member has the newer value and its primary is gone, so it takes over.
      this.failover.outrankClaim(entry);
    } else if (relay.from === p.primary) {
      // A primary publishes a write older than one known here (a concurrent write it has not
      // heard of, perhaps only from a state transfer): tell it, or it would keep counting on
      // this member, and keep the key, after the newer write's holders die and it is dropped here.
      noticeTo(relay, relay.from, entry.placement());
      if (entry.role !== 'proxy') this.vouched.add(entry.key);
    }
  }

  /** First-hand news `p`, newer than what was known here (`before`), is being adopted. */
  firstHand(before: Before | undefined, p: Placement, relay: Relay): void {
    if (before?.role === 'primary' && p.primary !== this.state.id) {
      // First-hand news that this member is primary no longer: a newer value from the new
      // primary, perhaps an update in place that only its holders heard of. This member had
      // told others it was primary (a promotion, a failover), so it tells them all that it is not.
      for (const m of this.state.members.ids()) if (m !== relay.from && m !== p.primary) noticeTo(relay, m, p);
    } else if (before?.role === 'backup' && before.primary !== p.primary && before.primary !== relay.from && before.primary !== this.state.id && this.state.members.has(before.primary)) {
      // This member held a copy for another primary, which counts on it, and takes a newer write
      // of another primary. The new primary tells every member itself, but may die before its word
      // reaches the old one (a heal whose newest write dies with its holders): the old primary
      // would then keep naming this member as its backup, and keep the key this member dropped.
      // After a handover the old primary knows already, and the notice costs one message per
      // backup. Sending it only when this member loses its copy and the old primary holds none
      // under the new placement let fault seed 1,070,567 diverge (docs/consistency.md).
      noticeTo(relay, before.primary, p);
    }
  }

  /**
   * Second-hand news `p`, newer than the `entry` known here (`before`), is being adopted: passes
   * it on, and says whether to adopt it, to keep what is known ('keep'), or whether the key was
   * dropped as lost ('lost').
   */
  secondHand(entry: Entry | undefined, before: Before | undefined, p: Placement, relay: Relay): 'adopt' | 'keep' | 'lost' {
    // Second-hand news (a state transfer, or a placement relayed by a member other than its
    // primary) may be all that is left of a write: its primary can die before telling anyone
    // else. Members that learn of it drop the key when its holders die; members that did not
    // would keep the older placement forever. So the news is passed on to the primary it
    // replaces here and, by that primary, to every member (the primary may be met before it is
    // a member here again: a join's replies come in any order).
    if (before !== undefined && before.primary !== p.primary) {
      const targets = before.role === 'primary' ? this.state.members.ids() : [before.primary];
      for (const m of targets) if (m !== relay.from && m !== p.primary && m !== this.state.id) noticeTo(relay, m, p);
    }
    const live = (m: string): boolean => m === this.state.id || m === relay.from || this.state.members.has(m);
    if (![p.primary, ...p.backups].some(live)) {
      // Every holder named is already gone here. A placement of the value held here changes
      // nothing that matters: keep what is known. One of a newer write means the key is lost,
      // as if its holders had disappeared now (see Failover.rehome); no stale proxy is kept.
      if (entry === undefined || (entry.bytes !== undefined && entry.sameWrite(p.version))) return 'keep';
      if (before?.role === 'primary') this.withdraw(p.key, before.version, relay);
      this.state.entries.delete(p.key);
      this.state.events.emit('entryRemoved', p.key, 'lost');
      return 'lost';
    }
    return 'adopt';
  }

  /**
   * This member, primary of `key` at `version`, drops its write for a newer write already lost
   * with its holders (see {@link secondHand}): it deletes its own write everywhere, at that
   * write's version. It told every member it was primary, and that placement may still be on its
   * way to some (a state sent at a heal crosses the newer write's news). A member that lost the
   * newer write forgot it, and would take that late placement and name this member, which holds
   * nothing, forever. The delete removes the late placement, or its tombstone refuses it, in
   * either order; it covers no newer write.
   *
   * Not done when the newer write lives (this member becomes its proxy or backup): every write
   * overtaken by another member's would then cost a delete per member, and a member holding the
   * overtaken write could miss the key between that delete and the newer placement. Whether that
   * is safe was not settled (docs/consistency.md, "Seeds 1,081,620 and 1,082,743").
   */
  private withdraw(key: MapKey, version: Version, relay: Relay): void {
    const own: Removal = { key, version };
    this.state.tombstones.add(this.state.interner.key(key), version);
    for (const m of this.state.members.ids()) if (m !== this.state.id) removalTo(relay, m, own);
  }

  /**
   * Placement `p` (applied with `relay`, if any) left this member a mere proxy of its key.
   * `keepsSpare`: it still holds the value, as a spare (see `Reconciler.applyPlacement`); the copy
   * it vouched for is still here, so the members it told are told only once the spare goes.
   */
  proxied(p: Placement, relay: Relay | undefined, keepsSpare = false): void {
    if (keepsSpare) return;
    if (this.vouched.delete(p.key) && relay !== undefined && !relay.secondHand) {
      // This member told others it holds the key (the placement of a handover it made, say) and
      // the primary's own placement now leaves it none: pass that on, or a member it told would
      // count on this copy and, once the primary dies, wait for a takeover that never comes.
      for (const m of this.state.members.ids()) if (m !== relay.from && m !== p.primary) noticeTo(relay, m, p);
    }
  }

  /** Delete `r` (applied with `relay`, if any) removes the `entry` known here. */
  deleted(entry: Entry, r: Removal, relay: Relay | undefined): void {
    // From its author, a delete of a key whose primary is another member is passed on to that
    // primary too: the author told the members it knew when it deleted, and may be telling
    // this member only now, as it meets it again after a partition (its state, sent as deletes:
    // see StateTransfer.pushState); should it die before it reaches the primary, the primary
    // would keep the key that this member dropped. Deletes decided by the primary, as they are
    // without faults, cost nothing more.
    const authorNotPrimary = entry.role !== 'primary' && entry.primary !== r.version[1];
    if (relay !== undefined && (relay.secondHand || relay.from !== r.version[1] || authorNotPrimary)) {
      // A delete learned second-hand (a state transfer, even from its author, or passed on): its
      // author may have died before telling everyone, so pass it on as for placements (see
      // applyPlacement).
      const targets = entry.role === 'primary' ? this.state.members.ids() : [entry.primary];
      for (const m of targets) if (m !== relay.from && m !== r.version[1] && m !== this.state.id) removalTo(relay, m, r);
    }
    this.vouched.delete(r.key);
  }

  /** Passes on second-hand placements (see applyPlacement), one message per member. */
  sendNotices(relay: Relay): void {
    // Deletes first: a placement passed on with them may be older than one of them.
    for (const [member, removals] of relay.removals ?? []) {
      void this.messenger.sendRemovals([member], removals, 'none');
    }
    for (const [member, placements] of relay.notices ?? []) {
      void this.messenger.sendPlacements(member, placements, 'none');
    }
  }
}
