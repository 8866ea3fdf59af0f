/**
 * The write path: what `set`, `replicate` and `touch` do on this member, on top of the publisher.
 * A `set` is written here when this member is the key's primary (or decides for a key nobody
 * knows); elsewhere the primary hands the role over first (ConditionalWrites.take), so that every
 * write of a key is ordered by the one member that holds it. The conditional writes decided here
 * write through {@link WritePath.writeHere} too. See docs/consistency.md.
 *
 * @module
 */
import { ConditionalWriteError } from '../errors.js';
import type { MapKey } from '../codec/map-messages.js';
import { MSG_ACCESS } from '../codec/message-types.js';
import { assertFrameFits } from '../rpc/frame-limit.js';
import type { CallOrder } from './call-order.js';
import type { ConditionalWrites, Taken } from './conditional-writes.js';
import { diffsBoundGrowth, isDeltaValue, type DeltaValue } from './delta-value.js';
import { ReplayLog } from './replay-log.js';
import { Entry, NOT_DECODED, type EntryStore } from './entry.js';
import { alive, stampWrite, type Expiry, type ExpiryOptions } from './expiry.js';
import { mapChannelName } from './map-channel.js';
import type { Capacity } from './capacity.js';
import type { Membership } from '../membership/membership.js';
import type { Placer } from './placer.js';
import type { MapContext } from './map-context.js';
import type { SetOptions } from './map-options.js';
import { copyFrameBound, diffFrameBound } from './message-size.js';
import type { Messenger } from './messenger.js';
import type { DiffPlan, Publisher } from './publisher.js';
import type { ReadPath } from './read-path.js';

/** The slice of the map's state the write path uses. */
export type WritePathState = Pick<
  MapContext,
  'id' | 'name' | 'flavour' | 'codec' | 'interner' | 'clock' | 'tombstones' | 'now' | 'decoded' | 'events' | 'frameLimit' | 'idsBound'
> & {
  /** The entries it reads and writes (the entry table's methods, not the table). */
  readonly entries: EntryStore;
  /** Makes room before a write and is told what each entry now holds. */
  readonly capacity: Pick<Capacity, 'beforeWrite' | 'used'>;
  /** Whether the key's primary is still a member. */
  readonly members: Pick<Membership, 'has'>;
  /** Chooses the backups of a new entry, and records a change in place. */
  readonly placer: Pick<Placer, 'backups' | 'update'>;
};

/** What the write path asks of its siblings, one or a few methods each. */
export interface WritePathParts {
  /** Publishes a write, a change in place or a use to the entry's holders. */
  readonly publisher: Pick<Publisher, 'published' | 'publishWrite' | 'publish' | 'access' | 'underWay'>;
  /** Whether this member decides for a key, and asks its primary to hand the role over. */
  readonly conditional: Pick<ConditionalWrites, 'decidesHere' | 'agreeing' | 'take' | 'created'>;
  /** A use of an expiring entry owned here. */
  readonly expiry: Pick<Expiry, 'used'>;
  /** Asks a key's primary to count a use (a `touch` elsewhere). */
  readonly messenger: Pick<Messenger, 'request'>;
  /** Registers the answers a `touch` awaits, so that later writes of the key wait for them. */
  readonly order: Pick<CallOrder, 'fetching' | 'decidingElsewhere'>;
  /** Waits, for a key unknown here, until a delete of it made here reached every member. */
  readonly reads: Pick<ReadPath, 'removedEverywhere'>;
}

/** What the write path needs of the map itself. */
export interface WritePathHost {
  /** @throws {StoppedError} once `stop()` began. */
  assertUsable(): void;
}

/** Writes values on this member as their primary, and pushes changes made in place. */
export class WritePath {
  private readonly ctx: WritePathState;
  /** The siblings it calls, a few methods each. */
  private readonly parts: WritePathParts;
  private readonly host: WritePathHost;
  /** The map-wide expiry of writes that name none. */
  private readonly defaults: ExpiryOptions;
  /** The replay log of each entry whose whole value is encoded only when asked (see {@link push}). */
  private readonly logs = new WeakMap<Entry, ReplayLog>();

  /**
   * @param state see {@link WritePathState}.
   * @param parts see {@link WritePathParts}.
   * @param host see {@link WritePathHost}.
   * @param defaults the map's `ttlMs` and `maxIdleMs`, for a write that names none.
   */
  constructor(state: WritePathState, parts: WritePathParts, host: WritePathHost, defaults: ExpiryOptions) {
    this.ctx = state;
    this.parts = parts;
    this.host = host;
    this.defaults = defaults;
  }

  /**
   * A `set`: written here when this member is the key's primary, or decides for a key nobody
   * knows; otherwise the primary hands the role over first (see ConditionalWrites.take), so
   * that every write of a key is ordered by the one member that holds it.
   */
  async store(key: MapKey, value: unknown, bytes: Uint8Array, options: SetOptions): Promise<void> {
    // stop() may have begun while the call waited for its turn: a primary created now would be
    // published after this member's MSG_STOP, and its backups would keep a copy whose primary is
    // gone and which nobody re-homes.
    this.host.assertUsable();
    // Before anything changes or is sent: a full member refuses (or makes room for) a new key.
    this.ctx.capacity.beforeWrite(key, this.ctx.entries.get(key), bytes.byteLength);
    // A key no member knows is written here at once only while the members agree that this
    // member decides for it (see decider-view.ts); otherwise take() waits for that, or asks.
    if (this.ctx.flavour.readsCopies || (this.parts.conditional.decidesHere(key) && this.parts.conditional.agreeing(key) === undefined)) return this.writeHere(key, value, bytes, options);
    // Registered whole, the write here that may follow the take included: a later call of the key
    // made on this member (a clear, a delete) waits until the write took effect.
    await this.parts.order.decidingElsewhere(key, this.placeElsewhere(key, value, bytes, options));
  }

  /** A `set` of a key whose primary is another member, or unknown here: see {@link store}. */
  private async placeElsewhere(key: MapKey, value: unknown, bytes: Uint8Array, options: SetOptions): Promise<void> {
    let taken: Taken | 'none' | 'here';
    try {
      taken = await this.parts.conditional.take(key, { value, bytes, options });
    } catch (error) {
      if (!(error instanceof ConditionalWriteError)) throw error;
      // A member that is leaving writes nothing more (see writeHere).
      this.host.assertUsable();
      // The key's primary is gone, leaving, unreachable or cannot be found (a fault, or members
      // disagreeing during a change): a write is not refused for that. It places the key here
      // anew, past every version this member has seen, as a failover would; of two such writes
      // the higher version wins everywhere (docs/consistency.md, "Under faults").
      return this.writeHere(key, value, bytes, options);
    }
    if (taken === 'here') return this.writeHere(key, value, bytes, options);
  }

  /** Writes as the key's primary (or the member that decides for a key nobody knows). */
  async writeHere(key: MapKey, value: unknown, bytes: Uint8Array, options: SetOptions): Promise<void> {
    this.host.assertUsable();
    let entry = this.ctx.entries.get(key);
    this.ctx.capacity.beforeWrite(key, entry, bytes.byteLength);
    entry = this.ctx.entries.get(key);
    let created = false;
    if (entry?.role === 'primary') {
      // An update in place: the key stays where it lives, its live backups keep their places (the
      // missing ones are refilled), and only the holders hear of it. The version keeps its tick
      // (see Version), so any member's next write or delete still outranks it.
      this.ctx.placer.update(entry);
    } else {
      // The key is placed here anew: a Lamport tick, past everything this member has seen of it.
      const version = this.ctx.clock.tick(this.ctx.id);
      this.ctx.tombstones.delete(key);
      created = entry === undefined;
      if (entry === undefined) {
        entry = new Entry(key, 'primary', version, this.ctx.id, [], bytes);
        this.ctx.entries.set(key, entry);
      }
      entry.role = 'primary';
      entry.primary = this.ctx.id;
      entry.version = version;
      entry.backups = this.ctx.placer.backups([]);
    }
    entry.bytes = bytes;
    entry.value = value;
    this.ctx.capacity.used(entry);
    stampWrite(entry, { ttlMs: options.ttlMs ?? this.defaults.ttlMs, maxIdleMs: options.maxIdleMs ?? this.defaults.maxIdleMs }, this.ctx.now());
    this.ctx.events.emit('entrySet', key, 'local');
    const published = created ? this.parts.conditional.created(key, entry.version) : undefined;
    try {
      // Awaited here (not handed on): the caller's stack stays in a ReplicationError's.
      await this.parts.publisher.published(entry, this.parts.publisher.publishWrite(entry));
    } finally {
      published?.();
    }
  }

  /**
   * A `replicate` (see the map's `replicate`): pushes the changes made in place to `key`'s value
   * to its holders, as a diff, an access notice or the whole value. Nothing on a member that is
   * not the key's primary.
   */
  async push(key: MapKey, complete: boolean): Promise<void> {
    this.host.assertUsable(); // as in set(): no publication may start after stop() began
    const entry = this.ctx.entries.get(key);
    if (entry?.role !== 'primary') return;
    // The work before the messages is synchronous, and done in its own function: this one is
    // suspended until the holders answer, and keeps only what it needs meanwhile.
    const plan = this.updateInPlace(entry, complete);
    if (plan === ACCESS) {
      await this.parts.publisher.access(entry);
      return;
    }
    await this.parts.publisher.published(entry, this.parts.publisher.publish([entry], plan, 'each'));
  }

  /**
   * The changes of a `replicate` made to `entry` here, as a primary: {@link ACCESS} when its
   * `DeltaValue` records no change (an access notice goes, nothing is written); otherwise the
   * entry is updated in place, and the answer is its diff for the holders of its base, or
   * `undefined` when the whole value goes.
   */
  private updateInPlace(entry: Entry, complete: boolean): ReadonlyMap<Entry, DiffPlan> | typeof ACCESS | undefined {
    const value = this.ctx.decoded(entry);
    const delta = isDeltaValue(value) ? value : undefined;
    if (delta !== undefined && !complete && !delta.isDirty()) {
      entry.lastAccess = this.ctx.now();
      entry.accessSent = entry.lastAccess;
      return ACCESS;
    }
    // Encode before changing anything: a value that cannot be encoded leaves the entry as it was.
    const diff = delta !== undefined && !complete ? this.ctx.codec.encode(delta.getDiff()) : undefined;
    // The whole value too, for a holder without the base; logged instead where its length is
    // bounded by the diffs (see replay-log.ts), and encoded only when asked.
    const log = diff !== undefined && delta !== undefined ? this.logFor(entry, delta, diff) : undefined;
    let bytes: Uint8Array | undefined;
    if (log === undefined) {
      bytes = this.ctx.codec.encode(value);
      this.assertFits(entry.key, bytes.byteLength, diff?.byteLength, value);
    }
    delta?.resetDiff();
    const base = entry.version;
    if (log !== undefined && diff !== undefined) {
      log.add(diff);
      entry.deferEncoding(value, log.rebuild, diff.byteLength);
    } else {
      entry.bytes = bytes;
    }
    // An update in place (see set): the holders hear of it, the proxies need not. Backups that
    // are gone are dropped here; none is chosen in their place.
    const { members } = this.ctx;
    const live = entry.backups.every((b) => members.has(b)) ? entry.backups : this.ctx.interner.list(entry.backups.filter((b) => members.has(b)));
    this.ctx.placer.update(entry, live);
    // A use, and the copies or diffs tell the backups so. Its time to live runs on: a change in
    // place is not a new write of the entry.
    entry.lastAccess = this.ctx.now();
    entry.accessSent = entry.lastAccess;
    this.ctx.capacity.used(entry);
    return diff === undefined ? undefined : new Map([[entry, { base, bytes: diff, holders: entry.backups }]]);
  }

  /**
   * A `touch` (see the map's `touch`): a use of `key` for its idle limit, counted here on the
   * primary, asked of the primary elsewhere. Resolves to whether the key was known and not expired.
   */
  async use(key: MapKey): Promise<boolean> {
    const entry = this.ctx.entries.get(key);
    if (entry === undefined) {
      await this.parts.reads.removedEverywhere(key);
      return false;
    }
    if (entry.role === 'primary') {
      if (!alive(entry, this.ctx.now())) return false;
      this.ctx.capacity.used(entry);
      this.parts.expiry.used(entry);
      // As a read here: a write still being published is not yet known elsewhere, and a touch
      // that answers true tells the caller it is there (see ReadPath.read).
      const publishing = this.parts.publisher.underWay(entry);
      if (publishing !== undefined) await this.parts.order.fetching(key, publishing);
      return true;
    }
    // Answered by the primary: a write of the key made here after this touch waits for it.
    const replies = await this.parts.order.fetching(key, this.parts.messenger.request({ type: MSG_ACCESS, keys: [key] }, [entry.primary], 'all'));
    return replies.some((r) => 'reply' in r);
  }

  /**
   * The replay log `diff` may join instead of encoding `entry`'s whole value now (see
   * replay-log.ts), or `undefined` to encode it now: a value whose diffs do not bound its length,
   * a log that is full (the value is encoded again, and a new log starts from those bytes), or a
   * bound that the frame limit does not clearly admit (the exact length is checked instead).
   */
  private logFor(entry: Entry, delta: DeltaValue, diff: Uint8Array): ReplayLog | undefined {
    const base = entry.heldBytes;
    if (base === undefined || !diffsBoundGrowth(delta)) return undefined;
    let log = this.logs.get(entry);
    // A log holds while the entry still defers to it, or defers to nothing yet and holds its base.
    if (log === undefined || log.base !== base || !(entry.deferred ? entry.deferredTo(log.rebuild) : log.empty)) {
      if (entry.deferred) return undefined;
      log = new ReplayLog(base, this.ctx.codec);
      this.logs.set(entry, log);
    }
    if (!log.admits(diff) || !this.fits(entry.key, entry.byteCount + diff.byteLength, diff.byteLength)) {
      this.logs.delete(entry);
      return undefined;
    }
    return log;
  }

  /** Whether a copy of `key` with a value of `valueBytes` and its diff of `diffBytes` fit the frame limit (see {@link assertFits}). */
  private fits(key: MapKey, valueBytes: number, diffBytes: number): boolean {
    const bounds = this.frameBounds(key, valueBytes, diffBytes);
    return bounds === undefined || (bounds.copy <= bounds.limit && (bounds.diff ?? 0) <= bounds.limit);
  }

  /**
   * @throws {ValueTooLargeError} when a copy of `key` with a value of `valueBytes` (or a diff of
   *   `diffBytes`) may exceed the cluster's frame limit. The size is an upper bound of the frame
   *   (see message-size.ts): a value within a few hundred bytes of the limit is refused too.
   *
   * When `value` is the very object the entry held here (changed in place, then written or
   * replicated), the map lets go of it: it serves the value as last written, which its backups
   * hold, not changes that were refused.
   */
  assertFits(key: MapKey, valueBytes: number, diffBytes: number | undefined, value: unknown): void {
    const bounds = this.frameBounds(key, valueBytes, diffBytes);
    if (bounds === undefined) return;
    const advice = 'store a smaller value (or split it across keys)';
    try {
      assertFrameFits(() => `the value of key ${keyName(key)} in map '${this.ctx.name}' (${valueBytes} bytes encoded)`, bounds.copy, bounds.limit, advice);
      if (bounds.diff !== undefined) {
        assertFrameFits(() => `the diff of key ${keyName(key)} in map '${this.ctx.name}' (${String(diffBytes)} bytes encoded)`, bounds.diff, bounds.limit, advice);
      }
    } catch (error) {
      const entry = this.ctx.entries.get(key);
      if (entry !== undefined && entry.value === value && entry.bytes !== undefined) entry.value = NOT_DECODED;
      throw error;
    }
  }

  /**
   * The upper bounds of the frames that carry a copy of `key` with a value of `valueBytes` and its
   * diff of `diffBytes` (see message-size.ts), with the cluster's frame limit; `undefined` when the
   * cluster declares none.
   */
  private frameBounds(key: MapKey, valueBytes: number, diffBytes: number | undefined): { limit: number; copy: number; diff: number | undefined } | undefined {
    const limit = this.ctx.frameLimit();
    if (!Number.isFinite(limit)) return undefined;
    const channel = mapChannelName(this.ctx.name);
    const who = this.ctx.idsBound();
    return { limit, copy: copyFrameBound(channel, key, valueBytes, who), diff: diffBytes === undefined ? undefined : diffFrameBound(channel, key, diffBytes, who) };
  }
}

/** What {@link WritePath.updateInPlace} answers for a value that recorded no change: an access notice goes instead. */
const ACCESS: unique symbol = Symbol('access');

/** A key as an error message names it: quoted, and cut when long. */
export function keyName(key: MapKey): string {
  if (typeof key === 'number') return String(key);
  return key.length > 64 ? `${JSON.stringify(key.slice(0, 64))}… (${key.length} characters)` : JSON.stringify(key);
}
