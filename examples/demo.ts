/**
 * The demo: three member processes on loopback form a cluster over TCP, store some sessions,
 * lose one member to SIGKILL, and keep serving every session from the survivors.
 *
 * Run: npm run demo
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { EntryInfo } from '../lib/index.js';
import type { MemberMessage, MemberRequest } from './cluster-member.js';

type Command = MemberRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const MEMBER_SCRIPT = fileURLToPath(new URL('./cluster-member.ts', import.meta.url));
const SECRET = randomBytes(16).toString('hex');
const WAIT_MS = 15_000;

/** A member process and the IPC conversation with it. */
class Member {
  readonly id: string;
  address = '';
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private nextRequest = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(m: MemberMessage) => void>();

  constructor(id: string, seeds: string[]) {
    this.id = id;
    this.child = fork(MEMBER_SCRIPT, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, MEMBER_ID: id, SEEDS: seeds.join(','), CLUSTER_SECRET: SECRET },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => { resolve(); }));
    this.child.on('message', (raw) => {
      const m = raw as MemberMessage;
      if (m.type === 'reply') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(`member ${this.id}: ${m.error}`));
        else p?.resolve(m.result);
      }
      if (m.type === 'ready') this.address = m.address;
      for (const l of [...this.listeners]) l(m);
    });
    // A member that dies unasked fails whatever was waiting on it, at once.
    this.child.once('exit', (code, signal) => {
      const gone = new Error(`member ${this.id} exited (${signal ?? `code ${String(code)}`})`);
      for (const p of this.pending.values()) p.reject(gone);
      this.pending.clear();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first message that `match` accepts; rejects after `WAIT_MS` or when the member exits. */
  waitFor(what: string, match: (m: MemberMessage) => boolean): Promise<MemberMessage> {
    return deadline(`member ${this.id}: no '${what}'`, new Promise((resolve, reject) => {
      const listener = (m: MemberMessage): void => {
        if (!match(m)) return;
        this.listeners.delete(listener);
        resolve(m);
      };
      this.listeners.add(listener);
      void this.exited.then(() => {
        if (this.listeners.delete(listener)) reject(new Error(`member ${this.id} exited before '${what}'`));
      });
    }));
  }

  /** Sends a command; its reply, or a rejection after `WAIT_MS` or when the member exits. */
  request<T>(command: Command): Promise<T> {
    const id = this.nextRequest++;
    return deadline(`member ${this.id}: no reply to '${command.cmd}'`, new Promise<T>((resolve, reject) => {
      if (!this.alive) {
        reject(new Error(`member ${this.id} is not running`));
        return;
      }
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...command, id });
    }));
  }

  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** A graceful stop (the member hands its entries over); SIGKILL if it does not exit in time. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    await this.request({ cmd: 'stop' }).catch(() => undefined);
    await deadline(`member ${this.id}: no exit after stop`, this.exited).catch(() => this.kill());
  }
}

/** `work`, or a rejection naming `what` once `WAIT_MS` passed; the timer never outlives the race. */
async function deadline<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what} within ${WAIT_MS} ms`)); }, WAIT_MS);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

const say = (line = ''): void => {
  console.log(line);
};

/** Every member process started; all of them are stopped or killed before the demo ends. */
const all: Member[] = [];

async function start(id: string, seeds: string[]): Promise<Member> {
  const m = new Member(id, seeds);
  all.push(m); // before anything can fail, so a failure kills it too
  await m.waitFor('ready', (msg) => msg.type === 'ready');
  return m;
}

/** Waits until the members agree on every key (proxies and re-backups arrive just after the acknowledgements). */
async function everyoneKnows(members: Member[], keys: string[]): Promise<Record<string, Record<string, EntryInfo | null>>> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const infos = Object.fromEntries(await Promise.all(members.map(async (m) => [m.id, await m.request<Record<string, EntryInfo | null>>({ cmd: 'info', keys })] as const)));
    // Settled: one primary per key, its backup in place, and every member agreeing on both.
    const settled = (k: string): boolean => {
      const primaries = members.filter((m) => infos[m.id]?.[k]?.role === 'primary');
      const ref = primaries.length === 1 ? infos[primaries[0]?.id ?? '']?.[k] : undefined;
      if (ref == null || ref.backups.length !== Math.min(1, members.length - 1)) return false;
      return members.every((m) => {
        const info = infos[m.id]?.[k];
        return info != null && info.primary === ref.primary && info.backups.join() === ref.backups.join() && (info.role !== 'backup' || ref.backups.includes(m.id));
      });
    };
    const complete = keys.every(settled);
    if (complete) return infos;
    if (Date.now() > deadline) throw new Error('the cluster did not agree on every key in time');
    await new Promise((r) => setImmediate(r));
  }
}

async function table(members: Member[], keys: string[]): Promise<void> {
  const infos = await everyoneKnows(members, keys);
  const w = 13;
  say(['session'.padEnd(w), ...members.map((m) => `member ${m.id}`.padEnd(w))].join(' '));
  for (const k of keys) say([k.padEnd(w), ...members.map((m) => (infos[m.id]?.[k]?.role ?? '-').padEnd(w))].join(' '));
  say();
}

try {
  say('Starting three member processes on 127.0.0.1 (each its own OS process, one TCP port each)...');
  const a = await start('a', []);
  const [b, c] = await Promise.all([start('b', [a.address]), start('c', [a.address])]);
  // b and c only know a's address; gossip introduces them to each other.
  // Asked of each member's state (not of events that may have passed before we listened).
  await Promise.all(all.map((m) => m.request<string[]>({ cmd: 'members', atLeast: 3 })));
  say(`Cluster formed: a at ${a.address}, b at ${b.address}, c at ${c.address} (b and c found each other through gossip).`);
  say();

  const sessions: Array<[Member, string, unknown]> = [
    [a, 'sess-ada', { user: 'ada', cart: ['analytical engine'] }],
    [a, 'sess-alan', { user: 'alan', cart: [] }],
    [b, 'sess-grace', { user: 'grace', cart: ['compiler', 'moth'] }],
    [c, 'sess-edsger', { user: 'edsger', cart: ['semaphore'] }],
    [c, 'sess-barbara', { user: 'barbara', cart: ['abstract data type'] }],
  ];
  for (const [m, key, value] of sessions) await m.request({ cmd: 'set', key, value });
  const keys = sessions.map(([, k]) => k);
  say('Five sessions written; each set returned once its backup had acknowledged the copy. Roles:');
  await table(all, keys);

  const fetched = await b.request({ cmd: 'get', key: 'sess-ada', promote: true });
  say(`b reads sess-ada through its proxy: ${JSON.stringify(fetched)}; b becomes its primary.`);
  await table(all, keys);

  const infos = await everyoneKnows(all, keys);
  const owned = (m: Member): number => keys.filter((k) => infos[m.id]?.[k]?.role === 'primary').length;
  const victim = [...all].sort((x, y) => owned(y) - owned(x))[0] as Member;
  const survivors = all.filter((m) => m !== victim);
  say(`kill -9 member ${victim.id} (pid ${String(victim.pid)}), primary of ${owned(victim)} sessions, without warning...`);
  const t0 = Date.now();
  const noticed = survivors.map((s) => s.waitFor(`${victim.id} gone`, (msg) => msg.type === 'event' && msg.event === 'memberDisappeared' && msg.subject === victim.id));
  await victim.kill();
  all.splice(all.indexOf(victim), 1);
  await Promise.all(noticed);
  say(`Survivors ${survivors.map((s) => s.id).join(' and ')} declared ${victim.id} gone after ${Date.now() - t0} ms; its backups took over:`);
  await table(survivors, keys);

  for (const k of keys) {
    const values = await Promise.all(survivors.map((s) => s.request({ cmd: 'get', key: k, promote: false })));
    say(`  ${k.padEnd(13)} ${survivors.map((s, i) => `on ${s.id}: ${JSON.stringify(values[i])}`).join('   ')}`);
  }
  say();
  say('Every acknowledged session survived the loss of a member. No Redis, no database: just the members.');
  await Promise.all(all.map((m) => m.stop()));
} catch (error) {
  // Never leave a member behind, and never end a failed demo with exit code 0.
  await Promise.all(all.map((m) => m.kill()));
  console.error(`\nThe demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
