import { expect } from 'chai';
import { SnapshotError } from '../../../lib/errors.js';
import type { Removal } from '../../../lib/codec/map-messages.js';
import { Entry } from '../../../lib/map/entry.js';
import { MapSnapshot, type SnapshotParts, type SnapshotState } from '../../../lib/map/map-snapshot.js';
import type { SnapshotReport } from '../../../lib/map/map-options.js';
import type { SnapshotRetireReason, SnapshotStore } from '../../../lib/snapshot/snapshot-store.js';
import { Calls, fakeContext } from './fakes.js';

/** A snapshot store in memory: what was written, and the reasons it was set aside for. */
class MemoryStore implements SnapshotStore {
  readonly location = 'memory:m';
  bytes: Uint8Array[] | undefined;
  readonly retired: SnapshotRetireReason[] = [];
  failWrites = false;

  read(): Promise<Iterable<Uint8Array> | undefined> {
    return Promise.resolve(this.bytes);
  }

  async write(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.failWrites) throw new Error('disk full');
    const bytes: Uint8Array[] = [];
    for await (const chunk of chunks) bytes.push(chunk);
    this.bytes = bytes;
  }

  retire(reason: SnapshotRetireReason): Promise<boolean> {
    const had = this.bytes !== undefined;
    this.retired.push(reason);
    this.bytes = undefined;
    return Promise.resolve(had);
  }
}

/** A MapSnapshot for member 'a' with `others` live, on `store`, its reconciler and publisher recorded. */
function build(store: MemoryStore, others: string[] = []) {
  const fake = fakeContext('a', others);
  const calls = new Calls();
  const parts: SnapshotParts = {
    reconciler: {
      applyRemoval: (removal: Removal, origin) => {
        calls.record('applyRemoval', removal.key, origin);
        fake.ctx.tombstones.add(removal.key, removal.version);
        return true;
      },
      applyPlacement: (placement, _bytes, origin) => {
        calls.record('applyPlacement', placement.key, origin);
        return false;
      },
    },
    publisher: { publishAll: (entries: readonly Entry[]) => calls.done('publishAll', entries.map((e) => e.key)) },
  };
  const state: SnapshotState = fake.ctx;
  return { snapshot: new MapSnapshot(state, parts, store), calls, fake };
}

/** An entry owned by 'a' with value `byte`. */
function owned(key: string, byte: number): Entry {
  const entry = new Entry(key, 'primary', [1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array([byte]));
  entry.lastAccess = 1000;
  return entry;
}

const reports = (raised: Array<[string, ...unknown[]]>) => raised.filter(([event]) => event === 'snapshot').map(([, r]) => r as SnapshotReport);

describe('MapSnapshot (alone, on fakes)', () => {
  it('writes what the last member out holds, without expired entries, with its deletes', async () => {
    const store = new MemoryStore();
    const { snapshot, fake } = build(store);
    fake.ctx.entries.set('k', owned('k', 1));
    const gone = owned('old', 2);
    gone.expiresAt = 500;
    fake.ctx.entries.set('old', gone);
    fake.ctx.tombstones.add('d', [1, 'a', 0, 'a']);
    await snapshot.save();
    expect(store.bytes).to.not.equal(undefined);
    const written = reports(fake.raised);
    expect(written).to.have.length(1);
    expect(written[0]).to.deep.include({ action: 'written', entries: 1, tombstones: 1, location: 'memory:m' });
  });

  it('loads it into a lone member as its own primaries, applies its deletes, and sets it aside', async () => {
    const store = new MemoryStore();
    const writer = build(store);
    writer.fake.ctx.entries.set('k', owned('k', 7));
    writer.fake.ctx.tombstones.add('d', [1, 'a', 0, 'a']);
    await writer.snapshot.save();

    const { snapshot, calls, fake } = build(store);
    await snapshot.restore();
    const loaded = fake.ctx.entries.get('k');
    expect(loaded?.role).to.equal('primary');
    expect(loaded?.primary).to.equal('a');
    expect([...(loaded?.bytes ?? [])]).to.deep.equal([7]);
    expect(calls.list).to.deep.equal([['applyRemoval', 'd', 'local']]);
    expect(store.retired).to.deep.equal(['loaded']);
    expect(store.bytes, 'never loaded twice').to.equal(undefined);
    expect(fake.raised.map(([event]) => event)).to.deep.equal(['entrySet', 'snapshot']);
    expect(reports(fake.raised)[0]).to.deep.include({ action: 'loaded', entries: 1, tombstones: 1, expired: 0 });
  });

  it('leaves out the entries that expired while the map was down', async () => {
    const store = new MemoryStore();
    const writer = build(store);
    const session = owned('s', 1);
    session.maxIdleMs = 5000;
    writer.fake.ctx.entries.set('s', session);
    await writer.snapshot.save();
    const { snapshot, fake } = build(store);
    fake.clock.now += 10_000;
    await snapshot.restore();
    expect(fake.ctx.entries.has('s')).to.equal(false);
    expect(reports(fake.raised)[0]).to.deep.include({ action: 'loaded', entries: 0, expired: 1 });
  });

  it('sets the snapshot aside unread when the member starts with peers (their state is newer)', async () => {
    const store = new MemoryStore();
    const writer = build(store);
    writer.fake.ctx.entries.set('k', owned('k', 1));
    await writer.snapshot.save();
    const { snapshot, fake, calls } = build(store, ['b']);
    await snapshot.restore();
    expect(fake.ctx.entries.has('k')).to.equal(false);
    expect(calls.list).to.deep.equal([]);
    expect(store.retired).to.deep.equal(['ignored']);
    expect(reports(fake.raised)[0]).to.deep.include({ action: 'ignored', entries: 0 });
  });

  it('reports a damaged snapshot as a SnapshotError, sets it aside as rejected, and starts without it', async () => {
    const store = new MemoryStore();
    store.bytes = [new Uint8Array([1, 2, 3, 4, 5])];
    const { snapshot, fake } = build(store);
    await snapshot.restore();
    expect(fake.raised.map(([event]) => event)).to.deep.equal(['error']);
    expect(fake.raised[0]?.[1]).to.be.instanceOf(SnapshotError);
    expect(store.retired).to.deep.equal(['rejected']);
    expect(fake.ctx.entries.size).to.equal(0);
  });

  it('throws a SnapshotError naming the store when it cannot write', async () => {
    const store = new MemoryStore();
    store.failWrites = true;
    const { snapshot, fake } = build(store);
    fake.ctx.entries.set('k', owned('k', 1));
    let error: unknown;
    await snapshot.save().catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(SnapshotError);
    expect((error as SnapshotError).message).to.contain('memory:m');
  });
});
