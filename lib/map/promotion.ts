/**
 * Promotion: a member becomes primary of an entry, by a read (Tomcat: a `get` on a backup or a
 * proxy) or because the primary disappeared (failover). A proxy fetches the value first from a
 * member holding it (`MSG_RETRIEVE_BACKUP`, first reply wins).
 *
 * @module
 */
import { publishClaim } from '../diagnostics/publish.js';
import { RetrieveError, ValueTooLargeError, type RpcRemoteError } from '../errors.js';
import type { HeldAnswer, HeldCopy, MapKey } from '../codec/map-messages.js';
import type { Entry, EntryStore } from './entry.js';
import type { Membership } from '../membership/membership.js';
import type { Placer } from './placer.js';
import type { MapContext } from './map-context.js';
import type { Messenger } from './messenger.js';
import type { Publisher } from './publisher.js';
import { adoptExpiry, alive, assumeUnreportedUse, expiryOf, type Expiry } from './expiry.js';
import { mapChannelName } from './map-channel.js';
import { Fetches } from './fetches.js';
import { copyFrameBound, envelopeBound, heldAnswerBound, MAX_MESSAGE_BYTES, textBound, type IdsBound } from './message-size.js';
import { valueTooLarge } from '../rpc/frame-limit.js';

/** The slice of the map's state promotion uses. */
export type PromotionState = Pick<
  MapContext,
  | 'id'
  | 'name'
  | 'rpc'
  | 'rpcTimeoutMs'
  | 'countSent'
  | 'countPromotion'
  | 'clock'
  | 'codec'
  | 'now'
  | 'events'
  | 'serving'
  | 'decoded'
  | 'background'
  | 'frameLimit'
  | 'idsBound'
> & {
  /** The entries promotion claims and answers fetches from. */
  readonly entries: EntryStore;
  /** Which holders are still members (and what the batched fetches ask of the member view). */
  readonly members: Pick<Membership, 'has' | 'incarnation' | 'size'>;
  /** Re-chooses the backups of an entry claimed here. */
  readonly placer: Pick<Placer, 'again'>;
};

const LATER: HeldAnswer = { answer: 'later' };
const NOT_HELD: HeldAnswer = { answer: 'none' };

/** Makes this member primary of entries, and fetches values it does not hold. */
export class Promotion {
  private readonly state: PromotionState;
  /** Asks holders for values, batched per holder. */
  private readonly fetches: Fetches;
  private readonly publisher: Pick<Publisher, 'publish'>;
  private readonly expiry: Pick<Expiry, 'sweep' | 'used'>;

  /**
   * @param state see {@link PromotionState}.
   * @param messenger asks holders for values.
   * @param publisher publishes an entry promoted by a read.
   * @param expiry counts a fetch of a value owned here as a use, and sweeps one found expired.
   */
  constructor(state: PromotionState, messenger: Pick<Messenger, 'callOptions' | 'timedOut' | 'budget'>, publisher: Pick<Publisher, 'publish'>, expiry: Pick<Expiry, 'sweep' | 'used'>) {
    this.state = state;
    this.fetches = new Fetches(state, messenger);
    this.publisher = publisher;
    this.expiry = expiry;
  }

  /**
   * Makes this member primary of an entry it holds the value of, with new backups: after a read
   * all are chosen afresh (Tomcat re-publishes from the reader); on failover the live ones stay.
   * The caller publishes.
   */
  claim(entry: Entry, why: 'read' | 'failover'): void {
    const { state } = this;
    const previous = entry.primary;
    entry.role = 'primary';
    entry.primary = state.id;
    // Never itself: a member that handed the key over keeps a spare copy naming itself (see
    // ConditionalWrites.handOver), and claims it back from there if the new primary dies first.
    state.placer.again(entry, why === 'failover' ? entry.backups.filter((b) => b !== state.id) : []);
    state.countPromotion(why);
    if (why === 'failover') assumeUnreportedUse(entry, state.now());
    state.events.emit('promoted', entry.key);
    publishClaim(why, state, entry.key, previous);
  }

  /** The current primary handed the role to this member for a read: counted and announced as a read promotion. */
  handedOver(entry: Entry, previous: string): void {
    const { state } = this;
    state.countPromotion('read');
    state.events.emit('promoted', entry.key);
    publishClaim('read', state, entry.key, previous);
  }

  /** A read made this member primary: claim the entry and publish it. */
  promote(entry: Entry): void {
    // A read that completes while this member leaves must not make it primary: the entry would be
    // published after its MSG_STOP and left with a departed primary.
    if (!this.state.serving) return;
    this.claim(entry, 'read');
    this.state.background(this.publisher.publish([entry]));
  }

  /** The value of an entry held here; promotes this member when asked to and not primary yet. */
  readHeld(entry: Entry, promote: boolean): unknown {
    const value = this.state.decoded(entry);
    if (promote && entry.role !== 'primary') {
      this.promote(entry);
      // The owner keeps the value it handed out: in-place changes to it followed by replicate()
      // must be what replicate() sends, not a fresh decode of the old bytes.
      if (entry.primary === this.state.id) entry.value = value;
    }
    return value;
  }

  /** The value fetched for a proxy; when promoting, the copy becomes this member's own. */
  adoptFetched(entry: Entry, copy: HeldCopy, promote: boolean): unknown {
    const { state } = this;
    const value = state.codec.decode(copy.bytes);
    const now = state.now();
    // The holder checked the copy alive before answering; this read is a use of it.
    if (entry.bytes === undefined) entry.lastAccess = now;
    if (promote && entry.compare(copy.version) <= 0) {
      entry.bytes = copy.bytes;
      entry.version = copy.version;
      entry.value = value;
      adoptExpiry(entry, { ...(copy.ttlMs === undefined ? {} : { ttlMs: copy.ttlMs }), ...(copy.maxIdleMs === undefined ? {} : { maxIdleMs: copy.maxIdleMs }), idleMs: 0 }, now);
      state.clock.observe(copy.version);
      this.promote(entry);
    }
    return value;
  }

  /**
   * Fetches an entry's value from its holders: first reply wins; retried once if holders died
   * meanwhile. The fetches of one turn go to each holder together (see fetches.ts).
   */
  async retrieve(entry: Entry): Promise<HeldCopy | undefined> {
    const { state } = this;
    for (let attempt = 0; attempt < 2; attempt++) {
      const current = state.entries.get(entry.key);
      if (current === undefined) return undefined;
      const holders = current.holders().filter((m) => state.members.has(m));
      if (holders.length === 0) return undefined;
      const answers = await this.fetches.first(entry.key, holders);
      if (!Array.isArray(answers)) return answers;
      let tooLarge: RpcRemoteError | undefined;
      let replied = false;
      let timedOut = false;
      for (const a of answers) {
        if (a.kind === 'refused' && a.error.remoteName === 'ValueTooLargeError') tooLarge = a.error;
        else if (a.kind === 'empty') replied = true;
        else if (a.kind === 'silent' && a.timedOut) timedOut = true;
      }
      if (tooLarge !== undefined && !replied) {
        throw new RetrieveError(`the value of key ${String(entry.key)} cannot be fetched from '${tooLarge.from}': ${tooLarge.message}`, entry.key, { cause: tooLarge });
      }
      const stillThere = holders.filter((m) => state.members.has(m));
      if (stillThere.length === holders.length) {
        // A holder that let the deadline pass may hold the value: no answer is not "no value".
        if (timedOut) {
          throw new RetrieveError(
            `no holder of key ${String(entry.key)} (${holders.join(', ')}) answered within ${state.rpcTimeoutMs} ms: raise rpcTimeoutMs if members are slow`,
            entry.key,
          );
        }
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * The answers for `keys` asked together (`MSG_RETRIEVE_MANY`), each as {@link held} gives it:
   * a copy, "none" for a key not held here or maybe expired, a refusal for a value too large.
   * The reply stays within the cluster's frame limit: keys after the last that fits are answered
   * "later" (the asker asks again); the first key is always answered, as {@link held} made sure
   * its copy fits a frame alone.
   * @param report see {@link held}.
   */
  heldMany(keys: readonly MapKey[], report: (error: Error) => Error): HeldAnswer[] {
    const { state } = this;
    const limit = state.frameLimit();
    const room = Math.min(MAX_MESSAGE_BYTES, limit - envelopeBound(mapChannelName(state.name)));
    const answers: HeldAnswer[] = [];
    // Once for the whole request, not per key.
    const ids = Number.isFinite(limit) ? state.idsBound() : undefined;
    let used = 0;
    for (const key of keys) {
      if (used > room) {
        answers.push(LATER);
        continue;
      }
      // Counted before held(), which has effects (a use, a sweep): a key left for later has none.
      const e = state.entries.get(key);
      const bound = e?.bytes === undefined ? 2 : heldAnswerBound(e.version, e.bytes.byteLength);
      if (answers.length > 0 && used + bound > room) {
        used = Infinity;
        answers.push(LATER);
        continue;
      }
      try {
        answers.push({ answer: 'held', copy: this.held(key, report, ids) });
        used += bound;
      } catch (error) {
        if (error instanceof RetrieveError) {
          answers.push(NOT_HELD);
          used += 2;
        } else if (error instanceof ValueTooLargeError) {
          answers.push({ answer: 'refused', name: error.name, message: error.message });
          used += 2 + textBound(error.name) + textBound(error.message);
        } else throw error;
      }
    }
    return answers;
  }

  /**
   * The copy of `key` held here, for a member that fetches it (`MSG_RETRIEVE_BACKUP`).
   * @param report reports a fault of this member's (a value too large to send) as an `'error'`
   *   once, and returns it to be thrown as the error answer.
   * @param ids the members' ids as {@link MapContext.idsBound} gives them (computed here when absent).
   * @throws {RetrieveError} when no value of `key` is held here, or it may have expired.
   * @throws {ValueTooLargeError} when the copy would not fit the cluster's frame limit now.
   */
  held(key: MapKey, report: (error: Error) => Error, ids?: IdsBound): HeldCopy {
    const { state } = this;
    const e = state.entries.get(key);
    // "Not held here" is an error answer, not a reply: the caller's 'first' mode then keeps
    // waiting for a member that does hold the value instead of settling on this one. So is a
    // copy this member cannot prove alive (see expiry.ts): the primary answers for it.
    if (e?.bytes === undefined) throw new RetrieveError(`member '${state.id}' holds no value for key ${String(key)}`, key);
    const now = state.now();
    if (!alive(e, now)) {
      // Expired on its primary: nobody gets it, and it goes from every member now.
      if (e.role === 'primary') state.background(this.expiry.sweep());
      throw new RetrieveError(`member '${state.id}' holds key ${String(key)} only as expired, or maybe expired`, key);
    }
    // A value written under a larger frame limit (a member with a smaller maxFrameBytes joined
    // since) cannot be sent: say so to the asker, typed, rather than let it wait.
    const limit = state.frameLimit();
    const bound = Number.isFinite(limit) ? copyFrameBound(mapChannelName(state.name), key, e.bytes.byteLength, ids ?? state.idsBound()) : 0;
    if (bound > limit) {
      throw report(valueTooLarge(`the value of key ${String(key).slice(0, 64)} held by member '${state.id}' (${e.bytes.byteLength} bytes encoded)`, bound, limit, 'read it on a member that holds it, or delete it'));
    }
    // A read on any member is a use.
    if (e.role === 'primary') this.expiry.used(e);
    const expiry = expiryOf(e, now);
    const idleMs = e.lastAccess === undefined ? undefined : Math.max(0, Math.round(now - e.lastAccess));
    return {
      version: e.version,
      bytes: e.bytes,
      ...(idleMs === undefined ? {} : { idleMs }),
      ...(expiry?.ttlMs === undefined ? {} : { ttlMs: expiry.ttlMs }),
      ...(expiry?.maxIdleMs === undefined ? {} : { maxIdleMs: expiry.maxIdleMs }),
    };
  }
}
