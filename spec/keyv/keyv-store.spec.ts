import { expect } from 'chai';
import Keyv from 'keyv';
import Keyv6 from 'keyv6';
import { InMemoryNetwork, LazyReplicatedMap, StoppedError, type ExpiryTimers } from '../../lib/index.js';
import { KeyvStore } from '../../lib/keyv/index.js';

/** A clock and interval timers the test moves by hand. */
class FakeTime implements ExpiryTimers {
  time = 1_000_000;
  private readonly callbacks = new Set<() => void>();
  readonly now = (): number => this.time;
  setInterval(callback: () => void): unknown {
    this.callbacks.add(callback);
    return callback;
  }
  clearInterval(handle: unknown): void {
    this.callbacks.delete(handle as () => void);
  }
  get pending(): number {
    return this.callbacks.size;
  }
  /** Moves the clock to `at` and runs every interval timer once: one sweep round. */
  fire(at: number): void {
    this.time = at;
    for (const callback of [...this.callbacks]) callback();
  }
}

const IDS = ['a', 'b', 'c'];

describe('KeyvStore', () => {
  let net: InMemoryNetwork;
  let time: FakeTime;
  let maps: Record<string, LazyReplicatedMap<string>>;

  beforeEach(async () => {
    net = new InMemoryNetwork({ seed: 7 });
    time = new FakeTime();
    maps = {};
    for (const id of IDS) maps[id] = new LazyReplicatedMap<string>({ name: 'keyv', transport: net.transport(id), now: time.now, timers: time });
    await Promise.all(Object.values(maps).map((m) => m.start()));
    await net.settled();
  });
  afterEach(async () => {
    for (const m of Object.values(maps)) if (m.state === 'running') await m.stop({ discard: true });
    expect(time.pending, 'expiry timers left behind').to.equal(0);
  });

  function keyv(id: string, namespace = 'keyv'): Keyv {
    return new Keyv({ store: new KeyvStore({ map: maps[id]! }), namespace });
  }

  it('keeps ttl in the map: after one sweep, 100 expired keys are gone from every member, none of them read', async () => {
    const writer = keyv('a');
    for (let i = 0; i < 100; i++) await writer.set(`k${i}`, { i }, 5_000);
    for (const id of IDS) expect(maps[id]!.size, `keys on '${id}' before expiry`).to.equal(100);
    expect(maps.b!.has('keyv:keyv:k0'), 'Keyv 5 prefixes keys itself, the store once more').to.equal(true);

    time.fire(time.time + 5_001);
    await net.settled();
    for (const id of IDS) expect(maps[id]!.size, `keys on '${id}' after one sweep`).to.equal(0);
  });

  it('writes without ttl never expire', async () => {
    await keyv('a').set('forever', 1);
    time.fire(time.time + 365 * 24 * 3600_000);
    await net.settled();
    expect(await keyv('c').get('forever')).to.equal(1);
  });

  it('reads a write through any other member at once (read-your-writes), with Keyv 5 and Keyv 6', async () => {
    await keyv('a').set('x', 'one');
    expect(await keyv('b').get('x')).to.equal('one');
    const k6 = new Keyv6({ store: new KeyvStore({ map: maps.c! }), namespace: 'six' });
    await k6.set('y', 'two');
    expect(await new Keyv6({ store: new KeyvStore({ map: maps.a! }), namespace: 'six' }).get('y')).to.equal('two');
    expect(maps.b!.has('six:y'), 'Keyv 6 leaves namespacing to the store: <namespace>:<key>').to.equal(true);
  });

  it('clears only its namespace, on every member', async () => {
    await keyv('a', 'one').set('k', 1);
    await keyv('b', 'two').set('k', 2);
    await maps.c!.set('unrelated', 3);
    await keyv('c', 'one').clear();
    for (const id of IDS) expect([...maps[id]!.keys()].sort(), `keys on '${id}'`).to.deep.equal(['two:two:k', 'unrelated']);
    expect(await keyv('a', 'two').get('k')).to.equal(2);
  });

  it('iterates its namespace without promoting anything, values as Keyv stored them', async () => {
    const store = new KeyvStore({ map: maps.a!, namespace: 'ns' });
    await store.set('p', 'stored-as-given');
    await new KeyvStore({ map: maps.b!, namespace: 'other' }).set('q', 'elsewhere');
    const reader = new KeyvStore({ map: maps.c!, namespace: 'ns' });
    const seen: [string, unknown][] = [];
    for await (const pair of reader.iterator()) seen.push(pair);
    expect(seen).to.deep.equal([['p', 'stored-as-given']]);
    expect(maps.c!.entryInfo('ns:p')?.role, 'no promotion').to.equal('proxy');
    expect(maps.c!.stats().promotions).to.equal(0);
  });

  it('stores any value the codec encodes as given (raw values, not only strings)', async () => {
    const store = new KeyvStore({ map: maps.a! });
    const value = { at: new Date(0), bytes: Buffer.from('hi'), big: 2n ** 70n };
    await store.set('raw', value);
    expect(await new KeyvStore({ map: maps.b! }).get('raw')).to.deep.equal(value);
  });

  it('forwards map errors to its error event', () => {
    const store = new KeyvStore({ map: maps.a! });
    const seen: Error[] = [];
    store.on('error', (e) => seen.push(e));
    const fault = new Error('peer fault');
    maps.a!.emit('error', fault);
    expect(seen).to.deep.equal([fault]);
  });

  it('rejects calls after the map stopped with the map’s StoppedError', async () => {
    const store = new KeyvStore({ map: maps.a! });
    store.on('error', () => undefined);
    await maps.a!.stop();
    for (const call of [() => store.get('k'), () => store.set('k', 1), () => store.delete('k'), () => store.has('k'), () => store.clear()]) {
      const error = await call().then(() => undefined, (e: unknown) => e);
      expect(error).to.be.instanceOf(StoppedError);
    }
  });

  it('lets a Keyv 5 app hear that the map stopped: one StoppedError on its error event, a rejection with throwOnErrors', async () => {
    const k = keyv('a');
    await k.set('x', 1);
    const heard: unknown[] = [];
    k.on('error', (e: unknown) => heard.push(e));
    await maps.a!.stop();
    // Keyv 5 answers a store's failed get with undefined, without an event of its own.
    expect(await k.get('x')).to.equal(undefined);
    expect(await k.get('y')).to.equal(undefined);
    expect(heard).to.have.length(1);
    expect(heard[0]).to.be.instanceOf(StoppedError);
    expect((heard[0] as Error).message).to.include("member 'a'").and.include('stopped');

    const strict = new Keyv({ store: new KeyvStore({ map: maps.a! }), namespace: 'keyv', throwOnErrors: true });
    strict.on('error', () => undefined);
    expect(await strict.get('x').then(() => undefined, (e: unknown) => e)).to.be.instanceOf(StoppedError);
  });

  it('lets a Keyv 6 app hear that the map stopped on its error event', async () => {
    const k6 = new Keyv6({ store: new KeyvStore({ map: maps.b! }), namespace: 'six' });
    await k6.set('x', 1);
    const heard: unknown[] = [];
    k6.on('error', (e: unknown) => heard.push(e));
    await maps.b!.stop();
    expect(await k6.get('x')).to.equal(undefined);
    expect(heard.length).to.be.greaterThan(0);
    for (const e of heard) expect(e).to.be.instanceOf(StoppedError);
  });
});
