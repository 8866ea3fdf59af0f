import { expect } from 'chai';
import { Encoder } from 'cbor-x';
import {
  CodecError,
  FrameKind,
  PROTOCOL_VERSION,
  ValueEncodeError,
  decodeFrame,
  encodeFrame,
  type Frame,
} from '../../lib/index.js';
import { SeededRandom } from '../../lib/transport/memory/seeded-random.js';
import { envelopeVersion } from '../../lib/codec/frame.js';
import { thrown } from '../helpers/events.js';

// The same settings as the frame codec, to write envelopes the library would never produce.
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

/** The raw CBOR of an envelope array, valid or not. */
const raw = (...parts: unknown[]): Uint8Array => cbor.encode(parts);

/** The CodecError decodeFrame throws for `bytes` (the test fails if it throws anything else, or nothing). */
function codecError(bytes: Uint8Array): CodecError {
  const error = thrown(() => decodeFrame(bytes));
  expect(error).to.be.instanceOf(CodecError);
  return error as CodecError;
}

describe('frame codec', () => {
  describe('encodeFrame / decodeFrame', () => {
    const bodies: Record<string, unknown> = {
      null: null,
      string: 'héllo ✓',
      'nested array': [1, [2, ['three']], { four: 4 }],
      object: { a: 1, b: [true, false], c: { d: null } },
      bytes: new Uint8Array([0, 1, 2, 255]),
      bigint: 2n ** 80n,
    };

    for (const [kindName, kind] of Object.entries(FrameKind)) {
      for (const [bodyName, body] of Object.entries(bodies)) {
        it(`round-trips a ${kindName} frame with a ${bodyName} body`, () => {
          const frame: Frame = { kind, channel: 'lrm/map/sessions', id: 42, body };
          expect(decodeFrame(encodeFrame(frame))).to.deep.equal(frame);
        });
      }
    }

    it('round-trips the largest safe request id', () => {
      const frame: Frame = { kind: FrameKind.Request, channel: 'c', id: Number.MAX_SAFE_INTEGER, body: null };
      expect(decodeFrame(encodeFrame(frame)).id).to.equal(Number.MAX_SAFE_INTEGER);
    });

    it('writes the envelope as [protocolVersion, kind, channel, id, body]', () => {
      const bytes = encodeFrame({ kind: FrameKind.Reply, channel: 'echo', id: 7, body: 'x' });
      expect(PROTOCOL_VERSION).to.equal(2);
      expect(cbor.decode(bytes)).to.deep.equal([2, 3, 'echo', 7, 'x']);
    });

    it('keeps an earlier result intact after later encodes', () => {
      const first = encodeFrame({ kind: FrameKind.Request, channel: 'a', id: 1, body: 'first' });
      const copy = Uint8Array.prototype.slice.call(first);
      for (let i = 0; i < 2000; i++) encodeFrame({ kind: FrameKind.Request, channel: 'b', id: i, body: 'x'.repeat(i % 100) });
      expect([...first]).to.deep.equal([...copy]);
    });

    it('rejects a body cbor-x cannot encode with a ValueEncodeError that names the channel', () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const body of [() => 1, Symbol('s'), cyclic]) {
        const error = thrown(() => encodeFrame({ kind: FrameKind.Request, channel: 'echo', id: 1, body }));
        expect(error).to.be.instanceOf(ValueEncodeError);
        expect((error as ValueEncodeError).message).to.include("'echo'");
        expect((error as ValueEncodeError).cause).to.be.instanceOf(Error);
      }
    });
  });

  describe('decodeFrame rejections', () => {
    it('rejects bytes that are not CBOR, keeping the parser error as cause', () => {
      // 0x1c: reserved additional information, which no CBOR decoder accepts.
      const error = codecError(new Uint8Array([0x1c, 0x00, 0x00]));
      expect(error.message).to.equal('frame is not valid CBOR (3 bytes)');
      expect(error.cause).to.be.instanceOf(Error);
    });

    it('rejects an empty byte string', () => {
      codecError(new Uint8Array(0));
    });

    it('rejects every truncated prefix of a valid frame', () => {
      const bytes = encodeFrame({ kind: FrameKind.Request, channel: 'lrm/map/m', id: 99, body: [1, ['k', new Uint8Array(40)]] });
      for (let length = 0; length < bytes.length; length++) codecError(bytes.subarray(0, length));
    });

    it('rejects trailing bytes after the envelope', () => {
      const bytes = encodeFrame({ kind: FrameKind.Request, channel: 'c', id: 1, body: null });
      codecError(new Uint8Array([...bytes, 0]));
      codecError(new Uint8Array([...bytes, ...bytes]));
    });

    it('rejects another protocol version with a message that says to run one version everywhere', () => {
      for (const version of [0, 1, 3, '2', null, 1.5]) {
        const error = codecError(raw(version, FrameKind.Request, 'c', 1, null));
        expect(error.message).to.include('protocol version').and.to.include('same library version');
      }
    });

    it('reads hellos and refusals of any version from the first hello on, and no other kind of another version', () => {
      for (const kind of [FrameKind.Hello, FrameKind.Refuse]) {
        for (const version of [2, 3, 99, 1000]) expect(decodeFrame(raw(version, kind, 'lrm/router', 0, [version, version, null])).kind).to.equal(kind);
        for (const version of [1, 0, 1.5, '3']) expect(codecError(raw(version, kind, 'lrm/router', 0, null)).message).to.include('protocol version');
      }
      expect(codecError(raw(3, FrameKind.Notify, 'c', 0, null)).message).to.include('protocol version 3');
    });

    it('names the envelope version of bytes it cannot decode', () => {
      expect(envelopeVersion(raw(1, FrameKind.Request, 'c', 1, null))).to.equal(1);
      expect(envelopeVersion(raw(300, FrameKind.Request, 'c', 1, null))).to.equal(300);
      expect(envelopeVersion(raw(24, FrameKind.Request, 'c', 1, null))).to.equal(24);
      expect(envelopeVersion(new Uint8Array([0x61, 0x41]))).to.equal(undefined);
      expect(envelopeVersion(new Uint8Array([]))).to.equal(undefined);
    });

    it('rejects unknown frame kinds', () => {
      for (const kind of [0, 8, 255, -1, 1.5, '1', null, true]) {
        expect(codecError(raw(PROTOCOL_VERSION, kind, 'c', 1, null)).message).to.include('unknown kind');
      }
    });

    it('rejects a missing, empty or mistyped channel name', () => {
      for (const channel of ['', 5, null, ['c'], new Uint8Array([99])]) {
        expect(codecError(raw(PROTOCOL_VERSION, FrameKind.Request, channel, 1, null)).message).to.equal('frame has no channel name');
      }
    });

    it('rejects a request id that is not a non-negative safe integer', () => {
      for (const id of [-1, 1.5, '1', 2 ** 53, NaN, Infinity, null, 2n ** 64n]) {
        expect(codecError(raw(PROTOCOL_VERSION, FrameKind.Request, 'c', id, null)).message).to.equal('frame has an invalid request id');
      }
    });

    it('rejects anything but a 5-element envelope array', () => {
      const notEnvelopes: unknown[] = [
        [],
        [PROTOCOL_VERSION, FrameKind.Request, 'c', 1],
        [PROTOCOL_VERSION, FrameKind.Request, 'c', 1, null, 'extra'],
        { 0: 1, 1: 1, 2: 'c', 3: 1, 4: null },
        'frame',
        42,
        null,
      ];
      for (const value of notEnvelopes) {
        expect(codecError(cbor.encode(value)).message).to.equal('frame is not a 5-element envelope array');
      }
    });

    it('turns thousands of seeded random byte strings into a Frame or a CodecError, never another error', () => {
      const random = new SeededRandom(20_240_601);
      const valid = encodeFrame({
        kind: FrameKind.Request,
        channel: 'lrm/map/sessions',
        id: 12,
        body: [1, [['k', [3, 'a', 0, 'a'], 'a', ['b'], new Uint8Array([1, 2, 3])]]],
      });
      const outcomes = { frame: 0, codecError: 0 };
      for (let i = 0; i < 4000; i++) {
        let bytes: Uint8Array;
        if (i % 2 === 0) {
          // Pure noise.
          bytes = new Uint8Array(random.int(0, 80));
          for (let j = 0; j < bytes.length; j++) bytes[j] = random.int(0, 255);
        } else {
          // A valid frame with a few bytes flipped reaches the checks past the CBOR parser.
          bytes = Uint8Array.prototype.slice.call(valid);
          for (let flips = random.int(1, 3); flips > 0; flips--) bytes[random.int(0, bytes.length - 1)] = random.int(0, 255);
        }
        try {
          const frame = decodeFrame(bytes);
          expect(frame.kind).to.be.oneOf(Object.values(FrameKind));
          expect(frame.channel).to.be.a('string').that.is.not.empty;
          expect(Number.isSafeInteger(frame.id) && frame.id >= 0).to.equal(true);
          outcomes.frame++;
        } catch (error) {
          if (!(error instanceof CodecError)) {
            throw new Error(`input #${i} [${Buffer.from(bytes).toString('hex')}] threw ${String(error)}`, { cause: error });
          }
          outcomes.codecError++;
        }
      }
      // Both outcomes occur, so the loop exercised the validation and not only the parser.
      expect(outcomes.frame).to.be.greaterThan(100);
      expect(outcomes.codecError).to.be.greaterThan(2000);
    });

    it('does not let a __proto__ key in a body change Object.prototype or the body\u2019s prototype', () => {
      // [2, 1, "c", 0, {"__proto__": {"polluted": true}}], written by hand: no encoder emits it.
      const text = (s: string): number[] => [0x60 + s.length, ...Buffer.from(s)];
      const bytes = new Uint8Array([0x85, 0x02, 0x01, ...text('c'), 0x00, 0xa1, ...text('__proto__'), 0xa1, ...text('polluted'), 0xf5]);
      const frame = decodeFrame(bytes);
      const body = frame.body as Record<string, unknown>;
      expect(Object.getPrototypeOf(body)).to.equal(Object.prototype);
      expect(body.polluted).to.equal(undefined);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      expect(Object.prototype).to.not.have.property('polluted');
    });
  });
});
