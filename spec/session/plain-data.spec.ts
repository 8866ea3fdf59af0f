import { expect } from 'chai';
import { inspect, isDeepStrictEqual } from 'node:util';
import { ValueCodec } from '../../lib/index.js';
import { copyPlain, NOT_PLAIN, samePlain } from '../../lib/session/plain-data.js';

const codec = new ValueCodec();
const roundTrip = (v: unknown): unknown => codec.decode(codec.encode(v));

describe('plain data copies and comparisons (session store)', () => {
  const plain: Array<[string, unknown]> = [
    ['a string', 'héllo 👋'],
    ['numbers', [0, 1, -1, 0.1, 1e300, -4294967297, 2 ** 53 + 2, Number.MAX_VALUE, Infinity, -Infinity, NaN]],
    ['negative zero', -0],
    ['bigints', [2n, -(2n ** 70n), 2n ** 64n]],
    ['booleans, null and undefined', [true, false, null, undefined]],
    ['an array with holes', [1, , 3]], // eslint-disable-line no-sparse-arrays
    ['a nested object', { name: 'ada', roles: ['reader'], prefs: { theme: 'dark', nothing: undefined, empty: {} }, recent: [[1, 2], []] }],
    ['an object with numeric and unicode keys', { 1: 'one', 'ключ': 'значение', '': 'empty' }],
  ];
  for (const [what, value] of plain) {
    it(`copies ${what} as a codec round trip would, sharing nothing`, () => {
      const copy = copyPlain(value);
      expect(copy).to.not.equal(NOT_PLAIN);
      // Object.is for the primitives: -0 must come back as +0, as it does through CBOR.
      expect(isDeepStrictEqual(copy, roundTrip(value)), `copy ${String(copy)}`).to.equal(true);
      if (typeof value === 'object' && value !== null) expect(copy).to.not.equal(value);
    });
  }

  it('makes deep copies: changing the copy changes nothing of the original', () => {
    const original = { profile: { roles: ['reader'] } };
    const copy = copyPlain(original) as typeof original;
    copy.profile.roles.push('writer');
    expect(original.profile.roles).to.deep.equal(['reader']);
  });

  class Point {
    x = 1;
  }
  const notPlain: Array<[string, unknown]> = [
    ['a Date', new Date(0)],
    ['a Map', new Map([[1, 2]])],
    ['a Set', new Set([1])],
    ['a Uint8Array', new Uint8Array(2)],
    ['an instance of a class', new Point()],
    ['an object without prototype', Object.create(null) as object],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a string with a lone surrogate (CBOR would change it)', 'a\uD800b'],
    ['an own __proto__ key', JSON.parse('{"__proto__": {"x": 1}}') as object],
    ['a Date nested in plain data', { at: [new Date(0)] }],
  ];
  for (const [what, value] of notPlain) {
    it(`leaves ${what} to the codec`, () => {
      expect(copyPlain(value)).to.equal(NOT_PLAIN);
    });
  }

  it('leaves data nested deeper than 64 levels, and cycles, to the codec', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(copyPlain(deep)).to.equal(NOT_PLAIN);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(copyPlain(cycle)).to.equal(NOT_PLAIN);
    expect(samePlain(cycle, { self: { self: {} } })).to.equal(false);
    const other: Record<string, unknown> = {};
    other.self = other;
    expect(samePlain(cycle, other), 'two cycles: not decided here').to.equal(undefined);
  });

  it('compares plain data as isDeepStrictEqual does', () => {
    const pairs: Array<[unknown, unknown]> = [
      [{ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }],
      [{ a: 1 }, { a: 1, b: undefined }],
      [{ a: undefined }, { b: undefined }],
      [[1, 2], [1, 2, 3]],
      [[], {}],
      ['1', 1],
      [NaN, NaN],
      [0, -0],
      [1n, 1n],
      [null, undefined],
      [{ a: { b: { c: [1] } } }, { a: { b: { c: [2] } } }],
    ];
    for (const [a, b] of pairs) expect(samePlain(a, b), `${inspect(a)} vs ${inspect(b)}`).to.equal(isDeepStrictEqual(a, b));
  });

  it('leaves anything but plain data to the caller', () => {
    expect(samePlain(new Date(0), new Date(0))).to.equal(undefined);
    expect(samePlain({ at: new Date(0) }, { at: new Date(0) })).to.equal(undefined);
    expect(samePlain(new Map(), {})).to.equal(undefined);
    expect(samePlain(() => 1, () => 1)).to.equal(undefined);
    expect(samePlain([1], { 0: 1 }), 'an array is not a plain object').to.equal(false);
  });
});
