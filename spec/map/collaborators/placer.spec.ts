import { expect } from 'chai';
import { Entry } from '../../../lib/map/entry.js';
import { Interner } from '../../../lib/map/interner.js';
import { Placer, sameMembers } from '../../../lib/map/placer.js';
import type { Version } from '../../../lib/map/version.js';

/** A placer for member 'a' over a member view the spec sets. */
function placer(live: string[], leaving: string[] = [], wanted = 1): Placer {
  const members = {
    has: (id: string) => live.includes(id),
    isLeaving: (id: string) => leaving.includes(id),
    candidates: () => live.filter((m) => !leaving.includes(m)).sort(),
  };
  return new Placer({ id: 'a', members, interner: new Interner(), wanted: () => wanted });
}

const V: Version = [3, 'a', 1, 'a'];

describe('Placer (alone, on a fake member view)', () => {
  it('keeps the live backups, drops the gone and the leaving ones, and refills to the number wanted', () => {
    const p = placer(['b', 'c', 'd'], ['c'], 2);
    const chosen = p.backups(['x', 'c', 'b']);
    expect(chosen[0]).to.equal('b');
    expect(chosen).to.have.length(2);
    expect(chosen).to.not.include.members(['x', 'c']);
    expect(p.backups([], 2, new Set(['b']))).to.deep.equal(['d']);
  });

  it('keeps as they are the backups of an entry that has enough, all live and staying, and replaces a leaving one', () => {
    const p = placer(['b', 'c', 'd'], [], 1);
    expect(p.backups([])).to.deep.equal(['b']);
    // Nothing to choose: the list itself (interned), and the round-robin does not move.
    const kept = p.backups(['c']);
    expect(kept).to.deep.equal(['c']);
    expect(p.backups(['c'])).to.equal(kept);
    expect(p.backups([]), 'the next choice continues after b').to.deep.equal(['c']);
    // As many as wanted, but one is leaving: it goes, and another is chosen in its place.
    expect(placer(['b', 'c', 'd'], ['c'], 2).backups(['b', 'c'])).to.deep.equal(['b', 'd']);
    // As many as wanted, but one is gone.
    expect(placer(['b', 'd'], [], 2).backups(['b', 'c'])).to.deep.equal(['b', 'd']);
  });

  it('places an entry again: backups chosen again and a new placement of the same value', () => {
    const e = new Entry('k', 'primary', V, 'a', ['gone']);
    placer(['b']).again(e);
    expect(e.backups).to.deep.equal(['b']);
    expect(e.version).to.deep.equal([3, 'a', 2, 'a']);
    expect(e.sameWrite(V)).to.equal(true);
  });

  it('versions a change in place as an update, and as a new placement too when the backups change', () => {
    const same = new Entry('k', 'primary', V, 'a', ['b']);
    placer(['b']).update(same);
    expect(same.version).to.deep.equal([3, 'a', 1, 'a', 1, 'a']);
    const moved = new Entry('k', 'primary', V, 'a', ['gone']);
    placer(['b']).update(moved);
    expect(moved.backups).to.deep.equal(['b']);
    expect(moved.version).to.deep.equal([3, 'a', 2, 'a', 1, 'a']);
  });

  it('compares lists of members by their order', () => {
    expect(sameMembers(['a', 'b'], ['a', 'b'])).to.equal(true);
    expect(sameMembers(['a', 'b'], ['b', 'a'])).to.equal(false);
  });
});
