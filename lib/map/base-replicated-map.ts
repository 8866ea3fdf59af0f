/**
 * The map both kinds share, as its users see it: lifecycle and the public API. The machinery
 * behind it lives in collaborators that share one {@link MapContext}, each in a file named after
 * what it does: `publisher.ts`, `promotion.ts`, `failover.ts`, `state-transfer.ts`,
 * `reconciler.ts`, `message-handler.ts`. {@link LazyReplicatedMap} and {@link ReplicatedMap}
 * differ only in how many copies an entry wants, what a non-primary holder is called, and whether
 * a read promotes.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import { ConditionalWriteError, DataLossError, NotStartedError, StoppedError } from '../errors.js';
import { isMapKey, type Handover, type MapKey, type Removal } from '../codec/map-messages.js';
import { MSG_ACCESS } from '../codec/message-types.js';
import { defaultValueCodec } from '../codec/value-codec.js';
import { Membership } from '../membership/membership.js';
import { ChannelRouter } from '../rpc/channel-router.js';
import { assertFrameFits } from '../rpc/frame-limit.js';
import { frameLimitOf, openLibraryChannel, type RpcChannel } from '../rpc/rpc-channel.js';
import type { Transport } from '../transport/transport.js';
import { isDeltaValue } from './delta-value.js';
import { Departure } from './departure.js';
import { Entry, NOT_DECODED, type EntryInfo } from './entry.js';
import { DEFAULT_EXPIRY_SWEEP_MS, Expiry, NODE_TIMERS, adoptExpiry, alive, expires, stampWrite, type ExpiryOptions } from './expiry.js';
import { validateOptions, type OptionRules } from '../options/validate.js';
import { Failover } from './failover.js';
import { DeciderView } from './decider-view.js';
import { ConditionalWrites, type OwnWrite, type Taken } from './conditional-writes.js';
import { MapContext, sameMembers, type MapFlavour, type MapState } from './map-context.js';
import { mapChannelName } from './map-channel.js';
import { copyFrameBound, diffFrameBound } from './message-size.js';
import { publishEvicted, publishExpired } from '../diagnostics/publish.js';
import type { EvictionPolicy } from './capacity.js';
import { instrumentMap } from './map-diagnostics.js';
import { checkJoin, type JoinCheck } from './join-check.js';
import {
  CAPACITY_OPTION_RULES,
  DEFAULT_STOP_WAIT_MS,
  type StopOptions,
  DEFAULT_MAP_JOIN_TIMEOUT_MS,
  DEFAULT_MAP_RPC_TIMEOUT_MS,
  DEFAULT_TOMBSTONE_TTL_MS,
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
import { MessageHandler } from './message-handler.js';
import { Messenger } from './messenger.js';
import { MapSnapshot, snapshotStore } from './map-snapshot.js';
import { Promotion } from './promotion.js';
import { Publisher } from './publisher.js';
import { Reconciler } from './reconciler.js';
import { compareVersions, nextPlacement, nextUpdate } from './version.js';
import { StateTransfer } from './state-transfer.js';

export type { MapFlavour, MapState } from './map-context.js';

/**
 * Base of the replicated maps. Not exported from the package: use {@link LazyReplicatedMap} or
 * {@link ReplicatedMap}.
 */
export abstract class BaseReplicatedMap<K extends MapKey, V> extends EventEmitter<MapEvents<K>> {
  /** The map's name. */
  readonly name: string;
  /** The transport this map talks through. */
  readonly transport: Transport;
  private readonly ctx: MapContext;
  private readonly messenger: Messenger;
  private readonly publisher: Publisher;
  private readonly promotion: Promotion;
  private readonly failover: Failover;
  private readonly reconciler: Reconciler;
  private readonly transfer: StateTransfer;
  private readonly handler: MessageHandler;
  private readonly expiry: Expiry;
  /** setIfAbsent, compareAndSet and update (see conditional-writes.ts). */
  private readonly conditional: ConditionalWrites;
  /** Who decides for keys no member knows while members come and go (see decider-view.ts). */
  private readonly view: DeciderView;
  /** Writes and loads the map's snapshot; `undefined` without the `snapshot` option. */
  private readonly snapshot: MapSnapshot | undefined;
  private readonly departure: Departure;
  /**
   * How long `stop()` waits for a member to hand entries to when none is there, in milliseconds
   * (option `stopWaitMs`). `stopOnSignals` checks that its own timeout is longer.
   */
  readonly stopWaitMs: number;
  /** The map-wide expiry of writes that name none. */
  private readonly defaults: ExpiryOptions;
  /** What `start()` checks before it asks for the map's state (see join-check.ts). */
  private readonly joinCheck: JoinCheck;
  /** True while `start()` waits for the members to be met (see {@link mayJoin}). */
  private meeting = false;
  private startPromise: Promise<this> | undefined;
  private stopPromise: Promise<void> | undefined;
  /** Calls made but not yet started (see {@link inOrder}). */
  private waiting = 0;
  /** Settles once the last call waiting for its turn has started. */
  private lastTurn: Promise<unknown> = Promise.resolve();
  /**
   * Answers awaited from other members for a `get` (the value) or a `touch` (the primary's) here,
   * by key. A write of the key made after such a call waits for them (see {@link inOrder}), so
   * the call answers from before the write.
   */
  private readonly fetches = new Map<MapKey, Set<Promise<unknown>>>();
  /**
   * Conditional writes made here and being decided elsewhere, by key. Every later call of the key
   * here (a read too) waits for them (see {@link inOrder}): it comes after them.
   */
  private readonly deciding = new Map<MapKey, Set<Promise<unknown>>>();
  /** Deletes made here whose acknowledgements are awaited, by key (see {@link remove}). */
  private readonly removals = new Map<MapKey, Promise<void>>();

  /**
   * @param rules the options the map accepts; every one is checked here, before anything is
   *   built or started.
   * @throws {TypeError} for options of the wrong kind (no name, no transport, an unknown `ack`...).
   * @throws {RangeError} for a numeric option out of range, naming it.
   */
  protected constructor(options: ReplicatedMapOptions, flavour: MapFlavour, rules: OptionRules<ReplicatedMapOptions> = REPLICATED_MAP_OPTION_RULES) {
    super();
    validateOptions(new.target.name || 'map', options, rules);
    this.stopWaitMs = options.stopWaitMs ?? DEFAULT_STOP_WAIT_MS;
    const joinTimeoutMs = options.joinTimeoutMs ?? DEFAULT_MAP_JOIN_TIMEOUT_MS;
    this.defaults = { ttlMs: options.ttlMs, maxIdleMs: options.maxIdleMs };
    this.name = options.name;
    this.transport = options.transport;
    const ctx = new MapContext({
      name: options.name,
      id: options.transport.id,
      flavour,
      rpcTimeoutMs: options.rpcTimeoutMs ?? DEFAULT_MAP_RPC_TIMEOUT_MS,
      ackMode: options.ack ?? 'backups',
      codec: options.codec ?? defaultValueCodec,
      now: options.now ?? Date.now,
      tombstoneTtlMs: options.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS,
      // Admitted members only: no map traffic goes to a member of an incompatible version.
      members: new Membership(ChannelRouter.of(options.transport)),
      events: this,
      frameLimit: () => frameLimitOf(options.transport),
      capacity: options,
    });
    this.ctx = ctx;
    ctx.capacity.attach({
      name: options.name,
      id: options.transport.id,
      running: () => ctx.lifecycle === 'running',
      evict: (keys, reason) => {
        for (const key of keys) {
          publishEvicted(this, key, reason);
          this.emit('evicted', key as K, reason);
        }
        // The delete path, as a delete by this member, the keys' primary: tombstones everywhere.
        ctx.background(this.remove(keys));
      },
    });
    this.joinCheck = { name: options.name, id: options.transport.id, discoverMs: ctx.rpcTimeoutMs, mustJoin: options.mustJoin ?? false, joinTimeoutMs };
    this.messenger = new Messenger(ctx);
    this.publisher = new Publisher(ctx, this.messenger);
    this.promotion = new Promotion(ctx, this.messenger, this.publisher);
    this.failover = new Failover(ctx, this.messenger, this.publisher, this.promotion, (id) => {
      this.conditional.met(id);
    });
    this.reconciler = new Reconciler(ctx, this.messenger, this.failover);
    this.transfer = new StateTransfer(ctx, { messenger: this.messenger, publisher: this.publisher, reconciler: this.reconciler, failover: this.failover }, options.statePageBytes);
    this.expiry = new Expiry(
      ctx,
      {
        access: (entry) => this.publisher.access(entry),
        remove: (keys) => this.remove(keys),
        expired: (key) => {
          publishExpired(this, key);
          this.emit('expired', key as K);
        },
      },
      options.expirySweepIntervalMs ?? DEFAULT_EXPIRY_SWEEP_MS,
      options.timers ?? NODE_TIMERS,
    );
    this.snapshot = options.snapshot === undefined ? undefined : new MapSnapshot(ctx, { reconciler: this.reconciler, publisher: this.publisher }, snapshotStore(options.snapshot));
    this.departure = new Departure(ctx, { messenger: this.messenger, publisher: this.publisher });
    this.view = new DeciderView(ctx, this.messenger, this.transfer.incarnation);
    ctx.members.watch((change, id) => {
      if (change === 'gone') this.view.forget(id);
      else this.view.changed();
    });
    this.conditional = new ConditionalWrites(ctx, this.messenger, this.publisher, {
      inOrder: (key, step) => this.inOrder(step, [key]),
      afterEarlier: (key, step) => this.afterEarlier(key, step),
      fetching: (key, request) => this.decidingElsewhere(key, request),
      write: async (key, value, bytes, options) => {
        await this.writeHere(key as K, value as V, bytes, options);
      },
      remove: (key) => this.remove([key]),
      expired: () => {
        this.ctx.background(this.expiry.sweep());
      },
      used: (key) => {
        const entry = this.ctx.entries.get(key);
        if (entry?.role !== 'primary') return;
        this.ctx.capacity.used(entry);
        if (expires(entry)) this.expiry.used(entry);
      },
      adopt: (handover, write) => this.adopt(handover, write),
      fits: (key, valueBytes, value) => {
        this.assertFits(key, valueBytes, undefined, value);
      },
      sent: async (key) => {
        const entry = this.ctx.entries.get(key);
        const publishing = entry === undefined ? undefined : this.publisher.underWay(entry);
        await Promise.all([publishing, this.removals.get(key)?.catch(() => undefined)]);
      },
    }, this.view);
    this.view.attach(this.conditional);
    this.handler = new MessageHandler(ctx, {
      messenger: this.messenger,
      reconciler: this.reconciler,
      transfer: this.transfer,
      failover: this.failover,
      expiry: this.expiry,
      conditional: this.conditional,
      departure: this.departure,
      view: this.view,
    });
  }

  /** Opens the map's channel: from then on this member answers for the map. */
  private open(): RpcChannel {
    const rpc = openLibraryChannel(this.transport, mapChannelName(this.name), (request, from, wantsReply) => this.handler.handle(request, from, wantsReply));
    rpc.on('error', (error) => {
      if (!this.handler.wasReported(error)) this.emit('error', error);
    });
    rpc.on('peerUp', (id) => {
      // A member admitted while start() meets the members is asked by the join itself.
      if (this.ctx.serving && !this.meeting) this.transfer.introduce(id);
    });
    rpc.on('peerDown', (id) => {
      this.transfer.forget(id);
      if (this.ctx.members.has(id)) this.failover.disappeared(id);
      else {
        this.ctx.members.remove(id); // a "leaving" heard from a member never added
        this.failover.vanished(id);
      }
      this.ctx.members.peerDown(id);
      this.departure.changed();
    });
    rpc.on('close', () => {
      this.halt();
    });
    this.ctx.channel = rpc;
    return rpc;
  }

  // ---------------------------------------------------------------- lifecycle

  /** This member's id. */
  get id(): string {
    return this.transport.id;
  }

  /** Where the map is in its life. */
  get state(): MapState {
    return this.ctx.lifecycle;
  }

  /**
   * Joins the map's members (starting the transport if needed). Resolves once this member knows
   * every key of the map: each member answers with the entries it owns and the deletes it remembers.
   */
  start(): Promise<this> {
    // A stopped map never runs again: handing back the old, resolved start would tell the caller
    // it does (calls after stop() reject).
    if (this.ctx.lifecycle === 'stopped' || this.ctx.lifecycle === 'stopping') {
      return Promise.reject(new StoppedError(`map '${this.name}' on member '${this.id}' is stopped: create and start a new map`));
    }
    this.startPromise ??= this.join();
    return this.startPromise;
  }

  private async join(): Promise<this> {
    this.assertUsable();
    this.ctx.lifecycle = 'starting';
    await this.open().ready();
    await this.mayJoin();
    const targets = this.ctx.members.reachable();
    const replies = await this.transfer.ask(targets);
    await this.transfer.answered(targets, replies);
    // Only now, after a discovery round: a member that found none loads its snapshot.
    if (this.snapshot !== undefined) await this.snapshot.restore();
    this.joined();
    return this;
  }

  /**
   * The join is over: every member reachable after the discovery round answered with its whole
   * state (or failed to within `rpcTimeoutMs`), so this member knows every key and is ready.
   */
  private joined(): void {
    // stop() or a transport crash may have come while the replies were awaited.
    if (this.state !== 'starting') return;
    this.ctx.lifecycle = 'running';
    this.view.changed();
    this.expiry.start();
    // What the join or snapshot brought may exceed a limit: evicting waited for the map to run.
    this.ctx.capacity.check();
    this.emit('ready');
  }

  /**
   * True while the map serves as a full member: it joined (every member found in one discovery
   * round sent its state, so it knows every key) and is not stopping. What a readiness probe
   * answers (see `readinessProbe`); false again from the moment `stop()` begins.
   */
  get isReady(): boolean {
    return this.ctx.lifecycle === 'running';
  }

  /**
   * Resolves once the map {@link isReady} (at once if it is); it does not start the map.
   * @throws {StoppedError} when the map stops before it was ready.
   * @throws the error of the start under way, when it fails.
   */
  whenReady(): Promise<void> {
    if (this.isReady) return Promise.resolve();
    if (this.ctx.lifecycle === 'stopping' || this.ctx.lifecycle === 'stopped') {
      return Promise.reject(new StoppedError(`map '${this.name}' on member '${this.id}' is stopped: it will not be ready again`));
    }
    return new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        this.off('stopped', onStopped);
        resolve();
      };
      const onStopped = (): void => {
        this.off('ready', onReady);
        reject(new StoppedError(`map '${this.name}' on member '${this.id}' stopped before it was ready`));
      };
      this.once('ready', onReady);
      this.once('stopped', onStopped);
      this.startPromise?.catch((error: unknown) => {
        this.off('ready', onReady);
        this.off('stopped', onStopped);
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }

  /**
   * Meets the members (bounded) and fails fast, stopped, when this member may not join: a member
   * refused by everyone it reached must not serve as a one-member cluster that looks healthy.
   */
  private async mayJoin(): Promise<void> {
    this.meeting = true;
    try {
      await checkJoin(ChannelRouter.of(this.transport), this.ctx.members, this.joinCheck);
    } catch (error) {
      this.halt();
      await this.ctx.channel?.close();
      throw error;
    } finally {
      this.meeting = false;
    }
  }

  /**
   * Leaves gracefully: this member tells the others it is leaving (so none counts on it), every
   * entry it holds that no staying member holds gets a copy on one, then the others are told to
   * re-home what it held. When no staying member is there to take them (the last member of a
   * rolling update), it writes them to the snapshot if one is configured, else waits up to
   * `stopWaitMs` for a member to join. Calls afterwards reject with {@link StoppedError}. Stops the
   * transport only if no other map or channel uses it.
   *
   * A member that never met another one (development) does not wait; if it drops entries it says
   * so with a process warning.
   * @throws {DataLossError} when entries were dropped because no member appeared to take them
   *   (the map stopped all the same; the error is also emitted as `'error'`, or as a process
   *   warning when nobody listens). Not with `discard: true`.
   * @throws {SnapshotError} when the snapshot could not be written (the map stopped all the same).
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopPromise ??= this.leave(options);
    return this.stopPromise;
  }

  private async leave(options: StopOptions): Promise<void> {
    if (this.ctx.lifecycle === 'stopped') return;
    if (this.ctx.lifecycle === 'starting') await this.startPromise?.catch(() => undefined);
    if (this.ctx.lifecycle !== 'running') {
      this.halt();
      await this.ctx.channel?.close();
      return;
    }
    this.ctx.lifecycle = 'stopping';
    // From now on this member decides nothing for unknown keys: the others hear so.
    this.view.changed();
    this.expiry.stop();
    // Calls made before stop() and waiting for another member's answer get it: a graceful stop
    // is not a fault, and their callers learn what happened rather than "no answer".
    // At most rpcTimeoutMs: a call still waiting then is caught in a fault, and fails as it would.
    await settledWithin([...pendingOf(this.deciding, 'all'), ...pendingOf(this.fetches, 'all')], this.ctx.rpcTimeoutMs);
    const discard = options.discard === true;
    const snapshot = this.snapshot;
    // What no staying member can take goes to the snapshot, when there is one, instead of waiting.
    const save = snapshot === undefined ? undefined : async (entries: readonly Entry[]) => settle(snapshot.save(entries));
    const { dropped, hadPeer, waitedMs, saved } = await this.departure.leave({ waitMs: this.stopWaitMs, discard, ...(save === undefined ? {} : { save }) });
    this.halt();
    await this.ctx.rpc.close();
    // A snapshot that could not be written: the map stopped all the same, and stop() says so.
    if (saved !== undefined) throw saved.error;
    if (dropped > 0 && !discard) this.reportLoss(dropped, hadPeer, waitedMs);
  }

  /**
   * Entries went with this member. A lone development member warns; one that had peers reports
   * the loss (`'error'`, or a warning when nobody listens) and throws, so `stopOnSignals` exits
   * non-zero.
   */
  private reportLoss(dropped: number, hadPeer: boolean, waitedMs: number): void {
    const where = `map '${this.name}' on member '${this.id}'`;
    if (!hadPeer) {
      process.emitWarning(
        new DataLossError(
          `${where} stopped with ${dropped} entries and never had a peer to hand them to: they are gone. Fine in development; run more than one member (or configure a snapshot) to keep them across restarts`,
          dropped,
        ),
      );
      return;
    }
    const error = new DataLossError(
      `${where} dropped ${dropped} entries on stop: no other member holding them was left, and none joined within ${waitedMs} ms (option stopWaitMs: ${this.stopWaitMs} ms). Start the replacement before stopping the last member (a rolling update with maxSurge), raise stopWaitMs, or configure a snapshot`,
      dropped,
    );
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error);
    throw error;
  }

  /** Stops serving at once (transport closed, crash, or end of a graceful stop). */
  private halt(): void {
    if (this.ctx.lifecycle === 'stopped') return;
    this.ctx.lifecycle = 'stopped';
    this.expiry.stop();
    this.view.close();
    this.ctx.entries.clear();
    this.ctx.members.clear();
    this.emit('stopped');
    void this.ctx.channel?.close();
  }

  private assertUsable(): void {
    if (this.ctx.lifecycle === 'stopped' || this.ctx.lifecycle === 'stopping') {
      throw new StoppedError(`map '${this.name}' on member '${this.id}' is stopped: create and start a new map`);
    }
  }

  /**
   * For the synchronous reads: before `start()` the map has not met its members and knows no
   * key, so an answer such as `has(k) === false` would be a silent lie.
   */
  private assertStarted(): void {
    this.assertUsable();
    if (this.ctx.lifecycle === 'new') {
      throw new NotStartedError(`map '${this.name}' on member '${this.id}' is not started, so it knows no keys yet: await map.start() first (async calls such as get and set start it themselves)`);
    }
  }

  private async ready(): Promise<void> {
    this.assertUsable();
    if (this.ctx.lifecycle === 'new') await this.start();
    else if (this.ctx.lifecycle === 'starting') await this.startPromise;
    this.assertUsable();
  }

  /**
   * Starts the calls made on this member in the order they were made, awaited or not, as one
   * Redis connection applies commands in the order sent. `step` is the call itself: the part of
   * it before its first `await` takes its effect (a version, a removal, a read of what is held
   * here). A running map with nobody waiting runs it at once, in the caller's turn of the event
   * loop; otherwise (before `start()` resolved, or behind such a call) it waits for its turn.
   * A call that changes `writes` (keys, or every key) also waits for the answers that earlier
   * `get`s and `touch`es of those keys await from other members, so that they answer from
   * before it. Only the start is
   * ordered: a call's acknowledgements may complete after a later call's.
   */
  private inOrder<T>(step: () => Promise<T>, writes?: readonly MapKey[] | 'all', reads?: readonly MapKey[]): Promise<T> {
    if (this.ctx.lifecycle === 'running' && this.waiting === 0 && this.fetchesOf(writes).length === 0 && this.decidingOf(writes ?? reads).length === 0) return step();
    this.waiting++;
    // Boxed, so that the turn settles when the step has started, not when it has finished.
    const turn = this.lastTurn
      .then(() => this.ready())
      .then(async () => {
        // Only fetches of earlier calls can be pending: later calls wait behind this one.
        for (let f = this.earlier(writes, reads); f.length > 0; f = this.earlier(writes, reads)) await Promise.allSettled(f);
        this.assertUsable();
      })
      .then(
        () => {
          this.waiting--;
          return { done: step() };
        },
        (error: unknown) => {
          this.waiting--;
          throw error;
        },
      );
    // Only the order is kept here: the caller gets the error through `turn`.
    this.lastTurn = turn.catch(() => undefined);
    return turn.then((t) => t.done);
  }

  /**
   * Runs `step` for another member (a conditional write it asks this member to decide) once the
   * calls of `key` made here that are waiting for answers are done. Not queued behind this
   * member's calls of other keys: those may be waiting for the asker, and it for this answer.
   */
  private async afterEarlier<T>(key: MapKey, step: () => Promise<T>): Promise<T> {
    // A member that is leaving still answers until its goodbye: it hands the keys it holds over,
    // or sends the asker on (see ConditionalWrites, Departure).
    const leaving = this.ctx.lifecycle === 'stopping' && !this.ctx.saidGoodbye;
    if (this.ctx.lifecycle !== 'running' && !leaving) await this.ready();
    // A delete made here is waited for too: until every member has it, the member this one would
    // send the asker to (the decider of a key nobody knows) may still send it back here.
    const pending = (): Array<Promise<unknown>> => {
      const removal = this.removals.get(key);
      return removal === undefined ? this.earlier([key], undefined) : [...this.earlier([key], undefined), removal];
    };
    for (let f = pending(); f.length > 0; f = pending()) await Promise.allSettled(f);
    if (!(this.ctx.lifecycle === 'stopping' && !this.ctx.saidGoodbye)) this.assertUsable();
    return step();
  }

  /** What a call of `writes` (or reading `reads`) waits for: earlier fetches it writes over, earlier conditional writes of its keys. */
  private earlier(writes: readonly MapKey[] | 'all' | undefined, reads: readonly MapKey[] | undefined): Array<Promise<unknown>> {
    return [...this.fetchesOf(writes), ...this.decidingOf(writes ?? reads)];
  }

  /** The conditional writes of `keys` made here and still being decided elsewhere. */
  private decidingOf(keys: readonly MapKey[] | 'all' | undefined): Array<Promise<unknown>> {
    return pendingOf(this.deciding, keys);
  }

  /** Registers a conditional write of `key` sent elsewhere until it settles (see {@link deciding}). */
  private decidingElsewhere<T>(key: MapKey, request: Promise<T>): Promise<T> {
    return whilePending(this.deciding, key, request);
  }

  /** The answers awaited for `get`s and `touch`es of `keys` (`'all'`: of any key). */
  private fetchesOf(keys: readonly MapKey[] | 'all' | undefined): Array<Promise<unknown>> {
    return pendingOf(this.fetches, keys);
  }

  /** Registers a request about `key` made for a `get` or `touch` until it settles (see {@link inOrder}). */
  private fetching<T>(key: MapKey, fetch: Promise<T>): Promise<T> {
    return whilePending(this.fetches, key, fetch);
  }

  // ---------------------------------------------------------------- reading

  /** Ids of the live members of this map, this member included, sorted. */
  members(): string[] {
    return [this.id, ...this.ctx.members.ids()].sort();
  }

  /** Number of keys of the whole map known here, in any role. */
  get size(): number {
    this.assertStarted();
    return this.ctx.entries.size;
  }

  /** True when `key` is known here, in any role. */
  has(key: K): boolean {
    assertKey(key);
    this.assertStarted();
    return this.ctx.entries.has(key);
  }

  /** The keys known here. */
  keys(): IterableIterator<K> {
    this.assertStarted();
    return [...this.ctx.entries.keys()][Symbol.iterator]() as IterableIterator<K>;
  }

  /** Where `key` lives, as this member knows it; `undefined` when the key is not known here. */
  entryInfo(key: K): EntryInfo | undefined {
    assertKey(key);
    this.assertStarted();
    const e = this.ctx.entries.get(key);
    if (e === undefined) return undefined;
    return { role: e.role, primary: e.primary, backups: [...e.backups] };
  }

  /**
   * When this member last saw `key` used, in milliseconds by the map's clock (the `now` option):
   * written, replicated or touched here, read here (for an expiring entry: a read is a use), or a
   * copy, diff or access notice received from the key's primary. On a proxy, when it last fetched
   * the value. `undefined` when the key is unknown here or its last use is not known. Expiry's
   * `maxIdleMs` is built on it (Tomcat: `lastAccessedTime`).
   */
  lastAccess(key: K): number | undefined {
    assertKey(key);
    this.assertStarted();
    return this.ctx.entries.get(key)?.lastAccess;
  }

  /**
   * Sets this member's limits after construction, as the options `maxEntries`, `maxBytes` and
   * `evictionPolicy` do (the session and Keyv stores map theirs onto their map with it). Omitted
   * fields keep their value. A member over a new limit evicts at once (policy permitting).
   * @throws {RangeError} / {TypeError} for a value the option would refuse.
   */
  configureCapacity(limits: { maxEntries?: number; maxBytes?: number; evictionPolicy?: EvictionPolicy }): void {
    validateOptions(`${this.constructor.name}.configureCapacity`, limits, CAPACITY_OPTION_RULES);
    this.ctx.capacity.configure(limits);
  }

  /** This member's limits now (`undefined`: none). */
  capacityLimits(): { maxEntries: number | undefined; maxBytes: number | undefined; evictionPolicy: EvictionPolicy } {
    return this.ctx.capacity.limits();
  }

  /** Counters of this map on this member. */
  stats(): MapStats {
    const entries = { primary: 0, backup: 0, copy: 0, proxy: 0 };
    const promised = this.ctx.promised();
    let underReplicated = 0;
    for (const e of this.ctx.entries.values()) {
      entries[e.role]++;
      if (e.role === 'primary' && e.backups.length < promised) underReplicated++;
    }
    return {
      entries,
      tombstones: this.ctx.tombstones.size,
      sent: { ...this.ctx.counters.sent },
      received: { ...this.ctx.counters.received },
      promotions: this.ctx.counters.promotions,
      failovers: this.ctx.counters.failovers,
      rpcTimeouts: this.ctx.counters.rpcTimeouts,
      underReplicated,
      held: this.ctx.capacity.byRole(),
      capacity: this.ctx.capacity.stats(),
    };
  }

  /**
   * The value of `key`, or `undefined`. On the primary, sends nothing. Elsewhere the key's primary
   * answers (a `LazyReplicatedMap` never serves a backup's copy, which may be older): unless
   * `promote: false`, it hands the primary role over with the value, and this member becomes the
   * key's primary. A key unknown here answers `undefined` at once (every member knows every key
   * whose write resolved). A `ReplicatedMap` reads its own copy. When the primary cannot be asked
   * (it crashed and no failover happened yet), any holder answers (first reply wins).
   * @throws {RetrieveError} when no holder answered within `rpcTimeoutMs`.
   */
  async get(key: K, options: GetOptions = {}): Promise<V | undefined> {
    assertKey(key);
    validateOptions(`${this.constructor.name}.get`, options, GET_OPTION_RULES);
    return this.inOrder(() => this.read(key, options), undefined, [key]);
  }

  private async read(key: K, options: GetOptions): Promise<V | undefined> {
    let promote = options.promote ?? this.ctx.flavour.promoteOnRead;
    let entry = this.ctx.entries.get(key);
    if (entry === undefined) {
      await this.removedEverywhere(key);
      return undefined;
    }
    if (entry.role === 'primary') {
      this.ctx.capacity.used(entry);
      // A value still being published is not yet known elsewhere: a read here waits until it
      // is, so that no read anywhere after this one answers an older value (linearizable reads).
      // Later writes of the key here wait for this read (a fetch): it answers from before them.
      const publishing = this.publisher.underWay(entry);
      if (publishing !== undefined) {
        const value = this.ctx.decoded(entry) as V;
        await this.fetching(key, publishing);
        return value;
      }
      if (!expires(entry)) return this.ctx.decoded(entry) as V;
      if (!alive(entry, this.ctx.now())) {
        // Expired: never returned. Deleted everywhere now rather than at the next sweep.
        this.ctx.background(this.expiry.sweep());
        return undefined;
      }
      this.expiry.used(entry);
      return this.ctx.decoded(entry) as V;
    }
    if (!this.ctx.flavour.readsCopies) {
      // Registered as a fetch of the key (as the fallback below is): a write of the key made here
      // after this read waits for it, through the fallback too, so the read answers from before it.
      const answered = await this.fetching(
        key,
        this.readElsewhere(key, entry, promote).then(
          (value) => ({ value }),
          (error: unknown) => {
            if (error instanceof ConditionalWriteError) return undefined;
            throw error;
          },
        ),
      );
      if (answered !== undefined) return answered.value;
      // A member that is leaving (or left) answers nothing from what it still holds.
      this.assertUsable();
      // The primary cannot be asked (it crashed or hangs, and no failover happened yet): under
      // faults a read is served by any holder, as it always was (docs/consistency.md).
      entry = this.ctx.entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.role === 'primary') return this.read(key, options);
      // Without moving the role: only the primary hands it over (a claim made here alone would
      // leave two primaries, each updating in place what only its own holders hear of).
      promote = false;
    }
    // A copy held here is served unless it may have expired: then the primary, which knows the
    // last use, answers through the fetch below.
    if (entry.role !== 'proxy' && entry.bytes !== undefined && (!expires(entry) || alive(entry, this.ctx.now()))) {
      const value = this.promotion.readHeld(entry, promote);
      this.ctx.capacity.used(entry);
      if (expires(entry)) {
        // readHeld may have made this member primary.
        const now = this.ctx.entries.get(key);
        if (now?.role === 'primary') this.expiry.used(now);
        else this.useElsewhere(entry);
      }
      return value as V;
    }
    const copy = await this.fetching(key, this.promotion.retrieve(entry));
    entry = this.ctx.entries.get(key);
    if (copy === undefined || entry === undefined) return undefined;
    // A use on any member counts: a member that read without becoming primary tells the primary.
    if (!promote && copy.maxIdleMs !== undefined) this.useElsewhere(entry);
    // The entry came here while we were fetching: what is here now is at least as new. Read it
    // as from a holder, promotion included: a caller that changes the value and replicates it
    // must be its primary, or the change is silently lost.
    if ((entry.role === 'primary' || entry.bytes !== undefined) && entry.compare(copy.version) >= 0) return this.promotion.readHeld(entry, promote) as V;
    return this.promotion.adoptFetched(entry, copy, promote) as V;
  }

  /**
   * A read on a member that is not the key's primary: the primary answers, so the value is the
   * one every later read anywhere sees (or a newer one), never an older copy held here. A
   * promoting read has the primary hand the role over with the value (see
   * ConditionalWrites.take), then reads here as the primary does.
   */
  private async readElsewhere(key: K, entry: Entry, promote: boolean): Promise<V | undefined> {
    if (promote) {
      const taken = await this.conditional.take(key, undefined);
      if (taken === 'none') return undefined;
      if (taken !== 'here') return taken.value as V;
      // This member decides for the key now (the role came here meanwhile): read as the primary.
      const now = this.ctx.entries.get(key);
      return now === undefined ? undefined : this.read(key, { promote: false });
    }
    const bytes = await this.conditional.read(key);
    if (bytes === undefined) return undefined;
    // The primary counted the read as a use when it answered (conditional-writes.ts).
    const here = this.ctx.entries.get(key) ?? entry;
    // What lastAccess() answers on a proxy: when it last fetched the value.
    if (here.bytes === undefined) here.lastAccess = this.ctx.now();
    return this.ctx.codec.decode(bytes) as V;
  }

  /**
   * Takes the primary role of a key handed to this member (see ConditionalWrites.take): with the
   * value handed over (a promoting read), or writing `write` (a `set`), and publishes the entry.
   * Resolves to `false`, changing nothing, when a newer state of the key is known here already.
   */
  private async adopt(handover: Handover, write: OwnWrite | undefined): Promise<Taken | false> {
    const { ctx } = this;
    this.assertUsable();
    const { key } = handover;
    ctx.clock.observe(handover.version);
    const dead = ctx.tombstones.get(key);
    let entry = ctx.entries.get(key);
    if ((dead !== undefined && compareVersions(dead, handover.version) >= 0) || (entry !== undefined && entry.compare(handover.version) > 0)) return false;
    const bytes = write?.bytes ?? handover.bytes;
    if (bytes === undefined) return false;
    // Past the version handed over, which the member that handed it keeps (with its spare copy):
    // a write is a new value of the key; a read keeps the value and places it anew.
    const version = ctx.interner.version(write === undefined ? nextPlacement(handover.version, this.id) : nextUpdate(handover.version, this.id));
    const created = entry === undefined;
    if (entry === undefined) {
      entry = new Entry(ctx.interner.key(key), 'primary', version, this.id, [], bytes);
      ctx.entries.set(entry.key, entry);
    }
    ctx.tombstones.delete(key);
    const previous = entry.primary;
    // What this member announced of the entry when it was primary before (the same placement
    // may come back: a handover of the same lineage, answered again) is no longer what the
    // members know: its publication tells them all.
    if (entry.role !== 'primary') this.publisher.reannounce(entry);
    entry.role = 'primary';
    entry.primary = this.id;
    entry.version = version;
    entry.bytes = bytes;
    entry.backups = ctx.chooseBackups([]);
    const now = ctx.now();
    if (write !== undefined) {
      entry.value = write.value;
      ctx.capacity.used(entry);
      stampWrite(entry, { ttlMs: write.options.ttlMs ?? this.defaults.ttlMs, maxIdleMs: write.options.maxIdleMs ?? this.defaults.maxIdleMs }, now);
      this.emit('entrySet', key as K, 'local');
      const published = created ? this.conditional.created(key, version) : undefined;
      try {
        await this.publisher.published(entry, this.publisher.publishWrite(entry));
      } finally {
        published?.();
      }
      return { value: write.value };
    }
    entry.value = NOT_DECODED;
    // Decoded now: the owner keeps the value it hands out (replicate() sends changes made to it).
    const value = ctx.decoded(entry);
    adoptExpiry(entry, handover.expiry, now);
    ctx.capacity.used(entry);
    this.promotion.handedOver(entry, previous);
    // The read that took the role answers once the value is known everywhere.
    const published = created ? this.conditional.created(key, version) : undefined;
    try {
      await this.publisher.publish([entry]);
    } finally {
      published?.();
    }
    return { value };
  }

  /**
   * Settles once a delete of `key` made here (a `delete`, a `clear`, an eviction) reached every
   * member. A read that answers "no value" from this member's knowledge must not do so before:
   * a `clear` removes the keys here at once, while their primaries elsewhere still serve them.
   */
  private async removedEverywhere(key: K): Promise<void> {
    const removal = this.removals.get(key);
    if (removal !== undefined) await this.fetching(key, removal.catch(() => undefined));
  }

  /** Every key known here with its value, fetched without promotion. Keys deleted meanwhile are skipped. */
  async *[Symbol.asyncIterator](): AsyncIterator<[K, V]> {
    await this.ready();
    for (const key of [...this.ctx.entries.keys()] as K[]) {
      if (!this.ctx.entries.has(key)) continue;
      const value = await this.get(key, { promote: false });
      if (value !== undefined || this.ctx.entries.has(key)) yield [key, value as V];
    }
  }

  // ---------------------------------------------------------------- writing

  /**
   * Stores `value` under `key`, making this member its primary. Resolves (to the map) once every
   * backup acknowledged its copy (or at once with `ack: 'none'`). On a member that is not the
   * key's primary, the primary first hands the role over (one round trip), so that every write
   * of a key is ordered by the one member that holds it (docs/consistency.md).
   *
   * Write concern (docs/map.md): the write is promised `backups` copies besides this one. A backup
   * that does not take its copy is replaced by another live member. When fewer members are live
   * than promised (or one leaves during the write), it resolves with the copies the cluster can
   * hold: `entryInfo(key).backups` names them and the map emits `'underReplicated'`. It never
   * resolves short because a live member refused: then it rejects with {@link ReplicationError}.
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when the value cannot be encoded; the map is unchanged.
   * @throws {ValueTooLargeError} when the copy of the entry would not fit the cluster's frame
   *   limit (the smallest `maxFrameBytes` of the members); nothing is written or sent.
   * @throws {ReplicationError} when live members refused their copy (an error answer, or no answer
   *   within `rpcTimeoutMs`) and no other live member took it. The value stays written on this
   *   member, its primary, with the backups that did take it (`error.held`); nothing is rolled back.
   */
  async set(key: K, value: V, options: SetOptions = {}): Promise<this> {
    assertKey(key);
    validateOptions(`${this.constructor.name}.set`, options, SET_OPTION_RULES);
    const bytes = this.ctx.codec.encode(value);
    // Before anything changes (the value's diff included): a copy no backup would accept must
    // not be written here either, or this member would hold what no other member can.
    this.assertFits(key, bytes.byteLength, undefined, value);
    // The bytes hold every change so far; changes made from now on are the next diff.
    if (isDeltaValue(value)) value.resetDiff();
    // A running map writes at once: no turn of the event loop between the call and the write.
    return this.inOrder(() => this.store(key, value, bytes, options), [key]);
  }

  /**
   * A `set`: written here when this member is the key's primary, or decides for a key nobody
   * knows; otherwise the primary hands the role over first (see ConditionalWrites.take), so
   * that every write of a key is ordered by the one member that holds it.
   */
  private async store(key: K, value: V, bytes: Uint8Array, options: SetOptions): Promise<this> {
    // stop() may have begun while the call waited for its turn: a primary created now would be
    // published after this member's MSG_STOP, and its backups would keep a copy whose primary is
    // gone and which nobody re-homes.
    this.assertUsable();
    // Before anything changes or is sent: a full member refuses (or makes room for) a new key.
    this.ctx.capacity.beforeWrite(key, this.ctx.entries.get(key), bytes.byteLength);
    // A key no member knows is written here at once only while the members agree that this
    // member decides for it (see decider-view.ts); otherwise take() waits for that, or asks.
    if (this.ctx.flavour.readsCopies || (this.conditional.decidesHere(key) && this.conditional.agreeing(key) === undefined)) return this.writeHere(key, value, bytes, options);
    // Registered whole, the write here that may follow the take included: a later call of the key
    // made on this member (a clear, a delete) waits until the write took effect.
    return await this.decidingElsewhere(key, this.placeElsewhere(key, value, bytes, options));
  }

  /** A `set` of a key whose primary is another member, or unknown here: see {@link store}. */
  private async placeElsewhere(key: K, value: V, bytes: Uint8Array, options: SetOptions): Promise<this> {
    let taken: Taken | 'none' | 'here';
    try {
      taken = await this.conditional.take(key, { value, bytes, options });
    } catch (error) {
      if (!(error instanceof ConditionalWriteError)) throw error;
      // A member that is leaving writes nothing more (see writeHere).
      this.assertUsable();
      // The key's primary is gone, leaving, unreachable or cannot be found (a fault, or members
      // disagreeing during a change): a write is not refused for that. It places the key here
      // anew, past every version this member has seen, as a failover would; of two such writes
      // the higher version wins everywhere (docs/consistency.md, "Under faults").
      return this.writeHere(key, value, bytes, options);
    }
    return taken === 'here' ? this.writeHere(key, value, bytes, options) : this;
  }

  /** Writes as the key's primary (or the member that decides for a key nobody knows). */
  private async writeHere(key: K, value: V, bytes: Uint8Array, options: SetOptions): Promise<this> {
    this.assertUsable();
    let entry = this.ctx.entries.get(key);
    this.ctx.capacity.beforeWrite(key, entry, bytes.byteLength);
    entry = this.ctx.entries.get(key);
    let created = false;
    if (entry?.role === 'primary') {
      // An update in place: the key stays where it lives, its live backups keep their places (the
      // missing ones are refilled), and only the holders hear of it. The version keeps its tick
      // (see Version), so any member's next write or delete still outranks it.
      const backups = this.ctx.chooseBackups(entry.backups);
      entry.version = sameMembers(backups, entry.backups) ? nextUpdate(entry.version, this.id) : nextPlacement(nextUpdate(entry.version, this.id), this.id);
      entry.backups = backups;
    } else {
      // The key is placed here anew: a Lamport tick, past everything this member has seen of it.
      const version = this.ctx.clock.tick(this.id);
      this.ctx.tombstones.delete(key);
      created = entry === undefined;
      if (entry === undefined) {
        entry = new Entry(key, 'primary', version, this.id, [], bytes);
        this.ctx.entries.set(key, entry);
      }
      entry.role = 'primary';
      entry.primary = this.id;
      entry.version = version;
      entry.backups = this.ctx.chooseBackups([]);
    }
    entry.bytes = bytes;
    entry.value = value;
    this.ctx.capacity.used(entry);
    stampWrite(entry, { ttlMs: options.ttlMs ?? this.defaults.ttlMs, maxIdleMs: options.maxIdleMs ?? this.defaults.maxIdleMs }, this.ctx.now());
    this.emit('entrySet', key, 'local');
    const published = created ? this.conditional.created(key, entry.version) : undefined;
    try {
      // Awaited here (not handed on): the caller's stack stays in a ReplicationError's.
      await this.publisher.published(entry, this.publisher.publishWrite(entry));
    } finally {
      published?.();
    }
    return this;
  }

  // ---------------------------------------------------------------- conditional writes

  /**
   * Stores `value` under `key` only if the key holds no value (none was written, it was deleted,
   * or it expired). Resolves to `true` if it wrote, `false` if the key held a value (left as it
   * was). Of racing `setIfAbsent`s of one key, from any members, exactly one answers `true`.
   *
   * Decided once, by the key's primary, in its call order (a key no member knows: by the member
   * the key hashes to over the live members, which becomes its primary). **The caller does not
   * become primary**, unlike `set`: elsewhere it asks the primary (`MSG_CONDITIONAL`) and keeps
   * a proxy. A `true` resolves once the write is acknowledged as `set`'s is (write concern); a
   * `false` once the value it found is known to every live member. See docs/map.md.
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when the value cannot be encoded; nothing was sent.
   * @throws {ValueTooLargeError} when the value would not fit the cluster's frame limit; nothing was sent.
   * @throws {ConditionalWriteError} when the member deciding for the key could not be reached or
   *   found (`mayHaveWritten` says whether the write may have happened).
   * @throws {StoppedError} after `stop()`.
   */
  async setIfAbsent(key: K, value: V, options: SetOptions = {}): Promise<boolean> {
    assertKey(key);
    validateOptions(`${this.constructor.name}.setIfAbsent`, options, SET_OPTION_RULES);
    const bytes = this.ctx.codec.encode(value);
    this.assertFits(key, bytes.byteLength, undefined, value);
    if (isDeltaValue(value)) value.resetDiff();
    return this.conditional.setIfAbsent(key, value, bytes, options);
  }

  /**
   * Replaces `key`'s value with `value` only if it currently equals `expected`, compared by the
   * codec's encoding: equal means the same encoded bytes. For plain data that is deep equality
   * with two exceptions: the order of an object's properties (and of a `Map`'s or `Set`'s
   * entries) counts, so `{ a: 1, b: 2 }` does not equal `{ b: 2, a: 1 }`; and the encoding
   * distinguishes what the codec does (`1` and `1.5` are numbers of different widths, but `1` and
   * `1.0` are the same). Resolves to `true` if it replaced the value; `false` if the key held
   * another value or none (use {@link setIfAbsent} to create a key). Decided like
   * {@link setIfAbsent}: by the key's primary, the caller does not become primary.
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when `expected` or `value` cannot be encoded; nothing was sent.
   * @throws {ValueTooLargeError} when the value (with `expected`, when sent to the primary) would
   *   not fit the cluster's frame limit; nothing was sent.
   * @throws {ConditionalWriteError} as {@link setIfAbsent}.
   * @throws {StoppedError} after `stop()`.
   */
  async compareAndSet(key: K, expected: V, value: V, options: SetOptions = {}): Promise<boolean> {
    assertKey(key);
    validateOptions(`${this.constructor.name}.compareAndSet`, options, SET_OPTION_RULES);
    const want = this.ctx.codec.encode(expected);
    const bytes = this.ctx.codec.encode(value);
    // The request carries both: it must fit a frame to the primary.
    this.assertFits(key, bytes.byteLength + want.byteLength, undefined, value);
    if (isDeltaValue(value)) value.resetDiff();
    return this.conditional.compareAndSet(key, want, value, bytes, options);
  }

  /**
   * Read-modify-write: stores `fn(old)` where `old` is `key`'s current value (`undefined` when it
   * has none), so that concurrent updates from any members lose no update. Resolves to the value
   * written (what `fn` returned last). `fn` must be synchronous and should have no side effects:
   *
   * - on the key's primary (or the member that decides for a key no member knows) `fn` runs once,
   *   in this member's call order, and the result is written as `set` writes it;
   * - elsewhere the value is read from the primary, `fn` runs here, and its result is sent to the
   *   primary as a compare-and-set of the encoded value it was computed from; if another write
   *   came first, `fn` runs again on the newer value, at most `options.maxAttempts` times
   *   (default {@link DEFAULT_UPDATE_ATTEMPTS}). So **`fn` may run more than once**.
   *
   * The caller does not become primary. `options.ttlMs` / `maxIdleMs` set the expiry of the value
   * written, as for `set` (default: the map's).
   * @throws {UpdateConflictError} when the value kept changing under it `maxAttempts` times.
   * @throws {ConditionalWriteError} as {@link setIfAbsent}.
   * @throws whatever `fn` throws; nothing of this call is written then.
   * @throws {ValueEncodeError} / {@link ValueTooLargeError} for a result that cannot be encoded or is too large.
   * @throws {StoppedError} after `stop()`.
   */
  async update(key: K, fn: (old: V | undefined) => V, options: UpdateOptions = {}): Promise<V> {
    assertKey(key);
    if (typeof fn !== 'function') throw new TypeError(`${this.constructor.name}.update: fn must be a function (old value => new value), got ${typeof fn}`);
    validateOptions(`${this.constructor.name}.update`, options, UPDATE_OPTION_RULES);
    const { maxAttempts = DEFAULT_UPDATE_ATTEMPTS, ...expiry } = options;
    return (await this.conditional.update(key, fn as (old: unknown) => unknown, expiry, maxAttempts)) as V;
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
   * that is not the key's primary. Keeps the write concern of {@link set}.
   * @throws {TypeError} for a key that is not a string or a finite number.
   * @throws {ValueEncodeError} when the value or its diff cannot be encoded; nothing changed.
   * @throws {ValueTooLargeError} when the value (or its diff) would not fit the cluster's frame
   *   limit; nothing is sent and the entry keeps its version and bytes (the value object itself
   *   is let go of: the map serves the value as last replicated).
   * @throws {ReplicationError} as {@link set} does.
   */
  async replicate(key: K, complete = false): Promise<void> {
    assertKey(key);
    return this.inOrder(() => this.push(key, complete), [key]);
  }

  private async push(key: K, complete: boolean): Promise<void> {
    this.assertUsable(); // as in set(): no publication may start after stop() began
    const entry = this.ctx.entries.get(key);
    if (entry?.role !== 'primary') return;
    const value = this.ctx.decoded(entry);
    const delta = isDeltaValue(value) ? value : undefined;
    if (delta !== undefined && !complete && !delta.isDirty()) {
      entry.lastAccess = this.ctx.now();
      entry.accessSent = entry.lastAccess;
      await this.publisher.access(entry);
      return;
    }
    // Encode before changing anything: a value that cannot be encoded leaves the entry as it was.
    const diff = delta !== undefined && !complete ? this.ctx.codec.encode(delta.getDiff()) : undefined;
    const bytes = this.ctx.codec.encode(value);
    // The whole value too, even when a diff is sent: a holder without the base gets it whole.
    this.assertFits(key, bytes.byteLength, diff?.byteLength, value);
    delta?.resetDiff();
    const base = entry.version;
    entry.bytes = bytes;
    // An update in place (see set): the holders hear of it, the proxies need not.
    const backups = this.ctx.interner.list(entry.backups.filter((b) => this.ctx.members.has(b)));
    entry.version = sameMembers(backups, entry.backups) ? nextUpdate(base, this.id) : nextPlacement(nextUpdate(base, this.id), this.id);
    // A use, and the copies or diffs tell the backups so. Its time to live runs on: a change in
    // place is not a new write of the entry.
    entry.lastAccess = this.ctx.now();
    entry.accessSent = entry.lastAccess;
    entry.backups = backups;
    this.ctx.capacity.used(entry);
    const plan = diff === undefined ? undefined : new Map([[entry, { base, bytes: diff, holders: new Set(entry.backups) }]]);
    await this.publisher.published(entry, this.publisher.publish([entry], plan, 'each'));
  }

  /**
   * Counts as a use of `key` for its `maxIdleMs`, without reading or moving the value. On the
   * primary it sends nothing (the backups hear of uses only when due); elsewhere it tells the
   * primary. Resolves to whether the key was known here and not expired.
   * @throws {TypeError} for a key that is not a string or a finite number.
   */
  async touch(key: K): Promise<boolean> {
    assertKey(key);
    return this.inOrder(() => this.use(key), undefined, [key]);
  }

  private async use(key: K): Promise<boolean> {
    const entry = this.ctx.entries.get(key);
    if (entry === undefined) {
      await this.removedEverywhere(key);
      return false;
    }
    if (entry.role === 'primary') {
      if (!alive(entry, this.ctx.now())) return false;
      this.ctx.capacity.used(entry);
      this.expiry.used(entry);
      // As a read here: a write still being published is not yet known elsewhere, and a touch
      // that answers true tells the caller it is there (see read()).
      const publishing = this.publisher.underWay(entry);
      if (publishing !== undefined) await this.fetching(key, publishing);
      return true;
    }
    // Answered by the primary: a write of the key made here after this touch waits for it.
    const replies = await this.fetching(key, this.messenger.request({ type: MSG_ACCESS, keys: [key] }, [entry.primary], 'all'));
    return replies.some((r) => 'reply' in r);
  }

  /**
   * Deletes, on every member, the expired entries this member is primary of (and copies held here
   * whose primary's deadline surely passed). Runs every `expirySweepIntervalMs` by itself; call it
   * to sweep now (with `expirySweepIntervalMs: 0`, or a fake clock). Resolves to the number deleted.
   */
  sweep(): Promise<number> {
    this.assertUsable();
    return this.expiry.sweep();
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
  private assertFits(key: MapKey, valueBytes: number, diffBytes: number | undefined, value: unknown): void {
    const limit = this.ctx.frameLimit();
    if (!Number.isFinite(limit)) return;
    const channel = mapChannelName(this.name);
    const who = this.ctx.idsBound();
    const advice = 'store a smaller value (or split it across keys)';
    try {
      assertFrameFits(() => `the value of key ${keyName(key)} in map '${this.name}' (${valueBytes} bytes encoded)`, copyFrameBound(channel, key, valueBytes, who), limit, advice);
      if (diffBytes !== undefined) {
        assertFrameFits(() => `the diff of key ${keyName(key)} in map '${this.name}' (${diffBytes} bytes encoded)`, diffFrameBound(channel, key, diffBytes, who), limit, advice);
      }
    } catch (error) {
      const entry = this.ctx.entries.get(key);
      if (entry !== undefined && entry.value === value && entry.bytes !== undefined) entry.value = NOT_DECODED;
      throw error;
    }
  }

  /** Tells the primary of an expiring entry read here (without becoming primary) that it was used. */
  private useElsewhere(entry: Entry): void {
    if (entry.role === 'primary' || entry.maxIdleMs === undefined) return;
    this.ctx.background(this.messenger.request({ type: MSG_ACCESS, keys: [entry.key] }, [entry.primary], 'none'));
  }

  /**
   * Deletes `key` on every member. Resolves to whether the key held a live value when the delete
   * took effect, as the key's primary decides it (elsewhere, one round trip to it): of two deletes
   * of one value, one answers `true`. When the primary cannot be asked (a fault), the delete is
   * made here and answered from what this member knows.
   */
  async delete(key: K): Promise<boolean> {
    assertKey(key);
    return this.inOrder(async () => {
      const entry = this.ctx.entries.get(key);
      if (entry?.role === 'primary' || this.ctx.flavour.readsCopies) {
        const held = entry !== undefined && !this.expiredHere(entry);
        await this.remove([key]);
        return held;
      }
      // Decided by the key's primary (or the member that decides for a key unknown here), so
      // that the answer is exact and two deletes of one value never both answer true.
      try {
        return await this.conditional.delete(key);
      } catch (error) {
        // Asked and unanswered (it may have deleted), or this member is leaving: no guess.
        if (!(error instanceof ConditionalWriteError) || error.mayHaveWritten) throw error;
        this.assertUsable();
        // The primary cannot be asked (gone, leaving, or not found): deleted from here, answered
        // from what is known here, as a write is placed here then (see store()).
        const now = this.ctx.entries.get(key);
        await this.remove([key]);
        return now !== undefined && !this.expiredHere(now);
      }
    }, [key]);
  }

  /** Whether this member knows that `entry` expired: the primary knows; a backup knows its copy's time to live ran out. */
  private expiredHere(entry: Entry): boolean {
    const now = this.ctx.now();
    if (entry.role === 'primary') return !alive(entry, now);
    // A copy's deadline counts from the copy's arrival, so it passes after the primary's. A proxy
    // holds no copy: what it may remember of an expiry belongs to an older write.
    return entry.bytes !== undefined && entry.expiresAt !== undefined && now >= entry.expiresAt;
  }

  /** Deletes every key of the map on every member. */
  async clear(): Promise<void> {
    return this.inOrder(async () => {
      // Deletes made here and still being acknowledged (an earlier clear, a delete) removed their
      // keys here already, so this clear does not list them; it resolves after them all the same,
      // or a read elsewhere could still find a value from before this clear once it resolved.
      const earlier = [...new Set(this.removals.values())].map((r) => r.catch(() => undefined));
      await Promise.all([this.remove([...this.ctx.entries.keys()]), ...earlier]);
    }, 'all');
  }

  private remove(keys: MapKey[]): Promise<void> {
    const done = this.removing(keys);
    // A conditional write of one of these keys made here later asks its decider only once every
    // member has the delete (see conditional-writes.ts): the decider must decide after it.
    for (const key of keys) this.removals.set(key, done);
    const forget = (): void => {
      for (const key of keys) if (this.removals.get(key) === done) this.removals.delete(key);
    };
    done.then(forget, forget);
    return done;
  }

  private async removing(keys: MapKey[]): Promise<void> {
    const removals: Removal[] = keys.map((key) => ({ key, version: this.ctx.clock.tick(this.id) }));
    for (const r of removals) this.reconciler.applyRemoval(r, 'local');
    // Acknowledged by every member: a holder that missed the delete could otherwise promote the
    // key back to life on failover. Members still being introduced (reachable, not yet members
    // here: a join or heal under way) are told too; if this member left before their start
    // reached it, nobody else would tell them.
    const targets = new Set([...this.ctx.members.ids(), ...this.ctx.members.reachable()]);
    await Promise.all(this.messenger.sendRemovals([...targets], removals, 'all'));
  }
}

// Traced operations and 'error' events on node:diagnostics_channel (docs/observability.md).
instrumentMap(BaseReplicatedMap.prototype);

/** The promises registered in `registry` for `keys` (`'all'`: for any key). */
function pendingOf(registry: Map<MapKey, Set<Promise<unknown>>>, keys: readonly MapKey[] | 'all' | undefined): Array<Promise<unknown>> {
  if (keys === undefined || registry.size === 0) return [];
  if (keys === 'all') return [...registry.values()].flatMap((set) => [...set]);
  return keys.flatMap((k) => [...(registry.get(k) ?? [])]);
}

/** Keeps `work` registered under `key` in `registry` until it settles; resolves as it does. */
async function whilePending<T>(registry: Map<MapKey, Set<Promise<unknown>>>, key: MapKey, work: Promise<T>): Promise<T> {
  let set = registry.get(key);
  if (set === undefined) registry.set(key, (set = new Set()));
  set.add(work);
  try {
    return await work;
  } finally {
    set.delete(work);
    if (set.size === 0 && registry.get(key) === set) registry.delete(key);
  }
}

/** Settles once every one of `work` settled, or after `ms`, whichever comes first; leaves no timer behind. */
async function settledWithin(work: Array<Promise<unknown>>, ms: number): Promise<void> {
  if (work.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([Promise.allSettled(work), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `undefined` once `work` resolved, or what it rejected with. */
async function settle(work: Promise<void>): Promise<{ error: unknown } | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    return { error };
  }
}

/** A key as an error message names it: quoted, and cut when long. */
export function keyName(key: MapKey): string {
  if (typeof key === 'number') return String(key);
  return key.length > 64 ? `${JSON.stringify(key.slice(0, 64))}… (${key.length} characters)` : JSON.stringify(key);
}

/** @throws {TypeError} unless `key` is a string or a finite number. */
export function assertKey(key: unknown): asserts key is MapKey {
  if (!isMapKey(key)) {
    throw new TypeError(`map keys must be strings or finite numbers, got ${typeof key === 'number' ? String(key) : typeof key}`);
  }
}
