import { expect } from 'chai';
import { Entry } from '../../../lib/map/entry.js';
import { MemberChanges } from '../../../lib/map/member-changes.js';
import { Calls, fakeContext } from './fakes.js';

/** MemberChanges for member 'a' (with 'b' live) whose siblings are recorders. */
function build() {
  const fake = fakeContext('a', ['b']);
  fake.ctx.lifecycle = 'running';
  const calls = new Calls();
  const changes = new MemberChanges(fake.ctx, {
    failover: {
      rehome: (id: string) => {
        calls.record('rehome', id);
      },
    },
    publisher: { publishAll: (entries: Entry[]) => calls.done('publishAll', entries.map((e) => e.key)) },
    transfer: {
      forgetSent: (id: string) => {
        calls.record('forgetSent', id);
      },
    },
    conditional: {
      met: (id: string) => {
        calls.record('met', id);
      },
    },
  });
  return { changes, calls, fake };
}

/** The events raised about members, in order. */
function memberEvents(fake: ReturnType<typeof fakeContext>): unknown[] {
  return fake.raised.filter(([event]) => event === 'memberAdded' || event === 'memberDisappeared');
}

describe('MemberChanges (alone, on fakes)', () => {
  it('adds a new member, says so, and gives the entries owned here short of backups more', () => {
    const { changes, calls, fake } = build();
    // Owned here with one backup wanted: 'short' has none yet, 'full' has 'b'.
    fake.ctx.entries.set('short', new Entry('short', 'primary', [1, 'a', 0, 'a'], 'a', [], new Uint8Array([1])));
    fake.ctx.entries.set('full', new Entry('full', 'primary', [2, 'a', 0, 'a'], 'a', ['b'], new Uint8Array([1])));
    changes.added('c', 'c-1');
    expect(fake.ctx.members.incarnation('c')).to.equal('c-1');
    expect(memberEvents(fake)).to.deep.equal([['memberAdded', 'c']]);
    expect(calls.list).to.deep.equal([['met', 'c'], ['publishAll', ['short']]]);
    expect(fake.ctx.entries.get('short')?.backups).to.have.length(1);
  });

  it('ignores a member already added with that incarnation', () => {
    const { changes, calls, fake } = build();
    changes.added('b', 'b-1');
    expect(calls.list).to.deep.equal([]);
    expect(memberEvents(fake)).to.deep.equal([]);
  });

  it('takes a known member under a new incarnation for a restart: it left, then joins again', () => {
    const { changes, calls, fake } = build();
    changes.added('b', 'b-2');
    expect(memberEvents(fake)).to.deep.equal([['memberDisappeared', 'b'], ['memberAdded', 'b']]);
    expect(calls.list).to.deep.equal([['forgetSent', 'b'], ['rehome', 'b'], ['met', 'b']]);
    expect(fake.ctx.members.incarnation('b')).to.equal('b-2');
  });

  it('meets newcomers while stopping (without re-backup) until its goodbye, and none once stopped', () => {
    const { changes, calls, fake } = build();
    fake.ctx.entries.set('short', new Entry('short', 'primary', [1, 'a', 0, 'a'], 'a', [], new Uint8Array([1])));
    fake.ctx.lifecycle = 'stopping';
    changes.added('c', 'c-1');
    expect(calls.list).to.deep.equal([['met', 'c']]);
    fake.ctx.saidGoodbye = true;
    changes.added('d', 'd-1');
    fake.ctx.lifecycle = 'stopped';
    fake.ctx.saidGoodbye = false;
    changes.added('e', 'e-1');
    expect(fake.ctx.members.has('d') || fake.ctx.members.has('e')).to.equal(false);
  });

  it('removes a member that left, forgets the state it was sent, and has failover re-home its keys', () => {
    const { changes, calls, fake } = build();
    changes.disappeared('b');
    expect(fake.ctx.members.has('b')).to.equal(false);
    expect(memberEvents(fake)).to.deep.equal([['memberDisappeared', 'b']]);
    expect(calls.list).to.deep.equal([['forgetSent', 'b'], ['rehome', 'b']]);
  });

  it('forgets the state sent to a peer that was no member, and re-homes nothing for it', () => {
    const { changes, calls, fake } = build();
    changes.disappeared('x');
    expect(calls.list).to.deep.equal([['forgetSent', 'x']]);
    expect(memberEvents(fake)).to.deep.equal([]);
  });
});
