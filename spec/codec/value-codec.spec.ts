import { expect } from 'chai';
import { Encoder } from 'cbor-x';
import { ClassRegistrationError, CodecError, InMemoryNetwork, LazyReplicatedMap, MAX_CLASS_TAG, MIN_CLASS_TAG, ValueCodec, ValueEncodeError, defaultValueCodec } from '../../lib/index.js';
import { thrown } from '../helpers/events.js';

describe('ValueCodec', () => {
  const codec = new ValueCodec();
  const roundTrip = (value: unknown): unknown => codec.decode(codec.encode(value));

  describe('round trip', () => {
    const values: Record<string, unknown> = {
      'a plain object': { user: 'ada', roles: ['admin'], nested: { depth: { three: true } } },
      'an empty object': {},
      'an array of mixed values': [1, 'two', null, [3], { four: 4 }],
      'an empty array': [],
      'a string with non-ASCII characters': 'Grüße, 世界 ✓',
      'an empty string': '',
      'a small integer': 42,
      'a negative integer': -7,
      'a float': 3.14159,
      'the largest safe integer': Number.MAX_SAFE_INTEGER,
      'a small bigint': 10n,
      'a bigint beyond 64 bits': 2n ** 100n + 1n,
      'a negative bigint beyond 64 bits': -(2n ** 70n),
      true: true,
      false: false,
      null: null,
    };
    for (const [name, value] of Object.entries(values)) {
      it(`round-trips ${name}`, () => {
        expect(roundTrip(value)).to.deep.equal(value);
      });
    }

    it('round-trips a Date as a Date with the same instant', () => {
      const back = roundTrip(new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 250)));
      expect(back).to.be.instanceOf(Date);
      expect((back as Date).toISOString()).to.equal('2024-02-29T12:30:15.250Z');
    });

    // cbor-x alone reads these back 1 ms off: it multiplies float seconds by 1000 and rounds.
    for (const iso of ['+142271-06-28T00:42:07.855Z', '+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '-000001-12-31T23:59:59.999Z']) {
      it(`round-trips the Date ${iso} to the millisecond`, () => {
        const back = roundTrip(new Date(iso));
        expect(back).to.be.instanceOf(Date);
        expect((back as Date).toISOString()).to.equal(iso);
      });
    }

    it('round-trips an invalid Date as an invalid Date', () => {
      const back = roundTrip(new Date(NaN));
      expect(back).to.be.instanceOf(Date);
      expect((back as Date).getTime()).to.be.NaN;
    });

    it('round-trips a Map as a Map, non-string keys included', () => {
      const back = roundTrip(new Map<unknown, unknown>([[1, 'one'], ['1', 'string one'], ['k', { v: [1] }]]));
      expect(back).to.be.instanceOf(Map);
      expect([...(back as Map<unknown, unknown>)]).to.deep.equal([[1, 'one'], ['1', 'string one'], ['k', { v: [1] }]]);
    });

    it('round-trips a Set as a Set', () => {
      const back = roundTrip(new Set([1, 'a', 2]));
      expect(back).to.be.instanceOf(Set);
      expect([...(back as Set<unknown>)]).to.deep.equal([1, 'a', 2]);
    });

    it('round-trips a Uint8Array as a Uint8Array', () => {
      const back = roundTrip(new Uint8Array([0, 1, 254, 255]));
      expect(back).to.be.instanceOf(Uint8Array);
      expect([...(back as Uint8Array)]).to.deep.equal([0, 1, 254, 255]);
    });

    it('round-trips a Buffer as a Buffer', () => {
      const back = roundTrip(Buffer.from('buffer bytes'));
      expect(Buffer.isBuffer(back)).to.equal(true);
      expect((back as Buffer).toString()).to.equal('buffer bytes');
    });

    it('round-trips those types nested inside each other', () => {
      const value = { when: new Date(0), tags: new Set(['x']), index: new Map([['k', [new Uint8Array([7])]]]), big: 1n };
      const back = roundTrip(value) as typeof value;
      expect(back.when).to.be.instanceOf(Date);
      expect(back.when.getTime()).to.equal(0);
      expect([...back.tags]).to.deep.equal(['x']);
      expect(back.index).to.be.instanceOf(Map);
      expect([...back.index.get('k')![0]!]).to.deep.equal([7]);
      expect(back.big).to.equal(1n);
    });

    it('is what defaultValueCodec does', () => {
      expect(defaultValueCodec).to.be.instanceOf(ValueCodec);
      expect(defaultValueCodec.decode(defaultValueCodec.encode({ a: [1n, 'b'] }))).to.deep.equal({ a: [1n, 'b'] });
    });
  });

  describe('encode', () => {
    it('rejects a function, a symbol and a cyclic object with a ValueEncodeError that keeps the cause', () => {
      const cyclic: Record<string, unknown> = { name: 'loop' };
      cyclic.self = cyclic;
      for (const value of [() => 1, Symbol('s'), cyclic, { nested: [() => 2] }]) {
        const error = thrown(() => codec.encode(value));
        expect(error).to.be.instanceOf(ValueEncodeError);
        expect((error as ValueEncodeError).name).to.equal('ValueEncodeError');
        expect((error as ValueEncodeError).message).to.include('cannot be encoded');
        expect((error as ValueEncodeError).cause).to.be.instanceOf(Error);
      }
    });

    it('keeps working after a failed encode', () => {
      thrown(() => codec.encode({ f: () => 1 }));
      expect(roundTrip({ ok: true })).to.deep.equal({ ok: true });
    });

    it('returns a buffer that owns its memory and shares no ArrayBuffer with the next result', () => {
      const first = codec.encode({ first: 1 });
      const expected = [...first];
      const second = codec.encode({ second: 2 });
      expect(first.buffer).to.not.equal(second.buffer);
      expect(first.byteOffset).to.equal(0);
      expect(first.buffer.byteLength).to.equal(first.byteLength);
      second.fill(0);
      for (let i = 0; i < 1000; i++) codec.encode({ filler: 'x'.repeat(i % 50) });
      expect([...first]).to.deep.equal(expected);
    });
  });

  describe('decode', () => {
    it('rejects bytes that are not valid CBOR with a CodecError', () => {
      for (const bytes of [new Uint8Array(0), new Uint8Array([0x1c]), new Uint8Array([0x61]), new Uint8Array([0x82, 0x01])]) {
        expect(thrown(() => codec.decode(bytes))).to.be.instanceOf(CodecError);
      }
    });

    it('does not let a __proto__ key change Object.prototype or the decoded object\u2019s prototype', () => {
      // {"__proto__": {"polluted": true}}, written by hand: no encoder emits it.
      const text = (s: string): number[] => [0x60 + s.length, ...Buffer.from(s)];
      const value = codec.decode(new Uint8Array([0xa1, ...text('__proto__'), 0xa1, ...text('polluted'), 0xf5])) as Record<string, unknown>;
      expect(Object.getPrototypeOf(value)).to.equal(Object.prototype);
      expect(value.polluted).to.equal(undefined);
      expect(Object.prototype).to.not.have.property('polluted');
    });
  });

  describe('class registry', () => {
    // Registrations are process-wide (cbor-x's table is): each class here gets a tag of its own.
    class Point {
      constructor(
        public x = 0,
        public y = 0,
      ) {}
      norm(): number {
        return Math.hypot(this.x, this.y);
      }
    }
    ValueCodec.register(40_801, Point, (p) => [p.x, p.y], (data) => {
      if (!Array.isArray(data) || data.length !== 2 || !data.every((n) => typeof n === 'number')) throw new TypeError('a Point is [x, y]');
      return new Point(data[0], data[1]);
    });

    class Plain {
      constructed = false;
      name = '';
      constructor() {
        this.constructed = true;
      }
      greet(): string {
        return `hello ${this.name}`;
      }
    }
    ValueCodec.register(40_802, Plain);

    // Its encoder calls the codec, which cbor-x cannot nest: such bytes used to fail only when read.
    class Nesting {
      inner = 'x';
    }
    ValueCodec.register(40_805, Nesting, (n) => defaultValueCodec.encode(n.inner));

    it('refuses a registered class whose encoder calls the codec, at the write, and encodes on afterwards', () => {
      const error = thrown(() => codec.encode({ n: new Nesting() }));
      expect(error).to.be.instanceOf(ValueEncodeError);
      expect((error as Error).message).to.include('cannot nest encodes');
      expect(codec.decode(codec.encode({ after: [1, 'two'] }))).to.deep.equal({ after: [1, 'two'] });
    });

    it('decodes a registered class as an instance with its methods, also nested and in a second codec', () => {
      const value = { where: new Point(3, 4), list: [new Point(6, 8)], byName: new Map([['p', new Point(0, 1)]]) };
      const back = new ValueCodec().decode(codec.encode(value)) as typeof value;
      expect(back.where).to.be.instanceOf(Point);
      expect(back.where.norm()).to.equal(5);
      expect(back.list[0]!.norm()).to.equal(10);
      expect(back.byName.get('p')).to.be.instanceOf(Point);
    });

    it('writes the registered tag, so other members (any cbor-x decoder) see the class by its number', () => {
      const bytes = codec.encode(new Point(1, 2));
      // 0xd9: a tag number in the next two bytes.
      expect([...bytes.subarray(0, 3)]).to.deep.equal([0xd9, 40_801 >> 8, 40_801 & 0xff]);
      const raw = new Encoder({ useRecords: false }).decode(bytes) as unknown;
      expect(raw).to.be.instanceOf(Point);
    });

    it('by default sends own enumerable properties and rebuilds on the prototype without running the constructor', () => {
      const p = new Plain();
      p.name = 'ada';
      p.constructed = false;
      const back = roundTrip(p) as Plain;
      expect(back).to.be.instanceOf(Plain);
      expect(back.greet()).to.equal('hello ada');
      expect(back.constructed, 'the constructor did not run').to.equal(false);
    });

    it('turns malformed data under a registered tag (a peer\u2019s bytes) into a CodecError', () => {
      // Tag 40801 (Point) around the string "nope"
      const bytes = new Uint8Array([0xd9, 40_801 >> 8, 40_801 & 0xff, 0x64, ...Buffer.from('nope')]);
      const error = thrown(() => codec.decode(bytes));
      expect(error).to.be.instanceOf(CodecError);
      // And the default decoder refuses a non-map too.
      const plain = new Uint8Array([0xd9, 40_802 >> 8, 40_802 & 0xff, 0x82, 0x01, 0x02]);
      expect(thrown(() => codec.decode(plain))).to.be.instanceOf(CodecError);
    });

    it('does not let a __proto__ key of a peer reach the prototype of a default-decoded instance', () => {
      const text = (s: string): number[] => [0x60 + s.length, ...Buffer.from(s)];
      const bytes = new Uint8Array([0xd9, 40_802 >> 8, 40_802 & 0xff, 0xa1, ...text('__proto__'), 0xa1, ...text('polluted'), 0xf5]);
      const back = codec.decode(bytes) as Plain & { polluted?: unknown };
      expect(Object.getPrototypeOf(back)).to.equal(Plain.prototype);
      expect(back.polluted).to.equal(undefined);
      expect(Object.prototype).to.not.have.property('polluted');
    });

    it('accepts registering the same class under the same tag again, and nothing changes', () => {
      ValueCodec.register(40_801, Point);
      expect((roundTrip(new Point(3, 4)) as Point).norm()).to.equal(5);
    });

    it('refuses a tag taken by another class, a second tag for a class, and tags outside the application range', () => {
      class Other {}
      const refusal = (f: () => void): string => {
        const error = thrown(f);
        expect(error).to.be.instanceOf(ClassRegistrationError);
        expect((error as Error).name).to.equal('ClassRegistrationError');
        return (error as Error).message;
      };
      expect(refusal(() => { ValueCodec.register(40_801, Other); })).to.include('tag 40801 already carries class Point');
      expect(refusal(() => { ValueCodec.register(40_803, Point); })).to.include('already registered under tag 40801');
      for (const tag of [MIN_CLASS_TAG - 1, 1, 0, -1, 55_799, MAX_CLASS_TAG + 1, 40_900.5, Number.NaN]) {
        expect(refusal(() => { ValueCodec.register(tag, Other); })).to.include('cannot carry a class');
      }
      expect(refusal(() => { ValueCodec.register(40_804, (() => undefined) as unknown as typeof Other); })).to.include('only classes');
      // The refused class stays unknown: its instances are refused, not flattened.
      expect(thrown(() => codec.encode(new Other()))).to.be.instanceOf(ValueEncodeError);
    });
  });

  describe('instances of classes that are not registered', () => {
    class Unknown {
      x = 1;
      area(): number {
        return this.x;
      }
    }
    class Registry extends Map<string, number> {}

    const values: Record<string, unknown> = {
      'an instance': new Unknown(),
      'an instance in an array': [1, new Unknown()],
      'an instance in an object': { user: { profile: new Unknown() } },
      'an instance as a Map value': new Map([['k', new Unknown()]]),
      'a Map subclass (iterable: cbor-x would write an array)': new Registry([['a', 1]]),
      'a URL': new URL('https://example.com/'),
    };
    for (const [name, value] of Object.entries(values)) {
      it(`refuses ${name} with a ValueEncodeError naming the class and the way out`, () => {
        const error = thrown(() => codec.encode(value));
        expect(error).to.be.instanceOf(ValueEncodeError);
        expect((error as Error).message).to.match(/instance of class (Unknown|Registry|URL)/).and.include('ValueCodec.register').and.include('plain object');
      });
    }

    it('still encodes what round-trips: null-prototype objects, a key named constructor, Date, Set, Error, RegExp, Buffer, typed arrays', () => {
      const plain = Object.assign(Object.create(null) as object, { a: 1 });
      expect(roundTrip(plain)).to.deep.equal({ a: 1 });
      expect(roundTrip({ constructor: 'x' })).to.deep.equal({ constructor: 'x' });
      for (const value of [new Date(0), new Set([1]), new RegExp('x', 'g'), Buffer.from('ab'), new Float64Array([1.5]), new Uint8Array([1])]) {
        expect(() => codec.encode(value), value.constructor.name).not.to.throw();
      }
      expect(roundTrip(new Error('boom'))).to.be.instanceOf(Error);
    });

    it('keeps working after a refusal, and leaves every other cbor-x encoder of the process alone', () => {
      thrown(() => codec.encode(new Unknown()));
      expect(roundTrip({ after: [1] })).to.deep.equal({ after: [1] });
      const other = new Encoder({ useRecords: false });
      expect(other.decode(other.encode(new Unknown()))).to.deep.equal({ x: 1 });
    });

    it('makes a map write reject at the caller, the map unchanged', async () => {
      const net = new InMemoryNetwork();
      const map = new LazyReplicatedMap<string, unknown>({ name: 'classes', transport: net.transport('a') });
      await map.start();
      try {
        let error: unknown;
        await map.set('k', { shape: new Unknown() }).catch((e: unknown) => (error = e));
        expect(error).to.be.instanceOf(ValueEncodeError);
        expect(map.has('k')).to.equal(false);
      } finally {
        await map.stop();
      }
    });
  });
});
