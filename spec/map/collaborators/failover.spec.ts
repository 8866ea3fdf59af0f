import { expect } from 'chai';
import type { Placement } from '../../../lib/codec/map-messages.js';
import { Entry } from '../../../lib/map/entry.js';
import { Failover, type FailoverParts } from '../../../lib/map/failover.js';
import { Calls, fakeContext } from './fakes.js';

/** A Failover for member 'a' (with 'b' and 'c') whose siblings are recorders; a claim makes 'a' primary. */
function build(handed: Record<string, string> = {}) {
  const fake = fakeContext('a', ['b', 'c']);
  fake.ctx.lifecycle = 'running';
  const calls = new Calls();
  const parts: FailoverParts = {
    messenger: {
      sendPlacements: (to: string, placements: readonly Placement[]) => {
        calls.record('sendPlacements', to, placements.map((p) => p.key));
        return [];
      },
    },
    publisher: {
      publishAll: (entries: Entry[]) => calls.done('publishAll', entries.map((e) => e.key)),
      publish: (entries: Entry[]) => calls.done('publish', entries.map((e) => e.key)),
      reannounce: (entry: Entry) => {
        calls.record('reannounce', entry.key);
      },
    },
    promotion: {
      claim: (entry: Entry, why: 'read' | 'failover') => {
        calls.record('claim', entry.key, why);
        entry.role = 'primary';
        entry.primary = 'a';
      },
    },
    handovers: { handedTo: (key) => handed[String(key)] },
  };
  return { failover: new Failover(fake.ctx, parts), calls, fake };
}

/** An entry of `key` placed on `primary` with `backups`, as member 'a' holds it. */
function placed(key: string, primary: string, backups: string[], held = true): Entry {
  const role = primary === 'a' ? 'primary' : backups.includes('a') ? 'backup' : 'proxy';
  return new Entry(key, role, [1, primary, 0, primary], primary, backups, held && role !== 'proxy' ? new Uint8Array([1]) : undefined);
}

/** Removes `id` from the members, as member changes does before failover re-homes its keys. */
function gone(fake: ReturnType<typeof fakeContext>, id: string): void {
  fake.ctx.members.remove(id);
}

describe('Failover (alone, on fakes)', () => {
  it('takes over a key whose primary left when this member is its first live backup, and publishes it then announces it again', async () => {
    const { failover, calls, fake } = build();
    fake.ctx.entries.set('k', placed('k', 'b', ['a', 'c']));
    gone(fake, 'b');
    failover.rehome('b');
    await Promise.all(fake.background);
    expect(calls.list).to.deep.equal([['claim', 'k', 'failover'], ['publishAll', ['k']], ['reannounce', 'k']]);
  });

  it('tells the first live backup that it takes over, when that is another member', () => {
    const { failover, calls, fake } = build();
    fake.ctx.entries.set('k', placed('k', 'b', ['c', 'a']));
    gone(fake, 'b');
    failover.rehome('b');
    expect(calls.list).to.deep.equal([['sendPlacements', 'c', ['k']]]);
  });

  it('re-chooses the backups of a key owned here whose backup left, under a new placement version', () => {
    const { failover, calls, fake } = build();
    const e = placed('k', 'a', ['b']);
    fake.ctx.entries.set('k', e);
    gone(fake, 'b');
    failover.rehome('b');
    expect(e.backups).to.deep.equal(['c']);
    expect(e.version).to.not.deep.equal([1, 'a', 0, 'a']);
    expect(calls.names()).to.deep.equal(['publishAll']);
  });

  it('tells every member of a key it lost with the member it had handed the key over to, and nobody of other lost keys', () => {
    // 'a' handed k over to 'b' and dropped its spare when b announced it; b died before its
    // announcement reached 'c', which still names 'a' as primary.
    const { failover, calls, fake } = build({ k: 'b', other: 'c' });
    fake.ctx.entries.set('k', placed('k', 'b', []));
    fake.ctx.entries.set('other', placed('other', 'b', []));
    gone(fake, 'b');
    failover.rehome('b');
    expect(fake.ctx.entries.has('k')).to.equal(false);
    expect(fake.ctx.entries.has('other')).to.equal(false);
    expect(calls.list).to.deep.equal([['sendPlacements', 'c', ['k']]]);
  });

  it('drops a key none of whose holders is left (no stale proxy), and keeps a spare copy alive', () => {
    const { failover, calls, fake } = build();
    fake.ctx.entries.set('lost', placed('lost', 'b', ['c']));
    const spare = new Entry('spare', 'proxy', [1, 'b', 0, 'b'], 'b', ['c'], new Uint8Array([1]));
    fake.ctx.entries.set('spare', spare);
    gone(fake, 'b');
    gone(fake, 'c');
    failover.rehome('b');
    expect(fake.ctx.entries.has('lost')).to.equal(false);
    expect(fake.raised).to.deep.include(['entryRemoved', 'lost', 'lost']);
    expect(calls.list.slice(0, 2)).to.deep.equal([['claim', 'spare', 'failover'], ['publishAll', ['spare']]]);
  });

  it('leaves keys not held by the member that left alone', () => {
    const { failover, calls, fake } = build();
    fake.ctx.entries.set('k', placed('k', 'c', ['a']));
    gone(fake, 'b');
    failover.rehome('b');
    expect(calls.list).to.deep.equal([]);
  });

  it('takes nothing over after this member said goodbye', () => {
    const { failover, calls, fake } = build();
    fake.ctx.entries.set('k', placed('k', 'b', ['a']));
    fake.ctx.saidGoodbye = true;
    gone(fake, 'b');
    failover.rehome('b');
    failover.vanished('b');
    expect(calls.list).to.deep.equal([]);
  });

  it('fails over the placements a peer sent before it was met, once it vanishes', () => {
    const { failover, calls, fake } = build();
    fake.ctx.entries.set('k', placed('k', 'x', ['a']));
    failover.vanished('x');
    expect(calls.list).to.deep.equal([['claim', 'k', 'failover'], ['publish', ['k']]]);
    expect(fake.ctx.entries.get('k')?.role).to.equal('primary');
  });

  it('outranks a claim of an older value only while serving and holding the value', () => {
    const { failover, calls, fake } = build();
    const e = placed('k', 'b', ['a']);
    fake.ctx.lifecycle = 'stopping';
    failover.outrankClaim(e);
    expect(calls.list).to.deep.equal([]);
    fake.ctx.lifecycle = 'running';
    failover.outrankClaim(e);
    expect(calls.list).to.deep.equal([['claim', 'k', 'failover'], ['publish', ['k']]]);
  });
});
