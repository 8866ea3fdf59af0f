/**
 * The messages maps exchange, as a discriminated union on `type`, and their CBOR-ready wire form:
 * positional arrays `[type, ...fields]` (short on the wire, and cheap to validate field by field).
 *
 * Decoding validates every field: a peer's bytes become a {@link MapMessage} or a
 * {@link CodecError}, never a crash, and never an object with a prototype the peer chose.
 *
 * @module
 */
import { CodecError } from '../errors.js';
import {
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
  MSG_RETRIEVE_MANY,
  MSG_START,
  MSG_STATE,
  MSG_STATE_NEXT,
  MSG_STOP,
  MSG_VALUE,
  MSG_VALUES,
  MSG_VIEW,
  MSG_DIFFS,
  MSG_DIFF_OUTCOMES,
  MESSAGE_TYPE_NAMES,
} from './message-types.js';

/** A map key: a string or a finite number (`1` and `'1'` are different keys). */
export type MapKey = string | number;

/**
 * Version of an entry's state, totally ordered:
 * `[writeClock, writer, placeSeq, placer, update?, updater?]`, compared as
 * `writeClock, writer, update, updater, placeSeq, placer`.
 * - A write that places a key anew (a new key, or a write on a member that was not its primary)
 *   takes a Lamport tick (`writeClock`, tie-broken by `writer`), which every member hears of.
 * - A new value written on the primary where the key already lives (an update in place: `set` on
 *   the primary, `replicate`) keeps the tick and bumps `update`, naming its `updater` (both absent
 *   when `update` is 0). Only the holders hear of it, and any member's next tick outranks it.
 *   The updater keeps two primaries of one write (a partition) from making equal versions of
 *   different values.
 * - A change of roles without a new value (promotion, failover) keeps the value and bumps
 *   `placeSeq` (tie-broken by `placer`), so a re-homing never outranks a newer value.
 */
export type Version =
  | readonly [writeClock: number, writer: string, placeSeq: number, placer: string]
  | readonly [writeClock: number, writer: string, placeSeq: number, placer: string, update: number, updater: string];

/** Where an entry lives, as of `version`. */
export interface Placement {
  readonly key: MapKey;
  readonly version: Version;
  readonly primary: string;
  readonly backups: readonly string[];
}

/**
 * An entry's expiry as its sender knows it, in durations rather than instants, so members' clocks
 * need not agree: each receiver counts from the moment the message arrives.
 */
export interface EntryExpiry {
  /** Milliseconds until the entry's time to live runs out; absent when it has none. */
  readonly ttlMs?: number;
  /** The entry's idle limit in milliseconds; absent when it has none. */
  readonly maxIdleMs?: number;
  /** Milliseconds since the sender last saw the entry used; absent when it does not know. */
  readonly idleMs?: number;
}

/** A placement with the entry's encoded value. */
export interface EntryCopy extends Placement {
  /** The value, CBOR-encoded once by the writer and forwarded as-is. */
  readonly bytes: Uint8Array;
  /** How long the entry lives, when it expires at all. */
  readonly expiry?: EntryExpiry | undefined;
}

/** A key deleted at `version`. */
export interface Removal {
  readonly key: MapKey;
  readonly version: Version;
}

/** A write of an entry given as the changes since a base version (see {@link MSG_DIFF}). */
export interface EntryDiff {
  /** The entry's placement as of the new write: its key, the new write's version, primary and backups. */
  readonly entry: Placement;
  /** The version whose value the diff applies to; a holder of another write refuses it. */
  readonly base: Version;
  /** The diff, CBOR-encoded by the primary (what the value's `getDiff()` returned). */
  readonly diff: Uint8Array;
}

/** How a holder took one diff of a {@link MSG_DIFFS}: applied, or refused with the error it threw. */
export type DiffOutcome = { readonly name: string; readonly message: string } | undefined;

/** A holder's copy of an entry, as sent in reply to a retrieval. */
export interface HeldCopy {
  /** The version of the copy. */
  readonly version: Version;
  /** The value, as the writer encoded it. */
  readonly bytes: Uint8Array;
  /**
   * Milliseconds since the holder last saw the entry used (written, replicated or accessed), by
   * its own clock; absent when it does not know. Relative, so members' clocks need not agree.
   */
  readonly idleMs?: number;
  /** Milliseconds until the entry's time to live runs out, by the holder's clock; absent when it has none. */
  readonly ttlMs?: number;
  /** The entry's idle limit in milliseconds; absent when it has none. */
  readonly maxIdleMs?: number;
}

/**
 * A holder's answer for one key of a {@link MSG_RETRIEVE_MANY}, each key on its own:
 * - `held`: the holder's copy;
 * - `none`: it holds no value it can answer for (none at all, or one that may have expired): the
 *   asker waits for another holder, as for an error answer to {@link MSG_RETRIEVE_BACKUP};
 * - `refused`: an error the holder answers for this key alone (a value too large for the frame
 *   limit now), by the error's name and message;
 * - `later`: not answered in this reply, which would not fit the frame limit with it: ask again.
 */
export type HeldAnswer =
  | { readonly answer: 'held'; readonly copy: HeldCopy }
  | { readonly answer: 'none' }
  | { readonly answer: 'refused'; readonly name: string; readonly message: string }
  | { readonly answer: 'later' };

/**
 * What a conditional write asks of the key's current value (see {@link MSG_CONDITIONAL}):
 * - `read`: nothing is written; the decider answers `refused` with the value (a step of `update`);
 * - `absent`: write `bytes` if the key holds no live value (`setIfAbsent`);
 * - `equal`: write `bytes` if the key's value is encoded as exactly `expected` (`compareAndSet`);
 * - `delete`: delete the key; `written` if it held a live value, `refused` if not (`delete`);
 * - `take`: hand the primary role of the key, with its value, to the asker (a promoting `get`);
 * - `place`: hand the primary role to the asker, which writes a new value (`set`).
 *
 * `take` and `place` are answered with {@link MSG_HANDOVER} (or `moved`, or `refused` when
 * the key has no value to take); the others with {@link MSG_OUTCOME}.
 */
export type ConditionKind = 'read' | 'absent' | 'equal' | 'delete' | 'take' | 'place';

/** A conditional write as sent to the member that decides it. */
export interface ConditionalRequest {
  readonly key: MapKey;
  readonly condition: ConditionKind;
  /** With `equal`: the encoded value the key must hold. */
  readonly expected?: Uint8Array | undefined;
  /** The encoded value to write (absent with `read`). */
  readonly bytes?: Uint8Array | undefined;
  /** The caller's expiry options for this write (durations; the decider applies its map's defaults to what is absent). */
  readonly expiry?: EntryExpiry | undefined;
}

/** How the decider answered a conditional write (see {@link MSG_OUTCOME}). */
export type ConditionalOutcome =
  | { readonly outcome: 'written' }
  /** The condition did not hold; `current` is the key's live value as encoded, absent when it has none. */
  | { readonly outcome: 'refused'; readonly current?: Uint8Array | undefined }
  /** The receiver does not decide for this key; `at` does, as far as the receiver knows. */
  | { readonly outcome: 'moved'; readonly at: string };

/** A creation of a key no member knew, handed out by the member deciding for it (see {@link MSG_VIEW}). */
export interface Creation {
  readonly key: MapKey;
  /** The member the key was handed to: it publishes the key, and meanwhile askers are sent to it. */
  readonly to: string;
  /** The version the key was handed over at. */
  readonly version: Version;
}

/** Who a member takes for the map's members (see {@link MSG_VIEW}). */
export interface MemberView {
  /** Grows with each view the sender announces: an older one that arrives late is ignored. */
  readonly seq: number;
  /** The sender's incarnation of the map: a restart under the same id counts `seq` anew. */
  readonly incarnation: string;
  /** The members as `[id, incarnation]`, sorted by id; the sender is among them unless it is leaving. */
  readonly members: ReadonlyArray<readonly [string, string]>;
  /** The sender's Lamport clock: the receiver's next writes outrank every write the sender made. */
  readonly clock: number;
  /** The creations the sender handed out and whose creators have not published them yet. */
  readonly creations: readonly Creation[];
}

/** The primary role of a key handed to the asker (see {@link MSG_HANDOVER}). */
export interface Handover {
  readonly key: MapKey;
  /** The version the asker is primary at: it publishes the entry at this version (or an update of it). */
  readonly version: Version;
  /** The value it takes over (absent for `place`, whose asker brings its own). */
  readonly bytes?: Uint8Array | undefined;
  /** That value's expiry, as the handing member knew it. */
  readonly expiry?: EntryExpiry | undefined;
}

/** Every message a map sends or answers with. */
export type MapMessage =
  | { readonly type: typeof MSG_BACKUP; readonly entries: readonly EntryCopy[] }
  | { readonly type: typeof MSG_RETRIEVE_BACKUP; readonly key: MapKey }
  | { readonly type: typeof MSG_PROXY; readonly entries: readonly Placement[] }
  | { readonly type: typeof MSG_REMOVE; readonly removals: readonly Removal[] }
  | {
      readonly type: typeof MSG_STATE;
      readonly incarnation: string;
      readonly entries: readonly Placement[];
      readonly tombstones: readonly Removal[];
      /**
       * The transfer whose next page the receiver asks for with {@link MSG_STATE_NEXT}; absent on
       * the last page (and on a state that fits one page).
       */
      readonly next?: number;
    }
  | { readonly type: typeof MSG_START; readonly incarnation: string }
  | {
      readonly type: typeof MSG_STATE_NEXT;
      /** The transfer, as the previous page named it. */
      readonly transfer: number;
      /** The page asked for: 1 is the one after the reply to `MSG_START`. */
      readonly page: number;
    }
  | { readonly type: typeof MSG_STOP }
  | { readonly type: typeof MSG_LEAVING }
  | { readonly type: typeof MSG_COPY; readonly entries: readonly EntryCopy[] }
  | { readonly type: typeof MSG_ACCESS; readonly keys: readonly MapKey[] }
  | { readonly type: typeof MSG_PING }
  | { readonly type: typeof MSG_ACK }
  | {
      readonly type: typeof MSG_VALUE;
      readonly key: MapKey;
      /** The holder's copy, or `undefined` when it holds no value for the key. */
      readonly copy: HeldCopy | undefined;
    }
  | ({ readonly type: typeof MSG_DIFF } & EntryDiff)
  | { readonly type: typeof MSG_DIFFS; readonly diffs: readonly EntryDiff[] }
  | {
      readonly type: typeof MSG_DIFF_OUTCOMES;
      /** One per diff of the request, in its order: `undefined` when applied. */
      readonly outcomes: readonly DiffOutcome[];
    }
  | ({ readonly type: typeof MSG_CONDITIONAL } & ConditionalRequest)
  | ({ readonly type: typeof MSG_OUTCOME; readonly key: MapKey } & ConditionalOutcome)
  | ({ readonly type: typeof MSG_HANDOVER } & Handover)
  | ({ readonly type: typeof MSG_VIEW } & MemberView)
  | { readonly type: typeof MSG_RETRIEVE_MANY; readonly keys: readonly MapKey[] }
  | {
      readonly type: typeof MSG_VALUES;
      /** One answer per key of the request, in its order. */
      readonly answers: readonly HeldAnswer[];
    };

/** Condition kinds on the wire, by number. */
const CONDITION_WIRE: readonly ConditionKind[] = ['read', 'absent', 'equal', 'delete', 'take', 'place'];
/** Outcomes on the wire, by number. */
const OUTCOME_WIRE: readonly ConditionalOutcome['outcome'][] = ['written', 'refused', 'moved'];

/** The message of one type. */
export type MapMessageOf<T extends MapMessage['type']> = Extract<MapMessage, { type: T }>;

/** True for a valid map key. */
export function isMapKey(key: unknown): key is MapKey {
  return typeof key === 'string' || (typeof key === 'number' && Number.isFinite(key));
}

const placementWire = (p: Placement): unknown[] => [p.key, p.version, p.primary, p.backups];
/** `[ttlMs, maxIdleMs, idleMs]`, `null` for an absent part. */
const expiryWire = (e: EntryExpiry): unknown[] => [e.ttlMs ?? null, e.maxIdleMs ?? null, e.idleMs ?? null];
const copyWire = (c: EntryCopy): unknown[] =>
  c.expiry === undefined ? [c.key, c.version, c.primary, c.backups, c.bytes] : [c.key, c.version, c.primary, c.backups, c.bytes, expiryWire(c.expiry)];
const removalWire = (r: Removal): unknown[] => [r.key, r.version];
/** `[0]` none, `[1, version, bytes, idleMs(, ttlMs, maxIdleMs)]` held, `[2, name, message]` refused, `[3]` later. */
const answerWire = (a: HeldAnswer): unknown[] => {
  switch (a.answer) {
    case 'none':
      return [0];
    case 'held':
      return a.copy.ttlMs === undefined && a.copy.maxIdleMs === undefined
        ? [1, a.copy.version, a.copy.bytes, a.copy.idleMs ?? null]
        : [1, a.copy.version, a.copy.bytes, a.copy.idleMs ?? null, a.copy.ttlMs ?? null, a.copy.maxIdleMs ?? null];
    case 'refused':
      return [2, a.name, a.message];
    case 'later':
      return [3];
  }
};

/** The wire form of a map message: a positional array. */
export function mapMessageToWire(message: MapMessage): unknown[] {
  switch (message.type) {
    case MSG_BACKUP:
    case MSG_COPY:
      return [message.type, message.entries.map(copyWire)];
    case MSG_RETRIEVE_BACKUP:
      return [message.type, message.key];
    case MSG_PROXY:
      return [message.type, message.entries.map(placementWire)];
    case MSG_REMOVE:
      return [message.type, message.removals.map(removalWire)];
    case MSG_STATE: {
      const wire: unknown[] = [message.type, message.incarnation, message.entries.map(placementWire), message.tombstones.map(removalWire)];
      // The last page has four fields, as a whole state had before pages: one form per message.
      if (message.next !== undefined) wire.push(message.next);
      return wire;
    }
    case MSG_START:
      return [message.type, message.incarnation];
    case MSG_STATE_NEXT:
      return [message.type, message.transfer, message.page];
    case MSG_ACCESS:
      return [message.type, message.keys];
    case MSG_VALUE:
      return message.copy === undefined
        ? [message.type, message.key, null, null, null]
        : message.copy.ttlMs === undefined && message.copy.maxIdleMs === undefined
          ? [message.type, message.key, message.copy.version, message.copy.bytes, message.copy.idleMs ?? null]
          : [message.type, message.key, message.copy.version, message.copy.bytes, message.copy.idleMs ?? null, message.copy.ttlMs ?? null, message.copy.maxIdleMs ?? null];
    case MSG_DIFF:
      return [message.type, placementWire(message.entry), message.base, message.diff];
    case MSG_DIFFS:
      // [type, [[placement, base, bytes], ...]]
      return [message.type, message.diffs.map((d) => [placementWire(d.entry), d.base, d.diff])];
    case MSG_DIFF_OUTCOMES:
      // [type, [null | [name, message], ...]]
      return [message.type, message.outcomes.map((o) => (o === undefined ? null : [o.name, o.message]))];
    case MSG_CONDITIONAL:
      // [type, key, condition, expected | null, bytes | null, expiry | null]
      return [
        message.type,
        message.key,
        CONDITION_WIRE.indexOf(message.condition),
        message.expected ?? null,
        message.bytes ?? null,
        message.expiry === undefined ? null : expiryWire(message.expiry),
      ];
    case MSG_OUTCOME:
      // [type, key, outcome, current | null, at | null]
      return [
        message.type,
        message.key,
        OUTCOME_WIRE.indexOf(message.outcome),
        message.outcome === 'refused' ? (message.current ?? null) : null,
        message.outcome === 'moved' ? message.at : null,
      ];
    case MSG_HANDOVER:
      // [type, key, version, bytes | null, expiry | null]
      return [message.type, message.key, message.version, message.bytes ?? null, message.expiry === undefined ? null : expiryWire(message.expiry)];
    case MSG_VIEW:
      // [type, seq, incarnation, [[id, incarnation], ...], clock, [[key, to, version], ...]]
      return [message.type, message.seq, message.incarnation, message.members, message.clock, message.creations.map((c) => [c.key, c.to, c.version])];
    case MSG_RETRIEVE_MANY:
      return [message.type, message.keys];
    case MSG_VALUES:
      return [message.type, message.answers.map(answerWire)];
    case MSG_STOP:
    case MSG_LEAVING:
    case MSG_PING:
    case MSG_ACK:
      return [message.type];
  }
}

/**
 * Where a field sits in a message, for the error that names it: a top-level name, or a parent and
 * a field name or index. A path is a small object joined into text only when a check fails, so a
 * well-formed message costs no string building (a backup decodes one per write).
 */
type Where = string | { readonly parent: Where; readonly field: string | number };

function at(parent: Where, field: string | number): Where {
  return { parent, field };
}

function describe(where: Where): string {
  if (typeof where === 'string') return where;
  return typeof where.field === 'number' ? `${describe(where.parent)}[${String(where.field)}]` : `${describe(where.parent)}.${where.field}`;
}

function fail(what: string): never {
  throw new CodecError(`malformed map message: ${what}`);
}

function key(raw: unknown, where: Where): MapKey {
  if (!isMapKey(raw)) fail(`${describe(where)} is not a string or finite number key`);
  return raw;
}

/** A non-negative safe integer (a count, a clock, a sequence). */
function isCount(raw: unknown): raw is number {
  return typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0;
}

/** A non-empty string (a member id). */
function isMemberId(raw: unknown): raw is string {
  return typeof raw === 'string' && raw.length > 0;
}

function memberId(raw: unknown, where: Where): string {
  if (!isMemberId(raw)) fail(`${describe(where)} is not a member id`);
  return raw;
}

function count(raw: unknown, where: Where): number {
  if (!isCount(raw)) fail(`${describe(where)} is not a non-negative integer`);
  return raw;
}

function array(raw: unknown, where: Where): unknown[] {
  if (!Array.isArray(raw)) fail(`${describe(where)} is not an array`);
  return raw as unknown[];
}

function bytes(raw: unknown, where: Where): Uint8Array {
  if (!(raw instanceof Uint8Array)) fail(`${describe(where)} is not a byte string`);
  return raw;
}


/**
 * A well-formed version, checked without describing where each field is: the decoded array
 * itself, which nothing else holds. Every message carries one or two, and a description per field
 * cost an object each; `undefined` sends a malformed one to {@link version}, which says what is wrong.
 */
function wellFormedVersion(raw: unknown): Version | undefined {
  if (!Array.isArray(raw) || !isCount(raw[0]) || !isMemberId(raw[1]) || !isCount(raw[2]) || !isMemberId(raw[3])) return undefined;
  if (raw.length === 4) return raw as unknown as Version;
  if (raw.length === 6 && isCount(raw[4]) && raw[4] !== 0 && isMemberId(raw[5])) return raw as unknown as Version;
  return undefined;
}

function version(raw: unknown, where: Where): Version {
  const fast = wellFormedVersion(raw);
  if (fast !== undefined) return fast;
  const v = array(raw, where);
  if (v.length !== 4 && v.length !== 6) fail(`${describe(where)} is not a 4- or 6-part version`);
  const parts = [count(v[0], at(where, 'writeClock')), memberId(v[1], at(where, 'writer')), count(v[2], at(where, 'placeSeq')), memberId(v[3], at(where, 'placer'))] as const;
  if (v.length === 4) return parts;
  const update = count(v[4], at(where, 'update'));
  // One form for each version, so equal versions look equal: no update is written as none.
  if (update === 0) fail(`${describe(where)}.update is 0: a version without updates has 4 parts`);
  return [...parts, update, memberId(v[5], at(where, 'updater'))];
}

function placement(raw: unknown, where: Where): Placement {
  const p = array(raw, where);
  if (p.length !== 4) fail(`${describe(where)} is not a placement`);
  return placementOf(p, where);
}

/** The placement in the first four fields of `p` (a placement, or an entry copy that starts with one). */
function placementOf(p: readonly unknown[], where: Where): Placement {
  // The common, well-formed case without a description per field (see wellFormedVersion).
  const [k, v, primary, backups] = p;
  const fast = wellFormedVersion(v);
  if (fast !== undefined && isMapKey(k) && isMemberId(primary) && Array.isArray(backups) && backups.every(isMemberId)) {
    return { key: k, version: fast, primary, backups };
  }
  return {
    key: key(p[0], at(where, 'key')),
    version: version(p[1], at(where, 'version')),
    primary: memberId(p[2], at(where, 'primary')),
    backups: array(p[3], at(where, 'backups')).map((b, i) => memberId(b, at(at(where, 'backups'), i))),
  };
}

/** An optional duration: `null` is absent. */
function duration(raw: unknown, where: Where): number | undefined {
  return raw === null ? undefined : count(raw, where);
}

function expiry(raw: unknown, where: Where): EntryExpiry {
  const e = array(raw, where);
  if (e.length !== 3) fail(`${describe(where)} is not an expiry`);
  const ttlMs = duration(e[0], at(where, 'ttlMs'));
  const maxIdleMs = duration(e[1], at(where, 'maxIdleMs'));
  const idleMs = duration(e[2], at(where, 'idleMs'));
  return { ...(ttlMs === undefined ? {} : { ttlMs }), ...(maxIdleMs === undefined ? {} : { maxIdleMs }), ...(idleMs === undefined ? {} : { idleMs }) };
}

function entryCopy(raw: unknown, where: Where): EntryCopy {
  const c = array(raw, where);
  if (c.length !== 5 && c.length !== 6) fail(`${describe(where)} is not an entry copy`);
  const p = placementOf(c, where);
  const copy = { key: p.key, version: p.version, primary: p.primary, backups: p.backups, bytes: bytes(c[4], at(where, 'bytes')) };
  return c.length === 6 ? { ...copy, expiry: expiry(c[5], at(where, 'expiry')) } : copy;
}

function removal(raw: unknown, where: Where): Removal {
  const r = array(raw, where);
  if (r.length !== 2) fail(`${describe(where)} is not a removal`);
  return { key: key(r[0], at(where, 'key')), version: version(r[1], at(where, 'version')) };
}

function text(raw: unknown, where: Where): string {
  if (typeof raw !== 'string') fail(`${describe(where)} is not a string`);
  return raw;
}

function heldCopy(c: readonly unknown[], where: Where): HeldCopy {
  const idleMs = duration(c[2], at(where, 'idleMs'));
  const ttlMs = duration(c[3] ?? null, at(where, 'ttlMs'));
  const maxIdleMs = duration(c[4] ?? null, at(where, 'maxIdleMs'));
  return {
    version: version(c[0], at(where, 'version')),
    bytes: bytes(c[1], at(where, 'bytes')),
    ...(idleMs === undefined ? {} : { idleMs }),
    ...(ttlMs === undefined ? {} : { ttlMs }),
    ...(maxIdleMs === undefined ? {} : { maxIdleMs }),
  };
}

function heldAnswer(raw: unknown, where: Where): HeldAnswer {
  const a = array(raw, where);
  const n = a.length;
  switch (a[0]) {
    case 0:
      if (n === 1) return { answer: 'none' };
      break;
    case 1:
      // Without expiry parts (4) or with them (6), as MSG_VALUE.
      if (n === 4 || n === 6) return { answer: 'held', copy: heldCopy(a.slice(1), where) };
      break;
    case 2:
      if (n === 3) return { answer: 'refused', name: text(a[1], at(where, 'name')), message: text(a[2], at(where, 'message')) };
      break;
    case 3:
      if (n === 1) return { answer: 'later' };
      break;
  }
  fail(`${describe(where)} is not [0], [1, version, bytes, idleMs(, ttlMs, maxIdleMs)], [2, name, message] or [3]`);
}

function arity(wire: unknown[], n: number, name: string): void {
  if (wire.length !== n) fail(`${name} has ${wire.length - 1} fields, expected ${n - 1}`);
}

/**
 * Validates a map message's wire form (as CBOR decoded it) and builds the typed message.
 * Throws a {@link CodecError} for anything else, including reserved and unknown types.
 */
export function mapMessageFromWire(raw: unknown): MapMessage {
  const wire = array(raw, 'message');
  const type = wire[0];
  switch (type) {
    case MSG_BACKUP:
    case MSG_COPY:
      arity(wire, 2, MESSAGE_TYPE_NAMES[type] ?? '');
      return { type, entries: array(wire[1], 'entries').map((e, i) => entryCopy(e, at('entries', i))) };
    case MSG_RETRIEVE_BACKUP:
      arity(wire, 2, 'MSG_RETRIEVE_BACKUP');
      return { type, key: key(wire[1], 'key') };
    case MSG_PROXY:
      arity(wire, 2, 'MSG_PROXY');
      return { type, entries: array(wire[1], 'entries').map((e, i) => placement(e, at('entries', i))) };
    case MSG_REMOVE:
      arity(wire, 2, 'MSG_REMOVE');
      return { type, removals: array(wire[1], 'removals').map((r, i) => removal(r, at('removals', i))) };
    case MSG_STATE: {
      if (wire.length !== 4 && wire.length !== 5) fail(`MSG_STATE has ${wire.length - 1} fields, expected 3, or 4 when more pages follow`);
      const state = {
        type,
        incarnation: memberId(wire[1], 'incarnation'),
        entries: array(wire[2], 'entries').map((e, i) => placement(e, at('entries', i))),
        tombstones: array(wire[3], 'tombstones').map((r, i) => removal(r, at('tombstones', i))),
      };
      return wire.length === 5 ? { ...state, next: count(wire[4], 'next') } : state;
    }
    case MSG_START:
      arity(wire, 2, 'MSG_START');
      return { type, incarnation: memberId(wire[1], 'incarnation') };
    case MSG_STATE_NEXT:
      arity(wire, 3, 'MSG_STATE_NEXT');
      return { type, transfer: count(wire[1], 'transfer'), page: count(wire[2], 'page') };
    case MSG_ACCESS:
      arity(wire, 2, 'MSG_ACCESS');
      return { type, keys: array(wire[1], 'keys').map((k, i) => key(k, at('keys', i))) };
    case MSG_VALUE: {
      // Without expiry parts (5) or with them (7).
      if (wire.length !== 7) arity(wire, 5, 'MSG_VALUE');
      const k = key(wire[1], 'key');
      if (wire[2] === null && wire[3] === null && wire[4] === null) return { type, key: k, copy: undefined };
      const idleMs = duration(wire[4], 'idleMs');
      const ttlMs = duration(wire[5] ?? null, 'ttlMs');
      const maxIdleMs = duration(wire[6] ?? null, 'maxIdleMs');
      return {
        type,
        key: k,
        copy: {
          version: version(wire[2], 'version'),
          bytes: bytes(wire[3], 'bytes'),
          ...(idleMs === undefined ? {} : { idleMs }),
          ...(ttlMs === undefined ? {} : { ttlMs }),
          ...(maxIdleMs === undefined ? {} : { maxIdleMs }),
        },
      };
    }
    case MSG_DIFF:
      arity(wire, 4, 'MSG_DIFF');
      return { type, entry: placement(wire[1], 'entry'), base: version(wire[2], 'base'), diff: bytes(wire[3], 'diff') };
    case MSG_DIFFS: {
      arity(wire, 2, 'MSG_DIFFS');
      const diffs = array(wire[1], 'diffs').map((raw, i): EntryDiff => {
        const where = at('diffs', i);
        const d = array(raw, where);
        if (d.length !== 3) fail(`${describe(where)} is not [placement, base, bytes]`);
        return { entry: placement(d[0], at(where, 'entry')), base: version(d[1], at(where, 'base')), diff: bytes(d[2], at(where, 'diff')) };
      });
      if (diffs.length === 0) fail('MSG_DIFFS carries no diff');
      return { type, diffs };
    }
    case MSG_DIFF_OUTCOMES: {
      arity(wire, 2, 'MSG_DIFF_OUTCOMES');
      const outcomes = array(wire[1], 'outcomes').map((raw, i): DiffOutcome => {
        if (raw === null) return undefined;
        const where = at('outcomes', i);
        const o = array(raw, where);
        if (o.length !== 2 || typeof o[0] !== 'string' || typeof o[1] !== 'string') fail(`${describe(where)} is not null or [name, message]`);
        return { name: o[0], message: o[1] };
      });
      return { type, outcomes };
    }
    case MSG_CONDITIONAL: {
      arity(wire, 6, 'MSG_CONDITIONAL');
      const condition = CONDITION_WIRE[count(wire[2], 'condition')] ?? fail('condition is not 0 (read), 1 (absent), 2 (equal), 3 (delete), 4 (take) or 5 (place)');
      const expected = wire[3] === null ? undefined : bytes(wire[3], 'expected');
      const value = wire[4] === null ? undefined : bytes(wire[4], 'bytes');
      // One form per request: `absent` carries the value, `equal` both, the others neither.
      if ((condition === 'equal') !== (expected !== undefined)) fail(`expected must be given with 'equal' only`);
      if ((condition === 'absent' || condition === 'equal') !== (value !== undefined)) fail(`bytes must be given with 'absent' and 'equal' only`);
      return {
        type,
        key: key(wire[1], 'key'),
        condition,
        ...(expected === undefined ? {} : { expected }),
        ...(value === undefined ? {} : { bytes: value }),
        ...(wire[5] === null ? {} : { expiry: expiry(wire[5], 'expiry') }),
      };
    }
    case MSG_OUTCOME: {
      arity(wire, 5, 'MSG_OUTCOME');
      const k = key(wire[1], 'key');
      const outcome = OUTCOME_WIRE[count(wire[2], 'outcome')] ?? fail('outcome is not 0 (written), 1 (refused) or 2 (moved)');
      if (outcome !== 'refused' && wire[3] !== null) fail(`current is given with outcome '${outcome}'`);
      if ((outcome === 'moved') !== (wire[4] !== null)) fail(`at must be given with 'moved' only`);
      if (outcome === 'written') return { type, key: k, outcome };
      if (outcome === 'moved') return { type, key: k, outcome, at: memberId(wire[4], 'at') };
      return wire[3] === null ? { type, key: k, outcome } : { type, key: k, outcome, current: bytes(wire[3], 'current') };
    }
    case MSG_HANDOVER: {
      arity(wire, 5, 'MSG_HANDOVER');
      return {
        type,
        key: key(wire[1], 'key'),
        version: version(wire[2], 'version'),
        ...(wire[3] === null ? {} : { bytes: bytes(wire[3], 'bytes') }),
        ...(wire[4] === null ? {} : { expiry: expiry(wire[4], 'expiry') }),
      };
    }
    case MSG_VIEW: {
      arity(wire, 6, 'MSG_VIEW');
      const members = array(wire[3], 'members').map((m, i): readonly [string, string] => {
        const where = at('members', i);
        const pair = array(m, where);
        if (pair.length !== 2) fail(`${describe(where)} is not [id, incarnation]`);
        return [memberId(pair[0], at(where, 'id')), memberId(pair[1], at(where, 'incarnation'))];
      });
      const creations = array(wire[5], 'creations').map((c, i): Creation => {
        const where = at('creations', i);
        const parts = array(c, where);
        if (parts.length !== 3) fail(`${describe(where)} is not [key, to, version]`);
        return { key: key(parts[0], at(where, 'key')), to: memberId(parts[1], at(where, 'to')), version: version(parts[2], at(where, 'version')) };
      });
      return { type, seq: count(wire[1], 'seq'), incarnation: memberId(wire[2], 'incarnation'), members, clock: count(wire[4], 'clock'), creations };
    }
    case MSG_RETRIEVE_MANY: {
      arity(wire, 2, 'MSG_RETRIEVE_MANY');
      const keys = array(wire[1], 'keys').map((k, i) => key(k, at('keys', i)));
      if (keys.length === 0) fail('MSG_RETRIEVE_MANY asks for no key');
      return { type, keys };
    }
    case MSG_VALUES:
      arity(wire, 2, 'MSG_VALUES');
      return { type, answers: array(wire[1], 'answers').map((a, i) => heldAnswer(a, at('answers', i))) };
    case MSG_STOP:
    case MSG_LEAVING:
    case MSG_PING:
    case MSG_ACK:
      arity(wire, 1, MESSAGE_TYPE_NAMES[type] ?? '');
      return { type };
    default: {
      const name = typeof type === 'number' ? MESSAGE_TYPE_NAMES[type] : undefined;
      fail(name === undefined ? `unknown message type ${String(type)}` : `${name} is reserved and not used by this protocol version`);
    }
  }
}
