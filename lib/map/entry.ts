/**
 * One key as a member knows it.
 *
 * @module
 */
import type { MapKey, Placement } from '../codec/map-messages.js';
import { compareIds, updateOf, updaterOf, version as makeVersion, type Version } from './version.js';

/**
 * What this member holds of a key.
 * - `primary`: owns it and holds the value; reads are local.
 * - `backup`: holds a full copy for failover.
 * - `copy`: holds a full copy in a `ReplicatedMap` (reads are local too).
 * - `proxy`: knows only where the value lives.
 */
export type EntryRole = 'primary' | 'backup' | 'copy' | 'proxy';

/** Where a key lives, as `map.entryInfo(key)` reports it. */
export interface EntryInfo {
  /** This member's role for the key. */
  readonly role: EntryRole;
  /** The member that owns the key. */
  readonly primary: string;
  /** The members holding copies besides the primary. */
  readonly backups: readonly string[];
}

/** Placeholder for "not decoded yet": a value may legitimately be `undefined`. */
export const NOT_DECODED: unique symbol = Symbol('not decoded');

/** What only a holder (or a proxy that fetched the value) keeps; see {@link Entry}. */
class HolderState {
  role: EntryRole = 'proxy';
  bytes: Uint8Array | undefined = undefined;
  value: unknown = NOT_DECODED;
  lastAccess: number | undefined = undefined;
  /** See {@link Entry.expiresAt}. */
  expiresAt: number | undefined = undefined;
  /** See {@link Entry.maxIdleMs}. */
  maxIdleMs: number | undefined = undefined;
  /** See {@link Entry.accessSent}. */
  accessSent: number | undefined = undefined;
  /** See {@link Entry.lastUse}. */
  lastUse = 0;
  /** See {@link Entry.slot}. */
  slot = -1;
  /**
   * Set while `value` is newer than `bytes` (a backup applied diffs to its decoded copy, or a
   * primary replicated diffs, see {@link Entry.deferEncoding}): encodes it when bytes are asked for.
   */
  encode: ((value: unknown) => Uint8Array) | undefined = undefined;
  /** The diff bytes applied to `value` since `bytes` were encoded (counted as held until then). */
  pending = 0;
}

/** Told of every change of role or bytes of an entry in a map's table (see capacity.ts). */
export interface EntryLedger {
  /** `entry` was `role` with `bytes` bytes of value, and is now as it is. */
  changed(entry: Entry, role: EntryRole, bytes: number): void;
  /** `entry` is about to stop being primary here. */
  demoting(entry: Entry): void;
  /**
   * `entry`'s bytes, counted as `bytes` long, were encoded again from its value (see
   * {@link Entry.deferEncoding}): counts the new length, and evicts nothing now (this happens
   * wherever bytes are read; the next write evicts if the member is over a limit).
   */
  resized(entry: Entry, bytes: number): void;
}

/**
 * A member's record of one key. Holders keep the encoded `bytes` (as they travel); only a primary
 * that was read keeps the decoded `value` too, so backups cost their bytes and nothing more;
 * except a holder applying a run of diffs, which keeps the decoded value they change (and its
 * older bytes) until bytes are asked for (see {@link Entry.deferEncoding}).
 *
 * Most entries of a large map are proxies, so a proxy is kept small: its version is six fields
 * rather than a tuple object, and the role, bytes, value and last access live in a separate
 * object that a plain proxy does not have. The accessors below hide both.
 */
export class Entry {
  readonly key: MapKey;
  /** The parts of {@link version}. */
  private writeClock: number;
  private writer: string;
  private placeSeq: number;
  private placer: string;
  private update: number;
  private updater: string;
  primary: string;
  backups: readonly string[];
  private held: HolderState | undefined;
  /**
   * The accounting of the table this entry is in (set by the table; `undefined` outside one), so
   * that what a member holds is counted at each change rather than by a scan.
   */
  ledger: EntryLedger | undefined;

  constructor(key: MapKey, role: EntryRole, version: Version, primary: string, backups: readonly string[], bytes?: Uint8Array) {
    this.key = key;
    this.writeClock = version[0];
    this.writer = version[1];
    this.placeSeq = version[2];
    this.placer = version[3];
    this.update = updateOf(version);
    this.updater = updaterOf(version);
    this.primary = primary;
    this.backups = backups;
    this.held = undefined;
    this.ledger = undefined;
    this.role = role;
    this.bytes = bytes;
  }

  /** This member's role for the key. */
  get role(): EntryRole {
    return this.held?.role ?? 'proxy';
  }

  set role(role: EntryRole) {
    // A primary's bytes are its value as last written or replicated: a copy whose encoding was
    // deferred is encoded before it becomes one (it then decodes the value when first read). A
    // primary that stops being one while its bytes wait for its replay log (replay-log.ts) gets
    // them now too: its value is the caller's live object, which a holder's next diff must not
    // be applied to (a deferred holder applies diffs to its value), nor kept as its value: a read
    // here would serve changes never replicated.
    if (this.held?.encode !== undefined && (role === 'primary' || this.held.role === 'primary')) {
      this.encodeNow(this.held, this.held.encode);
      if (role !== 'primary') this.held.value = NOT_DECODED;
    }
    const ledger = this.ledger;
    const before = this.role;
    if (ledger === undefined || before === role) {
      this.setRole(role);
      return;
    }
    const length = this.byteCount;
    // While the holder state (and its slot) still exists: a demoted entry may release it.
    if (before === 'primary') ledger.demoting(this);
    this.setRole(role);
    ledger.changed(this, before, length);
  }

  private setRole(role: EntryRole): void {
    if (this.held !== undefined) {
      this.held.role = role;
      this.release();
    } else if (role !== 'proxy') this.hold().role = role;
  }

  /** The version of the state known here (a new tuple on every read: compare with {@link compare}). */
  get version(): Version {
    return makeVersion(this.writeClock, this.writer, this.placeSeq, this.placer, this.update, this.updater);
  }

  set version(v: Version) {
    this.writeClock = v[0];
    this.writer = v[1];
    this.placeSeq = v[2];
    this.placer = v[3];
    this.update = updateOf(v);
    this.updater = updaterOf(v);
  }

  /**
   * The encoded value; `undefined` on a proxy. On a holder whose value changed by diffs since it
   * was last encoded (see {@link deferEncoding}), the value is encoded now.
   * @throws {Error} whatever the codec throws for a value that a diff made unencodable.
   */
  get bytes(): Uint8Array | undefined {
    const h = this.held;
    if (h?.encode !== undefined) this.encodeNow(h, h.encode);
    return h?.bytes;
  }

  set bytes(bytes: Uint8Array | undefined) {
    const ledger = this.ledger;
    const before = this.held?.bytes;
    const counted = this.byteCount;
    const deferred = this.held?.encode !== undefined;
    this.setBytes(bytes);
    if (ledger !== undefined && (before !== bytes || deferred)) ledger.changed(this, this.role, counted);
  }

  private setBytes(bytes: Uint8Array | undefined): void {
    if (this.held !== undefined) {
      this.held.bytes = bytes;
      this.held.encode = undefined;
      this.held.pending = 0;
      this.release();
    } else if (bytes !== undefined) this.hold().bytes = bytes;
  }

  /** Whether this member holds the value (its bytes, or a value whose encoding is deferred), without encoding anything. */
  get holding(): boolean {
    return this.held?.bytes !== undefined;
  }

  /**
   * The bytes counted for this entry (capacity.ts) without encoding anything: the length of its
   * bytes, plus the diffs applied since when its encoding is deferred (an estimate of the new
   * length until it is encoded again).
   */
  get byteCount(): number {
    const h = this.held;
    return h === undefined ? 0 : (h.bytes?.byteLength ?? 0) + h.pending;
  }

  /** The bytes as held, without encoding a deferred value (they are then older than {@link value}). */
  get heldBytes(): Uint8Array | undefined {
    return this.held?.bytes;
  }

  /** Whether {@link value} is newer than the bytes held, to be encoded when bytes are asked for. */
  get deferred(): boolean {
    return this.held?.encode !== undefined;
  }

  /** Whether the encoding of the value is deferred to `encode` (see {@link deferEncoding}). */
  deferredTo(encode: (value: unknown) => Uint8Array): boolean {
    return this.held?.encode === encode;
  }

  /**
   * A holder applied a diff of `diffBytes` bytes to `value`, its decoded copy (the bytes held are
   * those of an older version): keeps `value` and encodes it with `encode` only when bytes are
   * asked for (promotion, a fetch, a state transfer, a snapshot), not after every diff. The diff's
   * length is counted as held until then.
   *
   * A primary defers likewise after a `replicate` that sent a diff: `value` is then its live value,
   * and `encode` ignores it and rebuilds the bytes of the version replicated from the older bytes
   * and the diffs since (see replay-log.ts), since callers may have changed the live value since.
   */
  deferEncoding(value: unknown, encode: (value: unknown) => Uint8Array, diffBytes: number): void {
    const h = this.held;
    if (h?.bytes === undefined) throw new Error(`deferEncoding: key ${String(this.key)} holds no bytes`);
    const counted = this.byteCount;
    h.value = value;
    h.encode = encode;
    h.pending += diffBytes;
    this.ledger?.changed(this, this.role, counted);
  }

  private encodeNow(h: HolderState, encode: (value: unknown) => Uint8Array): void {
    const counted = this.byteCount;
    h.bytes = encode(h.value);
    h.encode = undefined;
    h.pending = 0;
    // Once encoded, a backup's memory is its bytes again (only an owner keeps the decoded value).
    if (h.role !== 'primary') h.value = NOT_DECODED;
    this.ledger?.resized(this, counted);
  }

  /** The decoded value, or {@link NOT_DECODED}. */
  get value(): unknown {
    return this.held === undefined ? NOT_DECODED : this.held.value;
  }

  /** Replacing a value whose encoding was deferred encodes it first: the bytes then hold it. */
  set value(value: unknown) {
    const h = this.held;
    if (h?.encode !== undefined && value !== h.value) this.encodeNow(h, h.encode);
    if (h !== undefined) h.value = value;
    else if (value !== NOT_DECODED) this.hold().value = value;
  }

  /**
   * When this member last saw the entry used, by the map's clock: written or replicated here, or a
   * copy, diff or access notice received from its primary. On a proxy, as the holder that answered
   * its last fetch reported it. `undefined` when not known. Expiry (sessions) is built on it.
   */
  get lastAccess(): number | undefined {
    return this.held?.lastAccess;
  }

  set lastAccess(at: number | undefined) {
    if (this.held !== undefined) this.held.lastAccess = at;
    else if (at !== undefined) this.hold().lastAccess = at;
  }

  /** When the entry's time to live runs out, by this member's clock; `undefined` when it has none. */
  get expiresAt(): number | undefined {
    return this.held?.expiresAt;
  }

  set expiresAt(at: number | undefined) {
    if (this.held !== undefined) this.held.expiresAt = at;
    else if (at !== undefined) this.hold().expiresAt = at;
  }

  /** The entry's idle limit in milliseconds; `undefined` when it has none. */
  get maxIdleMs(): number | undefined {
    return this.held?.maxIdleMs;
  }

  set maxIdleMs(ms: number | undefined) {
    if (this.held !== undefined) this.held.maxIdleMs = ms;
    else if (ms !== undefined) this.hold().maxIdleMs = ms;
  }

  /** On a primary: when its backups last heard that the entry was used (see expiry.ts). */
  get accessSent(): number | undefined {
    return this.held?.accessSent;
  }

  set accessSent(at: number | undefined) {
    if (this.held !== undefined) this.held.accessSent = at;
    else if (at !== undefined) this.hold().accessSent = at;
  }

  /**
   * When this member last used the entry, by its map's logical clock of uses (see capacity.ts):
   * 0 when never. Only holders keep it.
   */
  get lastUse(): number {
    return this.held?.lastUse ?? 0;
  }

  set lastUse(tick: number) {
    if (this.held !== undefined) this.held.lastUse = tick;
  }

  /** Index among its map's eviction candidates; -1 when it is not one. */
  get slot(): number {
    return this.held?.slot ?? -1;
  }

  set slot(i: number) {
    if (this.held !== undefined) this.held.slot = i;
  }

  /** Negative, zero or positive as this entry's version is older than, the same as, or newer than `v`. */
  compare(v: Version): number {
    return (
      this.writeClock - v[0] ||
      compareIds(this.writer, v[1]) ||
      this.update - updateOf(v) ||
      compareIds(this.updater, updaterOf(v)) ||
      this.placeSeq - v[2] ||
      compareIds(this.placer, v[3])
    );
  }

  /** True when this entry holds the same value as `v` (write and update), whatever its placement. */
  sameWrite(v: Version): boolean {
    return this.writeClock === v[0] && this.writer === v[1] && this.update === updateOf(v) && this.updater === updaterOf(v);
  }

  /** True when `v` descends from the same placing write as this entry (see {@link sameLineage}). */
  sameLineage(v: Version): boolean {
    return this.writeClock === v[0] && this.writer === v[1];
  }

  /** The members that hold the value, primary first. */
  holders(): string[] {
    return [this.primary, ...this.backups];
  }

  /** This entry's placement, as sent in `MSG_PROXY`. */
  placement(): Placement {
    return { key: this.key, version: this.version, primary: this.primary, backups: this.backups };
  }

  private hold(): HolderState {
    this.held = new HolderState();
    return this.held;
  }

  /** Drops the holder state of an entry that became a plain proxy again. */
  private release(): void {
    const h = this.held;
    if (h !== undefined && h.role === 'proxy' && h.bytes === undefined && h.value === NOT_DECODED && h.lastAccess === undefined) this.held = undefined;
  }
}

/**
 * The entries a member knows, by key, as a collaborator sees them: the map's entry table
 * (`MapContext.entries`, which counts what each holds) behind the few methods collaborators call.
 * Each declares the ones it uses (`Pick<EntryStore, 'get' | 'values'>`), so a spec can hand it
 * a plain `Map`.
 */
export interface EntryStore {
  /** The entry of `key`, if known here. */
  get(key: MapKey): Entry | undefined;
  /** Whether `key` is known here. */
  has(key: MapKey): boolean;
  /** Records `entry` under `key` (the table counts what it holds). */
  set(key: MapKey, entry: Entry): unknown;
  /** Forgets `key`; true when it was known. */
  delete(key: MapKey): boolean;
  /** Every entry known here, in insertion order. */
  values(): IterableIterator<Entry>;
  /** Every key known here, in insertion order. */
  keys(): IterableIterator<MapKey>;
}
