/**
 * The message handler: every message a peer sends a map arrives here, is decoded, counted and
 * handed to the collaborator that deals with it. Replies go back through the map's RPC channel.
 *
 * @module
 */
import { ProtocolError, RetrieveError, StoppedError, type CodecError } from '../errors.js';
import { valueTooLarge } from '../rpc/frame-limit.js';
import { copyFrameBound } from './message-size.js';
import { mapChannelName } from './map-channel.js';
import { mapMessageFromWire, type HeldCopy, type MapKey, type MapMessage, type MapMessageOf } from '../codec/map-messages.js';
import {
  MESSAGE_TYPE_NAMES,
  MSG_ACCESS,
  MSG_ACK,
  MSG_BACKUP,
  MSG_CONDITIONAL,
  MSG_COPY,
  MSG_DIFF,
  MSG_HANDOVER,
  MSG_LEAVING,
  MSG_OUTCOME,
  MSG_PING,
  MSG_PROXY,
  MSG_REMOVE,
  MSG_RETRIEVE_BACKUP,
  MSG_START,
  MSG_STATE,
  MSG_STATE_NEXT,
  MSG_STOP,
  MSG_VIEW,
  MSG_VALUE,
} from '../codec/message-types.js';
import type { Departure } from './departure.js';
import { alive, expiryOf, type Expiry } from './expiry.js';
import type { Failover } from './failover.js';
import type { MapContext } from './map-context.js';
import type { Messenger } from './messenger.js';
import type { Reconciler } from './reconciler.js';
import type { StateTransfer } from './state-transfer.js';

/** The slice of the map's state the handler uses. */
export type MessageHandlerState = Pick<MapContext, 'id' | 'name' | 'lifecycle' | 'saidGoodbye' | 'members' | 'entries' | 'now' | 'counters' | 'count' | 'events' | 'background' | 'frameLimit' | 'idsBound'>;

/** The collaborators the handler dispatches to. */
export interface MessageHandlerParts {
  /** Encodes replies. */
  readonly messenger: Messenger;
  /** Applies copies, diffs, placements and deletes. */
  readonly reconciler: Reconciler;
  /** Answers starts. */
  readonly transfer: StateTransfer;
  /** Handles goodbyes. */
  readonly failover: Failover;
  /** Counts uses of expiring entries. */
  readonly expiry: Expiry;
  /** Hears of every message while this member leaves (a newcomer, a placement, a goodbye). */
  readonly departure: Departure;
  /** Decides conditional writes sent here (see conditional-writes.ts). */
  readonly conditional: { answer(request: MapMessageOf<typeof MSG_CONDITIONAL>, from: string): Promise<unknown[]> };
  /** Records the views of the members others announce (see decider-view.ts). */
  readonly view: { heard(view: MapMessageOf<typeof MSG_VIEW>, from: string): unknown[] };
}

/** Dispatches the messages peers send a map. */
export class MessageHandler {
  private readonly state: MessageHandlerState;
  private readonly parts: MessageHandlerParts;
  /**
   * Peer faults the handler already reported. It reports and then throws them (so a request gets
   * an error reply); for a one-way message the channel reports the throw again, and one bad
   * message must make one 'error'.
   */
  private readonly reported = new WeakSet<Error>();

  /**
   * @param state see {@link MessageHandlerState}.
   * @param parts see {@link MessageHandlerParts}.
   */
  constructor(state: MessageHandlerState, parts: MessageHandlerParts) {
    this.state = state;
    this.parts = parts;
  }

  /** True when `error` came from {@link handle} and was reported as an `'error'` already. */
  wasReported(error: Error): boolean {
    return this.reported.has(error);
  }

  /**
   * The RPC handler: every message a peer sends this map. Returns the reply, or throws an error
   * reply. A one-way message (`wantsReply` false) gets no acknowledgement, and none is counted.
   */
  handle(request: unknown, from: string, wantsReply = true): unknown {
    const { state, parts } = this;
    let message: MapMessage;
    try {
      message = mapMessageFromWire(request);
    } catch (error) {
      throw this.report(new ProtocolError(`dropped a message from '${from}': ${(error as CodecError).message}`, from, { cause: error }));
    }
    state.count(state.counters.received, message.type);
    if (state.lifecycle === 'stopped') throw new StoppedError(`map '${state.name}' is stopped`);
    // Runs once this message took effect (its handling below is synchronous).
    if (state.lifecycle === 'stopping') parts.departure.changed();
    switch (message.type) {
      case MSG_BACKUP:
      case MSG_COPY:
        this.assertNotLeaving();
        parts.reconciler.applyCopies(message.entries, from);
        return this.ack(wantsReply);
      case MSG_DIFF:
        this.assertNotLeaving();
        parts.reconciler.applyDiff(message, from);
        return this.ack(wantsReply);
      case MSG_PROXY:
        parts.reconciler.applyPlacements(message.entries, from);
        return this.ack(wantsReply);
      case MSG_REMOVE:
        parts.reconciler.applyRemovals(message.removals, from);
        return this.ack(wantsReply);
      case MSG_RETRIEVE_BACKUP: {
        const e = state.entries.get(message.key);
        // "Not held here" is an error answer, not a reply: the caller's 'first' mode then keeps
        // waiting for a member that does hold the value instead of settling on this one. So is a
        // copy this member cannot prove alive (see expiry.ts): the primary answers for it.
        if (e?.bytes === undefined) throw new RetrieveError(`member '${state.id}' holds no value for key ${String(message.key)}`, message.key);
        const now = state.now();
        if (!alive(e, now)) {
          // Expired on its primary: nobody gets it, and it goes from every member now.
          if (e.role === 'primary') state.background(parts.expiry.sweep());
          throw new RetrieveError(`member '${state.id}' holds key ${String(message.key)} only as expired, or maybe expired`, message.key);
        }
        // A value written under a larger frame limit (a member with a smaller maxFrameBytes joined
        // since) cannot be sent: say so to the asker, typed, rather than let it wait.
        const limit = state.frameLimit();
        const bound = Number.isFinite(limit) ? copyFrameBound(mapChannelName(state.name), message.key, e.bytes.byteLength, state.idsBound()) : 0;
        if (bound > limit) {
          throw this.report(valueTooLarge(`the value of key ${String(message.key).slice(0, 64)} held by member '${state.id}' (${e.bytes.byteLength} bytes encoded)`, bound, limit, 'read it on a member that holds it, or delete it'));
        }
        // A read on any member is a use.
        if (e.role === 'primary') parts.expiry.used(e);
        const expiry = expiryOf(e, now);
        const idleMs = e.lastAccess === undefined ? undefined : Math.max(0, Math.round(now - e.lastAccess));
        const copy: HeldCopy = {
          version: e.version,
          bytes: e.bytes,
          ...(idleMs === undefined ? {} : { idleMs }),
          ...(expiry?.ttlMs === undefined ? {} : { ttlMs: expiry.ttlMs }),
          ...(expiry?.maxIdleMs === undefined ? {} : { maxIdleMs: expiry.maxIdleMs }),
        };
        return parts.messenger.wire({ type: MSG_VALUE, key: message.key, copy });
      }
      case MSG_START:
        // A leaving member still meets newcomers until its goodbye: one may be the member it waits
        // for to hand its entries over (a rolling update's replacement), and learns at once that
        // this one leaves (MSG_LEAVING).
        if (state.lifecycle === 'new' || state.saidGoodbye) throw new StoppedError(`map '${state.name}' is leaving`);
        return parts.transfer.answerStart(from, message.incarnation);
      case MSG_STATE_NEXT:
        return parts.transfer.answerNext(from, message.transfer, message.page);
      case MSG_STOP:
        state.members.markFarewell(from);
        parts.failover.disappeared(from);
        return this.ack(wantsReply);
      case MSG_LEAVING:
        state.members.markLeaving(from);
        return this.ack(wantsReply);
      case MSG_VIEW:
        return parts.view.heard(message, from);
      case MSG_PING:
        // Nothing in this library sends it; it stays answered for peers that do.
        return this.ack(wantsReply);
      case MSG_ACCESS: {
        // Tomcat: the holder marks its copy accessed. By this member's clock: clocks need not agree.
        // From the primary: its backups mark their copies used. To the primary (a touch or read on
        // another member): a use, which the primary passes on to its backups when due.
        // A use of an entry that already expired brings nothing back: the primary deletes it,
        // and a touch that waits for the answer learns it is gone.
        let expired: MapKey | undefined;
        let unknown: MapKey | undefined;
        for (const key of message.keys) {
          const e = state.entries.get(key);
          // Every member knows every key: one unknown here was deleted, or swept once it expired.
          if (e === undefined) unknown = key;
          else if (e.role === 'primary') {
            if (alive(e, state.now())) parts.expiry.used(e);
            else expired = key;
          } else if (from === e.primary) {
            if (e.bytes !== undefined) e.lastAccess = state.now();
          } else {
            // Sent here as if this member were primary (a touch or read racing a promotion): the
            // use goes on to the primary known here. A holder does not mark its own copy, so its
            // idea of the last use is never newer than its primary's (see expiry.ts).
            state.background(parts.messenger.request({ type: MSG_ACCESS, keys: [key] }, [e.primary], 'none'));
          }
        }
        if (expired !== undefined) {
          state.background(parts.expiry.sweep());
          if (wantsReply) throw new RetrieveError(`key ${String(expired)} expired on its primary '${state.id}'`, expired);
        }
        if (unknown !== undefined && wantsReply) throw new RetrieveError(`key ${String(unknown)} is not known on member '${state.id}': deleted, or expired and swept`, unknown);
        return this.ack(wantsReply);
      }
      case MSG_CONDITIONAL:
        return parts.conditional.answer(message, from);
      case MSG_STATE:
      case MSG_ACK:
      case MSG_VALUE:
      case MSG_OUTCOME:
      case MSG_HANDOVER:
        throw this.report(new ProtocolError(`unexpected ${MESSAGE_TYPE_NAMES[message.type] ?? '?'} as a request from '${from}'`, from));
    }
  }

  /** A leaving member takes no more copies: their primary must choose another backup. */
  private assertNotLeaving(): void {
    if (this.state.lifecycle === 'stopping') throw new StoppedError(`map '${this.state.name}' on '${this.state.id}' is leaving`);
  }

  /** An acknowledgement, built (and counted as sent) only when the sender waits for one. */
  private ack(wantsReply: boolean): unknown[] | undefined {
    return wantsReply ? this.parts.messenger.wire({ type: MSG_ACK }) : undefined;
  }

  /** Reports a fault as an `'error'` once; the caller throws it as the error reply. */
  private report<E extends Error>(error: E): E {
    this.reported.add(error);
    this.state.events.emit('error', error);
    return error;
  }
}
