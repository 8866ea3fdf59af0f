import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { LazyReplicatedMap } from '../../lib/index.js';
import type { Transport } from '../../lib/index.js';
import { assertConverged } from './invariants.js';

/** The in-test "network": a registry of live members and a count of deliveries not yet made. */
class Hub {
  readonly live = new Map<string, HubTransport>();
  pending = 0;

  /** Runs `fn` in a later turn of the event loop, in the order scheduled. */
  later(fn: () => void): void {
    this.pending++;
    setImmediate(() => {
      this.pending--;
      fn();
    });
  }

  /** Resolves once no delivery is pending for two turns in a row. */
  async settled(): Promise<void> {
    for (let quiet = 0; quiet < 2; ) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      quiet = this.pending === 0 ? quiet + 1 : 0;
    }
  }
}

/** A user's transport written against the documented interface only, on `node:events`. */
class HubTransport extends EventEmitter implements Transport {
  constructor(readonly id: string, private readonly hub: Hub) {
    super();
  }

  start(): Promise<void> {
    if (this.hub.live.has(this.id)) return Promise.resolve();
    for (const peer of this.hub.live.values()) {
      this.hub.later(() => peer.emit('peerUp', this.id));
      this.hub.later(() => this.emit('peerUp', peer.id));
    }
    this.hub.live.set(this.id, this);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (!this.hub.live.delete(this.id)) return Promise.resolve();
    for (const peer of this.hub.live.values()) this.hub.later(() => peer.emit('peerDown', this.id));
    this.emit('close');
    return Promise.resolve();
  }

  peers(): string[] {
    return this.hub.live.has(this.id) ? [...this.hub.live.keys()].filter((id) => id !== this.id).sort() : [];
  }

  send(to: string, frame: Uint8Array): Promise<void> {
    const target = this.hub.live.get(to);
    if (!this.hub.live.has(this.id) || target === undefined || to === this.id) {
      return Promise.reject(new Error(`member '${to}' is not reachable from '${this.id}'`));
    }
    const copy = frame.slice();
    this.hub.later(() => {
      if (this.hub.live.get(to) === target) target.emit('message', this.id, copy);
    });
    return Promise.resolve();
  }
}

describe('LazyReplicatedMap on a hand-written Transport', () => {
  const IDS = ['a', 'b', 'c'];
  let hub: Hub;
  let maps: Record<string, LazyReplicatedMap<string>>;

  beforeEach(async () => {
    hub = new Hub();
    maps = {};
    for (const id of IDS) {
      maps[id] = new LazyReplicatedMap<string, unknown>({ name: 'custom', transport: new HubTransport(id, hub) });
      await maps[id].start();
    }
    await hub.settled();
  });

  afterEach(async () => {
    for (const m of Object.values(maps)) if (m.state === 'running') await m.stop({ discard: true });
    await hub.settled();
  });

  it('forms one map of three members', () => {
    for (const id of IDS) expect(maps[id]!.members()).to.deep.equal(IDS);
  });

  it('places, reads, promotes and deletes entries across the members', async () => {
    await maps.a!.set('k', { n: 1, when: new Date(0) });
    await hub.settled();
    assertConverged(Object.values(maps), IDS, 1);
    const backup = maps.a!.entryInfo('k')?.backups[0] as string;
    const proxy = IDS.find((id) => id !== 'a' && id !== backup) as string;
    expect(maps[proxy]!.entryInfo('k')?.role).to.equal('proxy');

    // A proxy fetches over the custom transport and becomes primary.
    expect(await maps[proxy]!.get('k')).to.deep.equal({ n: 1, when: new Date(0) });
    await hub.settled();
    expect(maps[proxy]!.entryInfo('k')?.role).to.equal('primary');
    assertConverged(Object.values(maps), IDS, 1);

    // A backup promotes itself from its own copy.
    const newBackup = maps[proxy]!.entryInfo('k')?.backups[0] as string;
    expect(await maps[newBackup]!.get('k')).to.deep.equal({ n: 1, when: new Date(0) });
    await hub.settled();
    expect(maps[newBackup]!.entryInfo('k')?.role).to.equal('primary');
    assertConverged(Object.values(maps), IDS, 1);

    await maps.b!.set('k', 'overwritten');
    await hub.settled();
    for (const id of IDS) expect(await maps[id]!.get('k', { promote: false })).to.equal('overwritten');

    expect(await maps.c!.delete('k')).to.equal(true);
    await hub.settled();
    for (const id of IDS) expect(maps[id]!.has('k'), `'${id}' has k`).to.equal(false);
  });

  it('keeps every value when a member leaves, and stops that member\'s transport', async () => {
    for (let i = 0; i < 12; i++) await maps[IDS[i % 3]!]!.set(`k${i}`, i);
    await hub.settled();
    const leaving = maps.b!;
    await leaving.stop();
    await hub.settled();
    expect(hub.live.has('b'), "the map was the transport's only user").to.equal(false);
    assertConverged([maps.a!, maps.c!], ['a', 'c'], 1);
    for (let i = 0; i < 12; i++) expect(await maps.c!.get(`k${i}`)).to.equal(i);
  });
});
