/**
 * Delta replication on an unreliable order of delivery: a primary changes a DeltaValue and
 * replicates (diffs, whole values, access notices) without waiting, on a network that reorders
 * and duplicates frames as fast-check chooses. Diffs that overtake their base are refused and
 * repaired with the whole value; once the network is settled every member reads what the primary
 * last replicated.
 *
 * @module
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { InMemoryNetwork, LazyReplicatedMap, ValueCodec, type DeltaValue } from '../lib/index.js';
import { assertConverged } from '../spec/map/invariants.js';
import { DIFFS_BOUND_GROWTH } from '../lib/map/delta-value.js';
import { QUICK_RUNS, holds } from './settings.js';

/** Named numeric fields, recording the ones changed since the last reset. */
class Fields implements DeltaValue {
  values: Record<string, number> = {};
  private readonly changed = new Set<string>();

  put(name: string, n: number): void {
    this.values[name] = n;
    this.changed.add(name);
  }

  isDirty(): boolean {
    return this.changed.size > 0;
  }

  getDiff(): unknown {
    return [...this.changed].map((name) => [name, this.values[name]]);
  }

  applyDiff(diff: unknown): void {
    for (const [name, n] of diff as [string, number][]) this.values[name] = n;
  }

  resetDiff(): void {
    this.changed.clear();
  }
}
ValueCodec.register(40_902, Fields, (f) => f.values, (data) => Object.assign(new Fields(), { values: data as Record<string, number> }));

/**
 * Fields whose diffs bound their growth (a diff `[[name, n], ...]` carries each field it sets, as
 * the encoded map does, plus a list header), so that their primary logs diffs and rebuilds its
 * bytes when a holder refuses a diff (lib/map/replay-log.ts). Counts its whole encodes.
 */
class LoggedFields extends Fields {
  static encodes = 0;
  get [DIFFS_BOUND_GROWTH](): true {
    return true;
  }
}
ValueCodec.register(
  40_904,
  LoggedFields,
  (f) => {
    LoggedFields.encodes++;
    return f.values;
  },
  (data) => Object.assign(new LoggedFields(), { values: data as Record<string, number> }),
);

/** Change a field; replicate (`true`: complete) without waiting; let the network run some rounds. */
type Op = { readonly put: string; readonly n: number } | { readonly replicate: boolean } | { readonly turns: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ put: fc.constantFrom('x', 'y', 'z'), n: fc.integer({ min: 0, max: 99 }) }),
  fc.record({ replicate: fc.boolean() }),
  fc.record({ turns: fc.integer({ min: 1, max: 3 }) }),
);

/** One turn of the event loop: one delivery round of the in-memory network. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const IDS = ['a', 'b', 'c', 'd'];

describe('delta replication properties', function () {
  this.timeout(120_000);

  it('logs the diffs of a value whose diffs bound its growth, instead of encoding it whole (the check that the properties below exercise the replay log)', async () => {
    const net = new InMemoryNetwork({ seed: 1 });
    const maps = IDS.slice(0, 2).map((id) => new LazyReplicatedMap<string>({ name: 'p', transport: net.transport(id) }));
    try {
      for (const m of maps) await m.start();
      await net.settled();
      const value = new LoggedFields();
      value.put('x', 0);
      await maps[0]!.set('k', value);
      const before = LoggedFields.encodes;
      value.put('x', 1);
      await maps[0]!.replicate('k');
      expect(LoggedFields.encodes - before).to.equal(0);
    } finally {
      for (const m of maps) await m.stop({ discard: true });
      await net.settled();
    }
  });

  for (const [backups, Value] of [[1, Fields], [2, Fields], [1, LoggedFields], [2, LoggedFields]] as const) {
    const kind = Value === LoggedFields ? ', the primary logging its diffs' : '';
    it(`converges on the primary's last replicated value through reordered, duplicated diffs (backups: ${backups}${kind})`, async () => {
      await holds(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 1_000_000 }),
          fc.boolean(),
          fc.double({ min: 0, max: 0.3, noNaN: true }),
          fc.array(op, { minLength: 1, maxLength: 40 }),
          async (netSeed, reorder, duplicateRate, ops) => {
            const net = new InMemoryNetwork({ seed: netSeed, reorder, duplicateRate, delay: { min: 0, max: 2 } });
            const maps = IDS.map((id) => new LazyReplicatedMap<string>({ name: 'p', transport: net.transport(id), backups }));
            try {
              for (const m of maps) await m.start();
              await net.settled();
              const primary = maps[0]!;
              const value = new Value();
              value.put('x', 0);
              await primary.set('k', value);
              const pending: Promise<void>[] = [];
              for (const o of ops) {
                if ('put' in o) value.put(o.put, o.n);
                else if ('replicate' in o) pending.push(primary.replicate('k', o.replicate));
                else for (let i = 0; i < o.turns; i++) await turn();
              }
              pending.push(primary.replicate('k'));
              const expected = { ...value.values };
              await Promise.all(pending);
              await net.settled();

              assertConverged(maps, IDS, backups);
              expect(primary.entryInfo('k')?.role).to.equal('primary');
              for (const m of maps) {
                const read = (await m.get('k', { promote: false })) as Fields;
                expect(read, `on '${m.id}'`).to.be.instanceOf(Value);
                expect(read.values, `on '${m.id}'`).to.deep.equal(expected);
              }
            } finally {
              for (const m of maps) if (m.state === 'running') await m.stop({ discard: true });
              await net.settled();
            }
          },
        ),
        QUICK_RUNS,
      );
    });
  }
});
