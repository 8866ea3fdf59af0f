/**
 * A benchmark member process: a TcpTransport and a LazyReplicatedMap, with its load generator
 * inside, so what is measured is the map and the network, not the IPC to the parent.
 *
 * @module
 */
import { LazyReplicatedMap, TcpTransport } from '../lib/index.js';
import { LOAD_KEYS, throughput, type Throughput } from './measure.js';

/** Commands from the parent. */
export type BenchRequest =
  | { id: number; cmd: 'load'; op: 'set' | 'get'; total: number; concurrency: number; valueBytes: number; prefix: string; warmup?: number }
  | { id: number; cmd: 'fill'; count: number; prefix: string }
  | { id: number; cmd: 'serveAll'; keys: string[] }
  | { id: number; cmd: 'members' }
  | { id: number; cmd: 'primaries'; prefix: string }
  | { id: number; cmd: 'stats' };

/** What `stats` answers: the map's counters that tell why a pass of reads was slow. */
export interface BenchStats {
  rpcTimeouts: number;
  failovers: number;
  sent: Record<string, number>;
}

/** Messages to the parent. */
export type BenchMessage =
  | { type: 'ready'; address: string }
  | { type: 'reply'; id: number; result?: unknown; error?: string }
  | { type: 'gone'; member: string; at: number };

const id = process.env['MEMBER_ID'] ?? 'member';
const seeds = (process.env['SEEDS'] ?? '').split(',').filter((s) => s.length > 0);
const failureTimeoutMs = Number(process.env['FAILURE_TIMEOUT_MS'] ?? 2000);
const heartbeatIntervalMs = Number(process.env['HEARTBEAT_INTERVAL_MS'] ?? 500);
const send = (m: BenchMessage): void => {
  // After the parent disconnects there is nobody to tell (and sending would throw).
  if (process.connected) process.send?.(m);
};

const transport = new TcpTransport({ id, host: '127.0.0.1', port: 0, seeds, failureTimeoutMs, heartbeatIntervalMs });
const map = new LazyReplicatedMap<string, unknown>({ name: 'bench', transport, backups: 1, rpcTimeoutMs: 10_000 });
map.on('memberDisappeared', (member) => {
  send({ type: 'gone', member, at: Date.now() });
});
await map.start();
send({ type: 'ready', address: transport.address });

/** `total` operations over {@link LOAD_KEYS} keys, after `warmup` of them (default: up to 2000) that are not measured. */
async function load(op: 'set' | 'get', total: number, concurrency: number, valueBytes: number, prefix: string, warmup = Math.min(2000, total)): Promise<Throughput> {
  const value = 'x'.repeat(valueBytes);
  const keys = Array.from({ length: LOAD_KEYS }, (_, i) => `${prefix}${i}`);
  if (op === 'get') for (const k of keys) await map.set(k, value);
  const run = (i: number): Promise<unknown> => (op === 'set' ? map.set(keys[i % keys.length] as string, value) : map.get(keys[i % keys.length] as string));
  if (warmup > 0) await throughput(warmup, concurrency, run); // warm-up
  return throughput(total, concurrency, run);
}

/** Reads every key (no promotion) until each one answers with a value; returns when they all do. */
async function serveAll(keys: string[]): Promise<number> {
  let pending = keys;
  let rounds = 0;
  while (pending.length > 0) {
    rounds++;
    const results = await Promise.all(pending.map(async (k) => (await map.get(k, { promote: false }).catch(() => undefined)) !== undefined));
    pending = pending.filter((_, i) => results[i] !== true);
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 5));
  }
  return rounds;
}

process.on('message', (raw) => {
  const req = raw as BenchRequest;
  void (async () => {
    try {
      let result: unknown;
      switch (req.cmd) {
        case 'load':
          result = await load(req.op, req.total, req.concurrency, req.valueBytes, req.prefix, req.warmup);
          break;
        case 'fill':
          for (let i = 0; i < req.count; i += 200) {
            await Promise.all(Array.from({ length: Math.min(200, req.count - i) }, (_, j) => map.set(`${req.prefix}${i + j}`, i + j)));
          }
          break;
        case 'serveAll':
          result = await serveAll(req.keys);
          break;
        case 'members':
          result = map.members();
          break;
        case 'primaries':
          result = [...map.keys()].filter((k) => k.startsWith(req.prefix) && map.entryInfo(k)?.role === 'primary');
          break;
        case 'stats': {
          const stats = map.stats();
          result = { rpcTimeouts: stats.rpcTimeouts, failovers: stats.failovers, sent: stats.sent } satisfies BenchStats;
          break;
        }
      }
      send({ type: 'reply', id: req.id, result });
    } catch (error) {
      send({ type: 'reply', id: req.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    }
  })();
});
process.on('disconnect', () => {
  void map.stop({ discard: true }).finally(() => process.exit(0));
});
