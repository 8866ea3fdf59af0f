import { expect } from 'chai';
import { Interner } from '../../lib/map/interner.js';
import type { Version } from '../../lib/map/version.js';

describe('Interner', () => {
  it('returns one shared, frozen list for equal lists of ids', () => {
    const interner = new Interner();
    const a = interner.list(['m1', 'm2']);
    const b = interner.list(['m1', 'm2'].slice());
    expect(a).to.equal(b);
    expect(Object.isFrozen(a)).to.equal(true);
    expect(a).to.deep.equal(['m1', 'm2']);
  });

  it('keeps lists that differ in order or content apart', () => {
    const interner = new Interner();
    expect(interner.list(['a', 'b'])).to.not.equal(interner.list(['b', 'a']));
    expect(interner.list(['a'])).to.not.equal(interner.list(['a', 'b']));
    expect(interner.list(['ab'])).to.deep.equal(['ab']);
  });

  it('returns the same empty list for every empty list', () => {
    const interner = new Interner();
    expect(interner.list([])).to.equal(new Interner().list([]));
    expect(interner.list([])).to.deep.equal([]);
  });

  it('gives each id one canonical copy', () => {
    const interner = new Interner();
    const id = interner.id('member-with-a-long-name');
    expect(interner.id('member-with-a-long-name')).to.equal(id);
    expect(interner.list(['member-with-a-long-name'])[0]).to.equal(id);
  });

  it('hands back a version with the same order and ids', () => {
    const interner = new Interner();
    const v: Version = [2, 'writer', 3, 'placer'];
    expect(interner.version(v)).to.deep.equal([2, 'writer', 3, 'placer']);
  });

  it('leaves number keys and the text of string keys unchanged', () => {
    const interner = new Interner();
    expect(interner.key(42)).to.equal(42);
    const key = 'x'.repeat(40);
    expect(interner.key(key)).to.equal(key);
    expect(interner.key('short')).to.equal('short');
  });
});
