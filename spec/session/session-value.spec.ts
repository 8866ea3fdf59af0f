import { expect } from 'chai';
import fc from 'fast-check';
import { CodecError, ValueCodec, isDeltaValue } from '../../lib/index.js';
import { diffsBoundGrowth } from '../../lib/map/delta-value.js';
import { SESSION_FIELD_KINDS, SESSION_VALUE_TAG, SessionValue } from '../../lib/session/index.js';
import { holds } from '../../property-tests/settings.js';
import { thrown } from '../helpers/events.js';

const codec = new ValueCodec();

describe('SessionValue', () => {
  it('is a DeltaValue, clean when new', () => {
    const s = new SessionValue();
    expect(isDeltaValue(s)).to.equal(true);
    expect(s.isDirty()).to.equal(false);
    expect(s.getDiff()).to.deep.equal([]);
  });

  it('records a change per kind and name: an attribute and a cookie field of one name do not collide', () => {
    const s = new SessionValue();
    s.set('attribute', 'path', '/cart');
    s.set('cookie', 'path', '/');
    s.maxInactiveMs = 1000;
    expect(s.getDiff()).to.deep.equal([
      ['attribute', 'set', 'path', '/cart'],
      ['cookie', 'set', 'path', '/'],
      ['meta', 'set', 'maxInactiveMs', 1000],
    ]);
    const copy = new SessionValue();
    copy.applyDiff(s.getDiff());
    expect(copy.get('attribute', 'path')).to.equal('/cart');
    expect(copy.get('cookie', 'path')).to.equal('/');
    expect(copy.maxInactiveMs).to.equal(1000);
  });

  it('keeps only the last change of a field', () => {
    const s = new SessionValue();
    s.set('attribute', 'n', 1).set('attribute', 'n', 2);
    expect(s.getDiff()).to.deep.equal([['attribute', 'set', 'n', 2]]);
    expect(s.remove('attribute', 'n')).to.equal(true);
    expect(s.getDiff()).to.deep.equal([['attribute', 'remove', 'n']]);
    expect(s.has('attribute', 'n')).to.equal(false);
  });

  it('records nothing for removing a field it does not have', () => {
    const s = new SessionValue();
    expect(s.remove('attribute', 'ghost')).to.equal(false);
    expect(s.isDirty()).to.equal(false);
  });

  it('diffs only what changed since the last reset, and a copy that replays it equals the original', () => {
    const s = new SessionValue().set('attribute', 'user', 'ada').set('attribute', 'cart', ['book']).set('attribute', 'old', true);
    const copy = codec.decode(codec.encode(s)) as SessionValue;
    s.resetDiff();
    s.set('attribute', 'cart', ['book', 'pen']);
    s.remove('attribute', 'old');
    expect(s.getDiff()).to.deep.equal([['attribute', 'set', 'cart', ['book', 'pen']], ['attribute', 'remove', 'old']]);

    copy.applyDiff(codec.decode(codec.encode(s.getDiff())));
    expect(copy.entries('attribute')).to.deep.equal(s.entries('attribute'));
    expect(copy.isDirty(), 'replaying records nothing').to.equal(false);
  });

  it('round-trips through the codec as an instance under its tag, without its pending changes', () => {
    const s = new SessionValue().set('attribute', 'when', new Date(0)).set('attribute', 'tags', new Set(['x']));
    s.maxInactiveMs = 5;
    const bytes = codec.encode(s);
    expect([...bytes.subarray(0, 3)]).to.deep.equal([0xd9, SESSION_VALUE_TAG >> 8, SESSION_VALUE_TAG & 0xff]);
    const back = codec.decode(bytes) as SessionValue;
    expect(back).to.be.instanceOf(SessionValue);
    expect(back.get('attribute', 'when')).to.deep.equal(new Date(0));
    expect(back.get('attribute', 'tags')).to.deep.equal(new Set(['x']));
    expect(back.maxInactiveMs).to.equal(5);
    expect(back.isDirty()).to.equal(false);
  });

  it('keeps an attribute named __proto__ as data', () => {
    const s = new SessionValue().set('attribute', '__proto__', { polluted: true });
    const back = codec.decode(codec.encode(s)) as SessionValue;
    expect(Object.prototype).to.not.have.property('polluted');
    expect(Object.getPrototypeOf(back)).to.equal(SessionValue.prototype);
    expect(back.get('attribute', '__proto__')).to.deep.equal({ polluted: true });
  });

  it('rejects a malformed diff and changes nothing', () => {
    const bad: unknown[] = [
      'not a list',
      [['attribute', 'set', 'n']],
      [['attribute', 'remove', 'n', 1]],
      [['kind', 'set', 'n', 1]],
      [['attribute', 'put', 'n', 1]],
      [['attribute', 'set', 7, 1]],
      [['attribute', 'set', 'ok', 1], 'not an action'],
    ];
    for (const diff of bad) {
      const s = new SessionValue().set('attribute', 'n', 0);
      expect(thrown(() => { s.applyDiff(diff); }), JSON.stringify(diff)).to.be.instanceOf(TypeError);
      expect(s.entries('attribute'), JSON.stringify(diff)).to.deep.equal([['n', 0]]);
    }
  });

  it('refuses malformed encoded data from a peer with a CodecError', () => {
    const tagged = (data: unknown): Uint8Array => {
      const inner = codec.encode(data);
      return new Uint8Array([0xd9, SESSION_VALUE_TAG >> 8, SESSION_VALUE_TAG & 0xff, ...inner]);
    };
    for (const data of ['x', [[], []], [[], [], 'x'], [[['n']], [], []], [[[1, 2]], [], []]]) {
      expect(thrown(() => codec.decode(tagged(data))), JSON.stringify(data)).to.be.instanceOf(CodecError);
    }
    expect((codec.decode(tagged([[['n', 1]], [], []])) as SessionValue).get('attribute', 'n')).to.equal(1);
  });

  it('never grows by more than its encoded diff, so its primary may check the frame limit against the last encoding plus the diffs (DIFFS_BOUND_GROWTH)', async () => {
    expect(diffsBoundGrowth(new SessionValue())).to.equal(true);
    const kind = fc.constantFrom(...SESSION_FIELD_KINDS);
    // Few names, so that sets replace fields and removes hit them; counts that cross the list
    // headers' 24-entry step.
    const name = fc.oneof(fc.constantFrom('a', 'b', 'n', 'profile'), fc.string({ maxLength: 30 }));
    const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.date({ noInvalidDate: true }), fc.uint8Array({ maxLength: 64 }), fc.constant(undefined));
    const action = fc.oneof(fc.tuple(kind, name, value).map(([k, n, v]) => ({ set: true as const, k, n, v })), fc.tuple(kind, name).map(([k, n]) => ({ set: false as const, k, n })));
    await holds(
      fc.property(fc.array(action, { maxLength: 40 }), fc.array(action, { minLength: 1, maxLength: 40 }), (before, change) => {
        const s = new SessionValue();
        for (const a of before) {
          if (a.set) s.set(a.k, a.n, a.v);
          else s.remove(a.k, a.n);
        }
        s.resetDiff();
        const old = codec.encode(s).byteLength;
        for (const a of change) {
          if (a.set) s.set(a.k, a.n, a.v);
          else s.remove(a.k, a.n);
        }
        const diff = codec.encode(s.getDiff()).byteLength;
        expect(codec.encode(s).byteLength).to.be.at.most(old + diff);
      }),
      500,
    );
  });
});
