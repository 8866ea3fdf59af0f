/**
 * Publication: an entry owned here goes to its backups (copies or diffs, acknowledged, retried on
 * other members when a backup fails) and then, as a placement, to everyone else.
 *
 * @module
 */
import { StoppedError, type RpcResponse } from '../errors.js';
import type { EntryCopy, EntryDiff, Placement } from '../codec/map-messages.js';
import { MSG_ACCESS } from '../codec/message-types.js';
import type { Membership } from '../membership/membership.js';
import type { Entry, EntryStore } from './entry.js';
import { expiryOf } from './expiry.js';
import { push, sameMembers, type MapContext } from './map-context.js';
import { chunked, copyBound, copySize } from './message-size.js';
import type { Messenger } from './messenger.js';
import type { Placer } from './placer.js';
import { sameLineage, type Version } from './version.js';
import { WriteConcern, type CopyRefusal, type ShortfallReport, type WriteConcernState } from './write-concern.js';
import { WriteCoalescer } from './write-coalescer.js';
import { DiffGroups } from './diff-groups.js';

/** Entries published together at most when many are re-homed at once (see publishAll). */
const PUBLISH_SLICE = 10_000;

/** A write sent as a diff: the encoded changes, the version they apply to, and who holds that version. */
export interface DiffPlan {
  /** The version the diff applies to. */
  readonly base: Version;
  /** The encoded changes. */
  readonly bytes: Uint8Array;
  /** The backups when the diff was made: they hold (or are being sent) the base. */
  readonly holders: readonly string[];
}

/** An entry being published by its primary, and the version this publication is about. */
interface Publication {
  readonly entry: Entry;
  version: Version;
  /** Backups that acknowledged this write (they hold the bytes). */
  confirmed: Set<string> | undefined;
  /** Members tried as backup in this publication (never tried twice). */
  tried: Set<string> | undefined;
  /** Members tried that did not take the copy, and why (see {@link WriteConcern}). */
  refusals: Map<string, CopyRefusal> | undefined;
  /** The write as a diff, for the holders of its base (see `replicate`); others get the whole value. */
  readonly diff?: DiffPlan | undefined;
}

/** What one backup gets in a round of {@link Publisher.sendCopies}, and for which publications. */
interface ToBackup {
  readonly backup: string;
  /** Whole values, for a backup that does not hold the base of the write. */
  copies: EntryCopy[] | undefined;
  /** New placements (no bytes), for a backup that confirmed an older placement of the same write. */
  moves: Placement[] | undefined;
  /** Diffs, for a backup that holds their base. */
  diffs: Array<{ readonly pub: Publication; readonly diff: EntryDiff }> | undefined;
  /** The publications it is sent something of, in order. */
  readonly sent: Publication[];
  /** When its first copy, placement and diff were planned (orders the backups of a round). */
  firstCopy: number;
  firstMove: number;
  firstDiff: number;
}

/**
 * What publication needs of the map, besides what its write concern needs: the settings, where the
 * map is in its life (read only), whether an entry is still the one known for its key, the live
 * members, and choosing backups again for a copy not taken.
 */
export type PublicationState = WriteConcernState &
  Pick<MapContext, 'id' | 'name' | 'flavour' | 'ackMode' | 'background' | 'now'> &
  Readonly<Pick<MapContext, 'lifecycle'>> & {
    /** Whether an entry is still the one known for its key (deleted, replaced or demoted meanwhile). */
    readonly entries: Pick<EntryStore, 'get'>;
    /** The live members: backups to keep or replace, everyone else to tell. */
    readonly members: Pick<Membership, 'has' | 'size' | 'ids'>;
    /** Chooses other backups for those that did not take a copy. */
    readonly placer: Pick<Placer, 'again'>;
  };

/** What publication sends through: copies, diffs and placements, within the cluster's frame limit. */
export type PublicationMessenger = Pick<Messenger, 'request' | 'sendPlacements' | 'budget'>;

/**
 * True when `b` is `a` with at most a newer value written in place: the same placing write, the
 * same change of roles, the same primary and backups. Proxies need not hear of such a change.
 */
function samePlacement(a: Placement, b: Placement): boolean {
  return sameLineage(a.version, b.version) && a.version[2] === b.version[2] && a.version[3] === b.version[3] && a.primary === b.primary && sameMembers(a.backups, b.backups);
}

/** Publishes entries owned here, and remembers what it published. */
export class Publisher {
  private readonly state: PublicationState;
  private readonly messenger: PublicationMessenger;
  /** The newest publication of each entry, so a write can wait for the one that superseded it. */
  private readonly publications = new WeakMap<Entry, Promise<void>>();
  /**
   * The last placement of each owned entry whose publication completed (its backups acknowledged,
   * everyone else was told). The state snapshot of a join or heal sends these, not a placement
   * still being published: that one may name backups that never get the copy (the primary dies
   * first), and the newcomer would keep a proxy that no live member can ever serve or correct.
   */
  private readonly announced = new WeakMap<Entry, Placement>();
  /** Entries whose next publication tells every member their placement, even unchanged (see {@link reannounce}). */
  private readonly toAnnounce = new WeakSet<Entry>();
  /** The acknowledgements of the last placement announced for each entry, while awaited (see announce). */
  private readonly telling = new WeakMap<Entry, Promise<unknown>>();
  /** The newest publication of each entry while it is under way. */
  private readonly unsettled = new WeakMap<Entry, Promise<void>>();
  /** Publications under way; a graceful stop lets them finish before it says goodbye. */
  private readonly inflight = new Set<Promise<void>>();
  /** Writes of `set` waiting to be published together; their callers wait, so each key is reported. */
  private readonly writes = new WriteCoalescer<Entry>((entries) => this.publish(entries, undefined, 'each'));
  /** What the entries hold compared with what the map promises. */
  private readonly concern: WriteConcern;
  /** Diffs to one holder issued in one turn leave as one message (see diff-groups.ts). */
  private readonly diffGroups: DiffGroups;

  /**
   * @param state see {@link PublicationState}.
   * @param messenger sends the copies and placements.
   */
  constructor(state: PublicationState, messenger: PublicationMessenger) {
    this.state = state;
    this.messenger = messenger;
    this.concern = new WriteConcern(state);
    this.diffGroups = new DiffGroups(messenger, (error) => state.events.emit('error', error));
  }

  /**
   * Forgets what was announced of `entry`, so that its next publication, an update in place
   * included, tells every member its placement (see Failover).
   */
  reannounce(entry: Entry): void {
    this.toAnnounce.add(entry);
  }

  /** The placement last announced for `entry` (see {@link announced}). */
  lastAnnounced(entry: Entry): Placement | undefined {
    return this.announced.get(entry);
  }

  /**
   * Settles once the newest publication of `entry` started so far has (at once when there is
   * none): what this member holds of it then is known to every live member that should know it.
   * Never rejects; the write's caller hears of a failure.
   */
  async publicationOf(entry: Entry): Promise<void> {
    await this.publications.get(entry)?.catch(() => undefined);
  }

  /** The publication of `entry` under way, if any (settles without rejecting). */
  underWay(entry: Entry): Promise<void> | undefined {
    return this.unsettled.has(entry) ? this.publicationOf(entry) : undefined;
  }

  /** True while some publication is under way. */
  get busy(): boolean {
    return this.inflight.size > 0;
  }

  /** Waits for the publications under way now to settle. */
  drain(): Promise<unknown> {
    return Promise.allSettled([...this.inflight]);
  }

  /**
   * Publishes a write, together with the other writes made while earlier ones are still being
   * acknowledged (see {@link WriteCoalescer}). A graceful stop waits for a group not sent yet.
   */
  publishWrite(entry: Entry): Promise<void> {
    const done = this.track(this.writes.add(entry));
    // Under way from now, not only once its group is sent: a read or a handover of the entry
    // waits for it (see underWay), even while the write waits for the end of this turn.
    if (this.unsettled.get(entry) !== done) {
      this.publications.set(entry, done);
      this.unsettled.set(entry, done);
      const settle = (): void => {
        if (this.unsettled.get(entry) === done) this.unsettled.delete(entry);
      };
      done.then(settle, settle);
    }
    return done;
  }

  /**
   * Sends entries this member owns to their backups and, once those acknowledged, their new
   * placement to everyone else. A backup that does not take its copy is replaced by the next
   * member; an entry never names a backup that did not acknowledge (so a proxy's holders really
   * hold the value). One message per member per round, however many entries. Entries left with
   * fewer copies than promised are reported (see {@link WriteConcern}): `'each'` for writes a
   * caller awaits, `'batch'` (the default) for re-homings.
   */
  publish(entries: Entry[], diffs?: ReadonlyMap<Entry, DiffPlan>, report: ShortfallReport = 'batch'): Promise<void> {
    const done = this.distribute(entries, diffs, report);
    for (const e of entries) {
      this.publications.set(e, done);
      this.unsettled.set(e, done);
    }
    const settle = (): void => {
      for (const e of entries) if (this.unsettled.get(e) === done) this.unsettled.delete(e);
    };
    done.then(settle, settle);
    return this.track(done);
  }

  /** Tells the holders of an entry that it is still in use (Tomcat: `MSG_ACCESS`); nothing is written. */
  async access(entry: Entry): Promise<void> {
    const holders = entry.backups.filter((b) => this.state.members.has(b));
    await this.messenger.request({ type: MSG_ACCESS, keys: [entry.key] }, holders, this.state.ackMode === 'none' ? 'none' : 'all');
  }

  /** Counts `work` as under way until it settles: a graceful stop waits for it. */
  track(work: Promise<void>): Promise<void> {
    if (!this.inflight.has(work)) {
      this.inflight.add(work);
      const settle = (): void => {
        this.inflight.delete(work);
      };
      work.then(settle, settle);
    }
    return work;
  }

  /**
   * Publishes many entries at once (a failover, a member that gains a peer, a graceful leave) in
   * slices of {@link PUBLISH_SLICE}, one after the other, while the map runs. A publication keeps
   * its entries' state until every backup answered; a million at a time kept so much alive that
   * garbage collection made re-homing a million entries cost twice per entry what 100k cost.
   */
  publishAll(entries: Entry[]): Promise<void> {
    // While leaving, everything goes out now: the member halts as soon as its goodbye is
    // acknowledged, and a slice not sent by then would leave its entries to nobody.
    if (entries.length <= PUBLISH_SLICE || this.state.lifecycle !== 'running') return this.publish(entries);
    const all = (async () => {
      // A slice that fails must not keep the later ones from being published: the first error is
      // thrown once all of them were tried.
      let failure: { error: unknown } | undefined;
      for (let i = 0; i < entries.length; i += PUBLISH_SLICE) {
        await this.publish(entries.slice(i, i + PUBLISH_SLICE)).catch((error: unknown) => {
          failure ??= { error };
        });
      }
      if (failure !== undefined) throw failure.error;
    })();
    // A graceful stop waits for the slices not started yet too.
    return this.track(all);
  }

  /**
   * Waits until the write in `entry` is held by its backups. A failover or re-backup that starts
   * while the first publication waits takes it over (and the first one gives up), so follow the
   * newest publication of the same write: `set` must not resolve before a live backup holds it.
   * @throws {ReplicationError} when live members refused the copies of this write and no other
   *   live member took them (the write stays in place here).
   */
  async published(entry: Entry, first: Promise<void>): Promise<void> {
    const write = entry.version;
    let done = first;
    await done;
    for (;;) {
      // The map halted (its transport crashed) before every backup acknowledged: the publication
      // gave up, the write may be lost, so it must not look acknowledged.
      if (this.state.lifecycle === 'stopped') {
        throw new StoppedError(`map '${this.state.name}' on member '${this.state.id}' stopped before the write of key ${String(entry.key)} was acknowledged`);
      }
      const latest = this.publications.get(entry);
      if (latest === undefined || latest === done) {
        this.concern.check(entry, write);
        return;
      }
      if (entry.role !== 'primary' || !entry.sameWrite(write) || this.state.entries.get(entry.key) !== entry) return;
      done = latest;
      await done;
    }
  }

  private async distribute(entries: Entry[], diffs: ReadonlyMap<Entry, DiffPlan> | undefined, report: ShortfallReport): Promise<void> {
    const { members } = this.state;
    // The sets are made when first needed: a failover publishes 100k entries at a time.
    const pubs: Publication[] = entries.map((entry) => ({ entry, version: entry.version, confirmed: undefined, tried: undefined, refusals: undefined, diff: diffs?.get(entry) }));

    if (this.state.ackMode === 'none') {
      void this.sendCopies(pubs, false);
    } else {
      const rounds = members.size + 1;
      for (let round = 0; ; round++) {
        const failed = await this.sendCopies(this.currentOf(pubs), true);
        if (failed.size === 0) break;
        for (const p of this.currentOf(pubs)) {
          const lost = p.entry.backups.filter((b) => failed.has(b) || !members.has(b));
          if (lost.length === 0) continue;
          p.tried ??= new Set();
          for (const b of lost) {
            p.tried.add(b);
            const why = failed.get(b);
            if (why !== undefined) (p.refusals ??= new Map()).set(b, why);
          }
          const keep = p.entry.backups.filter((b) => !lost.includes(b));
          // Out of rounds (members kept coming and failing): keep only those that took the copy,
          // so that an entry never names a backup without the value.
          if (round < rounds) this.state.placer.again(p.entry, keep, undefined, p.tried);
          else this.state.placer.again(p.entry, keep, keep.length);
          p.version = p.entry.version;
        }
        if (round >= rounds) break;
      }
      this.concern.settle(this.currentOf(pubs), report);
    }
    const told = this.announce(pubs);
    if (told === undefined) return;
    await told.done;
    for (const entry of told.entries) if (this.telling.get(entry) === told.all) this.telling.delete(entry);
  }

  /**
   * The publications still about the entry's newest write here, as primary: `pubs` itself when
   * all are (the common case, which then allocates nothing).
   */
  private currentOf(pubs: Publication[]): Publication[] {
    const known = this.state.entries;
    const current = (p: Publication): boolean => known.get(p.entry.key) === p.entry && p.entry.role === 'primary' && p.entry.compare(p.version) === 0;
    for (const p of pubs) if (!current(p)) return pubs.filter(current);
    return pubs;
  }

  /**
   * Tells everyone not holding a copy where the entries of `pubs` now live, when that changed: a
   * key placed anew, moved or re-backed-up. An update in place (same primary and backups) stays
   * between the holders; the proxies' older version still names where the value lives. Returns
   * what the publication must wait for (`done`), or `undefined` when nothing (an update in place,
   * the common write); `entries` are being told by `all` meanwhile (see {@link telling}).
   */
  private announce(pubs: Publication[]): { readonly done: Promise<unknown>; readonly all: Promise<unknown>; readonly entries: readonly Entry[] } | undefined {
    const { entries: known, members } = this.state;
    // Made when first needed: an update in place announces nothing.
    let proxies: Map<string, Placement[]> | undefined;
    /** Announcements of the same placements still on their way, by another publication. */
    let sameUnderWay: Array<Promise<unknown>> | undefined;
    let announcing: Entry[] | undefined;
    for (const p of pubs) {
      // Entries still owned here, even if a newer write changed them meanwhile: that write's own
      // publication tells only the holders when it is an update in place, so the members that
      // never heard of the key learn its current placement here, and this write resolves once
      // they did.
      if (known.get(p.entry.key) !== p.entry || p.entry.role !== 'primary') continue;
      const before = this.announced.get(p.entry);
      const placement = p.entry.placement();
      this.announced.set(p.entry, placement);
      const again = this.toAnnounce.delete(p.entry);
      if (!again && before !== undefined && samePlacement(before, placement)) {
        // Told already, or being told by a publication still waiting for the acknowledgements:
        // this one resolves only once they came (a read anywhere must then find the key).
        const telling = this.telling.get(p.entry);
        if (telling !== undefined) (sameUnderWay ??= []).push(telling);
        continue;
      }
      (announcing ??= []).push(p.entry);
      for (const m of members.ids()) {
        if (p.entry.backups.includes(m)) continue;
        push((proxies ??= new Map<string, Placement[]>()), m, placement);
      }
    }
    // Read-your-writes: the write resolves once every live member knows where the key lives, so a
    // get anywhere finds it (Tomcat sends its proxy messages synchronously for the same reason).
    // A member that disappears meanwhile is not waited for; with `ack: 'none'` nothing is.
    const mode = this.state.ackMode === 'none' ? 'none' : 'all';
    const told: Promise<RpcResponse[]>[] = [];
    for (const [member, placements] of proxies ?? []) told.push(...this.messenger.sendPlacements(member, placements, mode));
    if (mode !== 'all' || (announcing === undefined && sameUnderWay === undefined)) return undefined;
    const all = Promise.all(told);
    const entries = announcing ?? [];
    for (const entry of entries) this.telling.set(entry, all);
    return { done: Promise.all([all, ...(sameUnderWay ?? [])]), all, entries };
  }

  /**
   * Sends each publication's copy to its backups that have not confirmed it, one message per
   * backup. Returns the backups that did not acknowledge, and why. Backups that confirmed an older
   * placement of the same write get the new placement (no bytes) instead; holders of the base of
   * a diff get the diff.
   */
  private async sendCopies(pubs: Publication[], acked: boolean): Promise<Map<string, CopyRefusal>> {
    const failed = new Map<string, CopyRefusal>();
    await Promise.all(this.planSends(pubs).map((t) => this.sendTo(t, acked, failed)));
    return failed;
  }

  /**
   * What each backup of `pubs` gets (see {@link sendCopies}): a copy, a new placement or a diff
   * per publication. The backups with copies come first, in the order of their first copy; then
   * those with placements, in the order of their first placement; then the rest, in the order of
   * their first diff. Rounds have always sent in that order, and seeded fault schedules replay by it.
   */
  private planSends(pubs: Publication[]): ToBackup[] {
    const byBackup = new Map<string, ToBackup>();
    const now = this.state.now();
    /** Sends planned so far: orders the backups (see the end). */
    let sends = 0;
    for (const p of pubs) {
      // Not `bytes`: a primary that logs its diffs encodes its value only for a copy (replay-log.ts).
      if (!p.entry.holding) continue;
      const placement = p.entry.placement();
      const expiry = expiryOf(p.entry, now);
      for (const b of p.entry.backups) {
        let to = byBackup.get(b);
        if (to === undefined) byBackup.set(b, (to = { backup: b, copies: undefined, moves: undefined, diffs: undefined, sent: [], firstCopy: 0, firstMove: 0, firstDiff: 0 }));
        if (p.confirmed?.has(b) === true) {
          if (to.moves === undefined) {
            to.moves = [];
            to.firstMove = sends;
          }
          to.moves.push(placement);
        } else if (p.diff?.holders.includes(b) === true) {
          if (to.diffs === undefined) {
            to.diffs = [];
            to.firstDiff = sends;
          }
          to.diffs.push({ pub: p, diff: { entry: placement, base: p.diff.base, diff: p.diff.bytes } });
        } else {
          const bytes = p.entry.bytes as Uint8Array;
          if (to.copies === undefined) {
            to.copies = [];
            to.firstCopy = sends;
          }
          to.copies.push(expiry === undefined ? { ...placement, bytes } : { ...placement, bytes, expiry });
        }
        to.sent.push(p);
        sends++;
      }
    }
    const all = [...byBackup.values()];
    if (all.length <= 1) return all;
    const rank = (t: ToBackup): number => (t.copies !== undefined ? 0 : t.moves !== undefined ? 1 : 2);
    const at = (t: ToBackup): number => (t.copies !== undefined ? t.firstCopy : t.moves !== undefined ? t.firstMove : t.firstDiff);
    return all.sort((x, y) => rank(x) - rank(y) || at(x) - at(y));
  }

  /** Sends one backup its part of a round; records it in `failed` when it did not acknowledge. */
  private async sendTo(to: ToBackup, acked: boolean, failed: Map<string, CopyRefusal>): Promise<void> {
    const b = to.backup;
    const mode = acked ? 'all' : 'none';
    const requests: Promise<RpcResponse[]>[] = [];
    if (to.copies !== undefined) {
      for (const entries of chunked(to.copies, copySize, undefined, this.messenger.budget(copyBound))) requests.push(this.messenger.request({ type: this.state.flavour.copyMessage, entries }, [b], mode));
    }
    if (to.moves !== undefined) requests.push(...this.messenger.sendPlacements(b, to.moves, mode));
    for (const { pub, diff } of to.diffs ?? []) {
      const sent = this.sendDiff(b, pub, diff);
      if (acked) requests.push(sent);
      else this.state.background(sent);
    }
    const results = await Promise.all(requests);
    const ok = !acked || results.every((r) => r.some((x) => x.from === b && 'reply' in x));
    if (ok) for (const p of to.sent) (p.confirmed ??= new Set()).add(b);
    else failed.set(b, refusalOf(b, results));
  }

  /**
   * Sends one diff to one holder of its base. A holder that refuses it (it lacks the base: a
   * restart, a lost copy, a proxy) gets the whole value instead, so no holder is left with an empty
   * or wrong copy (Tomcat's hole). Resolves to the replies of whichever message it took.
   */
  private async sendDiff(to: string, pub: Publication, diff: EntryDiff): Promise<RpcResponse[]> {
    // Always a request, even with ack 'none': a refusal must come back to be repaired.
    const replies = await this.diffGroups.send(to, diff);
    if (!replies.some((r) => r.from === to && 'error' in r)) return replies;
    const bytes = pub.entry.bytes;
    // The entry was deleted or demoted meanwhile: there is nothing of this member's left to send.
    if (bytes === undefined || pub.entry.role !== 'primary' || this.state.entries.get(pub.entry.key) !== pub.entry) return [];
    // The current placement and bytes, read together: a newer write since is sent whole, never
    // the diff's bytes under another version.
    const expiry = expiryOf(pub.entry, this.state.now());
    const copy = expiry === undefined ? { ...pub.entry.placement(), bytes } : { ...pub.entry.placement(), bytes, expiry };
    return this.messenger.request({ type: this.state.flavour.copyMessage, entries: [copy] }, [to], 'all');
  }
}

/** Why `member` did not acknowledge: the error it answered with, or that no answer came. */
function refusalOf(member: string, results: readonly RpcResponse[][]): CopyRefusal {
  for (const replies of results) {
    for (const r of replies) {
      if (r.from === member && 'error' in r) {
        const name = r.error.remoteName ?? 'Error';
        // A member that stops takes no more copies (message-handler.ts): it is leaving, not refusing.
        return { reason: `${name}: ${r.error.message}`, leaving: name === 'StoppedError' };
      }
    }
  }
  return { reason: 'no answer within rpcTimeoutMs, or its connection was lost', leaving: false };
}
