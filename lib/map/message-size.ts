/**
 * Keeps map messages small enough for any transport: a message carrying many entries (a group of
 * writes, a failover of 100k primaries, a `clear()`) is split into several of at most
 * {@link MAX_MESSAGE_BYTES}. One huge message would be refused by a TCP peer (`maxFrameBytes`,
 * 16 MiB by default: the connection is closed and the failover never lands) and, within a process,
 * costs more to encode, copy and collect than the same entries in pieces.
 *
 * @module
 */
import type { EntryCopy, EntryDiff, MapKey, Placement, Removal, Version } from '../codec/map-messages.js';

/** Estimated size above which a list of entries is split into more messages. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * A second, strict measure of a list: each item's upper bound (see {@link copyBound}) and the most
 * they may add up to in one frame (the cluster's frame limit less {@link envelopeBound}). Used
 * when the cluster declares a frame limit, which may be far below {@link MAX_MESSAGE_BYTES}.
 */
export interface FrameBudget<T> {
  readonly bound: (item: T) => number;
  readonly maxBytes: number;
}

/**
 * Splits `items` into runs whose estimated size stays within `maxBytes` (and whose bounds stay
 * within `budget`, when given); each run has at least one item.
 */
export function chunked<T>(items: readonly T[], size: (item: T) => number, maxBytes = MAX_MESSAGE_BYTES, budget?: FrameBudget<T>): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  let bound = 0;
  for (const item of items) {
    const s = size(item);
    const b = budget === undefined ? 0 : budget.bound(item);
    if (run.length > 0 && (bytes + s > maxBytes || (budget !== undefined && bound + b > budget.maxBytes))) {
      runs.push(run);
      run = [];
      bytes = 0;
      bound = 0;
    }
    run.push(item);
    bytes += s;
    bound += b;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

// ---------------------------------------------------------------- upper bounds
// The estimates above are cheap and may fall short (a key of multi-byte characters); the bounds
// below never do: a CBOR head is at most 9 bytes, UTF-8 at most 3 bytes per UTF-16 unit. They
// decide whether a frame fits a transport's limit without building it.

/** Largest CBOR head of an item (type and length), in bytes. */
const HEAD = 9;
/** A byte string is also tagged (cbor-x `tagUint8Array`): 2 bytes more. */
const BYTES_HEAD = HEAD + 2;

/**
 * Upper bound of a frame's envelope and message head, channel name aside: protocol version,
 * kind, request id, message type, list heads, and a state page's incarnation (a UUID) and next
 * transfer. Measured: below 100 bytes.
 */
const MESSAGE_OVERHEAD_BYTES = 192;

/** Upper bound of an encoded text string. */
export function textBound(s: string): number {
  return 3 * s.length + HEAD;
}

/** Upper bound of an encoded key. */
export function keyBound(key: MapKey): number {
  return typeof key === 'string' ? textBound(key) : HEAD;
}

/** Upper bound of an encoded version. */
function versionBound(v: Version): number {
  let n = 1;
  for (const part of v) n += typeof part === 'string' ? textBound(part) : HEAD;
  return n;
}

/** Upper bound of an encoded placement. */
export function placementBound(p: Placement): number {
  let n = 1 + keyBound(p.key) + versionBound(p.version) + textBound(p.primary) + HEAD;
  for (const b of p.backups) n += textBound(b);
  return n;
}

/** Upper bound of an encoded copy: its placement, its value's bytes, its expiry. */
export function copyBound(c: EntryCopy): number {
  return placementBound(c) + BYTES_HEAD + c.bytes.byteLength + 1 + 3 * HEAD;
}

/** Upper bound of a held copy answered in a `MSG_VALUES` (`[1, version, bytes, idleMs, ttlMs, maxIdleMs]`). */
export function heldAnswerBound(version: Version, valueBytes: number): number {
  return 1 + HEAD + versionBound(version) + BYTES_HEAD + valueBytes + 3 * HEAD;
}

/** Upper bound of an encoded diff in a `MSG_DIFFS`: its placement, its base version, its bytes. */
export function diffBound(d: EntryDiff): number {
  return 1 + placementBound(d.entry) + versionBound(d.base) + BYTES_HEAD + d.diff.byteLength;
}

/** Upper bound of an encoded delete. */
export function removalBound(r: Removal): number {
  return 1 + keyBound(r.key) + versionBound(r.version);
}

/** Upper bound of everything in a frame of channel `channel` around its list of items. */
export function envelopeBound(channel: string): number {
  return MESSAGE_OVERHEAD_BYTES + textBound(channel);
}

/**
 * What a member's ids may weigh in a frame not built yet: `ids` are every member that may be
 * named (as primary, backup, writer, placer or updater), `backups` how many backups it may list.
 */
export interface IdsBound {
  readonly ids: readonly string[];
  readonly backups: number;
}

/** Upper bound of a placement of `key` not built yet (see {@link IdsBound}). */
function futurePlacementBound(key: MapKey, who: IdsBound): number {
  const id = Math.max(HEAD, ...who.ids.map(textBound));
  // Version: three numbers and three ids; then the primary, and the list of backups.
  return 1 + keyBound(key) + (1 + 3 * HEAD + 3 * id) + id + HEAD + who.backups * id;
}

/** Upper bound of the frame that carries a copy of `key` with a value of `valueBytes` (`MSG_BACKUP`, `MSG_VALUE`). */
export function copyFrameBound(channel: string, key: MapKey, valueBytes: number, who: IdsBound): number {
  return envelopeBound(channel) + futurePlacementBound(key, who) + BYTES_HEAD + valueBytes + 1 + 3 * HEAD;
}

/** Upper bound of the frame that carries a diff of `diffBytes` for `key` (`MSG_DIFF`: a placement, a base version, the diff). */
export function diffFrameBound(channel: string, key: MapKey, diffBytes: number, who: IdsBound): number {
  const id = Math.max(HEAD, ...who.ids.map(textBound));
  return envelopeBound(channel) + futurePlacementBound(key, who) + (1 + 3 * HEAD + 3 * id) + BYTES_HEAD + diffBytes;
}

/** Estimated encoded size of a key: a number, or a string of mostly one-byte characters. */
function keySize(key: MapKey): number {
  return typeof key === 'string' ? key.length + 3 : 9;
}

/** Estimated encoded size of a placement (version, primary and backups included). */
export function placementSize(p: Placement): number {
  return keySize(p.key) + 32 + 12 * p.backups.length;
}

/** Estimated encoded size of a copy: its placement and its value's bytes. */
export function copySize(c: EntryCopy): number {
  return placementSize(c) + c.bytes.byteLength + 5;
}

/** Estimated encoded size of a diff: its placement, its base version and its bytes. */
export function diffSize(d: EntryDiff): number {
  return placementSize(d.entry) + 32 + d.diff.byteLength + 5;
}

/** Estimated encoded size of a delete. */
export function removalSize(r: Removal): number {
  return keySize(r.key) + 24;
}
