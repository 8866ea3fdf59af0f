import { expect } from 'chai';
import fc from 'fast-check';
import { chunked } from '../../lib/map/message-size.js';
import { holds } from '../../property-tests/settings.js';

describe('chunked', () => {
  it('splits a list into runs within the size limit, in order, losing nothing; an oversize item goes alone', async () => {
    await holds(
      fc.property(fc.array(fc.nat(300)), fc.integer({ min: 1, max: 500 }), (sizes, max) => {
        const runs = chunked(sizes, (s) => s, max);
        expect(runs.flat()).to.deep.equal(sizes);
        for (const run of runs) {
          expect(run.length).to.be.greaterThan(0);
          const total = run.reduce((a, b) => a + b, 0);
          if (run.length > 1) expect(total).to.be.at.most(max);
        }
      }),
      200,
    );
  });

  it('sends nothing for nothing', () => {
    expect(chunked([], () => 1)).to.deep.equal([]);
  });
});
