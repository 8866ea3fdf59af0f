/**
 * The state one map shares with its collaborators (publication, promotion, failover, state
 * transfer, reconciliation, message handler): entries, tombstones, clock, interner, members,
 * counters and options. Each collaborator declares the slice of it that it uses.
 *
 * @module
 */
import type { EventEmitter } from 'eventemitter3';
import { StoppedError } from '../errors.js';
import { MESSAGE_TYPE_NAMES, type MSG_BACKUP, type MSG_COPY } from '../codec/message-types.js';
import type { MapKey } from '../codec/map-messages.js';
import type { ValueCodec } from '../codec/value-codec.js';
import type { Membership } from '../membership/membership.js';
import type { RpcChannel } from '../rpc/rpc-channel.js';
import { NOT_DECODED, type Entry, type EntryRole } from './entry.js';
import { Interner } from './interner.js';
import { Placer } from './placer.js';
import type { IdsBound } from './message-size.js';
import type { AckMode, MapEvents, MapState } from './map-options.js';
import { Tombstones } from './tombstones.js';
import { Capacity, EntryTable, type CapacityOptions } from './capacity.js';
import { LamportClock } from './version.js';

// Declared with the settings, where the stores (which must not see the shared state) find it.
export type { MapState } from './map-options.js';

/** What the subclasses decide. */
export interface MapFlavour {
  /**
   * Copies each entry wants besides the primary, given the number of other members: what the map
   * promises (it may be more than there are members; see {@link MapContext.wanted}).
   */
  desiredBackups(otherMembers: number): number;
  /** The role name of a non-primary holder. */
  readonly holderRole: 'backup' | 'copy';
  /** The message that carries copies. */
  readonly copyMessage: typeof MSG_BACKUP | typeof MSG_COPY;
  /** Whether `get` makes this member primary by default. */
  readonly promoteOnRead: boolean;
  /**
   * Whether a member that holds a copy serves reads from it (`ReplicatedMap`: reads are local
   * everywhere, and writes are made where they are called). Otherwise every read and write of a
   * key is ordered by its primary (see ConditionalWrites).
   */
  readonly readsCopies: boolean;
}

/** Counters behind `map.stats()`. */
export interface MapCounters {
  /** Messages sent, by type name. */
  readonly sent: Record<string, number>;
  /** Messages received, by type name. */
  readonly received: Record<string, number>;
  /** Promotions by a read. */
  promotions: number;
  /** Promotions because a primary disappeared. */
  failovers: number;
  /** Requests whose deadline passed. */
  rpcTimeouts: number;
}

/** The events collaborators raise; the map (the facade) is the emitter. */
export type MapEmitter = Pick<EventEmitter<MapEvents>, 'emit'>;

/** Settings of a {@link MapContext}: its fields of the same names, and how long a delete is remembered (ms). */
export type MapContextOptions = Pick<MapContext, 'name' | 'id' | 'flavour' | 'rpcTimeoutMs' | 'ackMode' | 'codec' | 'now' | 'members' | 'events' | 'frameLimit'> & {
  readonly tombstoneTtlMs: number;
  /** The limits of what this member holds (see capacity.ts). */
  readonly capacity?: CapacityOptions;
};

// Declared with the placer, which compares lists of backups; re-exported for the publisher.
export { sameMembers } from './placer.js';

/** The state of one map on one member, shared by its collaborators. */
export class MapContext {
  /** The map's name. */
  readonly name: string;
  /** This member's id. */
  readonly id: string;
  /** What the kind of map decides. */
  readonly flavour: MapFlavour;
  /** Deadline of every request, in milliseconds. */
  readonly rpcTimeoutMs: number;
  /** What a write waits for. */
  readonly ackMode: AckMode;
  /** The value codec. */
  readonly codec: ValueCodec;
  /** The wall clock of tombstones and of entries' last access. */
  readonly now: () => number;
  /** The map's live members. */
  readonly members: Membership;
  /** Where events go. */
  readonly events: MapEmitter;
  /**
   * The largest frame every member's transport accepts, in bytes (`Infinity`: no limit declared);
   * see `ChannelRouter.frameLimit`. Read at each use: members that join may lower it.
   */
  readonly frameLimit: () => number;
  /** Every key known here, in any role; what it holds is counted in {@link capacity}. */
  readonly entries: Map<MapKey, Entry>;
  /** What this member holds, by role, and its limits. */
  readonly capacity: Capacity;
  /** Deletes remembered. */
  readonly tombstones: Tombstones;
  /** The version clock. */
  readonly clock = new LamportClock();
  /** Shares ids, keys and lists between entries. */
  readonly interner = new Interner();
  /** Counters behind `map.stats()`. */
  readonly counters: MapCounters = { sent: {}, received: {}, promotions: 0, failovers: 0, rpcTimeouts: 0 };
  /** Where the map is in its life; written only by `MapLifecycle` (map-lifecycle.ts). */
  lifecycle: MapState = 'new';
  /**
   * Set while stopping once this member sent its `MSG_STOP`: from then on it meets nobody new and
   * takes nothing over (whatever it claimed would be published after its goodbye).
   */
  saidGoodbye = false;
  /** The map's channel, once opened. */
  channel: RpcChannel | undefined;
  /** Chooses the backups of the entries owned here and versions their placements (see placer.ts). */
  readonly placer: Placer;

  /** @param options see {@link MapContextOptions}. */
  constructor(options: MapContextOptions) {
    this.name = options.name;
    this.id = options.id;
    this.flavour = options.flavour;
    this.rpcTimeoutMs = options.rpcTimeoutMs;
    this.ackMode = options.ackMode;
    this.codec = options.codec;
    this.now = options.now;
    this.members = options.members;
    this.events = options.events;
    this.frameLimit = options.frameLimit;
    this.tombstones = new Tombstones(options.tombstoneTtlMs, options.now);
    this.capacity = new Capacity(options.capacity ?? {}, options.id, this.tombstones);
    this.entries = new EntryTable(this.capacity);
    this.placer = new Placer({ id: this.id, members: this.members, interner: this.interner, wanted: () => this.wanted() });
  }

  /** The map's channel. @throws {StoppedError} before `start()`. */
  get rpc(): RpcChannel {
    if (this.channel === undefined) throw new StoppedError(`map '${this.name}' is not started: await map.start() first`);
    return this.channel;
  }

  /** True while the map serves (or is joining). */
  get serving(): boolean {
    return this.lifecycle === 'running' || this.lifecycle === 'starting';
  }

  /**
   * Who may be named in a frame about an entry not placed yet, for its size bound: this member and
   * every member known or admitted (reachable, or with its departure on its way), each possibly a
   * backup.
   */
  idsBound(): IdsBound {
    // Asked at each replicate (its frame bound), so kept while neither list changes: both are the
    // same arrays until they do. The admitted members include the reachable ones.
    const members = this.members.sorted();
    const admitted = this.members.admitted();
    const last = this.lastIdsBound;
    if (last?.members === members && last.admitted === admitted) return last.bound;
    const ids = [...new Set([this.id, ...members, ...admitted])];
    const bound = { ids, backups: ids.length };
    this.lastIdsBound = { members, admitted, bound };
    return bound;
  }

  /** The last {@link idsBound}, and the lists it was computed from. */
  private lastIdsBound: { readonly members: readonly string[]; readonly admitted: readonly string[]; readonly bound: IdsBound } | undefined;

  /** Backups each entry wants now. */
  wanted(): number {
    const others = this.members.size;
    return Math.min(this.flavour.desiredBackups(others), others);
  }

  /**
   * Backups each entry is promised: the `backups` option (every other member for a replicated
   * map), even when fewer members are live. An entry holding fewer is under-replicated.
   */
  promised(): number {
    return this.flavour.desiredBackups(this.members.size);
  }

  /** This member's role in a placement. */
  roleFor(primary: string, backups: readonly string[]): EntryRole {
    if (primary === this.id) return 'primary';
    return backups.includes(this.id) ? this.flavour.holderRole : 'proxy';
  }

  /** The value of an entry held here, decoded once for an owner. */
  decoded(entry: Entry): unknown {
    // A backup's decoded copy, kept while diffs are applied to it (Entry.deferEncoding), is never
    // handed out: a reader gets a value of its own, decoded from the bytes (encoded now).
    if (entry.value === NOT_DECODED || entry.role !== 'primary') {
      if (entry.bytes === undefined) return undefined;
      const value = this.codec.decode(entry.bytes);
      // Only an owner keeps the decoded value: a backup's memory is its bytes.
      if (entry.role === 'primary') entry.value = value;
      return value;
    }
    return entry.value;
  }

  /** Lets `work` run on; a failure becomes an `'error'` event, since nobody awaits it. */
  background(work: Promise<unknown>): void {
    void work.catch((error: unknown) => {
      this.events.emit('error', error instanceof Error ? error : new Error(String(error)));
    });
  }

  /** Counts a message of `type` in `counter`, by its Tomcat name. */
  private count(counter: Record<string, number>, type: number): void {
    const name = MESSAGE_TYPE_NAMES[type] ?? String(type);
    counter[name] = (counter[name] ?? 0) + 1;
  }

  /** Counts a message of `type` sent (once per member it goes to). */
  countSent(type: number): void {
    this.count(this.counters.sent, type);
  }

  /** Counts a message of `type` received. */
  countReceived(type: number): void {
    this.count(this.counters.received, type);
  }

  /** Counts a promotion: by a read (or a handover for one), or by a failover. */
  countPromotion(why: 'read' | 'failover'): void {
    if (why === 'read') this.counters.promotions++;
    else this.counters.failovers++;
  }

  /** Counts a request whose deadline passed. */
  countTimeout(): void {
    this.counters.rpcTimeouts++;
  }

  /** This member sent its goodbye (see Departure): sets {@link saidGoodbye}, which only a departure does. */
  markGoodbye(): void {
    this.saidGoodbye = true;
  }
}

/** Appends `item` to the list under `key`, creating the list. */
export function push<T>(map: Map<string, T[]>, key: string, item: T): void {
  let list = map.get(key);
  if (list === undefined) map.set(key, (list = []));
  list.push(item);
}
