/**
 * Reconciliation: what a member does with the placements, copies, diffs and deletes its peers
 * send. Of two versions of a key the higher one wins, a delete newer than a write keeps the key
 * dead, and news learned second-hand is passed on so that no member keeps a stale placement (the
 * rules for passing news on, which settle a heal, are in heal.ts).
 *
 * @module
 */
import { DiffApplyError, DiffBaseMissingError, ProtocolError } from '../errors.js';
import type { EntryCopy, EntryDiff, Placement, Removal } from '../codec/map-messages.js';
import { isDeltaValue } from './delta-value.js';
import type { ValueCodec } from '../codec/value-codec.js';
import type { Membership } from '../membership/membership.js';
import { Entry, NOT_DECODED, type EntryRole, type EntryStore } from './entry.js';
import type { Failover } from './failover.js';
import { newRelay, type Heal, type Relay } from './heal.js';
import type { Interner } from './interner.js';
import type { MapEmitter } from './map-context.js';
import { adoptExpiry, copyReceived } from './expiry.js';
import type { Tombstones } from './tombstones.js';
import { compareVersions, type LamportClock } from './version.js';

/** What reconciliation reads and writes of the map (the map's `MapContext` is one). */
export interface ReconciliationState {
  /** This member's id. */
  readonly id: string;
  /** The entries known here: what peers say is adopted into them. */
  readonly entries: Pick<EntryStore, 'get' | 'set' | 'delete'>;
  /** Deletes remembered: a delete is added, a newer write removes it. */
  readonly tombstones: Pick<Tombstones, 'get' | 'add' | 'delete'>;
  /** The version clock, told of every version heard of. */
  readonly clock: Pick<LamportClock, 'observe'>;
  /** Shares the ids, keys and lists of the entries adopted. */
  readonly interner: Pick<Interner, 'id' | 'key' | 'list' | 'version'>;
  /** Decodes a copy to apply a diff to it, and encodes the result. */
  readonly codec: Pick<ValueCodec, 'encode' | 'decode'>;
  /** Who is a member here, who was met, who said goodbye. */
  readonly members: Pick<Membership, 'has' | 'wasMet' | 'departed'>;
  /** Where `entrySet`, `entryRemoved` and errors go. */
  readonly events: MapEmitter;
  /** The wall clock of entries' last use, in milliseconds. */
  now(): number;
  /** This member's role in a placement. */
  roleFor(primary: string, backups: readonly string[]): EntryRole;
}

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

/** What reconciliation asks of its siblings. */
export interface ReconcilerParts {
  /** Takes over an entry whose primary turns out to be gone. */
  readonly failover: Pick<Failover, 'primaryGone'>;
  /** Passes on what was learned second-hand, late, or of a losing claim (see heal.ts). */
  readonly heal: Pick<Heal, 'deletedSince' | 'olderClaim' | 'firstHand' | 'secondHand' | 'proxied' | 'deleted' | 'sendNotices'>;
}

/** Applies what peers say to the entries held here, by version. */
export class Reconciler {
  private readonly state: ReconciliationState;
  private readonly failover: ReconcilerParts['failover'];
  private readonly heal: ReconcilerParts['heal'];

  /**
   * @param state see {@link ReconciliationState}.
   * @param parts see {@link ReconcilerParts}.
   */
  constructor(state: ReconciliationState, parts: ReconcilerParts) {
    this.state = state;
    this.failover = parts.failover;
    this.heal = parts.heal;
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
      if (relay !== undefined) this.heal.deletedSince(p, dead, relay);
      return false;
    }
    const entry = this.state.entries.get(p.key);
    if (entry !== undefined) {
      const order = entry.compare(p.version);
      // The same placement may come twice: first without the value (a state snapshot or proxy
      // message that overtook the copy, which made this member a mere proxy), then with it. The
      // copy must still be taken, or the primary counts on a backup that holds nothing.
      const missingCopy = order === 0 && entry.bytes === undefined && bytes !== undefined && this.state.roleFor(p.primary, p.backups) !== 'proxy';
      if (order > 0 && relay !== undefined && entry.primary !== p.primary) this.heal.olderClaim(entry, p, relay);
      if (order === 0 && !missingCopy && relay !== undefined && !relay.secondHand && relay.from === p.primary) this.dropSpare(entry, p, relay);
      if (order > 0 || (order === 0 && !missingCopy)) return false;
    }
    const before = entry === undefined ? undefined : { role: entry.role, primary: entry.primary, version: entry.version };
    if (relay !== undefined && !relay.secondHand) this.heal.firstHand(before, p, relay);
    if (relay?.secondHand === true) {
      const verdict = this.heal.secondHand(entry, before, p, relay);
      if (verdict !== 'adopt') return verdict === 'lost';
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
      // and the value must not die with them (see Failover.rehome). The primary's announcement
      // of the placement, once it comes, drops the spare (see dropSpare).
      entry.bytes = role === 'proxy' && relay?.secondHand !== true ? undefined : held;
      if (changedValue || role !== 'primary') entry.value = NOT_DECODED;
      // Before anyone hears of the change (entrySet): a listener reading the key gets the new value.
      if (deferred !== undefined && role !== 'proxy' && entry.heldBytes === bytes) entry.deferEncoding(deferred.value, deferred.encode, deferred.pending);
    }
    if (role === 'proxy') this.heal.proxied(p, relay, this.state.entries.get(p.key)?.bytes !== undefined);
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
    if (entry !== undefined) {
      this.heal.deleted(entry, r, relay);
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

  /**
   * The primary announces the placement this member already knew second-hand, and which left it
   * a proxy keeping a spare copy (see applyPlacement): the spare is dropped. It would not stay
   * current: the primary's updates in place reach only the holders it names, and a spare kept
   * would be re-homed, once those holders die, with a value older than one they served (found by
   * the lossy model property). With acknowledgements (`ack: 'backups'`), an update in place
   * resolves only once the placement it updates was announced to every member the primary knows
   * (each answered, left, or timed out: Publisher.distribute), so a member it knows keeps no spare
   * of it by then; with `ack: 'none'` nothing is waited for.
   *
   * First-hand placements reach every member the primary knows: a publication's announcement
   * (sent once the backups hold the value), or a placement the primary sends every member of its
   * own (Heal.olderClaim, a re-announcement). Each member then names the same holders and loses
   * the key alike should they all die. A state transfer's page (`MSG_STATE`), even the primary's,
   * reaches only the member that asked and leaves the spare: dropping a copy on a newer placement
   * learned that way split the survivors of a heal cut short (spec/map/partition.spec.ts, "agrees
   * on a key whose delete dies with its author", seed 8), and the same placement learned that way
   * is left alone too. A state pushed as placements (StateTransfer.pushState) reads as the
   * primary's word, as it always did for a newer placement.
   */
  private dropSpare(entry: Entry, p: Placement, relay: Relay): void {
    if (entry.role !== 'proxy' || entry.bytes === undefined) return;
    entry.bytes = undefined;
    entry.value = NOT_DECODED;
    // Members this one told it holds the key (see Heal.olderClaim) must now hear that it does not.
    this.heal.proxied(p, relay);
  }

  /** Passes on what applying a message taught (see heal.ts), one message per member. */
  private sendNotices(relay: Relay): void {
    this.heal.sendNotices(relay);
  }
}
