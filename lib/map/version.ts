/**
 * Ordering of entry states. See {@link Version}: `[writeClock, writer, placeSeq, placer]`,
 * compared part by part. A write outranks every state its writer had seen (Lamport); a change of
 * roles keeps the write and bumps `placeSeq`, so re-homing an old value never beats a newer write.
 *
 * @module
 */
import type { Version } from '../codec/map-messages.js';

export type { Version };

/** Orders member ids (plain code-unit order, the same on every member). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Negative, zero or positive as `a` is older than, the same as, or newer than `b`. */
export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || compareIds(a[1], b[1]) || a[2] - b[2] || compareIds(a[3], b[3]);
}

/** True when both versions carry the same write (and so the same value), whatever their placement. */
export function sameWrite(a: Version, b: Version): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/** The version of a role change of the write in `v`, made by `placer`. */
export function nextPlacement(v: Version, placer: string): Version {
  return [v[0], v[1], v[2] + 1, placer];
}

/** A Lamport clock for one map on one member: ticks on local writes, advances past every version seen. */
export class LamportClock {
  private time = 0;

  /** A new write's version by `writer`. */
  tick(writer: string): Version {
    this.time++;
    return [this.time, writer, 0, writer];
  }

  /** Advances past `v`, so the next local write outranks it. */
  observe(v: Version): void {
    if (v[0] > this.time) this.time = v[0];
  }
}
