/**
 * The transport compliance suite over real TCP sockets on 127.0.0.1. Every member listens on a
 * port the system picks; its seeds are the addresses of the harness's other running members, read
 * afresh on every attempt (a member that restarts gets a new port, and the others learn it).
 */
import { TcpTransport, type Transport } from '../../../lib/index.js';
import { transportCompliance, type TransportHarnessFactory } from '../compliance.js';

/** Short timings keep detection and retries quick on loopback; nothing here waits for them to expire. */
const HEARTBEAT_INTERVAL_MS = 50;
const FAILURE_TIMEOUT_MS = 500;
const MAX_RECONNECT_DELAY_MS = 100;
/**
 * `settle()` on a real network: the quiet period after which a frame or peer event already on its
 * way would have arrived. Only ever awaited before asserting that something did *not* happen.
 */
const SETTLE_MS = 200;

/** The address of a running transport, or undefined while it is not listening. */
function addressOf(t: TcpTransport): string | undefined {
  return t.state === 'running' ? t.address : undefined;
}

const tcp: TransportHarnessFactory = () => {
  const created: TcpTransport[] = [];
  const seedsOf = (self: TcpTransport) => (): string[] =>
    created.filter((o) => o !== self).flatMap((o) => addressOf(o) ?? []);
  return Promise.resolve({
    transports: (ids: string[]): Promise<Transport[]> => {
      const transports = ids.map((id) => {
        const t: TcpTransport = new TcpTransport({
          id,
          host: '127.0.0.1',
          port: 0,
          seeds: () => seedsOf(t)(),
          heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
          failureTimeoutMs: FAILURE_TIMEOUT_MS,
          maxReconnectDelayMs: MAX_RECONNECT_DELAY_MS,
        });
        return t;
      });
      created.push(...transports);
      return Promise.resolve(transports);
    },
    settle: () => new Promise<void>((resolve) => setTimeout(resolve, SETTLE_MS)),
    // No crash hook: a TcpTransport offers no way to vanish without saying goodbye from inside
    // its own process. Crashes are covered with real processes killed by SIGKILL (spec/cluster).
    teardown: async () => {
      await Promise.all(created.map((t) => t.stop()));
    },
  });
};

transportCompliance('TcpTransport', tcp);
