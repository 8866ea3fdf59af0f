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
import type { Membership } from '../membership/membership.js';
import { FileSnapshotStore } from '../snapshot/file-snapshot-store.js';
import { decodeSnapshot, encodeSnapshot, type SnapshotEntry, type SnapshotHeader } from '../snapshot/snapshot-format.js';
import type { SnapshotRetireReason, SnapshotStore } from '../snapshot/snapshot-store.js';
import { Entry, type EntryStore } from './entry.js';
import { alive, expires, expiryOf } from './expiry.js';
import type { MapContext } from './map-context.js';
import type { SnapshotReport } from './map-options.js';
import type { Placer } from './placer.js';
import type { Publisher } from './publisher.js';
import type { Reconciler } from './reconciler.js';
import { nextPlacement } from './version.js';

/**
 * What snapshots need of the map: the entries known here (written out, and the loaded ones added),
 * the deletes remembered, whether any member is live, choosing backups for loaded entries, and the
 * clock and interner of the entries they make.
 */
export type SnapshotState = Pick<MapContext, 'id' | 'name' | 'tombstones' | 'events' | 'now' | 'clock' | 'interner' | 'background'> & {
  /** The entries known here: every one written; a loaded one added when its key is new here. */
  readonly entries: Pick<EntryStore, 'values' | 'has' | 'get' | 'set'>;
  /** Whether any member is live (a snapshot is loaded only by a lone member). */
  readonly members: Pick<Membership, 'size'>;
  /** Chooses backups for loaded entries when members came meanwhile. */
  readonly placer: Pick<Placer, 'again'>;
};

/** The collaborators a snapshot hands loaded entries to. */
export interface SnapshotParts {
  /** Adopts loaded entries and deletes as this member's own, by version. */
  readonly reconciler: Pick<Reconciler, 'applyPlacement' | 'applyRemoval'>;
  /** Backs up loaded entries when members came while the snapshot was read. */
  readonly publisher: Pick<Publisher, 'publishAll'>;
}

/** The `snapshot` option as a store: a path becomes a {@link FileSnapshotStore}. */
export function snapshotStore(option: string | SnapshotStore): SnapshotStore {
  return typeof option === 'string' ? new FileSnapshotStore(option) : option;
}

/** A snapshot read and checked, not applied yet. */
interface Staged {
  /** Its unexpired entries, as this member's primaries. */
  readonly entries: Entry[];
  readonly tombstones: Removal[];
  /** Entries left out because they expired. */
  readonly expired: number;
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
      const staged = await this.read();
      if (staged === undefined) return;
      // Set aside before anything is applied: a snapshot is never loaded twice.
      await this.retire('loaded');
      const counts = this.apply(staged);
      this.report({ action: 'loaded', ...counts, ms: Math.round(performance.now() - began) });
    } catch (error) {
      this.state.events.emit('error', error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Writes what this member holds, replacing the snapshot. For the last member of the map to
   * stop (no live member would keep its entries).
   * @param entries what to write: by default every entry held here (its value bytes); a stop
   *   that hands some over first may pass only those nobody staying holds. Expired ones are left out.
   * @throws {SnapshotError} when the store could not write it (the entries are lost).
   */
  async save(entries: Iterable<Entry> = this.state.entries.values()): Promise<void> {
    const began = performance.now();
    const now = this.state.now();
    const held: Entry[] = [];
    for (const e of entries) {
      if (e.bytes !== undefined && (!expires(e) || alive(e, now))) held.push(e);
    }
    const tombstones: Removal[] = this.state.tombstones.list();
    const header = { map: this.state.name, member: this.state.id, writtenAt: now, entries: held.length, tombstones: tombstones.length };
    const records = function* (): Generator<SnapshotEntry, void, undefined> {
      for (const e of held) yield { key: e.key, version: e.version, bytes: e.bytes as Uint8Array, expiry: expires(e) ? expiryOf(e, now) : undefined };
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

  /**
   * The whole snapshot, checked, its unexpired entries made ready as this member's primaries but
   * not applied yet; `undefined` when there is none. A damaged one is set aside.
   */
  private async read(): Promise<Staged | undefined> {
    const { state } = this;
    const now = state.now();
    const entries: Entry[] = [];
    let expired = 0;
    const onEntry = (e: SnapshotEntry, header: SnapshotHeader): void => {
      // Time passed while the map was down counts: a session idle for its whole limit across a
      // restart has expired. Read against this map's clock, as it was written.
      const elapsed = Math.max(0, now - header.writtenAt);
      const ttlLeft = e.expiry?.ttlMs === undefined ? undefined : e.expiry.ttlMs - elapsed;
      const idle = e.expiry?.idleMs === undefined ? undefined : e.expiry.idleMs + elapsed;
      if ((ttlLeft !== undefined && ttlLeft <= 0) || (e.expiry?.maxIdleMs !== undefined && idle !== undefined && idle >= e.expiry.maxIdleMs)) {
        expired++;
        return;
      }
      // Built now, as it will be kept: the file's records are not held a second time.
      const entry = new Entry(e.key, 'primary', state.interner.version(nextPlacement(e.version, state.id)), state.interner.id(state.id), [], e.bytes);
      if (e.expiry !== undefined) {
        entry.expiresAt = ttlLeft === undefined ? undefined : now + ttlLeft;
        entry.maxIdleMs = e.expiry.maxIdleMs;
        entry.lastAccess = now - (idle ?? 0);
        entry.accessSent = entry.lastAccess;
      } else {
        entry.lastAccess = now;
      }
      entries.push(entry);
    };
    try {
      const chunks = await this.store.read();
      if (chunks === undefined) return undefined;
      const { tombstones } = await decodeSnapshot(chunks, this.store.location, state.name, onEntry);
      return { entries, tombstones, expired };
    } catch (error) {
      if (error instanceof SnapshotError) {
        // Set aside for inspection (and so that it is not reported at every start); the next
        // last member to stop writes a good one in its place. A failure to do so is reported
        // too, after the damage it followed.
        const retired = await settle(this.retire('rejected'));
        if (retired !== undefined) state.background(Promise.reject(retired.error));
        throw error;
      }
      throw new SnapshotError(`map '${state.name}' could not read its snapshot ${this.store.location}; the map starts without it`, this.store.location, 'io', { cause: error });
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

  /** Makes the snapshot's deletes and entries this member's own. */
  private apply(staged: Staged): { entries: number; tombstones: number; expired: number } {
    const { state } = this;
    for (const r of staged.tombstones) this.parts.reconciler.applyRemoval(r, 'local');
    const loaded: Entry[] = [];
    for (const entry of staged.entries) {
      const adopted = this.adopt(entry);
      if (adopted !== undefined) loaded.push(adopted);
    }
    // A member that came while the snapshot was read has none of it: back the entries up now.
    if (state.members.size > 0 && loaded.length > 0) {
      for (const entry of loaded) state.placer.again(entry, []);
      state.background(this.parts.publisher.publishAll(loaded));
    }
    return { entries: loaded.length, tombstones: staged.tombstones.length, expired: staged.expired };
  }

  /** Adds a loaded entry; `undefined` when something newer is known here. */
  private adopt(entry: Entry): Entry | undefined {
    const { state } = this;
    if (state.entries.has(entry.key) || state.tombstones.get(entry.key) !== undefined) {
      // Known here already (a member came while the snapshot was read, or a delete in it): the
      // merge of a state transfer decides, by version.
      if (!this.parts.reconciler.applyPlacement(entry.placement(), entry.bytes, 'local')) return undefined;
      const merged = state.entries.get(entry.key);
      if (merged === undefined) return undefined;
      merged.expiresAt = entry.expiresAt;
      merged.maxIdleMs = entry.maxIdleMs;
      merged.lastAccess = entry.lastAccess;
      merged.accessSent = entry.accessSent;
      return merged;
    }
    // The common case, a key new here, taken as it is: the same as the merge would, at a third of its cost.
    state.clock.observe(entry.version);
    state.entries.set(entry.key, entry);
    state.events.emit('entrySet', entry.key, 'local');
    return entry;
  }

  private report(fields: Omit<SnapshotReport, 'location'>): void {
    this.state.events.emit('snapshot', { ...fields, location: this.store.location });
  }
}

/** Hands the chunks over one at a time, each encoded only when the store asks for it. */
async function* toAsync(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  for (const chunk of chunks) yield await Promise.resolve(chunk);
}

/** `undefined` once `work` resolved, or what it rejected with. */
export async function settle(work: Promise<unknown>): Promise<{ error: unknown } | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    return { error };
  }
}
