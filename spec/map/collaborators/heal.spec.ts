import { expect } from 'chai';
import type { Placement, Removal } from '../../../lib/codec/map-messages.js';
import { Entry } from '../../../lib/map/entry.js';
import { Heal, newRelay, noticeTo, removalTo } from '../../../lib/map/heal.js';
import { Calls, fakeContext } from './fakes.js';

/** A Heal for member 'a' (with 'b' and 'c') whose messenger and failover are recorders. */
function build() {
  const fake = fakeContext('a', ['b', 'c']);
  const calls = new Calls();
  const heal = new Heal(fake.ctx, {
    messenger: {
      sendPlacements: (to: string, placements: readonly Placement[]) => {
        calls.record('sendPlacements', to, placements.map((p) => [p.key, p.primary]));
        return [];
      },
      sendRemovals: (to: readonly string[], removals: readonly Removal[]) => {
        calls.record('sendRemovals', [...to], removals.map((r) => r.key));
        return [];
      },
    },
    failover: {
      outrankClaim: (entry: Entry) => {
        calls.record('outrankClaim', entry.key);
      },
    },
  });
  return { heal, calls, fake };
}

/** The placement of `key` at write clock `clock`, primary `primary`. */
const placement = (key: string, clock: number, primary: string, backups: string[] = []): Placement => ({ key, version: [clock, primary, 0, primary], primary, backups });

/** Who gets which placements in `relay`, sorted by member. */
const notices = (relay: ReturnType<typeof newRelay>): Array<[string, unknown[]]> =>
  [...(relay.notices ?? [])].map(([m, ps]): [string, unknown[]] => [m, ps.map((p) => [p.key, p.primary])]).sort(([x], [y]) => x.localeCompare(y));

describe('Heal (alone, on fakes): passing on what two sides learn when they meet', () => {
  it('answers an older claim naming another primary: the owner tells every member, a holder tells the sender', () => {
    const { heal } = build();
    const owned = new Entry('k', 'primary', [5, 'a', 0, 'a'], 'a', ['b']);
    const fromOwner = newRelay('b', false);
    heal.olderClaim(owned, placement('k', 3, 'b'), fromOwner);
    expect(notices(fromOwner)).to.deep.equal([['b', [['k', 'a']]], ['c', [['k', 'a']]]]);
    const held = new Entry('h', 'backup', [5, 'c', 0, 'c'], 'c', ['a'], new Uint8Array([1]));
    const fromHolder = newRelay('b', false);
    heal.olderClaim(held, placement('h', 3, 'b'), fromHolder);
    expect(notices(fromHolder)).to.deep.equal([['b', [['h', 'c']]]]);
  });

  it('has failover outrank a claim of an older value when the newer value is held here and its primary is gone', () => {
    const { heal, calls, fake } = build();
    fake.ctx.members.add('x', 'x-1');
    fake.ctx.members.remove('x');
    const held = new Entry('k', 'backup', [5, 'x', 0, 'x'], 'x', ['a'], new Uint8Array([1]));
    heal.olderClaim(held, placement('k', 3, 'b'), newRelay('b', false));
    expect(calls.list).to.deep.equal([['outrankClaim', 'k']]);
  });

  it('passes a vouched copy on once the primary leaves this member a proxy, and only then', () => {
    const { heal } = build();
    const held = new Entry('k', 'backup', [5, 'c', 0, 'c'], 'c', ['a'], new Uint8Array([1]));
    heal.olderClaim(held, placement('k', 3, 'b'), newRelay('b', false));
    const later = newRelay('c', false);
    heal.proxied(placement('k', 6, 'c', ['b']), later);
    expect(notices(later)).to.deep.equal([['b', [['k', 'c']]]]);
    const again = newRelay('c', false);
    heal.proxied(placement('k', 7, 'c', ['b']), again);
    expect(notices(again)).to.deep.equal([]);
  });

  it('keeps a vouched copy vouched while it stays as a spare, and passes it on once the spare goes', () => {
    const { heal } = build();
    const held = new Entry('k', 'backup', [5, 'c', 0, 'c'], 'c', ['a'], new Uint8Array([1]));
    heal.olderClaim(held, placement('k', 3, 'b'), newRelay('b', false));
    // Second-hand news left this member a proxy that keeps the value: the copy is still here.
    const relayed = newRelay('b', true);
    heal.proxied(placement('k', 6, 'c', ['b']), relayed, true);
    expect(notices(relayed)).to.deep.equal([]);
    // The primary's announcement drops the spare: now the member told ('b') must hear of it.
    const announced = newRelay('c', false);
    heal.proxied(placement('k', 6, 'c', ['b']), announced);
    expect(notices(announced)).to.deep.equal([['b', [['k', 'c']]]]);
  });

  it('tells the members this member told it was primary that it is primary no longer (first-hand news)', () => {
    const { heal } = build();
    const relay = newRelay('b', false);
    heal.firstHand({ role: 'primary', primary: 'a', version: [1, 'a', 0, 'a'] }, placement('k', 6, 'b'), relay);
    expect(notices(relay)).to.deep.equal([['c', [['k', 'b']]]]);
  });

  it('withdraws its own write, everywhere and here, when it drops it for a newer write already lost, and only then', () => {
    const { heal, fake } = build();
    // a was primary of g at [1, a]; second-hand news tells of x's newer write, whose holders are
    // gone here. a's own placement may still reach a member that lost x's write already: the
    // delete refuses it there.
    const entry = new Entry('g', 'primary', [1, 'a', 0, 'a'], 'a', [], new Uint8Array([1]));
    fake.ctx.entries.set('g', entry);
    const lost = newRelay('c', true);
    expect(heal.secondHand(entry, { role: 'primary', primary: 'a', version: [1, 'a', 0, 'a'] }, placement('g', 6, 'x'), lost)).to.equal('lost');
    expect([...(lost.removals ?? [])]).to.deep.equal([
      ['b', [{ key: 'g', version: [1, 'a', 0, 'a'] }]],
      ['c', [{ key: 'g', version: [1, 'a', 0, 'a'] }]],
    ]);
    expect(fake.ctx.tombstones.get('g')).to.deep.equal([1, 'a', 0, 'a']);
    // A newer write that lives (first-hand, or second-hand with a live holder): this member's own
    // write may still be published again, so nothing is withdrawn (fault seed 1,081,171).
    const firstHand = newRelay('b', false);
    heal.firstHand({ role: 'primary', primary: 'a', version: [1, 'a', 0, 'a'] }, placement('k', 6, 'b'), firstHand);
    expect(firstHand.removals).to.equal(undefined);
    const relayed = newRelay('c', true);
    expect(heal.secondHand(undefined, { role: 'primary', primary: 'a', version: [1, 'a', 0, 'a'] }, placement('h', 6, 'b'), relayed)).to.equal('adopt');
    expect(relayed.removals).to.equal(undefined);
    // A proxy that drops a lost key withdraws nothing: it wrote nothing.
    const proxy = new Entry('p', 'proxy', [1, 'c', 0, 'c'], 'c', []);
    fake.ctx.entries.set('p', proxy);
    const quiet = newRelay('b', true);
    expect(heal.secondHand(proxy, { role: 'proxy', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('p', 6, 'x'), quiet)).to.equal('lost');
    expect(quiet.removals).to.equal(undefined);
  });

  it('tells the primary whose backup it was that it gives the copy up for a newer write (first-hand news), unless that primary is gone or sent it', () => {
    const { heal, fake } = build();
    // a held k for c; b, the newer write's primary, announces it. b tells every member itself,
    // but may die before c hears of it: c would keep naming a as its backup.
    const relay = newRelay('b', false);
    heal.firstHand({ role: 'backup', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('k', 6, 'b'), relay);
    expect(notices(relay)).to.deep.equal([['c', [['k', 'b']]]]);
    // The news comes from the old primary itself (a handover it made), or names it primary still.
    const fromOld = newRelay('c', false);
    heal.firstHand({ role: 'backup', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('k', 6, 'b'), fromOld);
    heal.firstHand({ role: 'backup', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('k', 7, 'c'), fromOld);
    expect(notices(fromOld)).to.deep.equal([]);
    // Told too when this member stays a backup, or the old primary holds a copy under the new
    // placement: narrower, the rule let a fault schedule diverge (seed 1,070,567).
    const kept = newRelay('b', false);
    heal.firstHand({ role: 'backup', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('k', 6, 'b', ['a']), kept);
    heal.firstHand({ role: 'backup', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('k', 6, 'b', ['c']), kept);
    expect(notices(kept)).to.deep.equal([['c', [['k', 'b'], ['k', 'b']]]]);
    // A proxy counted on by nobody, and an old primary no longer a member, are not told.
    const quiet = newRelay('b', false);
    heal.firstHand({ role: 'proxy', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('k', 6, 'b'), quiet);
    fake.ctx.members.remove('c');
    heal.firstHand({ role: 'backup', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('k', 6, 'b'), quiet);
    expect(notices(quiet)).to.deep.equal([]);
  });

  it('passes second-hand news on to the primary it replaces here', () => {
    const { heal } = build();
    const relay = newRelay('b', true);
    const verdict = heal.secondHand(undefined, { role: 'proxy', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('k', 6, 'b'), relay);
    expect(verdict).to.equal('adopt');
    expect(notices(relay)).to.deep.equal([['c', [['k', 'b']]]]);
  });

  it('drops a key whose second-hand news names only holders gone here, unless it holds that very write', () => {
    const { heal, fake } = build();
    const entry = new Entry('k', 'proxy', [1, 'c', 0, 'c'], 'c', []);
    fake.ctx.entries.set('k', entry);
    expect(heal.secondHand(entry, { role: 'proxy', primary: 'c', version: [1, 'c', 0, 'c'] }, placement('k', 6, 'x', ['y']), newRelay('b', true))).to.equal('lost');
    expect(fake.ctx.entries.has('k')).to.equal(false);
    expect(fake.raised).to.deep.equal([['entryRemoved', 'k', 'lost']]);
    const same = new Entry('s', 'backup', [6, 'x', 0, 'x'], 'x', ['a'], new Uint8Array([1]));
    expect(heal.secondHand(same, { role: 'backup', primary: 'x', version: [6, 'x', 0, 'x'] }, placement('s', 6, 'x', ['y']), newRelay('b', true))).to.equal('keep');
    // Its sender holds it, member here or not yet (a state from a member being met).
    expect(heal.secondHand(undefined, undefined, placement('n', 6, 'z'), newRelay('z', true))).to.equal('adopt');
  });

  it('tells a primary that publishes a key deleted since of the delete, unless it wrote the delete', () => {
    const { heal } = build();
    const relay = newRelay('b', false);
    heal.deletedSince(placement('k', 3, 'b'), [4, 'c', 0, 'c'], relay);
    heal.deletedSince(placement('j', 3, 'b'), [4, 'b', 0, 'b'], relay);
    expect([...(relay.removals ?? [])]).to.deep.equal([['b', [{ key: 'k', version: [4, 'c', 0, 'c'] }]]]);
  });

  it('passes a second-hand delete on to the primary of the key it removes here', () => {
    const { heal } = build();
    const relay = newRelay('b', true);
    heal.deleted(new Entry('k', 'proxy', [1, 'c', 0, 'c'], 'c', []), { key: 'k', version: [2, 'b', 0, 'b'] }, relay);
    expect([...(relay.removals?.keys() ?? [])]).to.deep.equal(['c']);
  });

  it('sends what was collected, deletes before placements, one message per member', () => {
    const { heal, calls } = build();
    const relay = newRelay('b', true);
    noticeTo(relay, 'c', placement('k', 1, 'b'));
    removalTo(relay, 'c', { key: 'j', version: [2, 'b', 0, 'b'] });
    heal.sendNotices(relay);
    expect(calls.list).to.deep.equal([['sendRemovals', ['c'], ['j']], ['sendPlacements', 'c', [['k', 'b']]]]);
  });
});
