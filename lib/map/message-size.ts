/**
 * Keeps map messages small enough for any transport: a message carrying many entries (a group of
 * writes, a failover of 100k primaries, a `clear()`) is split into several of at most
 * {@link MAX_MESSAGE_BYTES}. One huge message would be refused by a TCP peer (`maxFrameBytes`,
 * 16 MiB by default: the connection is closed and the failover never lands) and, within a process,
 * costs more to encode, copy and collect than the same entries in pieces.
 *
 * @module
 */
import type { EntryCopy, MapKey, Placement, Removal } from '../codec/map-messages.js';

/** Estimated size above which a list of entries is split into more messages. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** Splits `items` into runs whose estimated size stays within `maxBytes`; each run has at least one item. */
export function chunked<T>(items: readonly T[], size: (item: T) => number, maxBytes = MAX_MESSAGE_BYTES): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const s = size(item);
    if (run.length > 0 && bytes + s > maxBytes) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += s;
  }
  if (run.length > 0) runs.push(run);
  return runs;
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

/** Estimated encoded size of a delete. */
export function removalSize(r: Removal): number {
  return keySize(r.key) + 24;
}
