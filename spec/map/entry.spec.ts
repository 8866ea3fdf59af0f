import { expect } from 'chai';
import fc from 'fast-check';
import { Entry, NOT_DECODED } from '../../lib/map/entry.js';
import { compareVersions, sameWrite, type Version } from '../../lib/map/version.js';
import { holds } from '../../property-tests/settings.js';

const version = (): fc.Arbitrary<Version> => fc.tuple(fc.nat(5), fc.constantFrom('a', 'b', 'c'), fc.nat(3), fc.constantFrom('a', 'b', 'c'));

describe('Entry', () => {
  it('orders and matches versions exactly as compareVersions and sameWrite do', async () => {
    await holds(
      fc.property(version(), version(), (a, b) => {
        const e = new Entry('k', 'proxy', a, 'a', []);
        expect(e.version).to.deep.equal(a);
        expect(Math.sign(e.compare(b))).to.equal(Math.sign(compareVersions(a, b)));
        expect(e.sameWrite(b)).to.equal(sameWrite(a, b));
      }),
      200,
    );
  });

  it('keeps role, bytes, value and last access through role changes, and forgets them as a plain proxy', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const e = new Entry('k', 'proxy', [1, 'a', 0, 'a'], 'a', []);
    expect([e.role, e.bytes, e.value, e.lastAccess]).to.deep.equal(['proxy', undefined, NOT_DECODED, undefined]);
    e.role = 'backup';
    e.bytes = bytes;
    e.lastAccess = 42;
    e.role = 'primary';
    e.value = 'v';
    expect([e.role, e.bytes, e.value, e.lastAccess]).to.deep.equal(['primary', bytes, 'v', 42]);
    // A proxy with a spare copy keeps it.
    e.role = 'proxy';
    expect(e.bytes).to.equal(bytes);
    e.value = NOT_DECODED;
    e.lastAccess = undefined;
    e.bytes = undefined;
    expect([e.role, e.bytes, e.value, e.lastAccess]).to.deep.equal(['proxy', undefined, NOT_DECODED, undefined]);
    e.role = 'backup';
    expect(e.role).to.equal('backup');
  });
});
