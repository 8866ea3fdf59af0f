/**
 * The machinery both maps share: roles, versions, publishing copies, failover, join and heal.
 * {@link LazyReplicatedMap} and {@link ReplicatedMap} differ only in how many copies an entry
 * wants, what a non-primary holder is called, and whether a read promotes.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import { randomUUID } from 'node:crypto';
import {
  CodecError,
  DiffApplyError,
  DiffBaseMissingError,
  ProtocolError,
  RetrieveError,
  RpcTimeoutError,
  StoppedError,
  type RpcResponse,
} from '../errors.js';
import {
  isMapKey,
  mapMessageFromWire,
  mapMessageToWire,
  type EntryCopy,
  type EntryDiff,
  type HeldCopy,
  type MapKey,
  type MapMessage,
  type Placement,
  type Removal,
} from '../codec/map-messages.js';
import {
  MESSAGE_TYPE_NAMES,
  MSG_ACK,
  MSG_BACKUP,
  MSG_COPY,
  MSG_DIFF,
  MSG_PING,
  MSG_PROXY,
  MSG_REMOVE,
  MSG_RETRIEVE_BACKUP,
  MSG_START,
  MSG_STATE,
  MSG_STOP,
  MSG_VALUE,
  MSG_ACCESS,
} from '../codec/message-types.js';
import { defaultValueCodec, type ValueCodec } from '../codec/value-codec.js';
import { RpcChannel } from '../rpc/rpc-channel.js';
import type { RpcReplyMode } from '../rpc/rpc-options.js';
import type { Transport } from '../transport/transport.js';
import { BackupSelector } from './backup-selector.js';
import { isDeltaValue } from './delta-value.js';
import { Entry, NOT_DECODED, type EntryInfo, type EntryRole } from './entry.js';
import {
  DEFAULT_MAP_RPC_TIMEOUT_MS,
  DEFAULT_TOMBSTONE_TTL_MS,
  type AckMode,
  type GetOptions,
  type MapEvents,
  type MapStats,
  type ReplicatedMapOptions,
} from './map-options.js';
import { Interner } from './interner.js';
import { chunked, copySize, placementSize, removalSize } from './message-size.js';
import { Tombstones } from './tombstones.js';
import { WriteCoalescer } from './write-coalescer.js';
import { LamportClock, compareVersions, nextPlacement, type Version } from './version.js';

/** Lifecycle of a map on one member. */
export type MapState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Entries published together at most when many are re-homed at once (see publishAll). */
const PUBLISH_SLICE = 10_000;

/** Prefix of the RPC channel each map talks on; reserved for the library. */
export const MAP_CHANNEL_PREFIX = 'lrm/map/';

/** An entry being published by its primary, and the version this publication is about. */
interface Publication {
  readonly entry: Entry;
  version: Version;
  /** Backups that acknowledged this write (they hold the bytes). */
  confirmed: Set<string> | undefined;
  /** Members tried as backup in this publication (never tried twice). */
  tried: Set<string> | undefined;
  /** The write as a diff, for the holders of its base (see `replicate`); others get the whole value. */
  readonly diff?: DiffPlan | undefined;
}

/** A write sent as a diff: the encoded changes, the version they apply to, and who holds that version. */
interface DiffPlan {
  readonly base: Version;
  readonly bytes: Uint8Array;
  /** The backups when the diff was made: they hold (or are being sent) the base. */
  readonly holders: ReadonlySet<string>;
}

/** Where placements being applied came from, and whom to pass them on to (see `applyPlacement`). */
interface Relay {
  /** The member the placements came from. */
  readonly from: string;
  /** Whether they are second-hand: a state transfer, or sent by a member other than their primary. */
  secondHand: boolean;
  /** Placements to pass on, by member. */
  readonly notices: Map<string, Placement[]>;
  /** Deletes to pass on, by member. */
  readonly removals: Map<string, Removal[]>;
}

/** What the subclasses decide. */
export interface MapFlavour {
  /** Copies each entry wants besides the primary, given the number of other members. */
  desiredBackups(otherMembers: number): number;
  /** The role name of a non-primary holder. */
  readonly holderRole: 'backup' | 'copy';
  /** The message that carries copies. */
  readonly copyMessage: typeof MSG_BACKUP | typeof MSG_COPY;
  /** Whether `get` makes this member primary by default. */
  readonly promoteOnRead: boolean;
}

/**
 * Base of the replicated maps. Not exported from the package: use {@link LazyReplicatedMap} or
 * {@link ReplicatedMap}.
 */
export abstract class BaseReplicatedMap<K extends MapKey, V> extends EventEmitter<MapEvents<K>> {
  /** The map's name. */
  readonly name: string;
  /** The transport this map talks through. */
  readonly transport: Transport;
  private readonly flavour: MapFlavour;
  private readonly rpcTimeoutMs: number;
  private readonly ackMode: AckMode;
  private readonly codec: ValueCodec;
  /** The wall clock of tombstones and of entries' last access. */
  private readonly now: () => number;
  private channel: RpcChannel | undefined;
  private readonly entries = new Map<MapKey, Entry>();
  private readonly tombstones: Tombstones;
  private readonly clock = new LamportClock();
  private readonly selector = new BackupSelector();
  private readonly interner = new Interner();
  /** Other members running this map, with the incarnation they started with. */
  private readonly peers = new Map<string, string>();
  /** `peers`' ids, sorted; `undefined` after a membership change (see memberList). */
  private sortedPeers: readonly string[] | undefined;
  private readonly incarnation = randomUUID();
  /** Members a `MSG_START` is on its way to: one introduction at a time is enough. */
  private readonly introducing = new Set<string>();
  /**
   * Peer faults the handler already reported. It reports and then throws them (so a request gets
   * an error reply); for a one-way message the channel reports the throw again, and one bad
   * message must make one 'error'.
   */
  private readonly reported = new WeakSet<Error>();
  /** The newest publication of each entry, so a write can wait for the one that superseded it. */
  private readonly publications = new WeakMap<Entry, Promise<void>>();
  /**
   * The last placement of each owned entry whose publication completed (its backups acknowledged,
   * everyone else was told). The state snapshot of a join or heal sends these, not a placement
   * still being published: that one may name backups that never get the copy (the primary dies
   * first), and the newcomer would keep a proxy that no live member can ever serve or correct.
   */
  private readonly announced = new WeakMap<Entry, Placement>();
  /**
   * Members that received this member's state (the reply to their `MSG_START`) for their current
   * incarnation and stayed members since. A member dropped and re-added meanwhile (a late
   * `peerDown` that overtook nothing but arrived after its start) missed what changed here in
   * between, and must get the state again.
   */
  private readonly stateSent = new Map<string, string>();
  /** The incarnation each member had when last added here (kept after it disappears). */
  private readonly met = new Map<string, string>();
  /** Publications under way; a graceful stop lets them finish before it says goodbye. */
  private readonly inflight = new Set<Promise<void>>();
  /** Writes of `set` waiting to be published together. */
  private readonly writes = new WriteCoalescer<Entry>((entries) => this.publish(entries));
  private lifecycle: MapState = 'new';
  private startPromise: Promise<this> | undefined;
  private stopPromise: Promise<void> | undefined;
  private readonly counters = {
    sent: {} as Record<string, number>,
    received: {} as Record<string, number>,
    promotions: 0,
    failovers: 0,
    rpcTimeouts: 0,
  };

  protected constructor(options: ReplicatedMapOptions, flavour: MapFlavour) {
    super();
    if (typeof options.name !== 'string' || options.name.length === 0) {
      throw new TypeError('map option `name` must be a non-empty string');
    }
    this.name = options.name;
    this.transport = options.transport;
    this.flavour = flavour;
    this.rpcTimeoutMs = options.rpcTimeoutMs ?? DEFAULT_MAP_RPC_TIMEOUT_MS;
    this.ackMode = options.ack ?? 'backups';
    this.codec = options.codec ?? defaultValueCodec;
    this.now = options.now ?? Date.now;
    this.tombstones = new Tombstones(options.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS, this.now);
  }

  /** Opens the map's channel: from then on this member answers for the map. */
  private open(): RpcChannel {
    const rpc = new RpcChannel(this.transport, MAP_CHANNEL_PREFIX + this.name, (request, from) => this.handle(request, from));
    rpc.on('error', (error) => {
      if (!this.reported.has(error)) this.emit('error', error);
    });
    rpc.on('peerUp', (id) => {
      if (this.lifecycle === 'running' || this.lifecycle === 'starting') this.introduce(id);
    });
    rpc.on('peerDown', (id) => {
      // The introduction on its way to `id` is over. Forget it now, not when its call settles (a
      // microtask later): a 'peerUp' delivered right after this (a partition healed at once)
      // must introduce again, or the two members never meet.
      this.introducing.delete(id);
      if (this.peers.has(id)) this.disappeared(id);
    });
    rpc.on('close', () => {
      this.halt();
    });
    this.channel = rpc;
    return rpc;
  }

  private get rpc(): RpcChannel {
    if (this.channel === undefined) throw new StoppedError(`map '${this.name}' is not started: await map.start() first`);
    return this.channel;
  }

  // ---------------------------------------------------------------- lifecycle

  /** This member's id. */
  get id(): string {
    return this.transport.id;
  }

  /** Where the map is in its life. */
  get state(): MapState {
    return this.lifecycle;
  }

  /**
   * Joins the map's members (starting the transport if needed). Resolves once this member knows
   * every key of the map: each member answers with the entries it owns and the deletes it remembers.
   */
  start(): Promise<this> {
    // A stopped map never runs again: handing back the old, resolved start would tell the caller
    // it does (calls after stop() reject).
    if (this.lifecycle === 'stopped' || this.lifecycle === 'stopping') {
      return Promise.reject(new StoppedError(`map '${this.name}' on member '${this.id}' is stopped: create and start a new map`));
    }
    this.startPromise ??= this.join();
    return this.startPromise;
  }

  private async join(): Promise<this> {
    this.assertUsable();
    this.lifecycle = 'starting';
    await this.open().ready();
    // A transport that finds members in the background (TCP seeds, gossip) is given the time to
    // meet them, so that the state asked for below comes from everyone (bounded: a seed that never
    // answers must not hold start() up).
    if (this.transport.joined !== undefined) await this.withDeadline(this.transport.joined());
    const targets = this.transport.peers();
    for (const t of targets) this.introducing.add(t);
    const replies = await this.request({ type: MSG_START, incarnation: this.incarnation }, targets, 'all');
    for (const t of targets) this.introducing.delete(t);
    for (const r of replies) if ('reply' in r) this.welcome(r.from, r.reply);
    // stop() or a transport crash may have come while the replies were awaited.
    if (this.state === 'starting') this.lifecycle = 'running';
    return this;
  }

  /**
   * Leaves gracefully: entries this member owns alone get a copy elsewhere first, then the others
   * are told to re-home what it held. Calls afterwards reject with {@link StoppedError}. Stops the
   * transport only if no other map or channel uses it.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.leave();
    return this.stopPromise;
  }

  private async leave(): Promise<void> {
    if (this.lifecycle === 'stopped') return;
    if (this.lifecycle === 'starting') await this.startPromise?.catch(() => undefined);
    if (this.lifecycle !== 'running') {
      this.halt();
      await this.channel?.close();
      return;
    }
    this.lifecycle = 'stopping';
    // Publications that began before stop() (a write, a promotion, a failover) finish first: a
    // copy or placement sent after MSG_STOP (or overtaking it) names a primary that is gone.
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    // Entries owned here with no live copy elsewhere would be lost: give each one first.
    const alone = [...this.entries.values()].filter((e) => e.role === 'primary' && !e.backups.some((b) => this.peers.has(b)));
    if (alone.length > 0 && this.peers.size > 0) {
      for (const e of alone) {
        e.backups = this.interner.list(this.selector.select(this.memberList(), Math.max(1, this.wanted())));
        e.version = nextPlacement(e.version, this.id);
      }
      await this.publishAll(alone);
    }
    await this.request({ type: MSG_STOP }, [...this.peers.keys()], 'all');
    this.halt();
    await this.rpc.close();
  }

  /** Stops serving at once (transport closed, crash, or end of a graceful stop). */
  private halt(): void {
    if (this.lifecycle === 'stopped') return;
    this.lifecycle = 'stopped';
    this.entries.clear();
    this.peers.clear();
    this.sortedPeers = undefined;
    this.emit('stopped');
    void this.channel?.close();
  }

  private assertUsable(): void {
    if (this.lifecycle === 'stopped' || this.lifecycle === 'stopping') {
      throw new StoppedError(`map '${this.name}' on member '${this.id}' is stopped: create and start a new map`);
    }
  }

  private async ready(): Promise<void> {
    this.assertUsable();
    if (this.lifecycle === 'new') await this.start();
    else if (this.lifecycle === 'starting') await this.startPromise;
    this.assertUsable();
  }

  // ---------------------------------------------------------------- reading

  /** Ids of the live members of this map, this member included, sorted. */
  members(): string[] {
    return [this.id, ...this.peers.keys()].sort();
  }

  /** Number of keys of the whole map known here, in any role. */
  get size(): number {
    this.assertUsable();
    return this.entries.size;
  }

  /** True when `key` is known here, in any role. */
  has(key: K): boolean {
    assertKey(key);
    this.assertUsable();
    return this.entries.has(key);
  }

  /** The keys known here. */
  keys(): IterableIterator<K> {
    this.assertUsable();
    return [...this.entries.keys()][Symbol.iterator]() as IterableIterator<K>;
  }

  /** Where `key` lives, as this member knows it; `undefined` when the key is not known here. */
  entryInfo(key: K): EntryInfo | undefined {
    assertKey(key);
    this.assertUsable();
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    return { role: e.role, primary: e.primary, backups: [...e.backups] };
  }

  /**
   * When this member last saw `key` used, in milliseconds by the map's clock (the `now` option):
   * written or replicated here (`set`, `replicate`, whatever it sent), or a copy, diff or access
   * notice received from the key's primary. A read is not a use. On a proxy, the time the holder
   * that answered its last fetch reported. `undefined` when the key is unknown here or its last
   * use is not known. The session store's expiry is built on it (Tomcat: `lastAccessedTime`).
   */
  lastAccess(key: K): number | undefined {
    assertKey(key);
    this.assertUsable();
    return this.entries.get(key)?.lastAccess;
  }

  /** Counters of this map on this member. */
  stats(): MapStats {
    const entries = { primary: 0, backup: 0, copy: 0, proxy: 0 };
    for (const e of this.entries.values()) entries[e.role]++;
    return {
      entries,
      tombstones: this.tombstones.size,
      sent: { ...this.counters.sent },
      received: { ...this.counters.received },
      promotions: this.counters.promotions,
      failovers: this.counters.failovers,
      rpcTimeouts: this.counters.rpcTimeouts,
    };
  }

  /**
   * The value of `key`, or `undefined`. On the primary, sends nothing. Elsewhere the value is
   * read from the local copy or fetched from a holder (first reply wins) and, unless
   * `promote: false`, this member becomes the key's primary.
   * @throws {RetrieveError} when no holder answered within `rpcTimeoutMs`.
   */
  async get(key: K, options: GetOptions = {}): Promise<V | undefined> {
    assertKey(key);
    await this.ready();
    const promote = options.promote ?? this.flavour.promoteOnRead;
    let entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.role === 'primary') return this.decoded(entry) as V;
    if (entry.role !== 'proxy' && entry.bytes !== undefined) {
      const value = this.decoded(entry);
      if (promote) {
        this.promote(entry, 'read');
        // The owner keeps the value it handed out: in-place changes to it followed by replicate()
        // must be what replicate() sends, not a fresh decode of the old bytes.
        if (entry.primary === this.id) entry.value = value;
      }
      return value as V;
    }
    const copy = await this.retrieve(entry);
    entry = this.entries.get(key);
    if (copy === undefined || entry === undefined) return undefined;
    if (entry.role === 'primary' || entry.bytes !== undefined) {
      // The entry came here while we were fetching: what is here now is at least as new. Read it
      // as from a holder, promotion included: a caller that changes the value and replicates it
      // must be its primary, or the change is silently lost.
      if (entry.compare(copy.version) >= 0) {
        const value = this.decoded(entry);
        if (promote && entry.role !== 'primary') {
          this.promote(entry, 'read');
          if (entry.primary === this.id) entry.value = value;
        }
        return value as V;
      }
    }
    const value = this.codec.decode(copy.bytes);
    // The holder's idle time, not the time of this read: a read is no use (replicate() is), and an
    // expired session must not come back to life by being read through another member.
    const lastAccess = copy.idleMs === undefined ? undefined : this.now() - copy.idleMs;
    if (entry.bytes === undefined) entry.lastAccess = lastAccess;
    if (promote && entry.compare(copy.version) <= 0) {
      entry.bytes = copy.bytes;
      entry.version = copy.version;
      entry.value = value;
      entry.lastAccess = lastAccess;
      this.clock.observe(copy.version);
      this.promote(entry, 'read');
    }
    return value as V;
  }

  /** Every key known here with its value, fetched without promotion. Keys deleted meanwhile are skipped. */
  async *[Symbol.asyncIterator](): AsyncIterator<[K, V]> {
    await this.ready();
    for (const key of [...this.entries.keys()] as K[]) {
      if (!this.entries.has(key)) continue;
      const value = await this.get(key, { promote: false });
      if (value !== undefined || this.entries.has(key)) yield [key, value as V];
    }
  }

  // ---------------------------------------------------------------- writing

  /**
   * Stores `value` under `key`, making this member its primary. Resolves (to the map) once every
   * backup acknowledged its copy (or at once with `ack: 'none'`).
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when the value cannot be encoded; the map is unchanged.
   */
  async set(key: K, value: V): Promise<this> {
    assertKey(key);
    const bytes = this.codec.encode(value);
    // The bytes hold every change so far; changes made from now on are the next diff.
    if (isDeltaValue(value)) value.resetDiff();
    // A running map writes at once: no turn of the event loop between the call and the write.
    if (this.lifecycle !== 'running') await this.ready();
    // stop() may have begun while the await above yielded: a primary created now would be
    // published after this member's MSG_STOP, and its backups would keep a copy whose primary is
    // gone and which nobody re-homes.
    this.assertUsable();
    const version = this.clock.tick(this.id);
    this.tombstones.delete(key);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = new Entry(key, 'primary', version, this.id, [], bytes);
      this.entries.set(key, entry);
    }
    entry.role = 'primary';
    entry.primary = this.id;
    entry.version = version;
    entry.bytes = bytes;
    entry.value = value;
    entry.lastAccess = this.now();
    entry.backups = this.interner.list(this.selector.select(this.memberList(), this.wanted()));
    this.emit('entrySet', key, 'local');
    await this.published(entry, this.publishWrite(entry));
    return this;
  }

  /**
   * Publishes a write, together with the other writes made while earlier ones are still being
   * acknowledged (see {@link WriteCoalescer}). A graceful stop waits for a group not sent yet.
   */
  private publishWrite(entry: Entry): Promise<void> {
    return this.track(this.writes.add(entry));
  }

  /**
   * Pushes changes made in place to `key`'s value (owned here) to its holders, as Tomcat's
   * `replicate(key, complete)` does:
   * - a {@link DeltaValue} with changes, unless `complete`: only its diff (`MSG_DIFF`), to the
   *   holders of the version the diff applies to; a holder without that version refuses it and
   *   gets the whole value (`MSG_BACKUP`) instead;
   * - a {@link DeltaValue} without changes, unless `complete`: an access notice (`MSG_ACCESS`),
   *   so the holders know the entry is still in use (see {@link lastAccess}); nothing is written;
   * - any other value, or `complete`: the whole value, encoded again (`MSG_BACKUP`).
   *
   * Resolves once the holders acknowledged (at once with `ack: 'none'`). Does nothing on a member
   * that is not the key's primary.
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when the value or its diff cannot be encoded; nothing changed.
   */
  async replicate(key: K, complete = false): Promise<void> {
    assertKey(key);
    await this.ready();
    this.assertUsable(); // as in set(): no publication may start after stop() began
    const entry = this.entries.get(key);
    if (entry?.role !== 'primary') return;
    const value = this.decoded(entry);
    const delta = isDeltaValue(value) ? value : undefined;
    if (delta !== undefined && !complete && !delta.isDirty()) {
      entry.lastAccess = this.now();
      await this.access(entry);
      return;
    }
    // Encode before changing anything: a value that cannot be encoded leaves the entry as it was.
    const diff = delta !== undefined && !complete ? this.codec.encode(delta.getDiff()) : undefined;
    const bytes = this.codec.encode(value);
    delta?.resetDiff();
    const base = entry.version;
    entry.bytes = bytes;
    entry.version = this.clock.tick(this.id);
    entry.lastAccess = this.now();
    entry.backups = this.interner.list(entry.backups.filter((b) => this.peers.has(b)));
    const plan = diff === undefined ? undefined : new Map([[entry, { base, bytes: diff, holders: new Set(entry.backups) }]]);
    await this.published(entry, this.publish([entry], plan));
  }

  /** Tells the holders of an entry that it is still in use (Tomcat: `MSG_ACCESS`); nothing is written. */
  private async access(entry: Entry): Promise<void> {
    const holders = entry.backups.filter((b) => this.peers.has(b));
    await this.request({ type: MSG_ACCESS, keys: [entry.key] }, holders, this.ackMode === 'none' ? 'none' : 'all');
  }

  /** Deletes `key` on every member. Resolves to whether the key was known here. */
  async delete(key: K): Promise<boolean> {
    assertKey(key);
    await this.ready();
    const known = this.entries.has(key);
    await this.remove([key]);
    return known;
  }

  /** Deletes every key of the map on every member. */
  async clear(): Promise<void> {
    await this.ready();
    await this.remove([...this.entries.keys()]);
  }

  private async remove(keys: MapKey[]): Promise<void> {
    const removals: Removal[] = keys.map((key) => ({ key, version: this.clock.tick(this.id) }));
    for (const r of removals) this.applyRemoval(r, 'local');
    // Acknowledged by every member: a holder that missed the delete could otherwise promote the
    // key back to life on failover. Members still being introduced (reachable, not yet members
    // here: a join or heal under way) are told too; if this member left before their start
    // reached it, nobody else would tell them.
    const targets = new Set([...this.peers.keys(), ...this.transport.peers()]);
    await Promise.all(this.sendRemovals([...targets], removals, 'all'));
  }

  // ---------------------------------------------------------------- roles

  private wanted(): number {
    return Math.min(this.flavour.desiredBackups(this.peers.size), this.peers.size);
  }

  /** Other live members, sorted (kept between membership changes: every write asks for it). */
  private memberList(): readonly string[] {
    this.sortedPeers ??= [...this.peers.keys()].sort();
    return this.sortedPeers;
  }

  private roleFor(primary: string, backups: readonly string[]): EntryRole {
    if (primary === this.id) return 'primary';
    return backups.includes(this.id) ? this.flavour.holderRole : 'proxy';
  }

  private decoded(entry: Entry): unknown {
    if (entry.value === NOT_DECODED) {
      if (entry.bytes === undefined) return undefined;
      const value = this.codec.decode(entry.bytes);
      // Only an owner keeps the decoded value: a backup's memory is its bytes.
      if (entry.role === 'primary') entry.value = value;
      return value;
    }
    return entry.value;
  }

  /** Makes this member primary of an entry it holds the value of, and re-chooses backups. */
  private promote(entry: Entry, why: 'read' | 'failover'): void {
    // A read that completes while this member leaves must not make it primary: the entry would be
    // published after its MSG_STOP and left with a departed primary.
    if (this.lifecycle !== 'running' && this.lifecycle !== 'starting') return;
    const keep = why === 'failover' ? entry.backups.filter((b) => b !== this.id && this.peers.has(b)) : [];
    entry.role = 'primary';
    entry.primary = this.id;
    entry.version = nextPlacement(entry.version, this.id);
    const wanted = this.wanted();
    entry.backups = this.interner.list([...keep, ...this.selector.select(this.memberList(), wanted - keep.length, new Set(keep))].slice(0, wanted));
    if (why === 'read') this.counters.promotions++;
    else this.counters.failovers++;
    this.emit('promoted', entry.key as K);
    void this.publish([entry]).catch((error: unknown) => { this.background(error); });
  }

  /**
   * Sends entries this member owns to their backups and, once those acknowledged, their new
   * placement to everyone else. A backup that does not take its copy is replaced by the next
   * member; an entry never names a backup that did not acknowledge (so a proxy's holders really
   * hold the value). One message per member per round, however many entries.
   */
  private publish(entries: Entry[], diffs?: ReadonlyMap<Entry, DiffPlan>): Promise<void> {
    const done = this.distribute(entries, diffs);
    for (const e of entries) this.publications.set(e, done);
    return this.track(done);
  }

  /** Counts `work` as under way until it settles: a graceful stop waits for it. */
  private track(work: Promise<void>): Promise<void> {
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
  private publishAll(entries: Entry[]): Promise<void> {
    // While leaving, everything goes out now: the member halts as soon as its goodbye is
    // acknowledged, and a slice not sent by then would leave its entries to nobody.
    if (entries.length <= PUBLISH_SLICE || this.lifecycle !== 'running') return this.publish(entries);
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
   */
  private async published(entry: Entry, first: Promise<void>): Promise<void> {
    const write = entry.version;
    let done = first;
    await done;
    for (;;) {
      // The map halted (its transport crashed) before every backup acknowledged: the publication
      // gave up, the write may be lost, so it must not look acknowledged.
      if (this.lifecycle === 'stopped') {
        throw new StoppedError(`map '${this.name}' on member '${this.id}' stopped before the write of key ${String(entry.key)} was acknowledged`);
      }
      const latest = this.publications.get(entry);
      if (latest === undefined || latest === done) return;
      if (entry.role !== 'primary' || !entry.sameWrite(write) || this.entries.get(entry.key) !== entry) return;
      done = latest;
      await done;
    }
  }

  private async distribute(entries: Entry[], diffs?: ReadonlyMap<Entry, DiffPlan>): Promise<void> {
    // The sets are made when first needed: a failover publishes 100k entries at a time.
    const pubs: Publication[] = entries.map((entry) => ({ entry, version: entry.version, confirmed: undefined, tried: undefined, diff: diffs?.get(entry) }));
    const current = (p: Publication): boolean =>
      this.entries.get(p.entry.key) === p.entry && p.entry.role === 'primary' && p.entry.compare(p.version) === 0;

    if (this.ackMode === 'none') {
      void this.sendCopies(pubs, false);
    } else {
      for (let round = 0; round <= this.peers.size + 1; round++) {
        const failed = await this.sendCopies(pubs.filter(current), true);
        if (failed.size === 0) break;
        for (const p of pubs.filter(current)) {
          const lost = p.entry.backups.filter((b) => failed.has(b) || !this.peers.has(b));
          if (lost.length === 0) continue;
          p.tried ??= new Set();
          for (const b of lost) p.tried.add(b);
          const keep = p.entry.backups.filter((b) => !lost.includes(b));
          const exclude = new Set([...keep, ...p.tried]);
          const extra = this.selector.select(this.memberList(), this.wanted() - keep.length, exclude);
          p.entry.backups = this.interner.list([...keep, ...extra]);
          p.entry.version = nextPlacement(p.entry.version, this.id);
          p.version = p.entry.version;
        }
      }
    }
    // Everyone not holding a copy learns where the entries now live; backups confirmed under an
    // older placement of this publication learn the final one too.
    const proxies = new Map<string, Placement[]>();
    for (const p of pubs.filter(current)) {
      const placement = p.entry.placement();
      this.announced.set(p.entry, placement);
      for (const m of this.peers.keys()) {
        if (p.entry.backups.includes(m)) continue;
        let list = proxies.get(m);
        if (list === undefined) proxies.set(m, (list = []));
        list.push(placement);
      }
    }
    for (const [member, placements] of proxies) {
      void this.sendPlacements(member, placements, 'none');
    }
  }

  /**
   * Sends each publication's copy to its backups that have not confirmed it, one message per
   * backup. Returns the backups that did not acknowledge. Backups that confirmed an older
   * placement of the same write get the new placement (no bytes) instead; holders of the base of
   * a diff get the diff.
   */
  private async sendCopies(pubs: Publication[], acked: boolean): Promise<Set<string>> {
    const copies = new Map<string, EntryCopy[]>();
    const moves = new Map<string, Placement[]>();
    const diffs = new Map<string, { pub: Publication; diff: EntryDiff }[]>();
    const sentTo = new Map<string, Publication[]>();
    for (const p of pubs) {
      const bytes = p.entry.bytes;
      if (bytes === undefined) continue;
      const placement = p.entry.placement();
      for (const b of p.entry.backups) {
        if (p.confirmed?.has(b) === true) {
          push(moves, b, placement);
        } else if (p.diff?.holders.has(b) === true) {
          push(diffs, b, { pub: p, diff: { entry: placement, base: p.diff.base, diff: p.diff.bytes } });
        } else {
          push(copies, b, { ...placement, bytes });
        }
        push(sentTo, b, p);
      }
    }
    const failed = new Set<string>();
    const targets = new Set([...copies.keys(), ...moves.keys(), ...diffs.keys()]);
    await Promise.all(
      [...targets].map(async (b) => {
        const copyList = copies.get(b) ?? [];
        const moveList = moves.get(b) ?? [];
        const requests: Promise<RpcResponse[]>[] = [];
        for (const entries of chunked(copyList, copySize)) requests.push(this.request({ type: this.flavour.copyMessage, entries }, [b], acked ? 'all' : 'none'));
        requests.push(...this.sendPlacements(b, moveList, acked ? 'all' : 'none'));
        for (const { pub, diff } of diffs.get(b) ?? []) {
          const sent = this.sendDiff(b, pub, diff);
          if (acked) requests.push(sent);
          else void sent.catch((error: unknown) => { this.background(error); });
        }
        const results = await Promise.all(requests);
        const ok = !acked || results.every((r) => r.some((x) => x.from === b && 'reply' in x));
        if (ok) for (const p of sentTo.get(b) ?? []) (p.confirmed ??= new Set()).add(b);
        else failed.add(b);
      }),
    );
    return failed;
  }

  /**
   * Sends one diff to one holder of its base. A holder that refuses it (it lacks the base: a
   * restart, a lost copy, a proxy) gets the whole value instead, so no holder is left with an empty
   * or wrong copy (Tomcat's hole). Resolves to the replies of whichever message it took.
   */
  private async sendDiff(to: string, pub: Publication, diff: EntryDiff): Promise<RpcResponse[]> {
    // Always a request, even with ack 'none': a refusal must come back to be repaired.
    const replies = await this.request({ type: MSG_DIFF, ...diff }, [to], 'all');
    if (!replies.some((r) => r.from === to && 'error' in r)) return replies;
    const bytes = pub.entry.bytes;
    // The entry was deleted or demoted meanwhile: there is nothing of this member's left to send.
    if (bytes === undefined || pub.entry.role !== 'primary' || this.entries.get(pub.entry.key) !== pub.entry) return [];
    // The current placement and bytes, read together: a newer write since is sent whole, never
    // the diff's bytes under another version.
    return this.request({ type: this.flavour.copyMessage, entries: [{ ...pub.entry.placement(), bytes }] }, [to], 'all');
  }

  // ---------------------------------------------------------------- membership

  /** A transport peer came up: ask it whether it runs this map (and exchange what we own). */
  private introduce(id: string): void {
    if (this.introducing.has(id)) return;
    this.introducing.add(id);
    void this.request({ type: MSG_START, incarnation: this.incarnation }, [id], 'all').then((replies) => {
      this.introducing.delete(id);
      for (const r of replies) if ('reply' in r) this.welcome(r.from, r.reply);
    });
  }

  /**
   * The placements of the entries owned here, for a state transfer. An entry whose publication is
   * under way is sent as last announced for the same write, or not at all: the newcomer is a peer
   * before that publication ends, and its final MSG_PROXY reaches it.
   */
  private ownedPlacements(): Placement[] {
    const owned: Placement[] = [];
    for (const e of this.entries.values()) {
      if (e.role !== 'primary') continue;
      const announced = this.announced.get(e);
      if (announced !== undefined && e.sameWrite(announced.version)) owned.push(announced);
    }
    return owned;
  }

  /** A member answered our start with its state. */
  private welcome(from: string, reply: unknown): void {
    let message: MapMessage;
    try {
      message = mapMessageFromWire(reply);
    } catch (error) {
      this.emit('error', new ProtocolError(`bad state reply from '${from}': ${(error as Error).message}`, from, { cause: error }));
      return;
    }
    if (message.type !== MSG_STATE) {
      this.emit('error', new ProtocolError(`member '${from}' answered a start with ${MESSAGE_TYPE_NAMES[message.type] ?? '?'}`, from));
      return;
    }
    this.added(from, message.incarnation);
    this.mergeState(message.entries, message.tombstones, from);
    if (this.peers.get(from) === message.incarnation && this.stateSent.get(from) !== message.incarnation) {
      this.pushState(from, message.incarnation);
    }
  }

  /** Sends `to` what a `MSG_STATE` reply would carry, as `MSG_REMOVE` and `MSG_PROXY` (see {@link stateSent}). */
  private pushState(to: string, incarnation: string): void {
    this.stateSent.set(to, incarnation);
    const removals = this.tombstones.list();
    void this.sendRemovals([to], removals, 'none');
    const owned = this.ownedPlacements();
    void this.sendPlacements(to, owned, 'none');
  }

  private added(id: string, incarnation: string): void {
    if (this.lifecycle === 'stopped' || this.lifecycle === 'stopping') return;
    const known = this.peers.get(id);
    if (known === incarnation) return;
    // Same id, new incarnation: the member restarted and lost what it held.
    if (known !== undefined) this.disappeared(id);
    this.peers.set(id, incarnation);
    this.sortedPeers = undefined;
    this.met.set(id, incarnation);
    this.emit('memberAdded', id);
    this.rebackup();
  }

  /** Entries owned here with fewer copies than wanted get more (a lone member that gains a peer). */
  private rebackup(): void {
    const wanted = this.wanted();
    const short: Entry[] = [];
    for (const e of this.entries.values()) {
      if (e.role !== 'primary' || e.backups.length >= wanted) continue;
      const keep = e.backups.filter((b) => this.peers.has(b));
      e.backups = this.interner.list([...keep, ...this.selector.select(this.memberList(), wanted - keep.length, new Set(keep))]);
      e.version = nextPlacement(e.version, this.id);
      short.push(e);
    }
    if (short.length > 0) void this.publishAll(short).catch((error: unknown) => { this.background(error); });
  }

  /**
   * A member is gone. Every entry it held is re-homed: where it was primary, the first surviving
   * backup takes over; where it was a backup, the primary picks another; an entry with no
   * surviving copy is dropped here (every member computes the same from its own view).
   */
  private disappeared(id: string): void {
    this.stateSent.delete(id);
    if (!this.peers.delete(id)) return;
    this.sortedPeers = undefined;
    this.emit('memberDisappeared', id);
    const republish: Entry[] = [];
    const handover = new Map<string, Placement[]>();
    for (const e of [...this.entries.values()]) {
      if (e.primary !== id && !e.backups.includes(id)) continue;
      const alive = e.holders().filter((m) => m === this.id || this.peers.has(m));
      if (alive.length === 0 && e.bytes !== undefined) {
        // A spare copy (see applyPlacement) outlived every holder named: it carries on.
        this.takeOver(e);
        republish.push(e);
        continue;
      }
      if (alive.length === 0) {
        this.entries.delete(e.key);
        this.emit('entryRemoved', e.key as K, 'lost');
        continue;
      }
      // Not `e.primary === id`: when the primary and a backup go together, the backup that would
      // have taken over may be reported gone after the primary, and the next holder must take over.
      if (e.primary !== this.id && !this.peers.has(e.primary)) {
        if (alive[0] === this.id && e.bytes !== undefined) {
          this.takeOver(e);
          republish.push(e);
        } else if (alive[0] !== undefined && alive[0] !== this.id && e.bytes !== undefined) {
          // The holder that takes over may never have got this placement (its primary died while
          // publishing it, after this copy was acknowledged): tell it, or nobody takes over.
          push(handover, alive[0], e.placement());
        }
      } else if (e.role === 'primary') {
        const keep = e.backups.filter((b) => this.peers.has(b));
        e.backups = this.interner.list([...keep, ...this.selector.select(this.memberList(), this.wanted() - keep.length, new Set(keep))]);
        e.version = nextPlacement(e.version, this.id);
        republish.push(e);
      }
    }
    if (republish.length > 0) void this.publishAll(republish).catch((error: unknown) => { this.background(error); });
    for (const [member, placements] of handover) void this.sendPlacements(member, placements, 'none');
  }

  /** Makes this member primary of an entry whose primary is gone (it holds the value); the caller publishes. */
  private takeOver(e: Entry): void {
    e.role = 'primary';
    e.primary = this.id;
    e.version = nextPlacement(e.version, this.id);
    const keep = e.backups.filter((b) => b !== this.id && this.peers.has(b));
    e.backups = this.interner.list([...keep, ...this.selector.select(this.memberList(), this.wanted() - keep.length, new Set(keep))]);
    this.counters.failovers++;
    this.emit('promoted', e.key as K);
  }

  // ---------------------------------------------------------------- applying what peers say

  /** Adopts a placement (and its copy, if given) when it is newer than what is known here. */
  private applyPlacement(p: Placement, bytes: Uint8Array | undefined, origin: 'local' | 'remote', relay?: Relay): boolean {
    this.clock.observe(p.version);
    const dead = this.tombstones.get(p.key);
    if (dead !== undefined && compareVersions(dead, p.version) >= 0) {
      // A primary publishes a key deleted since (the delete reached it only second-hand, or not
      // at all): tell it, for the same reason as below.
      if (relay !== undefined && relay.from === p.primary && relay.from !== dead[1]) push(relay.removals, relay.from, { key: p.key, version: dead });
      return false;
    }
    const entry = this.entries.get(p.key);
    if (entry !== undefined) {
      const order = entry.compare(p.version);
      // The same placement may come twice: first without the value (a state snapshot or proxy
      // message that overtook the copy, which made this member a mere proxy), then with it. The
      // copy must still be taken, or the primary counts on a backup that holds nothing.
      const missingCopy = order === 0 && entry.bytes === undefined && bytes !== undefined && this.roleFor(p.primary, p.backups) !== 'proxy';
      if (order > 0 && relay !== undefined && relay.from === p.primary && entry.primary !== p.primary) {
        // A primary publishes a write older than one known here (a concurrent write it has not
        // heard of, perhaps only from a state transfer): tell it, or it would keep counting on
        // this member, and keep the key, after the newer write's holders die and it is dropped here.
        push(relay.notices, relay.from, entry.placement());
      }
      if (order > 0 || (order === 0 && !missingCopy)) return false;
    }
    const before = entry === undefined ? undefined : { role: entry.role, primary: entry.primary };
    if (relay?.secondHand === true) {
      // Second-hand news (a state transfer, or a placement relayed by a member other than its
      // primary) may be all that is left of a write: its primary can die before telling anyone
      // else. Members that learn of it drop the key when its holders die; members that did not
      // would keep the older placement forever. So the news is passed on to the primary it
      // replaces here and, by that primary, to every member (the primary may be met before it is
      // a member here again: a join's replies come in any order).
      if (before !== undefined && before.primary !== p.primary) {
        const targets = before.role === 'primary' ? [...this.peers.keys()] : [before.primary];
        for (const m of targets) if (m !== relay.from && m !== p.primary && m !== this.id) push(relay.notices, m, p);
      }
      const live = (m: string): boolean => m === this.id || m === relay.from || this.peers.has(m);
      if (![p.primary, ...p.backups].some(live)) {
        // Every holder named is already gone here. A placement of the value held here changes
        // nothing that matters: keep what is known. One of a newer write means the key is lost,
        // as if its holders had disappeared now (see disappeared()); no stale proxy is kept.
        if (entry === undefined || (entry.bytes !== undefined && entry.sameWrite(p.version))) return false;
        this.entries.delete(p.key);
        this.emit('entryRemoved', p.key as K, 'lost');
        return true;
      }
    }
    let role = this.roleFor(p.primary, p.backups);
    let held = bytes;
    if (held === undefined && entry?.bytes !== undefined && entry.sameWrite(p.version)) held = entry.bytes;
    if (role !== 'proxy' && held === undefined) {
      // Named as a holder of a write we do not have (we restarted under the same id): say so,
      // and stay a proxy rather than pretend to hold it.
      this.emit('error', new ProtocolError(`named holder of key ${String(p.key)} without its value; acting as proxy`, p.primary));
      role = 'proxy';
    }
    const changedValue = entry === undefined || !entry.sameWrite(p.version);
    // Shared ids and lists: a decoded message carries its own copies of them (see Interner).
    const version = this.interner.version(p.version);
    const primary = this.interner.id(p.primary);
    const backups = this.interner.list(p.backups);
    if (entry === undefined) {
      const key = this.interner.key(p.key);
      this.entries.set(key, new Entry(key, role, version, primary, backups, role === 'proxy' ? undefined : held));
    } else {
      entry.role = role;
      entry.version = version;
      entry.primary = primary;
      entry.backups = backups;
      // Second-hand news that makes this holder a proxy of the same value leaves it a spare copy:
      // the new holders may die before anyone else hears of them (a heal cut short by a crash),
      // and the value must not die with them (see disappeared()).
      entry.bytes = role === 'proxy' && relay?.secondHand !== true ? undefined : held;
      if (changedValue || role !== 'primary') entry.value = NOT_DECODED;
    }
    this.tombstones.delete(p.key);
    if (changedValue) this.emit('entrySet', p.key as K, origin);
    const adopted = this.entries.get(p.key);
    // From its own primary, a placement names a gone primary when it arrives after that member's
    // goodbye (a reordering network); a member not met yet is merely not introduced yet.
    const departed = relay !== undefined && (p.primary !== relay.from || this.met.has(p.primary));
    if (departed && adopted !== undefined && p.primary !== this.id && !this.peers.has(p.primary)) {
      // News of a placement whose primary is already gone here: fail over now, as disappeared()
      // would have, had this member known the placement then.
      const alive = adopted.holders().filter((m) => m === this.id || this.peers.has(m));
      if ((alive[0] === this.id || alive.length === 0) && adopted.bytes !== undefined) {
        this.takeOver(adopted);
        void this.publish([adopted]).catch((error: unknown) => {
          this.background(error);
        });
      } else if (alive.length === 0) {
        this.entries.delete(p.key);
        this.emit('entryRemoved', p.key as K, 'lost');
      }
    }
    return true;
  }

  private applyRemoval(r: Removal, origin: 'local' | 'remote', relay?: Relay): void {
    this.clock.observe(r.version);
    const entry = this.entries.get(r.key);
    if (entry !== undefined && entry.compare(r.version) > 0) return;
    this.tombstones.add(this.interner.key(r.key), r.version);
    if (entry !== undefined && relay !== undefined && (relay.secondHand || relay.from !== r.version[1])) {
      // A delete learned second-hand (a state transfer, even from its author, or passed on): its
      // author may have died before telling everyone, so pass it on as for placements (see
      // applyPlacement).
      const targets = entry.role === 'primary' ? [...this.peers.keys()] : [entry.primary];
      for (const m of targets) if (m !== relay.from && m !== r.version[1] && m !== this.id) push(relay.removals, m, r);
    }
    if (entry !== undefined) {
      this.entries.delete(r.key);
      this.emit('entryRemoved', r.key as K, 'deleted');
    }
  }

  /** Marks a copy just received as used now, if it is the copy held here. */
  private accessed(key: MapKey, version: Version): void {
    const e = this.entries.get(key);
    if (e?.bytes !== undefined && e.sameWrite(version)) e.lastAccess = this.now();
  }

  /**
   * Applies a diff from a primary to the copy held here: decode, `applyDiff`, encode, store, as a
   * copy of the new write would be stored. Throws (the primary then sends the whole value) rather
   * than create an entry from a diff alone.
   * @throws {DiffBaseMissingError} when this member holds no copy of the diff's base.
   * @throws {DiffApplyError} when the copy is not a `DeltaValue` here, or its `applyDiff` threw.
   */
  private applyDiff(message: EntryDiff, from: string): void {
    const { entry: p, base } = message;
    const relay: Relay = { from, secondHand: false, notices: new Map(), removals: new Map() };
    const held = this.entries.get(p.key);
    const dead = this.tombstones.get(p.key);
    const order = held === undefined ? -1 : held.compare(p.version);
    if ((dead !== undefined && compareVersions(dead, p.version) >= 0) || order > 0 || (order === 0 && held?.bytes !== undefined)) {
      // Deleted since, overtaken by a newer write, or a duplicate: what applyPlacement does with a
      // copy of that version (nothing, or tell the primary) is what this diff deserves.
      this.applyPlacement(p, undefined, 'remote', relay);
      this.sendNotices(relay);
      return;
    }
    if (held?.bytes === undefined || !held.sameWrite(base)) {
      throw new DiffBaseMissingError(
        `member '${this.id}' holds ${held?.bytes === undefined ? 'no copy' : `version ${held.version.join('/')}`} of key ${String(p.key)}, not the diff's base ${base.join('/')}`,
        p.key,
      );
    }
    let bytes: Uint8Array;
    try {
      const value = this.codec.decode(held.bytes);
      if (!isDeltaValue(value)) throw new TypeError('the copy held here does not decode to a DeltaValue: register its class with ValueCodec.register on every member');
      value.applyDiff(this.codec.decode(message.diff));
      bytes = this.codec.encode(value);
    } catch (error) {
      const e = new DiffApplyError(`cannot apply the diff of key ${String(p.key)} from '${from}': ${error instanceof Error ? error.message : String(error)}`, p.key, { cause: error });
      // A member that cannot apply diffs is misconfigured: say so here, where it can be fixed.
      this.emit('error', e);
      throw e;
    }
    this.applyPlacement(p, bytes, 'remote', relay);
    this.accessed(p.key, p.version);
    this.sendNotices(relay);
  }

  private mergeState(placements: readonly Placement[], tombstones: readonly Removal[], from: string): void {
    // A state transfer is second-hand even from the primary: it reaches only the one who asked.
    const relay: Relay = { from, secondHand: true, notices: new Map(), removals: new Map() };
    for (const r of tombstones) this.applyRemoval(r, 'remote', relay);
    for (const p of placements) this.applyPlacement(p, undefined, 'remote', relay);
    this.sendNotices(relay);
  }

  /** Passes on second-hand placements (see applyPlacement), one message per member. */
  private sendNotices(relay: Relay): void {
    // Deletes first: a placement passed on with them may be older than one of them.
    for (const [member, removals] of relay.removals) {
      void this.sendRemovals([member], removals, 'none');
    }
    for (const [member, placements] of relay.notices) {
      void this.sendPlacements(member, placements, 'none');
    }
  }

  /** The RPC handler: every message a peer sends this map. */
  private handle(request: unknown, from: string): unknown {
    let message: MapMessage;
    try {
      message = mapMessageFromWire(request);
    } catch (error) {
      const e = new ProtocolError(`dropped a message from '${from}': ${(error as CodecError).message}`, from, { cause: error });
      this.reported.add(e);
      this.emit('error', e);
      throw e;
    }
    count(this.counters.received, message.type);
    if (this.lifecycle === 'stopped') throw new StoppedError(`map '${this.name}' is stopped`);
    switch (message.type) {
      case MSG_BACKUP:
      case MSG_COPY:
        if (this.lifecycle === 'stopping') throw new StoppedError(`map '${this.name}' on '${this.id}' is leaving`);
        {
          const relay: Relay = { from, secondHand: false, notices: new Map(), removals: new Map() };
          for (const c of message.entries) {
            this.applyPlacement(c, Uint8Array.prototype.slice.call(c.bytes), 'remote', relay);
            this.accessed(c.key, c.version);
          }
          this.sendNotices(relay);
        }
        return this.wire({ type: MSG_ACK });
      case MSG_DIFF:
        if (this.lifecycle === 'stopping') throw new StoppedError(`map '${this.name}' on '${this.id}' is leaving`);
        this.applyDiff(message, from);
        return this.wire({ type: MSG_ACK });
      case MSG_PROXY: {
        // A placement sent by someone other than its primary is relayed news (see applyPlacement).
        const relay: Relay = { from, secondHand: false, notices: new Map(), removals: new Map() };
        for (const p of message.entries) {
          relay.secondHand = p.primary !== from;
          this.applyPlacement(p, undefined, 'remote', relay);
        }
        this.sendNotices(relay);
        return this.wire({ type: MSG_ACK });
      }
      case MSG_REMOVE: {
        // Second-hand unless sent by the delete's author (see applyRemoval).
        const relay: Relay = { from, secondHand: false, notices: new Map(), removals: new Map() };
        for (const r of message.removals) this.applyRemoval(r, 'remote', relay);
        this.sendNotices(relay);
        return this.wire({ type: MSG_ACK });
      }
      case MSG_RETRIEVE_BACKUP: {
        const e = this.entries.get(message.key);
        // "Not held here" is an error answer, not a reply: the caller's 'first' mode then keeps
        // waiting for a member that does hold the value instead of settling on this one.
        if (e?.bytes === undefined) throw new RetrieveError(`member '${this.id}' holds no value for key ${String(message.key)}`, message.key);
        const copy: HeldCopy = { version: e.version, bytes: e.bytes };
        return this.wire({
          type: MSG_VALUE,
          key: message.key,
          copy: e.lastAccess === undefined ? copy : { ...copy, idleMs: Math.max(0, Math.round(this.now() - e.lastAccess)) },
        });
      }
      case MSG_START: {
        if (this.lifecycle !== 'running' && this.lifecycle !== 'starting') throw new StoppedError(`map '${this.name}' is leaving`);
        // Snapshot first, then add: everything this member changes from now on is sent to the newcomer.
        const state = this.wire({ type: MSG_STATE, incarnation: this.incarnation, entries: this.ownedPlacements(), tombstones: this.tombstones.list() });
        // A start from an incarnation met before may be a duplicate whose reply the requester
        // ignores (it took the first one): then only our own introduction's welcome, which pushes
        // the state, brings the member up to date. A first meeting's reply is always taken.
        const metBefore = this.met.get(from) === message.incarnation;
        this.added(from, message.incarnation);
        if (!metBefore) this.stateSent.set(from, message.incarnation);
        return state;
      }
      case MSG_STOP:
        this.disappeared(from);
        return this.wire({ type: MSG_ACK });
      case MSG_PING:
        return this.wire({ type: MSG_ACK });
      case MSG_ACCESS:
        // Tomcat: the holder marks its copy accessed. By this member's clock: clocks need not agree.
        for (const key of message.keys) {
          const e = this.entries.get(key);
          if (e?.bytes !== undefined) e.lastAccess = this.now();
        }
        return this.wire({ type: MSG_ACK });
      case MSG_STATE:
      case MSG_ACK:
      case MSG_VALUE: {
        const e = new ProtocolError(`unexpected ${MESSAGE_TYPE_NAMES[message.type] ?? '?'} as a request from '${from}'`, from);
        this.reported.add(e);
      this.emit('error', e);
        throw e;
      }
    }
  }

  private wire(message: MapMessage): unknown[] {
    count(this.counters.sent, message.type);
    return mapMessageToWire(message);
  }

  // ---------------------------------------------------------------- talking

  /** Sends a map message; failures (timeouts included) come back as "no reply" from that target. */
  private async request(message: MapMessage, to: readonly string[], mode: RpcReplyMode): Promise<RpcResponse[]> {
    if (to.length === 0) return [];
    for (let i = 0; i < to.length; i++) count(this.counters.sent, message.type);
    try {
      return await this.rpc.call(mapMessageToWire(message), { mode, to, timeoutMs: this.rpcTimeoutMs, stackAtCallSite: false });
    } catch (error) {
      if (error instanceof RpcTimeoutError) {
        this.counters.rpcTimeouts++;
        return error.replies;
      }
      if (error instanceof StoppedError) return [];
      throw error;
    }
  }

  /** Sends placements to a member, in messages of bounded size (see {@link chunked}); one promise per message. */
  private sendPlacements(to: string, placements: readonly Placement[], mode: RpcReplyMode): Promise<RpcResponse[]>[] {
    return chunked(placements, placementSize).map((entries) => this.request({ type: MSG_PROXY, entries }, [to], mode));
  }

  /** Sends deletes to members, in messages of bounded size; one promise per message. */
  private sendRemovals(to: readonly string[], removals: readonly Removal[], mode: RpcReplyMode): Promise<RpcResponse[]>[] {
    return chunked(removals, removalSize).map((list) => this.request({ type: MSG_REMOVE, removals: list }, to, mode));
  }

  /** Fetches an entry's value from its holders: first reply wins; retried once if holders died meanwhile. */
  private async retrieve(entry: Entry): Promise<HeldCopy | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const current = this.entries.get(entry.key);
      if (current === undefined) return undefined;
      const holders = current.holders().filter((m) => this.peers.has(m));
      if (holders.length === 0) return undefined;
      let timedOut = false;
      let replies: RpcResponse[];
      try {
        replies = await this.rpc.call(mapMessageToWire({ type: MSG_RETRIEVE_BACKUP, key: entry.key }), {
          stackAtCallSite: false,
          mode: 'first',
          to: holders,
          timeoutMs: this.rpcTimeoutMs,
        });
      } catch (error) {
        if (!(error instanceof RpcTimeoutError)) throw error;
        this.counters.rpcTimeouts++;
        timedOut = true;
        replies = error.replies;
      }
      count(this.counters.sent, MSG_RETRIEVE_BACKUP);
      for (const r of replies) {
        if (!('reply' in r)) continue;
        try {
          const m = mapMessageFromWire(r.reply);
          if (m.type === MSG_VALUE && m.copy !== undefined) return m.copy;
        } catch (error) {
          this.emit('error', new ProtocolError(`bad value reply from '${r.from}'`, r.from, { cause: error }));
        }
      }
      const stillThere = holders.filter((m) => this.peers.has(m));
      if (stillThere.length === holders.length) {
        if (timedOut) {
          throw new RetrieveError(
            `no holder of key ${String(entry.key)} (${holders.join(', ')}) answered within ${this.rpcTimeoutMs} ms: raise rpcTimeoutMs if members are slow`,
            entry.key,
          );
        }
        return undefined;
      }
    }
    return undefined;
  }

  /** Waits for `promise`, or `rpcTimeoutMs`, whichever comes first; no timer is left behind. */
  private async withDeadline(promise: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.rpcTimeoutMs);
    });
    try {
      await Promise.race([promise, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private background(error: unknown): void {
    this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }
}

function push<T>(map: Map<string, T[]>, key: string, item: T): void {
  let list = map.get(key);
  if (list === undefined) map.set(key, (list = []));
  list.push(item);
}

function count(counter: Record<string, number>, type: number): void {
  const name = MESSAGE_TYPE_NAMES[type] ?? String(type);
  counter[name] = (counter[name] ?? 0) + 1;
}

/** @throws {TypeError} unless `key` is a string or a finite number. */
export function assertKey(key: unknown): asserts key is MapKey {
  if (!isMapKey(key)) {
    throw new TypeError(`map keys must be strings or finite numbers, got ${typeof key === 'number' ? String(key) : typeof key}`);
  }
}
