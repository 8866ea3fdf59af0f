/**
 * State transfer: how two members of a map meet (a join, a heal, a peer that comes up) and give
 * each other what they need to know: the placements of the entries each owns and the deletes it
 * remembers (`MSG_START` answered by `MSG_STATE`).
 *
 * The state comes in pages of bounded size, so that a member owning a million entries still fits
 * every frame into a TCP peer's `maxFrameBytes`: the reply to `MSG_START` is the first page, and
 * the asker fetches the others one at a time with `MSG_STATE_NEXT` (one page in flight per member,
 * so neither side buffers the whole state). Tomcat sends its whole map in one message.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError, StatePageGoneError, type RpcResponse } from '../errors.js';
import { valueTooLarge } from '../rpc/frame-limit.js';
import { mapMessageFromWire, type MapMessage, type MapMessageOf, type Placement, type Removal } from '../codec/map-messages.js';
import { MESSAGE_TYPE_NAMES, MSG_START, MSG_STATE, MSG_STATE_NEXT } from '../codec/message-types.js';
import type { Membership } from '../membership/membership.js';
import type { Entry, EntryStore } from './entry.js';
import type { MapEmitter } from './map-context.js';
import type { MemberChanges } from './member-changes.js';
import { MAX_MESSAGE_BYTES, envelopeBound, placementBound, placementSize, removalBound, removalSize } from './message-size.js';
import { mapChannelName } from './map-channel.js';
import type { Messenger } from './messenger.js';
import type { Publisher } from './publisher.js';
import type { Reconciler } from './reconciler.js';
import type { Tombstones } from './tombstones.js';

/**
 * Transfers kept per asker. One is enough in a run without faults; a duplicated `MSG_START`
 * (whose reply the asker ignores) or a quick re-introduction leaves another behind, and the
 * oldest goes first.
 */
const MAX_TRANSFERS_PER_MEMBER = 4;

/** What state transfer reads of the map (the map's `MapContext` is one). */
export interface StateTransferState {
  /** This member's id. */
  readonly id: string;
  /** The map's name (its channel's, for the size of a page's envelope). */
  readonly name: string;
  /** The entries known here: the placements of those owned here are sent. */
  readonly entries: Pick<EntryStore, 'values'>;
  /** Deletes remembered, sent with the state. */
  readonly tombstones: Pick<Tombstones, 'live' | 'list'>;
  /** Who is a member here (with which incarnation), who was met, who is reachable. */
  readonly members: Pick<Membership, 'incarnation' | 'metIncarnation' | 'reachable'>;
  /** Where errors go (a bad page, an item too large to send). */
  readonly events: MapEmitter;
  /** True while the map serves (or is joining). */
  readonly serving: boolean;
  /** Lets work run on, reporting its failure. */
  background(work: Promise<unknown>): void;
  /** The largest frame every member accepts, in bytes (`Infinity`: no limit). */
  frameLimit(): number;
}

/** One item of a state: a delete remembered, or the placement of an entry owned here. */
type StateItem = Placement | Removal;

/**
 * A state being sent to one asker, page by page. It reads the live map, not a copy: whatever
 * changed since the first page was sent to the asker as it happened (it is a member from the
 * first page on), so a page carries that change or an older one, and versions decide.
 */
interface Outgoing {
  /** Names the transfer in `MSG_STATE_NEXT`. */
  readonly transfer: number;
  /** The page the asker asks for next; another number is a duplicate or a stale request. */
  page: number;
  /** Deletes first, then owned placements, as the merge applies them. */
  readonly items: Iterator<StateItem, void, undefined>;
  /** The item that did not fit the last page. */
  held: StateItem | undefined;
}

function isPlacement(item: StateItem): item is Placement {
  return 'primary' in item;
}

/** The collaborators state transfer hands its results to. */
export interface StateTransferParts {
  /** Sends `MSG_START` and passes state on. */
  readonly messenger: Pick<Messenger, 'request' | 'sendPlacements' | 'sendRemovals' | 'wire'>;
  /** Knows what was last announced of each entry. */
  readonly publisher: Pick<Publisher, 'lastAnnounced'>;
  /** Adopts the state received. */
  readonly reconciler: Pick<Reconciler, 'mergeState'>;
  /** Adds the member met. */
  readonly memberChanges: Pick<MemberChanges, 'added'>;
}

/** Introduces this member to others and exchanges state with them. */
export class StateTransfer {
  /** This member's incarnation of the map: a restart under the same id is another member. */
  readonly incarnation = randomUUID();
  private readonly state: StateTransferState;
  private readonly parts: StateTransferParts;
  /** Members a `MSG_START` is on its way to: one introduction at a time is enough. */
  private readonly introducing = new Set<string>();
  /** States being sent, by asker. */
  private readonly outgoing = new Map<string, Outgoing[]>();
  /**
   * Members that received this member's state (the reply to their `MSG_START`) for their current
   * incarnation, by id, and stayed members since. A member dropped and re-added meanwhile (a late
   * `peerDown` that overtook nothing but arrived after its start) missed what changed here in
   * between, and must get the state again (see {@link forgetSent}).
   */
  private readonly stateSent = new Map<string, string>();
  private nextTransfer = 1;
  private readonly pageBytes: number;

  /**
   * @param state see {@link StateTransferState}.
   * @param parts see {@link StateTransferParts}.
   * @param pageBytes estimated size of a state page, in bytes (see `statePageBytes`).
   * @throws {RangeError} when `pageBytes` is not a positive integer.
   */
  constructor(state: StateTransferState, parts: StateTransferParts, pageBytes = MAX_MESSAGE_BYTES) {
    if (!Number.isSafeInteger(pageBytes) || pageBytes < 1) {
      throw new RangeError(`option statePageBytes must be a positive integer number of bytes, got ${String(pageBytes)}`);
    }
    this.state = state;
    this.parts = parts;
    this.pageBytes = pageBytes;
  }

  /** Sends this member's start to the members of a join; pass the replies to {@link answered}. */
  ask(targets: readonly string[]): Promise<RpcResponse[]> {
    for (const t of targets) this.introducing.add(t);
    return this.parts.messenger.request({ type: MSG_START, incarnation: this.incarnation }, targets, 'all');
  }

  /**
   * The replies to a join's start arrived: each member that answered is met. Resolves once every
   * page of every member's state is merged (or its member failed to send one within
   * `rpcTimeoutMs`), so `start()` resolves knowing every key.
   */
  answered(targets: readonly string[], replies: readonly RpcResponse[]): Promise<void> {
    for (const t of targets) this.introducing.delete(t);
    return this.welcomeAll(replies);
  }

  /** A transport peer came up: ask it whether it runs this map (and exchange what we own). */
  introduce(id: string): void {
    if (this.introducing.has(id)) return;
    this.introducing.add(id);
    const meeting = this.parts.messenger.request({ type: MSG_START, incarnation: this.incarnation }, [id], 'all').then((replies) => {
      this.introducing.delete(id);
      return this.welcomeAll(replies);
    });
    this.state.background(meeting);
  }

  /**
   * The introduction on its way to `id` is over. Forgotten when the peer goes down, not when its
   * call settles (a microtask later): a 'peerUp' delivered right after (a partition healed at
   * once) must introduce again, or the two members never meet. States being sent to it are
   * dropped too: when it comes back it asks again, and is a member again only from then on.
   */
  forget(id: string): void {
    this.introducing.delete(id);
    this.outgoing.delete(id);
  }

  /**
   * Member `id` left the map (see member-changes.ts): what it was sent of this member's state no longer
   * counts, and should it be added again it gets the state again.
   */
  forgetSent(id: string): void {
    this.stateSent.delete(id);
  }

  /**
   * Answers a member's `MSG_START` with the first page of this member's state (as sent on the
   * wire), and adds the member.
   */
  answerStart(from: string, incarnation: string): unknown[] {
    const { state } = this;
    // First page first, then add: everything this member changes from now on is sent to the
    // newcomer, and the later pages, read from the live map, are no older than that.
    const out: Outgoing = { transfer: this.nextTransfer++, page: 1, items: this.stateItems(), held: undefined };
    const first = this.nextPage(out);
    if (first.next !== undefined) this.keep(from, out);
    const reply = this.parts.messenger.wire(first);
    // A start from an incarnation met before may be a duplicate whose reply the requester
    // ignores (it took the first one): then only our own introduction's welcome, which pushes
    // the state, brings the member up to date. A first meeting's reply is always taken.
    const metBefore = state.members.metIncarnation(from) === incarnation;
    this.parts.memberChanges.added(from, incarnation);
    if (!metBefore) this.stateSent.set(from, incarnation);
    return reply;
  }

  /**
   * Answers a member's `MSG_STATE_NEXT` with the page it asks for.
   * @throws {StatePageGoneError} when this member sends no such transfer to `from` (any more), or
   *   that page is not the next one (a duplicate whose first copy was answered).
   */
  answerNext(from: string, transfer: number, page: number): unknown[] {
    const list = this.outgoing.get(from);
    const out = list?.find((o) => o.transfer === transfer);
    if (list === undefined || out === undefined || out.page !== page) {
      throw new StatePageGoneError(`member '${this.state.id}' sends no page ${page} of state transfer ${transfer} to '${from}' (a stale or repeated request)`);
    }
    out.page++;
    const message = this.nextPage(out);
    if (message.next === undefined) {
      list.splice(list.indexOf(out), 1);
      if (list.length === 0) this.outgoing.delete(from);
    }
    return this.parts.messenger.wire(message);
  }

  /** Remembers a transfer to `from` that has pages left. */
  private keep(from: string, out: Outgoing): void {
    let list = this.outgoing.get(from);
    if (list === undefined) this.outgoing.set(from, (list = []));
    list.push(out);
    if (list.length > MAX_TRANSFERS_PER_MEMBER) list.shift();
  }

  /**
   * The next page of a transfer: items up to the page budget (at least one), and whether more
   * follow. With a frame limit in the cluster, a page also stays within it by the items' upper
   * bounds; an item that alone exceeds it (a huge key, under a limit lowered since it was written)
   * is left out and reported, so the rest of the state still arrives.
   */
  private nextPage(out: Outgoing): MapMessageOf<typeof MSG_STATE> {
    const entries: Placement[] = [];
    const tombstones: Removal[] = [];
    let held = out.held;
    out.held = undefined;
    let bytes = 0;
    const limit = this.state.frameLimit();
    const budget = Number.isFinite(limit) ? limit - envelopeBound(mapChannelName(this.state.name)) : Infinity;
    let bound = 0;
    for (;;) {
      let item = held;
      held = undefined;
      if (item === undefined) {
        const next = out.items.next();
        if (next.done === true) break;
        item = next.value;
      }
      const size = isPlacement(item) ? placementSize(item) : removalSize(item);
      const b = budget === Infinity ? 0 : isPlacement(item) ? placementBound(item) : removalBound(item);
      if (b > budget) {
        this.state.events.emit('error', valueTooLarge(`the ${isPlacement(item) ? 'placement' : 'delete'} of key ${String(item.key).slice(0, 64)} in a state page of map '${this.state.name}'`, b + limit - budget, limit, 'left out of the state sent to a joining member; use shorter keys'));
        continue;
      }
      if ((bytes > 0 && bytes + size > this.pageBytes) || (bound > 0 && bound + b > budget)) {
        out.held = item;
        break;
      }
      bound += b;
      bytes += size;
      if (isPlacement(item)) entries.push(item);
      else tombstones.push(item);
    }
    const page = { type: MSG_STATE, incarnation: this.incarnation, entries, tombstones } as const;
    return out.held === undefined ? page : { ...page, next: out.transfer };
  }

  /** This member's state, read lazily: deletes first (the merge applies them first), then owned placements. */
  private *stateItems(): Generator<StateItem, void, undefined> {
    yield* this.state.tombstones.live();
    for (const e of this.state.entries.values()) {
      const owned = this.ownedPlacement(e);
      if (owned !== undefined) yield owned;
    }
  }

  /**
   * The placement of an entry owned here, for a state transfer. An entry whose publication is
   * under way is sent as last announced for the same placing write, or not at all: the newcomer is
   * a peer before that publication ends, and its final MSG_PROXY reaches it. An update in place
   * under way leaves the placement as announced (only its `update` is older, as on every proxy).
   */
  private ownedPlacement(e: Entry): Placement | undefined {
    if (e.role !== 'primary') return undefined;
    const announced = this.parts.publisher.lastAnnounced(e);
    return announced !== undefined && e.sameLineage(announced.version) ? announced : undefined;
  }

  /** The placements of the entries owned here. */
  private ownedPlacements(): Placement[] {
    const owned: Placement[] = [];
    for (const e of this.state.entries.values()) {
      const p = this.ownedPlacement(e);
      if (p !== undefined) owned.push(p);
    }
    return owned;
  }

  /** Merges the states of the members that answered a start, every page of each. */
  private async welcomeAll(replies: readonly RpcResponse[]): Promise<void> {
    const welcomes: Promise<void>[] = [];
    for (const r of replies) if ('reply' in r) welcomes.push(this.welcome(r.from, r.reply));
    await Promise.all(welcomes);
  }

  /** A member answered our start with the first page of its state: merge it, then fetch the rest. */
  private async welcome(from: string, reply: unknown): Promise<void> {
    const { state } = this;
    let message = this.statePage(from, reply, 'a start');
    if (message === undefined) return;
    const { incarnation } = message;
    this.parts.memberChanges.added(from, incarnation);
    this.parts.reconciler.mergeState(message.entries, message.tombstones, from);
    if (state.members.incarnation(from) === incarnation && this.stateSent.get(from) !== incarnation) {
      this.pushState(from, incarnation);
    }
    for (let page = 1; message.next !== undefined; page++) {
      const replies = await this.parts.messenger.request({ type: MSG_STATE_NEXT, transfer: message.next, page }, [from], 'all');
      // Gone (or restarted) meanwhile: failover re-homed what it owned, and a new incarnation
      // owns nothing from before. A late page would name a primary that is no more.
      if (state.members.incarnation(from) !== incarnation) return;
      const answer = replies[0];
      if (answer === undefined || !('reply' in answer)) {
        this.resume(from);
        return;
      }
      const next = this.statePage(from, answer.reply, 'a request for a page');
      if (next === undefined) return;
      if (next.incarnation !== incarnation) {
        state.events.emit('error', new ProtocolError(`member '${from}' sent a page of incarnation ${next.incarnation} in a transfer of ${incarnation}`, from));
        return;
      }
      this.parts.reconciler.mergeState(next.entries, next.tombstones, from);
      message = next;
    }
  }

  /**
   * A page did not come (its deadline passed, or the member no longer had the transfer) although
   * the member is still there: meet it again, which sends its state anew from the live map. Not
   * awaited: a start waits at most `rpcTimeoutMs` per page, and converges in the background.
   */
  private resume(from: string): void {
    if (this.state.serving && this.state.members.reachable().includes(from)) this.introduce(from);
  }

  /** A page of a member's state, or `undefined` (reported) when the answer is something else. */
  private statePage(from: string, reply: unknown, to: string): MapMessageOf<typeof MSG_STATE> | undefined {
    let message: MapMessage;
    try {
      message = mapMessageFromWire(reply);
    } catch (error) {
      this.state.events.emit('error', new ProtocolError(`bad state reply from '${from}': ${(error as Error).message}`, from, { cause: error }));
      return undefined;
    }
    if (message.type !== MSG_STATE) {
      this.state.events.emit('error', new ProtocolError(`member '${from}' answered ${to} with ${MESSAGE_TYPE_NAMES[message.type] ?? '?'}`, from));
      return undefined;
    }
    return message;
  }

  /** Sends `to` what a `MSG_STATE` reply would carry, as `MSG_REMOVE` and `MSG_PROXY` (see {@link stateSent}). */
  private pushState(to: string, incarnation: string): void {
    this.stateSent.set(to, incarnation);
    const removals = this.state.tombstones.list();
    void this.parts.messenger.sendRemovals([to], removals, 'none');
    const owned = this.ownedPlacements();
    void this.parts.messenger.sendPlacements(to, owned, 'none');
  }
}
