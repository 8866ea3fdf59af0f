/**
 * The convergence invariants of the contract, checked on a settled cluster: every live member
 * agrees on the key set and on where each key lives, each key has exactly one primary and
 * min(backups, live - 1) holders on distinct live members, and every member reads the same value.
 *
 * Failure messages name the key and the member, so a failing fault test says what diverged.
 *
 * @module
 */
import { expect } from 'chai';
import type { EntryInfo, GetOptions, MapKey } from '../../lib/index.js';

/**
 * The slice of a map the invariants read; both {@link LazyReplicatedMap} and `ReplicatedMap` fit.
 * Method syntax on purpose: it keeps parameters bivariant, so maps of any key type fit.
 */
export interface MapView {
  readonly id: string;
  keys(): IterableIterator<MapKey>;
  entryInfo(key: MapKey): EntryInfo | undefined;
  get(key: MapKey, options?: GetOptions): Promise<unknown>;
}

/** Settings of {@link assertConverged}. */
export interface ConvergedOptions {
  /**
   * The role a non-primary holder reports: `'backup'` for the lazy map, `'copy'` for `ReplicatedMap`.
   * @default 'backup'
   */
  holderRole?: 'backup' | 'copy';
}

function live<M extends MapView>(maps: readonly M[], liveIds: readonly string[]): M[] {
  const chosen = maps.filter((m) => liveIds.includes(m.id));
  expect(chosen.map((m) => m.id).sort(), 'every live id has a map').to.deep.equal([...liveIds].sort());
  return chosen;
}

function sortedKeys(map: MapView): MapKey[] {
  // Keys 1 and '1' are different keys: sort by type then value so both survive the comparison.
  return [...map.keys()].sort((a, b) => {
    const ta = typeof a;
    const tb = typeof b;
    if (ta !== tb) return ta < tb ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/**
 * Asserts the placement invariants on the members in `liveIds` (the other maps are ignored):
 * - every live member knows the same keys;
 * - for each key exactly one member has role `primary`, and every member agrees on the primary
 *   and on the backups;
 * - the backups are distinct live members other than the primary, `min(backups, live - 1)` of them,
 *   and each of them reports the holder role.
 * @returns the common key set.
 */
export function assertConverged(maps: readonly MapView[], liveIds: readonly string[], backups: number, options: ConvergedOptions = {}): MapKey[] {
  const holderRole = options.holderRole ?? 'backup';
  const members = live(maps, liveIds);
  const first = members[0];
  if (first === undefined) return [];
  const keys = sortedKeys(first);
  for (const m of members) {
    expect(sortedKeys(m), `key set of '${m.id}' equals that of '${first.id}'`).to.deep.equal(keys);
  }
  const wanted = Math.min(backups, members.length - 1);
  for (const key of keys) {
    const infos = members.map((m) => ({ id: m.id, info: m.entryInfo(key) }));
    const primaries = infos.filter((x) => x.info?.role === 'primary').map((x) => x.id);
    expect(primaries, `members with role primary for key ${String(key)}`).to.have.length(1);
    const primary = primaries[0] as string;
    const reference = members.find((m) => m.id === primary)?.entryInfo(key) as EntryInfo;
    expect(reference.primary, `primary of key ${String(key)} on its primary`).to.equal(primary);
    for (const { id, info } of infos) {
      expect(info?.primary, `primary of key ${String(key)} as '${id}' sees it`).to.equal(primary);
      expect([...(info?.backups ?? [])].sort(), `backups of key ${String(key)} as '${id}' sees them`).to.deep.equal([...reference.backups].sort());
    }
    const holders = [...reference.backups];
    expect(new Set(holders).size, `backups of key ${String(key)} are distinct: ${holders.join(',')}`).to.equal(holders.length);
    expect(holders, `backups of key ${String(key)} exclude the primary`).not.to.include(primary);
    for (const b of holders) expect(liveIds, `backup '${b}' of key ${String(key)} is live`).to.include(b);
    expect(holders, `number of backups of key ${String(key)}`).to.have.length(wanted);
    for (const { id, info } of infos) {
      const expected = id === primary ? 'primary' : holders.includes(id) ? holderRole : 'proxy';
      expect(info?.role, `role of '${id}' for key ${String(key)}`).to.equal(expected);
    }
  }
  return keys;
}

/**
 * Asserts that `get(key, { promote: false })` returns the same value on every live member for
 * every key (by deep equality), and returns the values read on the first member.
 * @param keys the keys to read; by default those the first live member knows.
 */
export async function assertSameValues(maps: readonly MapView[], liveIds: readonly string[], keys?: readonly MapKey[]): Promise<Map<MapKey, unknown>> {
  const members = live(maps, liveIds);
  const values = new Map<MapKey, unknown>();
  const first = members[0];
  if (first === undefined) return values;
  for (const key of keys ?? sortedKeys(first)) {
    const seen = await Promise.all(members.map(async (m) => ({ id: m.id, value: await m.get(key, { promote: false }) })));
    const expected = seen[0]?.value;
    for (const { id, value } of seen) {
      expect(value, `value of key ${String(key)} on '${id}'`).to.deep.equal(expected);
    }
    values.set(key, expected);
  }
  return values;
}
