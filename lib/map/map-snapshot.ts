/**
 * Snapshots (the `snapshot` option): the last member of a map to stop writes what it holds, and a
 * member that starts with no peers loads it, so a single instance (or a whole cluster stopped and
 * started again) keeps its entries. Tomcat's StandardManager does the same with `SESSIONS.ser`;
 * its BackupManager does not.
 *
 * What is written: every entry held here with its bytes, version and expiry (a primary's, or a
 * copy whose primary is gone: when no live member remains, this member holds all there is), and
 * every delete remembered, so a stale copy met later cannot bring a deleted key back.
 *
 * @module
 */
import { SnapshotError } from '../errors.js';
import type { Removal } from '../codec/map-messages.js';
import { FileSnapshotStore } from '../snapshot/file-snapshot-store.js';
import { decodeSnapshot, encodeSnapshot, type SnapshotContents, type SnapshotEntry } from '../snapshot/snapshot-format.js';
import type { SnapshotRetireReason, SnapshotStore } from '../snapshot/snapshot-store.js';
import type { Entry } from './entry.js';
import { alive, expires, expiryOf } from './expiry.js';
import type { MapContext } from './map-context.js';
import type { SnapshotReport } from './map-options.js';
import type { Publisher } from './publication.js';
import type { Reconciler } from './reconciliation.js';
import { nextPlacement } from './version.js';

/** The slice of the map's state snapshots use. */
export type SnapshotState = Pick<MapContext, 'id' | 'name' | 'entries' | 'tombstones' | 'members' | 'events' | 'now' | 'chooseBackups' | 'background'>;

/** The collaborators a snapshot hands loaded entries to. */
export interface SnapshotParts {
  /** Adopts loaded entries and deletes as this member's own, by version. */
  readonly reconciler: Reconciler;
  /** Backs up loaded entries when members came while the snapshot was read. */
  readonly publisher: Publisher;
}

/** The `snapshot` option as a store: a path becomes a {@link FileSnapshotStore}. */
export function snapshotStore(option: string | SnapshotStore): SnapshotStore {
  return typeof option === 'string' ? new FileSnapshotStore(option) : option;
}

/** Writes and loads one map's snapshot. */
export class MapSnapshot {
  private readonly state: SnapshotState;
  private readonly parts: SnapshotParts;
  private readonly store: SnapshotStore;

  /**
   * @param state see {@link SnapshotState}.
   * @param parts see {@link SnapshotParts}.
   * @param store where the snapshot rests.
   */
  constructor(state: SnapshotState, parts: SnapshotParts, store: SnapshotStore) {
    this.state = state;
    this.parts = parts;
    this.store = store;
  }

  /**
   * At the end of `start()`, once a discovery round is over: with no member found, loads the
   * snapshot (its unexpired entries become primaries here) and sets it aside; with members, sets
   * it aside unread (their state is newer). Never rejects: a snapshot that cannot be used is
   * reported as a {@link SnapshotError} on `'error'`, and the map starts without it.
   */
  async restore(): Promise<void> {
    try {
      if (this.state.members.size > 0) {
        if (await this.retire('ignored')) this.report({ action: 'ignored', entries: 0, tombstones: 0, expired: 0, ms: 0 });
        return;
      }
      const began = performance.now();
      const contents = await this.read();
      if (contents === undefined) return;
      // Set aside before anything is applied: a snapshot is never loaded twice.
      await this.retire('loaded');
      const counts = this.apply(contents);
      this.report({ action: 'loaded', ...counts, ms: Math.round(performance.now() - began) });
    } catch (error) {
      this.state.events.emit('error', error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Writes what this member holds, replacing the snapshot. For the last member of the map to
   * stop (no live member would keep its entries).
   * @throws {SnapshotError} when the store could not write it (the entries are lost).
   */
  async save(): Promise<void> {
    const began = performance.now();
    const now = this.state.now();
    const held: Entry[] = [];
    for (const e of this.state.entries.values()) {
      if (e.bytes !== undefined && (!expires(e) || alive(e, now))) held.push(e);
    }
    const tombstones: Removal[] = this.state.tombstones.list();
    const header = { map: this.state.name, member: this.state.id, writtenAt: now, entries: held.length, tombstones: tombstones.length };
    const records = function* (): Generator<SnapshotEntry, void, undefined> {
      for (const e of held) yield { key: e.key, version: e.version, bytes: e.bytes as Uint8Array, expiry: expiryOf(e, now) };
    };
    try {
      await this.store.write(toAsync(encodeSnapshot(header, records(), tombstones)));
    } catch (error) {
      throw new SnapshotError(
        `map '${this.state.name}' on member '${this.state.id}' could not write its snapshot to ${this.store.location}: ${held.length} entries held only here are lost. Check that the directory exists and is writable, and that the volume has space`,
        this.store.location,
        'io',
        { cause: error },
      );
    }
    this.report({ action: 'written', entries: held.length, tombstones: tombstones.length, expired: 0, ms: Math.round(performance.now() - began) });
  }

  /** The whole snapshot, checked; `undefined` when there is none. A damaged one is set aside. */
  private async read(): Promise<SnapshotContents | undefined> {
    let chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | undefined;
    try {
      chunks = await this.store.read();
      if (chunks === undefined) return undefined;
      return await decodeSnapshot(chunks, this.store.location, this.state.name);
    } catch (error) {
      if (error instanceof SnapshotError) {
        // Set aside for inspection (and so that it is not reported at every start); the next
        // last member to stop writes a good one in its place.
        await this.retire('rejected');
        throw error;
      }
      throw new SnapshotError(`map '${this.state.name}' could not read its snapshot ${this.store.location}; the map starts without it`, this.store.location, 'io', { cause: error });
    }
  }

  private async retire(reason: SnapshotRetireReason): Promise<boolean> {
    try {
      return await this.store.retire(reason);
    } catch (error) {
      throw new SnapshotError(
        `map '${this.state.name}' could not set its snapshot ${this.store.location} aside (as ${reason}); ${reason === 'loaded' ? 'it was not loaded, since it could be loaded again later' : 'it stays where it is'}. Check the directory's permissions`,
        this.store.location,
        'io',
        { cause: error },
      );
    }
  }

  /**
   * Makes the snapshot's deletes and unexpired entries this member's own, through the same merge
   * a state transfer uses: whatever newer a member sent meanwhile wins.
   */
  private apply(contents: SnapshotContents): { entries: number; tombstones: number; expired: number } {
    const { state } = this;
    const now = state.now();
    // Time passed while the map was down counts: a session idle for its whole limit across a
    // restart has expired. Read against this map's clock, as it was written.
    const elapsed = Math.max(0, now - contents.header.writtenAt);
    for (const r of contents.tombstones) this.parts.reconciler.applyRemoval(r, 'local');
    const loaded: Entry[] = [];
    let expired = 0;
    for (const e of contents.entries) {
      const ttlLeft = e.expiry?.ttlMs === undefined ? undefined : e.expiry.ttlMs - elapsed;
      const idle = e.expiry?.idleMs === undefined ? undefined : e.expiry.idleMs + elapsed;
      if ((ttlLeft !== undefined && ttlLeft <= 0) || (e.expiry?.maxIdleMs !== undefined && idle !== undefined && idle >= e.expiry.maxIdleMs)) {
        expired++;
        continue;
      }
      const placement = { key: e.key, version: nextPlacement(e.version, state.id), primary: state.id, backups: [] };
      if (!this.parts.reconciler.applyPlacement(placement, e.bytes, 'local')) continue;
      const entry = state.entries.get(e.key);
      if (entry === undefined) continue;
      entry.expiresAt = ttlLeft === undefined ? undefined : now + ttlLeft;
      entry.maxIdleMs = e.expiry?.maxIdleMs;
      entry.lastAccess = now - (idle ?? 0);
      entry.accessSent = entry.lastAccess;
      loaded.push(entry);
    }
    // A member that came while the snapshot was read has none of it: back the entries up now.
    if (state.members.size > 0 && loaded.length > 0) {
      for (const entry of loaded) {
        entry.backups = state.chooseBackups([]);
        entry.version = nextPlacement(entry.version, state.id);
      }
      state.background(this.parts.publisher.publishAll(loaded));
    }
    return { entries: loaded.length, tombstones: contents.tombstones.length, expired };
  }

  private report(fields: Omit<SnapshotReport, 'location'>): void {
    this.state.events.emit('snapshot', { ...fields, location: this.store.location });
  }
}

/** Hands the chunks over one at a time, each encoded only when the store asks for it. */
async function* toAsync(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  for (const chunk of chunks) yield await Promise.resolve(chunk);
}
