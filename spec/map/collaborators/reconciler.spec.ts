import { expect } from 'chai';
import { DiffBaseMissingError, ProtocolError } from '../../../lib/errors.js';
import type { EntryCopy, Placement } from '../../../lib/codec/map-messages.js';
import type { Entry } from '../../../lib/map/entry.js';
import type { Relay } from '../../../lib/map/heal.js';
import { Reconciler, type ReconcilerParts } from '../../../lib/map/reconciler.js';
import { Calls, fakeContext } from './fakes.js';

/** A Reconciler for member 'a' (with 'b' and 'c') whose heal and failover are recorders. */
function build(verdict: 'adopt' | 'keep' | 'lost' = 'adopt') {
  const fake = fakeContext('a', ['b', 'c']);
  const calls = new Calls();
  const parts: ReconcilerParts = {
    failover: {
      primaryGone: (e: Entry) => {
        calls.record('primaryGone', e.key);
      },
    },
    heal: {
      deletedSince: (p: Placement) => {
        calls.record('deletedSince', p.key);
      },
      olderClaim: (e: Entry) => {
        calls.record('olderClaim', e.key);
      },
      firstHand: (_before, p: Placement) => {
        calls.record('firstHand', p.key);
      },
      secondHand: (_entry, _before, p: Placement) => {
        calls.record('secondHand', p.key);
        return verdict;
      },
      proxied: (p: Placement, _relay, keepsSpare?: boolean) => {
        calls.record('proxied', p.key, ...(keepsSpare === true ? ['keeps a spare'] : []));
      },
      deleted: (e: Entry) => {
        calls.record('deleted', e.key);
      },
      sendNotices: (relay: Relay) => {
        calls.record('sendNotices', relay.from, relay.secondHand);
      },
    },
  };
  return { reconciler: new Reconciler(fake.ctx, parts), calls, fake };
}

/** The placement of `key` at write clock `clock`, primary `primary`. */
const placement = (key: string, clock: number, primary: string, backups: string[] = []): Placement => ({ key, version: [clock, primary, 0, primary], primary, backups });

/** A copy of `key` for its backups. */
const copy = (key: string, clock: number, primary: string, backups: string[]): EntryCopy => ({ ...placement(key, clock, primary, backups), bytes: new Uint8Array([clock]) });

describe('Reconciler (alone, on fakes)', () => {
  it('adopts a newer placement, ignores an older one, and has heal answer an older claim naming another primary', () => {
    const { reconciler, calls, fake } = build();
    reconciler.applyPlacements([placement('k', 5, 'b')], 'b');
    const e = fake.ctx.entries.get('k');
    expect(e?.role).to.equal('proxy');
    expect(e?.version).to.deep.equal([5, 'b', 0, 'b']);
    expect(fake.raised).to.deep.equal([['entrySet', 'k', 'remote']]);
    reconciler.applyPlacements([placement('k', 3, 'c')], 'c');
    expect(fake.ctx.entries.get('k')?.primary).to.equal('b');
    expect(calls.names()).to.deep.equal(['firstHand', 'proxied', 'sendNotices', 'olderClaim', 'sendNotices']);
  });

  it('holds a copy that names this member a backup, and takes a duplicate for nothing new', () => {
    const { reconciler, fake } = build();
    reconciler.applyCopies([copy('k', 5, 'b', ['a'])], 'b');
    const e = fake.ctx.entries.get('k');
    expect(e?.role).to.equal('backup');
    expect([...(e?.bytes ?? [])]).to.deep.equal([5]);
    reconciler.applyCopies([copy('k', 5, 'b', ['a'])], 'b');
    expect(fake.raised.filter(([event]) => event === 'entrySet')).to.have.length(1);
    // The primary naming the same placement again (a duplicate, a re-announcement) leaves a
    // backup's copy where it is: only a proxy's spare is dropped that way.
    reconciler.applyPlacements([placement('k', 5, 'b', ['a'])], 'b');
    expect([...(fake.ctx.entries.get('k')?.bytes ?? [])], 'the backup still holds its copy').to.deep.equal([5]);
  });

  it('a delete removes the key and is remembered: an older placement of it is refused, a newer write is kept', () => {
    const { reconciler, calls, fake } = build();
    reconciler.applyPlacements([placement('k', 5, 'b')], 'b');
    reconciler.applyRemovals([{ key: 'k', version: [6, 'b', 0, 'b'] }], 'b');
    expect(fake.ctx.entries.has('k')).to.equal(false);
    expect(fake.raised.at(-1)).to.deep.equal(['entryRemoved', 'k', 'deleted']);
    expect(fake.ctx.tombstones.get('k')).to.deep.equal([6, 'b', 0, 'b']);
    reconciler.applyPlacements([placement('k', 5, 'c')], 'c');
    expect(fake.ctx.entries.has('k')).to.equal(false);
    expect(calls.names()).to.include('deletedSince');
    reconciler.applyPlacements([placement('j', 9, 'b')], 'b');
    reconciler.applyRemovals([{ key: 'j', version: [8, 'c', 0, 'c'] }], 'c');
    expect(fake.ctx.entries.has('j')).to.equal(true);
  });

  it('merges a state as second-hand news, deletes first, and sends what it taught once', () => {
    const { reconciler, calls, fake } = build();
    reconciler.applyPlacements([placement('d', 1, 'b')], 'b');
    calls.list.length = 0;
    reconciler.mergeState([placement('k', 5, 'c')], [{ key: 'd', version: [2, 'c', 0, 'c'] }], 'c');
    expect(calls.list).to.deep.equal([['deleted', 'd'], ['secondHand', 'k'], ['proxied', 'k'], ['sendNotices', 'c', true]]);
    expect(fake.ctx.entries.has('d')).to.equal(false);
    expect(fake.ctx.entries.get('k')?.primary).to.equal('c');
  });

  it("follows heal's verdict on second-hand news: keep what is known, or the key is lost", () => {
    const kept = build('keep');
    expect(kept.reconciler.applyPlacement(placement('k', 5, 'c'), undefined, 'remote', { from: 'b', secondHand: true, notices: new Map(), removals: new Map() })).to.equal(false);
    expect(kept.fake.ctx.entries.has('k')).to.equal(false);
    const lost = build('lost');
    expect(lost.reconciler.applyPlacement(placement('k', 5, 'c'), undefined, 'remote', { from: 'b', secondHand: true, notices: new Map(), removals: new Map() })).to.equal(true);
    expect(lost.fake.ctx.entries.has('k')).to.equal(false);
  });

  it('has failover take over at once when relayed news names a primary already gone here', () => {
    const { reconciler, calls } = build();
    reconciler.applyPlacements([placement('k', 5, 'x', ['a'])], 'b');
    expect(calls.names()).to.include('primaryGone');
  });

  it('stays a proxy, and says so, when named a holder of a write it does not have', () => {
    const { reconciler, fake } = build();
    reconciler.applyPlacements([placement('k', 5, 'b', ['a'])], 'b');
    expect(fake.ctx.entries.get('k')?.role).to.equal('proxy');
    expect(fake.raised.find(([event]) => event === 'error')?.[1]).to.be.instanceOf(ProtocolError);
  });

  it('keeps a spare copy on second-hand news that makes it a proxy, until its primary announces the placement', () => {
    /** 'a' backs up k for 'b'; 'c' then relays that 'b' re-placed it with 'c' as backup. */
    const spare = () => {
      const built = build();
      built.reconciler.applyCopies([copy('k', 5, 'b', ['a'])], 'b');
      built.reconciler.applyPlacements([{ ...placement('k', 5, 'b', ['c']), version: [5, 'b', 1, 'b'] }], 'c');
      const e = built.fake.ctx.entries.get('k');
      expect(e?.role).to.equal('proxy');
      expect(e?.bytes, 'the spare after second-hand news').to.not.equal(undefined);
      return built;
    };
    const relayedAgain = spare();
    relayedAgain.reconciler.applyPlacements([{ ...placement('k', 5, 'b', ['c']), version: [5, 'b', 1, 'b'] }], 'c');
    expect(relayedAgain.fake.ctx.entries.get('k')?.bytes, 'the same news relayed again').to.not.equal(undefined);
    const otherState = spare();
    otherState.reconciler.mergeState([{ ...placement('k', 5, 'b', ['c']), version: [5, 'b', 2, 'b'] }], [], 'c');
    expect(otherState.fake.ctx.entries.get('k')?.bytes, "a newer placement in another member's state").to.not.equal(undefined);
    // An update in place from here on reaches 'b' and 'c' only: a spare kept would fall behind.
    const firstHand = spare();
    expect(firstHand.calls.list.filter(([name]) => name === 'proxied'), 'heal told the spare is kept (a vouched copy stays vouched)').to.deep.equal([['proxied', 'k', 'keeps a spare']]);
    firstHand.reconciler.applyPlacements([{ ...placement('k', 5, 'b', ['c']), version: [5, 'b', 1, 'b'] }], 'b');
    expect(firstHand.fake.ctx.entries.get('k')?.bytes, "the primary's announcement of the same placement").to.equal(undefined);
    expect(firstHand.calls.list.filter(([name]) => name === 'proxied').at(-1), 'heal told the copy is gone').to.deep.equal(['proxied', 'k']);
    // A state transfer reaches this member alone: the member the news replaced here may still
    // count on this copy (a heal cut short by a crash).
    const primaryState = spare();
    primaryState.reconciler.mergeState([{ ...placement('k', 5, 'b', ['c']), version: [5, 'b', 1, 'b'] }], [], 'b');
    expect(primaryState.fake.ctx.entries.get('k')?.bytes, "the same placement in the primary's own state").to.not.equal(undefined);
    primaryState.reconciler.mergeState([{ ...placement('k', 5, 'b', ['c']), version: [5, 'b', 2, 'b'] }], [], 'b');
    expect(primaryState.fake.ctx.entries.get('k')?.bytes, "a newer placement in the primary's own state").to.not.equal(undefined);
    primaryState.reconciler.applyPlacements([{ ...placement('k', 5, 'b', ['c']), version: [5, 'b', 2, 'b'] }], 'b');
    expect(primaryState.fake.ctx.entries.get('k')?.bytes, 'then its announcement').to.equal(undefined);
  });

  it('refuses a diff whose base is not held here', () => {
    const { reconciler } = build();
    expect(() => {
      reconciler.applyDiff({ entry: placement('k', 5, 'b', ['a']), base: [4, 'b', 0, 'b'], diff: new Uint8Array([0]) }, 'b');
    }).to.throw(DiffBaseMissingError);
  });
});
