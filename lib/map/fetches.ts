/**
 * Fetches of values from the members that hold them, batched per holder: the keys a member asks
 * one holder for in one turn of the event loop (or while a fetch from it is in flight) go as one
 * `MSG_RETRIEVE_MANY` and come back as one `MSG_VALUES`, each key with its own answer. A failover
 * makes every survivor fetch hundreds of keys from a few backups at once; one message per key per
 * holder cost the survivors more CPU than the failover itself (docs/performance.md).
 *
 * A lone key still goes as `MSG_RETRIEVE_BACKUP`, and so does every key to a holder of an older
 * build that refuses `MSG_RETRIEVE_MANY` (remembered until it comes back as another incarnation).
 *
 * @module
 */
import { ProtocolError, RpcRemoteError, type RpcResponse } from '../errors.js';
import { mapMessageFromWire, mapMessageToWire, type HeldCopy, type MapKey } from '../codec/map-messages.js';
import { MSG_RETRIEVE_BACKUP, MSG_RETRIEVE_MANY, MSG_VALUE, MSG_VALUES } from '../codec/message-types.js';
import type { Membership } from '../membership/membership.js';
import type { MapContext } from './map-context.js';
import { chunked, keyBound } from './message-size.js';
import type { Messenger } from './messenger.js';
import { WriteCoalescer } from './write-coalescer.js';

/** The slice of the map's state fetches use. */
export type FetchesState = Pick<MapContext, 'rpc' | 'countSent' | 'events'> & {
  /** Whether a holder is still a member, and which life of it a batch was asked of. */
  readonly members: Pick<Membership, 'has' | 'incarnation' | 'size'>;
};

/** What one holder answered for one key. */
export type FetchAnswer =
  /** Its copy. */
  | { readonly kind: 'copy'; readonly copy: HeldCopy }
  /** A reply that carries no copy (a `MSG_VALUE` without one, or a reply that was not understood). */
  | { readonly kind: 'empty' }
  /** It holds no value it can answer for: another holder may. */
  | { readonly kind: 'none' }
  /** It refused this key (a value too large for the frame limit now, a member that stopped). */
  | { readonly kind: 'refused'; readonly error: RpcRemoteError }
  /** No answer: it went away, or the deadline passed (`timedOut`). */
  | { readonly kind: 'silent'; readonly timedOut: boolean };

/** One key asked of one holder, waiting for its answer. */
interface Ask {
  readonly key: MapKey;
  readonly resolve: (answer: FetchAnswer) => void;
  readonly reject: (error: unknown) => void;
}

const NONE: FetchAnswer = { kind: 'none' };
const EMPTY: FetchAnswer = { kind: 'empty' };
const SILENT: FetchAnswer = { kind: 'silent', timedOut: false };
const TIMED_OUT: FetchAnswer = { kind: 'silent', timedOut: true };

/** Asks holders for values, one message per holder for the keys of a turn. */
export class Fetches {
  private readonly state: FetchesState;
  private readonly messenger: Pick<Messenger, 'callOptions' | 'timedOut' | 'budget'>;
  /** The keys waiting to be asked of each holder. */
  private readonly queues = new Map<string, WriteCoalescer<Ask>>();
  /** Holders that refused `MSG_RETRIEVE_MANY` (an older build), with the incarnation that did. */
  private readonly unbatched = new Map<string, string | undefined>();

  /**
   * @param state see {@link FetchesState}.
   * @param messenger the map's request options, timeouts and frame budget.
   */
  constructor(state: FetchesState, messenger: Pick<Messenger, 'callOptions' | 'timedOut' | 'budget'>) {
    this.state = state;
    this.messenger = messenger;
  }

  /**
   * Asks every one of `holders` for the value of `key`: resolves with the first copy any of them
   * answers, or once all answered without one, with their answers.
   * @throws what a request throws other than a timeout (a `StoppedError` once the map stops).
   */
  first(key: MapKey, holders: readonly string[]): Promise<HeldCopy | FetchAnswer[]> {
    return new Promise((resolve, reject) => {
      const answers: FetchAnswer[] = [];
      let done = false;
      for (const holder of holders) {
        this.ask(holder, key).then(
          (answer) => {
            if (done) return;
            if (answer.kind === 'copy') {
              done = true;
              resolve(answer.copy);
              return;
            }
            answers.push(answer);
            if (answers.length === holders.length) {
              done = true;
              resolve(answers);
            }
          },
          (error: unknown) => {
            if (done) return;
            done = true;
            reject(error);
          },
        );
      }
    });
  }

  /** Asks `holder` for the value of `key`, with the other keys asked of it in this turn. */
  private ask(holder: string, key: MapKey): Promise<FetchAnswer> {
    let queue = this.queues.get(holder);
    if (queue === undefined) {
      // Holders come and go: the queues of members no longer here are dropped now and then.
      if (this.queues.size > 2 * this.state.members.size + 8) {
        for (const id of this.queues.keys()) if (!this.state.members.has(id)) this.queues.delete(id);
        // So are the older builds remembered among them (a member that comes back is asked anew).
        for (const id of this.unbatched.keys()) if (!this.state.members.has(id)) this.unbatched.delete(id);
      }
      queue = new WriteCoalescer<Ask>((asks) => this.send(holder, asks));
      this.queues.set(holder, queue);
    }
    const q = queue;
    return new Promise<FetchAnswer>((resolve, reject) => {
      // send() settles every ask itself; if it fails before it could (its frame budget threw), the
      // group rejects, and so do the asks it left unsettled.
      q.add({ key, resolve, reject }).catch(reject);
    });
  }

  /** Sends the keys of `asks` to `holder` and settles each ask with its key's answer. */
  private async send(holder: string, asks: readonly Ask[]): Promise<void> {
    const byKey = new Map<MapKey, Ask[]>();
    for (const a of asks) {
      const same = byKey.get(a.key);
      if (same === undefined) byKey.set(a.key, [a]);
      else same.push(a);
    }
    const settle = (key: MapKey, answer: FetchAnswer): void => {
      for (const a of byKey.get(key) ?? []) a.resolve(answer);
    };
    const fail = (keys: readonly MapKey[], error: unknown): void => {
      for (const key of keys) for (const a of byKey.get(key) ?? []) a.reject(error);
    };
    const keys = [...byKey.keys()];
    if (keys.length === 1 || !this.batches(holder)) {
      await Promise.all(keys.map((key) => this.one(holder, key).then((answer) => { settle(key, answer); }, (error: unknown) => { fail([key], error); })));
      return;
    }
    // Each request within the cluster's frame limit; the holder keeps its reply within it too.
    const runs = chunked(keys, keyBound, undefined, this.messenger.budget(keyBound));
    await Promise.all(runs.map((run) => this.many(holder, run, settle).catch((error: unknown) => { fail(run, error); })));
  }

  /** Whether `holder` takes `MSG_RETRIEVE_MANY` (as far as this member knows). */
  private batches(holder: string): boolean {
    if (!this.unbatched.has(holder)) return true;
    if (this.unbatched.get(holder) === this.state.members.incarnation(holder)) return false;
    // Another incarnation (restarted, maybe upgraded): try again.
    this.unbatched.delete(holder);
    return true;
  }

  /** The answer of `holder` for one key, asked alone (`MSG_RETRIEVE_BACKUP`). */
  private async one(holder: string, key: MapKey): Promise<FetchAnswer> {
    const { reply, timedOut } = await this.call(holder, MSG_RETRIEVE_BACKUP, mapMessageToWire({ type: MSG_RETRIEVE_BACKUP, key }));
    if (reply === undefined) return timedOut ? TIMED_OUT : SILENT;
    // An error answer: not held there (or maybe expired), or refused.
    if ('error' in reply) return reply.error.remoteName === 'RetrieveError' ? NONE : { kind: 'refused', error: reply.error };
    try {
      const m = mapMessageFromWire(reply.reply);
      if (m.type !== MSG_VALUE) throw new Error(`a reply of type ${String(m.type)}, not MSG_VALUE`);
      if (m.copy !== undefined) return { kind: 'copy', copy: m.copy };
    } catch (error) {
      this.state.events.emit('error', new ProtocolError(`bad value reply from '${holder}'`, holder, { cause: error }));
    }
    return EMPTY;
  }

  /**
   * The answers of `holder` for `keys`, asked together (`MSG_RETRIEVE_MANY`), each settled as it
   * comes; keys it answers "later" (its reply was full) are asked again until every one is answered.
   */
  private async many(holder: string, keys: readonly MapKey[], settle: (key: MapKey, answer: FetchAnswer) => void): Promise<void> {
    let asking = keys;
    while (asking.length > 0) {
      const { reply, timedOut } = await this.call(holder, MSG_RETRIEVE_MANY, mapMessageToWire({ type: MSG_RETRIEVE_MANY, keys: asking }));
      if (reply === undefined) {
        for (const key of asking) settle(key, timedOut ? TIMED_OUT : SILENT);
        return;
      }
      if ('error' in reply) {
        if (reply.error.remoteName === 'ProtocolError') {
          // A member of an older build, which does not know the message: ask it key by key.
          this.unbatched.set(holder, this.state.members.incarnation(holder));
          await Promise.all(asking.map(async (key) => { settle(key, await this.one(holder, key)); }));
          return;
        }
        // Refused as a whole (it stopped, say): each key gets that answer.
        for (const key of asking) settle(key, reply.error.remoteName === 'RetrieveError' ? NONE : { kind: 'refused', error: reply.error });
        return;
      }
      let answers;
      try {
        const m = mapMessageFromWire(reply.reply);
        if (m.type !== MSG_VALUES) throw new Error(`a reply of type ${String(m.type)}, not MSG_VALUES`);
        if (m.answers.length !== asking.length) throw new Error(`${m.answers.length} answers for ${asking.length} keys`);
        answers = m.answers;
      } catch (error) {
        this.state.events.emit('error', new ProtocolError(`bad values reply from '${holder}'`, holder, { cause: error }));
        for (const key of asking) settle(key, EMPTY);
        return;
      }
      const later: MapKey[] = [];
      answers.forEach((answer, i) => {
        const key = asking[i] as MapKey;
        switch (answer.answer) {
          case 'held':
            settle(key, { kind: 'copy', copy: answer.copy });
            break;
          case 'none':
            settle(key, NONE);
            break;
          case 'refused':
            settle(key, { kind: 'refused', error: new RpcRemoteError(answer.message, holder, answer.name) });
            break;
          case 'later':
            later.push(key);
            break;
        }
      });
      // A holder answers at least the first key of each request: a reply of only "later" would
      // never end (the bad reply of a peer, not this library's).
      if (later.length === asking.length) {
        this.state.events.emit('error', new ProtocolError(`'${holder}' answered none of ${asking.length} keys asked`, holder));
        for (const key of asking) settle(key, EMPTY);
        return;
      }
      asking = later;
    }
  }

  /** One request to `holder`, counted as sent: its reply or error answer, if it came. */
  private async call(holder: string, type: number, wire: unknown[]): Promise<{ reply: RpcResponse | undefined; timedOut: boolean }> {
    this.state.countSent(type);
    let replies: RpcResponse[];
    let timedOut = false;
    try {
      replies = await this.state.rpc.call(wire, this.messenger.callOptions([holder], 'first'));
    } catch (error) {
      replies = this.messenger.timedOut(error);
      timedOut = true;
    }
    return { reply: replies.find((r) => r.from === holder), timedOut };
  }
}
