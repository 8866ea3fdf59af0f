/**
 * Who is alive, as one member sees it: the members its transport can reach, and among them the
 * members that run a given map, each with the incarnation it started with. A map asks this object,
 * never the transport, so "who is there" is answered in one place for it. (An RPC channel needs
 * only who is reachable: it asks its `ChannelRouter`, the source this object reads too.)
 *
 * @module
 */

/**
 * Who is reachable: the members admitted on the transport (the transport's `ChannelRouter`,
 * which admits a member once hellos of compatible protocol versions were exchanged; a plain
 * transport also fits, for tests of this class).
 */
export interface MemberSource {
  /** Ids of the live other members, sorted (a new array each time, or one never changed in place). */
  peers(): string[];
  /**
   * Optional: every member {@link peers} may list, and those about to go; the same array until
   * that changes (see `ChannelRouter.admitted`). Without it, {@link Membership.admitted} is `peers()`.
   */
  admitted?(): readonly string[];
  /**
   * Optional: resolves once the members that can be found right now were met; may reject with
   * the reason this member cannot join (a refusal waiting cannot fix).
   */
  joined?(): Promise<void>;
}

/** What changed about a member (see {@link Membership.watch}). */
export type MemberChange = 'added' | 'gone' | 'leaving';

/**
 * The live members of one map on this member (this member excluded), by incarnation, and the
 * transport's reachable members they are drawn from.
 */
export class Membership {
  private readonly source: MemberSource;
  /** Other members running the map, with the incarnation they started with (insertion order is send order). */
  private readonly live = new Map<string, string>();
  /** `live`'s ids, sorted; `undefined` after a change (every write asks for it). */
  private sortedIds: readonly string[] | undefined;
  /** The incarnation each member had when last added (kept after it disappears). */
  private readonly met = new Map<string, string>();
  /** Members that said they are leaving (`MSG_LEAVING`): live until their goodbye, never chosen to hold anything. */
  private readonly leaving = new Set<string>();
  /**
   * Members whose incarnation met last said goodbye (`MSG_STOP`) and whose transport has not gone
   * down since: a message from one of them is a late one (see {@link departed}).
   */
  private readonly farewells = new Set<string>();
  /** {@link candidates}, cached like `sortedIds`. */
  private candidateIds: readonly string[] | undefined;
  /** Told of every change (see {@link watch}). */
  private listener: ((change: MemberChange, id: string) => void) | undefined;

  /** @param source the transport whose reachable members this map's members are drawn from. */
  constructor(source: MemberSource) {
    this.source = source;
  }

  /** Members admitted now (reachable, compatible), whether or not they run the map yet (sorted). */
  reachable(): string[] {
    return this.source.peers();
  }

  /**
   * The members {@link reachable} lists and those whose departure is on its way, sorted: the
   * same array until that changes when the source says so (see {@link MemberSource.admitted}).
   */
  admitted(): readonly string[] {
    return this.source.admitted?.() ?? this.source.peers();
  }

  /**
   * Resolves once the members that can be found were met (at most `timeoutMs`), or `undefined`
   * for a source that meets its members at start: the caller must not wait then. Rejects with
   * the source's reason when this member cannot join.
   */
  discovered(timeoutMs: number): Promise<void> | undefined {
    if (this.source.joined === undefined) return undefined;
    return withDeadline(this.source.joined(), timeoutMs);
  }

  /** Calls `listener` after each change of the members or of who is leaving (one listener; a second replaces it). */
  watch(listener: (change: MemberChange, id: string) => void): void {
    this.listener = listener;
  }

  /** Number of other live members of the map. */
  get size(): number {
    return this.live.size;
  }

  /** True when `id` is a live member of the map. */
  has(id: string): boolean {
    return this.live.has(id);
  }

  /** The incarnation `id` is live with, or `undefined`. */
  incarnation(id: string): string | undefined {
    return this.live.get(id);
  }

  /** The other live members, in the order they were added. */
  ids(): string[] {
    return [...this.live.keys()];
  }

  /** The other live members, sorted (cached between changes). */
  sorted(): readonly string[] {
    this.sortedIds ??= [...this.live.keys()].sort();
    return this.sortedIds;
  }

  /**
   * The live members that may be given entries (chosen as backups, handed entries over): the
   * sorted members less those leaving. A member that is itself stopping is never a target.
   */
  candidates(): readonly string[] {
    this.candidateIds ??= this.leaving.size === 0 ? this.sorted() : this.sorted().filter((m) => !this.leaving.has(m));
    return this.candidateIds;
  }

  /** True when `id` is live and said it is leaving. */
  isLeaving(id: string): boolean {
    return this.leaving.has(id);
  }

  /** `id` said it is leaving (it may not be added yet: its goodbye or disappearance clears the mark). */
  markLeaving(id: string): void {
    this.leaving.add(id);
    this.candidateIds = undefined;
    this.listener?.('leaving', id);
  }

  /** True when this member ever met another member of the map (it is not a lone development member). */
  get everMet(): boolean {
    return this.met.size > 0;
  }

  /** Records `id` as live with `incarnation`. */
  add(id: string, incarnation: string): void {
    this.farewells.delete(id);
    this.live.set(id, incarnation);
    this.sortedIds = undefined;
    this.candidateIds = undefined;
    this.met.set(id, incarnation);
    this.listener?.('added', id);
  }

  /** Forgets a live member (and that it was leaving); false when it was not a live member. */
  remove(id: string): boolean {
    this.candidateIds = undefined;
    // A member that comes back under the same id is a new incarnation, not leaving.
    const wasLeaving = this.leaving.delete(id);
    if (!this.live.delete(id)) {
      if (wasLeaving) this.listener?.('gone', id);
      return false;
    }
    this.sortedIds = undefined;
    this.listener?.('gone', id);
    return true;
  }

  /** `id` said goodbye (`MSG_STOP`): its incarnation met last never comes back. */
  markFarewell(id: string): void {
    this.farewells.add(id);
  }

  /** `id`'s transport went down: whatever it sends once it is up again comes from a new life. */
  peerDown(id: string): void {
    this.farewells.delete(id);
  }

  /**
   * True when `id`, not a live member here, is gone rather than being introduced: it said goodbye,
   * or its transport is not up. A member cut off by a partition that heals, or restarted, is up
   * again before it is a member here again (its start and state cross its first writes on a
   * network that reorders): its messages then name a primary that is about to be met.
   */
  departed(id: string): boolean {
    if (this.live.has(id)) return false;
    return this.farewells.has(id) || !this.source.peers().includes(id);
  }

  /** Forgets every live member (the map stopped); who was met is kept. */
  clear(): void {
    this.live.clear();
    this.leaving.clear();
    this.sortedIds = undefined;
    this.candidateIds = undefined;
  }

  /** The incarnation `id` had when last added, even if it is gone since. */
  metIncarnation(id: string): string | undefined {
    return this.met.get(id);
  }

  /** True when `id` was ever a member here: a member not met is merely not introduced yet. */
  wasMet(id: string): boolean {
    return this.met.has(id);
  }
}

/** Waits for `promise`, or `timeoutMs`, whichever comes first; no timer is left behind. */
export async function withDeadline(promise: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
