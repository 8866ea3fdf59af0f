import { expect } from 'chai';
import { BackupSelector } from '../../lib/map/backup-selector.js';

describe('BackupSelector', () => {
  const members = ['b', 'c', 'd', 'e'];

  it('picks distinct members, continuing where the last choice stopped', () => {
    const s = new BackupSelector();
    expect(s.select(members, 2)).to.deep.equal(['b', 'c']);
    expect(s.select(members, 2)).to.deep.equal(['d', 'e']);
    expect(s.select(members, 3)).to.deep.equal(['b', 'c', 'd']);
  });

  it('chooses every member equally often over many choices (within 1)', () => {
    const s = new BackupSelector();
    const counts = new Map<string, number>();
    for (let i = 0; i < 101; i++) for (const m of s.select(members, 1)) counts.set(m, (counts.get(m) ?? 0) + 1);
    const values = [...counts.values()];
    expect(counts.size).to.equal(members.length);
    expect(Math.max(...values) - Math.min(...values)).to.be.at.most(1);
  });

  it('never picks an excluded member, and picks fewer when too few are left', () => {
    const s = new BackupSelector();
    expect(s.select(members, 3, new Set(['b', 'd']))).to.deep.equal(['c', 'e']);
    expect(s.select(members, 2, new Set(members))).to.deep.equal([]);
  });

  it('picks nothing for a count of zero or less, or no candidates', () => {
    const s = new BackupSelector();
    expect(s.select(members, 0)).to.deep.equal([]);
    expect(s.select(members, -1)).to.deep.equal([]);
    expect(s.select([], 2)).to.deep.equal([]);
    expect(s.select(members, 1), 'empty choices do not move the rotation').to.deep.equal(['b']);
  });

  describe('refill', () => {
    it('keeps the given backups first and chooses the rest round-robin among the others', () => {
      const s = new BackupSelector();
      expect(s.refill(members, ['d'], 3)).to.deep.equal(['d', 'b', 'c']);
      expect(s.refill(members, ['d'], 3)).to.deep.equal(['d', 'e', 'b']);
    });

    it('never chooses a member already tried', () => {
      const s = new BackupSelector();
      expect(s.refill(members, ['c'], 2, new Set(['b', 'd']))).to.deep.equal(['c', 'e']);
    });

    it('adds nothing when enough backups are kept', () => {
      const s = new BackupSelector();
      expect(s.refill(members, ['c', 'b'], 2)).to.deep.equal(['c', 'b']);
      expect(s.refill(members, ['c', 'b', 'e'], 2), 'never drops a kept backup').to.deep.equal(['c', 'b', 'e']);
    });
  });
});
