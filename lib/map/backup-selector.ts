/**
 * Round-robin choice of backups (Tomcat: `LazyReplicatedMap.publishEntryInfo` walks the members
 * with a rotating index). Over many choices every candidate is picked equally often (within 1).
 *
 * @module
 */

/** Picks backups round-robin over a sorted candidate list. */
export class BackupSelector {
  private next = 0;

  /**
   * Picks up to `count` distinct members of `candidates` (sorted), skipping those in `exclude`.
   * Successive calls continue where the last one stopped.
   */
  select(candidates: readonly string[], count: number, exclude?: ReadonlySet<string>): string[] {
    const pool = exclude === undefined || exclude.size === 0 ? candidates : candidates.filter((c) => !exclude.has(c));
    const chosen: string[] = [];
    if (pool.length === 0 || count <= 0) return chosen;
    const start = this.next % pool.length;
    for (let i = 0; i < pool.length && chosen.length < count; i++) {
      chosen.push(pool[(start + i) % pool.length] as string);
    }
    this.next = (start + chosen.length) % Number.MAX_SAFE_INTEGER;
    return chosen;
  }

  /**
   * Completes a list of backups: `keep` (still live, in its order) stays, and members of
   * `candidates` not in `keep` nor in `tried` are chosen round-robin until there are `wanted`.
   */
  refill(candidates: readonly string[], keep: readonly string[], wanted: number, tried?: ReadonlySet<string>): string[] {
    const exclude = new Set(keep);
    if (tried !== undefined) for (const t of tried) exclude.add(t);
    return [...keep, ...this.select(candidates, wanted - keep.length, exclude)];
  }
}
