/**
 * How one map is put together: builds its shared state and every collaborator, and wires each
 * to the few methods of its siblings it calls. The facade (base-replicated-map.ts) receives what
 * it delegates to and builds nothing itself. Collaborators that call each other both ways are
 * wired through closures, which read their sibling only when called, after the assembly.
 *
 * @module
 */
import { MSG_ACCESS } from '../codec/message-types.js';
import { defaultValueCodec } from '../codec/value-codec.js';
import { publishEvicted, publishExpired } from '../diagnostics/publish.js';
import { Membership } from '../membership/membership.js';
import { ChannelRouter } from '../rpc/channel-router.js';
import { frameLimitOf } from '../rpc/rpc-channel.js';
import { CallOrder } from './call-order.js';
import { ConditionalWrites } from './conditional-writes.js';
import { DeciderView } from './decider-view.js';
import { Departure } from './departure.js';
import { DEFAULT_EXPIRY_SWEEP_MS, Expiry, NODE_TIMERS, expires, type ExpiryOptions } from './expiry.js';
import { Failover } from './failover.js';
import { Heal } from './heal.js';
import { MapContext, type MapFlavour } from './map-context.js';
import { MapInspection } from './map-inspection.js';
import { MapLifecycle, type LifecycleEmitter } from './map-lifecycle.js';
import {
  DEFAULT_MAP_JOIN_TIMEOUT_MS,
  DEFAULT_MAP_RPC_TIMEOUT_MS,
  DEFAULT_STOP_WAIT_MS,
  DEFAULT_TOMBSTONE_TTL_MS,
  type ReplicatedMapOptions,
} from './map-options.js';
import { MapSnapshot, snapshotStore } from './map-snapshot.js';
import { MemberChanges } from './member-changes.js';
import { MessageHandler } from './message-handler.js';
import { Messenger } from './messenger.js';
import { Promotion } from './promotion.js';
import { Publisher } from './publisher.js';
import { ReadPath } from './read-path.js';
import { Reconciler } from './reconciler.js';
import { Removals } from './removals.js';
import { StateTransfer } from './state-transfer.js';
import { WritePath } from './write-path.js';

/**
 * The map as its collaborators see it: the emitter of its events (`'evicted'`, `'expired'` and
 * those of the shared state and the lifecycle), named in diagnostics, and what `start()` resolves to.
 */
export type AssembledMap = LifecycleEmitter & { readonly name: string; readonly id: string };

/**
 * One map's state and collaborators, built and wired (see docs/architecture.md, "Inside the
 * map"). Each is built once, in an order where each takes only those built before it, or a
 * closure over a later one.
 */
export class MapAssembly<M extends AssembledMap = AssembledMap> {
  /** The state the collaborators share. */
  readonly ctx: MapContext;
  /** Requests with the map's deadline, counted. */
  readonly messenger: Messenger;
  /** Copies to backups, acknowledgements, placements. */
  readonly publisher: Publisher;
  /** Claims by reads and on failover. */
  readonly promotion: Promotion;
  /** A member left: take over its keys, re-choose backups. */
  readonly failover: Failover;
  /** A member joins (re-backup) or leaves (then failover). */
  readonly memberChanges: MemberChanges;
  /** Applies placements, copies, diffs and deletes by version. */
  readonly reconciler: Reconciler;
  /** Join and heal: the exchange of state. */
  readonly transfer: StateTransfer;
  /** Routes every incoming map message. */
  readonly handler: MessageHandler;
  /** Time to live, idle limits, sweeps. */
  readonly expiry: Expiry;
  /** setIfAbsent, compareAndSet and update (see conditional-writes.ts). */
  readonly conditional: ConditionalWrites;
  /** Who decides for keys no member knows while members come and go (see decider-view.ts). */
  readonly view: DeciderView;
  /** Writes and loads the map's snapshot; `undefined` without the `snapshot` option. */
  readonly snapshot: MapSnapshot | undefined;
  /** The graceful leave. */
  readonly departure: Departure;
  /** The map-wide expiry of writes that name none. */
  private readonly defaults: ExpiryOptions;
  /** Start, join, stop, halt; the only writer of `MapContext.lifecycle` (see map-lifecycle.ts). */
  readonly lifecycle: MapLifecycle<M>;
  /** What this member knows: size, keys, entryInfo, lastAccess, stats (see map-inspection.ts). */
  readonly inspection: MapInspection;
  /** The order of this member's calls, and the answers they await (see call-order.ts). */
  readonly order: CallOrder;
  /** What `get` does (see read-path.ts). */
  readonly reads: ReadPath;
  /** What `set`, `replicate` and `touch` do (see write-path.ts). */
  readonly writes: WritePath;
  /** What `delete` and `clear` do, and the deletes made here not yet acknowledged (see removals.ts). */
  readonly removals: Removals;

  /**
   * @param map the map: it emits the events, and `start()` resolves to it.
   * @param options the map's options, already checked.
   * @param flavour what the kind of map decides.
   */
  constructor(map: M, options: ReplicatedMapOptions, flavour: MapFlavour) {
    const stopWaitMs = options.stopWaitMs ?? DEFAULT_STOP_WAIT_MS;
    const joinTimeoutMs = options.joinTimeoutMs ?? DEFAULT_MAP_JOIN_TIMEOUT_MS;
    this.defaults = { ttlMs: options.ttlMs, maxIdleMs: options.maxIdleMs };
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
      events: map,
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
          publishEvicted(map, key, reason);
          map.emit('evicted', key, reason);
        }
        // The delete path, as a delete by this member, the keys' primary: tombstones everywhere.
        ctx.background(this.removals.remove(keys));
      },
    });
    this.order = new CallOrder({
      running: () => ctx.lifecycle === 'running',
      leaving: () => ctx.lifecycle === 'stopping' && !ctx.saidGoodbye,
      ready: () => this.lifecycle.ready(),
      assertUsable: () => {
        this.lifecycle.assertUsable();
      },
      removal: (key) => this.removals.pending(key),
    });
    this.messenger = new Messenger(ctx);
    this.publisher = new Publisher(ctx, this.messenger);
    this.expiry = new Expiry(
      ctx,
      {
        access: (entry) => this.publisher.access(entry),
        remove: (keys) => this.removals.remove(keys),
        expired: (key) => {
          publishExpired(map, key);
          map.emit('expired', key);
        },
        forward: (key, primary) => this.messenger.request({ type: MSG_ACCESS, keys: [key] }, [primary], 'none'),
      },
      options.expirySweepIntervalMs ?? DEFAULT_EXPIRY_SWEEP_MS,
      options.timers ?? NODE_TIMERS,
    );
    this.promotion = new Promotion(ctx, this.messenger, this.publisher, this.expiry);
    this.failover = new Failover(ctx, {
      messenger: this.messenger,
      publisher: this.publisher,
      promotion: this.promotion,
      // Late: the conditional writes are made below, and failover asks only once the map runs.
      handovers: { handedTo: (key) => this.conditional.handedTo(key) },
    });
    this.memberChanges = new MemberChanges(ctx, {
      failover: this.failover,
      publisher: this.publisher,
      transfer: {
        forgetSent: (id) => {
          this.transfer.forgetSent(id);
        },
      },
      conditional: {
        met: (id) => {
          this.conditional.met(id);
        },
      },
    });
    this.reconciler = new Reconciler(ctx, { failover: this.failover, heal: new Heal(ctx, { messenger: this.messenger, failover: this.failover }) });
    this.transfer = new StateTransfer(ctx, { messenger: this.messenger, publisher: this.publisher, reconciler: this.reconciler, memberChanges: this.memberChanges }, options.statePageBytes);
    this.snapshot = options.snapshot === undefined ? undefined : new MapSnapshot(ctx, { reconciler: this.reconciler, publisher: this.publisher }, snapshotStore(options.snapshot));
    this.departure = new Departure(ctx, { messenger: this.messenger, publisher: this.publisher });
    this.view = new DeciderView(ctx, this.messenger, this.transfer.incarnation);
    ctx.members.watch((change, id) => {
      if (change === 'gone') this.view.forget(id);
      else this.view.changed();
    });
    this.conditional = new ConditionalWrites(ctx, this.messenger, this.publisher, {
      inOrder: (key, step) => this.order.inOrder(step, [key]),
      afterEarlier: (key, step) => this.order.afterEarlier(key, step),
      fetching: (key, request) => this.order.decidingElsewhere(key, request),
      write: async (key, value, bytes, options) => {
        await this.writes.writeHere(key, value, bytes, options);
      },
      remove: (key) => this.removals.remove([key]),
      expired: () => {
        this.ctx.background(this.expiry.sweep());
      },
      used: (key) => {
        const entry = this.ctx.entries.get(key);
        if (entry?.role !== 'primary') return;
        this.ctx.capacity.used(entry);
        if (expires(entry)) this.expiry.used(entry);
      },
      adopt: (handover, write) => this.reads.adopt(handover, write),
      fits: (key, valueBytes, value) => {
        this.writes.assertFits(key, valueBytes, undefined, value);
      },
      sent: async (key) => {
        const entry = this.ctx.entries.get(key);
        const publishing = entry === undefined ? undefined : this.publisher.underWay(entry);
        await Promise.all([publishing, this.removals.pending(key)?.catch(() => undefined)]);
      },
    }, this.view);
    this.view.attach(this.conditional);
    this.reads = new ReadPath(
      ctx,
      { publisher: this.publisher, promotion: this.promotion, expiry: this.expiry, conditional: this.conditional, messenger: this.messenger, order: this.order },
      {
        assertUsable: () => {
          this.lifecycle.assertUsable();
        },
        removal: (key) => this.removals.pending(key),
      },
      this.defaults,
    );
    this.writes = new WritePath(
      ctx,
      { publisher: this.publisher, conditional: this.conditional, expiry: this.expiry, messenger: this.messenger, order: this.order, reads: this.reads },
      {
        assertUsable: () => {
          this.lifecycle.assertUsable();
        },
      },
      this.defaults,
    );
    this.removals = new Removals(
      ctx,
      { reconciler: this.reconciler, messenger: this.messenger, conditional: this.conditional },
      {
        assertUsable: () => {
          this.lifecycle.assertUsable();
        },
      },
    );
    this.handler = new MessageHandler(ctx, {
      messenger: this.messenger,
      reconciler: this.reconciler,
      transfer: this.transfer,
      memberChanges: this.memberChanges,
      expiry: this.expiry,
      promotion: this.promotion,
      conditional: this.conditional,
      departure: this.departure,
      view: this.view,
    });
    this.lifecycle = new MapLifecycle(
      ctx,
      map,
      { transport: options.transport, handler: this.handler, transfer: this.transfer, memberChanges: this.memberChanges, failover: this.failover, departure: this.departure, snapshot: this.snapshot, view: this.view, expiry: this.expiry, order: this.order },
      { joinCheck: { name: options.name, id: options.transport.id, discoverMs: ctx.rpcTimeoutMs, mustJoin: options.mustJoin ?? false, joinTimeoutMs }, stopWaitMs },
    );
    this.inspection = new MapInspection(ctx, this.lifecycle);
  }
}
