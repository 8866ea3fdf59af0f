import { expect } from 'chai';
import fc from 'fast-check';
import { FrameKind, MSG_BACKUP, MSG_DIFF, MSG_STATE, encodeFrame, mapMessageToWire, type Version } from '../../lib/index.js';
import { chunked, copyBound, copyFrameBound, diffFrameBound, envelopeBound, placementBound, removalBound } from '../../lib/map/message-size.js';
import { holds } from '../../property-tests/settings.js';

describe('chunked', () => {
  it('splits a list into runs within the size limit, in order, losing nothing; an oversize item goes alone', async () => {
    await holds(
      fc.property(fc.array(fc.nat(300)), fc.integer({ min: 1, max: 500 }), (sizes, max) => {
        const runs = chunked(sizes, (s) => s, max);
        expect(runs.flat()).to.deep.equal(sizes);
        for (const run of runs) {
          expect(run.length).to.be.greaterThan(0);
          const total = run.reduce((a, b) => a + b, 0);
          if (run.length > 1) expect(total).to.be.at.most(max);
        }
      }),
      200,
    );
  });

  it('sends nothing for nothing', () => {
    expect(chunked([], () => 1)).to.deep.equal([]);
  });
});

describe('frame size bounds', () => {
  // Any text, multi-byte characters included (they weigh up to 3 bytes in UTF-8).
  const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
  const key = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());
  const world = fc.record({
    channel: name,
    key,
    ids: fc.uniqueArray(name, { minLength: 1, maxLength: 6 }),
    value: fc.integer({ min: 0, max: 70_000 }),
    clock: fc.nat(),
    update: fc.nat(),
    expiry: fc.boolean(),
    id: fc.nat(),
  });

  it('a copy frame, a diff frame and a state page never encode larger than their bounds', async () => {
    await holds(
      fc.property(world, (w) => {
        const [primary, ...others] = w.ids as [string, ...string[]];
        const at = (i: number): string => w.ids[i % w.ids.length] as string;
        const version: Version = [w.clock, at(w.clock), w.update, at(w.update + 1), w.update, at(w.update + 2)];
        const placement = { key: w.key, version, primary, backups: others };
        const bytes = new Uint8Array(w.value);
        const copy = w.expiry ? { ...placement, bytes, expiry: { ttlMs: 2 ** 40, maxIdleMs: 2 ** 40, idleMs: 2 ** 40 } } : { ...placement, bytes };
        const who = { ids: w.ids, backups: w.ids.length };
        const frame = (body: unknown[]): number => encodeFrame({ kind: FrameKind.Request, channel: w.channel, id: w.id, body }).byteLength;
        const copyFrame = frame(mapMessageToWire({ type: MSG_BACKUP, entries: [copy] }));
        expect(copyFrame).to.be.at.most(copyFrameBound(w.channel, w.key, w.value, who));
        expect(copyFrame).to.be.at.most(envelopeBound(w.channel) + copyBound(copy));
        const diffFrame = frame(mapMessageToWire({ type: MSG_DIFF, entry: placement, base: version, diff: bytes }));
        expect(diffFrame).to.be.at.most(diffFrameBound(w.channel, w.key, w.value, who));
        const removal = { key: w.key, version };
        const page = frame(mapMessageToWire({ type: MSG_STATE, incarnation: crypto.randomUUID(), entries: [placement, placement], tombstones: [removal], next: 2 ** 40 }));
        expect(page).to.be.at.most(envelopeBound(w.channel) + 2 * placementBound(placement) + removalBound(removal));
      }),
      200,
    );
  });
});
