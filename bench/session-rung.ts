/**
 * One rung of the session substitution ladder (bench/session-ladder.ts), in its own process: an
 * express app on express-session, driven over loopback HTTP by a client in the same process, so
 * the CPU of one process is everything a request costs on one rung. Prints one JSON line with the
 * CPU µs per request of each workload, then exits.
 *
 * Configured by environment: `RUNG` (see {@link Rung}), `REQUESTS` (measured requests per
 * workload; as many again warm up first).
 *
 * @module
 */
import { Agent, createServer, get as httpGet } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import session, { type Store } from 'express-session';
import type { LazyReplicatedMap } from '../lib/index.js';
import { main, session as sessionEntry } from './built.js';
import { sessionApp } from './session-fixture.js';

/**
 * What the session store runs on, one more layer per rung:
 * - `memory`: express-session's MemoryStore, the floor every store pays;
 * - `session`: BackupSessionStore on {@link PlainMapStandIn} (no map code, no codec): lib/session alone;
 * - `map`: BackupSessionStore on a LazyReplicatedMap with no backup: the map's local path added;
 * - `backup`: the same map with one backup, a second member in this process on the in-memory
 *   network: replication added (publication, diff groups, RPC, and the backup's own work), but
 *   not TCP (the end-to-end rows have that). The in-memory network's own queueing and copying
 *   count here too, which no deployment pays.
 */
export type Rung = 'memory' | 'session' | 'map' | 'backup';

/** What one rung process prints: CPU µs (user + system) per request. */
export interface RungResult {
  rung: Rung;
  writeUs: number;
  readUs: number;
}

const USERS = 32;

/** A value the stand-in hands back: a SessionValue, whose recorded changes replicate() forgets. */
interface Replicable {
  resetDiff?: () => void;
}

/**
 * The calls BackupSessionStore makes of its map, on a plain `Map` of live objects, every session
 * primary here: what the session store costs with no map under it. Nothing is encoded or sent.
 */
class PlainMapStandIn {
  readonly id = 'app1';
  private readonly values = new Map<string, unknown>();
  has(key: string): boolean {
    return this.values.has(key);
  }
  keys(): IterableIterator<string> {
    return this.values.keys();
  }
  entryInfo(key: string): { role: 'primary' } | undefined {
    return this.values.has(key) ? { role: 'primary' } : undefined;
  }
  get(key: string): Promise<unknown> {
    return Promise.resolve(this.values.get(key));
  }
  set(key: string, value: unknown): Promise<this> {
    this.values.set(key, value);
    (value as Replicable).resetDiff?.();
    return Promise.resolve(this);
  }
  replicate(key: string): Promise<void> {
    (this.values.get(key) as Replicable | undefined)?.resetDiff?.();
    return Promise.resolve();
  }
  touch(key: string): Promise<boolean> {
    return Promise.resolve(this.values.has(key));
  }
  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.values.delete(key));
  }
  clear(): Promise<void> {
    this.values.clear();
    return Promise.resolve();
  }
  sweep(): Promise<number> {
    return Promise.resolve(0);
  }
}

const rung = (process.env['RUNG'] ?? 'memory') as Rung;
const requests = Number(process.env['REQUESTS'] ?? 15_000);

const maps: Array<LazyReplicatedMap<string>> = [];
let store: Store;
let genid: (() => string) | undefined;
if (rung === 'memory') {
  store = new session.MemoryStore();
} else {
  let map: LazyReplicatedMap<string> | PlainMapStandIn;
  if (rung === 'session') {
    map = new PlainMapStandIn();
  } else {
    const net = new main.InMemoryNetwork({ seed: 1 });
    const members = rung === 'backup' ? ['app1', 'app2'] : ['app1'];
    for (const id of members) {
      const m = new main.LazyReplicatedMap<string>({ name: 'sessions', transport: net.transport(id), backups: rung === 'backup' ? 1 : 0 });
      await m.start();
      maps.push(m);
    }
    await net.settled();
    const first = maps[0];
    if (first === undefined) throw new Error('no map');
    map = first;
  }
  // The stand-in has every method the store calls; the store checks for them by name.
  const ours = new sessionEntry.BackupSessionStore({ map: map as LazyReplicatedMap<string>, route: 'app1' });
  // BackupSessionStore becomes an express-session Store when express-session is installed.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
  store = ours;
  genid = () => ours.genid();
}

const app = sessionApp(store, genid);
const server = createServer(app);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as AddressInfo).port;
const agent = new Agent({ keepAlive: true, maxSockets: USERS });

/** One request; resolves to the body and the session cookie set, if any. */
function request(path: string, cookie: string | undefined): Promise<{ body: string; cookie: string | undefined }> {
  return new Promise((resolve, reject) => {
    httpGet({ agent, host: '127.0.0.1', port, path, headers: cookie === undefined ? {} : { cookie } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ body, cookie: res.headers['set-cookie']?.[0]?.split(';')[0] });
      });
    }).on('error', reject);
  });
}

const users = await Promise.all(Array.from({ length: USERS }, async () => ({ cookie: (await request('/write', undefined)).cookie, n: 1 })));
/** `count` requests of `path` by the users, each checking the counter it gets back. */
async function phase(path: string, count: number): Promise<void> {
  let left = count;
  await Promise.all(
    users.map(async (u) => {
      while (left-- > 0) {
        const answer = await request(path, u.cookie);
        if (answer.cookie !== undefined) u.cookie = answer.cookie;
        if (path === '/write') u.n++;
        if (answer.body !== String(u.n)) throw new Error(`rung ${rung}: answered ${answer.body}, expected ${String(u.n)}`);
      }
    }),
  );
}
/** CPU µs of this process per request of `path`, after as many to warm up. */
async function cost(path: string): Promise<number> {
  await phase(path, requests);
  const before = process.cpuUsage();
  await phase(path, requests);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / requests;
}

const result: RungResult = { rung, writeUs: await cost('/write'), readUs: await cost('/read') };
agent.destroy();
server.close();
for (const m of maps) await m.stop({ discard: true });
console.log(JSON.stringify(result));
