/**
 * The model-based test of the maps: random operations on random members, with crashes, joins,
 * graceful stops, partitions and heals, on a network whose delivery order fast-check chooses
 * (seeded reorder and duplicates), checked against a plain `Map` after every step.
 *
 * @module
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { InMemoryNetwork, LazyReplicatedMap, ReplicatedMap, type MapKey } from '../lib/index.js';
import { assertConverged } from '../spec/map/invariants.js';

/** A map of either kind, as the test drives it. */
type AnyMap = LazyReplicatedMap | ReplicatedMap;

/** What the maps should hold: key → value, and the members' fate. */
export interface Model {
  readonly data: Map<MapKey, unknown>;
  /** Live members, in start order. */
  live: string[];
  /** Ids ever used (a crashed id is not reused: a restart is tested in the specs). */
  nextId: number;
  /** The groups of the current partition, or undefined. */
  partition: string[][] | undefined;
  /**
   * Lossy runs allow any crashes, so writes may be lost; they check what must hold all the same:
   * no deleted key comes back, no value older than one already read, one primary per key.
   */
  readonly lossy: boolean;
  /** Lossy runs: sequence number of each key's last write, or 'deleted'. */
  readonly written: Map<MapKey, number | 'deleted'>;
  /** Lossy runs: the newest write of each key read so far. */
  readonly lastRead: Map<MapKey, number>;
  /** Lossy runs: the next write's sequence number (values are tagged with it). */
  seq: number;
  /** The fake clock every map reads, in ms. */
  time: number;
  /** When each key written with a time to live expires (by the fake clock). */
  readonly deadlines: Map<MapKey, number>;
}

/** The system under test. */
export interface Real {
  readonly net: InMemoryNetwork;
  readonly maps: Map<string, AnyMap>;
  readonly kind: 'lazy' | 'replicated';
  readonly backups: number;
  /** The fake clock the maps read (`now` option); only {@link TickCommand} moves it. */
  readonly clock: { time: number };
}

type Cmd = fc.AsyncCommand<Model, Real>;

const KEYS: readonly MapKey[] = ['a', 'b', 'c', 'd', 1, '1'];
const MAX_MEMBERS = 6;

const key = fc.constantFrom(...KEYS);
const value = fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.record({ n: fc.integer(), tags: fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }) }));
const pick = fc.nat();

function at<T>(list: readonly T[], index: number): T {
  const item = list[index % list.length];
  if (item === undefined) throw new Error('empty list');
  return item;
}

function mapOf(real: Real, id: string): AnyMap {
  const m = real.maps.get(id);
  if (m === undefined) throw new Error(`no map for ${id}`);
  return m;
}

/** The side of the partition `id` is on (everyone when there is none). */
function sideOf(model: Model, id: string): string[] {
  if (model.partition === undefined) return model.live;
  return model.partition.find((g) => g.includes(id)) ?? [id];
}

/** The side that writes during a partition: the one holding the first live member. */
function writerSide(model: Model): string[] {
  return sideOf(model, at(model.live, 0));
}

/** After every step: settle, then check the contract's convergence invariants and the values. */
export async function check(model: Model, real: Real): Promise<void> {
  await real.net.settled();
  if (model.partition !== undefined) return;
  const maps = model.live.map((id) => mapOf(real, id));
  const keys = assertConverged(maps, model.live, real.kind === 'lazy' ? real.backups : model.live.length, {
    holderRole: real.kind === 'lazy' ? 'backup' : 'copy',
  });
  if (model.lossy) {
    await checkLossy(model, maps, keys);
    await real.net.settled();
    return;
  }
  // Typed names: keys 1 and '1' are different keys, and chai's Set comparison sorts them unstably.
  const named = (ks: Iterable<MapKey>): string[] => [...ks].map((k) => `${typeof k}:${String(k)}`).sort();
  expect(named(keys), 'keys of the cluster equal the model').to.deep.equal(named(model.data.keys()));
  for (const m of maps) {
    for (const [k, v] of model.data) {
      expect(await m.get(k, { promote: false }), `value of ${typeof k} ${String(k)} on ${m.id}`).to.deep.equal(v);
    }
  }
  await real.net.settled();
}

/** What must hold even when writes were lost. */
async function checkLossy(model: Model, maps: AnyMap[], keys: MapKey[]): Promise<void> {
  for (const k of keys) {
    const written = model.written.get(k);
    expect(written, `key ${String(k)} was deleted and must not come back`).to.not.equal('deleted');
    const values = await Promise.all(maps.map((m) => m.get(k, { promote: false }) as Promise<{ seq: number } | undefined>));
    const first = values[0];
    for (const v of values) expect(v, `every member reads the same value of ${String(k)}`).to.deep.equal(first);
    if (first === undefined) continue;
    const seen = model.lastRead.get(k) ?? -1;
    expect(first.seq, `value of ${String(k)} is not older than one already read`).to.be.at.least(seen);
    expect(first.seq, `value of ${String(k)} was written`).to.be.at.most(written as number);
    model.lastRead.set(k, first.seq);
  }
}

/**
 * Read-your-writes (the contract): right after a write or delete resolved, before anything
 * settles, a get on every live member returns what the model holds. Not across a partition (the
 * other side cannot know) and not in lossy runs (a write may be lost with its holders).
 */
async function readsAgree(m: Model, r: Real, key: MapKey): Promise<void> {
  if (m.lossy || m.partition !== undefined) return;
  const expected = m.data.get(key);
  for (const id of m.live) {
    expect(await mapOf(r, id).get(key, { promote: false }), `right after the write, get ${typeof key} ${String(key)} on ${id}`).to.deep.equal(expected);
  }
}

class SetCommand implements Cmd {
  constructor(readonly who: number, readonly key: MapKey, readonly value: unknown, readonly ttlMs?: number) {}
  check(m: Readonly<Model>): boolean {
    return m.live.length > 0 && (m.partition === undefined || writerSide(m).length > 0);
  }
  async run(m: Model, r: Real): Promise<void> {
    const side = m.partition === undefined ? m.live : writerSide(m);
    const value = m.lossy ? { seq: m.seq++, v: this.value } : this.value;
    await mapOf(r, at(side, this.who)).set(this.key, value, this.ttlMs === undefined ? {} : { ttlMs: this.ttlMs });
    m.data.set(this.key, value);
    if (this.ttlMs === undefined) m.deadlines.delete(this.key);
    else m.deadlines.set(this.key, m.time + this.ttlMs);
    if (m.lossy) m.written.set(this.key, m.seq - 1);
    await readsAgree(m, r, this.key);
    await check(m, r);
  }
  toString(): string {
    return `set(#${this.who}, ${JSON.stringify(this.key)}, ${JSON.stringify(this.value)}${this.ttlMs === undefined ? '' : `, { ttlMs: ${this.ttlMs} }`})`;
  }
}

class DeleteCommand implements Cmd {
  constructor(readonly who: number, readonly key: MapKey) {}
  check(m: Readonly<Model>): boolean {
    return m.live.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const side = m.partition === undefined ? m.live : writerSide(m);
    await mapOf(r, at(side, this.who)).delete(this.key);
    m.data.delete(this.key);
    m.deadlines.delete(this.key);
    if (m.lossy) m.written.set(this.key, 'deleted');
    await readsAgree(m, r, this.key);
    await check(m, r);
  }
  toString(): string {
    return `delete(#${this.who}, ${JSON.stringify(this.key)})`;
  }
}

class GetCommand implements Cmd {
  constructor(readonly who: number, readonly key: MapKey) {}
  check(m: Readonly<Model>): boolean {
    return m.live.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const id = at(m.live, this.who);
    const got = await mapOf(r, id).get(this.key);
    // Across a partition a side may not hold the key at all; otherwise the value is the model's.
    if (m.lossy) {
      // Checked by check(): what lossy runs can promise.
    } else if (m.partition === undefined) {
      expect(got, `get ${String(this.key)} on ${id}`).to.deep.equal(m.data.get(this.key));
    } else if (got !== undefined && sideOf(m, id) === writerSide(m)) {
      expect(got, `get ${String(this.key)} on ${id} (partitioned)`).to.deep.equal(m.data.get(this.key));
    }
    await check(m, r);
  }
  toString(): string {
    return `get(#${this.who}, ${JSON.stringify(this.key)})`;
  }
}

/** Several members write (or delete) one key at once; whichever version wins must win everywhere. */
class ConcurrentCommand implements Cmd {
  constructor(readonly key: MapKey, readonly ops: ReadonlyArray<{ who: number; value: unknown }>) {}
  check(m: Readonly<Model>): boolean {
    return m.live.length > 1 && m.partition === undefined && !m.lossy;
  }
  async run(m: Model, r: Real): Promise<void> {
    await Promise.all(
      this.ops.map((op) => {
        const map = mapOf(r, at(m.live, op.who));
        return op.value === null ? map.delete(this.key) : map.set(this.key, op.value);
      }),
    );
    await r.net.settled();
    const seen = await mapOf(r, at(m.live, 0)).get(this.key, { promote: false });
    const candidates = this.ops.map((op) => (op.value === null ? undefined : op.value));
    expect(candidates, `the winner of a race on ${String(this.key)} is one of the writes`).to.deep.include(seen);
    if (seen === undefined) m.data.delete(this.key);
    else m.data.set(this.key, seen);
    m.deadlines.delete(this.key);
    await check(m, r);
  }
  toString(): string {
    return `concurrent(${JSON.stringify(this.key)}, ${JSON.stringify(this.ops)})`;
  }
}

class CrashCommand implements Cmd {
  constructor(readonly who: number) {}
  check(m: Readonly<Model>): boolean {
    // One crash between two settles never loses an acknowledged write (backups >= 1), as long as
    // somebody is left to hold the copies.
    return m.live.length >= 2 && m.partition === undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    const id = at(m.live, this.who);
    r.net.crash(id);
    m.live = m.live.filter((x) => x !== id);
    await check(m, r);
  }
  toString(): string {
    return `crash(#${this.who})`;
  }
}

/** Several members crash at once, with no settling in between: copies may all be lost. */
class CrashManyCommand implements Cmd {
  constructor(readonly who: readonly number[]) {}
  check(m: Readonly<Model>): boolean {
    return m.lossy && m.live.length >= 2 && m.partition === undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    const victims = [...new Set(this.who.map((w) => at(m.live, w)))].slice(0, m.live.length - 1);
    for (const id of victims) r.net.crash(id);
    m.live = m.live.filter((x) => !victims.includes(x));
    await check(m, r);
  }
  toString(): string {
    return `crashMany(${this.who.join(',')})`;
  }
}

class StopCommand implements Cmd {
  constructor(readonly who: number) {}
  check(m: Readonly<Model>): boolean {
    return m.live.length >= 2 && m.partition === undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    const id = at(m.live, this.who);
    await mapOf(r, id).stop();
    m.live = m.live.filter((x) => x !== id);
    await check(m, r);
  }
  toString(): string {
    return `stop(#${this.who})`;
  }
}

class JoinCommand implements Cmd {
  check(m: Readonly<Model>): boolean {
    return m.live.length < MAX_MEMBERS && m.partition === undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    const id = `m${m.nextId++}`;
    const map = makeMap(r, id);
    await map.start();
    m.live = [...m.live, id];
    await check(m, r);
  }
  toString(): string {
    return 'join()';
  }
}

class PartitionCommand implements Cmd {
  constructor(readonly split: number) {}
  check(m: Readonly<Model>): boolean {
    return m.live.length >= 2 && m.partition === undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    const cut = 1 + (this.split % (m.live.length - 1));
    const groups = [m.live.slice(0, cut), m.live.slice(cut)];
    r.net.partition(...groups);
    m.partition = groups;
    await check(m, r);
  }
  toString(): string {
    return `partition(${this.split})`;
  }
}

class HealCommand implements Cmd {
  check(m: Readonly<Model>): boolean {
    return m.partition !== undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.net.heal();
    m.partition = undefined;
    await check(m, r);
  }
  toString(): string {
    return 'heal()';
  }
}

/**
 * Time passes: entries whose time to live ran out must be gone from every `get` at once, and from
 * every member's key set once the primaries swept (sweeps are driven here, not by timers).
 */
class TickCommand implements Cmd {
  constructor(readonly ms: number) {}
  check(m: Readonly<Model>): boolean {
    return m.partition === undefined && !m.lossy && m.live.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.clock.time += this.ms;
    m.time += this.ms;
    for (const [k, at] of [...m.deadlines]) {
      if (at > m.time) continue;
      m.deadlines.delete(k);
      m.data.delete(k);
      for (const id of m.live) expect(await mapOf(r, id).get(k, { promote: false }), `expired ${typeof k} ${String(k)} on ${id}, before any sweep`).to.equal(undefined);
    }
    for (const id of m.live) await mapOf(r, id).sweep();
    await check(m, r);
  }
  toString(): string {
    return `tick(${this.ms})`;
  }
}

/** Two or three placements a page: every join and heal of the model runs in pages, faults and all. */
const STATE_PAGE_BYTES = 100;

function makeMap(real: Real, id: string): AnyMap {
  const transport = real.net.transport(id);
  const timing = { now: () => real.clock.time, expirySweepIntervalMs: 0 };
  const map =
    real.kind === 'lazy'
      ? new LazyReplicatedMap<MapKey>({ name: 'model', transport, backups: real.backups, ...timing, statePageBytes: STATE_PAGE_BYTES })
      : new ReplicatedMap<MapKey>({ name: 'model', transport, ...timing, statePageBytes: STATE_PAGE_BYTES });
  real.maps.set(id, map);
  return map;
}

/** The commands of the model test. */
export function commands(options: { faults: boolean; lossy?: boolean; time?: boolean }): fc.Arbitrary<Iterable<Cmd>> {
  const ttl = options.time === true ? fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }) : fc.constant(undefined);
  const set = fc.tuple(pick, key, value, ttl).map(([w, k, v, t]) => new SetCommand(w, k, v, t));
  const ops: fc.Arbitrary<Cmd>[] = [
    // Listed twice: writes are what the faults must not lose, so there should be plenty of them.
    set,
    set,
    fc.tuple(pick, key).map(([w, k]) => new DeleteCommand(w, k)),
    fc.tuple(pick, key).map(([w, k]) => new GetCommand(w, k)),
    fc
      .tuple(key, fc.array(fc.record({ who: pick, value: fc.option(value, { nil: null }) }), { minLength: 2, maxLength: 3 }))
      .map(([k, o]) => new ConcurrentCommand(k, o)),
  ];
  if (options.faults) {
    ops.push(
      pick.map((w) => new CrashCommand(w)),
      pick.map((w) => new StopCommand(w)),
      fc.constant(new JoinCommand()),
      pick.map((s) => new PartitionCommand(s)),
      fc.constant(new HealCommand()),
    );
  }
  if (options.time === true) ops.push(fc.integer({ min: 1, max: 40 }).map((ms) => new TickCommand(ms)));
  if (options.lossy === true) ops.push(fc.array(pick, { minLength: 2, maxLength: 3 }).map((w) => new CrashManyCommand(w)));
  return fc.commands(ops, { maxCommands: 30, size: 'max' });
}

/** Network settings drawn by fast-check: which seed drives reordering and duplicates. */
export const networkSettings = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  reorder: fc.boolean(),
  duplicateRate: fc.constantFrom(0, 0, 0.1),
  members: fc.integer({ min: 1, max: 4 }),
});

/** Builds a started cluster for one run. */
export async function setup(
  kind: 'lazy' | 'replicated',
  backups: number,
  settings: { seed: number; reorder: boolean; duplicateRate: number; members: number },
  lossy = false,
): Promise<{ model: Model; real: Real }> {
  const net = new InMemoryNetwork({ seed: settings.seed, reorder: settings.reorder, duplicateRate: settings.duplicateRate });
  const real: Real = { net, maps: new Map(), kind, backups, clock: { time: 0 } };
  const model: Model = { data: new Map(), live: [], nextId: 0, partition: undefined, lossy, written: new Map(), lastRead: new Map(), seq: 0, time: 0, deadlines: new Map() };
  for (let i = 0; i < settings.members; i++) {
    const id = `m${model.nextId++}`;
    await makeMap(real, id).start();
    model.live.push(id);
  }
  await net.settled();
  return { model, real };
}

/** Stops whatever is still running, so no run leaks into the next. */
export async function teardown(real: Real): Promise<void> {
  // The last one drops what it holds knowingly instead of waiting for a successor (stopWaitMs).
  for (const map of real.maps.values()) if (map.state !== 'stopped') await map.stop({ discard: true });
  await real.net.settled();
}
