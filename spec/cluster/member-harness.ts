/**
 * The parent's side of spec/cluster/member-process.ts: forks members, sends them requests and
 * keeps every report they made, so a spec can await a report that may already have arrived.
 * Every member forked is registered; `killAll()` (in `afterEach`) SIGKILLs and awaits them.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { within } from '../helpers/deadline.js';
import type { MemberReport, MemberRequest } from './member-process.js';

const SCRIPT = fileURLToPath(new URL('./member-process.ts', import.meta.url));

/** Startup of a member (a Node process loading TypeScript) may take this long. */
export const START_MS = 10_000;
/** Any single request or awaited report may take this long. */
export const REPLY_MS = 5000;

type RequestBody = MemberRequest extends infer R ? (R extends { rid: number } ? Omit<R, 'rid'> : never) : never;
type EventReport = Extract<MemberReport, { event: string }>;

/** Options of one member. */
export interface MemberOptions {
  id: string;
  seeds?: string[];
  secret?: string;
  failureTimeoutMs?: number;
  /** The map's `stopWaitMs`. @default 5000 */
  stopWaitMs?: number;
  /** The map's `snapshot` file path. */
  snapshot?: string;
}

const running = new Set<MemberProcess>();

/** SIGKILLs every member still running and resolves once all exited. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((m) => m.kill()));
}

/** One forked member. */
export class MemberProcess {
  readonly id: string;
  /** Every event the member reported, in order. */
  readonly events: EventReport[] = [];
  /** What it printed (for failure messages). */
  output = '';
  /** Its listening address, once ready. */
  address = '';
  /** How it exited (`code` null when killed by a signal), once it did. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private readonly replies = new Map<number, (r: Extract<MemberReport, { rid: number }>) => void>();
  private readonly listeners = new Set<() => void>();
  private nextRid = 1;

  private constructor(options: MemberOptions) {
    this.id = options.id;
    this.child = fork(SCRIPT, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Structured clone, not JSON: `undefined` (a missing key) stays undefined, Dates stay Dates.
      serialization: 'advanced',
      env: {
        ...process.env,
        MEMBER_ID: options.id,
        SEEDS: (options.seeds ?? []).join(','),
        CLUSTER_SECRET: options.secret ?? 'cluster-secret',
        FAILURE_TIMEOUT_MS: String(options.failureTimeoutMs ?? 1000),
        STOP_WAIT_MS: String(options.stopWaitMs ?? 5000),
        HEARTBEAT_INTERVAL_MS: '100',
        ...(options.snapshot === undefined ? {} : { SNAPSHOT: options.snapshot }),
      },
    });
    running.add(this);
    const keep = (chunk: Buffer): void => {
      this.output += chunk.toString();
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        running.delete(this);
        // Requests it will never answer fail now rather than at their deadline.
        for (const answer of [...this.replies.values()]) answer({ rid: 0, ok: false, error: `exited (${String(code ?? signal)})` });
        resolve();
      });
    });
    this.child.on('message', (raw) => {
      const m = raw as MemberReport;
      if ('rid' in m) this.replies.get(m.rid)?.(m);
      else if ('ready' in m) this.address = m.address;
      else this.events.push(m);
      for (const l of this.listeners) l();
    });
  }

  /** Forks a member and resolves once its map started (it knows every key of the cluster). */
  static async start(options: MemberOptions): Promise<MemberProcess> {
    const m = new MemberProcess(options);
    await within(m.until(() => m.address !== '', 'ready'), START_MS, `member '${options.id}' to start`).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; its output:\n${m.output}`);
    });
    return m;
  }

  /** Resolves once `check()` holds, re-checked on every report of the member (or its exit). */
  private until(check: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.listeners.delete(listener);
        this.child.off('exit', listener);
      };
      const listener = (): void => {
        if (check()) {
          done();
          resolve();
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`member '${this.id}' exited while waiting for ${what}`));
        }
      };
      this.listeners.add(listener);
      this.child.on('exit', listener);
      listener();
    });
  }

  /**
   * Resolves with the first event reported at index `from` or later for which `predicate` holds
   * (pass `events.length` taken before an action to see only what the action caused).
   */
  async event(predicate: (e: EventReport) => boolean, what: string, from = 0): Promise<EventReport> {
    const find = (): EventReport | undefined => this.events.slice(from).find(predicate);
    await within(this.until(() => find() !== undefined, what), REPLY_MS, `${what} at member '${this.id}'`);
    return find() as EventReport;
  }

  /** Sends a request and resolves with its value; rejects with the member's error. */
  request(body: RequestBody): Promise<unknown> {
    const rid = this.nextRid++;
    const reply = new Promise<unknown>((resolve, reject) => {
      this.replies.set(rid, (r) => {
        this.replies.delete(rid);
        if (r.ok) resolve(r.value);
        else reject(new Error(`member '${this.id}': ${r.error}`));
      });
    });
    this.child.send({ ...body, rid });
    return within(reply, REPLY_MS, `member '${this.id}' to answer ${body.cmd}`);
  }

  /** Sends a request without a deadline, and calls `onOk` if and when it succeeds. */
  fire(body: RequestBody, onOk: () => void): void {
    const rid = this.nextRid++;
    this.replies.set(rid, (r) => {
      this.replies.delete(rid);
      if (r.ok) onOk();
    });
    this.child.send({ ...body, rid });
  }

  /** Sends SIGTERM (a graceful stop) and resolves with how the member exited. */
  terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGTERM');
    return this.exitCode();
  }

  /** Resolves with how the member exited (after a SIGTERM sent by {@link terminate}). */
  async exitCode(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await within(this.exited, START_MS, `member '${this.id}' to exit after SIGTERM`);
    return this.exit ?? { code: null, signal: null };
  }

  /** What its stop printed: how long it took from SIGTERM to exit, and the error, if any. */
  stopReport(): { ms: number; error: string | undefined } | undefined {
    const m = /stopped in (\d+) ms(?:: (.*))?/.exec(this.output);
    return m === null ? undefined : { ms: Number(m[1]), error: m[2] };
  }

  /** SIGKILLs the member (no goodbye, sockets reset by the OS) and resolves once it exited. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
