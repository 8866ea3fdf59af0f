import { InMemoryNetwork, type InMemoryNetworkOptions, type Transport } from '../../../lib/index.js';
import { transportCompliance, type TransportHarnessFactory } from '../compliance.js';

/** A harness over one fresh network per test; every transport it made is stopped afterwards. */
function inMemory(options: InMemoryNetworkOptions): TransportHarnessFactory {
  return () => {
    const net = new InMemoryNetwork(options);
    const created: Transport[] = [];
    return Promise.resolve({
      transports: (ids: string[]) => {
        const transports = ids.map((id) => net.transport(id));
        created.push(...transports);
        return Promise.resolve(transports);
      },
      settle: () => net.settled(),
      crash: (id: string) => {
        net.crash(id);
        return Promise.resolve();
      },
      teardown: async () => {
        await Promise.all(created.map((t) => t.stop()));
        await net.settled();
      },
    });
  };
}

transportCompliance('InMemoryTransport', inMemory({ seed: 1 }));
// Delays spread frames over several rounds; without `reorder` every guarantee must still hold.
transportCompliance('InMemoryTransport with delays', inMemory({ seed: 7, delay: { min: 0, max: 4 } }));
