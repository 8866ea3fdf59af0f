import { expect } from 'chai';
import { CapacityError } from '../../../lib/errors.js';
import type { MapKey } from '../../../lib/codec/map-messages.js';
import { Capacity, EntryTable, PROXY_METADATA_BYTES, type CapacityHost, type CapacityOptions } from '../../../lib/map/capacity.js';
import { Entry, type EntryRole } from '../../../lib/map/entry.js';
import type { Version } from '../../../lib/map/version.js';

const V: Version = [1, 'a', 0, 'a'];

/** A ledger and its table for member 'a', on a host that records evictions (and applies them, as the delete path would). */
function ledger(options: CapacityOptions = {}, running = true): { capacity: Capacity; table: EntryTable; evicted: Array<[MapKey[], string]> } {
  const capacity = new Capacity(options, 'a');
  const table = new EntryTable(capacity);
  const evicted: Array<[MapKey[], string]> = [];
  const host: CapacityHost = {
    name: 'm',
    id: 'a',
    running: () => running,
    evict: (keys, reason) => {
      evicted.push([keys, reason]);
      for (const key of keys) table.delete(key);
    },
  };
  capacity.attach(host);
  return { capacity, table, evicted };
}

function entry(key: string, role: EntryRole, bytes = 10): Entry {
  return new Entry(key, role, V, role === 'primary' ? 'a' : 'b', [], role === 'proxy' ? undefined : new Uint8Array(bytes));
}

describe('Capacity and EntryTable (alone, on a recording host)', () => {
  it('counts what the table holds by role at every change, without scanning', () => {
    const { capacity, table } = ledger();
    table.set('p', entry('p', 'primary', 10));
    table.set('b', entry('b', 'backup', 20));
    table.set('x', entry('x', 'proxy'));
    expect(capacity.values).to.equal(2);
    expect(capacity.bytes).to.equal(30 + PROXY_METADATA_BYTES + 1);
    expect(capacity.byRole().proxy).to.deep.equal({ entries: 1, bytes: PROXY_METADATA_BYTES + 1 });

    // The entry tells its ledger: a promotion moves its bytes between roles, new bytes resize it.
    const b = table.get('b') as Entry;
    b.role = 'primary';
    expect(capacity.byRole().primary).to.deep.equal({ entries: 2, bytes: 30 });
    expect(capacity.byRole().backup).to.deep.equal({ entries: 0, bytes: 0 });
    b.bytes = new Uint8Array(5);
    expect(capacity.bytes).to.equal(15 + PROXY_METADATA_BYTES + 1);

    table.delete('p');
    table.delete('x');
    expect(capacity.byRole()).to.deep.equal({ primary: { entries: 1, bytes: 5 }, backup: { entries: 0, bytes: 0 }, copy: { entries: 0, bytes: 0 }, proxy: { entries: 0, bytes: 0 } });
    // A removed entry no longer reports to the ledger.
    const p = entry('p', 'primary', 10);
    p.bytes = new Uint8Array(100);
    expect(capacity.bytes).to.equal(5);
  });

  it('counts a diff applied with its encoding deferred at its length, then the bytes once they are encoded (resized)', () => {
    const { capacity, table } = ledger();
    const b = entry('b', 'backup', 20);
    table.set('b', b);
    // A backup applies a 3-byte diff and keeps the decoded value: held until encoded are the old
    // bytes and the diff.
    b.deferEncoding({ grown: true }, () => new Uint8Array(50), 3);
    expect(capacity.bytes).to.equal(23);
    b.deferEncoding({ grown: 'more' }, () => new Uint8Array(50), 4);
    expect(capacity.bytes).to.equal(27);
    // Asking for the bytes encodes the value: the ledger now counts them, and no diff.
    expect(b.bytes?.byteLength).to.equal(50);
    expect(capacity.byRole().backup).to.deep.equal({ entries: 1, bytes: 50 });
    // Encoded once: asking again changes nothing.
    expect(b.bytes?.byteLength).to.equal(50);
    expect(capacity.bytes).to.equal(50);
  });

  it("refuses a new key at maxEntries under 'reject', naming the limit, and accepts updates of held keys", () => {
    const { capacity, table, evicted } = ledger({ maxEntries: 2 });
    table.set('k1', entry('k1', 'primary'));
    table.set('k2', entry('k2', 'backup'));
    let thrown: unknown;
    try {
      capacity.beforeWrite('k3', undefined, 10);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).to.be.instanceOf(CapacityError);
    expect((thrown as Error).message).to.include('maxEntries');
    expect(() => { capacity.beforeWrite('k1', table.get('k1'), 10_000); }).to.not.throw();
    // A proxy is no value held: writing its key is a new value.
    table.set('x', entry('x', 'proxy'));
    expect(() => { capacity.beforeWrite('x', table.get('x'), 10); }).to.throw(CapacityError);
    expect(capacity.stats().rejected).to.equal(2);
    expect(evicted).to.deep.equal([]);
  });

  it('refuses a value larger than maxBytes under any policy: no eviction could make room', () => {
    const { capacity, evicted } = ledger({ maxBytes: 100, evictionPolicy: 'lru' });
    expect(() => { capacity.beforeWrite('big', undefined, 101); }).to.throw(CapacityError, /maxBytes/);
    expect(evicted).to.deep.equal([]);
  });

  it("under 'lru' evicts the least recently used primary before a new key, never a backup", () => {
    const { capacity, table, evicted } = ledger({ maxEntries: 3, evictionPolicy: 'lru' });
    for (const k of ['k1', 'k2', 'k3']) table.set(k, entry(k, k === 'k3' ? 'backup' : 'primary'));
    capacity.used(table.get('k1') as Entry);
    capacity.beforeWrite('k4', undefined, 10);
    // k2 was used least recently among the primaries (k1 used later); k3 is a backup: never a candidate.
    expect(evicted).to.deep.equal([[['k2'], 'maxEntries']]);
    expect(table.has('k3')).to.equal(true);
    expect(capacity.stats().evicted).to.equal(1);
  });

  it("under 'ttl-first' evicts the entry closest to its expiry first", () => {
    const { capacity, table, evicted } = ledger({ maxEntries: 2, evictionPolicy: 'ttl-first' });
    const soon = entry('soon', 'primary');
    const later = entry('later', 'primary');
    soon.expiresAt = 1_000;
    later.expiresAt = 5_000;
    table.set('later', later);
    table.set('soon', soon);
    capacity.used(soon);
    capacity.beforeWrite('new', undefined, 10);
    expect(evicted).to.deep.equal([[['soon'], 'maxEntries']]);
  });

  it('never evicts a key the evictable option exempts, and reports what stays over the limit', async () => {
    const { capacity, table, evicted } = ledger({ maxEntries: 1, evictionPolicy: 'lru', evictable: (key) => key !== 'pinned' });
    table.set('pinned', entry('pinned', 'primary'));
    // A copy arriving over the limit is kept (refusing it would lose redundancy) and counted.
    table.set('copy', entry('copy', 'backup'));
    await Promise.resolve();
    expect(evicted).to.deep.equal([]);
    expect(capacity.stats().overLimit).to.equal(1);
  });

  it('makes room after a change that grew it, once the map runs, and lowering a limit evicts at once', async () => {
    const { capacity, table, evicted } = ledger({ evictionPolicy: 'lru' });
    for (const k of ['k1', 'k2', 'k3']) table.set(k, entry(k, 'primary'));
    capacity.configure({ maxEntries: 1 });
    expect(evicted.map(([keys]) => keys[0])).to.have.members(['k1', 'k2']);
    table.set('k4', entry('k4', 'primary'));
    expect(evicted).to.have.length(2);
    // The pass runs after the change that grew the table is complete (a microtask later).
    await Promise.resolve();
    expect(evicted).to.have.length(3);
    expect(capacity.values).to.equal(1);
  });

  it('evicts nothing while the map does not run', async () => {
    const { capacity, table, evicted } = ledger({ maxEntries: 1, evictionPolicy: 'lru' }, false);
    table.set('k1', entry('k1', 'primary'));
    table.set('k2', entry('k2', 'primary'));
    await Promise.resolve();
    capacity.check();
    expect(evicted).to.deep.equal([]);
  });

  it('forgets everything when the table is cleared', () => {
    const { capacity, table } = ledger({ maxEntries: 5, evictionPolicy: 'lru' });
    table.set('k1', entry('k1', 'primary'));
    table.set('k2', entry('k2', 'backup'));
    table.clear();
    expect(capacity.values).to.equal(0);
    expect(capacity.bytes).to.equal(0);
    expect(() => {
      for (let i = 0; i < 5; i++) capacity.beforeWrite(`n${i}`, undefined, 1);
    }).to.not.throw();
  });
});
