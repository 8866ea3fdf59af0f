import { expect } from 'chai';
import fc from 'fast-check';
import { Entry, NOT_DECODED, type EntryLedger, type EntryRole } from '../../lib/map/entry.js';
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

  it('encodes a deferred value once, when bytes are asked for or it becomes primary, and keeps the ledger exact', () => {
    // A ledger that counts bytes as capacity.ts does: what was counted is taken off, what is counted now added.
    let counted = 0;
    const ledger: EntryLedger = {
      changed: (entry: Entry, _role: EntryRole, bytes: number) => {
        counted += entry.byteCount - bytes;
      },
      demoting: () => undefined,
      resized: (entry: Entry, bytes: number) => {
        counted += entry.byteCount - bytes;
      },
    };
    const e = new Entry('k', 'backup', [1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array(10));
    e.ledger = ledger;
    counted = e.byteCount;
    let encodes = 0;
    const encode = (v: unknown): Uint8Array => {
      encodes++;
      return new Uint8Array((v as { size: number }).size);
    };
    const value = { size: 25 };
    e.deferEncoding(value, encode, 4);
    e.deferEncoding(value, encode, 3);
    expect([encodes, e.deferred, e.holding, e.byteCount, counted], 'nothing encoded; old bytes plus diffs counted').to.deep.equal([0, true, true, 17, 17]);
    expect(e.heldBytes?.byteLength, 'the old bytes, as held').to.equal(10);
    expect(e.bytes?.byteLength, 'encoded when asked for').to.equal(25);
    expect(e.bytes?.byteLength).to.equal(25);
    expect([encodes, e.deferred, e.byteCount, counted, e.value], 'once; exact again; a backup keeps its bytes only').to.deep.equal([1, false, 25, 25, NOT_DECODED]);

    e.deferEncoding({ size: 40 }, encode, 2);
    e.role = 'primary';
    expect([encodes, e.deferred, e.byteCount, counted], 'encoded before it becomes primary').to.deep.equal([2, false, 40, 40]);

    e.role = 'backup';
    e.deferEncoding({ size: 50 }, encode, 2);
    e.bytes = new Uint8Array(7);
    expect([encodes, e.deferred, e.byteCount, counted], 'bytes set: the deferred value is dropped, not encoded').to.deep.equal([2, false, 7, 7]);
  });

  it('encodes a primary that defers to its replay log when it stops being primary, and keeps no deferral on the caller\'s object', () => {
    const live = { size: 99 };
    const e = new Entry('k', 'primary', [1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array(10));
    e.value = live;
    // The replay log's rebuild ignores the live value (replay-log.ts): the bytes as replicated.
    const rebuild = (): Uint8Array => new Uint8Array(12);
    e.deferEncoding(live, rebuild, 2);
    expect([e.deferred, e.deferredTo(rebuild)]).to.deep.equal([true, true]);
    e.role = 'backup';
    expect([e.deferred, e.heldBytes?.byteLength], 'rebuilt as it was demoted').to.deep.equal([false, 12]);
    // A backup keeps its bytes, not the caller's object: a read of it here would serve changes
    // never replicated, and the object's caller may change it further.
    expect(e.value, 'the live object let go').to.equal(NOT_DECODED);
  });
});
