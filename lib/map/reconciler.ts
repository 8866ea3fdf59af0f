/**
 * Reconciliation: what a member does with the placements, copies, diffs and deletes its peers
 * send. Of two versions of a key the higher one wins, a delete newer than a write keeps the key
 * dead, and news learned second-hand is passed on so that no member keeps a stale placement.
 *
 * @module
 */
import { DiffApplyError, DiffBaseMissingError, ProtocolError } from '../errors.js';
import type { EntryCopy, EntryDiff, MapKey, Placement, Removal } from '../codec/map-messages.js';
import { isDeltaValue } from './delta-value.js';
import { Entry, NOT_DECODED } from './entry.js';
import type { Failover } from './failover.js';
import { push, type MapContext } from './map-context.js';
import type { Messenger } from './messenger.js';
import { adoptExpiry, copyReceived } from './expiry.js';
import { compareVersions } from './version.js';

/** Where placements being applied came from, and whom to pass them on to (see `applyPlacement`). */
export interface Relay {
  /** The member the placements came from. */
  readonly from: string;
  /** Whether they are second-hand: a state transfer, or sent by a member other than their primary. */
  secondHand: boolean;
  /** Placements to pass on, by member. */
  readonly notices: Map<string, Placement[]>;
  /** Deletes to pass on, by member. */
  readonly removals: Map<string, Removal[]>;
}

/** A relay for news from `from`, with nothing to pass on yet. */
export function newRelay(from: string, secondHand: boolean): Relay {
  return { from, secondHand, notices: new Map(), removals: new Map() };
}

/** The slice of the map's state reconciliation uses. */
export type ReconciliationState = Pick<
  MapContext,
  'id' | 'entries' | 'tombstones' | 'clock' | 'interner' | 'codec' | 'now' | 'members' | 'events' | 'roleFor'
>;

/** A decoded copy with diffs applied, whose encoding waits until bytes are needed (see applyDiff). */
export interface Deferred {
  /** The decoded value, newer than the bytes held. */
  readonly value: unknown;
  /** Encodes it. */
  readonly encode: (value: unknown) => Uint8Array;
  /** The diff bytes applied to it since the bytes held were encoded. */
  readonly pending: number;
}

/** Whether two member lists are the same, in the same order. */
function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Applies what peers say to the entries held here, by version. */
export class Reconciler {
  private readonly state: ReconciliationState;
  private readonly messenger: Messenger;
  private readonly failover: Failover;
  /**
   * Keys this member told another member it holds a copy of (an older primary, see
   * applyPlacement) and still does. Should its own primary's word make it a mere proxy, it passes
   * that word on: the member it told would otherwise count on a copy that is no longer here.
   */
  private readonly vouched = new Set<MapKey>();

  /**
   * @param state see {@link ReconciliationState}.
   * @param messenger passes second-hand news on.
   * @param failover takes over an entry whose primary turns out to be gone.
   */
  constructor(state: ReconciliationState, messenger: Messenger, failover: Failover) {
    this.state = state;
    this.messenger = messenger;
    this.failover = failover;
  }

  /** Copies from their primary (`MSG_BACKUP`, `MSG_COPY`): each is adopted if newer, and marked used. */
  applyCopies(copies: readonly EntryCopy[], from: string): void {
    const relay = newRelay(from, false);
    for (const c of copies) {
      this.applyPlacement(c, Uint8Array.prototype.slice.call(c.bytes), 'remote', relay);
      // The copy held here is this one: take its expiry (a copy is news of a use, or of the
      // primary's idea of the last one when re-homing).
      const e = this.state.entries.get(c.key);
      if (e?.bytes !== undefined && e.sameWrite(c.version)) adoptExpiry(e, c.expiry, this.state.now());
    }
    this.sendNotices(relay);
  }

  /** Placements (`MSG_PROXY`); one sent by someone other than its primary is relayed news (see applyPlacement). */
  applyPlacements(placements: readonly Placement[], from: string): void {
    const relay = newRelay(from, false);
    for (const p of placements) {
      relay.secondHand = p.primary !== from;
      this.applyPlacement(p, undefined, 'remote', relay);
    }
    this.sendNotices(relay);
  }

  /** Deletes (`MSG_REMOVE`); second-hand unless sent by the delete's author (see applyRemoval). */
  applyRemovals(removals: readonly Removal[], from: string): void {
    const relay = newRelay(from, false);
    for (const r of removals) this.applyRemoval(r, 'remote', relay);
    this.sendNotices(relay);
  }

  /**
   * Adopts a placement (and its copy, if given) when it is newer than what is known here.
   * `deferred`: the copy is `bytes` (an older version's) with a diff applied to its decoded value,
   * to be encoded only when bytes are asked for (see applyDiff).
   */
  applyPlacement(p: Placement, bytes: Uint8Array | undefined, origin: 'local' | 'remote', relay?: Relay, deferred?: Deferred): boolean {
    this.state.clock.observe(p.version);
    const dead = this.state.tombstones.get(p.key);
    if (dead !== undefined && compareVersions(dead, p.version) >= 0) {
      // A primary publishes a key deleted since (the delete reached it only second-hand, or not
      // at all): tell it, for the same reason as below.
      if (relay !== undefined && relay.from === p.primary && relay.from !== dead[1]) push(relay.removals, relay.from, { key: p.key, version: dead });
      return false;
    }
    const entry = this.state.entries.get(p.key);
    if (entry !== undefined) {
      const order = entry.compare(p.version);
      // The same placement may come twice: first without the value (a state snapshot or proxy
      // message that overtook the copy, which made this member a mere proxy), then with it. The
      // copy must still be taken, or the primary counts on a backup that holds nothing.
      const missingCopy = order === 0 && entry.bytes === undefined && bytes !== undefined && this.state.roleFor(p.primary, p.backups) !== 'proxy';
      if (order > 0 && relay !== undefined && entry.primary !== p.primary) {
        if (entry.role === 'primary') {
          // The owner of a newer value hears of an older placement naming another primary (a
          // read promotion or failover that raced its update, or such news passed on). Its
          // updates in place reached only its holders, so every member that took the older
          // placement would keep a wrong primary: tell them all, not only its sender.
          for (const m of this.state.members.ids()) push(relay.notices, m, entry.placement());
        } else if (entry.bytes !== undefined && entry.primary !== this.state.id && entry.primary !== p.primary && this.state.members.wasMet(entry.primary) && !this.state.members.has(entry.primary)) {
          // A failover claim of an older value: the holder that took over missed an update in
          // place. This member has the newer value and its primary is gone, so it takes over.
          this.failover.outrankClaim(entry);
        } else if (relay.from === p.primary) {
          // A primary publishes a write older than one known here (a concurrent write it has not
          // heard of, perhaps only from a state transfer): tell it, or it would keep counting on
          // this member, and keep the key, after the newer write's holders die and it is dropped here.
          push(relay.notices, relay.from, entry.placement());
          if (entry.role !== 'proxy') this.vouched.add(entry.key);
        }
      }
      if (order > 0 || (order === 0 && !missingCopy)) return false;
    }
    const before = entry === undefined ? undefined : { role: entry.role, primary: entry.primary };
    if (relay !== undefined && !relay.secondHand && before?.role === 'primary' && p.primary !== this.state.id) {
      // First-hand news that this member is primary no longer: a newer value from the new
      // primary, perhaps an update in place that only its holders heard of. This member had
      // told others it was primary (a promotion, a failover), so it tells them all that it is not.
      for (const m of this.state.members.ids()) if (m !== relay.from && m !== p.primary) push(relay.notices, m, p);
    }
    if (relay?.secondHand === true) {
      // Second-hand news (a state transfer, or a placement relayed by a member other than its
      // primary) may be all that is left of a write: its primary can die before telling anyone
      // else. Members that learn of it drop the key when its holders die; members that did not
      // would keep the older placement forever. So the news is passed on to the primary it
      // replaces here and, by that primary, to every member (the primary may be met before it is
      // a member here again: a join's replies come in any order).
      if (before !== undefined && before.primary !== p.primary) {
        const targets = before.role === 'primary' ? this.state.members.ids() : [before.primary];
        for (const m of targets) if (m !== relay.from && m !== p.primary && m !== this.state.id) push(relay.notices, m, p);
      }
      const live = (m: string): boolean => m === this.state.id || m === relay.from || this.state.members.has(m);
      if (![p.primary, ...p.backups].some(live)) {
        // Every holder named is already gone here. A placement of the value held here changes
        // nothing that matters: keep what is known. One of a newer write means the key is lost,
        // as if its holders had disappeared now (see Failover.rehome); no stale proxy is kept.
        if (entry === undefined || (entry.bytes !== undefined && entry.sameWrite(p.version))) return false;
        this.state.entries.delete(p.key);
        this.state.events.emit('entryRemoved', p.key, 'lost');
        return true;
      }
    }
    let role = this.state.roleFor(p.primary, p.backups);
    let held = bytes;
    if (held === undefined && entry?.bytes !== undefined && entry.sameWrite(p.version)) held = entry.bytes;
    if (role !== 'proxy' && held === undefined) {
      // Named as a holder of a write we do not have (we restarted under the same id): say so,
      // and stay a proxy rather than pretend to hold it.
      this.state.events.emit('error', new ProtocolError(`named holder of key ${String(p.key)} without its value; acting as proxy`, p.primary));
      role = 'proxy';
    }
    const changedValue = entry === undefined || !entry.sameWrite(p.version);
    // Shared ids and lists: a decoded message carries its own copies of them (see Interner).
    const version = this.state.interner.version(p.version);
    const primary = this.state.interner.id(p.primary);
    const backups = this.state.interner.list(p.backups);
    if (entry === undefined) {
      const key = this.state.interner.key(p.key);
      this.state.entries.set(key, new Entry(key, role, version, primary, backups, role === 'proxy' ? undefined : held));
    } else {
      entry.role = role;
      entry.version = version;
      entry.primary = primary;
      entry.backups = backups;
      // Second-hand news that makes this holder a proxy of the same value leaves it a spare copy:
      // the new holders may die before anyone else hears of them (a heal cut short by a crash),
      // and the value must not die with them (see Failover.rehome).
      entry.bytes = role === 'proxy' && relay?.secondHand !== true ? undefined : held;
      if (changedValue || role !== 'primary') entry.value = NOT_DECODED;
      // Before anyone hears of the change (entrySet): a listener reading the key gets the new value.
      if (deferred !== undefined && role !== 'proxy' && entry.heldBytes === bytes) entry.deferEncoding(deferred.value, deferred.encode, deferred.pending);
    }
    if (role === 'proxy' && this.vouched.delete(p.key) && relay !== undefined && !relay.secondHand) {
      // This member told others it holds the key (the placement of a handover it made, say) and
      // the primary's own placement now leaves it none: pass that on, or a member it told would
      // count on this copy and, once the primary dies, wait for a takeover that never comes.
      for (const m of this.state.members.ids()) if (m !== relay.from && m !== p.primary) push(relay.notices, m, p);
    }
    this.state.tombstones.delete(p.key);
    if (changedValue) this.state.events.emit('entrySet', p.key, origin);
    const adopted = this.state.entries.get(p.key);
    // From its own primary, a placement names a gone primary when it arrives after that member's
    // goodbye or its transport went down (a reordering network); a member not met yet is merely
    // not introduced yet, and neither is one met before that is up again (a heal, a restart): its
    // first writes may cross its start. Should it go down before it is met, failover comes then
    // (see Failover.vanished).
    const departed = relay !== undefined && (p.primary !== relay.from || (this.state.members.wasMet(p.primary) && this.state.members.departed(p.primary)));
    if (departed && adopted !== undefined && p.primary !== this.state.id && !this.state.members.has(p.primary)) this.failover.primaryGone(adopted);
    return true;
  }

  /** Adopts a delete unless a newer write is known here; remembers it as a tombstone. */
  applyRemoval(r: Removal, origin: 'local' | 'remote', relay?: Relay): void {
    this.state.clock.observe(r.version);
    const entry = this.state.entries.get(r.key);
    if (entry !== undefined && entry.compare(r.version) > 0) return;
    this.state.tombstones.add(this.state.interner.key(r.key), r.version);
    // From its author, a delete of a key whose primary is another member is passed on to that
    // primary too: the author told the members it knew when it deleted, and may be telling
    // this member only now, as it meets it again after a partition (its state, sent as deletes:
    // see StateTransfer.pushState); should it die before it reaches the primary, the primary
    // would keep the key that this member dropped. Deletes decided by the primary, as they are
    // without faults, cost nothing more.
    const authorNotPrimary = entry !== undefined && entry.role !== 'primary' && entry.primary !== r.version[1];
    if (entry !== undefined && relay !== undefined && (relay.secondHand || relay.from !== r.version[1] || authorNotPrimary)) {
      // A delete learned second-hand (a state transfer, even from its author, or passed on): its
      // author may have died before telling everyone, so pass it on as for placements (see
      // applyPlacement).
      const targets = entry.role === 'primary' ? this.state.members.ids() : [entry.primary];
      for (const m of targets) if (m !== relay.from && m !== r.version[1] && m !== this.state.id) push(relay.removals, m, r);
    }
    if (entry !== undefined) {
      this.vouched.delete(r.key);
      this.state.entries.delete(r.key);
      this.state.events.emit('entryRemoved', r.key, 'deleted');
    }
  }

  /**
   * Applies a diff from a primary to the copy held here, as a copy of the new write would be
   * stored. Throws (the primary then sends the whole value) rather than create an entry from a
   * diff alone.
   *
   * A backup does not encode the value again after each diff: it keeps the decoded value with
   * the diff applied, and the entry encodes it only when bytes are asked for (a promotion, a
   * fetch, a state transfer, a snapshot: see `Entry.deferEncoding`). The next diff applies to the
   * same decoded value, so a run of diffs costs one decode and no encode. When the diff also moves
   * the key (another primary, other backups, this member's role changes) or its primary is gone
   * here, the copy is encoded now, as before, so no other part of the map ever sees a deferred
   * copy it did not expect.
   * @throws {DiffBaseMissingError} when this member holds no copy of the diff's base.
   * @throws {DiffApplyError} when the copy is not a `DeltaValue` here, or its `applyDiff` threw.
   */
  applyDiff(message: EntryDiff, from: string): void {
    const { entry: p, base } = message;
    const relay = newRelay(from, false);
    const held = this.state.entries.get(p.key);
    const dead = this.state.tombstones.get(p.key);
    const order = held === undefined ? -1 : held.compare(p.version);
    if ((dead !== undefined && compareVersions(dead, p.version) >= 0) || order > 0 || (order === 0 && held?.holding === true)) {
      // Deleted since, overtaken by a newer write, or a duplicate: what applyPlacement does with a
      // copy of that version (nothing, or tell the primary) is what this diff deserves.
      this.applyPlacement(p, undefined, 'remote', relay);
      this.sendNotices(relay);
      return;
    }
    if (held?.holding !== true || !held.sameWrite(base)) {
      throw new DiffBaseMissingError(
        `member '${this.state.id}' holds ${held?.holding !== true ? 'no copy' : `version ${held.version.join('/')}`} of key ${String(p.key)}, not the diff's base ${base.join('/')}`,
        p.key,
      );
    }
    // Deferred only where applyPlacement keeps this member a holder of the same placement, with
    // a primary that is a member here (no failover runs inside it).
    const defer = held.role !== 'primary' && p.primary === held.primary && this.state.members.has(p.primary) && sameList(p.backups, held.backups) && this.state.roleFor(p.primary, p.backups) === held.role;
    const live = defer && held.deferred;
    let value: unknown;
    let bytes: Uint8Array | undefined;
    try {
      value = live ? held.value : this.state.codec.decode(held.bytes as Uint8Array);
      if (!isDeltaValue(value)) throw new TypeError('the copy held here does not decode to a DeltaValue: register its class with ValueCodec.register on every member');
      value.applyDiff(this.state.codec.decode(message.diff));
      if (!defer) bytes = this.state.codec.encode(value);
    } catch (error) {
      if (live) {
        // The decoded copy may be half changed, and its bytes are older than the base: this
        // member holds no usable copy now (the primary sends the whole value on this refusal).
        held.role = 'proxy';
        held.bytes = undefined;
        held.value = NOT_DECODED;
      }
      const e = new DiffApplyError(`cannot apply the diff of key ${String(p.key)} from '${from}': ${error instanceof Error ? error.message : String(error)}`, p.key, { cause: error });
      // A member that cannot apply diffs is misconfigured: say so here, where it can be fixed.
      this.state.events.emit('error', e);
      throw e;
    }
    if (defer) {
      const stale = held.heldBytes as Uint8Array;
      const pending = held.byteCount - stale.byteLength + message.diff.byteLength;
      const codec = this.state.codec;
      this.applyPlacement(p, stale, 'remote', relay, { value, encode: (v) => codec.encode(v), pending });
    } else {
      this.applyPlacement(p, bytes, 'remote', relay);
    }
    copyReceived(this.state.entries.get(p.key), p.version, this.state.now());
    this.sendNotices(relay);
  }

  /** Adopts a state transfer (a join's or heal's `MSG_STATE`): deletes first, then placements. */
  mergeState(placements: readonly Placement[], tombstones: readonly Removal[], from: string): void {
    // A state transfer is second-hand even from the primary: it reaches only the one who asked.
    const relay = newRelay(from, true);
    for (const r of tombstones) this.applyRemoval(r, 'remote', relay);
    for (const p of placements) this.applyPlacement(p, undefined, 'remote', relay);
    this.sendNotices(relay);
  }

  /** Passes on second-hand placements (see applyPlacement), one message per member. */
  sendNotices(relay: Relay): void {
    // Deletes first: a placement passed on with them may be older than one of them.
    for (const [member, removals] of relay.removals) {
      void this.messenger.sendRemovals([member], removals, 'none');
    }
    for (const [member, placements] of relay.notices) {
      void this.messenger.sendPlacements(member, placements, 'none');
    }
  }
}
