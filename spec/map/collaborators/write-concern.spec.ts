import { expect } from 'chai';
import { ReplicationError } from '../../../lib/errors.js';
import { Entry } from '../../../lib/map/entry.js';
import { nextUpdate } from '../../../lib/map/version.js';
import { WriteConcern, type CopyRefusal, type WriteConcernState } from '../../../lib/map/write-concern.js';
import { Calls } from './fakes.js';

/** A WriteConcern for member 'a' promising `promised` backups, with `live` members reachable. */
function build(promised: number, live: string[]) {
  const calls = new Calls();
  const state = {
    id: 'a',
    name: 'm',
    serving: true,
    promised: () => promised,
    events: { emit: (event: string, ...args: unknown[]) => (calls.record(event, ...args), true) } as WriteConcernState['events'],
    members: { has: (id: string) => live.includes(id), reachable: () => live },
  };
  return { concern: new WriteConcern(state), calls, state };
}

function entry(key: string, backups: string[]): Entry {
  return new Entry(key, 'primary', [1, 'a', 0, 'a'], 'a', backups, new Uint8Array([1]));
}

const refused = (by: string, leaving = false): ReadonlyMap<string, CopyRefusal> => new Map([[by, { reason: 'CapacityError: full', leaving }]]);

function thrown(run: () => void): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('WriteConcern (alone, on fakes)', () => {
  it('says nothing of an entry that holds what is promised', () => {
    const { concern, calls } = build(1, ['b']);
    const e = entry('k', ['b']);
    concern.settle([{ entry: e, refusals: undefined }], 'each');
    expect(calls.list).to.deep.equal([]);
    expect(thrown(() => { concern.check(e, e.version); })).to.equal(undefined);
  });

  it('reports an awaited write short for want of live members, without rejecting it', () => {
    const { concern, calls } = build(2, ['b']);
    const e = entry('k', ['b']);
    concern.settle([{ entry: e, refusals: undefined }], 'each');
    expect(calls.list).to.deep.equal([['underReplicated', { key: 'k', keys: ['k'], wanted: 2, held: 1 }]]);
    expect(thrown(() => { concern.check(e, e.version); })).to.equal(undefined);
  });

  it('rejects the write that waits with ReplicationError when a live member refused its copy', () => {
    const { concern, calls } = build(1, ['b']);
    const e = entry('k', []);
    concern.settle([{ entry: e, refusals: refused('b') }], 'each');
    expect(calls.names()).to.deep.equal(['underReplicated']);
    const error = thrown(() => { concern.check(e, e.version); });
    expect(error).to.be.instanceOf(ReplicationError);
    expect(error).to.deep.include({ keys: ['k'], wanted: 1, held: [] });
    expect((error as ReplicationError).refusals).to.deep.equal([{ member: 'b', reason: 'CapacityError: full' }]);
    // A newer write of the entry is not the one refused.
    expect(thrown(() => { concern.check(e, nextUpdate(e.version, 'a')); })).to.equal(undefined);
  });

  it('does not reject for a member that refused because it is leaving, or is not live', () => {
    const { concern } = build(1, ['b']);
    const leaving = entry('k', []);
    const gone = entry('j', []);
    concern.settle([{ entry: leaving, refusals: refused('b', true) }, { entry: gone, refusals: refused('c') }], 'each');
    expect(thrown(() => { concern.check(leaving, leaving.version); })).to.equal(undefined);
    expect(thrown(() => { concern.check(gone, gone.version); })).to.equal(undefined);
  });

  it('forgets a refusal once a publication fills the entry again', () => {
    const { concern } = build(1, ['b', 'c']);
    const e = entry('k', []);
    concern.settle([{ entry: e, refusals: refused('b') }], 'each');
    e.backups = ['c'];
    concern.settle([{ entry: e, refusals: undefined }], 'each');
    expect(thrown(() => { concern.check(e, e.version); })).to.equal(undefined);
  });

  it('reports a re-homing in one event per count, again only when the count drops, and refusals as one error', () => {
    const { concern, calls } = build(2, ['b', 'c']);
    const k = entry('k', ['b']);
    const j = entry('j', ['b']);
    concern.settle([{ entry: k, refusals: undefined }, { entry: j, refusals: undefined }], 'batch');
    expect(calls.list).to.deep.equal([['underReplicated', { key: 'k', keys: ['k', 'j'], wanted: 2, held: 1 }]]);
    calls.list.length = 0;
    concern.settle([{ entry: k, refusals: undefined }], 'batch');
    expect(calls.list, 'the same count is not announced again').to.deep.equal([]);
    k.backups = [];
    concern.settle([{ entry: k, refusals: refused('c') }], 'batch');
    expect(calls.names()).to.deep.equal(['underReplicated', 'error']);
    expect(calls.list[1]?.[1]).to.be.instanceOf(ReplicationError).and.deep.include({ keys: ['k'] });
  });

  it('reports nothing short while the member is leaving (it hands its entries over)', () => {
    const { concern, calls, state } = build(2, ['b']);
    state.serving = false;
    concern.settle([{ entry: entry('k', ['b']), refusals: undefined }], 'each');
    expect(calls.list).to.deep.equal([]);
  });
});
