/**
 * A benchmark member process: a TcpTransport and a LazyReplicatedMap, with its load generator
 * inside, so what is measured is the map and the network, not the IPC to the parent.
 *
 * @module
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { main } from './built.js';
import { LOAD_KEYS, throughput, type Throughput } from './measure.js';
import { CpuProfiler } from './cpu-profiler.js';

/** Commands from the parent. */
export type BenchRequest =
  | { id: number; cmd: 'load'; op: 'set' | 'get'; total: number; concurrency: number; valueBytes: number; prefix: string; warmup?: number }
  | { id: number; cmd: 'fill'; count: number; prefix: string }
  | { id: number; cmd: 'serveAll'; keys: string[] }
  | { id: number; cmd: 'members' }
  | { id: number; cmd: 'primaries'; prefix: string }
  | { id: number; cmd: 'stats' }
  | { id: number; cmd: 'unserved' }
  | { id: number; cmd: 'profileStart' }
  | { id: number; cmd: 'profileStop'; file: string };

/** What `stats` answers: the map's counters that tell why a pass of reads was slow. */
export interface BenchStats {
  rpcTimeouts: number;
  failovers: number;
  sent: Record<string, number>;
  /** CPU this process used since it started (user + system), in milliseconds. */
  cpuMs: number;
  /** {@link cpuMs} when this member last saw another one disappear. */
  cpuAtGoneMs: number;
  received: Record<string, number>;
  /** Members seen gone, and added, since this member started (more than one gone: members flapped). */
  goneEvents: number;
  addedEvents: number;
  /** Errors `serveAll` reads met, by name and message. */
  readErrors: Record<string, number>;
  /** Peers this member's failure detector declared gone (silent past the failure timeout). */
  declaredDown: number;
  /** The longest this member's event loop was held up, in milliseconds (since the last `stats`). */
  maxLoopDelayMs: number;
}

const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

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

const { LazyReplicatedMap, TcpTransport } = main;
const transport = new TcpTransport({ id, host: '127.0.0.1', port: 0, seeds, failureTimeoutMs, heartbeatIntervalMs });
const map = new LazyReplicatedMap<string, unknown>({ name: 'bench', transport, backups: 1, rpcTimeoutMs: 10_000 });
let cpuAtGoneMs = 0;
let goneEvents = 0;
let addedEvents = 0;
map.on('memberAdded', () => {
  addedEvents++;
});
map.on('memberDisappeared', (member) => {
  goneEvents++;
  const cpu = process.cpuUsage();
  cpuAtGoneMs = (cpu.user + cpu.system) / 1000;
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

/** What the last `serveAll` still waits for: per key, `'hung'` (its read has not answered) or `'none'` (it answered no value). */
const unserved = new Map<string, 'hung' | 'none'>();
/** The errors reads of `serveAll` met (they count as not served), by name and message. */
const readErrors = new Map<string, number>();

/** Reads every key (no promotion) until each one answers with a value; returns when they all do. */
async function serveAll(keys: string[]): Promise<number> {
  let pending = keys;
  let rounds = 0;
  unserved.clear();
  while (pending.length > 0) {
    rounds++;
    for (const k of pending) unserved.set(k, 'hung');
    const results = await Promise.all(
      pending.map(async (k) => {
        const served =
          (await map.get(k, { promote: false }).catch((error: unknown) => {
            const name = error instanceof Error ? `${error.name}: ${error.message.slice(0, 160)}` : String(error);
            readErrors.set(name, (readErrors.get(name) ?? 0) + 1);
            return undefined;
          })) !== undefined;
        if (served) unserved.delete(k);
        else unserved.set(k, 'none');
        return served;
      }),
    );
    pending = pending.filter((_, i) => results[i] !== true);
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 5));
  }
  return rounds;
}

/** The CPU profile under way (`profileStart` to `profileStop`), if any. */
const profiler = new CpuProfiler();

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
          const cpu = process.cpuUsage();
          const maxLoopDelayMs = loopDelay.max / 1e6;
          loopDelay.reset();
          result = { rpcTimeouts: stats.rpcTimeouts, failovers: stats.failovers, sent: stats.sent, received: stats.received, cpuMs: (cpu.user + cpu.system) / 1000, cpuAtGoneMs, goneEvents, addedEvents, readErrors: Object.fromEntries(readErrors), declaredDown: transport.stats().peersDeclaredDown, maxLoopDelayMs } satisfies BenchStats;
          break;
        }
        case 'unserved':
          // Why a serveAll takes long: each key it still waits for, and where this member thinks it lives.
          result = [...unserved].slice(0, 20).map(([k, why]) => ({ key: k, why, info: map.entryInfo(k) }));
          break;
        case 'profileStart':
          await profiler.start();
          break;
        case 'profileStop':
          await profiler.stop(req.file);
          break;
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
