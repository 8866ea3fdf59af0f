import { expect } from 'chai';
import { RecentIds } from '../../lib/rpc/recent-ids.js';

describe('RecentIds (the request ids an RPC channel remembers per peer)', () => {
  it('says an id was seen once it was added, and not before', () => {
    const ids = new RecentIds(4);
    expect(ids.seen(7)).to.equal(false);
    expect(ids.seen(7)).to.equal(true);
    expect(ids.seen(8)).to.equal(false);
    expect(ids.seen(7)).to.equal(true);
  });

  it('forgets the oldest id, one per new id, once it holds as many as its capacity', () => {
    const ids = new RecentIds(3);
    for (const id of [1, 2, 3]) expect(ids.seen(id)).to.equal(false);
    expect(ids.seen(4), 'a fourth id').to.equal(false);
    expect(ids.seen(2), 'the second is still there').to.equal(true);
    expect(ids.seen(3)).to.equal(true);
    expect(ids.seen(4)).to.equal(true);
    expect(ids.seen(1), 'the oldest was forgotten, and is remembered again now').to.equal(false);
    // Remembering 1 again forgot 2, the oldest then.
    expect(ids.seen(3)).to.equal(true);
    expect(ids.seen(2)).to.equal(false);
  });

  it('keeps exactly the last ids over many wraps of its ring', () => {
    const capacity = 5;
    const ids = new RecentIds(capacity);
    for (let id = 1; id <= 1000; id++) expect(ids.seen(id)).to.equal(false);
    for (let id = 996; id <= 1000; id++) expect(ids.seen(id), `id ${id}`).to.equal(true);
    expect(ids.seen(995), 'the last one before them is forgotten').to.equal(false);
  });
});
