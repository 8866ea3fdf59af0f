/**
 * The life of one map on one member: `new` → `starting` (the channel opened, the members met,
 * their state asked for) → `running` → `stopping` (a graceful leave, see departure.ts) →
 * `stopped`; or straight to `stopped` when the transport closes or the join is refused. This is
 * the only writer of `MapContext.lifecycle`; `saidGoodbye`, set by the departure while stopping,
 * is read against it (a member that said goodbye is `stopping`, then `stopped`).
 *
 * @module
 */
import type { EventEmitter } from 'eventemitter3';
import { DataLossError, NotStartedError, StoppedError } from '../errors.js';
import { withDeadline } from '../membership/membership.js';
import { ChannelRouter } from '../rpc/channel-router.js';
import { openLibraryChannel, type RpcChannel } from '../rpc/rpc-channel.js';
import type { Transport } from '../transport/transport.js';
import type { CallOrder } from './call-order.js';
import type { DeciderView } from './decider-view.js';
import type { Departure } from './departure.js';
import type { Entry } from './entry.js';
import type { Expiry } from './expiry.js';
import type { Failover } from './failover.js';
import { checkJoin, type JoinCheck } from './join-check.js';
import type { MapContext } from './map-context.js';
import { mapChannelName } from './map-channel.js';
import type { MapEvents, MapState, StopOptions } from './map-options.js';
import { settle, type MapSnapshot } from './map-snapshot.js';
import type { MemberChanges } from './member-changes.js';
import type { MessageHandler } from './message-handler.js';
import type { StateTransfer } from './state-transfer.js';

/** The slice of the map's state the lifecycle reads, and `lifecycle` and `channel`, which it writes. */
export type MapLifecycleState = Pick<MapContext, 'name' | 'id' | 'lifecycle' | 'serving' | 'channel' | 'rpc' | 'rpcTimeoutMs' | 'members' | 'entries' | 'capacity'>;

/**
 * The map as the lifecycle sees it: where `'ready'`, `'stopped'` and a loss on stop are told, and
 * what `start()` resolves to.
 */
export type LifecycleEmitter = Pick<EventEmitter<MapEvents>, 'emit' | 'once' | 'off' | 'listenerCount'>;

/** The collaborators the lifecycle starts, stops and routes the channel's events to. */
export interface MapLifecycleParts {
  /** The transport the map's channel opens on, and whose members `start()` meets. */
  readonly transport: Transport;
  /** Answers the channel's requests. */
  readonly handler: Pick<MessageHandler, 'handle' | 'wasReported'>;
  /** Asks the members for their state on join, introduces a member met later, forgets one gone. */
  readonly transfer: Pick<StateTransfer, 'ask' | 'answered' | 'introduce' | 'forget'>;
  /** Removes a member that went down (failover then re-homes what it held). */
  readonly memberChanges: Pick<MemberChanges, 'disappeared'>;
  /** Fails over what a peer that went down before it was met sent as primary. */
  readonly failover: Pick<Failover, 'vanished'>;
  /** The graceful leave. */
  readonly departure: Pick<Departure, 'leave' | 'changed'>;
  /** Loaded by a lone member on join, written by the last one out; `undefined` without the option. */
  readonly snapshot: Pick<MapSnapshot, 'restore' | 'save'> | undefined;
  /** Told when this member starts and stops deciding for keys nobody knows. */
  readonly view: Pick<DeciderView, 'changed' | 'close'>;
  /** Its sweeps run while the map runs. */
  readonly expiry: Pick<Expiry, 'start' | 'stop'>;
  /** The answers awaited by calls made before `stop()`. */
  readonly order: Pick<CallOrder, 'awaited'>;
}

/** Settings of a {@link MapLifecycle}. */
export interface MapLifecycleSettings {
  /** What `start()` checks before it asks for the map's state (see join-check.ts). */
  readonly joinCheck: JoinCheck;
  /** How long `stop()` waits for a member to hand entries to when none is there, in milliseconds. */
  readonly stopWaitMs: number;
}

/**
 * Starts, joins, stops and halts one map on one member, and answers whether it may be used.
 * `M` is the map: the emitter of its events, and what `start()` resolves to.
 */
export class MapLifecycle<M extends LifecycleEmitter = LifecycleEmitter> {
  /** How long `stop()` waits for a member to hand entries to when none is there, in milliseconds. */
  readonly stopWaitMs: number;
  /** What `start()` checks before it asks for the map's state (see join-check.ts). */
  private readonly joinCheck: JoinCheck;
  /** True while `start()` waits for the members to be met (see {@link mayJoin}). */
  private meeting = false;
  private startPromise: Promise<M> | undefined;
  private stopPromise: Promise<void> | undefined;

  /**
   * @param ctx the map's state; this is the only writer of its `lifecycle`.
   * @param map the map, whose events this emits and which `start()` resolves to.
   * @param parts see {@link MapLifecycleParts}.
   * @param settings see {@link MapLifecycleSettings}.
   */
  constructor(
    private readonly ctx: MapLifecycleState,
    private readonly map: M,
    private readonly parts: MapLifecycleParts,
    settings: MapLifecycleSettings,
  ) {
    this.joinCheck = settings.joinCheck;
    this.stopWaitMs = settings.stopWaitMs;
  }

  /** Opens the map's channel: from then on this member answers for the map. */
  private open(): RpcChannel {
    const rpc = openLibraryChannel(this.parts.transport, mapChannelName(this.ctx.name), (request, from, wantsReply) => this.parts.handler.handle(request, from, wantsReply));
    rpc.on('error', (error) => {
      if (!this.parts.handler.wasReported(error)) this.map.emit('error', error);
    });
    rpc.on('peerUp', (id) => {
      // A member admitted while start() meets the members is asked by the join itself.
      if (this.ctx.serving && !this.meeting) this.parts.transfer.introduce(id);
    });
    rpc.on('peerDown', (id) => {
      this.parts.transfer.forget(id);
      if (this.ctx.members.has(id)) this.parts.memberChanges.disappeared(id);
      else {
        this.ctx.members.remove(id); // a "leaving" heard from a member never added
        this.parts.failover.vanished(id);
      }
      this.ctx.members.peerDown(id);
      this.parts.departure.changed();
    });
    rpc.on('close', () => {
      this.halt();
    });
    this.ctx.channel = rpc;
    return rpc;
  }

  /** Where the map is in its life. */
  get state(): MapState {
    return this.ctx.lifecycle;
  }

  /** See `map.start()`. */
  start(): Promise<M> {
    // A stopped map never runs again: handing back the old, resolved start would tell the caller
    // it does (calls after stop() reject).
    if (this.ctx.lifecycle === 'stopped' || this.ctx.lifecycle === 'stopping') {
      return Promise.reject(new StoppedError(`map '${this.ctx.name}' on member '${this.ctx.id}' is stopped: create and start a new map`));
    }
    this.startPromise ??= this.join();
    return this.startPromise;
  }

  private async join(): Promise<M> {
    this.assertUsable();
    this.ctx.lifecycle = 'starting';
    await this.open().ready();
    await this.mayJoin();
    const targets = this.ctx.members.reachable();
    const replies = await this.parts.transfer.ask(targets);
    await this.parts.transfer.answered(targets, replies);
    // Only now, after a discovery round: a member that found none loads its snapshot.
    if (this.parts.snapshot !== undefined) await this.parts.snapshot.restore();
    this.joined();
    return this.map;
  }

  /**
   * The join is over: every member reachable after the discovery round answered with its whole
   * state (or failed to within `rpcTimeoutMs`), so this member knows every key and is ready.
   */
  private joined(): void {
    // stop() or a transport crash may have come while the replies were awaited.
    if (this.state !== 'starting') return;
    this.ctx.lifecycle = 'running';
    this.parts.view.changed();
    this.parts.expiry.start();
    // What the join or snapshot brought may exceed a limit: evicting waited for the map to run.
    this.ctx.capacity.check();
    this.map.emit('ready');
  }

  /** See `map.isReady`. */
  get isReady(): boolean {
    return this.ctx.lifecycle === 'running';
  }

  /** See `map.whenReady()`. */
  whenReady(): Promise<void> {
    if (this.isReady) return Promise.resolve();
    if (this.ctx.lifecycle === 'stopping' || this.ctx.lifecycle === 'stopped') {
      return Promise.reject(new StoppedError(`map '${this.ctx.name}' on member '${this.ctx.id}' is stopped: it will not be ready again`));
    }
    return new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        this.map.off('stopped', onStopped);
        resolve();
      };
      const onStopped = (): void => {
        this.map.off('ready', onReady);
        reject(new StoppedError(`map '${this.ctx.name}' on member '${this.ctx.id}' stopped before it was ready`));
      };
      this.map.once('ready', onReady);
      this.map.once('stopped', onStopped);
      this.startPromise?.catch((error: unknown) => {
        this.map.off('ready', onReady);
        this.map.off('stopped', onStopped);
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
      await checkJoin(ChannelRouter.of(this.parts.transport), this.ctx.members, this.joinCheck);
    } catch (error) {
      this.halt();
      await this.ctx.channel?.close();
      throw error;
    } finally {
      this.meeting = false;
    }
  }

  /** See `map.stop()`. */
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
    this.parts.view.changed();
    this.parts.expiry.stop();
    // Calls made before stop() and waiting for another member's answer get it: a graceful stop
    // is not a fault, and their callers learn what happened rather than "no answer".
    // At most rpcTimeoutMs: a call still waiting then is caught in a fault, and fails as it would.
    const awaited = this.parts.order.awaited();
    if (awaited.length > 0) await withDeadline(Promise.allSettled(awaited).then(() => undefined), this.ctx.rpcTimeoutMs);
    const discard = options.discard === true;
    const snapshot = this.parts.snapshot;
    // What no staying member can take goes to the snapshot, when there is one, instead of waiting.
    const save = snapshot === undefined ? undefined : async (entries: readonly Entry[]) => settle(snapshot.save(entries));
    const { dropped, hadPeer, waitedMs, saved } = await this.parts.departure.leave({ waitMs: this.stopWaitMs, discard, ...(save === undefined ? {} : { save }) });
    this.halt();
    await this.ctx.rpc.close();
    // A snapshot that could not be written: the map stopped all the same, and stop() says so.
    if (saved !== undefined) throw saved.error;
    if (dropped > 0 && !discard) this.reportLoss(dropped, hadPeer, waitedMs);
  }

  /**
   * Entries went with this member. A lone development member warns; one that had peers warns
   * too, emits the loss on `'error'` when listened to, and throws, so `stopOnSignals` exits
   * non-zero. The warning is always given (the contract asks for a typed error and a warning):
   * an `'error'` listener may only log, and the process's warnings are where an operator looks.
   */
  private reportLoss(dropped: number, hadPeer: boolean, waitedMs: number): void {
    const where = `map '${this.ctx.name}' on member '${this.ctx.id}'`;
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
    if (this.map.listenerCount('error') > 0) this.map.emit('error', error);
    process.emitWarning(error);
    throw error;
  }

  /** Stops serving at once (transport closed, crash, or end of a graceful stop). */
  private halt(): void {
    if (this.ctx.lifecycle === 'stopped') return;
    this.ctx.lifecycle = 'stopped';
    this.parts.expiry.stop();
    this.parts.view.close();
    this.ctx.entries.clear();
    this.ctx.members.clear();
    this.map.emit('stopped');
    void this.ctx.channel?.close();
  }

  /** @throws {StoppedError} once `stop()` began (or the transport closed). */
  assertUsable(): void {
    if (this.ctx.lifecycle === 'stopped' || this.ctx.lifecycle === 'stopping') {
      throw new StoppedError(`map '${this.ctx.name}' on member '${this.ctx.id}' is stopped: create and start a new map`);
    }
  }

  /**
   * For the synchronous reads: before `start()` the map has not met its members and knows no
   * key, so an answer such as `has(k) === false` would be a silent lie.
   * @throws {NotStartedError} before `start()`; {@link StoppedError} as {@link assertUsable}.
   */
  assertStarted(): void {
    this.assertUsable();
    if (this.ctx.lifecycle === 'new') {
      throw new NotStartedError(`map '${this.ctx.name}' on member '${this.ctx.id}' is not started, so it knows no keys yet: await map.start() first (async calls such as get and set start it themselves)`);
    }
  }

  /**
   * Resolves once the map runs, starting it if nobody did: the asynchronous calls start the map
   * themselves. @throws {StoppedError} as {@link assertUsable}, before or after the start.
   */
  async ready(): Promise<void> {
    this.assertUsable();
    if (this.ctx.lifecycle === 'new') await this.start();
    else if (this.ctx.lifecycle === 'starting') await this.startPromise;
    this.assertUsable();
  }
}
