/**
 * Random histories of the map: several members on an {@link InMemoryNetwork}, several callers per
 * member making calls that do not wait for each other (and sometimes not for their own previous
 * call: pipelined), with times to live and touches on a fake clock, joins and graceful stops.
 * Every call is recorded for the linearizability checker.
 *
 * @module
 */
import fc from 'fast-check';
import { InMemoryNetwork, LazyReplicatedMap, type InMemoryNetworkOptions } from '../../lib/index.js';
import { HistoryRecorder, type Call, type History, type Operation } from './history.js';

/** One kind of run: what the cluster looks like and which events may happen. */
export interface WorkloadConfig {
  /** Name in reports. */
  readonly name: string;
  /** Members at the start, chosen in this range (inclusive). */
  readonly members: readonly [number, number];
  /** Callers per member (each a logical client with its own sequence of calls). */
  readonly callers: number;
  /** Keys the calls pick from. */
  readonly keys: number;
  readonly backups: number;
  /** The network's fault settings (delay, reorder); its seed is drawn per history. */
  readonly net?: Omit<InMemoryNetworkOptions, 'seed'>;
  /** Writes with `ttlMs` / `maxIdleMs`, `touch` calls, and the fake clock moving between phases. */
  readonly expiry?: boolean;
  /** With `expiry`: also writes with `maxIdleMs`. @default true */
  readonly idle?: boolean;
  /** Members joining and leaving gracefully (`stop()`) during the calls; `'joins'`: joining only. */
  readonly membership?: boolean | 'joins';
  /** `clear()` calls (rare). */
  readonly clear?: boolean;
  /**
   * One caller for the whole cluster, moving from member to member: it pipelines calls on one
   * member and waits for them before it moves on. No two members are called at once, so every
   * answer is fixed by the calls before it (read-your-writes, call order), while the members'
   * own work (promotions, re-homing, joins and stops) still runs concurrently.
   */
  readonly sequential?: boolean;
  /**
   * Sequential runs: the caller also waits for the network to be quiet before it moves to
   * another member, so a promotion's announcement (sent in the background) has arrived.
   */
  readonly settleBetweenMembers?: boolean;
  /**
   * Whether a `get` may promote its member to primary (drawn per call); false: every get passes
   * `{ promote: false }`, so only writes move a key.
   * @default true
   */
  readonly promote?: boolean;
  /**
   * Conditional writes (`setIfAbsent`, `compareAndSet`, `update`) among the calls; `'only'`: the
   * calls are conditional writes and reads (`get` without promotion) only, no plain `set` or
   * `delete` (whose one-sided moves and local answers issue 22 item 2 has not fixed yet).
   */
  readonly conditional?: boolean | 'only';
  /** Phases per history (inclusive range). @default [1, 4] */
  readonly phases?: readonly [number, number];
  /**
   * Each member's `maxEntries` (policy `'lru'`, sample 2): evictions happen during the calls and
   * are recorded as deletes the map decided itself (see `HistoryRecorder.begin`).
   * @default none
   */
  readonly maxEntries?: number;
  /** Calls per caller and phase (inclusive range). @default [1, 5] */
  readonly callsPerCaller?: readonly [number, number];
}

/** A call as generated: keys by index, values made unique when run. */
export type CallSpec =
  | { op: 'set'; key: number; ttlMs?: number; maxIdleMs?: number }
  | { op: 'get'; key: number; promote: boolean }
  | { op: 'delete'; key: number }
  | { op: 'touch'; key: number }
  | { op: 'clear' }
  | { op: 'setIfAbsent'; key: number }
  | { op: 'compareAndSet'; key: number }
  | { op: 'update'; key: number; add: number };

/** A call and whether the caller makes the next one without waiting for it. */
export interface Step {
  readonly call: CallSpec;
  readonly pipelined: boolean;
  /** Sequential runs: the member called (an index into the live members). */
  readonly member: number;
}

/** What happens alongside a phase's calls. */
export type PhaseEvent = { kind: 'none' } | { kind: 'join' } | { kind: 'stop'; who: number } | { kind: 'tick'; ms: number };

/** A round of concurrent calls: one list of steps per caller slot, and an event. */
export interface Phase {
  readonly callers: readonly (readonly Step[])[];
  readonly event: PhaseEvent;
}

/** A whole generated run. */
export interface Program {
  /** Seed of the network's random choices (delays, reordering). */
  readonly seed: number;
  readonly members: number;
  readonly phases: readonly Phase[];
}

/** Programs for `config`, shrinking toward fewer phases, callers and calls. */
export function programs(config: WorkloadConfig): fc.Arbitrary<Program> {
  const key = fc.nat({ max: config.keys - 1 });
  const promote = config.promote === false ? fc.constant(false) : fc.boolean();
  const calls: Array<fc.Arbitrary<CallSpec>> = [
    fc.tuple(key, promote).map(([k, p]): CallSpec => ({ op: 'get', key: k, promote: p })),
    fc.tuple(key, promote).map(([k, p]): CallSpec => ({ op: 'get', key: k, promote: p })),
  ];
  if (config.conditional !== 'only') {
    calls.push(key.map((k): CallSpec => ({ op: 'set', key: k })), key.map((k): CallSpec => ({ op: 'set', key: k })), key.map((k): CallSpec => ({ op: 'delete', key: k })));
  }
  if (config.conditional !== undefined && config.conditional !== false) {
    calls.push(
      key.map((k): CallSpec => ({ op: 'setIfAbsent', key: k })),
      key.map((k): CallSpec => ({ op: 'compareAndSet', key: k })),
      fc.tuple(key, fc.integer({ min: 1, max: 3 })).map(([k, add]): CallSpec => ({ op: 'update', key: k, add })),
    );
  }
  if (config.expiry === true) {
    calls.push(fc.tuple(key, fc.constantFrom(50, 150)).map(([k, ttlMs]): CallSpec => ({ op: 'set', key: k, ttlMs })));
    if (config.idle !== false) calls.push(key.map((k): CallSpec => ({ op: 'set', key: k, maxIdleMs: 100 })));
    calls.push(key.map((k): CallSpec => ({ op: 'touch', key: k })));
  }
  const call = fc.oneof(...calls, ...(config.clear === true ? [{ arbitrary: fc.constant<CallSpec>({ op: 'clear' }), weight: 1 }] : []));
  const [minCalls, maxCalls] = config.callsPerCaller ?? (config.sequential === true ? [1, 12] : [1, 5]);
  const step = fc.record({ call, pipelined: fc.boolean(), member: fc.nat({ max: 7 }) });
  const events: Array<fc.Arbitrary<PhaseEvent>> = [fc.constant<PhaseEvent>({ kind: 'none' })];
  if (config.expiry === true) events.push(fc.integer({ min: 20, max: 120 }).map((ms): PhaseEvent => ({ kind: 'tick', ms })));
  if (config.membership !== undefined && config.membership !== false) events.push(fc.constant<PhaseEvent>({ kind: 'join' }));
  if (config.membership === true) events.push(fc.nat().map((who): PhaseEvent => ({ kind: 'stop', who })));
  const maxSlots = config.sequential === true ? 1 : (config.members[1] + 4) * config.callers;
  const phase = fc.record({
    callers: fc.array(fc.array(step, { minLength: minCalls, maxLength: maxCalls }), { minLength: 1, maxLength: maxSlots }),
    event: fc.oneof(...events),
  });
  const [minPhases, maxPhases] = config.phases ?? [1, 4];
  return fc.record({
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    members: fc.integer({ min: config.members[0], max: config.members[1] }),
    phases: fc.array(phase, { minLength: minPhases, maxLength: maxPhases }),
  });
}

type TestMap = LazyReplicatedMap<string>;

/** How a test builds each member's map (mutants wrap it). */
export type MapFactory = (options: ConstructorParameters<typeof LazyReplicatedMap<string, unknown>>[0]) => TestMap;

const defaultFactory: MapFactory = (options) => new LazyReplicatedMap<string, unknown>(options);

/**
 * Runs `program` and returns its history, ended by a read of every key on every member once all
 * calls completed (so an anomaly that leaves the cluster wrong shows).
 */
export async function runProgram(config: WorkloadConfig, program: Program, factory: MapFactory = defaultFactory): Promise<History> {
  const clock = { time: 1000 };
  const net = new InMemoryNetwork({ seed: program.seed, ...config.net });
  const recorder = new HistoryRecorder(() => clock.time);
  const maps = new Map<string, TestMap>();
  const live: string[] = [];
  let nextId = 0;
  let written = 0;
  const evictions: Operation[] = [];
  /** The last value of each key written or read by any call: what a compareAndSet expects. */
  const lastSeen = new Map<string, unknown>();
  const create = (): TestMap => {
    const id = `m${nextId++}`;
    const limits = config.maxEntries === undefined ? {} : { maxEntries: config.maxEntries, evictionPolicy: 'lru' as const, evictionSample: 2 };
    const map = factory({ name: 'lin', transport: net.transport(id), backups: config.backups, now: () => clock.time, expirySweepIntervalMs: 0, ...limits });
    map.on('evicted', (key) => evictions.push(recorder.begin(id, `${id}evictor`, { op: 'evict', key })));
    // Peers' faults during joins and stops are reported, not thrown; the history is what is judged.
    map.on('error', () => undefined);
    maps.set(id, map);
    return map;
  };
  const keyName = (k: number): string => `k${k}`;
  const invoke = (map: TestMap, caller: string, spec: CallSpec): Promise<void> => {
    let call: Call;
    let run: () => Promise<unknown>;
    switch (spec.op) {
      case 'set': {
        const value = `${caller}.${++written}`;
        const expiry = { ...(spec.ttlMs === undefined ? {} : { ttlMs: spec.ttlMs }), ...(spec.maxIdleMs === undefined ? {} : { maxIdleMs: spec.maxIdleMs }) };
        const hasExpiry = spec.ttlMs !== undefined || spec.maxIdleMs !== undefined;
        call = { op: 'set', key: keyName(spec.key), value, ...(hasExpiry ? { expiry } : {}) };
        run = () => map.set(keyName(spec.key), value, expiry).then(() => undefined);
        lastSeen.set(keyName(spec.key), value);
        break;
      }
      case 'setIfAbsent': {
        const value = `${caller}.${++written}`;
        call = { op: 'setIfAbsent', key: keyName(spec.key), value };
        run = () => map.setIfAbsent(keyName(spec.key), value);
        lastSeen.set(keyName(spec.key), value);
        break;
      }
      case 'compareAndSet': {
        const value = `${caller}.${++written}`;
        const expected = lastSeen.get(keyName(spec.key)) ?? 'never written';
        call = { op: 'compareAndSet', key: keyName(spec.key), expected, value };
        run = () => map.compareAndSet(keyName(spec.key), expected, value);
        lastSeen.set(keyName(spec.key), value);
        break;
      }
      case 'update': {
        const add = spec.add;
        call = { op: 'update', key: keyName(spec.key), add };
        run = () =>
          map.update(keyName(spec.key), (old) => (typeof old === 'number' ? old : 0) + add).then((next) => {
            lastSeen.set(keyName(spec.key), next);
            return next;
          });
        break;
      }
      case 'get':
        call = { op: 'get', key: keyName(spec.key), promote: spec.promote };
        run = () =>
          map.get(keyName(spec.key), { promote: spec.promote }).then((value) => {
            if (value !== undefined) lastSeen.set(keyName(spec.key), value);
            return value;
          });
        break;
      case 'delete':
        call = { op: 'delete', key: keyName(spec.key) };
        run = () => map.delete(keyName(spec.key));
        break;
      case 'touch':
        call = { op: 'touch', key: keyName(spec.key) };
        run = () => map.touch(keyName(spec.key));
        break;
      case 'clear':
        call = { op: 'clear' };
        run = () => map.clear();
        break;
    }
    return recorder.record(map.id, caller, call, run);
  };
  const runCaller = async (map: TestMap, caller: string, steps: readonly Step[]): Promise<void> => {
    const inFlight: Array<Promise<void>> = [];
    for (const s of steps) {
      if (map.state !== 'running') break;
      const done = invoke(map, caller, s.call);
      if (s.pipelined) inFlight.push(done);
      else await done;
    }
    await Promise.all(inFlight);
  };
  /** The one caller of sequential runs: pipelines on a member, waits before moving on. */
  const runTraveller = async (members: readonly string[], steps: readonly Step[]): Promise<void> => {
    let inFlight: Array<Promise<void>> = [];
    let current: string | undefined;
    for (const s of steps) {
      const id = members[s.member % members.length]!;
      if (id !== current) {
        await Promise.all(inFlight);
        if (config.settleBetweenMembers === true) await net.settled();
        inFlight = [];
        current = id;
      }
      const map = maps.get(id)!;
      if (map.state !== 'running') continue;
      const done = invoke(map, 'c', s.call);
      if (s.pipelined) inFlight.push(done);
      else await done;
    }
    await Promise.all(inFlight);
  };
  try {
    for (let i = 0; i < program.members; i++) {
      const map = create();
      await map.start();
      live.push(map.id);
    }
    await net.settled();
    for (const phase of program.phases) {
      const work: Array<Promise<unknown>> = [];
      const event = phase.event;
      if (event.kind === 'tick') {
        // Time moves only while nothing is in flight: each call is judged at one time.
        await net.settled();
        clock.time += event.ms;
        for (const id of live) work.push(maps.get(id)!.sweep().catch(() => undefined));
      }
      if (config.sequential === true) {
        const members = [...live];
        work.push(runTraveller(members, phase.callers[0] ?? []));
      }
      const callers = config.sequential === true ? [] : live.flatMap((id) => Array.from({ length: config.callers }, (_, c) => ({ id, caller: `${id}c${c}` })));
      callers.forEach(({ id, caller }, slot) => {
        const steps = phase.callers[slot];
        if (steps !== undefined) work.push(runCaller(maps.get(id)!, caller, steps));
      });
      if (event.kind === 'join') {
        const map = create();
        live.push(map.id);
        work.push(map.start());
      } else if (event.kind === 'stop' && live.length > 2) {
        const id = live[event.who % live.length]!;
        live.splice(live.indexOf(id), 1);
        work.push(maps.get(id)!.stop());
      }
      await Promise.all(work);
    }
    // Evictions took effect everywhere once the network is quiet (their deletes acknowledged).
    await net.settled();
    for (const op of evictions) recorder.finish(op);
    // Final reads, after every call completed, on every member: what the cluster ended with.
    const finals: Array<Promise<void>> = [];
    for (const id of live) for (let k = 0; k < config.keys; k++) finals.push(invoke(maps.get(id)!, `${id}final`, { op: 'get', key: k, promote: false }));
    await Promise.all(finals);
  } finally {
    for (const map of maps.values()) if (map.state === 'running' || map.state === 'starting') await map.stop({ discard: true }).catch(() => undefined);
  }
  return recorder.ops;
}

/** A program in a few lines, for reports. */
export function describeProgram(program: Program): string {
  return JSON.stringify(program);
}
