/**
 * The map both kinds share, as its users see it: the public API's checks (key, options, the
 * value's size) and delegation; the API itself is documented on {@link MapApi} (map-api.ts).
 * {@link MapAssembly} (map-assembly.ts) builds the machinery behind it: collaborators that share
 * one {@link MapContext}, each in a file named after what it does: `map-lifecycle.ts`,
 * `map-inspection.ts`, `call-order.ts`, `read-path.ts`, `write-path.ts`, `removals.ts`,
 * `conditional-writes.ts`, `publisher.ts`, `placer.ts`, `promotion.ts`, `failover.ts`,
 * `member-changes.ts`, `heal.ts`, `state-transfer.ts`, `reconciler.ts`, `expiry.ts`,
 * `message-handler.ts` (see
 * docs/architecture.md). {@link LazyReplicatedMap} and {@link ReplicatedMap} differ only in how
 * many copies an entry wants, what a non-primary holder is called, and whether a read promotes.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import { isMapKey, type MapKey } from '../codec/map-messages.js';
import { validateOptions, type OptionRules } from '../options/validate.js';
import type { Transport } from '../transport/transport.js';
import type { EvictionPolicy } from './capacity.js';
import type { CallOrder } from './call-order.js';
import type { ConditionalWrites } from './conditional-writes.js';
import { isDeltaValue } from './delta-value.js';
import type { EntryInfo } from './entry.js';
import type { Expiry } from './expiry.js';
import type { MapApi } from './map-api.js';
import { MapAssembly } from './map-assembly.js';
import type { MapContext, MapFlavour, MapState } from './map-context.js';
import { instrumentMap } from './map-diagnostics.js';
import type { MapInspection } from './map-inspection.js';
import type { MapLifecycle } from './map-lifecycle.js';
import {
  CAPACITY_OPTION_RULES,
  type StopOptions,
  DEFAULT_UPDATE_ATTEMPTS,
  GET_OPTION_RULES,
  REPLICATED_MAP_OPTION_RULES,
  SET_OPTION_RULES,
  UPDATE_OPTION_RULES,
  type GetOptions,
  type MapEvents,
  type MapStats,
  type ReplicatedMapOptions,
  type SetOptions,
  type UpdateOptions,
} from './map-options.js';
import type { ReadPath } from './read-path.js';
import type { Removals } from './removals.js';
import type { WritePath } from './write-path.js';

export type { MapFlavour, MapState } from './map-context.js';

/**
 * Base of the replicated maps. Not exported from the package: use {@link LazyReplicatedMap} or
 * {@link ReplicatedMap}. Its public members are documented on {@link MapApi} (map-api.ts).
 */
export abstract class BaseReplicatedMap<K extends MapKey, V> extends EventEmitter<MapEvents<K>> implements MapApi<K, V> {
  /** The map's name. */
  readonly name: string;
  /** The transport this map talks through. */
  readonly transport: Transport;
  /** The state the collaborators share (see map-context.ts). */
  private readonly ctx: MapContext;
  /** Start, join, stop, halt; the only writer of `MapContext.lifecycle` (see map-lifecycle.ts). */
  private readonly lifecycle: MapLifecycle<this>;
  /**
   * How long `stop()` waits for a member to hand entries to when none is there, in milliseconds
   * (option `stopWaitMs`). `stopOnSignals` checks that its own timeout is longer.
   */
  readonly stopWaitMs: number;
  /** What this member knows: size, keys, entryInfo, lastAccess, stats (see map-inspection.ts). */
  private readonly inspection: MapInspection;
  /** The order of this member's calls, and the answers they await (see call-order.ts). */
  private readonly order: CallOrder;
  /** Sweeps on demand (see expiry.ts). */
  private readonly expiry: Expiry;
  /** setIfAbsent, compareAndSet and update (see conditional-writes.ts). */
  private readonly conditional: ConditionalWrites;
  /** What `get` does (see read-path.ts). */
  private readonly reads: ReadPath;
  /** What `set`, `replicate` and `touch` do (see write-path.ts). */
  private readonly writes: WritePath;
  /** What `delete` and `clear` do, and the deletes made here not yet acknowledged (see removals.ts). */
  private readonly removals: Removals;

  /**
   * @param rules the options the map accepts; every one is checked here, before anything is
   *   built or started.
   * @throws {TypeError} for options of the wrong kind (no name, no transport, an unknown `ack`...).
   * @throws {RangeError} for a numeric option out of range, naming it.
   */
  protected constructor(options: ReplicatedMapOptions, flavour: MapFlavour, rules: OptionRules<ReplicatedMapOptions> = REPLICATED_MAP_OPTION_RULES) {
    super();
    validateOptions(new.target.name || 'map', options, rules);
    this.name = options.name;
    this.transport = options.transport;
    const parts = new MapAssembly(this, options, flavour);
    this.ctx = parts.ctx;
    this.lifecycle = parts.lifecycle;
    this.stopWaitMs = parts.lifecycle.stopWaitMs;
    this.inspection = parts.inspection;
    this.order = parts.order;
    this.expiry = parts.expiry;
    this.conditional = parts.conditional;
    this.reads = parts.reads;
    this.writes = parts.writes;
    this.removals = parts.removals;
  }

  // ---------------------------------------------------------------- lifecycle

  get id(): string {
    return this.transport.id;
  }

  get state(): MapState {
    return this.lifecycle.state;
  }

  start(): Promise<this> {
    return this.lifecycle.start();
  }

  get isReady(): boolean {
    return this.lifecycle.isReady;
  }

  whenReady(): Promise<void> {
    return this.lifecycle.whenReady();
  }

  stop(options: StopOptions = {}): Promise<void> {
    return this.lifecycle.stop(options);
  }

  // ---------------------------------------------------------------- reading

  members(): string[] {
    return this.inspection.members();
  }

  get size(): number {
    return this.inspection.size;
  }

  has(key: K): boolean {
    assertKey(key);
    return this.inspection.has(key);
  }

  keys(): IterableIterator<K> {
    return this.inspection.keys() as IterableIterator<K>;
  }

  entryInfo(key: K): EntryInfo | undefined {
    assertKey(key);
    return this.inspection.entryInfo(key);
  }

  lastAccess(key: K): number | undefined {
    assertKey(key);
    return this.inspection.lastAccess(key);
  }

  configureCapacity(limits: { maxEntries?: number; maxBytes?: number; evictionPolicy?: EvictionPolicy }): void {
    validateOptions(`${this.constructor.name}.configureCapacity`, limits, CAPACITY_OPTION_RULES);
    this.ctx.capacity.configure(limits);
  }

  capacityLimits(): { maxEntries: number | undefined; maxBytes: number | undefined; evictionPolicy: EvictionPolicy } {
    return this.ctx.capacity.limits();
  }

  stats(): MapStats {
    return this.inspection.stats();
  }

  // get, replicate and touch are not `async`: an async function that returns the call's own
  // promise settles its own a few microtasks later, on every call (see rejecting()).
  get(key: K, options: GetOptions = {}): Promise<V | undefined> {
    return rejecting(() => {
      assertKey(key);
      validateOptions(`${this.constructor.name}.get`, options, GET_OPTION_RULES);
      return this.order.inOrder(() => this.reads.read(key, options) as Promise<V | undefined>, undefined, [key]);
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<[K, V]> {
    return this.inspection.entries((key) => this.get(key as K, { promote: false })) as AsyncIterator<[K, V]>;
  }

  // ---------------------------------------------------------------- writing

  async set(key: K, value: V, options: SetOptions = {}): Promise<this> {
    assertKey(key);
    validateOptions(`${this.constructor.name}.set`, options, SET_OPTION_RULES);
    const bytes = this.encodeFitting(key, value);
    // A running map writes at once: no turn of the event loop between the call and the write.
    await this.order.inOrder(() => this.writes.store(key, value, bytes, options), [key]);
    return this;
  }

  /**
   * `value`'s bytes, once they fit the cluster's frame limit with `alongBytes` more sent with
   * them. Checked before anything changes (the value's diff included): a copy no backup would
   * accept must not be written here either, or this member would hold what no other member can.
   * The bytes hold every change so far; changes made from now on are the next diff.
   */
  private encodeFitting(key: K, value: V, alongBytes = 0): Uint8Array {
    const bytes = this.ctx.codec.encode(value);
    this.writes.assertFits(key, bytes.byteLength + alongBytes, undefined, value);
    if (isDeltaValue(value)) value.resetDiff();
    return bytes;
  }

  // ---------------------------------------------------------------- conditional writes

  async setIfAbsent(key: K, value: V, options: SetOptions = {}): Promise<boolean> {
    assertKey(key);
    validateOptions(`${this.constructor.name}.setIfAbsent`, options, SET_OPTION_RULES);
    return this.conditional.setIfAbsent(key, value, this.encodeFitting(key, value), options);
  }

  async compareAndSet(key: K, expected: V, value: V, options: SetOptions = {}): Promise<boolean> {
    assertKey(key);
    validateOptions(`${this.constructor.name}.compareAndSet`, options, SET_OPTION_RULES);
    const want = this.ctx.codec.encode(expected);
    // The request carries both: it must fit a frame to the primary.
    return this.conditional.compareAndSet(key, want, value, this.encodeFitting(key, value, want.byteLength), options);
  }

  async update(key: K, fn: (old: V | undefined) => V, options: UpdateOptions = {}): Promise<V> {
    assertKey(key);
    if (typeof fn !== 'function') throw new TypeError(`${this.constructor.name}.update: fn must be a function (old value => new value), got ${typeof fn}`);
    validateOptions(`${this.constructor.name}.update`, options, UPDATE_OPTION_RULES);
    const { maxAttempts = DEFAULT_UPDATE_ATTEMPTS, ...expiry } = options;
    return (await this.conditional.update(key, fn as (old: unknown) => unknown, expiry, maxAttempts)) as V;
  }

  replicate(key: K, complete = false): Promise<void> {
    return rejecting(() => {
      assertKey(key);
      return this.order.inOrder(() => this.writes.push(key, complete), [key]);
    });
  }

  touch(key: K): Promise<boolean> {
    return rejecting(() => {
      assertKey(key);
      return this.order.inOrder(() => this.writes.use(key), undefined, [key]);
    });
  }

  sweep(): Promise<number> {
    // After stop() it rejects, as every other call does, rather than throwing at the caller.
    return rejecting(() => {
      this.lifecycle.assertUsable();
      return this.expiry.sweep();
    });
  }

  async delete(key: K): Promise<boolean> {
    assertKey(key);
    return this.order.inOrder(() => this.removals.delete(key), [key]);
  }

  async clear(): Promise<void> {
    return this.order.inOrder(() => this.removals.clear(), 'all');
  }
}

/**
 * `call()`'s promise, or a rejected one when `call` throws: what an `async` method that returns
 * `call()` gives its caller (a thrown non-Error becomes an Error), without the promise of its own
 * that such a method settles a few microtasks after `call()`'s. Measured with the session store:
 * 6 promises fewer per writing request (its `get` and `replicate`), 4 per reading one (docs/
 * performance.md, "Promise hops per session request"). A bad argument still rejects, never throws.
 */
function rejecting<T>(call: () => Promise<T>): Promise<T> {
  try {
    return call();
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

// Traced operations and 'error' events on node:diagnostics_channel (docs/observability.md).
instrumentMap(BaseReplicatedMap.prototype);

/** @throws {TypeError} unless `key` is a string or a finite number. */
export function assertKey(key: unknown): asserts key is MapKey {
  if (!isMapKey(key)) {
    throw new TypeError(`map keys must be strings or finite numbers, got ${typeof key === 'number' ? String(key) : typeof key}`);
  }
}
