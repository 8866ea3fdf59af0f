/**
 * Bounded memory: what this member holds of a map, by role, kept up to date at every change of
 * an entry (never by scanning the entries), and the limits `maxEntries` / `maxBytes` with their
 * `evictionPolicy` (docs/map.md, "Bounded memory").
 *
 * The entry table tells the ledger of every entry added or removed, and each entry in the table
 * tells it when its role or bytes change (see `Entry.ledger`), so every count here is exact at
 * every moment at O(1) per change. Eviction candidates (the entries this member is primary of)
 * sit in an array with their index kept on the entry, so a random sample costs O(sample) and
 * adding or removing a candidate O(1): Redis samples its keyspace the same way rather than keep
 * an exact LRU list.
 *
 * @module
 */
import { CapacityError } from '../errors.js';
import type { MapKey } from '../codec/map-messages.js';
import type { Entry, EntryLedger, EntryRole } from './entry.js';
import type { Tombstones } from './tombstones.js';

/**
 * What a member does when a limit is reached.
 * - `reject`: a write of a key not held here fails with {@link CapacityError} (Tomcat's
 *   `maxActiveSessions`); nothing is ever evicted.
 * - `lru`: the least recently used of a random sample of the entries this member is primary of
 *   is deleted from every member (Redis `allkeys-lru`).
 * - `ttl-first`: of the sample, the entry closest to its expiry first, then the least recently
 *   used (entries without expiry rank after those with one; Redis `volatile-ttl`, then LRU).
 */
export type EvictionPolicy = 'lru' | 'ttl-first' | 'reject';

/** Entries sampled for each eviction, as Redis' `maxmemory-samples`. */
export const DEFAULT_EVICTION_SAMPLE = 5;

/**
 * The estimated heap cost of a proxy's metadata, in bytes, besides its key (the entry and its
 * version fields, the table slot; ids and backup lists are shared through the interner). Rounded
 * up from the measure: a proxy of a 32-character key costs 205 B with its key (`npm run bench --
 * --only=heap`), so 224 B plus the key's length over-counts a little, as a limit should.
 */
export const PROXY_METADATA_BYTES = 224;

/**
 * The estimated heap cost of one remembered delete (a tombstone: key, version, time, its slot in
 * the map), in bytes: measured 298 B with a 32-character key (`npm run bench -- --only=eviction`).
 * Turns `maxBytes` into the default count of tombstones kept when only `maxBytes` is set.
 */
export const TOMBSTONE_BYTES = 300;

/**
 * The fewest tombstones the default bound keeps on a member with a limit: a small cache (a
 * `maxSessions` of 100, the consistency checker's `maxEntries: 2`) still remembers its deletes
 * for a useful time, for about 3 MB (10,000 × {@link TOMBSTONE_BYTES}).
 */
export const MIN_DEFAULT_TOMBSTONES = 10_000;

/** One role's share of what this member holds. */
export interface RoleHolding {
  /** Keys known here in this role. */
  entries: number;
  /**
   * Bytes they cost by the map's accounting: the encoded values held (primaries, backups,
   * copies, and the spare copy a proxy may keep), plus {@link PROXY_METADATA_BYTES} and the key's
   * length per proxy.
   */
  bytes: number;
}

/** What `map.stats().capacity` reports. */
export interface CapacityStats {
  /** Values held here (primaries, backups, copies): what `maxEntries` limits. */
  entries: number;
  /** Bytes held here, every role included: what `maxBytes` limits. */
  bytes: number;
  /** The `maxEntries` option; `undefined`: no limit. */
  maxEntries: number | undefined;
  /** The `maxBytes` option; `undefined`: no limit. */
  maxBytes: number | undefined;
  /** The `evictionPolicy` option. */
  evictionPolicy: EvictionPolicy;
  /** Entries this member evicted (deleted from every member as their primary), since start. */
  evicted: number;
  /** Writes refused with {@link CapacityError} (policy `reject`), since start. */
  rejected: number;
  /**
   * Values taken in while this member was at or over a limit and could not (or, under `reject`,
   * may not) make room: copies from primaries, failover, handover, a snapshot, an update that
   * grew. They are kept, never refused: refusing a copy would lose the write's redundancy.
   */
  overLimit: number;
  /** Deletes remembered here now (the same as `stats().tombstones`). */
  tombstones: number;
  /**
   * At most this many deletes are remembered here (the `maxTombstones` option, or its default
   * when a limit is set); `undefined`: no count limit, only `tombstoneTtlMs`.
   */
  maxTombstones: number | undefined;
  /**
   * Deletes forgotten because of `maxTombstones` before `tombstoneTtlMs` ran out, since start:
   * each is a key an older copy could bring back after a partition (docs/map.md, "Bounded memory").
   */
  tombstonesForgotten: number;
}

/** The limits of one map on one member; see `ReplicatedMapOptions`. */
export interface CapacityOptions {
  readonly maxEntries?: number | undefined;
  readonly maxBytes?: number | undefined;
  readonly evictionPolicy?: EvictionPolicy | undefined;
  readonly evictionSample?: number | undefined;
  readonly evictable?: ((key: MapKey) => boolean) | undefined;
  readonly maxTombstones?: number | undefined;
}

/**
 * The count of deletes a member remembers: `maxTombstones` if given; else, with a limit, as many
 * as `maxEntries` (or as `maxBytes` would hold at {@link TOMBSTONE_BYTES} each), and at least
 * {@link MIN_DEFAULT_TOMBSTONES}; without a limit, no count (only `tombstoneTtlMs`, as before
 * limits existed).
 */
export function tombstoneBound(limits: { maxEntries?: number | undefined; maxBytes?: number | undefined; maxTombstones?: number | undefined }): number | undefined {
  if (limits.maxTombstones !== undefined) return limits.maxTombstones;
  const base = limits.maxEntries ?? (limits.maxBytes === undefined ? undefined : Math.floor(limits.maxBytes / TOMBSTONE_BYTES));
  return base === undefined ? undefined : Math.max(base, MIN_DEFAULT_TOMBSTONES);
}

/** What the ledger asks of the map. */
export interface CapacityHost {
  /** The map's and member's names, for error messages. */
  readonly name: string;
  readonly id: string;
  /** Whether the map serves now (eviction waits until it does). */
  running(): boolean;
  /** Deletes `keys` on every member as their primary (the map's delete path), reporting each as evicted. */
  evict(keys: MapKey[], reason: 'maxEntries' | 'maxBytes'): void;
}

const ROLES: readonly EntryRole[] = ['primary', 'backup', 'copy', 'proxy'];

/** The accounting and the limits of one map on one member. */
export class Capacity implements EntryLedger {
  /** By role, in the order of {@link ROLES}. */
  private readonly held: Record<EntryRole, RoleHolding> = { primary: { entries: 0, bytes: 0 }, backup: { entries: 0, bytes: 0 }, copy: { entries: 0, bytes: 0 }, proxy: { entries: 0, bytes: 0 } };
  /** Entries this member is primary of that may be evicted; each knows its index (`Entry.slot`). */
  private readonly candidates: Entry[] = [];
  private maxEntries: number | undefined;
  private maxBytes: number | undefined;
  private policy: EvictionPolicy;
  private readonly sample: number;
  private readonly evictable: ((key: MapKey) => boolean) | undefined;
  /** The logical clock of uses (see `Entry.lastUse`): cheaper than a wall clock, and total. */
  private tick = 0;
  /** State of the sampling generator (deterministic per member id: reproducible evictions). */
  private seed: number;
  private passQueued = false;
  private host: CapacityHost | undefined;
  private evicted = 0;
  private rejected = 0;
  private overLimit = 0;
  private readonly maxTombstones: number | undefined;
  private readonly tombstones: Tombstones | undefined;

  /** @param tombstones the map's deletes, bounded in count by the limits (see {@link tombstoneBound}). */
  constructor(options: CapacityOptions, seedFrom: string, tombstones?: Tombstones) {
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes;
    this.maxTombstones = options.maxTombstones;
    this.tombstones = tombstones;
    tombstones?.bound(tombstoneBound(options));
    this.policy = options.evictionPolicy ?? 'reject';
    this.sample = options.evictionSample ?? DEFAULT_EVICTION_SAMPLE;
    this.evictable = options.evictable;
    let h = 2166136261;
    for (let i = 0; i < seedFrom.length; i++) h = Math.imul(h ^ seedFrom.charCodeAt(i), 16777619);
    this.seed = h >>> 0;
  }

  /** Connects the ledger to its map (the map is built after its context). */
  attach(host: CapacityHost): void {
    this.host = host;
  }

  /** Whether a limit is set. */
  get limited(): boolean {
    return this.maxEntries !== undefined || this.maxBytes !== undefined;
  }

  /** The limits now. */
  limits(): { maxEntries: number | undefined; maxBytes: number | undefined; evictionPolicy: EvictionPolicy } {
    return { maxEntries: this.maxEntries, maxBytes: this.maxBytes, evictionPolicy: this.policy };
  }

  /**
   * Sets the limits after construction (the session and Keyv stores map theirs onto the map).
   * Candidates are tracked from the start whatever the policy, so a change needs no scan.
   */
  configure(limits: CapacityOptions): void {
    if (limits.maxEntries !== undefined) this.maxEntries = limits.maxEntries;
    if (limits.maxBytes !== undefined) this.maxBytes = limits.maxBytes;
    if (limits.evictionPolicy !== undefined) this.policy = limits.evictionPolicy;
    // A store's limit set after start bounds the deletes as the same option would have.
    this.tombstones?.bound(tombstoneBound({ maxEntries: this.maxEntries, maxBytes: this.maxBytes, maxTombstones: this.maxTombstones }));
    this.check();
  }

  /** Values held here: primaries, backups, copies. */
  get values(): number {
    return this.held.primary.entries + this.held.backup.entries + this.held.copy.entries;
  }

  /** Bytes held here, every role included. */
  get bytes(): number {
    return this.held.primary.bytes + this.held.backup.bytes + this.held.copy.bytes + this.held.proxy.bytes;
  }

  /** Per role, copied. */
  byRole(): Record<EntryRole, RoleHolding> {
    const out = {} as Record<EntryRole, RoleHolding>;
    for (const r of ROLES) out[r] = { ...this.held[r] };
    return out;
  }

  /** The counters of `stats().capacity`. */
  stats(): CapacityStats {
    return { entries: this.values, bytes: this.bytes, maxEntries: this.maxEntries, maxBytes: this.maxBytes, evictionPolicy: this.policy, evicted: this.evicted, rejected: this.rejected, overLimit: this.overLimit,
      tombstones: this.tombstones?.size ?? 0, maxTombstones: this.tombstones?.limit, tombstonesForgotten: this.tombstones?.forgotten ?? 0 };
  }

  // ---------------------------------------------------------------- accounting (entry table hooks)

  /** `entry` joined the table. */
  added(entry: Entry): void {
    const h = this.held[entry.role];
    h.entries++;
    h.bytes += cost(entry.role, entry);
    if (entry.role === 'primary') this.enlist(entry);
    if (entry.role !== 'proxy') this.grew();
  }

  /** `entry` left the table. */
  removed(entry: Entry): void {
    const h = this.held[entry.role];
    h.entries--;
    h.bytes -= cost(entry.role, entry);
    this.delist(entry);
  }

  /** `entry`, in the table, was `before` (role and bytes' length) and is now what it is. */
  changed(entry: Entry, role: EntryRole, bytes: number): void {
    const now = entry.role;
    const was = this.held[role];
    was.bytes -= bytes + (role === 'proxy' ? proxyCost(entry.key) : 0);
    if (role !== now) {
      was.entries--;
      this.held[now].entries++;
      if (now === 'primary') this.enlist(entry);
      else if (role === 'primary') this.delist(entry);
    }
    const more = cost(now, entry);
    this.held[now].bytes += more;
    if ((role === 'proxy' && now !== 'proxy') || more > bytes) this.grew();
  }

  /** `entry`'s bytes, counted as `bytes` long, were encoded again (see `Entry.deferEncoding`). */
  resized(entry: Entry, bytes: number): void {
    this.held[entry.role].bytes += entry.byteCount - bytes;
  }

  /** The table was emptied (the map halted). */
  cleared(): void {
    for (const r of ROLES) this.held[r] = { entries: 0, bytes: 0 };
    for (const e of this.candidates) e.slot = -1;
    this.candidates.length = 0;
  }

  /** `entry` is about to stop being primary here: no longer a candidate. */
  demoting(entry: Entry): void {
    this.delist(entry);
  }

  /** Counts a use of `entry` held here (a write, read or touch here) for the LRU. */
  used(entry: Entry): void {
    entry.lastUse = ++this.tick;
  }

  private enlist(entry: Entry): void {
    if (entry.slot >= 0 || (this.evictable !== undefined && !this.evictable(entry.key))) return;
    if (entry.lastUse === 0) entry.lastUse = ++this.tick;
    entry.slot = this.candidates.length;
    this.candidates.push(entry);
  }

  private delist(entry: Entry): void {
    const i = entry.slot;
    if (i < 0) return;
    const last = this.candidates.pop() as Entry;
    if (last !== entry) {
      this.candidates[i] = last;
      last.slot = i;
    }
    entry.slot = -1;
  }

  // ---------------------------------------------------------------- limits

  /** The limit this member is over (or would be with `entries` / `bytes` more), if any. */
  private over(entries = 0, bytes = 0): 'maxEntries' | 'maxBytes' | undefined {
    const n = this.values + entries;
    const b = this.bytes + bytes;
    if (this.maxEntries !== undefined && n > this.maxEntries) return 'maxEntries';
    if (this.maxBytes !== undefined && b > this.maxBytes) return 'maxBytes';
    return undefined;
  }

  /**
   * Before a write of `key` with `bytes` of value here, before anything is sent or changed.
   * A key held here already (an update) is always accepted. A new one, when the member is at a
   * limit: rejected under `reject`; under `lru` / `ttl-first`, entries are evicted first to
   * make room, as Redis evicts before it runs a write.
   * @throws {CapacityError} under `reject`, naming the limit and the option; under any policy
   *   for a value larger than `maxBytes` on its own.
   */
  beforeWrite(key: MapKey, current: Entry | undefined, bytes: number): void {
    if (!this.limited || (current !== undefined && current.role !== 'proxy')) return;
    if (this.maxBytes !== undefined && bytes > this.maxBytes) {
      // Whatever the policy: no eviction can make room for it, and an evicting policy would
      // empty the member and then evict the new key itself.
      this.rejected++;
      throw new CapacityError(
        `map '${this.host?.name}' on member '${this.host?.id}' cannot hold key ${String(key)}: its value takes ${bytes} bytes, more than maxBytes (${this.maxBytes}). Store a smaller value or raise maxBytes`,
        'maxBytes',
        this.maxBytes,
      );
    }
    const full = this.over(1, bytes);
    if (full === undefined) return;
    if (this.policy === 'reject') {
      this.rejected++;
      const host = this.host;
      const limit = full === 'maxEntries' ? `${this.maxEntries} values held (it holds ${this.values})` : `${this.maxBytes} bytes (it holds ${this.bytes}, the value needs ${bytes})`;
      throw new CapacityError(
        `map '${host?.name}' on member '${host?.id}' is full: a new key ${String(key)} would exceed ${full} of ${limit}. Delete keys, raise ${full}, or choose evictionPolicy 'lru' or 'ttl-first'`,
        full,
        full === 'maxEntries' ? (this.maxEntries as number) : (this.maxBytes as number),
      );
    }
    this.evictWhile(() => this.over(1, bytes));
  }

  /** Something held here grew: make room (or report it) once the current turn is over. */
  private grew(): void {
    if (this.passQueued || !this.limited || this.over() === undefined) return;
    this.passQueued = true;
    // After the change that made it grow is complete (an entry is added before its placement is
    // set, a promotion changes the role before the publication).
    queueMicrotask(() => {
      this.passQueued = false;
      this.check();
    });
  }

  /** Evicts while over a limit (policy permitting); reports what stays over. */
  check(): void {
    if (this.host?.running() !== true || this.over() === undefined) return;
    if (this.policy !== 'reject') this.evictWhile(() => this.over());
    if (this.over() !== undefined) this.overLimit++;
  }

  private evictWhile(over: () => 'maxEntries' | 'maxBytes' | undefined): void {
    let why: 'maxEntries' | 'maxBytes' | undefined;
    // Each victim leaves the candidates and, through the delete, the counts: the loop sees the room made.
    while ((why = over()) !== undefined && this.candidates.length > 0) {
      const victim = this.choose();
      this.evicted++;
      this.host?.evict([victim.key], why);
      // The delete took it out of the table at once; should it not have, it must not be chosen again.
      this.delist(victim);
    }
  }

  /** The victim of a sample: the least recently used (`ttl-first`: the first to expire, then so). */
  private choose(): Entry {
    const c = this.candidates;
    const n = Math.min(this.sample, c.length);
    let best: Entry | undefined;
    // Sampled with replacement (Redis does the same); a sample of every candidate is exact.
    for (let i = 0; i < n; i++) {
      const e = n === c.length ? (c[i] as Entry) : (c[this.next() % c.length] as Entry);
      if (best === undefined || this.before(e, best)) best = e;
    }
    return best as Entry;
  }

  /** Whether `a` should go before `b`. */
  private before(a: Entry, b: Entry): boolean {
    if (this.policy === 'ttl-first') {
      const ta = a.expiresAt ?? Infinity;
      const tb = b.expiresAt ?? Infinity;
      if (ta !== tb) return ta < tb;
    }
    return a.lastUse < b.lastUse;
  }

  /** mulberry32: a tiny seeded generator, so that a member's evictions are reproducible. */
  private next(): number {
    let t = (this.seed = (this.seed + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
}

/** A map whose limits a store can set (the maps' `configureCapacity` and `capacityLimits`). */
export interface CapacityConfigurable {
  readonly name?: string;
  configureCapacity?(limits: { maxEntries?: number; maxBytes?: number; evictionPolicy?: EvictionPolicy }): void;
  capacityLimits?(): { maxEntries: number | undefined; maxBytes: number | undefined; evictionPolicy: EvictionPolicy };
}

/**
 * Sets a store's limit on its map (`owner`'s option `option`): the map's limit becomes the
 * store's. A map that has a different limit already (its own options, or another store on it)
 * is a configuration error, not something to override silently.
 * @throws {TypeError} when the map cannot take limits, or has different ones.
 */
export function applyStoreLimit(owner: string, option: string, map: CapacityConfigurable, limits: { maxEntries?: number | undefined; maxBytes?: number | undefined; evictionPolicy: EvictionPolicy }): void {
  if (typeof map.configureCapacity !== 'function' || typeof map.capacityLimits !== 'function') {
    throw new TypeError(`${owner} option \`${option}\` needs a LazyReplicatedMap or ReplicatedMap (with configureCapacity): set the limit on your map instead`);
  }
  const now = map.capacityLimits();
  const clash = (['maxEntries', 'maxBytes'] as const).find((k) => limits[k] !== undefined && now[k] !== undefined && now[k] !== limits[k]);
  if (clash !== undefined || ((now.maxEntries !== undefined || now.maxBytes !== undefined) && now.evictionPolicy !== limits.evictionPolicy)) {
    throw new TypeError(
      `${owner} option \`${option}\` asks map '${String(map.name)}' for ${JSON.stringify(limits)}, but the map already has maxEntries ${String(now.maxEntries)}, maxBytes ${String(now.maxBytes)}, evictionPolicy '${now.evictionPolicy}': set the limit in one place only`,
    );
  }
  const wanted: { maxEntries?: number; maxBytes?: number; evictionPolicy: EvictionPolicy } = { evictionPolicy: limits.evictionPolicy };
  if (limits.maxEntries !== undefined) wanted.maxEntries = limits.maxEntries;
  if (limits.maxBytes !== undefined) wanted.maxBytes = limits.maxBytes;
  map.configureCapacity(wanted);
}

/** What `entry` costs in `role`. */
function cost(role: EntryRole, entry: Entry): number {
  // byteCount, not bytes: counting must not encode a value whose encoding is deferred.
  return entry.byteCount + (role === 'proxy' ? proxyCost(entry.key) : 0);
}

function proxyCost(key: MapKey): number {
  return PROXY_METADATA_BYTES + (typeof key === 'string' ? key.length : 8);
}

/**
 * The map's table of entries: a `Map` that tells the {@link Capacity} of every entry added,
 * replaced or removed, and lends it to the entry so that the entry tells it of its own changes.
 */
export class EntryTable extends Map<MapKey, Entry> {
  readonly capacity: Capacity;

  constructor(capacity: Capacity) {
    super();
    this.capacity = capacity;
  }

  override set(key: MapKey, entry: Entry): this {
    const before = super.get(key);
    if (before === entry) return this;
    if (before !== undefined) this.detach(before);
    super.set(key, entry);
    entry.ledger = this.capacity;
    this.capacity.added(entry);
    return this;
  }

  override delete(key: MapKey): boolean {
    const entry = super.get(key);
    if (entry === undefined) return false;
    this.detach(entry);
    return super.delete(key);
  }

  override clear(): void {
    for (const e of super.values()) e.ledger = undefined;
    this.capacity.cleared();
    super.clear();
  }

  private detach(entry: Entry): void {
    this.capacity.removed(entry);
    entry.ledger = undefined;
  }
}
