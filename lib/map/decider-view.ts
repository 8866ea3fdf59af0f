/**
 * Who decides for a key no member knows, while members come and go. The decider is
 * {@link deciderOf} over the members (conditional-writes.ts), and members hear of a join or a
 * leave at different moments: without more, for a while two members would each take itself for
 * the decider of the same key and both act on it (one hands the key to a creator while the other
 * deletes it, and the delete, with the higher version, wins after the write resolved).
 *
 * So every member announces its view of the members (`MSG_VIEW`, each member with its
 * incarnation) each time that view changes, and answers an announcement with its own. A member
 * decides for a key it does not know only while every member of its view announced that same
 * view: a member whose view changed stops deciding under the old one at once, the others stop
 * as soon as they hear of it, and whoever decides under the new view does so only once every
 * member announced it. Each announcement carries its sender's Lamport clock and the creations it
 * handed out whose creators have not published them yet, so the next decider's writes outrank
 * every delete the previous one made, and it sends later creators of a key where the key went.
 *
 * A decision that waits for the views to agree waits at most `rpcTimeoutMs` (a member that does
 * not answer is a fault, which failover ends); then it is refused as not made, and the caller
 * acts as under faults (docs/consistency.md).
 *
 * @module
 */
import { ConditionalWriteError, ProtocolError, StoppedError, type RpcResponse } from '../errors.js';
import { mapMessageFromWire, type Creation, type MapKey, type MemberView } from '../codec/map-messages.js';
import { MSG_VIEW } from '../codec/message-types.js';
import type { Membership } from '../membership/membership.js';
import type { MapContext } from './map-context.js';
import type { Messenger } from './messenger.js';
import type { LamportClock } from './version.js';

/**
 * Times an announcement goes to a member that does not answer it. Each try waits `rpcTimeoutMs`;
 * a member silent for that long is a fault, which the failure detector ends.
 */
const ANNOUNCE_TRIES = 3;

/**
 * What the view needs of the map: where it is in its life (read only), the members with their
 * incarnations (marking one whose view leaves it out as leaving), the clock its announcements
 * carry, and the deadline of a wait.
 */
export type DeciderViewState = Pick<MapContext, 'id' | 'name' | 'rpcTimeoutMs' | 'background' | 'events'> &
  Readonly<Pick<MapContext, 'lifecycle'>> & {
    /** The members, their incarnations, and who leaves. */
    readonly members: Pick<Membership, 'ids' | 'has' | 'candidates' | 'incarnation' | 'isLeaving' | 'markLeaving'>;
    /** The clock announcements carry, and observe. */
    readonly clock: Pick<LamportClock, 'current' | 'observe'>;
  };

/** What the view asks of the member deciding conditional writes. */
export interface CreationLedger {
  /** The creations this member handed out, or made itself, whose publication is still under way. */
  creations(): Creation[];
  /** Creations another member handed out: this member sends askers of those keys to their creators. */
  learn(creations: readonly Creation[]): void;
}

/** One wait for a change of the members (the views to agree, a member to leave). */
interface Waiter {
  readonly test: () => boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** This member's view of the map's members, the views the others announced, and whether they agree. */
export class DeciderView {
  private readonly state: DeciderViewState;
  private readonly messenger: Pick<Messenger, 'request' | 'wire'>;
  private readonly incarnation: string;
  private ledger: CreationLedger | undefined;
  /** The view last announced, as a text compared with the others'. */
  private mine = '';
  private seq = 0;
  /** The latest view each member announced, by the sequence it gave. */
  private readonly theirs = new Map<string, { readonly incarnation: string; readonly seq: number; readonly view: string }>();
  private readonly waiters = new Set<Waiter>();
  /** An announcement is due at the end of this turn (several changes in one turn send one). */
  private due = false;
  /** The members changed since {@link mine} was computed. */
  private dirty = true;
  /** {@link agreed} as last computed; `undefined` after any change. */
  private agreedNow: boolean | undefined;

  /**
   * @param state see {@link DeciderViewState}.
   * @param messenger sends the announcements.
   * @param incarnation this member's incarnation of the map.
   */
  constructor(state: DeciderViewState, messenger: Pick<Messenger, 'request' | 'wire'>, incarnation: string) {
    this.state = state;
    this.messenger = messenger;
    this.incarnation = incarnation;
  }

  /** Connects the ledger of creations that announcements carry (it is built after this view). */
  attach(ledger: CreationLedger): void {
    this.ledger = ledger;
  }

  /**
   * The members a key no member knows is decided among: this member (unless it is leaving) and
   * the live members that are not leaving.
   */
  deciders(): readonly string[] {
    const others = this.state.members.candidates();
    return this.stays() ? [this.state.id, ...others] : others;
  }

  /**
   * Resolves when every member of this member's view announced the same view (at once if they
   * have): only then does this member decide for a key it does not know.
   * @returns `undefined` when they agree now.
   * @throws {ConditionalWriteError} (through the promise) when they did not agree within
   *   `rpcTimeoutMs`: nothing was decided.
   */
  agreement(key: MapKey): Promise<void> | undefined {
    if (this.agreed()) return undefined;
    return this.until(
      // Or this member began to leave: it decides nothing now, and the caller asks who does.
      () => this.agreed() || this.state.lifecycle === 'stopping' || this.state.lifecycle === 'stopped',
      () => {
        this.askAgain();
        return new ConditionalWriteError(
          `key ${String(key)} of map '${this.state.name}' is known to no member, and the members did not agree within rpcTimeoutMs (${this.state.rpcTimeoutMs} ms) which of them decides for it (a member joining or leaving did not answer); nothing was written; retry`,
          key,
          false,
        );
      },
    );
  }

  /**
   * The views did not agree in time: this member's view goes again to the members whose last
   * announced view differs (an announcement or its answer may have been lost for good, the link
   * coming back without the members changing), so that a later decision may find them agreeing.
   */
  private askAgain(): void {
    if (this.state.lifecycle !== 'running') return;
    const differ = this.deciders().filter((id) => id !== this.state.id && this.theirs.get(id)?.view !== this.mine);
    if (differ.length > 0) this.state.background(this.announce(differ, this.seq));
  }

  /**
   * Resolves once `test()` holds, as checked after each change of the members or of their views;
   * rejects with `late()` after `rpcTimeoutMs`, or when the map stops.
   */
  until(test: () => boolean, late: () => Error): Promise<void> {
    if (test()) return Promise.resolve();
    const wait = new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        test,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(late());
        }, this.state.rpcTimeoutMs),
      };
      this.waiters.add(waiter);
    });
    // A caller may drop the wait and decide afresh later (see ConditionalWrites.route): a refusal
    // nobody awaits is not an unhandled rejection. Whoever awaits it still gets it.
    wait.catch(() => undefined);
    return wait;
  }

  /**
   * The members changed here (one added, gone, leaving, or this member started to leave):
   * announce the new view to every member, by the end of this turn.
   */
  changed(): void {
    this.dirty = true;
    this.agreedNow = undefined;
    if (this.due) return;
    this.due = true;
    queueMicrotask(() => {
      this.due = false;
      this.refresh();
      this.wake();
    });
  }

  /** `id` is gone: what it announced belongs to that incarnation (a restart starts counting anew). */
  forget(id: string): void {
    this.theirs.delete(id);
    this.agreedNow = undefined;
    this.changed();
  }

  /** A member announced its view (`MSG_VIEW`): recorded; answered with this member's own. */
  heard(view: MemberView, from: string): unknown[] {
    this.record(view, from);
    this.refresh();
    return this.messenger.wire({ type: MSG_VIEW, ...this.current() });
  }

  /** The map stopped: every wait ends, refused. */
  close(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new StoppedError(`map '${this.state.name}' on member '${this.state.id}' stopped while its members changed`));
    }
    this.waiters.clear();
    this.theirs.clear();
  }

  private stays(): boolean {
    return this.state.lifecycle === 'running' || this.state.lifecycle === 'starting';
  }

  /** This member's view as a text: members with their incarnations, sorted. */
  private viewOf(): { text: string; members: Array<readonly [string, string]> } {
    const { members } = this.state;
    const list: Array<readonly [string, string]> = this.deciders().map((id) => [id, id === this.state.id ? this.incarnation : (members.incarnation(id) ?? '')] as const);
    list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { text: list.map(([id, inc]) => `${id}@${inc}`).join('\n'), members: list };
  }

  private current(): MemberView {
    const { members } = this.viewOf();
    return { seq: this.seq, incarnation: this.incarnation, members, clock: this.state.clock.current(), creations: this.ledger?.creations() ?? [] };
  }

  /** Announces this member's view if it changed since the last announcement. */
  private refresh(): void {
    if (!this.dirty || this.state.lifecycle === 'stopped' || this.state.lifecycle === 'new') return;
    this.dirty = false;
    const { text } = this.viewOf();
    if (text === this.mine) return;
    this.mine = text;
    this.agreedNow = undefined;
    this.seq++;
    // The members only: a member still being introduced is added here soon, which changes this
    // view and announces it to that member then.
    const targets = this.state.members.ids();
    if (targets.length > 0) this.state.background(this.announce(targets, this.seq));
    this.wake();
  }

  private async announce(targets: readonly string[], seq: number, tries = 1): Promise<void> {
    let replies: RpcResponse[];
    try {
      replies = await this.messenger.request({ type: MSG_VIEW, ...this.current() }, targets, 'all');
    } catch (error) {
      // Stopped meanwhile: nothing to agree on any more. Anything else is reported (background).
      if (this.state.lifecycle === 'stopped') return;
      throw error;
    }
    const answered = new Set<string>();
    for (const r of replies) {
      answered.add(r.from);
      if (!('reply' in r)) continue;
      let message;
      try {
        message = mapMessageFromWire(r.reply);
      } catch (error) {
        this.state.events.emit('error', new ProtocolError(`bad answer to a view of the members from '${r.from}': ${(error as Error).message}`, r.from, { cause: error }));
        continue;
      }
      // Without its view, this member cannot agree with that one: a peer that answers otherwise
      // keeps every creation of an unknown key here waiting rpcTimeoutMs. Said, not swallowed.
      if (message.type === MSG_VIEW) this.record(message, r.from);
      else this.state.events.emit('error', new ProtocolError(`member '${r.from}' answered a view of the members with message type ${message.type}, not MSG_VIEW`, r.from));
    }
    this.wake();
    // A member that is still here and did not answer (the announcement or its answer was lost)
    // is told again, unless a newer view went out since: without it, the views would not agree
    // until the members change again.
    const again = targets.filter((t) => !answered.has(t) && this.state.members.has(t));
    if (again.length > 0 && seq === this.seq && this.state.lifecycle === 'running' && tries < ANNOUNCE_TRIES) await this.announce(again, seq, tries + 1);
  }

  private record(view: MemberView, from: string): void {
    this.state.clock.observe([view.clock, from, 0, from]);
    if (view.creations.length > 0) this.ledger?.learn(view.creations);
    const { members } = this.state;
    // An announcement of an incarnation that is gone (the member restarted since) says nothing.
    const live = members.incarnation(from);
    if (live !== undefined && live !== view.incarnation) return;
    // A member counts itself until it starts to leave: a view without its sender says so, and may
    // arrive before its MSG_LEAVING, or before the member was added here.
    if (!members.isLeaving(from) && !view.members.some(([id]) => id === from)) members.markLeaving(from);
    const known = this.theirs.get(from);
    if (known !== undefined && known.incarnation === view.incarnation && known.seq >= view.seq) return;
    this.theirs.set(from, { incarnation: view.incarnation, seq: view.seq, view: view.members.map(([id, inc]) => `${id}@${inc}`).join('\n') });
    this.agreedNow = undefined;
    this.wake();
  }

  /** True when this member runs (its join merged every member's state) and every other member of its view announced the same view. */
  private agreed(): boolean {
    // A change heard in this turn counts before anything is decided.
    this.refresh();
    if (this.state.lifecycle !== 'running') return false;
    if (this.agreedNow !== undefined) return this.agreedNow;
    this.agreedNow = this.deciders().every((id) => id === this.state.id || this.theirs.get(id)?.view === this.mine);
    return this.agreedNow;
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      if (!w.test()) continue;
      this.waiters.delete(w);
      clearTimeout(w.timer);
      w.resolve();
    }
  }
}
