/**
 * The map's histories checked for linearizability (short pass in `npm test`; the long run is
 * `npm run test:linearizability`, see docs/testing.md), and the mutants the checker must catch.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { seed } from '../settings.js';
import { holds } from '../settings.js';
import { MUTANT_TARGETS, PASSING, linearizableProperty } from './configurations.js';
import { MUTANT_DESCRIPTIONS } from './mutants.js';

/** Histories per configuration in `npm test` (each takes a few milliseconds). */
const QUICK_HISTORIES = 40;

/** Seeds a mutant may take before the checker must have caught it. */
const MUTANT_SEEDS = 30;

describe('Linearizability of the map (Wing–Gong checker over random histories)', function () {
  this.timeout(600_000);

  for (const config of PASSING) {
    it(`every history is linearizable: ${config.name}`, async () => {
      await holds(linearizableProperty(config), QUICK_HISTORIES);
    });
  }
});

describe('Linearizability checker against mutants of the map', function () {
  this.timeout(600_000);

  for (const [mutant, config] of MUTANT_TARGETS) {
    it(`catches the mutant '${mutant}' within ${MUTANT_SEEDS} histories (${MUTANT_DESCRIPTIONS[mutant]})`, async () => {
      // Shrinking is skipped: only that the mutant is caught matters here.
      const result = await fc.check(linearizableProperty(config, mutant), { seed, numRuns: MUTANT_SEEDS, endOnFailure: true });
      expect(result.failed, `mutant '${mutant}' survived ${MUTANT_SEEDS} histories of '${config.name}' (FC_SEED=${seed})`).to.equal(true);
      expect(String(result.errorInstance)).to.contain('history not linearizable');
    });
  }
});
