/**
 * Codec properties: every message round-trips through a frame, and any bytes a peer may send
 * decode to a valid frame and message or to a CodecError, never to another throw or a polluted
 * prototype.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { hasStrayBreak } from '../lib/codec/cbor-well-formed.js';
import {
  CodecError,
  FrameKind,
  MSG_ACCESS,
  MSG_ACK,
  MSG_BACKUP,
  MSG_COPY,
  MSG_DIFF,
  MSG_PING,
  MSG_PROXY,
  MSG_REMOVE,
  MSG_RETRIEVE_BACKUP,
  MSG_START,
  MSG_STATE,
  MSG_STOP,
  MSG_VALUE,
  ValueCodec,
  decodeFrame,
  encodeFrame,
  mapMessageFromWire,
  mapMessageToWire,
  type MapMessage,
} from '../lib/index.js';
import { holds } from './settings.js';

const RUNS = 300;

const memberId = fc.string({ minLength: 1, maxLength: 6 });
const mapKey = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)));
const version = fc.oneof(
  fc.tuple(fc.nat(), memberId, fc.nat(), memberId),
  fc.tuple(fc.nat(), memberId, fc.nat(), memberId, fc.integer({ min: 1, max: 2 ** 40 }), memberId),
);
const placement = fc.record({ key: mapKey, version, primary: memberId, backups: fc.array(memberId, { maxLength: 3 }) });
const copy = fc.record({ key: mapKey, version, primary: memberId, backups: fc.array(memberId, { maxLength: 3 }), bytes: fc.uint8Array({ maxLength: 32 }) });
const removal = fc.record({ key: mapKey, version });

/** Every map message type. */
export const mapMessage: fc.Arbitrary<MapMessage> = fc.oneof(
  fc.record({ type: fc.constantFrom(MSG_BACKUP, MSG_COPY), entries: fc.array(copy, { maxLength: 3 }) }),
  fc.record({ type: fc.constant(MSG_RETRIEVE_BACKUP), key: mapKey }),
  fc.record({ type: fc.constant(MSG_PROXY), entries: fc.array(placement, { maxLength: 3 }) }),
  fc.record({ type: fc.constant(MSG_REMOVE), removals: fc.array(removal, { maxLength: 3 }) }),
  fc.record({ type: fc.constant(MSG_STATE), incarnation: memberId, entries: fc.array(placement, { maxLength: 3 }), tombstones: fc.array(removal, { maxLength: 3 }) }),
  fc.record({ type: fc.constant(MSG_START), incarnation: memberId }),
  fc.record({ type: fc.constantFrom(MSG_STOP, MSG_PING, MSG_ACK) }),
  fc.record({ type: fc.constant(MSG_ACCESS), keys: fc.array(mapKey, { maxLength: 4 }) }),
  fc.record({
    type: fc.constant(MSG_VALUE),
    key: mapKey,
    copy: fc.option(fc.record({ version, bytes: fc.uint8Array({ maxLength: 16 }), idleMs: fc.nat() }, { requiredKeys: ['version', 'bytes'] }), { nil: undefined }),
  }),
  fc.record({ type: fc.constant(MSG_DIFF), entry: placement, base: version, diff: fc.uint8Array({ maxLength: 16 }) }),
);

const raw = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

function noPollution(): void {
  expect(Object.prototype).to.not.have.property('polluted');
  expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
}

describe('codec properties', function () {
  this.timeout(120_000);

  it('round-trips every map message through a frame', async () => {
    await holds(
      fc.property(mapMessage, fc.string({ minLength: 1, maxLength: 10 }), fc.nat(), (message, channel, id) => {
        const frame = decodeFrame(encodeFrame({ kind: FrameKind.Request, channel, id, body: mapMessageToWire(message) }));
        expect(frame.channel).to.equal(channel);
        expect(frame.id).to.equal(id);
        expect(mapMessageFromWire(frame.body)).to.deep.equal(message);
      }),
      RUNS,
    );
  });

  it('decodes any byte string to a frame or a CodecError, never another throw', async () => {
    await holds(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          const frame = decodeFrame(bytes);
          expect(frame.channel).to.be.a('string');
        } catch (error) {
          expect(error).to.be.instanceOf(CodecError);
        }
        noPollution();
      }),
      RUNS * 5,
    );
  });

  it('validates any CBOR structure as a message or a CodecError, without prototype pollution', async () => {
    const structure = fc.oneof(
      fc.anything({ maxDepth: 3, withMap: true, withSet: true, withTypedArray: true, withBigInt: true, withDate: true, withObjectString: true, withNullPrototype: true }),
      // Near misses: the right type numbers with random fields.
      fc.tuple(fc.integer({ min: 0, max: 20 }), fc.anything({ maxDepth: 2 }), fc.anything({ maxDepth: 2 })).map((t) => [...t]),
      fc.constant(JSON.parse('[3, [["k", [1, "a", 0, "a"], "a", {"__proto__": {"polluted": 1}}]]]') as unknown),
    );
    await holds(
      fc.property(structure, (value) => {
        let bytes: Uint8Array;
        try {
          bytes = raw.encode(value);
        } catch {
          return; // not encodable: nothing a peer could send
        }
        try {
          const message = mapMessageFromWire(decodeFrame(encodeFrame({ kind: FrameKind.Notify, channel: 'c', id: 0, body: raw.decode(bytes) as unknown })).body);
          expect(message.type).to.be.a('number');
        } catch (error) {
          expect(error).to.be.instanceOf(CodecError);
        }
        noPollution();
      }),
      RUNS * 3,
    );
  });

  it('round-trips values through the value codec', async () => {
    const codec = new ValueCodec();
    const value = fc.anything({ maxDepth: 3, withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: false, withObjectString: false, withNullPrototype: false, withBoxedValues: false, withSparseArray: false });
    await holds(
      fc.property(value, (v) => {
        // -0 comes back as 0, and an own "__proto__" key is renamed by cbor-x (a safety measure).
        fc.pre(!mentionsProto(v));
        fc.pre(!containsNegativeZero(v));
        // chai's deep equality sorts a Set's or Map's members by their string form, which throws
        // for an object whose own `toString` or `valueOf` is not a function (FC_SEED=7036): a limit
        // of the assertion, not of the codec. Node's isDeepStrictEqual is no way out: it holds two
        // invalid Dates unequal. Such objects are left out wherever they are, not only in a Set.
        fc.pre(!hasUnprintableObject(v));
        expect(codec.decode(codec.encode(v))).to.deep.equal(v);
      }),
      RUNS,
    );
  });
});

describe('Dates (property)', () => {
  const codec = new ValueCodec();
  // The whole range the engine represents, with the far ends (where rounding bit) drawn often.
  const LIMIT = 8.64e15;
  const instant = fc.oneof(
    fc.integer({ min: -LIMIT, max: LIMIT }),
    fc.integer({ min: LIMIT - 1e9, max: LIMIT }),
    fc.integer({ min: -LIMIT, max: -LIMIT + 1e9 }),
    fc.integer({ min: -1e12, max: 1e12 }),
  );

  it('round-trips every Date the engine represents to the millisecond, alone and inside values', async () => {
    await holds(
      fc.property(instant, (ms) => {
        const date = new Date(ms);
        const back = codec.decode(codec.encode({ at: date, list: [date] })) as { at: Date; list: Date[] };
        expect(back.at.getTime()).to.equal(ms);
        expect(back.list[0]?.getTime()).to.equal(ms);
        expect((codec.decode(codec.encode(date)) as Date).getTime()).to.equal(ms);
      }),
      RUNS * 20,
    );
  });

  it('never finds a stray break in what the codec itself writes', async () => {
    const value = fc.anything({ maxDepth: 3, withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: true });
    await holds(
      fc.property(value, (v) => {
        let bytes: Uint8Array;
        try {
          bytes = codec.encode(v);
        } catch {
          return;
        }
        expect(hasStrayBreak(bytes)).to.equal(false);
      }),
      RUNS * 5,
    );
  });
});

function containsNegativeZero(v: unknown): boolean {
  if (Object.is(v, -0)) return true;
  if (v instanceof Map) return [...v].some(([k, x]) => containsNegativeZero(k) || containsNegativeZero(x));
  if (v instanceof Set) return [...v].some(containsNegativeZero);
  if (Array.isArray(v)) return v.some(containsNegativeZero);
  if (typeof v === 'object' && v !== null) return Object.values(v).some(containsNegativeZero);
  return false;
}

/** Whether `v` holds an object whose own `toString` or `valueOf` is not a function (see its use). */
function hasUnprintableObject(v: unknown): boolean {
  if (v instanceof Map) return [...v].some(([k, x]) => hasUnprintableObject(k) || hasUnprintableObject(x));
  if (v instanceof Set || Array.isArray(v)) return [...(v as Iterable<unknown>)].some(hasUnprintableObject);
  if (typeof v !== 'object' || v === null || v instanceof Date) return false;
  const o = v as Record<string, unknown>;
  for (const name of ['toString', 'valueOf']) if (Object.hasOwn(o, name) && typeof o[name] !== 'function') return true;
  return Object.values(o).some(hasUnprintableObject);
}

function mentionsProto(v: unknown): boolean {
  // JSON.stringify gives undefined for undefined, whatever its declared type says.
  const text = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) as string | undefined;
  return text?.includes('__proto__') === true;
}
