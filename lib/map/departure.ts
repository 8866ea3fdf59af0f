/**
 * Departure: how a member leaves a map gracefully without losing, silently, what only it holds.
 *
 * 1. It says it is leaving (`MSG_LEAVING`) to every member, so none chooses it as a backup or
 *    hands it entries any more, and two members stopping at once never count on each other.
 * 2. It waits for the publications under way (a write, a promotion, a failover) to finish.
 * 3. Entries it holds that no staying member holds (its "orphans") get a copy on a staying member.
 *    When there is none, it waits (up to `stopWaitMs`) for one to appear: the replacement of a
 *    rolling update that starts after the last old member got SIGTERM. A member that joins
 *    meanwhile is told that this one leaves, then is handed the orphans.
 * 4. It says goodbye (`MSG_STOP`); the others re-home what it held.
 *
 * What could not be handed over is counted; the map reports it (see `DataLossError`). Tomcat's
 * `BackupManager` does neither: its members re-home after a stop, and the last one's sessions go.
 *
 * @module
 */
import type { Membership } from '../membership/membership.js';
import type { Entry, EntryStore } from './entry.js';
import type { Placement } from '../codec/map-messages.js';
import { MSG_LEAVING, MSG_STOP } from '../codec/message-types.js';
import { alive } from './expiry.js';
import type { MapContext } from './map-context.js';
import type { Messenger } from './messenger.js';
import type { Placer } from './placer.js';
import type { Publisher } from './publisher.js';
import { nextPlacement } from './version.js';

/**
 * What a departure needs of the map: the entries held here (to find what only this member holds),
 * the members (who stays, who leaves), choosing backups for a hand-over, and saying it said goodbye
 * (the only writer of `saidGoodbye`).
 */
export type DepartureState = Pick<MapContext, 'id' | 'now' | 'wanted' | 'markGoodbye'> & {
  /** Every entry held here. */
  readonly entries: Pick<EntryStore, 'values'>;
  /** Who is live, who stays, who leaves; whether this member ever met another. */
  readonly members: Pick<Membership, 'ids' | 'has' | 'isLeaving' | 'candidates' | 'everMet'>;
  /** Chooses staying backups for the entries handed over. */
  readonly placer: Pick<Placer, 'again'>;
};

/** The collaborators a departure uses. */
export interface DepartureParts {
  /** Says "leaving" and goodbye. */
  readonly messenger: Pick<Messenger, 'request' | 'sendPlacements'>;
  /** Publishes the entries handed over, and knows the publications under way. */
  readonly publisher: Pick<Publisher, 'busy' | 'drain' | 'publishAll'>;
}

/** How a member leaves: see {@link Departure.leave}. */
export interface DepartureOptions {
  /** How long to wait for a member to hand entries to when none is there, in milliseconds. */
  readonly waitMs: number;
  /** Drop what cannot be handed over now, knowingly: no wait. */
  readonly discard: boolean;
  /**
   * Where what no staying member can take goes instead of the wait: the snapshot. Resolves to
   * `undefined` once written, or to the error that kept it from being written.
   */
  readonly save?: (entries: readonly Entry[]) => Promise<{ error: unknown } | undefined>;
}

/** What a departure could not save. */
export interface DepartureResult {
  /** Entries held here that no staying member held when this member said goodbye. */
  readonly dropped: number;
  /** Whether this member ever met another member of the map (else it is a lone, development member). */
  readonly hadPeer: boolean;
  /** How long it waited for a member to appear, in milliseconds (0 when it did not wait). */
  readonly waitedMs: number;
  /** The snapshot could not be written: why (its entries are lost). */
  readonly saved?: { error: unknown } | undefined;
}

/** Leaves a map: announce, hand over (waiting for a successor if needed), goodbye. */
export class Departure {
  private readonly state: DepartureState;
  private readonly parts: DepartureParts;
  /** Members told that this one leaves. */
  private readonly told = new Set<string>();
  /** Wakes a departure waiting for something to change. */
  private wake: (() => void) | undefined;

  /**
   * @param state see {@link DepartureState}.
   * @param parts see {@link DepartureParts}.
   */
  constructor(state: DepartureState, parts: DepartureParts) {
    this.state = state;
    this.parts = parts;
  }

  /**
   * Something that may let a waiting departure go on happened: a message arrived (a newcomer's
   * start, a placement, a peer's goodbye or "leaving"), or a member disappeared.
   */
  changed(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * Leaves: see the module comment. Resolves once the goodbye was acknowledged (or its deadline
   * passed), with what was dropped. The caller has set the map's lifecycle to `'stopping'`.
   */
  async leave(options: DepartureOptions): Promise<DepartureResult> {
    const { state, parts } = this;
    const hadPeer = state.members.everMet;
    const began = performance.now();
    // A lone member that never had a peer (development) has nobody to wait for.
    const waitMs = options.discard || !hadPeer ? 0 : options.waitMs;
    let dropped = 0;
    let waited = 0;
    let saved: { error: unknown } | undefined;
    /** Orphans left after the last hand-over; another one is tried only once something changed. */
    let stuckAt: number | undefined;
    for (;;) {
      // A publication under way (a write, a promotion, a failover, a hand-over) finishes first: a
      // copy or placement sent after MSG_STOP names a primary that is gone.
      if (parts.publisher.busy) {
        await parts.publisher.drain();
        continue;
      }
      const untold = state.members.ids().filter((m) => !this.told.has(m));
      if (untold.length > 0) {
        for (const m of untold) this.told.add(m);
        await parts.messenger.request({ type: MSG_LEAVING }, untold, 'all');
        continue;
      }
      const orphans = this.orphans();
      if (orphans.length === 0) {
        // The last member out writes its snapshot even holding no entry: the deletes it remembers
        // replace an older file, which must not bring those keys back.
        if (options.save !== undefined && state.members.candidates().length === 0) saved = await options.save([]);
        break;
      }
      // Entries owned here go to a staying member. A copy held here whose primary is leaving
      // too is that primary's to hand over (both doing it would race); if it leaves first,
      // failover makes this member the primary and the next round hands the entry over.
      const owned = orphans.filter((e) => e.role === 'primary');
      if (owned.length > 0 && state.members.candidates().length > 0 && stuckAt !== orphans.length) {
        stuckAt = orphans.length;
        await this.handOver(owned);
        continue;
      }
      // No staying member can take them now. A configured snapshot takes them instead of a wait
      // (a lone member's too): a member that starts with no peers loads it.
      if (options.save !== undefined) {
        saved = await options.save(orphans);
        break;
      }
      const left = waitMs - (performance.now() - began);
      if (left <= 0) {
        dropped = orphans.length;
        break;
      }
      const from = performance.now();
      await this.change(left);
      waited += performance.now() - from;
      stuckAt = undefined;
    }
    // Every key this member is still primary of goes to a staying holder before the goodbye, as a
    // placement from this member (the role moves only from the member that holds it): otherwise
    // its backups would each claim it on the goodbye, while askers that still took this member
    // for its primary wrote elsewhere (a graceful stop is not a fault: calls stay linearizable).
    if (state.members.candidates().length > 0) await this.transferPrimaries();
    // Set in the same turn as the last check: anything arriving from now on (a newcomer's start, a
    // peer's goodbye) finds this member gone, so nothing handed here is left behind.
    state.markGoodbye();
    await parts.messenger.request({ type: MSG_STOP }, state.members.ids(), 'all');
    return { dropped, hadPeer, waitedMs: Math.round(waited), saved };
  }

  /**
   * Entries held here (owned, or a copy) that no live member other than a leaving one holds, and
   * that have not expired: what a goodbye now would lose.
   */
  private orphans(): Entry[] {
    const { state } = this;
    const now = state.now();
    const orphans: Entry[] = [];
    for (const e of state.entries.values()) {
      if (!e.holding || !alive(e, now)) continue;
      const elsewhere = e.holders().some((m) => m !== state.id && state.members.has(m) && !state.members.isLeaving(m));
      if (!elsewhere) orphans.push(e);
    }
    return orphans;
  }

  /**
   * Gives entries owned here a copy on staying members (at least one, even where the map wants
   * none), under a new placement; resolves once published.
   */
  private handOver(entries: Entry[]): Promise<void> {
    const { state } = this;
    for (const e of entries) {
      state.placer.again(e, e.backups, Math.max(1, state.wanted()));
    }
    return this.parts.publisher.publishAll(entries);
  }

  /**
   * Makes a staying backup the primary of every entry still owned here, by a placement this
   * member sends every member (`MSG_PROXY`) and that names itself as a backup still: the new
   * primary replaces it when it says goodbye, so the entry gets its copies back. Entries with no
   * staying holder were handed over (or counted as dropped) before. Waits for every
   * acknowledgement, so no member asks this one about those keys after its goodbye.
   */
  private async transferPrimaries(): Promise<void> {
    const { state, parts } = this;
    while (parts.publisher.busy) await parts.publisher.drain();
    const placements: Placement[] = [];
    for (const e of state.entries.values()) {
      if (e.role !== 'primary') continue;
      const heir = e.backups.find((b) => b !== state.id && state.members.has(b) && !state.members.isLeaving(b));
      if (heir === undefined) continue;
      e.version = nextPlacement(e.version, state.id);
      e.primary = heir;
      e.backups = [...e.backups.filter((b) => b !== heir && b !== state.id), state.id];
      e.role = 'backup';
      placements.push(e.placement());
    }
    if (placements.length === 0) return;
    await Promise.all(state.members.ids().flatMap((m) => parts.messenger.sendPlacements(m, placements, 'all')));
  }

  /** Resolves on the next {@link changed}, or after `ms`. */
  private change(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
