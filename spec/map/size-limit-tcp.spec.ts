import { expect } from 'chai';
import { LazyReplicatedMap, ValueTooLargeError } from '../../lib/index.js';
import { record, rejection } from '../helpers/events.js';
import { addressesOf, connected, member, stopAllMembers, type ErrorArgs } from '../transport/tcp/tcp-helpers.js';

const MiB = 1024 * 1024;

describe('map size limits over TCP', () => {
  const maps: Array<LazyReplicatedMap<string>> = [];
  afterEach(async () => {
    for (const m of maps.splice(0)) await m.stop().catch(() => undefined);
    await stopAllMembers();
  });

  it('refuses a 20 MiB value at the caller with default settings; the cluster is untouched and a later write gets its backup', async function () {
    this.timeout(30_000);
    const ta = member('a');
    const tb = member('b', { seeds: addressesOf(ta) });
    const tc = member('c', { seeds: addressesOf(ta) });
    await connected(ta, tb, tc);
    const transports = [ta, tb, tc];
    const errors = transports.map((t) => record<ErrorArgs>(t, 'error'));
    const downs = transports.map((t) => record(t, 'peerDown'));
    for (const t of transports) {
      const map = new LazyReplicatedMap<string, unknown>({ name: 'big', transport: t, rpcTimeoutMs: 2000 });
      maps.push(map);
      await map.start();
    }
    const [a, b, c] = maps as [LazyReplicatedMap<string>, LazyReplicatedMap<string>, LazyReplicatedMap<string>];
    const before = transports.map((t) => t.stats());

    const error = await rejection(a.set('photo', 'x'.repeat(20 * MiB)));
    expect(error).to.be.instanceOf(ValueTooLargeError);
    const e = error as ValueTooLargeError;
    expect(e.limit).to.equal(16 * MiB);
    expect(e.bytes).to.be.greaterThan(20 * MiB);
    expect(e.message).to.include('"photo"').and.include('maxFrameBytes').and.include(String(16 * MiB));
    // Nothing was sent: not one frame left a member.
    expect(transports.map((t) => t.stats().framesOut)).to.deep.equal(before.map((s) => s.framesOut));
    for (const m of maps) expect(m.has('photo')).to.equal(false);

    const write = await a.set('later', 'small');
    expect(write).to.equal(a);
    const info = a.entryInfo('later');
    expect(info?.backups).to.have.length(1);
    expect(await b.get('later', { promote: false })).to.equal('small');
    expect(await c.get('later', { promote: false })).to.equal('small');
    for (const m of maps) expect(m.members()).to.deep.equal(['a', 'b', 'c']);
    // No member reconnected since the cluster formed.
    expect(transports.map((t) => t.stats().reconnects)).to.deep.equal(before.map((s) => s.reconnects));
    expect(downs.map((d) => d.events)).to.deep.equal([[], [], []]);
    expect(errors.map((r) => r.events)).to.deep.equal([[], [], []]);
  });
});
