import { expect } from 'chai';
import { Membership, type MemberSource } from '../../lib/membership/membership.js';

describe('Membership', () => {
  const source = (peers: string[], joined?: () => Promise<void>): MemberSource => (joined === undefined ? { peers: () => peers } : { peers: () => peers, joined });

  it('lists live members in the order they were added, and sorted', () => {
    const m = new Membership(source([]));
    m.add('c', 'i1');
    m.add('a', 'i2');
    expect(m.ids()).to.deep.equal(['c', 'a']);
    expect(m.sorted()).to.deep.equal(['a', 'c']);
    expect(m.size).to.equal(2);
    expect(m.has('a')).to.equal(true);
    expect(m.incarnation('c')).to.equal('i1');
  });

  it('sorts again after every change', () => {
    const m = new Membership(source([]));
    m.add('b', 'i');
    expect(m.sorted()).to.deep.equal(['b']);
    m.add('a', 'i');
    expect(m.sorted()).to.deep.equal(['a', 'b']);
    expect(m.remove('b')).to.equal(true);
    expect(m.sorted()).to.deep.equal(['a']);
    expect(m.remove('b'), 'not a member any more').to.equal(false);
  });

  it('remembers the incarnation of a member met, after it is gone or all are cleared', () => {
    const m = new Membership(source([]));
    m.add('a', 'i1');
    m.clear();
    expect(m.has('a')).to.equal(false);
    expect(m.sorted()).to.deep.equal([]);
    expect(m.wasMet('a')).to.equal(true);
    expect(m.metIncarnation('a')).to.equal('i1');
    expect(m.wasMet('b')).to.equal(false);
  });

  it('reports the reachable members of its source, map members or not', () => {
    const m = new Membership(source(['x', 'y']));
    expect(m.reachable()).to.deep.equal(['x', 'y']);
  });

  it('has nothing to wait for when the source meets its members at start', () => {
    expect(new Membership(source([])).discovered(1000)).to.equal(undefined);
  });

  it('waits for the source to meet its members', async () => {
    let met = false;
    const m = new Membership(
      source([], async () => {
        await Promise.resolve();
        met = true;
      }),
    );
    await m.discovered(60_000);
    expect(met).to.equal(true);
  });

  it('stops waiting at the deadline when the source never meets its members', async () => {
    const m = new Membership(source([], () => new Promise<void>(() => undefined)));
    let fallback: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      m.discovered(1)?.then(() => 'gave up'),
      new Promise((resolve) => {
        fallback = setTimeout(() => {
          resolve('still waiting');
        }, 5000);
      }),
    ]);
    clearTimeout(fallback);
    expect(outcome).to.equal('gave up');
  });
});
