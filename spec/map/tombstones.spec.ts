import { expect } from 'chai';
import { Tombstones } from '../../lib/map/tombstones.js';
import type { Version } from '../../lib/map/version.js';

const v = (clock: number, writer = 'a'): Version => [clock, writer, 0, writer];

describe('Tombstones', () => {
  let time: number;
  const now = (): number => time;
  beforeEach(() => {
    time = 1000;
  });

  it('remembers the version of a delete by key', () => {
    const t = new Tombstones(60_000, now);
    t.add('k', v(3));
    expect(t.get('k')).to.deep.equal(v(3));
    expect(t.get('other')).to.equal(undefined);
    expect(t.size).to.equal(1);
  });

  it('keeps the newer of two deletes of one key, whichever comes first', () => {
    const t = new Tombstones(60_000, now);
    t.add('k', v(5));
    t.add('k', v(4));
    expect(t.get('k')).to.deep.equal(v(5));
    t.add('k', v(5, 'b'));
    expect(t.get('k'), 'the writer id breaks a tie').to.deep.equal(v(5, 'b'));
  });

  it('tells keys 1 and "1" apart', () => {
    const t = new Tombstones(60_000, now);
    t.add(1, v(1));
    expect(t.get('1')).to.equal(undefined);
    expect(t.get(1)).to.deep.equal(v(1));
  });

  it('forgets a key that was written again', () => {
    const t = new Tombstones(60_000, now);
    t.add('k', v(1));
    t.delete('k');
    expect(t.get('k')).to.equal(undefined);
    expect(t.list()).to.deep.equal([]);
  });

  it('lists every remembered delete as a removal, oldest first', () => {
    const t = new Tombstones(60_000, now);
    t.add('a', v(1));
    time += 10;
    t.add('b', v(2));
    expect(t.list()).to.deep.equal([
      { key: 'a', version: v(1) },
      { key: 'b', version: v(2) },
    ]);
  });

  it('drops deletes older than its ttl, by the injected clock, without a timer', () => {
    const t = new Tombstones(100, now);
    t.add('old', v(1));
    time += 60;
    t.add('young', v(2));
    time += 40;
    expect(t.list().map((r) => r.key), 'exactly ttl old is expired').to.deep.equal(['young']);
    expect(t.get('old')).to.equal(undefined);
    time += 100;
    t.sweep();
    expect(t.size).to.equal(0);
  });

  it('restarts the age of a key whose delete is replaced by a newer one', () => {
    const t = new Tombstones(100, now);
    t.add('k', v(1));
    t.add('other', v(1));
    time += 90;
    t.add('k', v(2));
    time += 20;
    expect(t.list()).to.deep.equal([{ key: 'k', version: v(2) }]);
  });

  describe('with a count limit (a member with maxEntries, maxBytes or maxTombstones)', () => {
    it('keeps at most the bound, forgetting the oldest first and counting what it forgot', () => {
      const t = new Tombstones(60_000, now);
      t.bound(3);
      for (let i = 0; i < 10; i++) {
        t.add(`k${i}`, v(i));
        time += 1;
        expect(t.size).to.be.at.most(3);
      }
      expect(t.list().map((r) => r.key)).to.deep.equal(['k7', 'k8', 'k9']);
      expect(t.get('k6')).to.equal(undefined);
      expect(t.forgotten).to.equal(7);
    });

    it('counts a replaced delete as the newest, and the ttl still applies without counting as forgotten', () => {
      const t = new Tombstones(100, now);
      t.bound(2);
      t.add('a', v(1));
      t.add('b', v(1));
      t.add('a', v(2));
      t.add('c', v(1));
      expect(t.list().map((r) => r.key), 'b was the oldest').to.deep.equal(['a', 'c']);
      expect(t.forgotten).to.equal(1);
      time += 100;
      t.sweep();
      expect(t.size).to.equal(0);
      expect(t.forgotten, 'expired, not forgotten early').to.equal(1);
    });

    it('trims at once when the bound is lowered, and keeps everything without a bound', () => {
      const t = new Tombstones(60_000, now);
      for (let i = 0; i < 50; i++) t.add(`k${i}`, v(i));
      expect(t.size).to.equal(50);
      expect(t.limit).to.equal(undefined);
      t.bound(5);
      expect(t.list().map((r) => r.key)).to.deep.equal(['k45', 'k46', 'k47', 'k48', 'k49']);
      expect(t.forgotten).to.equal(45);
    });
  });
});
