/**
 * Values that replicate their changes instead of themselves (Tomcat Tribes: `ReplicatedMapEntry`).
 *
 * @module
 */

/**
 * A value that records its own changes, so `map.replicate(key)` can send the holders a diff
 * (`MSG_DIFF`) instead of the whole value. Store one with `map.set`, change it in place on its
 * primary, then call `map.replicate(key)`:
 * - dirty: the holders receive `getDiff()` and apply it to their copy with `applyDiff`;
 * - clean: the holders receive an access notice (`MSG_ACCESS`) so they know the entry is in use;
 * - `replicate(key, true)`: the whole value, as for any other value.
 *
 * The class must be registered with `ValueCodec.register` on every member, so a holder decodes its
 * copy as an instance with these methods. A holder that cannot apply a diff (it lacks the base
 * version, or the class is not registered there) refuses it and gets the whole value instead.
 *
 * Tomcat's `ReplicatedMapEntry` also carries ownership and version bookkeeping; here the map keeps
 * those, and the value only answers for its changes.
 *
 * @example
 * ```ts
 * class Counter implements DeltaValue {
 *   n = 0;
 *   private delta = 0;
 *   add(k: number) { this.n += k; this.delta += k; }
 *   isDirty() { return this.delta !== 0; }
 *   getDiff() { return this.delta; }
 *   applyDiff(diff: unknown) { this.n += diff as number; }
 *   resetDiff() { this.delta = 0; }
 * }
 * ValueCodec.register(40_600, Counter, (c) => c.n, (n) => Object.assign(new Counter(), { n }));
 * ```
 */
export interface DeltaValue {
  /** True when the value changed since the last {@link resetDiff}. */
  isDirty(): boolean;
  /**
   * The changes since the last {@link resetDiff}, as anything the value codec encodes. Applied with
   * {@link applyDiff} to a copy equal to this value before those changes, it must give this value.
   */
  getDiff(): unknown;
  /**
   * Applies a diff made by {@link getDiff} on another member. `diff` comes from a peer: validate it,
   * and throw (changing nothing) when it is malformed.
   */
  applyDiff(diff: unknown): void;
  /** Forgets the recorded changes: every holder now has them. Called by the map after it encoded them. */
  resetDiff(): void;
}

/** True when `value` has the four methods of a {@link DeltaValue}. */
export function isDeltaValue(value: unknown): value is DeltaValue {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<Record<keyof DeltaValue, unknown>>;
  return typeof v.isDirty === 'function' && typeof v.getDiff === 'function' && typeof v.applyDiff === 'function' && typeof v.resetDiff === 'function';
}

/**
 * Marks a {@link DeltaValue} class whose encoded diff is never shorter than what applying it adds
 * to the value's encoding (the session store's `SessionValue`: a diff carries each field it sets
 * with its kind and operation, which outweighs the field's place in the value). Internal, not
 * exported from the package. Its primary need not encode it whole at each `replicate`: the frame
 * limit is checked against the last encoding plus the diffs since, an upper bound of the length
 * (see replay-log.ts). Any other value is encoded whole at each `replicate`, as before.
 */
export const DIFFS_BOUND_GROWTH: unique symbol = Symbol('diffs bound growth');

/** True when `value`'s class carries {@link DIFFS_BOUND_GROWTH}. */
export function diffsBoundGrowth(value: DeltaValue): boolean {
  return (value as Partial<Record<typeof DIFFS_BOUND_GROWTH, unknown>>)[DIFFS_BOUND_GROWTH] === true;
}
