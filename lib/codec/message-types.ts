/**
 * Map message types. Numbers 1-13 keep the names and numbers of Tomcat Tribes' `MapMessage`
 * so readers can map one protocol onto the other; 14 and up are ours.
 *
 * @module
 */

/** Full value of one or more entries for their backup (Tomcat: same). Acknowledged. */
export const MSG_BACKUP = 1;
/** Ask a holder for the value of a key (Tomcat: same). Answered with {@link MSG_VALUE}. */
export const MSG_RETRIEVE_BACKUP = 2;
/** Where entries live: key, version, primary, backups, no value (Tomcat: same). */
export const MSG_PROXY = 3;
/** Keys deleted, with the version of each delete, so late writes cannot resurrect them. Acknowledged. */
export const MSG_REMOVE = 4;
/**
 * State transfer: a page of the entries a member is primary of and of its tombstones. Reply to
 * {@link MSG_START} (the first page) and to {@link MSG_STATE_NEXT} (the following ones).
 */
export const MSG_STATE = 5;
/** A member started the map (or reappeared): "add me, tell me what you own". */
export const MSG_START = 6;
/** A member leaves the map gracefully, after handing its entries over. */
export const MSG_STOP = 7;
/** Tomcat's map init handshake. Reserved: this protocol version folds it into {@link MSG_START}. */
export const MSG_INIT = 8;
/** Full value of entries for a member of a `ReplicatedMap` (Tomcat: same). Acknowledged. */
export const MSG_COPY = 9;
/** Tomcat's state transfer with values. Reserved: this protocol version does not send it. */
export const MSG_STATE_COPY = 10;
/** Entries were used (touched) on their primary, so holders keep them alive. */
export const MSG_ACCESS = 11;
/** Tomcat's map membership notice. Reserved: this protocol version does not send it. */
export const MSG_NOTIFY_MAPMEMBER = 12;
/** Is the map running on the receiver? Answered with {@link MSG_ACK}. */
export const MSG_PING = 13;
/** Positive acknowledgement of a request. */
export const MSG_ACK = 14;
/** Reply to {@link MSG_RETRIEVE_BACKUP}: the value and its version, or "not held here". */
export const MSG_VALUE = 15;
/**
 * The changes of a value since a base version, for holders of that base (Tomcat: a `MSG_BACKUP`
 * carrying a diff). Acknowledged; a holder without the base refuses it and gets {@link MSG_BACKUP}.
 */
export const MSG_DIFF = 16;
/**
 * Asks a member for the next page of the state it began sending in its reply to a
 * {@link MSG_START}. Answered with {@link MSG_STATE}. Pages keep every message within a
 * transport's frame limit however many entries a member owns.
 */
export const MSG_STATE_NEXT = 17;
/**
 * A member is leaving the map gracefully: from now on nobody chooses it as a backup or hands
 * entries to it, and it takes no more copies. Its {@link MSG_STOP} follows once what it holds
 * alone has a copy on a member that stays. Two members stopping at once thus never count on each
 * other. Acknowledged.
 */
export const MSG_LEAVING = 18;
/**
 * A conditional write (`setIfAbsent`, `compareAndSet`, a step of `update`) sent to the member the
 * caller takes for the key's primary, which decides it in its call order. Answered with
 * {@link MSG_OUTCOME}.
 */
export const MSG_CONDITIONAL = 19;
/**
 * Reply to {@link MSG_CONDITIONAL}: written; refused (with the value the key holds, for the
 * caller's next try); or moved (the member to ask instead, when the receiver is not the decider).
 */
export const MSG_OUTCOME = 20;
/**
 * Reply to a {@link MSG_CONDITIONAL} that asks the key's primary to hand the role over (a `set`
 * or a promoting `get` on another member): the version the asker is primary at, and, when the
 * asker brings no value, the value it takes over with its expiry.
 */
export const MSG_HANDOVER = 21;
/**
 * Which members this member takes for the map's members (each with its incarnation), sent to
 * every member each time that changes and answered with the receiver's own: a member decides for
 * a key no member knows only while every member it counts says the same (see decider-view.ts).
 * Carries the sender's Lamport clock and the creations it handed out and that are still under way.
 */
export const MSG_VIEW = 22;
/**
 * Asks a holder for the values of several keys at once: the fetches of one turn to one member go
 * as one message. Answered with {@link MSG_VALUES}. A single key still goes as
 * {@link MSG_RETRIEVE_BACKUP}.
 */
export const MSG_RETRIEVE_MANY = 23;
/**
 * Reply to {@link MSG_RETRIEVE_MANY}: one answer per key asked, in order (a copy, "not held", a
 * refusal, or "ask again": what did not fit the frame limit).
 */
export const MSG_VALUES = 24;
/**
 * Several {@link MSG_DIFF}s for one holder in one request: the diffs a primary issued to that
 * member in the same turn of its event loop (many sessions saved at once). Answered with one
 * {@link MSG_DIFF_OUTCOMES}; each diff is applied, or refused, on its own.
 */
export const MSG_DIFFS = 25;
/**
 * Reply to {@link MSG_DIFFS}: for each diff, in order, `null` when it was applied, or the error
 * that refused it (`[name, message]`, as an RPC error reply carries one).
 */
export const MSG_DIFF_OUTCOMES = 26;

/** Names of the message types, for stats and diagnostics. */
export const MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [MSG_BACKUP]: 'MSG_BACKUP',
  [MSG_RETRIEVE_BACKUP]: 'MSG_RETRIEVE_BACKUP',
  [MSG_PROXY]: 'MSG_PROXY',
  [MSG_REMOVE]: 'MSG_REMOVE',
  [MSG_STATE]: 'MSG_STATE',
  [MSG_START]: 'MSG_START',
  [MSG_STOP]: 'MSG_STOP',
  [MSG_INIT]: 'MSG_INIT',
  [MSG_COPY]: 'MSG_COPY',
  [MSG_STATE_COPY]: 'MSG_STATE_COPY',
  [MSG_ACCESS]: 'MSG_ACCESS',
  [MSG_NOTIFY_MAPMEMBER]: 'MSG_NOTIFY_MAPMEMBER',
  [MSG_PING]: 'MSG_PING',
  [MSG_ACK]: 'MSG_ACK',
  [MSG_VALUE]: 'MSG_VALUE',
  [MSG_DIFF]: 'MSG_DIFF',
  [MSG_STATE_NEXT]: 'MSG_STATE_NEXT',
  [MSG_LEAVING]: 'MSG_LEAVING',
  [MSG_CONDITIONAL]: 'MSG_CONDITIONAL',
  [MSG_OUTCOME]: 'MSG_OUTCOME',
  [MSG_HANDOVER]: 'MSG_HANDOVER',
  [MSG_VIEW]: 'MSG_VIEW',
  [MSG_RETRIEVE_MANY]: 'MSG_RETRIEVE_MANY',
  [MSG_VALUES]: 'MSG_VALUES',
  [MSG_DIFFS]: 'MSG_DIFFS',
  [MSG_DIFF_OUTCOMES]: 'MSG_DIFF_OUTCOMES',
});
