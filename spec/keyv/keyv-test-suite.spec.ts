import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import Keyv from 'keyv';
import Keyv6 from 'keyv6';
import { EventEmitter } from 'eventemitter3';
import { InMemoryNetwork, LazyReplicatedMap } from '../../lib/index.js';
import { KeyvStore, type KeyvStoreEntry } from '../../lib/keyv/index.js';
import { vitestShim } from './vitest-shim.js';

type KeyvClass = Parameters<typeof keyvTestSuite>[1];
type Suite = Parameters<typeof keyvTestSuite>[0];

const IDS = ['a', 'b', 'c'];

/**
 * One store for Keyv whose every call goes to the next member's {@link KeyvStore} in turn, so
 * each `set` is read back (or deleted, or cleared) through another member: the official suite
 * then checks read-your-writes across members, without any `settled()`.
 */
class RoamingStore extends EventEmitter {
  namespace: string | undefined;
  readonly opts: KeyvStore['opts'];
  private turn = 0;
  constructor(private readonly stores: KeyvStore[]) {
    super();
    this.opts = stores[0]!.opts;
    for (const s of stores) s.on('error', (e) => this.emit('error', e));
  }
  private next(): KeyvStore {
    const store = this.stores[this.turn++ % this.stores.length]!;
    store.namespace = this.namespace;
    return store;
  }
  async get(key: string): Promise<unknown> { return this.next().get(key); }
  async getMany(keys: string[]): Promise<unknown[]> { return this.next().getMany(keys); }
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> { return this.next().set(key, value, ttl); }
  async setMany(entries: KeyvStoreEntry[]): Promise<boolean[]> { return this.next().setMany(entries); }
  async delete(key: string): Promise<boolean> { return this.next().delete(key); }
  async deleteMany(keys: string[]): Promise<boolean> { return this.next().deleteMany(keys); }
  async has(key: string): Promise<boolean> { return this.next().has(key); }
  async hasMany(keys: string[]): Promise<boolean[]> { return this.next().hasMany(keys); }
  async clear(): Promise<void> { return this.next().clear(); }
  async *iterator(namespace?: string): AsyncGenerator<[string, unknown], void> { yield* this.next().iterator(namespace); }
  async disconnect(): Promise<void> { await Promise.all(this.stores.map((s) => s.disconnect())); }
}

/**
 * Tests of @keyv/test-suite 2.1.2 (written for Keyv 5) that fail on Keyv 6 whatever the store:
 * checked against Keyv 6's own in-memory store (`new Keyv6()`), which fails them the same way.
 */
const KEYV6_API_CHANGES = new Map<string, string>([
  ['.deleteMany([keys]) with nonexistent keys resolves to false', 'Keyv 6 resolves keyv.delete([keys]) to one boolean per key, [false, false, false], which is truthy'],
]);

for (const [major, KeyvOfMajor, skip] of [
  ['Keyv 5', Keyv, new Map<string, string>()],
  ['Keyv 6', Keyv6 as unknown as KeyvClass, KEYV6_API_CHANGES],
] as const) {
  describe(`KeyvStore passes @keyv/test-suite with ${major} on a three-member in-memory cluster`, () => {
    let net: InMemoryNetwork;
    let maps: LazyReplicatedMap<string>[] = [];
    let stores: KeyvStore[] = [];
    before(async () => {
      net = new InMemoryNetwork({ seed: 13 });
      maps = IDS.map((id) => new LazyReplicatedMap<string, unknown>({ name: 'keyv', transport: net.transport(id) }));
      await Promise.all(maps.map((m) => m.start()));
      await net.settled();
    });
    after(async () => {
      for (const s of stores) await s.disconnect();
      stores = [];
      for (const m of maps) await m.stop({ discard: true });
    });
    const store = (): RoamingStore => {
      const members = maps.map((map) => new KeyvStore({ map }));
      stores.push(...members);
      return new RoamingStore(members);
    };
    const test = vitestShim(skip) as unknown as Suite;
    keyvTestSuite(test, KeyvOfMajor, store);
    // Keyv 5 iterates only stores of the dialects it knows (SQL, Mongo, Redis, etcd); Keyv 6 any.
    if (major === 'Keyv 6') keyvIteratorTests(test, KeyvOfMajor, store);
  });
}
