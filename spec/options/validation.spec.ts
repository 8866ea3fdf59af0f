/**
 * Every option of every class, from one table: each bad value throws (or rejects with) the right
 * error class with the option's and the class's name in the message, each good value is accepted,
 * and an unknown option name is warned about once per class. The table covers every rule the
 * classes declare (a new option without rows here fails the first test of its class).
 */
import { expect } from 'chai';
import {
  InMemoryNetwork,
  LazyReplicatedMap,
  ReplicatedMap,
  RpcChannel,
  TcpTransport,
  dnsSeeds,
  stopOnSignals,
  type InMemoryTransport,
} from '../../lib/index.js';
import { BackupSessionStore } from '../../lib/session/index.js';
import { KeyvStore } from '../../lib/keyv/index.js';
import { CAPACITY_OPTION_RULES, GET_OPTION_RULES, LAZY_REPLICATED_MAP_OPTION_RULES, REPLICATED_MAP_OPTION_RULES, SET_OPTION_RULES } from '../../lib/map/map-options.js';
import { RPC_CALL_OPTION_RULES } from '../../lib/rpc/rpc-options.js';
import { IN_MEMORY_NETWORK_OPTION_RULES } from '../../lib/transport/memory/in-memory-network-options.js';
import { TCP_OPTION_RULES } from '../../lib/transport/tcp/resolve-options.js';
import { DNS_SEED_OPTION_RULES } from '../../lib/transport/tcp/dns-seeds.js';
import { SESSION_STORE_OPTION_RULES } from '../../lib/session/session-store-options.js';
import { KEYV_STORE_OPTION_RULES } from '../../lib/keyv/keyv-store-options.js';
import { STOP_ON_SIGNALS_OPTION_RULES } from '../../lib/lifecycle/stop-on-signals.js';
import { MAX_TIMER_MS, UNKNOWN_OPTION_WARNING, closestOption, resetOptionWarnings } from '../../lib/options/validate.js';

type ErrorClass = typeof RangeError | typeof TypeError;

/** One option: values it refuses (with the error class) and values it accepts. */
interface OptionCase {
  bad: [value: unknown, error: ErrorClass][];
  good: unknown[];
}

/** A class (or function) and how to try it with some options. */
interface Subject {
  /** The name every message must carry. */
  owner: string;
  /** The rule table the class declares: every one of its options needs a case. */
  rules: object;
  /** Tries `options` (merged over valid defaults); throws or rejects on a refusal. */
  attempt(options: Record<string, unknown>): unknown;
  cases: Record<string, OptionCase>;
  /** An unknown option, close to a known one, and the name the warning should suggest. */
  typo: [name: string, meant: string];
}

// ------------------------------------------------------------------ values shared by the rows

const NOT_A_NUMBER: [unknown, ErrorClass][] = [[Number.NaN, RangeError], ['abc', RangeError], ['5', RangeError], [null, RangeError]];
/** A whole number of milliseconds for a timer: 1 .. 2^31-1. */
const timer = (min = 1): OptionCase => ({
  bad: [[min - 1, RangeError], [-1, RangeError], [1.5, RangeError], [Infinity, RangeError], [MAX_TIMER_MS + 1, RangeError], ...NOT_A_NUMBER],
  good: [min, 1000, MAX_TIMER_MS],
});
/** A whole number from `min`. */
const whole = (min: number, good: unknown[] = [min, min + 1, 1_000_000]): OptionCase => ({
  bad: [[min - 1, RangeError], [-1, RangeError], [1.5, RangeError], [Infinity, RangeError], ...NOT_A_NUMBER],
  good,
});
const probability: OptionCase = { bad: [[-0.1, RangeError], [1.1, RangeError], [Infinity, RangeError], ...NOT_A_NUMBER], good: [0, 0.5, 1] };
const bool: OptionCase = { bad: [['yes', TypeError], [1, TypeError], [null, TypeError]], good: [true, false] };
const fn = (good: unknown): OptionCase => ({ bad: [['now', TypeError], [1, TypeError], [{}, TypeError]], good: [good] });
const shapeOf = (good: unknown): OptionCase => ({ bad: [[{}, TypeError], ['x', TypeError], [1, TypeError], [null, TypeError]], good: [good] });
const nonEmpty = (good: string, required = false): OptionCase => ({
  bad: [['', TypeError], [1, TypeError], [null, TypeError], ...(required ? ([[undefined, TypeError]] as [unknown, ErrorClass][]) : [])],
  good: [good],
});

// ------------------------------------------------------------------ the subjects

const net = new InMemoryNetwork();
let ids = 0;
/** A fresh, unstarted transport of the shared network. */
const transport = (): InMemoryTransport => net.transport(`t${++ids}`);
const fakeTimers = { setInterval: () => 0, clearInterval: () => undefined };
const fakeCodec = { encode: () => new Uint8Array(0), decode: () => undefined };

const mapCases: Record<string, OptionCase> = {
  name: nonEmpty('sessions', true),
  transport: { bad: [[undefined, TypeError], [{}, TypeError], [{ id: 'x' }, TypeError], ['t', TypeError]], good: [net.transport('good')] },
  rpcTimeoutMs: timer(),
  ack: { bad: [['all', TypeError], ['', TypeError], [1, TypeError]], good: ['backups', 'none'] },
  tombstoneTtlMs: whole(1),
  statePageBytes: whole(1),
  codec: shapeOf(fakeCodec),
  now: fn(Date.now),
  ttlMs: whole(1),
  maxIdleMs: whole(1),
  expirySweepIntervalMs: timer(0),
  timers: shapeOf(fakeTimers),
  mustJoin: bool,
  joinTimeoutMs: timer(1),
  snapshot: {
    bad: [['', TypeError], [1, TypeError], [null, TypeError], [{}, TypeError], [{ location: 'x', read: () => undefined }, TypeError]],
    good: ['/var/lib/app/sessions.snapshot', { location: 'memory', read: () => undefined, write: () => undefined, retire: () => undefined }],
  },
  stopWaitMs: timer(0),
  maxEntries: whole(1),
  maxBytes: whole(1),
  evictionPolicy: { bad: [['LRU', TypeError], ['', TypeError], [1, TypeError], [null, TypeError]], good: ['lru', 'ttl-first', 'reject'] },
  evictionSample: { bad: [[0, RangeError], [1001, RangeError], [1.5, RangeError], ...NOT_A_NUMBER], good: [1, 5, 1000] },
  evictable: fn(() => true),
  maxTombstones: whole(1),
};

let channels: RpcChannel[] = [];
let caller: RpcChannel;
let running: LazyReplicatedMap<string>;

const subjects: Subject[] = [
  {
    owner: 'LazyReplicatedMap',
    rules: LAZY_REPLICATED_MAP_OPTION_RULES,
    attempt: (o) => new LazyReplicatedMap({ name: 'm', transport: transport(), ...o }),
    cases: { ...mapCases, backups: whole(0) },
    typo: ['rpcTimeotMs', 'rpcTimeoutMs'],
  },
  {
    owner: 'ReplicatedMap',
    rules: REPLICATED_MAP_OPTION_RULES,
    attempt: (o) => new ReplicatedMap({ name: 'm', transport: transport(), ...o }),
    cases: mapCases,
    typo: ['Ack', 'ack'],
  },
  {
    owner: 'LazyReplicatedMap.set',
    rules: SET_OPTION_RULES,
    attempt: (o) => running.set('k', 'v', o),
    cases: { ttlMs: whole(1), maxIdleMs: whole(1) },
    typo: ['ttl', 'ttlMs'],
  },
  {
    owner: 'LazyReplicatedMap.configureCapacity',
    rules: CAPACITY_OPTION_RULES,
    attempt: (o) => {
      running.configureCapacity(o);
    },
    cases: { maxEntries: whole(1), maxBytes: whole(1), evictionPolicy: { bad: [['none', TypeError], [0, TypeError]], good: ['lru', 'ttl-first', 'reject'] } },
    typo: ['maxEntires', 'maxEntries'],
  },
  {
    owner: 'LazyReplicatedMap.get',
    rules: GET_OPTION_RULES,
    attempt: (o) => running.get('k', o),
    cases: { promote: bool },
    typo: ['promot', 'promote'],
  },
  {
    owner: 'RpcChannel.call',
    rules: RPC_CALL_OPTION_RULES,
    attempt: (o) => caller.call('hi', { to: [], ...o }),
    cases: {
      mode: { bad: [['any', TypeError], [1, TypeError], [null, TypeError]], good: ['first', 'majority', 'all', 'none'] },
      timeoutMs: timer(),
      to: { bad: [['b', TypeError], [[1], TypeError], [[''], TypeError]], good: [[], ['nobody']] },
      signal: { bad: [[{}, TypeError], ['stop', TypeError]], good: [new AbortController().signal] },
      stackAtCallSite: bool,
    },
    typo: ['timeout', 'timeoutMs'],
  },
  {
    owner: 'InMemoryNetwork',
    rules: IN_MEMORY_NETWORK_OPTION_RULES,
    attempt: (o) => new InMemoryNetwork(o),
    cases: {
      seed: whole(0, [0, 42, 2 ** 32 - 1]),
      delay: {
        bad: [[{ min: -1, max: 0 }, RangeError], [{ min: 2, max: 1 }, RangeError], [{ min: 0, max: 1.5 }, RangeError], [{ min: 0 }, RangeError], [3, TypeError]],
        good: [{ min: 0, max: 0 }, { min: 1, max: 5 }],
      },
      dropRate: probability,
      duplicateRate: probability,
      reorder: bool,
      classify: fn(() => undefined),
    },
    typo: ['dropRates', 'dropRate'],
  },
  {
    owner: 'InMemoryNetwork.configure',
    rules: { delay: 0, dropRate: 0, duplicateRate: 0, reorder: 0 },
    attempt: (o) => {
      new InMemoryNetwork().configure(o);
    },
    cases: {
      delay: { bad: [[{ min: 3, max: 1 }, RangeError], ['x', TypeError]], good: [{ min: 0, max: 2 }] },
      dropRate: probability,
      duplicateRate: probability,
      reorder: bool,
    },
    typo: ['reordr', 'reorder'],
  },
  {
    owner: 'TcpTransport',
    rules: TCP_OPTION_RULES,
    attempt: (o) => new TcpTransport({ id: 'a', ...o }),
    cases: {
      id: { bad: [[undefined, TypeError], ['', TypeError], [7, TypeError], ['x'.repeat(513), RangeError]], good: ['a', 'pod-0'] },
      host: nonEmpty('0.0.0.0'),
      port: { bad: [[-1, RangeError], [65_536, RangeError], [1.5, RangeError], [Infinity, RangeError], ...NOT_A_NUMBER], good: [0, 4000, 65_535] },
      seeds: { bad: [['127.0.0.1:4000', TypeError], [['x'], RangeError], [['127.0.0.1:0'], RangeError], [[4000], TypeError]], good: [[], ['127.0.0.1:4000'], () => []] },
      mustJoin: bool,
      joinTimeoutMs: timer(),
      advertise: { bad: [['x', RangeError], ['http://x:80', RangeError], [4000, TypeError]], good: ['10.0.0.1:4000'] },
      cluster: { bad: [['', TypeError], [1, TypeError], ['c'.repeat(513), RangeError]], good: ['prod'] },
      secret: { bad: [[1, TypeError], [null, TypeError]], good: ['', 's3cret'] },
      tls: { bad: [['yes', TypeError], [true, TypeError]], good: [{}] },
      maxFrameBytes: whole(1),
      maxQueueBytes: whole(1),
      heartbeatIntervalMs: { ...timer(), good: [1, 500, 1000] },
      failureTimeoutMs: { ...timer(), good: [1000, 60_000] },
      handshakeTimeoutMs: timer(),
      maxPendingConnections: whole(1),
      maxReconnectDelayMs: timer(),
      forgetAfterMs: timer(),
      clock: shapeOf({ now: Date.now, setInterval: () => 0, clearInterval: () => undefined }),
    },
    typo: ['secrets', 'secret'],
  },
  {
    owner: 'dnsSeeds',
    rules: DNS_SEED_OPTION_RULES,
    attempt: (o) => dnsSeeds({ host: 'members', port: 4000 }, o),
    cases: {
      servers: { bad: [['127.0.0.1', TypeError], [[53], TypeError]], good: [[], ['127.0.0.1:5353']] },
      timeoutMs: timer(),
      tries: whole(1, [1, 3]),
    },
    typo: ['retries', 'tries'],
  },
  {
    owner: 'dnsSeeds',
    rules: { srv: 0, host: 0, port: 0 },
    attempt: (o) => dnsSeeds({ srv: '_lrm._tcp.members', ...o }),
    cases: {
      srv: { bad: [['', TypeError], [1, TypeError]], good: ['_lrm._tcp.members'] },
      host: { bad: [['', TypeError], [1, TypeError]], good: [] },
      port: { bad: [[0, RangeError], [65_536, RangeError], [1.5, RangeError], ['abc', RangeError]], good: [] },
    },
    typo: ['srvv', 'srv'],
  },
  {
    owner: 'BackupSessionStore',
    rules: SESSION_STORE_OPTION_RULES,
    attempt: (o) => new BackupSessionStore({ map: new LazyReplicatedMap({ name: 's', transport: transport() }), route: 'a', ...o }),
    cases: {
      map: { bad: [[undefined, TypeError], [{}, TypeError], [new Map(), TypeError]], good: [new LazyReplicatedMap({ name: 's', transport: net.transport('store') })] },
      route: { bad: [[undefined, TypeError], ['', TypeError], ['a.b', TypeError], [1, TypeError]], good: ['node1'] },
      ttlMs: { bad: [[0, RangeError], [-1, RangeError], [Infinity, RangeError], ...NOT_A_NUMBER], good: [1, 86_400_000, () => 1000] },
      disableTouch: bool,
      now: fn(Date.now),
      maxSessions: whole(1),
      evictionPolicy: { bad: [['lru-ish', TypeError], [1, TypeError]], good: ['reject', 'lru', 'ttl-first'] },
    },
    typo: ['ttl', 'ttlMs'],
  },
  {
    owner: 'KeyvStore',
    rules: KEYV_STORE_OPTION_RULES,
    attempt: (o) => new KeyvStore({ map: new LazyReplicatedMap({ name: 'k', transport: transport() }), ...o }),
    cases: {
      map: { bad: [[undefined, TypeError], [new Map(), TypeError], ['map', TypeError]], good: [new LazyReplicatedMap({ name: 'k', transport: net.transport('keyv') })] },
      namespace: { bad: [[1, TypeError], [null, TypeError]], good: ['', 'users'] },
      maxEntries: whole(1),
      maxBytes: whole(1),
      evictionPolicy: { bad: [['LRU', TypeError], [1, TypeError]], good: ['reject', 'lru', 'ttl-first'] },
    },
    typo: ['namespaces', 'namespace'],
  },
  {
    owner: 'stopOnSignals',
    rules: STOP_ON_SIGNALS_OPTION_RULES,
    attempt: (o) => {
      const dispose = stopOnSignals([], { signals: ['SIGUSR2'], exit: false, ...o });
      dispose();
    },
    cases: {
      signals: { bad: [['SIGTERM', TypeError], [['SIGNOPE'], TypeError], [[15], TypeError]], good: [[], ['SIGUSR2']] },
      timeoutMs: timer(),
      exit: { bad: [[true, TypeError], [0, TypeError]], good: [false, () => undefined] },
      onStopped: fn(() => undefined),
    },
    typo: ['timeout', 'timeoutMs'],
  },
];

/** What `fn` throws or its promise rejects with; `undefined` when it succeeds. */
async function outcome(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (error) {
    return error;
  }
}

/** Records process warnings while `fn` runs. */
async function warnings(fn: () => Promise<void>): Promise<{ message: string; code: string | undefined }[]> {
  const seen: { message: string; code: string | undefined }[] = [];
  const original = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, options?: { code?: string } | string) => {
    seen.push({ message: String(warning), code: typeof options === 'object' ? options.code : undefined });
  }) as typeof process.emitWarning;
  try {
    await fn();
  } finally {
    process.emitWarning = original;
  }
  return seen;
}

/** A value as a test title shows it. */
function label(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'number' || v === undefined) return String(v);
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype) return `a ${(v).constructor.name}`;
  return JSON.stringify(v);
}

describe('option validation', () => {
  before(async () => {
    const [a, b] = [net.transport('caller'), net.transport('callee')];
    await Promise.all([a.start(), b.start()]);
    caller = new RpcChannel(a, 'validation', () => 'ok');
    channels = [caller, new RpcChannel(b, 'validation', () => 'ok')];
    running = new LazyReplicatedMap<string>({ name: 'running', transport: a });
    await running.start();
  });
  after(async () => {
    await running.stop();
    for (const c of channels) await c.close();
  });
  beforeEach(() => {
    resetOptionWarnings();
  });

  for (const subject of subjects) {
    describe(subject.owner, () => {
      it('has a row for every option it declares', () => {
        expect(Object.keys(subject.cases)).to.have.members(Object.keys(subject.rules));
      });

      for (const [option, { bad, good }] of Object.entries(subject.cases)) {
        for (const [value, errorClass] of bad) {
          it(`refuses \`${option}\`: ${label(value)} with a ${errorClass.name} naming the option`, async () => {
            const error = await outcome(() => subject.attempt({ [option]: value }));
            expect(error, 'an error').to.be.instanceOf(errorClass);
            // A RangeError is also no TypeError, and the other way round: the class is exact.
            expect((error as Error).constructor).to.equal(errorClass);
            expect((error as Error).message).to.include(`\`${option}\``).and.include(subject.owner);
          });
        }
        for (const value of good) {
          it(`accepts \`${option}\`: ${label(value)}`, async () => {
            const seen = await warnings(async () => {
              expect(await outcome(() => subject.attempt({ [option]: value }))).to.equal(undefined);
            });
            expect(seen, 'no warning for a known option').to.deep.equal([]);
          });
        }
      }

      it(`warns once about the unknown option \`${subject.typo[0]}\`, suggesting \`${subject.typo[1]}\``, async () => {
        const [typo, meant] = subject.typo;
        const seen = await warnings(async () => {
          expect(await outcome(() => subject.attempt({ [typo]: 1 }))).to.equal(undefined);
          expect(await outcome(() => subject.attempt({ [typo]: 2 }))).to.equal(undefined);
        });
        expect(seen).to.have.length(1);
        expect(seen[0]!.code).to.equal(UNKNOWN_OPTION_WARNING);
        expect(seen[0]!.message).to.include(subject.owner).and.include(`\`${typo}\``).and.include(`Did you mean \`${meant}\``);
      });
    });
  }

  it('warns about a name far from every option without a guess', () => {
    expect(closestOption('colour', ['rpcTimeoutMs', 'backups'])).to.equal(undefined);
    expect(closestOption('BACKUPS', ['rpcTimeoutMs', 'backups'])).to.equal('backups');
  });

  it('says ReplicatedMap has no `backups` (every member holds a copy)', async () => {
    const seen = await warnings(async () => {
      new ReplicatedMap({ name: 'r', transport: transport(), backups: 2 } as never);
      await Promise.resolve();
    });
    expect(seen.map((w) => w.message)).to.deep.equal(['ReplicatedMap has no option `backups`; it is ignored']);
  });

  it('refuses a bad map option before the map touches its transport', () => {
    const t = transport();
    const listeners = (): number => t.eventNames().reduce((n, e) => n + t.listenerCount(e), 0);
    const before = listeners();
    expect(() => new LazyReplicatedMap({ name: 'm', transport: t, rpcTimeoutMs: -1 })).to.throw(RangeError, 'LazyReplicatedMap option `rpcTimeoutMs`');
    expect(listeners()).to.equal(before);
    expect(t.peers()).to.deep.equal([]);
  });

  it('rejects a call with timeoutMs -1 instead of resolving [] at once, whatever the mode', async () => {
    for (const mode of ['first', 'majority', 'all', 'none'] as const) {
      const error = await outcome(() => caller.call('hi', { mode, timeoutMs: -1 }));
      expect(error, mode).to.be.instanceOf(RangeError);
    }
  });

  it('refuses options that are not an object, naming the class', async () => {
    expect(await outcome(() => new LazyReplicatedMap(undefined as never))).to.be.instanceOf(TypeError).with.property('message').that.includes('LazyReplicatedMap needs an options object');
    expect(await outcome(() => new TcpTransport('a' as never))).to.be.instanceOf(TypeError).with.property('message').that.includes('TcpTransport');
    expect(await outcome(() => caller.call('hi', 5 as never))).to.be.instanceOf(TypeError).with.property('message').that.includes('RpcChannel.call');
  });

  it('checks the transport and handler of an RpcChannel', () => {
    expect(() => new RpcChannel({} as never, 'x')).to.throw(TypeError, 'RpcChannel option `transport`');
    expect(() => new RpcChannel(transport(), 'x', 'reply' as never)).to.throw(TypeError, 'RpcChannel option `handler`');
  });

  it('checks the targets of stopOnSignals', () => {
    expect(() => stopOnSignals([{}] as never, { exit: false })).to.throw(TypeError, '`targets`');
  });
});
