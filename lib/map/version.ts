/**
 * Ordering of entry states. See {@link Version}: `[writeClock, writer, placeSeq, placer, update?,
 * updater?]`, compared as writeClock, writer, update, updater, placeSeq, placer. A write that
 * places a key outranks every state its writer had seen (Lamport); an update in place on the
 * primary keeps the tick and bumps `update`; a change of roles keeps the value and bumps
 * `placeSeq`, so re-homing an old value never beats a newer one.
 *
 * @module
 */
import type { Version } from '../codec/map-messages.js';

export type { Version };

/** Orders member ids (plain code-unit order, the same on every member). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The in-place update count of `v` (0 when absent). */
export function updateOf(v: Version): number {
  return v.length === 6 ? v[4] : 0;
}

/** The member that made the update in place of `v` ('' when there was none). */
export function updaterOf(v: Version): string {
  return v.length === 6 ? v[5] : '';
}

/** A version from its parts, in the one form every member uses (no update parts when `update` is 0). */
export function version(writeClock: number, writer: string, placeSeq: number, placer: string, update: number, updater: string): Version {
  return update === 0 ? [writeClock, writer, placeSeq, placer] : [writeClock, writer, placeSeq, placer, update, updater];
}

/** Negative, zero or positive as `a` is older than, the same as, or newer than `b`. */
export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || compareIds(a[1], b[1]) || updateOf(a) - updateOf(b) || compareIds(updaterOf(a), updaterOf(b)) || a[2] - b[2] || compareIds(a[3], b[3]);
}

/** True when both versions carry the same value (write and update), whatever their placement. */
export function sameWrite(a: Version, b: Version): boolean {
  return a[0] === b[0] && a[1] === b[1] && updateOf(a) === updateOf(b) && updaterOf(a) === updaterOf(b);
}

/**
 * True when both versions descend from the same placing write: they differ at most by updates in
 * place and changes of roles, so they name the same lineage of values.
 */
export function sameLineage(a: Version, b: Version): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/** The version of a role change of the value in `v`, made by `placer`. */
export function nextPlacement(v: Version, placer: string): Version {
  return version(v[0], v[1], v[2] + 1, placer, updateOf(v), updaterOf(v));
}

/** The version of a new value written in place over `v` by its primary `updater`: same placement, next update. */
export function nextUpdate(v: Version, updater: string): Version {
  return version(v[0], v[1], v[2], v[3], updateOf(v) + 1, updater);
}

/** A Lamport clock for one map on one member: ticks on local writes, advances past every version seen. */
export class LamportClock {
  private time = 0;

  /** A new write's version by `writer`. */
  tick(writer: string): Version {
    this.time++;
    return [this.time, writer, 0, writer];
  }

  /** The last tick given or seen: what another member's clock advances past (see decider-view.ts). */
  current(): number {
    return this.time;
  }

  /** Advances past `v`, so the next local write outranks it. */
  observe(v: Version): void {
    if (v[0] > this.time) this.time = v[0];
  }
}
