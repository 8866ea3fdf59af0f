/**
 * One express app of the sessions benchmark, in its own process: express-session on our
 * {@link BackupSessionStore} (a LazyReplicatedMap over TcpTransport, the apps forming one cluster),
 * on connect-redis (node-redis against the bench's redis-server), or on express-session's own
 * MemoryStore (each app alone, nothing replicated: the floor every store shares), or on the
 * least a replicated store can do (bench/floor-store.ts: MemoryStore plus a copy of each save to
 * another app, acknowledged). The apps answer
 * the same two routes, so the load generator cannot tell them apart:
 *
 * - `GET /write` increments the session's counter (creating the session on first use) and answers
 *   the new value: express-session saves the session (`store.set`).
 * - `GET /read` answers the counter without changing anything: express-session only touches the
 *   session (`store.touch`), as it does for most requests of a real app.
 *
 * Configured by environment: `APP_ID` (also the route and TCP member id), `STORE` (`ours`,
 * `redis`, `memory` or `floor`), `SEEDS`, `CLUSTER_SECRET`, `REDIS_PORT`.
 *
 * @module
 */
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RedisStore } from 'connect-redis';
import session, { type Store } from 'express-session';
import { createClient } from 'redis';
import { main, session as sessionEntry } from './built.js';
import { CpuProfiler } from './cpu-profiler.js';
import { FloorStore } from './floor-store.js';
import { sessionApp } from './session-fixture.js';

/** Commands from the parent. */
export type SessionAppRequest =
  | { id: number; cmd: 'members' }
  | { id: number; cmd: 'connect'; addresses: string[] }
  | { id: number; cmd: 'messagesSent' }
  | { id: number; cmd: 'profileStart' }
  | { id: number; cmd: 'profileStop'; file: string }
  | { id: number; cmd: 'stop' };

/** Messages to the parent. */
export type SessionAppMessage =
  | { type: 'ready'; httpPort: number; clusterAddress: string }
  | { type: 'reply'; id: number; result?: unknown; error?: string };

const appId = process.env['APP_ID'] ?? 'app1';
const storeKind = process.env['STORE'] === 'redis' ? 'redis' : process.env['STORE'] === 'memory' ? 'memory' : process.env['STORE'] === 'floor' ? 'floor' : 'ours';
const send = (m: SessionAppMessage): void => {
  if (process.connected) process.send?.(m);
};

const { LazyReplicatedMap, TcpTransport } = main;
const { BackupSessionStore } = sessionEntry;
let store: Store;
let clusterAddress = '';
let shutdown: () => Promise<void>;
let members: () => string[] = () => [];
/** The floor store's: connects to the other apps' copy listeners. */
let connectTo: (addresses: string[]) => Promise<void> = () => Promise.resolve();
let genid: (() => string) | undefined;
/** Map messages this app has sent, all types (0 for the other stores). */
let messagesSent: () => number = () => 0;
if (storeKind === 'ours') {
  const seeds = (process.env['SEEDS'] ?? '').split(',').filter((s) => s.length > 0);
  const transport = new TcpTransport({ id: appId, host: '127.0.0.1', port: 0, seeds, secret: process.env['CLUSTER_SECRET'] ?? '' });
  // SESSION_ACK=none: saves do not wait for the backup's acknowledgement (the weaker mode), to
  // measure how much of a writing request's latency is that wait.
  const ack = process.env['SESSION_ACK'] === 'none' ? 'none' : 'backups';
  // SESSION_BACKUPS=0: nothing is replicated (a cluster that keeps no copy), to measure what the
  // map and its TCP cluster cost a request apart from replication (bench/run.ts checks the value).
  const backups = process.env['SESSION_BACKUPS'] === '0' ? 0 : 1;
  const map = new LazyReplicatedMap<string>({ name: 'sessions', transport, backups, ack });
  await map.start();
  clusterAddress = transport.address;
  const ours = new BackupSessionStore({ map, route: appId });
  // express-session's Store at run time; typed without express-session's types (see lib/session/store-base.ts).
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
  store = ours;
  members = () => map.members();
  messagesSent = () => Object.values(map.stats().sent).reduce((sum, n) => sum + n, 0);
  shutdown = async () => {
    ours.close();
    // Benches tear the whole cluster down: no wait for a successor that will not come.
    await map.stop({ discard: true });
  };
} else if (storeKind === 'floor') {
  // The least a replicated store can do (bench/floor-store.ts): MemoryStore plus a copy per save.
  const floor = new FloorStore(appId);
  clusterAddress = await floor.listen();
  store = floor;
  genid = () => floor.genid();
  connectTo = (addresses) => floor.connect(addresses);
  messagesSent = () => floor.messagesSent;
  shutdown = () => {
    floor.close();
    return Promise.resolve();
  };
} else if (storeKind === 'memory') {
  // express-session's MemoryStore: JSON in a plain object, in this process only.
  store = new session.MemoryStore();
  shutdown = () => Promise.resolve();
} else {
  const client = createClient({ socket: { host: '127.0.0.1', port: Number(process.env['REDIS_PORT']) } });
  client.on('error', (error: unknown) => {
    console.error(`${appId}: redis client:`, error);
  });
  await client.connect();
  store = new RedisStore({ client });
  shutdown = async () => {
    await client.close();
  };
}

// Ours: '<random>.<route>' so the load generator routes by suffix, as nginx would.
const app = sessionApp(store, store instanceof BackupSessionStore ? store.genid.bind(store) : genid);

const server = createServer(app);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1');
await once(server, 'listening');
send({ type: 'ready', httpPort: (server.address() as AddressInfo).port, clusterAddress });

// BENCH_CPU_PROF: the parent profiles exactly its measured window (not startup, not warm-up).
const profiler = new CpuProfiler();

async function stop(): Promise<void> {
  server.closeAllConnections();
  server.close();
  await shutdown();
}

process.on('message', (raw) => {
  const req = raw as SessionAppRequest;
  void (async () => {
    try {
      let result: unknown;
      switch (req.cmd) {
        case 'members':
          result = members();
          break;
        case 'connect':
          await connectTo(req.addresses);
          break;
        case 'messagesSent':
          result = messagesSent();
          break;
        case 'profileStart':
          await profiler.start();
          break;
        case 'profileStop':
          await profiler.stop(req.file);
          break;
        case 'stop':
          await stop();
          break;
      }
      send({ type: 'reply', id: req.id, result });
    } catch (error) {
      send({ type: 'reply', id: req.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    }
  })();
});
// The parent is gone (finished or crashed): leave, so no app outlives the benchmark.
process.on('disconnect', () => {
  // A graceful leave may wait for members that are leaving too; it gets a second, no more.
  setTimeout(() => process.exit(0), 1000).unref();
  void stop().finally(() => process.exit(0));
});
