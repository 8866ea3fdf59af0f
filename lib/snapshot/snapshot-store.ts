/**
 * Where a map's snapshot rests between two runs: the small interface behind the `snapshot` map
 * option. {@link FileSnapshotStore} keeps it in a file; implement this interface to keep it
 * elsewhere (a cloud bucket, a database row). The map writes and reads the bytes; a store only
 * keeps them, so it never needs to understand the format.
 *
 * @module
 */

/**
 * Why a snapshot is set aside: `loaded` (its entries are in the map now), `ignored` (the member
 * found peers, whose state is newer), `rejected` (it was damaged or not this map's).
 */
export type SnapshotRetireReason = 'loaded' | 'ignored' | 'rejected';

/**
 * Keeps one snapshot of a map. Every method may reject; the map reports that as a
 * `SnapshotError` with the rejection as its `cause`.
 *
 * @example
 * ```ts
 * // An in-memory store (for tests): keeps the chunks, hands them back.
 * let kept: Uint8Array[] | undefined;
 * const store: SnapshotStore = {
 *   location: 'memory',
 *   async read() { return kept; },
 *   async write(chunks) { const all = []; for await (const c of chunks) all.push(c); kept = all; },
 *   async retire() { const had = kept !== undefined; kept = undefined; return had; },
 * };
 * ```
 */
export interface SnapshotStore {
  /** Where the snapshot lives, as messages and reports name it (a path, a URL). */
  readonly location: string;
  /** The bytes of the current snapshot, in order, or `undefined` when there is none. */
  read(): Promise<AsyncIterable<Uint8Array> | Iterable<Uint8Array> | undefined>;
  /**
   * Replaces the current snapshot with `chunks`, atomically: whatever happens during the write (a
   * crash, a full disk), a later {@link read} finds the previous snapshot or the whole new one,
   * never a part. Resolves once the new snapshot is durable. The chunks are not reused by the map.
   */
  write(chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * Sets the current snapshot aside, so that {@link read} finds none from now on (a snapshot is
   * never loaded twice), durably before it resolves. Resolves to whether there was one.
   */
  retire(reason: SnapshotRetireReason): Promise<boolean>;
}
