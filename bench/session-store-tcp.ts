/**
 * The session store alone over TCP: BackupSessionStore on a map in this process, its backup a map
 * in another process (bench/session-store-peer.ts), driven with the calls express-session makes
 * (`get`, then `set` or `touch`) by 1, 4 or 32 sessions at once, without HTTP. CPU per request of
 * each process (this one from `process.cpuUsage`, the backup's from /proc).
 *
 * The count at once is what the sessions benches cannot hold still: at 32, a backup gets one
 * group of diffs per 32 saves, at 1 a message and an answer per save. Between the two lies what a
 * round trip costs the store apart from the saves it carries (docs/performance.md, "What a round
 * trip costs the store").
 *
 * @module
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { main, session as sessionEntry } from './built.js';
import { processCpu } from './measure.js';
import { PROFILE } from './session-fixture.js';

const PEER = fileURLToPath(new URL('./session-store-peer.ts', import.meta.url));
const MAX_AGE = 30 * 60 * 1000;

/** CPU µs per request at one count of sessions at once: medians over the runs. */
export interface StoreOverTcp {
  /** Sessions served at once. */
  users: number;
  /** This process (the primary, with the store) per writing request. */
  primaryWriteUs: number;
  /** The backup's process per writing request. */
  backupWriteUs: number;
  /** This process per reading request (a read sends nothing). */
  primaryReadUs: number;
}

/** The cookie express-session hands the store (as in bench/session-store.ts). */
function cookie(): Record<string, unknown> {
  return { originalMaxAge: MAX_AGE, expires: new Date(Date.now() + MAX_AGE).toISOString(), secure: false, httpOnly: true, path: '/' };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** `requests` requests of each kind per run, `runs` runs, for each count in `counts`. */
export async function sessionStoreOverTcp(counts: readonly number[], requests: number, runs: number): Promise<StoreOverTcp[]> {
  const transport = new main.TcpTransport({ id: 'primary', host: '127.0.0.1', port: 0, seeds: [] });
  const map = new main.LazyReplicatedMap<string>({ name: 'sessions', transport, backups: 1, expirySweepIntervalMs: 0 });
  await map.start();
  const peer = fork(PEER, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, SEED: transport.address }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const store = new sessionEntry.BackupSessionStore({ map, route: 'a' });
  try {
    await once(peer, 'message');
    while (!map.members().includes('backup')) await sleep(10);
    const peerCpuUs = (): number => {
      const c = processCpu(peer.pid ?? 0);
      return (c.userMs + c.systemMs) * 1000;
    };
    const results: StoreOverTcp[] = [];
    for (const users of counts) {
      const sids: string[] = [];
      for (let i = 0; i < users; i++) {
        const sid = store.genid();
        sids.push(sid);
        await store.set(sid, { cookie: cookie(), profile: PROFILE, n: 0 }, undefined, undefined);
      }
      const request = async (sid: string, write: boolean): Promise<void> => {
        const loaded = await store.get(sid);
        if (loaded === null) throw new Error(`session ${sid} lost`);
        const s = { ...loaded, cookie: cookie() } as Record<string, unknown>;
        if (write) {
          s['n'] = (s['n'] as number) + 1;
          await store.set(sid, s, undefined, undefined);
        } else {
          await store.touch(sid, s, undefined, undefined);
        }
      };
      const run = async (write: boolean): Promise<{ here: number; backup: number }> => {
        const backupBefore = peerCpuUs();
        const before = process.cpuUsage();
        for (let i = 0; i < requests; i += users) await Promise.all(sids.map((sid) => request(sid, write)));
        const used = process.cpuUsage(before);
        return { here: (used.user + used.system) / requests, backup: (peerCpuUs() - backupBefore) / requests };
      };
      await run(true);
      await run(false);
      const writes: Array<{ here: number; backup: number }> = [];
      const reads: number[] = [];
      for (let r = 0; r < runs; r++) {
        writes.push(await run(true));
        reads.push((await run(false)).here);
      }
      results.push({ users, primaryWriteUs: median(writes.map((w) => w.here)), backupWriteUs: median(writes.map((w) => w.backup)), primaryReadUs: median(reads) });
      for (const sid of sids) await store.destroy(sid);
    }
    return results;
  } finally {
    store.close();
    const exited = once(peer, 'exit');
    peer.disconnect();
    await exited;
    await map.stop({ discard: true });
  }
}
