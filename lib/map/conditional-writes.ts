/**
 * Conditional writes (`setIfAbsent`, `compareAndSet`, `update`): decided once, by the member that
 * decides for the key, in that member's call order.
 *
 * Who decides: the key's primary. A key known nowhere (never written, deleted, expired and swept)
 * has no primary; its decider is then a member chosen by hashing the key over the sorted live
 * members (see {@link deciderOf}), which serialises the creations of that key: racing
 * `setIfAbsent`s of a fresh key all reach it, and exactly one answers `true`. The decider that
 * creates the key becomes its primary.
 *
 * The caller does not become primary (unlike `set`): it sends `MSG_CONDITIONAL` to the member it
 * takes for the decider; a member that is not (any more) answers `moved` with the one it knows,
 * and the caller follows, a bounded number of times ({@link MAX_FORWARDS}). An `update` elsewhere
 * reads the value from the decider, runs `fn` here, and offers the result as a compare-and-set of
 * the bytes it was computed from; a refusal brings the newer value, and `fn` runs again.
 *
 * Limits (docs/consistency.md): a plain `set` on another member still moves the primary, and a
 * read may promote its member (issue 22 item 2 is not done); during such a move, or while members
 * disagree about who is live, two members may each decide for one key.
 *
 * @module
 */
import { ConditionalWriteError, UpdateConflictError, type RpcResponse } from '../errors.js';
import { mapMessageFromWire, type ConditionalOutcome, type ConditionalRequest, type EntryExpiry, type MapKey, type MapMessageOf } from '../codec/map-messages.js';
import { MSG_CONDITIONAL, MSG_OUTCOME } from '../codec/message-types.js';
import { NOT_DECODED } from './entry.js';
import { alive } from './expiry.js';
import type { MapContext } from './map-context.js';
import type { SetOptions } from './map-options.js';
import type { Messenger } from './messenger.js';
import type { Publisher } from './publication.js';

/** Times a conditional write follows a `moved` answer before it gives up with {@link ConditionalWriteError}. */
export const MAX_FORWARDS = 8;

/** The slice of the map's state conditional writes use. */
export type ConditionalState = Pick<MapContext, 'id' | 'name' | 'entries' | 'members' | 'codec' | 'now' | 'decoded'>;

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
}

/** A conditional write as the caller asks it: a request, or (`compute`) an update run where it is decided. */
type Ask = ConditionalRequest | { readonly key: MapKey; readonly condition: 'compute'; readonly fn: (old: unknown) => unknown; readonly options: SetOptions };

/** What a decision here came to: an outcome (after the write or value it names is known everywhere), or where to go. */
type Decision = { readonly moved: string } | { readonly done: Promise<ConditionalOutcome & { next?: unknown }> };

/** Makes and answers conditional writes. */
export class ConditionalWrites {
  private readonly state: ConditionalState;
  private readonly messenger: Messenger;
  private readonly publisher: Publisher;
  private readonly hooks: ConditionalHooks;

  /**
   * @param state see {@link ConditionalState}.
   * @param messenger sends conditional writes to the decider and answers them.
   * @param publisher tells whether a write of the key is still being published here.
   * @param hooks the map's call order, its plain write path and its size check (see {@link ConditionalHooks}).
   */
  constructor(state: ConditionalState, messenger: Messenger, publisher: Publisher, hooks: ConditionalHooks) {
    this.state = state;
    this.messenger = messenger;
    this.publisher = publisher;
    this.hooks = hooks;
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
        if (!('moved' in d)) return d.done.then((o) => o.next);
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
        else return (await d.done).next;
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

  /** Takes `request` to the member that decides it, following `moved` answers. */
  private route(request: ConditionalRequest, value: unknown): Promise<ConditionalOutcome> {
    const target = this.targetOf(request.key);
    if (target === this.state.id) {
      const d = this.decide(request, value);
      if (!('moved' in d)) return d.done;
    }
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
        else return d.done;
      } else {
        const answer = await this.ask(target, request);
        if (answer.outcome !== 'moved') return answer;
        target = answer.at;
      }
    }
    throw this.lost(request.key, `it was forwarded ${MAX_FORWARDS} times (the members disagree about where the key lives)`);
  }

  /** The member this one takes for the key's decider: its primary, or for a key unknown here, {@link deciderOf}. */
  private targetOf(key: MapKey): string {
    const entry = this.state.entries.get(key);
    if (entry === undefined) return deciderOf(key, [this.state.id, ...this.state.members.ids()]);
    return entry.role === 'primary' ? this.state.id : entry.primary;
  }

  /**
   * Sends `request` to `target` and returns its answer.
   * @throws {ConditionalWriteError} when `target` is not a live member, gave no answer (the write
   *   may have happened), or answered with an error.
   */
  private async ask(target: string, request: ConditionalRequest): Promise<ConditionalOutcome> {
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
      const before = reply.error.remoteName === 'StoppedError' || reply.error.remoteName === 'ValueTooLargeError';
      throw new ConditionalWriteError(
        `the conditional write of key ${String(key)} in map '${this.state.name}' failed on '${target}', which decides for it: ${reply.error.remoteName ?? 'Error'}: ${reply.error.message}`,
        key,
        mayHaveWritten && !before,
        { cause: reply.error },
      );
    }
    const m = mapMessageFromWire(reply.reply);
    if (m.type !== MSG_OUTCOME) throw new ConditionalWriteError(`'${target}' answered a conditional write of key ${String(key)} with message type ${m.type}`, key, mayHaveWritten);
    return m;
  }

  private lost(key: MapKey, why: string): ConditionalWriteError {
    return new ConditionalWriteError(`the conditional write of key ${String(key)} in map '${this.state.name}' was not made: ${why}; retry`, key, false);
  }

  /**
   * Answers a conditional write another member sent here, after this member's calls of the key
   * that wait for answers (not in its queue of calls, where a call of another key may wait for
   * the asker: two members would each wait for the other).
   */
  async answer(request: MapMessageOf<typeof MSG_CONDITIONAL>): Promise<unknown[]> {
    const outcome = await this.hooks.afterEarlier(request.key, async () => {
      const d = this.decide(request, NOT_DECODED);
      return 'moved' in d ? { outcome: 'moved' as const, at: d.moved } : d.done;
    });
    const wire: ConditionalOutcome = outcome.outcome === 'refused' ? { outcome: 'refused', current: outcome.current } : outcome.outcome === 'moved' ? { outcome: 'moved', at: outcome.at } : { outcome: 'written' };
    return this.messenger.wire({ type: MSG_OUTCOME, key: request.key, ...wire });
  }

  /**
   * Decides `ask` here if this member decides for its key, synchronously (in the caller's turn:
   * nothing runs between the read of the value and the write). `value` is the decoded value of a
   * request made here (`NOT_DECODED` for one from elsewhere).
   */
  private decide(ask: Ask, value: unknown = NOT_DECODED): Decision {
    const { state } = this;
    const { key } = ask;
    const entry = state.entries.get(key);
    if (entry !== undefined && entry.role !== 'primary') return { moved: entry.primary };
    if (entry === undefined) {
      const decider = deciderOf(key, [state.id, ...state.members.ids()]);
      if (decider !== state.id) return { moved: decider };
    }
    const current = entry !== undefined && entry.bytes !== undefined && alive(entry, state.now()) ? entry.bytes : undefined;
    const refuse = (): Decision => {
      const outcome = { outcome: 'refused' as const, current };
      // A refusal answers once the value it saw is known to every member that should know it,
      // so that a read anywhere after the answer sees that value (or a newer one).
      return { done: entry === undefined || current === undefined ? Promise.resolve(outcome) : this.publisher.publicationOf(entry).then(() => outcome) };
    };
    switch (ask.condition) {
      case 'read':
        return refuse();
      case 'absent':
        if (current !== undefined || ask.bytes === undefined) return refuse();
        return this.write(key, value, ask.bytes, ask.expiry);
      case 'equal':
        if (current === undefined || ask.bytes === undefined || ask.expected === undefined || !sameBytes(current, ask.expected)) return refuse();
        return this.write(key, value, ask.bytes, ask.expiry);
      case 'compute': {
        const next = ask.fn(current === undefined || entry === undefined ? undefined : state.decoded(entry));
        const bytes = state.codec.encode(next);
        this.hooks.fits(key, bytes.byteLength, next);
        return { done: this.hooks.write(key, next, bytes, ask.options).then(() => ({ outcome: 'written' as const, next })) };
      }
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
