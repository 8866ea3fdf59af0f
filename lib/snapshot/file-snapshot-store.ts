/**
 * A snapshot in a file: written to a temporary file in the same directory, flushed to disk, then
 * renamed over the old one (and the directory flushed too), so a crash at any moment leaves the
 * old snapshot or the new one, never a part of either. Tomcat's StandardManager keeps its
 * sessions in `SESSIONS.ser` the same way, minus the fsyncs.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { SnapshotRetireReason, SnapshotStore } from './snapshot-store.js';

/** Bytes read from the file at a time. */
const READ_CHUNK_BYTES = 1 << 20;
/** Snapshots hold user data (sessions): only the owner may read them. */
const FILE_MODE = 0o600;
/** Set-aside snapshots kept per reason, by default. */
export const DEFAULT_KEEP_RETIRED = 1;

/** Settings of a {@link FileSnapshotStore}. */
export interface FileSnapshotStoreOptions {
  /**
   * Snapshots set aside (`<file>.loaded-<time>`, `.ignored-…`, `.rejected-…`) kept per reason;
   * older ones are deleted when another is set aside, so restarts do not fill the volume. 0 keeps
   * none (a loaded snapshot is deleted once loaded, as Tomcat deletes `SESSIONS.ser`).
   * @default 1
   */
  keepRetired?: number;
}

/**
 * Keeps a map's snapshot in one file, written with mode 0600. What the `snapshot: '<path>'` map
 * option uses.
 *
 * @example
 * ```ts
 * const map = new LazyReplicatedMap({ name: 'sessions', transport, snapshot: new FileSnapshotStore('/data/sessions.snapshot', { keepRetired: 3 }) });
 * ```
 */
export class FileSnapshotStore implements SnapshotStore {
  /** The file's path. */
  readonly location: string;
  private readonly keepRetired: number;

  /**
   * @param path the snapshot file; its directory must exist and be writable.
   * @param options see {@link FileSnapshotStoreOptions}.
   * @throws {TypeError} when `path` is empty.
   * @throws {RangeError} when `keepRetired` is not a whole number >= 0.
   */
  constructor(path: string, options: FileSnapshotStoreOptions = {}) {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('snapshot: the file path must be a non-empty string');
    const keep = options.keepRetired ?? DEFAULT_KEEP_RETIRED;
    if (!Number.isSafeInteger(keep) || keep < 0) throw new RangeError(`snapshot: \`keepRetired\` must be a whole number >= 0, got ${String(keep)}`);
    this.location = path;
    this.keepRetired = keep;
  }

  /** The file's chunks, or `undefined` when there is no file. */
  async read(): Promise<AsyncIterable<Uint8Array> | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.location, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return readChunks(handle);
  }

  /** Writes a temporary file, flushes it, renames it over the snapshot, and flushes the directory. */
  async write(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const temp = join(dirname(this.location), `.${basename(this.location)}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx', FILE_MODE);
    try {
      // open()'s mode is filtered by the umask, which may only take bits away; chmod makes it exact.
      await handle.chmod(FILE_MODE);
      for await (const chunk of chunks) await handle.write(chunk);
      await handle.sync();
      await handle.close();
      await rename(temp, this.location);
    } catch (error) {
      await handle.close().catch(() => undefined); // may be closed already; the write's error is what matters
      await unlink(temp).catch(() => undefined); // a leftover temp file is harmless; the error is thrown below
      throw error;
    }
    await syncDirectory(dirname(this.location));
  }

  /** Renames the file `<file>.<reason>-<time>` (durably), then deletes older ones beyond `keepRetired`. */
  async retire(reason: SnapshotRetireReason): Promise<boolean> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const aside = `${this.location}.${reason}-${stamp}`;
    try {
      await rename(this.location, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    // Durable before the map serves what it loaded: a crash that undid the rename would load the
    // file again at the next start, and bring back what was deleted in between.
    await syncDirectory(dirname(this.location));
    await this.prune(reason);
    return true;
  }

  /** Deletes the oldest set-aside files of `reason` beyond `keepRetired` (their names sort by time). */
  private async prune(reason: SnapshotRetireReason): Promise<void> {
    const dir = dirname(this.location);
    const prefix = `${basename(this.location)}.${reason}-`;
    const aside = (await readdir(dir)).filter((name) => name.startsWith(prefix)).sort();
    for (const name of aside.slice(0, Math.max(0, aside.length - this.keepRetired))) await unlink(join(dir, name));
  }
}

async function* readChunks(handle: FileHandle): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    for (;;) {
      // A new buffer per chunk: the reader may keep parts of the previous one.
      const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK_BYTES, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** Flushes a directory's entries (a rename) to disk. Windows cannot open a directory: NTFS journals renames anyway. */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
