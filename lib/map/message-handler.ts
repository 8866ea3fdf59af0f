/**
 * The message handler: every message a peer sends a map arrives here, is decoded, counted and
 * handed to the collaborator that deals with it. Replies go back through the map's RPC channel.
 *
 * @module
 */
import { ProtocolError, StoppedError, type CodecError } from '../errors.js';
import { mapMessageFromWire, type MapMessage, type MapMessageOf } from '../codec/map-messages.js';
import {
  MESSAGE_TYPE_NAMES,
  MSG_ACCESS,
  MSG_ACK,
  MSG_BACKUP,
  MSG_CONDITIONAL,
  MSG_COPY,
  MSG_DIFF,
  MSG_DIFF_OUTCOMES,
  MSG_DIFFS,
  MSG_HANDOVER,
  MSG_LEAVING,
  MSG_OUTCOME,
  MSG_PING,
  MSG_PROXY,
  MSG_REMOVE,
  MSG_RETRIEVE_BACKUP,
  MSG_RETRIEVE_MANY,
  MSG_START,
  MSG_STATE,
  MSG_STATE_NEXT,
  MSG_STOP,
  MSG_VIEW,
  MSG_VALUE,
  MSG_VALUES,
} from '../codec/message-types.js';
import type { Membership } from '../membership/membership.js';
import type { Departure } from './departure.js';
import type { Expiry } from './expiry.js';
import type { MapContext } from './map-context.js';
import type { MemberChanges } from './member-changes.js';
import type { Messenger } from './messenger.js';
import type { Promotion } from './promotion.js';
import type { Reconciler } from './reconciler.js';
import type { StateTransfer } from './state-transfer.js';

/**
 * What the handler needs of the map: where it is in its life (read only: the lifecycle moves it on,
 * a departure says goodbye), marking members that leave, counting what it receives, and where
 * errors go.
 */
export type MessageHandlerState = Pick<MapContext, 'id' | 'name' | 'countReceived' | 'events'> &
  Readonly<Pick<MapContext, 'lifecycle' | 'saidGoodbye'>> & {
    /** Members that say they leave (`MSG_LEAVING`) or goodbye (`MSG_STOP`). */
    readonly members: Pick<Membership, 'markLeaving' | 'markFarewell'>;
  };

/** The collaborators the handler dispatches to. */
export interface MessageHandlerParts {
  /** Encodes replies. */
  readonly messenger: Pick<Messenger, 'wire'>;
  /** Applies copies, diffs, placements and deletes. */
  readonly reconciler: Pick<Reconciler, 'applyCopies' | 'applyDiff' | 'applyPlacements' | 'applyRemovals'>;
  /** Answers starts. */
  readonly transfer: Pick<StateTransfer, 'answerStart' | 'answerNext'>;
  /** Handles goodbyes. */
  readonly memberChanges: Pick<MemberChanges, 'disappeared'>;
  /** Counts uses of expiring entries. */
  readonly expiry: Pick<Expiry, 'heard'>;
  /** Answers a holder's value to a member that fetches it. */
  readonly promotion: Pick<Promotion, 'held' | 'heldMany'>;
  /** Hears of every message while this member leaves (a newcomer, a placement, a goodbye). */
  readonly departure: Pick<Departure, 'changed'>;
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
    state.countReceived(message.type);
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
      case MSG_DIFFS: {
        this.assertNotLeaving();
        // Each diff on its own: one this member refuses (it lacks the base) does not fail the others.
        const outcomes = message.diffs.map((diff) => {
          try {
            parts.reconciler.applyDiff(diff, from);
            return undefined;
          } catch (error) {
            const e = error instanceof Error ? error : new Error(String(error));
            return { name: e.name, message: e.message };
          }
        });
        return wantsReply ? parts.messenger.wire({ type: MSG_DIFF_OUTCOMES, outcomes }) : undefined;
      }
      case MSG_PROXY:
        parts.reconciler.applyPlacements(message.entries, from);
        return this.ack(wantsReply);
      case MSG_REMOVE:
        parts.reconciler.applyRemovals(message.removals, from);
        return this.ack(wantsReply);
      case MSG_RETRIEVE_BACKUP:
        return parts.messenger.wire({ type: MSG_VALUE, key: message.key, copy: parts.promotion.held(message.key, (error) => this.report(error)) });
      case MSG_RETRIEVE_MANY:
        return parts.messenger.wire({ type: MSG_VALUES, answers: parts.promotion.heldMany(message.keys, (error) => this.report(error)) });
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
        parts.memberChanges.disappeared(from);
        return this.ack(wantsReply);
      case MSG_LEAVING:
        state.members.markLeaving(from);
        return this.ack(wantsReply);
      case MSG_VIEW:
        return parts.view.heard(message, from);
      case MSG_PING:
        // Nothing in this library sends it; it stays answered for peers that do.
        return this.ack(wantsReply);
      case MSG_ACCESS:
        parts.expiry.heard(message.keys, from, wantsReply);
        return this.ack(wantsReply);
      case MSG_CONDITIONAL:
        return parts.conditional.answer(message, from);
      case MSG_STATE:
      case MSG_ACK:
      case MSG_VALUE:
      case MSG_VALUES:
      case MSG_OUTCOME:
      case MSG_HANDOVER:
      case MSG_DIFF_OUTCOMES:
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
