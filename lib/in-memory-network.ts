/**
 * The in-memory network as the package exports it: the simulated cluster of
 * `transport/memory/`, with its traffic named by this library's frame and map message types. The
 * network itself never reads frames; the naming is given to it from here, above the codec.
 *
 * @module
 */
import { classifyFrame } from './map/map-channel.js';
import { SimulatedNetwork } from './transport/memory/simulated-network.js';
import type { InMemoryNetworkOptions } from './transport/memory/in-memory-network-options.js';

/**
 * A simulated network of {@link InMemoryTransport}s whose `stats().byType` names frames
 * `MSG_*` (map messages) or `RPC_*` (other frames) unless the `classify` option says otherwise.
 *
 * @example
 * ```ts
 * const net = new InMemoryNetwork({ seed: 42 });
 * const a = net.transport('a'), b = net.transport('b');
 * await Promise.all([a.start(), b.start()]);
 * net.partition(['a'], ['b']);   // each side sees the other go
 * net.heal();                    // and come back
 * await net.settled();
 * ```
 */
export class InMemoryNetwork extends SimulatedNetwork {
  /** @param options seed, fault settings and frame naming; see {@link InMemoryNetworkOptions}. */
  constructor(options: InMemoryNetworkOptions = {}) {
    super({ classify: classifyFrame, ...options });
  }
}
