/**
 * State transfer: how two members of a map meet (a join, a heal, a peer that comes up) and give
 * each other what they need to know: the placements of the entries each owns and the deletes it
 * remembers (`MSG_START` answered by `MSG_STATE`).
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError, type RpcResponse } from '../errors.js';
import { mapMessageFromWire, type MapMessage, type Placement } from '../codec/map-messages.js';
import { MESSAGE_TYPE_NAMES, MSG_START, MSG_STATE } from '../codec/message-types.js';
import type { Failover } from './failover.js';
import type { MapContext } from './map-context.js';
import type { Messenger } from './messenger.js';
import type { Publisher } from './publication.js';
import type { Reconciler } from './reconciliation.js';

/** The slice of the map's state state transfer uses. */
export type StateTransferState = Pick<MapContext, 'entries' | 'tombstones' | 'members' | 'stateSent' | 'events'>;

/** The collaborators state transfer hands its results to. */
export interface StateTransferParts {
  /** Sends `MSG_START` and passes state on. */
  readonly messenger: Messenger;
  /** Knows what was last announced of each entry. */
  readonly publisher: Publisher;
  /** Adopts the state received. */
  readonly reconciler: Reconciler;
  /** Adds the member met. */
  readonly failover: Failover;
}

/** Introduces this member to others and exchanges state with them. */
export class StateTransfer {
  /** This member's incarnation of the map: a restart under the same id is another member. */
  readonly incarnation = randomUUID();
  private readonly state: StateTransferState;
  private readonly parts: StateTransferParts;
  /** Members a `MSG_START` is on its way to: one introduction at a time is enough. */
  private readonly introducing = new Set<string>();

  /**
   * @param state see {@link StateTransferState}.
   * @param parts see {@link StateTransferParts}.
   */
  constructor(state: StateTransferState, parts: StateTransferParts) {
    this.state = state;
    this.parts = parts;
  }

  /** Sends this member's start to the members of a join; pass the replies to {@link answered}. */
  ask(targets: readonly string[]): Promise<RpcResponse[]> {
    for (const t of targets) this.introducing.add(t);
    return this.parts.messenger.request({ type: MSG_START, incarnation: this.incarnation }, targets, 'all');
  }

  /** The replies to a join's start arrived: each member that answered is met. */
  answered(targets: readonly string[], replies: readonly RpcResponse[]): void {
    for (const t of targets) this.introducing.delete(t);
    for (const r of replies) if ('reply' in r) this.welcome(r.from, r.reply);
  }

  /** A transport peer came up: ask it whether it runs this map (and exchange what we own). */
  introduce(id: string): void {
    if (this.introducing.has(id)) return;
    this.introducing.add(id);
    void this.parts.messenger.request({ type: MSG_START, incarnation: this.incarnation }, [id], 'all').then((replies) => {
      this.introducing.delete(id);
      for (const r of replies) if ('reply' in r) this.welcome(r.from, r.reply);
    });
  }

  /**
   * The introduction on its way to `id` is over. Forgotten when the peer goes down, not when its
   * call settles (a microtask later): a 'peerUp' delivered right after (a partition healed at
   * once) must introduce again, or the two members never meet.
   */
  forget(id: string): void {
    this.introducing.delete(id);
  }

  /** Answers a member's `MSG_START` with this member's state (as sent on the wire), and adds the member. */
  answerStart(from: string, incarnation: string): unknown[] {
    const { state } = this;
    // Snapshot first, then add: everything this member changes from now on is sent to the newcomer.
    const reply = this.parts.messenger.wire({ type: MSG_STATE, incarnation: this.incarnation, entries: this.ownedPlacements(), tombstones: state.tombstones.list() });
    // A start from an incarnation met before may be a duplicate whose reply the requester
    // ignores (it took the first one): then only our own introduction's welcome, which pushes
    // the state, brings the member up to date. A first meeting's reply is always taken.
    const metBefore = state.members.metIncarnation(from) === incarnation;
    this.parts.failover.added(from, incarnation);
    if (!metBefore) state.stateSent.set(from, incarnation);
    return reply;
  }

  /**
   * The placements of the entries owned here, for a state transfer. An entry whose publication is
   * under way is sent as last announced for the same placing write, or not at all: the newcomer is
   * a peer before that publication ends, and its final MSG_PROXY reaches it. An update in place
   * under way leaves the placement as announced (only its `update` is older, as on every proxy).
   */
  private ownedPlacements(): Placement[] {
    const owned: Placement[] = [];
    for (const e of this.state.entries.values()) {
      if (e.role !== 'primary') continue;
      const announced = this.parts.publisher.lastAnnounced(e);
      if (announced !== undefined && e.sameLineage(announced.version)) owned.push(announced);
    }
    return owned;
  }

  /** A member answered our start with its state. */
  private welcome(from: string, reply: unknown): void {
    const { state } = this;
    let message: MapMessage;
    try {
      message = mapMessageFromWire(reply);
    } catch (error) {
      state.events.emit('error', new ProtocolError(`bad state reply from '${from}': ${(error as Error).message}`, from, { cause: error }));
      return;
    }
    if (message.type !== MSG_STATE) {
      state.events.emit('error', new ProtocolError(`member '${from}' answered a start with ${MESSAGE_TYPE_NAMES[message.type] ?? '?'}`, from));
      return;
    }
    this.parts.failover.added(from, message.incarnation);
    this.parts.reconciler.mergeState(message.entries, message.tombstones, from);
    if (state.members.incarnation(from) === message.incarnation && state.stateSent.get(from) !== message.incarnation) {
      this.pushState(from, message.incarnation);
    }
  }

  /** Sends `to` what a `MSG_STATE` reply would carry, as `MSG_REMOVE` and `MSG_PROXY` (see `MapContext.stateSent`). */
  private pushState(to: string, incarnation: string): void {
    this.state.stateSent.set(to, incarnation);
    const removals = this.state.tombstones.list();
    void this.parts.messenger.sendRemovals([to], removals, 'none');
    const owned = this.ownedPlacements();
    void this.parts.messenger.sendPlacements(to, owned, 'none');
  }
}
