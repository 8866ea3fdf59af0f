/**
 * Model-based properties of LazyReplicatedMap (backups 1 and 2) and ReplicatedMap.
 * Short pass in `npm test`; long pass with `npm run test:property` (FC_NUM_RUNS=200).
 */
import fc from 'fast-check';
import { commands, networkSettings, setup, teardown } from './map-model.js';
import { QUICK_RUNS, holds } from './settings.js';

function modelProperty(kind: 'lazy' | 'replicated', backups: number, faults: boolean, lossy = false, time = false): fc.IAsyncPropertyWithHooks<[{ seed: number; reorder: boolean; duplicateRate: number; members: number }, Iterable<fc.AsyncCommand<never, never>>]> {
  return fc.asyncProperty(networkSettings, commands({ faults, lossy, time }) as fc.Arbitrary<Iterable<fc.AsyncCommand<never, never>>>, async (settings, cmds) => {
    const { model, real } = await setup(kind, backups, settings, lossy);
    try {
      await fc.asyncModelRun(() => ({ model, real }) as never, cmds);
    } finally {
      await teardown(real);
    }
  });
}

describe('LazyReplicatedMap against a Map model', function () {
  this.timeout(600_000);

  it('keeps every acknowledged write through operations alone (backups: 1)', async () => {
    await holds(modelProperty('lazy', 1, false), QUICK_RUNS);
  });

  it('keeps every acknowledged write through crashes, stops, joins, partitions and heals (backups: 1)', async () => {
    await holds(modelProperty('lazy', 1, true), QUICK_RUNS);
  });

  it('keeps every acknowledged write through crashes, stops, joins, partitions and heals (backups: 2)', async () => {
    await holds(modelProperty('lazy', 2, true), QUICK_RUNS);
  });

  it('expires entries at their time to live on every member, through crashes, stops, joins, partitions and heals', async () => {
    await holds(modelProperty('lazy', 1, true, false, true), QUICK_RUNS);
  });
});

describe('LazyReplicatedMap under any crashes (writes may be lost)', function () {
  this.timeout(600_000);

  it('never resurrects a deleted key, never goes back to an older value, and keeps one primary per key', async () => {
    await holds(modelProperty('lazy', 1, true, true), QUICK_RUNS);
  });
});

describe('ReplicatedMap against a Map model', function () {
  this.timeout(600_000);

  it('keeps every acknowledged write through crashes, stops, joins, partitions and heals', async () => {
    await holds(modelProperty('replicated', 0, true), QUICK_RUNS);
  });

  it('expires entries at their time to live on every member, through crashes, stops, joins, partitions and heals', async () => {
    await holds(modelProperty('replicated', 0, true, false, true), QUICK_RUNS);
  });
});
