import { expect } from 'chai';
import { hasStrayBreak } from '../../lib/codec/cbor-well-formed.js';
import { CodecError, ValueCodec, decodeFrame } from '../../lib/index.js';
import { thrown } from '../helpers/events.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));

describe('hasStrayBreak', () => {
  const stray: Record<string, string> = {
    'a lone break': 'ff',
    'a break as the element of a definite array': '81 ff',
    'a break between elements of a definite array': '82 01 ff',
    'a break as a map key': 'a1 ff 01',
    'a break as a map value': 'a1 61 6b ff',
    'a break as the content of a tag': 'c1 ff',
    'a break after a complete item': '01 ff',
    'a second break closing an indefinite array': '9f 01 ff ff',
    'a break in a definite array inside an indefinite one': '9f 81 ff ff',
  };
  for (const [name, bytes] of Object.entries(stray)) {
    it(`finds ${name}`, () => {
      expect(hasStrayBreak(hex(bytes))).to.equal(true);
    });
  }

  const wellFormed: Record<string, string> = {
    'an empty indefinite array': '9f ff',
    'an indefinite array of two items': '9f 01 02 ff',
    'nested indefinite arrays': '9f 9f ff 9f 01 ff ff',
    'an indefinite map': 'bf 61 6b 01 ff',
    'an indefinite byte string in chunks': '5f 42 01 02 41 03 ff',
    'an indefinite text string in chunks': '7f 62 68 69 ff',
    'a byte string whose content is 0xff bytes': '43 ff ff ff',
    'a text string, then nothing': '63 61 62 63',
    'a float64 whose bytes hold 0xff': 'fb ff ff ff ff ff ff ff ff',
    'a 64-bit integer whose bytes hold 0xff': '1b 00 00 00 00 ff ff ff ff',
    'a tagged date': 'c1 fb 41 d9 5e 5e 8a 80 00 00',
  };
  for (const [name, bytes] of Object.entries(wellFormed)) {
    it(`accepts ${name}`, () => {
      expect(hasStrayBreak(hex(bytes))).to.equal(false);
    });
  }

  it('leaves truncated and reserved encodings to the decoder instead of misreading them', () => {
    expect(hasStrayBreak(hex('5a 00 00 01'))).to.equal(false); // length prefix cut short
    expect(hasStrayBreak(hex('44 01 02'))).to.equal(false); // string shorter than its length
    expect(hasStrayBreak(hex('1c'))).to.equal(false); // reserved additional information
    expect(hasStrayBreak(hex('5f 61 61 ff'))).to.equal(false); // text chunk in a byte string: malformed, not a stray break
  });

  it('scans a deeply nested structure without recursion', () => {
    const depth = 200_000;
    const bytes = new Uint8Array(depth + 1).fill(0x81);
    bytes[depth] = 0xff;
    expect(hasStrayBreak(bytes)).to.equal(true);
  });
});

describe('stray breaks from a peer', () => {
  const codec = new ValueCodec();
  // cbor-x 1.6.8 decodes these to values holding its internal stop marker; 1.6.9 throws. Both must be a CodecError.
  for (const bytes of ['ff', '81 ff', '82 ff 01', 'a1 61 6b ff']) {
    it(`rejects value bytes ${bytes} with a CodecError, whatever cbor-x release is installed`, () => {
      const error = thrown(() => codec.decode(hex(bytes)));
      expect(error).to.be.instanceOf(CodecError);
      expect((error as Error).message).to.match(/break/);
    });
  }

  it('rejects a frame holding a stray break with a CodecError', () => {
    // [1, 2, "c", 0, [break]]: a well-formed envelope but for its body.
    const error = thrown(() => decodeFrame(hex('85 01 02 61 63 00 81 ff')));
    expect(error).to.be.instanceOf(CodecError);
  });
});
