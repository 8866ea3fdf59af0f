/**
 * A cluster of maps on one seeded {@link InMemoryNetwork}, for the map specs. Shared by several
 * spec files: keep the signature small and stable.
 *
 * @example
 * ```ts
 * let c: Cluster | undefined;
 * afterEach(async () => { await c?.stopAll(); c = undefined; });
 * it('…', async () => {
 *   c = await cluster(['a', 'b', 'c'], { backups: 1 });
 *   await c.maps.a!.set('k', 1);
 *   await c.net.settled();
 * });
 * ```
 *
 * @module
 */
import { InMemoryNetwork, LazyReplicatedMap, ReplicatedMap } from '../../lib/index.js';
import type { InMemoryNetworkOptions } from '../../lib/index.js';
import { deciderOf } from '../../lib/map/conditional-writes.js';

/** Settings of {@link cluster}. */
export interface ClusterOptions {
  /** Copies besides the primary (lazy maps only). @default the map's default (1) */
  backups?: number;
  /** Seed of the network. @default 1 */
  seed?: number;
  /** The maps' name. @default 'test' */
  name?: string;
  /** Fault settings of the network (`seed` here wins over {@link ClusterOptions.seed}). */
  netOptions?: InMemoryNetworkOptions;
  /** Build {@link ReplicatedMap}s instead of lazy maps. @default false */
  replicated?: boolean;
}

/** What {@link cluster} returns. */
export interface Cluster {
  /** The simulated network. */
  net: InMemoryNetwork;
  /**
   * The maps by member id. Typed as lazy maps; with `replicated: true` they are
   * {@link ReplicatedMap}s, which have the same surface except `backups`.
   */
  maps: Record<string, LazyReplicatedMap<string | number>>;
  /** Stops every map that is still running (idempotent; fit for `afterEach`). */
  stopAll(): Promise<void>;
}

/**
 * Creates a network, one transport and one map per id, starts the maps one after another (so the
 * join order is the order of `ids`), and waits until the network is settled.
 */
export async function cluster(ids: string[], opts: ClusterOptions = {}): Promise<Cluster> {
  const net = new InMemoryNetwork({ seed: opts.seed ?? 1, ...opts.netOptions });
  const name = opts.name ?? 'test';
  const maps: Record<string, LazyReplicatedMap<string | number>> = {};
  for (const id of ids) {
    const transport = net.transport(id);
    maps[id] = opts.replicated === true
      ? (new ReplicatedMap<string | number, unknown>({ name, transport }) as unknown as LazyReplicatedMap<string | number>)
      : new LazyReplicatedMap<string | number, unknown>({ name, transport, ...(opts.backups === undefined ? {} : { backups: opts.backups }) });
  }
  for (const id of ids) await maps[id]?.start();
  await net.settled();
  const stopAll = async (): Promise<void> => {
    for (const map of Object.values(maps)) {
      if (map.state === 'running' || map.state === 'starting') {
        // A map that dies while stopping (its transport crashed) must not fail the teardown. The
        // last one drops what it holds knowingly instead of waiting for a successor (stopWaitMs).
        await map.stop({ discard: true }).catch(() => undefined);
      }
    }
    await net.settled();
  };
  return { net, maps, stopAll };
}

/**
 * `count` keys (`${prefix}0`, `${prefix}1`, … skipping some) that member `id` decides for while
 * no member knows them, among `ids` (see `deciderOf`): a `set` of such a key on `id` is made
 * there, without asking another member first. For specs that count a write's messages.
 */
export function keysDecidedBy(id: string, ids: readonly string[], count: number, prefix = 'k'): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (deciderOf(`${prefix}${i}`, ids) === id) keys.push(`${prefix}${i}`);
  return keys;
}
