/**
 * Everything about a key that one member must decide, decided by that member, in its call order:
 * conditional writes (`setIfAbsent`, `compareAndSet`, `update`), deletes, reads made on other
 * members, and the handover of the primary role to a member that writes or promotes the key.
 *
 * Who decides: the key's primary. A key known nowhere (never written, deleted, expired and swept)
 * has no primary; its decider is then a member chosen by hashing the key over the sorted live
 * members that stay (see {@link deciderOf}), which serialises the creations of that key: racing
 * `setIfAbsent`s (and `set`s) of a fresh key all reach it. The decider that creates the key for a
 * conditional write becomes its primary; one that hands a creation to a `set` elsewhere remembers
 * the creator until the creator's publication reaches it.
 *
 * A member that is asked and does not decide (any more) answers `moved` with the one it knows,
 * and the asker follows, a bounded number of times ({@link MAX_FORWARDS}). The primary role moves
 * only by a handover from the member that holds it ({@link ConditionalWrites.take}): it waits
 * until its own write in flight is known everywhere, answers with the version the asker is
 * primary at, keeps its copy as a spare naming the new primary, and sends later askers there.
 * An `update` elsewhere reads the value from the decider, runs `fn` here, and offers the result
 * as a compare-and-set of the bytes it was computed from; a refusal brings the newer value.
 *
 * Limits (docs/consistency.md): while members disagree about who is live (a join or a leave
 * being learned, a failover, a partition) two members may each decide for one unknown key.
 *
 * @module
 */
import { ConditionalWriteError, StoppedError, UpdateConflictError, type RpcResponse } from '../errors.js';
import { mapMessageFromWire, type ConditionalOutcome, type ConditionalRequest, type Creation, type EntryExpiry, type Handover, type MapKey, type MapMessageOf } from '../codec/map-messages.js';
import { MSG_CONDITIONAL, MSG_HANDOVER, MSG_OUTCOME } from '../codec/message-types.js';
import type { Membership } from '../membership/membership.js';
import { NOT_DECODED, type EntryStore } from './entry.js';
import { alive, expiryOf } from './expiry.js';
import { compareVersions, nextPlacement } from './version.js';
import type { DeciderView } from './decider-view.js';
import type { MapContext } from './map-context.js';
import type { SetOptions } from './map-options.js';
import type { Messenger } from './messenger.js';
import type { Publisher } from './publisher.js';

/**
 * Times a request decided by a key's primary (a conditional write, a delete, a read elsewhere)
 * follows a `moved` answer before it gives up with {@link ConditionalWriteError}. Racing writers
 * of one key each move the primary role on, and every move sends later askers one member further.
 */
export const MAX_FORWARDS = 64;

/** Size of the table of creations under way at which its stale records are swept (see ConditionalWrites.creation). */
const CREATIONS_SWEPT_AT = 1024;

/** Times a handover (a `set`, or a promoting `get`, on a member that is not the key's primary) follows `moved` answers. */
export const MAX_HANDOVER_FORWARDS = MAX_FORWARDS;

/**
 * What conditional writes need of the map: where it is in its life (read only), the entries known
 * here (looked up; a handover changes the entry in place), the deletes remembered, which members
 * are live and which leave, and the codec, clock and interner of the entries they decide.
 */
export type ConditionalState = Pick<MapContext, 'id' | 'name' | 'tombstones' | 'codec' | 'now' | 'decoded' | 'clock' | 'interner' | 'background'> &
  Readonly<Pick<MapContext, 'lifecycle'>> & {
    /** The entry known for a key, if any. */
    readonly entries: Pick<EntryStore, 'get' | 'has'>;
    /** Whether the member asked (or asking) is live, and whether it leaves. */
    readonly members: Pick<Membership, 'has' | 'isLeaving'>;
  };

/** What conditional writes ask of their siblings, one or a few methods each. */
export interface ConditionalParts {
  /** Sends requests to the decider, and answers them. */
  readonly messenger: Pick<Messenger, 'request' | 'wire'>;
  /** Whether a write of an entry is still being published here, and when it is known everywhere. */
  readonly publisher: Pick<Publisher, 'publicationOf' | 'underWay'>;
  /** Who decides for keys no member knows, and whether the members agree on it. */
  readonly view: Pick<DeciderView, 'deciders' | 'agreement' | 'until'>;
}

/** What the map lends conditional writes: its call order and its write path. */
export interface ConditionalHooks {
  /** Runs `step` in this member's call order as a write of `key` (the map's `inOrder`). */
  inOrder<T>(key: MapKey, step: () => Promise<T>): Promise<T>;
  /** Runs `step` for another member once this member's waiting calls of `key` are done (not behind calls of other keys). */
  afterEarlier<T>(key: MapKey, step: () => Promise<T>): Promise<T>;
  /** Registers a conditional write of `key` decided elsewhere, so later calls of `key` here wait for it. */
  fetching<T>(key: MapKey, request: Promise<T>): Promise<T>;
  /** Writes as `set` does on this member (publication, write concern); resolves once acknowledged. */
  write(key: MapKey, value: unknown, bytes: Uint8Array, options: SetOptions): Promise<void>;
  /**
   * Settles once this member's earlier writes and deletes of `key` reached every member that
   * must hear of them, so that a decider elsewhere decides after them (a network may reorder).
   */
  sent(key: MapKey): Promise<void>;
  /** @throws {ValueTooLargeError} when a copy of `key` with `valueBytes` would not fit the cluster's frames. */
  fits(key: MapKey, valueBytes: number, value: unknown): void;
  /** An entry this member is primary of was found expired: it is deleted everywhere now (the map's sweep), not at the next one. */
  expired(): void;
  /** `key`, whose primary this member is, was read by another member: a use, for its idle limit. */
  used(key: MapKey): void;
  /** Deletes `key` as its primary, on every member (the map's delete path); resolves once acknowledged. */
  remove(key: MapKey): Promise<void>;
  /**
   * Makes this member primary of the key handed over (see {@link ConditionalWrites.take}), with
   * the value that came with it or, for a `set`, the caller's; resolves once the entry is
   * published. Resolves to `false`, changing nothing, when this member already knows a newer
   * state of the key than the handover (a delete or a write that overtook it): ask again.
   */
  adopt(handover: Handover, write: OwnWrite | undefined): Promise<Taken | false>;
}

/** What a handover here came to: the value this member took the key over with (the one it wrote, for a `set`). */
export interface Taken {
  readonly value: unknown;
}

/** The value a `set` made on a member that is not the key's primary writes once the role is handed to it. */
export interface OwnWrite {
  readonly value: unknown;
  readonly bytes: Uint8Array;
  readonly options: SetOptions;
}

/** A conditional write as the caller asks it: a request, or (`compute`) an update run where it is decided. */
type Ask = ConditionalRequest | { readonly key: MapKey; readonly condition: 'compute'; readonly fn: (old: unknown) => unknown; readonly options: SetOptions };

/** What a decision here came to: an outcome (after the write or value it names is known everywhere), a handover, or where to go. */
type Decision =
  | { readonly moved: string }
  | { readonly done: Promise<ConditionalOutcome & { next?: unknown }> }
  | { readonly handing: Promise<Handover | ConditionalOutcome> }
  /** Decide again once the members agree who decides for this unknown key (see decider-view.ts). */
  | { readonly later: Promise<void> };

/** Makes and answers conditional writes. */
export class ConditionalWrites {
  private readonly state: ConditionalState;
  private readonly messenger: ConditionalParts['messenger'];
  private readonly publisher: ConditionalParts['publisher'];
  private readonly hooks: ConditionalHooks;
  private readonly view: ConditionalParts['view'];
  /** Creations of unknown keys handed out here and not yet published (see {@link creation}). */
  private readonly creating = new Map<MapKey, { readonly to: string; readonly handover: Handover }>();
  /** Keys this member created (it knew no entry of them) whose publication is under way, with their versions. */
  private readonly createdHere = new Map<MapKey, Handover['version']>();
  /** The size of {@link creating} at which its stale records are swept. */
  private sweepAt = CREATIONS_SWEPT_AT;
  /** The members this one awaits an answer from, by key, with the number of requests (see {@link answer}). */
  private readonly waitingOn = new Map<MapKey, Map<string, number>>();
  /**
   * Keys this member handed over (see {@link handing}): to whom, at which version. The member it
   * handed a key to may never have got the answer; asked again by it, this member answers the
   * same while it still holds the spare copy of that version (see {@link met}). A record lasts
   * while the key's placement known here names that member as primary (see {@link handedTo}), so
   * there are at most as many as keys known here; a sweep drops the others.
   */
  private readonly handed = new Map<MapKey, { readonly to: string; readonly version: Handover['version'] }>();
  /** The size of {@link handed} at which its stale records are swept. */
  private handedSweepAt = CREATIONS_SWEPT_AT;
  /** Keys whose `take` or `place` got no answer, with the member asked (see {@link met}). */
  private readonly unanswered = new Map<MapKey, string>();

  /**
   * @param state see {@link ConditionalState}.
   * @param messenger sends conditional writes to the decider and answers them.
   * @param publisher tells whether a write of the key is still being published here.
   * @param hooks the map's call order, its plain write path and its size check (see {@link ConditionalHooks}).
   * @param view who decides for keys no member knows, and whether the members agree on it.
   */
  constructor(state: ConditionalState, messenger: ConditionalParts['messenger'], publisher: ConditionalParts['publisher'], hooks: ConditionalHooks, view: ConditionalParts['view']) {
    this.state = state;
    this.messenger = messenger;
    this.publisher = publisher;
    this.hooks = hooks;
    this.view = view;
  }

  /** The creations handed out here whose creators have not published them yet (announced with this member's view). */
  creations(): Creation[] {
    const list: Creation[] = [];
    // Created here and not yet known everywhere: a member that decides for these keys next (the
    // members changed) must send askers here, not answer that the key has no value.
    for (const [key, version] of this.createdHere) list.push({ key, to: this.state.id, version });
    for (const key of [...this.creating.keys()]) {
      const c = this.creation(key);
      if (c !== undefined) list.push({ key, to: c.to, version: c.handover.version });
    }
    return list;
  }

  /**
   * This member made `key`, which it knew no entry of, its primary at `version` (a write as its
   * decider, a creation handed here, or a write placed anew under faults): until its publication
   * settled (call the function returned then), the views this member announces name it as the
   * key's creator.
   */
  created(key: MapKey, version: Handover['version']): () => void {
    this.createdHere.set(key, version);
    return () => {
      if (this.createdHere.get(key) === version) this.createdHere.delete(key);
    };
  }

  /**
   * Creations another member handed out as the decider of their keys: should this member decide
   * for one of those keys next (the members changed), it sends askers to the creator, as that
   * member would have, instead of handing the key out a second time.
   */
  learn(creations: readonly Creation[]): void {
    for (const c of creations) {
      // This member's own creation: it is publishing the key, and needs no pointer to itself.
      if (c.to === this.state.id || this.state.entries.has(c.key)) continue;
      const known = this.creating.get(c.key);
      if (known !== undefined && compareVersions(known.handover.version, c.version) >= 0) continue;
      this.creating.set(c.key, { to: c.to, handover: { key: c.key, version: c.version } });
    }
  }

  /**
   * Settles once this member may decide for `key` (`undefined`: it may now): a key no member
   * knows is decided only while the members agree who decides for it (see decider-view.ts).
   * @throws {ConditionalWriteError} (through the promise) when they did not agree in time.
   */
  agreeing(key: MapKey): Promise<void> | undefined {
    return this.state.entries.has(key) ? undefined : this.view.agreement(key);
  }

  /** Writes `bytes` (the encoding of `value`) if `key` holds no live value. Resolves to whether it wrote. */
  setIfAbsent(key: MapKey, value: unknown, bytes: Uint8Array, options: SetOptions): Promise<boolean> {
    return this.hooks.inOrder(key, async () => (await this.route({ key, condition: 'absent', bytes, expiry: expiryOptions(options) }, value)).outcome === 'written');
  }

  /** Writes `bytes` if `key`'s live value is encoded as exactly `expected`. Resolves to whether it wrote. */
  compareAndSet(key: MapKey, expected: Uint8Array, value: unknown, bytes: Uint8Array, options: SetOptions): Promise<boolean> {
    return this.hooks.inOrder(key, async () => (await this.route({ key, condition: 'equal', expected, bytes, expiry: expiryOptions(options) }, value)).outcome === 'written');
  }

  /**
   * Read-modify-write: on the decider, `fn` runs once, in its call order. Elsewhere `fn` runs here
   * on the value read from the decider and its result is offered as a compare-and-set; on a
   * refusal `fn` runs again on the newer value, at most `maxAttempts` times. Resolves to what the
   * last run of `fn` returned (the value written).
   */
  update(key: MapKey, fn: (old: unknown) => unknown, options: SetOptions, maxAttempts: number): Promise<unknown> {
    return this.hooks.inOrder(key, () => {
      if (this.targetOf(key) === this.state.id) {
        // Decided here, in this member's call order: no one can change the value between the
        // read and the write, so fn runs once.
        const d = this.decide({ key, condition: 'compute', fn, options });
        if ('done' in d) return d.done.then((o) => o.next);
      }
      // Later writes of the key on this member wait for the whole exchange: they come after it.
      return this.hooks.fetching(key, this.updating(key, fn, options, maxAttempts));
    });
  }

  private async updating(key: MapKey, fn: (old: unknown) => unknown, options: SetOptions, maxAttempts: number): Promise<unknown> {
    const { state } = this;
    const expiry = expiryOptions(options);
    await this.hooks.sent(key);
    let target = this.targetOf(key);
    /** What the decider last said the key holds: `null` until it said. */
    let known: { current: Uint8Array | undefined } | null = null;
    let runs = 0;
    let forwards = 0;
    const follow = (at: string): void => {
      if (++forwards > MAX_FORWARDS) throw this.lost(key, `it was forwarded ${MAX_FORWARDS} times (the members disagree about where the key lives)`);
      target = at;
    };
    for (;;) {
      if (target === state.id) {
        const d = this.decide({ key, condition: 'compute', fn, options });
        if ('moved' in d) follow(d.moved);
        else if ('done' in d) return (await d.done).next;
        continue;
      }
      if (known === null) {
        const answer = await this.ask(target, { key, condition: 'read' });
        if (answer.outcome === 'moved') follow(answer.at);
        else known = { current: answer.outcome === 'refused' ? answer.current : undefined };
        continue;
      }
      if (runs >= maxAttempts) {
        throw new UpdateConflictError(
          `update of key ${String(key)} in map '${state.name}' gave up: the value changed under it ${runs} times in a row; retry, or raise the call's maxAttempts`,
          key,
          runs,
        );
      }
      runs++;
      const next = fn(known.current === undefined ? undefined : state.codec.decode(known.current));
      const bytes = state.codec.encode(next);
      this.hooks.fits(key, bytes.byteLength, next);
      const request: ConditionalRequest =
        known.current === undefined ? { key, condition: 'absent', bytes, expiry } : { key, condition: 'equal', expected: known.current, bytes, expiry };
      const answer = await this.ask(target, request);
      if (answer.outcome === 'written') return next;
      if (answer.outcome === 'refused') known = { current: answer.current };
      // The new decider refuses the offer if its value is not the one fn saw.
      else follow(answer.at);
    }
  }

  /**
   * Deletes `key` as decided by its primary (or, for a key no member knows here, its decider), so
   * that the answer is exact: whether the key held a live value when the delete took effect.
   */
  async delete(key: MapKey): Promise<boolean> {
    return (await this.route({ key, condition: 'delete' }, NOT_DECODED)).outcome === 'written';
  }

  /**
   * The value `key` holds, as its primary answers once that value is known to every member (a
   * read made on a member that is not the key's primary and does not become it). `undefined`
   * when the key holds no live value.
   */
  async read(key: MapKey): Promise<Uint8Array | undefined> {
    const outcome = await this.route({ key, condition: 'read' }, NOT_DECODED);
    return outcome.outcome === 'refused' ? outcome.current : undefined;
  }

  /**
   * Asks the key's primary (for a key unknown here, the member deciding for it) to hand the
   * primary role to this member: with the value (`write` undefined: a promoting `get`), or so
   * that this member writes `write` (a `set`). The role moves only so, from the member that
   * holds it, which from then on sends later askers here. Resolves to:
   * - the value taken over, once this member is primary and the entry is published (see
   *   {@link ConditionalHooks.adopt}): what a promoting read answers, whatever happens to the
   *   entry afterwards (an eviction, a later call);
   * - `'none'` when the key holds no value to take (a `get`);
   * - `'here'` when this member is (now) the one to decide: the caller does the work here.
   *
   * Later calls of the key here, and requests about it from other members, wait for it.
   */
  take(key: MapKey, write: OwnWrite | undefined): Promise<Taken | 'none' | 'here'> {
    return this.hooks.fetching(key, this.taking(key, write));
  }

  private async taking(key: MapKey, write: OwnWrite | undefined): Promise<Taken | 'none' | 'here'> {
    await this.hooks.sent(key);
    let target = this.targetOf(key);
    for (let asked = 0; asked <= MAX_HANDOVER_FORWARDS; asked++) {
      if (target === this.state.id) {
        if (this.decidesHere(key)) {
          const agreeing = this.agreeing(key);
          if (agreeing === undefined) return 'here';
          await agreeing;
          target = this.targetOf(key);
          continue;
        }
        target = this.targetOf(key);
        if (target === this.state.id) break;
        continue;
      }
      let answer: ConditionalOutcome | Handover;
      try {
        answer = await this.askFor(target, { key, condition: write === undefined ? 'take' : 'place' });
      } catch (error) {
        // No answer: the member asked may have handed the key over all the same (the link broke
        // and came back while the request was on its way), and keep a spare naming this member
        // the primary. Ask it again once it is met again (see met()).
        if (error instanceof ConditionalWriteError && error.mayHaveWritten) this.remember(key, target);
        await this.afterLeaving(error, target);
        target = this.targetOf(key);
        continue;
      }
      if ('version' in answer) {
        const taken = await this.hooks.adopt(answer, write);
        if (taken !== false) return taken;
        // A newer state overtook the handover here: ask again where the key lives now.
        target = this.targetOf(key);
      } else if (answer.outcome === 'moved') target = answer.at;
      else return 'none';
    }
    throw this.lost(key, `it was forwarded ${MAX_HANDOVER_FORWARDS} times (the members disagree about where the key lives)`);
  }

  /**
   * Member `id` was (re)added here. A `take` or `place` that got no answer from it (see taking())
   * may have been answered there all the same: the key handed to this member, which never took
   * it up. Each such key is asked for again, in this member's call order; a handover that did
   * happen is answered the same (see {@link handing}), and taken up now unless this member knows
   * a newer state of the key.
   */
  met(id: string): void {
    for (const [key, target] of [...this.unanswered]) {
      if (target !== id) continue;
      this.unanswered.delete(key);
      const again = this.hooks.inOrder(key, () => this.reclaim(key, id)).catch((error: unknown) => {
        // Stopping, or the member went again (then it is asked when met once more).
        if (!(error instanceof StoppedError)) throw error;
      });
      this.state.background(again);
    }
  }

  private async reclaim(key: MapKey, target: string): Promise<void> {
    let answer: ConditionalOutcome | Handover;
    try {
      answer = await this.askFor(target, { key, condition: 'take' });
    } catch (error) {
      if (!(error instanceof ConditionalWriteError)) throw error;
      if (error.mayHaveWritten) this.remember(key, target);
      return;
    }
    // Taken up only if newer than what is known here (adopt refuses otherwise): a failover here
    // may have claimed an older value meanwhile; a write placed here anew may outrank it.
    if ('version' in answer) await this.hooks.adopt(answer, undefined);
  }

  /** Remembers that a `take` or `place` of `key` sent to `target` got no answer (see {@link met}). */
  private remember(key: MapKey, target: string): void {
    this.unanswered.delete(key);
    this.unanswered.set(key, target);
    // Bounded: the oldest go first (a member that never comes back is never asked again).
    if (this.unanswered.size > CREATIONS_SWEPT_AT) this.unanswered.delete(this.unanswered.keys().next().value as MapKey);
  }

  /**
   * The handover of `key` to `to` made here, answered again: `to` asks anew (see {@link met})
   * and this member still holds the spare copy of the version it handed over. `undefined` when
   * it handed nothing to `to`, or `to` took the key up since (its placement reached here).
   */
  private handedAgain(key: MapKey, to: string): Handover | ConditionalOutcome | undefined {
    const record = this.handed.get(key);
    if (record === undefined || record.to !== to) return undefined;
    const entry = this.state.entries.get(key);
    if (entry === undefined || entry.primary !== to) {
      this.handed.delete(key);
      return undefined;
    }
    // `to` took the key up (the spare is gone, or a newer placement came): nothing to hand again.
    // The record stays while the entry names `to` as primary, for handedTo (Failover.lost).
    if (entry.role === 'primary' || entry.bytes === undefined || compareVersions(entry.version, record.version) !== 0) return undefined;
    const now = this.state.now();
    if (!alive(entry, now)) return { outcome: 'refused' };
    const expiry = expiryOf(entry, now);
    return { key, version: record.version, bytes: entry.bytes, ...(expiry === undefined ? {} : { expiry }) };
  }

  /**
   * The member this member handed `key`'s primary role to, while the key's placement known here
   * still names it primary (see Failover.lost: should that member die with the key, the members
   * that never heard of the handover still name this one). A record is kept that long, past the
   * spare copy, and swept once the key moves on or is gone here.
   */
  handedTo(key: MapKey): string | undefined {
    const to = this.handed.get(key)?.to;
    return to !== undefined && this.state.entries.get(key)?.primary === to ? to : undefined;
  }

  /** Records a handover of `key` to `to` at `version` (see {@link handedAgain}); stale records are swept now and then. */
  private recordHandover(key: MapKey, to: string, version: Handover['version']): void {
    this.handed.set(key, { to, version });
    if (this.handed.size > this.handedSweepAt) {
      for (const [k, r] of [...this.handed]) this.handedAgain(k, r.to);
      this.handedSweepAt = Math.max(CREATIONS_SWEPT_AT, 2 * this.handed.size);
    }
  }

  /**
   * The member that decides for `key` when no member knows it: {@link deciderOf} over the live
   * members that stay (a member that said it is leaving decides nothing new).
   */
  private deciderFor(key: MapKey): string {
    // A member that is leaving decides nothing new either: it sends askers on to the member the
    // others will take for the decider once they hear that it leaves.
    return deciderOf(key, this.view.deciders());
  }

  /** True when this member decides for `key` now: its primary, or, for a key it does not know, its decider. */
  decidesHere(key: MapKey): boolean {
    const entry = this.state.entries.get(key);
    if (entry !== undefined) return entry.role === 'primary';
    if (this.creation(key) !== undefined) return false;
    return this.deciderFor(key) === this.state.id;
  }

  /** Takes `request` to the member that decides it, following `moved` answers. */
  private route(request: ConditionalRequest, value: unknown): Promise<ConditionalOutcome> {
    const target = this.targetOf(request.key);
    if (target === this.state.id) {
      const d = this.decide(request, value);
      if ('done' in d) return d.done;
    }
    // Elsewhere, or here once the members agree who decides (see forward).
    // Later writes of the key on this member wait for the whole exchange: they come after it.
    return this.hooks.fetching(request.key, this.forward(request, value));
  }

  private async forward(request: ConditionalRequest, value: unknown): Promise<ConditionalOutcome> {
    await this.hooks.sent(request.key);
    // Where the key lives may have changed meanwhile (the deletes reached everyone).
    let target = this.targetOf(request.key);
    for (let forwards = 0; forwards <= MAX_FORWARDS; forwards++) {
      if (target === this.state.id) {
        const d = this.decide(request, value);
        if ('moved' in d) target = d.moved;
        else if ('done' in d) return d.done;
        else if ('later' in d) {
          await d.later;
          forwards--;
          target = this.targetOf(request.key);
        } else break;
      } else {
        let answer: ConditionalOutcome;
        try {
          answer = await this.ask(target, request);
        } catch (error) {
          await this.afterLeaving(error, target);
          target = this.targetOf(request.key);
          continue;
        }
        if (answer.outcome !== 'moved') return answer;
        target = answer.at;
      }
    }
    throw this.lost(request.key, `it was forwarded ${MAX_FORWARDS} times (the members disagree about where the key lives)`);
  }

  /**
   * The creation of `key` this member handed out as its decider and whose creator has not
   * published it yet, if any. Forgotten once the key is known here (or deleted since), or its
   * creator is gone.
   */
  private creation(key: MapKey): { readonly to: string; readonly handover: Handover } | undefined {
    const pending = this.creating.get(key);
    if (pending === undefined) return undefined;
    const dead = this.state.tombstones.get(key);
    if (this.state.entries.has(key) || !this.state.members.has(pending.to) || (dead !== undefined && compareVersions(dead, pending.handover.version) >= 0)) {
      this.creating.delete(key);
      return undefined;
    }
    return pending;
  }

  /** The member this one takes for the key's decider: its primary, or for a key unknown here, {@link deciderOf}. */
  private targetOf(key: MapKey): string {
    const entry = this.state.entries.get(key);
    if (entry === undefined) return this.creation(key)?.to ?? this.deciderFor(key);
    return entry.role === 'primary' ? this.state.id : entry.primary;
  }

  /**
   * Sends `request` to `target` and returns its answer.
   * @throws {ConditionalWriteError} when `target` is not a live member, gave no answer (the write
   *   may have happened), or answered with an error.
   */
  private async ask(target: string, request: ConditionalRequest): Promise<ConditionalOutcome> {
    const answer = await this.askFor(target, request);
    if ('version' in answer) throw new ConditionalWriteError(`'${target}' answered a conditional write of key ${String(request.key)} with a handover`, request.key, request.condition !== 'read');
    return answer;
  }

  /** Sends `request` to `target`: its outcome, or for `take` / `place` the handover (see {@link ask}). */
  private async askFor(target: string, request: ConditionalRequest): Promise<ConditionalOutcome | Handover> {
    const { key } = request;
    let targets = this.waitingOn.get(key);
    if (targets === undefined) this.waitingOn.set(key, (targets = new Map<string, number>()));
    targets.set(target, (targets.get(target) ?? 0) + 1);
    try {
      return await this.sendTo(target, request);
    } finally {
      const n = targets.get(target) ?? 1;
      if (n > 1) targets.set(target, n - 1);
      else targets.delete(target);
      if (targets.size === 0 && this.waitingOn.get(key) === targets) this.waitingOn.delete(key);
    }
  }

  private async sendTo(target: string, request: ConditionalRequest): Promise<ConditionalOutcome | Handover> {
    const { key } = request;
    if (!this.state.members.has(target)) throw this.lost(key, `the member that decides for it, '${target}', is not a live member here`);
    const replies: RpcResponse[] = await this.messenger.request({ type: MSG_CONDITIONAL, ...request }, [target], 'all');
    const mayHaveWritten = request.condition !== 'read';
    const reply = replies.find((r) => r.from === target);
    if (reply === undefined) {
      throw new ConditionalWriteError(
        `the conditional write of key ${String(key)} in map '${this.state.name}' got no answer from '${target}', which decides for it (it left, crashed, or took longer than rpcTimeoutMs): it may or may not have been written; read the key before retrying`,
        key,
        mayHaveWritten,
      );
    }
    if ('error' in reply) {
      // A member that was leaving or stopped refuses before it decides; anything else may have
      // come after the write (a replication failure at the decider).
      // (A ConditionalWriteError there: the members did not agree who decides; nothing was decided.)
      const before = reply.error.remoteName === 'StoppedError' || reply.error.remoteName === 'ValueTooLargeError' || reply.error.remoteName === 'ConditionalWriteError';
      throw new ConditionalWriteError(
        `the conditional write of key ${String(key)} in map '${this.state.name}' failed on '${target}', which decides for it: ${reply.error.remoteName ?? 'Error'}: ${reply.error.message}`,
        key,
        mayHaveWritten && !before,
        { cause: reply.error },
      );
    }
    const m = mapMessageFromWire(reply.reply);
    if (m.type === MSG_HANDOVER && (request.condition === 'take' || request.condition === 'place')) return m;
    if (m.type !== MSG_OUTCOME) throw new ConditionalWriteError(`'${target}' answered a conditional write of key ${String(key)} with message type ${m.type}`, key, mayHaveWritten);
    return m;
  }

  /**
   * `target` refused a request because it is leaving or stopped, before deciding anything: a
   * graceful stop, not a fault. Once this member hears that it leaves, the key's decider is
   * another member (its primary handed it over, or the members' views dropped it), which the
   * caller asks next. Rethrows `error` for any other failure, when this member is leaving
   * itself, or when that news does not come within rpcTimeoutMs.
   */
  private async afterLeaving(error: unknown, target: string): Promise<void> {
    const remote = error instanceof ConditionalWriteError ? (error.cause as { remoteName?: string } | undefined)?.remoteName : undefined;
    // Read anew after the wait: this member may have begun to leave meanwhile.
    const running = (): boolean => this.state.lifecycle === 'running';
    if (remote !== 'StoppedError' || (error as ConditionalWriteError).mayHaveWritten || !running()) throw error;
    const { members } = this.state;
    await this.view.until(() => !members.has(target) || members.isLeaving(target) || !running(), () => error as Error);
    if (!running()) throw error;
  }

  private lost(key: MapKey, why: string): ConditionalWriteError {
    return new ConditionalWriteError(`the conditional write of key ${String(key)} in map '${this.state.name}' was not made: ${why}; retry`, key, false);
  }

  /**
   * Answers a conditional write another member sent here, after this member's calls of the key
   * that wait for answers (not in its queue of calls, where a call of another key may wait for
   * the asker: two members would each wait for the other).
   */
  async answer(request: MapMessageOf<typeof MSG_CONDITIONAL>, from: string): Promise<unknown[]> {
    const step = async (): Promise<ConditionalOutcome | Handover> => {
      for (;;) {
        const d = this.decide(request, NOT_DECODED, from);
        if ('moved' in d) return { outcome: 'moved' as const, at: d.moved };
        if ('handing' in d) return d.handing;
        if ('done' in d) return d.done;
        await d.later;
      }
    };
    // Asked about a key by the member this one awaits an answer about it from: each would wait
    // for the other (their ideas of where the key lives point at each other, one of them stale,
    // e.g. a delete not heard of yet). Answer from what is known now; the asker follows it.
    const outcome = this.waitingOn.get(request.key)?.has(from) === true ? await step() : await this.hooks.afterEarlier(request.key, step);
    if ('version' in outcome) return this.messenger.wire({ type: MSG_HANDOVER, ...outcome });
    const wire: ConditionalOutcome = outcome.outcome === 'refused' ? { outcome: 'refused', current: outcome.current } : outcome.outcome === 'moved' ? { outcome: 'moved', at: outcome.at } : { outcome: 'written' };
    return this.messenger.wire({ type: MSG_OUTCOME, key: request.key, ...wire });
  }

  /**
   * Decides `ask` here if this member decides for its key, synchronously (in the caller's turn:
   * nothing runs between the read of the value and the write). `value` is the decoded value of a
   * request made here (`NOT_DECODED` for one from elsewhere).
   */
  private decide(ask: Ask, value: unknown = NOT_DECODED, from?: string): Decision {
    const { state } = this;
    const { key } = ask;
    const entry = state.entries.get(key);
    if (entry !== undefined && entry.role !== 'primary') {
      // The member this one handed the key to asks again: it never got the answer.
      if ((ask.condition === 'take' || ask.condition === 'place') && from !== undefined && this.handed.get(key)?.to === from) return this.handOver(key, ask.condition, from);
      return { moved: entry.primary };
    }
    if (entry === undefined) {
      const decider = this.deciderFor(key);
      if (decider !== state.id) return { moved: decider };
      const agreeing = this.view.agreement(key);
      if (agreeing !== undefined) return { later: agreeing };
      const pending = this.creation(key);
      if (pending !== undefined) return { moved: pending.to };
    }
    const current = entry !== undefined && entry.bytes !== undefined && alive(entry, state.now()) ? entry.bytes : undefined;
    if (entry?.bytes !== undefined && current === undefined) this.hooks.expired();
    const refuse = (): Decision => {
      const outcome = { outcome: 'refused' as const, current };
      // A refusal answers once the value it saw is known to every member that should know it,
      // so that a read anywhere after the answer sees that value (or a newer one).
      return { done: entry === undefined || current === undefined ? Promise.resolve(outcome) : this.publisher.publicationOf(entry).then(() => outcome) };
    };
    switch (ask.condition) {
      case 'read':
        // A read on any member is a use, counted where the last use is known: here.
        if (current !== undefined) this.hooks.used(key);
        return refuse();
      case 'absent':
        if (current !== undefined || ask.bytes === undefined) return refuse();
        return this.write(key, value, ask.bytes, ask.expiry);
      case 'equal':
        if (current === undefined || ask.bytes === undefined || ask.expected === undefined || !sameBytes(current, ask.expected)) return refuse();
        return this.write(key, value, ask.bytes, ask.expiry);
      case 'delete': {
        // A key unknown here is deleted all the same: its tombstone outranks a write of it this
        // member does not know of (one made beyond a partition), as a delete always did.
        if (entry === undefined) return { done: this.hooks.remove(key).then(() => ({ outcome: 'refused' as const })) };
        const held = current !== undefined;
        return { done: this.hooks.remove(key).then(() => (held ? { outcome: 'written' as const } : { outcome: 'refused' as const })) };
      }
      case 'take':
      case 'place':
        return this.handOver(key, ask.condition, from);
      case 'compute': {
        const next = ask.fn(current === undefined || entry === undefined ? undefined : state.decoded(entry));
        const bytes = state.codec.encode(next);
        this.hooks.fits(key, bytes.byteLength, next);
        return { done: this.hooks.write(key, next, bytes, ask.options).then(() => ({ outcome: 'written' as const, next })) };
      }
    }
  }

  /**
   * Hands the primary role of `key` to `to`, which asked for it: this member is its primary, or
   * decides for a key it does not know. From now on it sends requests about the key to `to`
   * (`moved`), and `to` makes them wait until it has taken over. It keeps the value as a spare
   * copy, with `to` as primary, until `to` publishes the entry: should `to` die first, the value
   * is re-homed from here as from any backup.
   */
  private handOver(key: MapKey, condition: 'take' | 'place', to: string | undefined): Decision {
    // A member decides its own takes by writing or reading here (see take()): only askers get here.
    if (to === undefined || to === this.state.id) return { moved: this.state.id };
    return { handing: this.handing(key, condition, to) };
  }

  private async handing(key: MapKey, condition: 'take' | 'place', to: string): Promise<Handover | ConditionalOutcome> {
    const { state } = this;
    for (;;) {
      // The asker left (or is leaving) while its request waited for its turn here: the role must
      // not go to a member that will never take it up.
      if (!state.members.has(to) || state.members.isLeaving(to)) {
        throw new StoppedError(`member '${to}' asked for key ${String(key)} of map '${state.name}' but is gone or leaving: nothing was handed over`);
      }
      const entry = state.entries.get(key);
      if (entry !== undefined && entry.role !== 'primary') return this.handedAgain(key, to) ?? { outcome: 'moved', at: entry.primary };
      if (entry === undefined) {
        const decider = this.deciderFor(key);
        if (decider !== state.id) return { outcome: 'moved', at: decider };
        const agreeing = this.view.agreement(key);
        if (agreeing !== undefined) {
          await agreeing;
          continue;
        }
        const pending = this.creation(key);
        // The same creator asking again (its answer was lost): the same answer.
        if (pending !== undefined) return pending.to === to ? pending.handover : { outcome: 'moved', at: pending.to };
        if (condition === 'take') return { outcome: 'refused' };
        // A key no member knows, created by `to`: remember where it will live until `to`
        // publishes it, so that the next creator is sent there rather than handed the key too.
        const handover: Handover = { key, version: nextPlacement(state.clock.tick(to), to) };
        this.creating.set(key, { to, handover });
        // Records are forgotten when next looked at; many keys created through this member and
        // never asked about again are swept here, so the table stays about as large as the
        // creations under way.
        if (this.creating.size > this.sweepAt) {
          for (const k of [...this.creating.keys()]) this.creation(k);
          this.sweepAt = Math.max(CREATIONS_SWEPT_AT, 2 * this.creating.size);
        }
        return handover;
      }
      // A write of this member's still being published is known to some members only: the new
      // primary's placement would cut its publication short, and a member it did not reach would
      // answer "no such key" after the write resolved. Hand over once it is known everywhere.
      const publishing = this.publisher.underWay(entry);
      if (publishing !== undefined) {
        await publishing;
        continue;
      }
      const now = state.now();
      const current = entry.bytes !== undefined && alive(entry, now) ? entry.bytes : undefined;
      if (entry.bytes !== undefined && current === undefined) this.hooks.expired();
      if (condition === 'take' && current === undefined) return { outcome: 'refused' };
      // A write elsewhere takes a Lamport tick, as a write placing a key anew always did, so that
      // after a partition the side that wrote later (by its clocks) wins; a read moves the role
      // without changing the value's version.
      const version = condition === 'take' ? nextPlacement(entry.version, to) : nextPlacement(state.clock.tick(to), to);
      const expiry = condition === 'take' ? expiryOf(entry, now) : undefined;
      const handed: Handover = { key, version, ...(condition === 'take' ? { bytes: current } : {}), ...(expiry === undefined ? {} : { expiry }) };
      const spare = entry.bytes !== undefined;
      entry.version = state.interner.version(version);
      entry.primary = state.interner.id(to);
      entry.backups = spare ? state.interner.list([state.id]) : [];
      entry.role = spare ? 'backup' : 'proxy';
      entry.value = NOT_DECODED;
      if (spare) this.recordHandover(key, to, entry.version);
      return handed;
    }
  }

  private write(key: MapKey, value: unknown, bytes: Uint8Array, expiry: EntryExpiry | undefined): Decision {
    // The size was checked by the caller against its frame limit; this member's may be lower.
    this.hooks.fits(key, bytes.byteLength, value);
    const options: SetOptions = { ...(expiry?.ttlMs === undefined ? {} : { ttlMs: expiry.ttlMs }), ...(expiry?.maxIdleMs === undefined ? {} : { maxIdleMs: expiry.maxIdleMs }) };
    return { done: this.hooks.write(key, value, bytes, options).then(() => ({ outcome: 'written' as const })) };
  }
}

/** The caller's expiry options as sent, or `undefined` when it gave none. */
function expiryOptions(options: SetOptions): EntryExpiry | undefined {
  if (options.ttlMs === undefined && options.maxIdleMs === undefined) return undefined;
  return { ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }), ...(options.maxIdleMs === undefined ? {} : { maxIdleMs: options.maxIdleMs }) };
}

/** Byte-wise equality of two encoded values. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/**
 * The member that decides conditional writes of a key no member knows: the key hashed (FNV-1a of
 * its type and text) over the sorted live members. Every member that sees the same members picks
 * the same one, so creations of the key are serialised there.
 */
export function deciderOf(key: MapKey, members: readonly string[]): string {
  const sorted = [...members].sort();
  const text = `${typeof key === 'number' ? 'n' : 's'}:${String(key)}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return sorted[h % sorted.length] ?? members[0] ?? '';
}
