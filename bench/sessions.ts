/**
 * Sessions end to end: three express apps in child processes on each of four stacks, driven by
 * the same load generator (here, in the bench process): express-session's MemoryStore (each app
 * alone: the floor every store shares), our BackupSessionStore (the apps forming one cluster over
 * TCP on 127.0.0.1), connect-redis against a private redis-server, and the floor of any
 * replicated store in Node (bench/floor-store.ts: MemoryStore plus one acknowledged copy of each
 * save to another app). One cookie jar per user,
 * each user sticky to one app, every answer checked against the counter the user expects. Server
 * CPU per request counts every app process and redis-server, read from /proc/<pid>/stat before
 * and after the measured window. Each round runs every stack under both workloads, the stacks in
 * a different order each round, and the rows are the medians over the rounds.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SessionAppMessage, SessionAppRequest } from './session-app.js';
import { startRedis } from './tcp.js';
import { processCpu } from './measure.js';

type Command = SessionAppRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const APP = fileURLToPath(new URL('./session-app.ts', import.meta.url));
/** Shared by the apps of our cluster: without it a stranger could join (and the bench would not measure the HMAC handshake users run). */
const CLUSTER_SECRET = 'the cluster secret of the sessions benchmark';
const APPS = 3;

/** Settings of {@link sessionsBench}. */
export interface SessionsBenchOptions {
  /** Concurrent users, one request in flight each. @default 32 */
  users?: number;
  /** Warm-up per row, in ms (JIT, connection pools, sessions created). @default 3000 */
  warmMs?: number;
  /** Measured window per row, in ms. @default 10000 */
  measureMs?: number;
  /** A directory: profile every app during each measured window of the first round (`<stack>-<workload>-<app>.cpuprofile`). */
  profileDir?: string | undefined;
  /** Rounds; each runs every stack under both workloads, the stacks rotated round by round. @default 5 */
  runs?: number;
  /**
   * Every user sticks to app1, so app1 is the primary of every session and the others only hold
   * backups: for profiles that separate the two roles (not for the comparison). @default false
   */
  oneApp?: boolean;
  /** The stacks to run (for A/B pairs of one stack against the floor). @default all four */
  stacks?: readonly SessionStack[] | undefined;
  /** The workloads to run. @default both */
  workloads?: ReadonlyArray<SessionRow['workload']> | undefined;
}

/**
 * The stores compared: express-session's MemoryStore (no store cost to speak of), ours,
 * connect-redis, and the floor of any replicated store in Node (bench/floor-store.ts).
 */
export type SessionStack = 'memory' | 'ours' | 'redis' | 'floor';

/** One stack under one workload: one round, or the medians over the rounds. */
export interface SessionRow {
  stack: SessionStack;
  workload: 'writes' | 'readMostly';
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU (user + sys) of every app process and redis-server during the window, per request. */
  cpuMsPerRequest: number;
  /**
   * The same by process: app1, app2, app3, then redis-server for connect-redis. In a row of
   * medians, each process's figure is its own median over the rounds, so the figures need not
   * add up to the median total.
   */
  cpuMsPerRequestByProcess: number[];
  /** The part of {@link cpuMsPerRequestByProcess} spent in the kernel (system time: loopback TCP is charged here); medians as there. */
  systemMsPerRequestByProcess: number[];
  /** Map messages the apps sent during the window, requests and answers alike, per request (ours only; 0 for the others). */
  messagesPerRequest: number;
  /** Wrong counters, wrong status codes, missing cookies, failed requests: any makes the row invalid. */
  errors: number;
  firstError: string | undefined;
}

/** One stack under one workload over every round. */
export interface SessionSeries {
  stack: SessionStack;
  workload: SessionRow['workload'];
  /** One row per round, in round order. */
  runs: SessionRow[];
  /** Each measure's median over the rounds (requests and errors: summed). */
  median: SessionRow;
}

/** What {@link sessionsBench} measured; no `redis` series when redis-server is not installed. */
export interface SessionsResult {
  series: SessionSeries[];
  rounds: number;
  redisInstalled: boolean;
}

const running = new Set<ChildProcess>();
let exitHooked = false;
/** No app or redis-server outlives the benchmark, whatever way it ends. */
function killOnExit(child: ChildProcess | number): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
      for (const pid of redisPids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  if (typeof child === 'number') redisPids.add(child);
  else running.add(child);
}
const redisPids = new Set<number>();

/** One forked express app. */
class SessionApp {
  readonly id: string;
  readonly child: ChildProcess;
  httpPort = 0;
  clusterAddress = '';
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(id: string, env: Record<string, string>) {
    this.id = id;
    this.child = fork(APP, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...env, APP_ID: id },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    killOnExit(this.child);
    this.child.on('exit', () => {
      running.delete(this.child);
      for (const p of this.pending.values()) p.reject(new Error(`app ${id} exited`));
      this.pending.clear();
    });
    this.child.on('message', (raw) => {
      const m = raw as SessionAppMessage;
      if (m.type === 'ready') {
        this.httpPort = m.httpPort;
        this.clusterAddress = m.clusterAddress;
      } else {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(`app ${id}: ${m.error}`));
        else p?.resolve(m.result);
      }
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  async ready(): Promise<void> {
    const exited = once(this.child, 'exit').then(() => {
      throw new Error(`app ${this.id} exited before it was ready`);
    });
    while (this.httpPort === 0) await Promise.race([once(this.child, 'message'), exited]);
  }

  request<T>(command: Command): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...command, id });
    });
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** Three apps on our store, one cluster: resolves once every app sees the three. */
async function oursApps(): Promise<SessionApp[]> {
  const env = { STORE: 'ours', CLUSTER_SECRET };
  const first = new SessionApp('app1', { ...env, SEEDS: '' });
  await first.ready();
  const rest = ['app2', 'app3'].map((id) => new SessionApp(id, { ...env, SEEDS: first.clusterAddress }));
  const apps = [first, ...rest];
  await Promise.all(rest.map((a) => a.ready()));
  for (const a of apps) {
    while ((await a.request<string[]>({ cmd: 'members' })).length < APPS) await new Promise((r) => setTimeout(r, 20));
  }
  return apps;
}

/** Three apps on the floor store, each connected to the other two (the holders of its copies). */
async function floorApps(): Promise<SessionApp[]> {
  const apps = ['app1', 'app2', 'app3'].map((id) => new SessionApp(id, { STORE: 'floor' }));
  await Promise.all(apps.map((a) => a.ready()));
  await Promise.all(apps.map((a) => a.request({ cmd: 'connect', addresses: apps.filter((b) => b !== a).map((b) => b.clusterAddress) })));
  return apps;
}

/** Three apps on express-session's MemoryStore, each alone. */
async function memoryApps(): Promise<SessionApp[]> {
  const apps = ['app1', 'app2', 'app3'].map((id) => new SessionApp(id, { STORE: 'memory' }));
  await Promise.all(apps.map((a) => a.ready()));
  return apps;
}

/** Three apps on connect-redis against the redis-server on `port`. */
async function redisApps(port: number): Promise<SessionApp[]> {
  const apps = ['app1', 'app2', 'app3'].map((id) => new SessionApp(id, { STORE: 'redis', REDIS_PORT: String(port) }));
  await Promise.all(apps.map((a) => a.ready()));
  return apps;
}

/** A user's browser: its cookie, the app it sticks to, and the counter its session must hold. */
interface User {
  cookie: string | undefined;
  app: number;
  expected: number;
  /** xorshift state: the same users make the same choices on both stacks. */
  rng: number;
}

interface Answer {
  status: number;
  body: string;
  setCookie: string | undefined;
}

function get(agent: Agent, port: number, path: string, cookie: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: cookie === undefined ? {} : { cookie } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        const set = res.headers['set-cookie']?.[0];
        resolve({ status: res.statusCode ?? 0, body, setCookie: set?.split(';')[0] });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The route of our session cookie `sid=s%3A<random>.<route>.<signature>`, as a sticky load balancer reads it. */
function routeOf(cookie: string): string | undefined {
  return decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).split('.')[1];
}

/** A percentile of a sorted sample. */
function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

/**
 * Drives the apps with `users` users for a warm-up and then a measured window; every answer is
 * checked. `writeShare` of the requests are writes (1: every request writes).
 */
async function drive(
  apps: SessionApp[],
  stack: SessionStack,
  workload: SessionRow['workload'],
  cpuPids: number[],
  options: { users: number; warmMs: number; measureMs: number; oneApp: boolean; profileDir: string | undefined },
): Promise<SessionRow> {
  const writeShare = workload === 'writes' ? 1 : 0.1;
  const agent = new Agent({ keepAlive: true, maxSockets: options.users });
  const routes = new Map(apps.map((a, i) => [a.id, i]));
  let errors = 0;
  let firstError: string | undefined;
  const fail = (what: string): void => {
    errors++;
    firstError ??= what;
  };
  const users: User[] = Array.from({ length: options.users }, (_, i) => ({ cookie: undefined, app: options.oneApp ? 0 : i % apps.length, expected: 0, rng: (i + 1) * 2654435761 }));

  const step = async (u: User, latencies: number[] | undefined): Promise<void> => {
    u.rng ^= u.rng << 13;
    u.rng ^= u.rng >>> 17;
    u.rng ^= u.rng << 5;
    const write = u.cookie === undefined || (u.rng >>> 0) / 2 ** 32 < writeShare;
    // Ours and the floor store: sticky by the route in the cookie, as nginx's map on $cookie_sid; connect-redis and
    // MemoryStore ids carry no route: each user keeps the app it was given (MemoryStore needs it).
    const app = apps[(stack === 'ours' || stack === 'floor') && u.cookie !== undefined ? (routes.get(routeOf(u.cookie) ?? '') ?? -1) : u.app];
    if (app === undefined) {
      fail(`cookie ${String(u.cookie)} names no app`);
      return;
    }
    const t0 = performance.now();
    let answer: Answer;
    try {
      answer = await get(agent, app.httpPort, write ? '/write' : '/read', u.cookie);
    } catch (error) {
      fail(`request failed: ${String(error)}`);
      return;
    }
    latencies?.push(performance.now() - t0);
    if (answer.status !== 200) {
      fail(`status ${String(answer.status)} from ${app.id}`);
      return;
    }
    if (answer.setCookie !== undefined) u.cookie = answer.setCookie;
    if (u.cookie === undefined) {
      fail(`no session cookie from ${app.id}`);
      return;
    }
    const want = write ? u.expected + 1 : u.expected;
    if (answer.body !== String(want)) {
      fail(`${app.id} answered ${answer.body}, the user expected ${String(want)}`);
      // Follow the server from here: one wrong answer is one error, not one per later request.
      const got = Number(answer.body);
      if (Number.isInteger(got)) u.expected = got;
      return;
    }
    u.expected = want;
  };
  const phase = async (ms: number, latencies: number[] | undefined): Promise<void> => {
    const end = performance.now() + ms;
    await Promise.all(
      users.map(async (u) => {
        while (performance.now() < end) await step(u, latencies);
      }),
    );
  };

  await phase(options.warmMs, undefined);
  if (options.profileDir !== undefined) await Promise.all(apps.map((a) => a.request({ cmd: 'profileStart' })));
  const latencies: number[] = [];
  const sent = async (): Promise<number> => (await Promise.all(apps.map((a) => a.request({ cmd: 'messagesSent' })))).reduce((sum: number, n) => sum + Number(n), 0);
  const sent0 = await sent();
  // One reading of /proc per process at each end, so a process's total and its system part agree.
  const cpu0 = cpuPids.map(processCpu);
  const t0 = performance.now();
  await phase(options.measureMs, latencies);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuPids.map(processCpu);
  const byProcess = cpu1.map((c, i) => c.userMs + c.systemMs - (cpu0[i]?.userMs ?? 0) - (cpu0[i]?.systemMs ?? 0));
  const systemByProcess = cpu1.map((c, i) => c.systemMs - (cpu0[i]?.systemMs ?? 0));
  const cpu = byProcess.reduce((sum, c) => sum + c, 0);
  const messages = (await sent()) - sent0;
  if (options.profileDir !== undefined) {
    const dir = options.profileDir;
    await Promise.all(apps.map((a) => a.request({ cmd: 'profileStop', file: join(dir, `${stack}-${workload}-${a.id}.cpuprofile`) })));
  }
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return {
    stack,
    workload,
    requests: latencies.length,
    reqPerSec: latencies.length / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    cpuMsPerRequest: cpu / Math.max(1, latencies.length),
    cpuMsPerRequestByProcess: byProcess.map((c) => c / Math.max(1, latencies.length)),
    systemMsPerRequestByProcess: systemByProcess.map((c) => c / Math.max(1, latencies.length)),
    messagesPerRequest: messages / Math.max(1, latencies.length),
    errors,
    firstError,
  };
}

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The medians of a stack's rounds under one workload. */
function medianRow(runs: SessionRow[]): SessionRow {
  const first = runs[0];
  if (first === undefined) throw new Error('no round to take a median of');
  return {
    stack: first.stack,
    workload: first.workload,
    requests: runs.reduce((n, r) => n + r.requests, 0),
    reqPerSec: median(runs.map((r) => r.reqPerSec)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    cpuMsPerRequest: median(runs.map((r) => r.cpuMsPerRequest)),
    cpuMsPerRequestByProcess: first.cpuMsPerRequestByProcess.map((_, i) => median(runs.map((r) => r.cpuMsPerRequestByProcess[i] ?? 0))),
    systemMsPerRequestByProcess: first.systemMsPerRequestByProcess.map((_, i) => median(runs.map((r) => r.systemMsPerRequestByProcess[i] ?? 0))),
    messagesPerRequest: median(runs.map((r) => r.messagesPerRequest)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    firstError: runs.find((r) => r.firstError !== undefined)?.firstError,
  };
}

/** Three apps on `stack`, driven under both workloads, then stopped. */
async function runStack(stack: SessionStack, settings: Parameters<typeof drive>[4] & { workloads: ReadonlyArray<SessionRow['workload']> }): Promise<SessionRow[]> {
  const workloads = settings.workloads;
  const rows: SessionRow[] = [];
  if (stack === 'redis') {
    const redis = await startRedis();
    if (redis === undefined) return [];
    killOnExit(redis.pid);
    let apps: SessionApp[] = [];
    try {
      apps = await redisApps(redis.port);
      for (const w of workloads) rows.push(await drive(apps, stack, w, [...apps.map((a) => a.pid), redis.pid], settings));
    } finally {
      await Promise.all(apps.map((a) => a.kill()));
      for (const c of [...running]) c.kill('SIGKILL');
      await redis.stop();
      redisPids.delete(redis.pid);
    }
    return rows;
  }
  const apps = await (stack === 'ours' ? oursApps() : stack === 'floor' ? floorApps() : memoryApps()).catch((error: unknown) => {
    for (const c of [...running]) c.kill('SIGKILL');
    throw error;
  });
  try {
    for (const w of workloads) rows.push(await drive(apps, stack, w, apps.map((a) => a.pid), settings));
  } finally {
    await Promise.all(apps.map((a) => a.kill()));
  }
  return rows;
}

/**
 * Every stack under both workloads, `runs` rounds, the stacks in a rotated order each round (so
 * that none always runs first, or right after the same other one, while the machine's load
 * drifts). Redis rows are left out when `redis-server` is not installed.
 */
export async function sessionsBench(options: SessionsBenchOptions = {}): Promise<SessionsResult> {
  const rounds = Math.max(1, options.runs ?? 5);
  const settings = {
    users: options.users ?? 32,
    warmMs: options.warmMs ?? 3000,
    measureMs: options.measureMs ?? 10_000,
    oneApp: options.oneApp ?? false,
    profileDir: options.profileDir,
    workloads: options.workloads ?? (['writes', 'readMostly'] as const),
  };
  if (settings.profileDir !== undefined) mkdirSync(settings.profileDir, { recursive: true });
  const stacks = options.stacks ?? (['memory', 'ours', 'redis', 'floor'] as const);
  const byKey = new Map<string, SessionRow[]>();
  let redisInstalled = true;
  for (let round = 0; round < rounds; round++) {
    const order = stacks.map((_, i) => stacks[(i + round) % stacks.length] as SessionStack);
    for (const stack of order) {
      // Profiles slow the apps down: only the first round is profiled.
      const rows = await runStack(stack, { ...settings, profileDir: round === 0 ? settings.profileDir : undefined });
      if (stack === 'redis' && rows.length === 0) redisInstalled = false;
      for (const r of rows) byKey.set(`${r.stack}/${r.workload}`, [...(byKey.get(`${r.stack}/${r.workload}`) ?? []), r]);
    }
  }
  const series: SessionSeries[] = [];
  for (const runs of byKey.values()) {
    const first = runs[0];
    if (first !== undefined) series.push({ stack: first.stack, workload: first.workload, runs, median: medianRow(runs) });
  }
  return { series, rounds, redisInstalled };
}
