/**
 * The session store's own cost, in one process, without HTTP: the calls express-session makes
 * for one request (`get`, then `set` for a request that changed the session or `touch` for one
 * that did not), on BackupSessionStore (a primary and its backup on the in-memory network, so the
 * map's replication and the backup's work are counted) and on express-session's MemoryStore.
 * CPU time from `process.cpuUsage`, so other processes on the machine disturb it little: it is
 * the measure to read for a change inside lib/session, where the end-to-end rows move by more
 * than the change between two runs.
 *
 * @module
 */
import { createHook } from 'node:async_hooks';
import { Session as Inspector } from 'node:inspector/promises';
import session from 'express-session';
import type { LazyReplicatedMap } from '../lib/index.js';
import { main, session as sessionEntry } from './built.js';
import { PROFILE } from './session-fixture.js';

const MAX_AGE = 30 * 60 * 1000;
/** Sessions served at once, as the 32 users of the end-to-end rows. */
const USERS = 32;

type Session = Record<string, unknown>;

/** The calls a request makes, promisified. */
interface StoreCalls {
  get(sid: string): Promise<Session | null | undefined>;
  set(sid: string, s: Session): Promise<void>;
  touch(sid: string, s: Session): Promise<void>;
  genid(): string;
  close(): Promise<void>;
}

/** CPU µs per request on one store, and the promises a request creates. */
export interface StoreCost {
  writeUs: number;
  readUs: number;
  /** Promises created per writing request, in this process (the harness's own included: about 8). */
  writePromises: number;
  /** Promises created per reading request, likewise. */
  readPromises: number;
  /** Bytes allocated per writing request in this process, garbage included (sampled; the harness's own included). */
  writeBytes: number;
  /** Bytes allocated per reading request, likewise. */
  readBytes: number;
}

/** A node of V8's sampling heap profile. */
interface AllocationNode {
  selfSize: number;
  children: AllocationNode[];
}

/** The bytes all the sampled allocations under `node` add up to. */
function allocatedUnder(node: AllocationNode): number {
  let bytes = node.selfSize;
  for (const child of node.children) bytes += allocatedUnder(child);
  return bytes;
}

/** The cookie express-session hands the store: its JSON, with an `expires` that moves with each request. */
function cookie(): Session {
  return { originalMaxAge: MAX_AGE, expires: new Date(Date.now() + MAX_AGE).toISOString(), secure: false, httpOnly: true, path: '/' };
}

async function ours(): Promise<StoreCalls> {
  const net = new main.InMemoryNetwork({ seed: 1 });
  const maps: Array<LazyReplicatedMap<string>> = [];
  for (const id of ['a', 'b']) {
    const map = new main.LazyReplicatedMap<string>({ name: 'sessions', transport: net.transport(id), backups: 1, expirySweepIntervalMs: 0 });
    await map.start();
    maps.push(map);
  }
  await net.settled();
  const primary = maps[0];
  if (primary === undefined) throw new Error('no map');
  const store = new sessionEntry.BackupSessionStore({ map: primary, route: 'a' });
  return {
    get: (sid) => store.get(sid),
    set: async (sid, s) => {
      await store.set(sid, s, undefined, undefined);
    },
    touch: async (sid, s) => {
      await store.touch(sid, s, undefined, undefined);
    },
    genid: () => store.genid(),
    close: async () => {
      store.close();
      for (const m of maps) await m.stop({ discard: true });
    },
  };
}

function memory(): StoreCalls {
  const store = new session.MemoryStore();
  let next = 0;
  /** A node-style call as a promise. */
  const call = <T>(start: (callback: (error: unknown, result?: T) => void) => void): Promise<T | undefined> =>
    new Promise((resolve, reject) => {
      start((error, result) => {
        if (error === undefined || error === null) resolve(result);
        else reject(error instanceof Error ? error : new Error('MemoryStore failed'));
      });
    });
  return {
    get: (sid) => call<Session | null>((cb) => { store.get(sid, cb as (error: unknown, s?: session.SessionData | null) => void); }),
    set: async (sid, s) => {
      await call((cb) => { store.set(sid, s as unknown as session.SessionData, cb); });
    },
    touch: async (sid, s) => {
      // MemoryStore's touch calls back with nothing (its typings say so too).
      await call((cb) => { store.touch(sid, s as unknown as session.SessionData, () => { cb(null); }); });
    },
    genid: () => `s${String(next++)}`,
    close: () => Promise.resolve(),
  };
}

/** `requests` requests of each kind over {@link USERS} sessions, after as many to warm up. */
async function measure(store: StoreCalls, requests: number): Promise<StoreCost> {
  const sids: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const sid = store.genid();
    sids.push(sid);
    await store.set(sid, { cookie: cookie(), profile: PROFILE, n: 0 });
  }
  const request = async (sid: string, write: boolean): Promise<void> => {
    const loaded = await store.get(sid);
    if (loaded === null || loaded === undefined) throw new Error(`session ${sid} lost`);
    // express-session copies the attributes into its Session and gives it its own Cookie.
    const s: Session = { ...loaded, cookie: cookie() };
    if (write) {
      s['n'] = (s['n'] as number) + 1;
      await store.set(sid, s);
    } else {
      await store.touch(sid, s);
    }
  };
  const run = async (write: boolean): Promise<number> => {
    const before = process.cpuUsage();
    for (let i = 0; i < requests; i += USERS) await Promise.all(sids.map((sid) => request(sid, write)));
    const used = process.cpuUsage(before);
    return (used.user + used.system) / requests;
  };
  // Promises per request, counted over one round after the timed runs (a promise hook slows every
  // promise, so none is installed while CPU is measured). Each is an allocation and, once
  // settled, a microtask: an exact count where CPU time moves by a few per cent between runs.
  const promisesPer = async (write: boolean): Promise<number> => {
    let created = 0;
    const hook = createHook({
      init: (_id, type) => {
        if (type === 'PROMISE') created++;
      },
    });
    hook.enable();
    try {
      await Promise.all(sids.map((sid) => request(sid, write)));
    } finally {
      hook.disable();
    }
    return created / sids.length;
  };
  // Bytes allocated per request, over 20 rounds after the timed runs: V8's sampling heap profiler,
  // told to keep the samples of objects already collected, so garbage counts too. Garbage is what
  // makes young-generation collections, which end to end cost a busy process more than in this
  // warm loop (docs/performance.md, "What a request allocates"). Sampled every 512 bytes: a
  // statistical figure, steady to about 1% over the 640 requests.
  const bytesPer = async (write: boolean): Promise<number> => {
    const inspector = new Inspector();
    inspector.connect();
    try {
      await inspector.post('HeapProfiler.enable');
      // The two include flags are V8's (Node 20 passes them on); @types/node does not list them.
      const sampling: object = { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
      await inspector.post('HeapProfiler.startSampling', sampling);
      const rounds = 20;
      for (let i = 0; i < rounds; i++) await Promise.all(sids.map((sid) => request(sid, write)));
      const { profile } = await inspector.post('HeapProfiler.stopSampling');
      return allocatedUnder(profile.head) / (rounds * sids.length);
    } finally {
      inspector.disconnect();
    }
  };
  await run(true);
  await run(false);
  const writeUs = await run(true);
  const readUs = await run(false);
  return { writeUs, readUs, writePromises: await promisesPer(true), readPromises: await promisesPer(false), writeBytes: await bytesPer(true), readBytes: await bytesPer(false) };
}

/** Median of some numbers. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * CPU µs per request of BackupSessionStore and of MemoryStore, each the median of `runs` runs of
 * `requests` requests per kind, the two stores alternating.
 */
export async function sessionStoreCost(requests: number, runs: number): Promise<{ ours: StoreCost; memory: StoreCost }> {
  const samples: { ours: StoreCost[]; memory: StoreCost[] } = { ours: [], memory: [] };
  for (let i = 0; i < runs; i++) {
    for (const kind of ['ours', 'memory'] as const) {
      const store = kind === 'ours' ? await ours() : memory();
      try {
        samples[kind].push(await measure(store, requests));
      } finally {
        await store.close();
      }
    }
  }
  const med = (list: StoreCost[]): StoreCost => ({
    writeUs: median(list.map((c) => c.writeUs)),
    readUs: median(list.map((c) => c.readUs)),
    writePromises: median(list.map((c) => c.writePromises)),
    readPromises: median(list.map((c) => c.readPromises)),
    writeBytes: median(list.map((c) => c.writeBytes)),
    readBytes: median(list.map((c) => c.readBytes)),
  });
  return { ours: med(samples.ours), memory: med(samples.memory) };
}
