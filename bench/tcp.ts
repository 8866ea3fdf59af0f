/**
 * Benchmarks over real TCP between member processes on 127.0.0.1, side by side with a Redis
 * server on loopback (started here when `redis-server` is installed).
 *
 * @module
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { BenchMessage, BenchRequest } from './member.js';
import { roundTrips, throughput, type RoundTripCpu, type Throughput } from './measure.js';

type Command = BenchRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const MEMBER = fileURLToPath(new URL('./member.ts', import.meta.url));
const ECHO_PEER = fileURLToPath(new URL('./echo-peer.ts', import.meta.url));

/** A forked benchmark member. */
export class BenchMember {
  readonly id: string;
  address = '';
  readonly child: ChildProcess;
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly gone = new Map<string, number>();
  private readonly goneWaiters: Array<() => void> = [];

  constructor(id: string, seeds: string[], env: Record<string, string> = {}) {
    this.id = id;
    this.child = fork(MEMBER, [], {
      // BENCH_CPU_PROF=dir writes a CPU profile of every member (node --cpu-prof) into dir;
      // BENCH_PERF_MAP=1 has V8 write /tmp/perf-<pid>.map, so `perf record -g -p <pid>` names JavaScript frames.
      execArgv: [
        '--import',
        'tsx',
        ...(process.env['BENCH_PERF_MAP'] === undefined ? [] : ['--perf-basic-prof']),
        ...(process.env['BENCH_CPU_PROF'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`]),
      ],
      env: { ...process.env, ...env, MEMBER_ID: id, SEEDS: seeds.join(',') },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (raw) => {
      const m = raw as BenchMessage;
      if (m.type === 'ready') this.address = m.address;
      if (m.type === 'gone') {
        this.gone.set(m.member, m.at);
        for (const w of this.goneWaiters.splice(0)) w();
      }
      if (m.type === 'reply') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
      }
    });
  }

  async ready(): Promise<void> {
    while (this.address === '') await once(this.child, 'message');
  }

  request<T>(command: Command): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...command, id });
    });
  }

  async sawGone(member: string): Promise<number> {
    while (!this.gone.has(member)) await new Promise<void>((r) => this.goneWaiters.push(r));
    return this.gone.get(member) as number;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** Three members seeded with the first; resolves once each sees the three. */
export async function benchCluster(env: Record<string, string> = {}): Promise<BenchMember[]> {
  const a = new BenchMember('a', [], env);
  await a.ready();
  const rest = ['b', 'c'].map((id) => new BenchMember(id, [a.address], env));
  await Promise.all(rest.map((m) => m.ready()));
  const all = [a, ...rest];
  for (const m of all) {
    while ((await m.request<string[]>({ cmd: 'members' })).length < all.length) await new Promise((r) => setTimeout(r, 20));
  }
  return all;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/** A private redis-server on a free loopback port, or undefined when none is installed. */
export async function startRedis(): Promise<{ port: number; pid: number; stop: () => Promise<void> } | undefined> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const started = await new Promise<boolean>((resolve) => {
    child.once('error', () => {
      resolve(false);
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) resolve(true);
    });
    child.once('exit', () => {
      resolve(false);
    });
  });
  if (!started || child.pid === undefined) return undefined;
  return {
    port,
    // The sessions benchmark reads its CPU time from /proc/<pid>/stat.
    pid: child.pid,
    stop: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Redis SET/GET through ioredis with the given concurrency and payload. */
export async function redisLoad(port: number, op: 'set' | 'get', total: number, concurrency: number, valueBytes: number): Promise<Throughput> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableAutoPipelining: false });
  await client.connect();
  const value = 'x'.repeat(valueBytes);
  const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
  if (op === 'get') for (const k of keys) await client.set(k, value);
  const run = (i: number): Promise<unknown> => (op === 'set' ? client.set(keys[i % keys.length] as string, value) : client.get(keys[i % keys.length] as string));
  await throughput(Math.min(2000, total), concurrency, run);
  const result = await throughput(total, concurrency, run);
  await client.quit();
  return result;
}

/** From a SIGKILL (or SIGSTOP: a silent, hung member) of a primary to every one of its keys served by a survivor. */
export async function failover(signal: 'SIGKILL' | 'SIGSTOP', env: Record<string, string>, keys = 2000): Promise<{ detectMs: number; servedMs: number }> {
  const members = await benchCluster(env);
  try {
    const [a, b] = members as [BenchMember, BenchMember, BenchMember];
    await a.request({ cmd: 'fill', count: keys, prefix: 'f' });
    const owned = await a.request<string[]>({ cmd: 'primaries', prefix: 'f' });
    // Served once before the loss, as a running service's reads would have been: the first pass
    // of a fresh process through its read path is JIT compilation (60 ms of the 80 ms measured
    // for 2000 keys without this), which is no part of failing over.
    await b.request({ cmd: 'serveAll', keys: owned });
    const t0 = Date.now();
    a.child.kill(signal);
    const detectedAt = await b.sawGone('a');
    await b.request({ cmd: 'serveAll', keys: owned });
    return { detectMs: detectedAt - t0, servedMs: Date.now() - t0 };
  } finally {
    for (const m of members) {
      if (signal === 'SIGSTOP') m.child.kill('SIGCONT');
      await m.stop();
    }
  }
}

/**
 * One round trip between two Node processes on loopback with the same payload and concurrency,
 * and no library code: a message out, a 20-byte acknowledgement back. The floor under a `set`
 * acknowledged by one backup, measured on the same machine in the same run.
 */
/**
 * `total` round trips to a bare Node peer, after a warm-up; with the CPU per round trip of this
 * process (the writer; it runs nothing else meanwhile) and of the peer.
 */
export async function nodeRoundTrip(total: number, concurrency: number, valueBytes: number): Promise<Throughput & { cpu: RoundTripCpu }> {
  const peer = fork(ECHO_PEER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const [port] = (await once(peer, 'message')) as [number];
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    const message = Buffer.alloc(4 + valueBytes + 30, 2);
    message.writeUInt32BE(valueBytes + 30, 0);
    const waiting: Array<() => void> = [];
    let buffered = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.length;
      while (buffered >= 24) {
        buffered -= 24;
        waiting.shift()?.();
      }
    });
    const run = (): Promise<void> =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        socket.write(message);
      });
    await throughput(Math.min(2000, total), concurrency, run);
    const result = await roundTrips(total, concurrency, run, peer.pid ?? 0);
    socket.destroy();
    return result;
  } finally {
    const exited = once(peer, 'exit');
    peer.disconnect();
    await exited;
  }
}
