import { expect } from 'chai';
import type { MapMessage, Placement } from '../../../lib/codec/map-messages.js';
import { MESSAGE_TYPE_NAMES } from '../../../lib/codec/message-types.js';
import { Departure, type DepartureParts } from '../../../lib/map/departure.js';
import { Entry } from '../../../lib/map/entry.js';
import { Calls, fakeContext, lazyFlavour } from './fakes.js';

/** A Departure for member 'a' (stopping) with `others`, on a recording messenger and publisher. */
function build(others: string[], backups = 1) {
  const fake = fakeContext('a', others, { flavour: lazyFlavour(backups) });
  fake.ctx.lifecycle = 'stopping';
  const calls = new Calls();
  let busy = false;
  const parts: DepartureParts = {
    messenger: {
      request: (message: MapMessage, to) => {
        // Whether this member had said goodbye when the message left.
        calls.record(MESSAGE_TYPE_NAMES[message.type] ?? '?', [...to], fake.ctx.saidGoodbye);
        return Promise.resolve(to.map((from) => ({ from, reply: [] })));
      },
      sendPlacements: (to: string, placements: readonly Placement[]) => {
        calls.record('placements', to, placements.map((p) => [p.key, p.primary, [...p.backups]]));
        return [Promise.resolve([{ from: to, reply: [] }])];
      },
    },
    publisher: {
      get busy() {
        return busy;
      },
      drain: () => {
        calls.record('drain');
        busy = false;
        return Promise.resolve();
      },
      publishAll: (entries) => calls.done('publishAll', entries.map((e) => [e.key, [...e.backups]])),
    },
  };
  return { departure: new Departure(fake.ctx, parts), calls, fake, setBusy: () => (busy = true) };
}

const owned = (fake: ReturnType<typeof fakeContext>, key: string, backups: string[]): Entry => {
  const entry = new Entry(key, 'primary', [1, 'a', 0, 'a'], 'a', backups, new Uint8Array([1]));
  fake.ctx.entries.set(key, entry);
  return entry;
};

describe('Departure (alone, on fakes)', () => {
  it('drains publications, says leaving, hands the primary role to a staying backup, then says goodbye', async () => {
    const { departure, calls, fake, setBusy } = build(['b', 'c']);
    const entry = owned(fake, 'k', ['b']);
    setBusy();
    const result = await departure.leave({ waitMs: 1000, discard: false });
    expect(calls.list).to.deep.equal([
      ['drain'],
      ['MSG_LEAVING', ['b', 'c'], false],
      ['placements', 'b', [['k', 'b', ['a']]]],
      ['placements', 'c', [['k', 'b', ['a']]]],
      ['MSG_STOP', ['b', 'c'], true],
    ]);
    expect(entry.role).to.equal('backup');
    expect(result).to.deep.equal({ dropped: 0, hadPeer: true, waitedMs: 0, saved: undefined });
  });

  it('gives an entry only it holds a copy on a staying member before handing its role over', async () => {
    const { departure, calls, fake } = build(['b', 'c']);
    fake.ctx.members.markLeaving('b');
    owned(fake, 'k', []);
    await departure.leave({ waitMs: 1000, discard: false });
    expect(calls.list.find(([name]) => name === 'publishAll')).to.deep.equal(['publishAll', [['k', ['c']]]]);
    expect(calls.list.filter(([name]) => name === 'placements').map(([, to, placements]) => [to, placements])).to.deep.equal([
      ['b', [['k', 'c', ['a']]]],
      ['c', [['k', 'c', ['a']]]],
    ]);
  });

  it('gives its entries one staying holder even when the map wants no backups', async () => {
    const { departure, calls, fake } = build(['b'], 0);
    owned(fake, 'k', []);
    await departure.leave({ waitMs: 1000, discard: false });
    expect(calls.list.find(([name]) => name === 'publishAll')).to.deep.equal(['publishAll', [['k', ['b']]]]);
  });

  it('counts what it drops when no member stays and none comes within waitMs', async () => {
    const { departure, calls, fake } = build(['b']);
    fake.ctx.members.markLeaving('b');
    owned(fake, 'k', []);
    owned(fake, 'x', ['b']);
    const result = await departure.leave({ waitMs: 0, discard: false });
    expect(result.dropped).to.equal(2);
    expect(calls.names()).to.deep.equal(['MSG_LEAVING', 'MSG_STOP']);
    expect(fake.ctx.saidGoodbye).to.equal(true);
  });

  it('waits for a member to join, and hands the entries to it once told of the change', async () => {
    const { departure, calls, fake } = build([]);
    fake.ctx.members.add('old', 'old-1');
    fake.ctx.members.markLeaving('old');
    owned(fake, 'k', []);
    const leaving = departure.leave({ waitMs: 60_000, discard: false });
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.names()).to.deep.equal(['MSG_LEAVING']);
    fake.ctx.members.add('new', 'new-1');
    departure.changed();
    const result = await leaving;
    expect(result.dropped).to.equal(0);
    expect(result.waitedMs).to.be.below(60_000);
    expect(calls.list).to.deep.include(['MSG_LEAVING', ['new'], false]);
    expect(calls.list).to.deep.include(['publishAll', [['k', ['new']]]]);
    expect(calls.list.at(-1)).to.deep.equal(['MSG_STOP', ['old', 'new'], true]);
  });

  it('hands what no member can take to the snapshot instead of waiting', async () => {
    const { departure, fake } = build([]);
    owned(fake, 'k', []);
    fake.ctx.members.add('old', 'old-1');
    fake.ctx.members.markLeaving('old');
    const saved: string[][] = [];
    const result = await departure.leave({
      waitMs: 60_000,
      discard: false,
      save: (entries) => {
        saved.push(entries.map((e) => String(e.key)));
        return Promise.resolve(undefined);
      },
    });
    expect(saved).to.deep.equal([['k']]);
    expect(result).to.deep.include({ dropped: 0, waitedMs: 0 });
  });
});
