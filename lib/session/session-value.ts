/**
 * A session as the map stores it: attributes, the cookie's fields and the session's own settings,
 * recording its changes so that a request that changes one attribute replicates that attribute,
 * not the session (Tomcat: `DeltaSession` with its `DeltaRequest`).
 *
 * @module
 */
import { ValueCodec } from '../codec/value-codec.js';
import { DIFFS_BOUND_GROWTH, type DeltaValue } from '../map/delta-value.js';

/**
 * The kinds of fields a session holds. A change is recorded under its kind *and* name, so an
 * attribute and a cookie field of one name never overwrite each other's change (Tomcat's
 * `DeltaRequest` keys its actions by name alone, and one of two such changes is lost).
 * - `attribute`: the application's data (`req.session.user`, ...);
 * - `cookie`: the fields of the session cookie (`originalMaxAge`, `expires`, `path`, ...);
 * - `meta`: the store's settings for the session (`maxInactiveMs`).
 */
export type SessionFieldKind = 'attribute' | 'cookie' | 'meta';

/** Every {@link SessionFieldKind}, in the order a session value is encoded. */
export const SESSION_FIELD_KINDS: readonly SessionFieldKind[] = Object.freeze(['attribute', 'cookie', 'meta'] as const);

/** One recorded change: a field set to a value, or a field removed. The wire form of a diff is an array of these. */
export type SessionAction =
  | readonly [kind: SessionFieldKind, op: 'set', name: string, value: unknown]
  | readonly [kind: SessionFieldKind, op: 'remove', name: string];

/** The CBOR tag {@link SessionValue} is registered under with the value codec. */
export const SESSION_VALUE_TAG = 40_700;

const MAX_INACTIVE = 'maxInactiveMs';

function isKind(kind: unknown): kind is SessionFieldKind {
  return kind === 'attribute' || kind === 'cookie' || kind === 'meta';
}

/**
 * A session: named fields of three kinds (see {@link SessionFieldKind}) and the changes made to
 * them since the last replication. It is a {@link DeltaValue}: `map.replicate(id)` sends the
 * holders only the recorded changes. The last change of a field wins: setting an attribute twice,
 * or setting then removing it, leaves one action.
 *
 * Values are stored as given: the caller hands over values it will not change in place (the
 * session store clones what it stores).
 *
 * @example
 * ```ts
 * const s = new SessionValue();
 * s.set('attribute', 'user', 'ada');
 * await map.set(id, s);                  // the whole session, once
 * s.set('attribute', 'cart', ['book']);
 * await map.replicate(id);               // only the cart
 * ```
 */
export class SessionValue implements DeltaValue {
  private readonly fields: Readonly<Record<SessionFieldKind, Map<string, unknown>>> = {
    attribute: new Map(),
    cookie: new Map(),
    meta: new Map(),
  };
  /** Changes since the last `resetDiff`, keyed by kind and name (`kind:name`: kinds hold no colon). */
  private readonly actions = new Map<string, SessionAction>();

  /**
   * A diff never adds more to the encoded session than its own length: each `set` action carries
   * the field's name and value, as the session's [name, value] pair does, plus its kind and
   * operation (at least 9 bytes), which outweigh the at most 6 bytes the three lists' headers can
   * grow by; a `remove` only shrinks it. So the map checks the frame limit against the session's
   * last encoding plus the diffs since, and encodes it whole only when asked (see DIFFS_BOUND_GROWTH).
   */
  get [DIFFS_BOUND_GROWTH](): true {
    return true;
  }

  /** The value of a field, or `undefined`. */
  get(kind: SessionFieldKind, name: string): unknown {
    return this.fields[kind].get(name);
  }

  /** True when the field exists. */
  has(kind: SessionFieldKind, name: string): boolean {
    return this.fields[kind].has(name);
  }

  /** Sets a field and records the change. */
  set(kind: SessionFieldKind, name: string, value: unknown): this {
    this.fields[kind].set(name, value);
    this.actions.set(`${kind}:${name}`, [kind, 'set', name, value]);
    return this;
  }

  /** Removes a field and records the change; false (and nothing recorded) when it did not exist. */
  remove(kind: SessionFieldKind, name: string): boolean {
    if (!this.fields[kind].delete(name)) return false;
    this.actions.set(`${kind}:${name}`, [kind, 'remove', name]);
    return true;
  }

  /**
   * The fields of one kind, in insertion order, as the value holds them: a view, not a copy, for
   * reading without building an array of pairs (the session store reads them at each request).
   * Change fields with {@link set} and {@link remove} only, so that every change is in the diff.
   */
  fieldsOf(kind: SessionFieldKind): ReadonlyMap<string, unknown> {
    return this.fields[kind];
  }

  /** The fields of one kind, as `[name, value]` pairs in insertion order. */
  entries(kind: SessionFieldKind): [string, unknown][] {
    return [...this.fields[kind]];
  }

  /**
   * How long the session lives without being used, in milliseconds (Tomcat:
   * `maxInactiveInterval`); `undefined` when not set. Setting it records a change.
   */
  get maxInactiveMs(): number | undefined {
    const ms = this.fields.meta.get(MAX_INACTIVE);
    return typeof ms === 'number' ? ms : undefined;
  }

  set maxInactiveMs(ms: number | undefined) {
    if (ms === undefined) this.remove('meta', MAX_INACTIVE);
    else this.set('meta', MAX_INACTIVE, ms);
  }

  /** True when a field changed since the last {@link resetDiff}. */
  isDirty(): boolean {
    return this.actions.size > 0;
  }

  /** The recorded changes, one {@link SessionAction} per changed field. */
  getDiff(): SessionAction[] {
    return [...this.actions.values()];
  }

  /**
   * Replays changes recorded on another member. Validates the whole diff first: a malformed one
   * throws a `TypeError` and changes nothing.
   */
  applyDiff(diff: unknown): void {
    if (!Array.isArray(diff)) throw new TypeError('a session diff must be an array of actions');
    const actions = (diff as unknown[]).map((raw, i) => {
      if (!Array.isArray(raw)) throw new TypeError(`session diff action ${i} is not an array`);
      const [kind, op, name] = raw as unknown[];
      if (!isKind(kind)) throw new TypeError(`session diff action ${i} has an unknown kind`);
      if (typeof name !== 'string') throw new TypeError(`session diff action ${i} has no field name`);
      if (op === 'set' && raw.length === 4) return [kind, op, name, raw[3]] as const;
      if (op === 'remove' && raw.length === 3) return [kind, op, name] as const;
      throw new TypeError(`session diff action ${i} is neither [kind, 'set', name, value] nor [kind, 'remove', name]`);
    });
    for (const a of actions) {
      if (a[1] === 'set') this.fields[a[0]].set(a[2], a[3]);
      else this.fields[a[0]].delete(a[2]);
    }
  }

  /** Forgets the recorded changes (the map calls it once it encoded them). */
  resetDiff(): void {
    this.actions.clear();
  }

  /** The encoded form: for each kind, in {@link SESSION_FIELD_KINDS} order, its `[name, value]` pairs. Changes are not part of it. */
  static toData(value: SessionValue): [string, unknown][][] {
    return SESSION_FIELD_KINDS.map((kind) => value.entries(kind));
  }

  /**
   * Builds a session from its encoded form (as a peer sent it), with no changes recorded.
   * @throws {TypeError} when the data is not that form.
   */
  static fromData(data: unknown): SessionValue {
    if (!Array.isArray(data) || data.length !== SESSION_FIELD_KINDS.length) {
      throw new TypeError(`a session value is ${SESSION_FIELD_KINDS.length} lists of [name, value] pairs`);
    }
    const value = new SessionValue();
    SESSION_FIELD_KINDS.forEach((kind, k) => {
      const pairs: unknown = data[k];
      if (!Array.isArray(pairs)) throw new TypeError(`the ${kind} fields of a session value are not a list`);
      for (const pair of pairs as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') {
          throw new TypeError(`a ${kind} field of a session value is not a [name, value] pair`);
        }
        value.fields[kind].set(pair[0], pair[1]);
      }
    });
    return value;
  }
}

// Registered when the module loads, so every member that uses the session store decodes its
// backups' copies as SessionValue instances and can apply diffs to them.
ValueCodec.register(SESSION_VALUE_TAG, SessionValue, (v) => SessionValue.toData(v), (d) => SessionValue.fromData(d));
