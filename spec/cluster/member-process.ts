/**
 * One cluster member as its own OS process, for the multi-process specs: a TcpTransport on
 * 127.0.0.1 (port 0) and a LazyReplicatedMap named 'sessions', driven by its parent over IPC.
 *
 * Environment: MEMBER_ID, SEEDS (comma-separated host:port), CLUSTER_SECRET, and optionally
 * HEARTBEAT_INTERVAL_MS, FAILURE_TIMEOUT_MS, STOP_WAIT_MS (the map's `stopWaitMs`), SNAPSHOT (the
 * map's `snapshot` file path). Started with `fork(..., { execArgv: ['--import', 'tsx'] })`.
 *
 * Protocol: every request carries `rid`, echoed in its reply. The member reports
 * `{ ready: true, id, address }` once its map is ready (`map.whenReady()`: what the documented
 * readiness probe answers 200 for), and `{ event, id }` for map membership
 * changes, `{ event: 'error', source, name, message }` for errors its transport or map reported.
 * On SIGTERM it stops gracefully (stopOnSignals: the map hands its entries over, waiting up to
 * STOP_WAIT_MS for a member to hand them to, then the transport says goodbye) and exits 0, or 1
 * when the map dropped entries. Either way it prints `stopped in <ms> ms` (from SIGTERM to exit),
 * followed by `: <error name>: <message>` on a failure.
 */
import { LazyReplicatedMap, TcpTransport, stopOnSignals } from '../../lib/index.js';

/** A request from the parent. */
export type MemberRequest =
  | { rid: number; cmd: 'set'; key: string; value: unknown }
  | { rid: number; cmd: 'setMany'; entries: Array<[string, unknown]> }
  | { rid: number; cmd: 'get'; key: string; promote?: boolean }
  | { rid: number; cmd: 'getMany'; keys: string[]; promote?: boolean }
  | { rid: number; cmd: 'info'; key: string }
  | { rid: number; cmd: 'members' };

/** What a member tells its parent. */
export type MemberReport =
  | { ready: true; id: string; address: string }
  | { rid: number; ok: true; value?: unknown }
  | { rid: number; ok: false; error: string }
  | { event: 'memberAdded' | 'memberDisappeared'; id: string }
  | { event: 'error'; source: 'transport' | 'map'; name: string; message: string };

const id = process.env['MEMBER_ID'] ?? 'member';
const seeds = (process.env['SEEDS'] ?? '').split(',').filter((s) => s.length > 0);
const report = (m: MemberReport): void => {
  process.send?.(m);
};

const transport = new TcpTransport({
  id,
  host: '127.0.0.1',
  port: 0,
  seeds,
  ...(process.env['CLUSTER_SECRET'] === undefined ? {} : { secret: process.env['CLUSTER_SECRET'] }),
  heartbeatIntervalMs: Number(process.env['HEARTBEAT_INTERVAL_MS'] ?? 100),
  failureTimeoutMs: Number(process.env['FAILURE_TIMEOUT_MS'] ?? 1000),
  maxReconnectDelayMs: 250,
});
const stopWaitMs = Number(process.env['STOP_WAIT_MS'] ?? 5000);
const snapshot = process.env['SNAPSHOT'];
const map = new LazyReplicatedMap<string, unknown>({ name: 'sessions', transport, backups: 1, rpcTimeoutMs: 2000, stopWaitMs, ...(snapshot === undefined ? {} : { snapshot }) });
transport.on('error', (error) => {
  report({ event: 'error', source: 'transport', name: error.name, message: error.message });
});
map.on('error', (error) => {
  report({ event: 'error', source: 'map', name: error.name, message: error.message });
});
map.on('memberAdded', (member) => {
  report({ event: 'memberAdded', id: member });
});
map.on('memberDisappeared', (member) => {
  report({ event: 'memberDisappeared', id: member });
});

async function answer(req: MemberRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'set':
      await map.set(req.key, req.value);
      return undefined;
    case 'setMany':
      await Promise.all(req.entries.map(([k, v]) => map.set(k, v)));
      return undefined;
    case 'get':
      return map.get(req.key, { promote: req.promote ?? true });
    case 'getMany':
      return Promise.all(req.keys.map((k) => map.get(k, { promote: req.promote ?? true })));
    case 'info':
      return map.entryInfo(req.key) ?? null;
    case 'members':
      return map.members();
  }
}

process.on('message', (raw) => {
  const req = raw as MemberRequest;
  answer(req).then(
    (value) => {
      report({ rid: req.rid, ok: true, value });
    },
    (error: unknown) => {
      report({ rid: req.rid, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    },
  );
});
// An orphan must not outlive its parent (the parent also kills it in afterEach).
process.on('disconnect', () => {
  process.exit(0);
});

// map.start() starts the transport and waits (at most rpcTimeoutMs) until it has met its seeds
// and the members they gossip about, so the map's start really gathers the cluster's keys.
// Installed first: a SIGTERM that comes while joining (a hasty operator) still stops gracefully.
let signalled = 0;
process.once('SIGTERM', () => {
  signalled = performance.now();
});
stopOnSignals([map, transport], {
  signals: ['SIGTERM'],
  timeoutMs: stopWaitMs + 5000,
  onStopped: (error) => {
    const why = error instanceof Error ? `: ${error.name}: ${error.message}` : '';
    // Synchronous on a pipe: printed before the exit that follows.
    process.stdout.write(`stopped in ${Math.round(performance.now() - signalled)} ms${why}\n`);
  },
});
try {
  await map.start();
} catch (error) {
  // A member refused by the cluster (wrong secret, duplicate id, another protocol version) must
  // not run alone: say why and exit, as a real service would.
  const e = error as Error;
  process.stderr.write(`start() rejected with ${e.name}: ${e.message}\n`);
  process.exit(2);
}
// Ready as the documented probe is (readinessProbe answers 200): joined, so it knows every key.
await map.whenReady();
report({ ready: true, id, address: transport.address });
