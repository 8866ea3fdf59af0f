/**
 * Seeded random fault schedules: five members, twelve rounds of twelve random calls (set, delete,
 * get) each followed by a crash, partition, heal, restart or graceful stop, then a heal and a
 * settled network, after which the survivors must agree (docs/consistency.md, "Under faults").
 * Used by spec/map/partition.spec.ts (a few seeds in `npm test`) and by
 * `npm run test:faults` (thousands of seeds per setting).
 *
 * @module
 */
import { DataLossError, InMemoryNetwork, LazyReplicatedMap, ReplicatedMap } from '../../lib/index.js';
import type { InMemoryNetworkOptions } from '../../lib/index.js';
import { SeededRandom } from '../../lib/transport/memory/seeded-random.js';
import { assertConverged, assertSameValues } from './invariants.js';

type Map_ = LazyReplicatedMap<string | number>;

/** Settings of one seeded fault schedule. */
export interface Schedule {
  backups: number;
  replicated?: boolean;
  net: Omit<InMemoryNetworkOptions, 'seed'>;
}

/**
 * Runs a seeded random schedule on five members: rounds of concurrent sets, deletes and reads,
 * each round with at most one fault (crash, graceful stop, restart under the same id, partition,
 * heal), sometimes settling between rounds and sometimes not. Then heals, settles and checks the
 * convergence invariants. On failure the error names the seed and the schedule.
 */
/**
 * Runs the schedule of `seed` and throws, with the schedule, unless the survivors converged and
 * agree on every value.
 */
export async function runSchedule(seed: number, schedule: Schedule): Promise<void> {
  const random = new SeededRandom(seed * 7919);
  const net = new InMemoryNetwork({ seed, ...schedule.net });
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const maps: Record<string, Map_> = {};
  const log: string[] = [];
  const create = (id: string): Map_ => {
    const transport = net.transport(id);
    const map = schedule.replicated === true
      ? (new ReplicatedMap<string | number>({ name: 'chaos', transport, stopWaitMs: 0 }) as unknown as Map_)
      : new LazyReplicatedMap<string | number>({ name: 'chaos', transport, backups: schedule.backups, stopWaitMs: 0 });
    // Peers' faults (a copy named but not held, during a restart) are reported, not thrown.
    map.on('error', () => undefined);
    maps[id] = map;
    return map;
  };
  for (const id of ids) await create(id).start();
  await net.settled();
  const down = new Set<string>();
  let parted = false;
  try {
    for (let round = 0; round < 12; round++) {
      const work: Promise<unknown>[] = [];
      const up = ids.filter((id) => !down.has(id));
      for (let i = 0; i < 12; i++) {
        const id = up[random.int(0, up.length - 1)]!;
        const map = maps[id]!;
        const key = `k${random.int(0, 9)}`;
        const roll = random.next();
        // Operations cut short by a fault reject with StoppedError; the invariants are what matter.
        if (roll < 0.5) {
          log.push(`${id}.set(${key})`);
          work.push(map.set(key, `${id}:${round}:${i}`).catch(() => undefined));
        } else if (roll < 0.65) {
          log.push(`${id}.delete(${key})`);
          work.push(map.delete(key).catch(() => undefined));
        } else {
          log.push(`${id}.get(${key})`);
          work.push(map.get(key).catch(() => undefined));
        }
      }
      const roll = random.next();
      const victim = up[random.int(0, up.length - 1)]!;
      if (roll < 0.15 && up.length > 2) {
        log.push(`crash ${victim}`);
        net.crash(victim);
        down.add(victim);
      } else if (roll < 0.3 && !parted) {
        const left = ids.filter(() => random.next() < 0.5);
        log.push(`partition ${left.join(',')} | ${ids.filter((id) => !left.includes(id)).join(',')}`);
        net.partition(left, ids.filter((id) => !left.includes(id)));
        parted = true;
      } else if (roll < 0.45 && parted) {
        log.push('heal');
        net.heal();
        parted = false;
      } else if (roll < 0.55 && down.size > 0) {
        const back = [...down][0]!;
        down.delete(back);
        log.push(`restart ${back}`);
        await net.transport(back).start();
        work.push(create(back).start());
      } else if (roll < 0.6 && up.length > 2) {
        log.push(`stop ${victim}`);
        down.add(victim);
        // Cut off from every other holder (a partition), it drops what it holds alone, and says so.
        work.push(maps[victim]!.stop().catch((error: unknown) => {
          if (!(error instanceof DataLossError)) throw error;
        }));
      }
      await Promise.all(work);
      if (random.next() < 0.5) {
        await net.settled();
        log.push('(settled)');
      }
    }
    if (parted) {
      net.heal();
      log.push('heal');
    }
    await net.settled();
    const up = ids.filter((id) => !down.has(id));
    const members = up.map((id) => maps[id]!);
    if (schedule.replicated === true) assertConverged(members, up, up.length - 1, { holderRole: 'copy' });
    else assertConverged(members, up, schedule.backups);
    await assertSameValues(members, up);
  } catch (error) {
    throw new Error(`seed ${seed} (${JSON.stringify(schedule)}): ${(error as Error).message}\nschedule:\n  ${log.join('\n  ')}`, { cause: error });
  } finally {
    for (const map of Object.values(maps)) if (map.state === 'running') await map.stop({ discard: true }).catch(() => undefined);
  }
}
