/**
 * Write concern: after a publication, what its entries hold compared with what the map promises.
 * An entry short of copies because too few members are live is reported (`'underReplicated'`:
 * on every write a caller awaits, once per drop of its count for a re-homing); one short because
 * a live member refused its copy and no other took it makes the write that waits for it reject with {@link ReplicationError}. See docs/map.md,
 * "Write concern". Tomcat's `BackupManager` has neither: a backup that fails leaves the entry with
 * fewer copies and nobody is told.
 *
 * @module
 */
import { ReplicationError, type ReplicaRefusal } from '../errors.js';
import type { MapKey } from '../codec/map-messages.js';
import { publishUnderReplicated } from '../diagnostics/publish.js';
import type { Membership } from '../membership/membership.js';
import type { Entry } from './entry.js';
import type { MapContext } from './map-context.js';
import { sameWrite, type Version } from './version.js';

/** Why a member did not take a copy, as the publisher learned it. */
export interface CopyRefusal {
  /** The error it answered with (`name: message`), or that no answer came. */
  readonly reason: string;
  /** It answered that it is leaving the map (a graceful stop): it is not counted as live. */
  readonly leaving: boolean;
}

/** An entry at the end of its publication, with the members that did not take its copy. */
export interface PublishedEntry {
  readonly entry: Entry;
  /** Members tried as backup that did not take the copy, and why; `undefined` when none failed. */
  readonly refusals: ReadonlyMap<string, CopyRefusal> | undefined;
}

/** How a publication's shortfalls are reported. */
export type ShortfallReport =
  /** Writes a caller awaits (`set`, `replicate`): one event per key; a refusal rejects the write. */
  | 'each'
  /** A re-homing nobody awaits (failover, a member gone or added): one event per count, one `'error'` for refusals. */
  | 'batch';

/**
 * What write concern needs of the map: what it promises, whether it serves (a leaving member
 * reports nothing short), which members are live, and where to tell.
 */
export type WriteConcernState = Pick<MapContext, 'id' | 'name' | 'events' | 'promised' | 'serving'> & {
  /** Whether a member that refused a copy is live. */
  readonly members: Pick<Membership, 'has' | 'reachable'>;
};

/** What a write's rejection is made of, kept until its caller looks (see {@link WriteConcern.check}). */
interface Refused {
  /** The write refused: a newer write of the entry is not. */
  readonly version: Version;
  readonly wanted: number;
  readonly held: readonly string[];
  readonly refusals: readonly ReplicaRefusal[];
}

/** Judges publications against the map's promise, and tells. */
export class WriteConcern {
  private readonly state: WriteConcernState;
  /**
   * The count each short entry was last reported with. Only short entries are here, so a map of
   * fully replicated entries pays nothing; an entry leaves when a publication fills it again.
   */
  private readonly reported = new WeakMap<Entry, number>();
  /** Entries whose last publication was refused by live members, for the write waiting on it. */
  private readonly refused = new WeakMap<Entry, Refused>();

  /** @param state see {@link WriteConcernState}. */
  constructor(state: WriteConcernState) {
    this.state = state;
  }

  /**
   * A publication ended (its entries hold what `entry.backups` names, every one acknowledged):
   * records refusals for the writes that wait, and reports entries left short.
   */
  settle(published: readonly PublishedEntry[], report: ShortfallReport): void {
    const { state } = this;
    const wanted = state.promised();
    // Asked of the transport only when someone refused (not on every write).
    let reachable: ReadonlySet<string> | undefined;
    // Made when first needed: a write whose backups all took it (the common case) needs none.
    let short: Map<number, MapKey[]> | undefined;
    let refusedKeys: MapKey[] | undefined;
    let refusedBy: Map<string, string> | undefined;
    for (const { entry, refusals } of published) {
      const held = entry.backups.length;
      if (held >= wanted) {
        this.reported.delete(entry);
        this.refused.delete(entry);
        continue;
      }
      // A live member refused: the cluster could have held more. One that left during the
      // write (or answered that it is leaving) is not live: the write holds what is left.
      const live: ReplicaRefusal[] = [];
      for (const [member, r] of refusals ?? []) {
        reachable ??= new Set(state.members.reachable());
        if (!r.leaving && state.members.has(member) && reachable.has(member)) live.push({ member, reason: r.reason });
      }
      if (live.length > 0) {
        this.refused.set(entry, { version: entry.version, wanted, held: [...entry.backups], refusals: live });
        (refusedKeys ??= []).push(entry.key);
        refusedBy ??= new Map();
        for (const r of live) refusedBy.set(r.member, r.reason);
      } else {
        this.refused.delete(entry);
      }
      const before = this.reported.get(entry);
      this.reported.set(entry, held);
      // A caller's write that resolves short always says so (CONTRACT: "a write that resolves with
      // fewer copies ... emits"); a re-homing nobody awaits reports an entry again only when its
      // count drops, so a member gone with 100k entries is not re-announced on every heal round.
      if (report === 'batch' && before !== undefined && before <= held) continue;
      short ??= new Map();
      let keys = short.get(held);
      if (keys === undefined) short.set(held, (keys = []));
      keys.push(entry.key);
    }
    // A member that is leaving hands its entries over; the members that stay report what is short.
    if (!state.serving) return;
    for (const [held, keys] of short ?? []) {
      if (report === 'each') for (const key of keys) this.emit([key], wanted, held);
      else this.emit(keys, wanted, held);
    }
    if (report === 'batch' && refusedKeys !== undefined && refusedBy !== undefined) {
      const refusals = [...refusedBy].map(([member, reason]) => ({ member, reason }));
      const error = new ReplicationError(
        `re-homing ${refusedKeys.length} entr${refusedKeys.length === 1 ? 'y' : 'ies'} of map '${state.name}' on member '${state.id}' (key ${String(refusedKeys[0])} first) left ${refusedKeys.length === 1 ? 'it' : 'them'} with fewer than ${wanted} backups: ${describe(refusals)}, and no other live member took a copy. The entries stay here with the copies they hold; each is backed up again on its next write or when a member joins`,
        { keys: refusedKeys, wanted, held: [], refusals },
      );
      state.events.emit('error', error);
    }
  }

  /**
   * For the caller of a write: throws when live members refused the copies of this write (the
   * error made here, so its stack shows the caller).
   * @throws {ReplicationError} see {@link ReplicationError}.
   */
  check(entry: Entry, write: Version): void {
    const r = this.refused.get(entry);
    if (r === undefined || !sameWrite(r.version, write)) return;
    const { state } = this;
    throw new ReplicationError(
      `the write of key ${String(entry.key)} on member '${state.id}' (map '${state.name}') is held by ${r.held.length} of the ${r.wanted} backups it promises: ${describe(r.refusals)}, and no other live member took a copy. ` +
        `The value is written here and not rolled back (primary '${state.id}', backups [${r.held.join(', ')}]): retry the write, and find out why those members refused (their 'error' events)`,
      { keys: [entry.key], wanted: r.wanted, held: r.held, refusals: r.refusals },
    );
  }

  private emit(keys: MapKey[], wanted: number, held: number): void {
    const key = keys[0] as MapKey;
    publishUnderReplicated(this.state, keys, wanted, held);
    this.state.events.emit('underReplicated', { key, keys, wanted, held });
  }
}

/** `'b' refused (reason), 'c' refused (reason)`. */
function describe(refusals: readonly ReplicaRefusal[]): string {
  return refusals.map((r) => `'${r.member}' did not take it (${r.reason})`).join(', ');
}
