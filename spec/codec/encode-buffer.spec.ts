import { expect } from 'chai';
import { decodeFrame, encodeFrame, FrameKind, type Frame } from '../../lib/codec/frame.js';
import { MAX_KEPT_BYTES } from '../../lib/codec/encode-buffer.js';
import { defaultValueCodec } from '../../lib/codec/value-codec.js';
import { ValueEncodeError } from '../../lib/errors.js';

/** A small request frame, as a map sends thousands of. */
const small = (id: number): Frame => ({ kind: FrameKind.Request, channel: 'lazy-replicated-map:m', id, body: [3, 'k', id] });

describe("the encoder's working buffer", () => {
  it('is small again after a large value: later frames are not cut from a buffer of its size', () => {
    // 10 Mi characters: cbor-x grew its buffer to 60 MiB for this before (3 bytes per character, doubled).
    const large = 'x'.repeat(10 * 1024 * 1024);
    const bytes = defaultValueCodec.encode(large);
    expect(defaultValueCodec.decode(bytes)).to.equal(large);
    const frame = encodeFrame(small(1));
    expect(frame.buffer.byteLength).to.be.at.most(64 * 1024);
    expect(decodeFrame(frame).body).to.deep.equal([3, 'k', 1]);
  });

  it('is small again after a value that grew it and then failed to encode', () => {
    // The string grows the buffer before cbor-x reaches the function and throws.
    expect(() => defaultValueCodec.encode(['x'.repeat(10 * 1024 * 1024), () => 1])).to.throw(ValueEncodeError);
    expect(encodeFrame(small(2)).buffer.byteLength).to.be.at.most(64 * 1024);
  });

  it('keeps the bytes of a large frame that is still in use while later frames are encoded', () => {
    const payload = new Uint8Array(MAX_KEPT_BYTES + 1).fill(7);
    const big = encodeFrame({ kind: FrameKind.Request, channel: 'lazy-replicated-map:m', id: 9, body: [1, payload] });
    const copy = Uint8Array.prototype.slice.call(big);
    // Thousands of frames after it: written into the fresh buffer, never over the large frame.
    for (let i = 0; i < 5000; i++) encodeFrame(small(i));
    expect(Buffer.compare(big, copy)).to.equal(0);
    const decoded = decodeFrame(big).body as [number, Uint8Array];
    expect(decoded[1].byteLength).to.equal(MAX_KEPT_BYTES + 1);
    expect(encodeFrame(small(1)).buffer.byteLength).to.be.at.most(64 * 1024);
  });

  it('never hands the encoder a buffer that frames still in use were cut from', () => {
    const payload = new Uint8Array(MAX_KEPT_BYTES + 1);
    encodeFrame({ kind: FrameKind.Request, channel: 'c', id: 1, body: [payload] });
    const between = encodeFrame(small(42));
    const copy = Uint8Array.prototype.slice.call(between);
    // A second large frame and a second release: the frame cut in between keeps its bytes.
    encodeFrame({ kind: FrameKind.Request, channel: 'c', id: 2, body: [payload] });
    for (let i = 0; i < 100; i++) encodeFrame(small(i));
    expect(Buffer.compare(between, copy)).to.equal(0);
  });

  it('keeps a buffer of the size map messages need (cut at about 1 MiB)', () => {
    const page = encodeFrame({ kind: FrameKind.Request, channel: 'lazy-replicated-map:m', id: 2, body: [1, new Uint8Array(1024 * 1024)] });
    const next = encodeFrame(small(3));
    // Not handed a fresh buffer: the next frame comes from the buffer the page grew.
    expect(next.buffer).to.equal(page.buffer);
  });
});
