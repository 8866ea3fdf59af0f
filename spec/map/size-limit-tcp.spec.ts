import { expect } from 'chai';
import { LazyReplicatedMap, ReplicationError, ValueTooLargeError } from '../../lib/index.js';
import { record, rejection } from '../helpers/events.js';
import { addressesOf, connected, member, stopAllMembers, type ErrorArgs } from '../transport/tcp/tcp-helpers.js';

const MiB = 1024 * 1024;

describe('map size limits over TCP', () => {
  const maps: Array<LazyReplicatedMap<string>> = [];
  afterEach(async () => {
    for (const m of maps.splice(0)) await m.stop({ discard: true }).catch(() => undefined);
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

  it("refuses a value above one member's smaller maxFrameBytes with a typed error, and nobody reconnects", async function () {
    this.timeout(30_000);
    const ta = member('a');
    const tb = member('b', { maxFrameBytes: MiB, seeds: addressesOf(ta) });
    await connected(ta, tb);
    const errors = [ta, tb].map((t) => record<ErrorArgs>(t, 'error'));
    const downs = [ta, tb].map((t) => record(t, 'peerDown'));
    for (const t of [ta, tb]) {
      const map = new LazyReplicatedMap<string, unknown>({ name: 'mixed', transport: t, rpcTimeoutMs: 2000 });
      maps.push(map);
      await map.start();
    }
    const [a, b] = maps as [LazyReplicatedMap<string>, LazyReplicatedMap<string>];
    const before = [ta, tb].map((t) => t.stats());
    const error = await rejection(a.set('photo', 'x'.repeat(2 * MiB)));
    // With the members' limits known to the map (exchanged when they join), the caller refuses it
    // before sending; with only its own, b's transport refuses to send it and the write says so.
    if (error instanceof ReplicationError) {
      expect(error.refusals.map((r) => r.reason.split(':')[0])).to.deep.equal(['FrameRefusedError']);
      expect(error.refusals[0]!.reason).to.include('maxFrameBytes');
      // Not rolled back (write concern): b knows where the value lives, and holds no copy.
      expect(b.entryInfo('photo')?.role).to.equal('proxy');
    } else {
      expect(error).to.be.instanceOf(ValueTooLargeError);
      expect((error as ValueTooLargeError).limit).to.equal(MiB);
      expect(b.has('photo')).to.equal(false);
    }
    // Not one frame above b's limit went out: b's transport received no large frame.
    expect(tb.stats().bytesIn - before[1]!.bytesIn).to.be.lessThan(MiB);
    await a.set('later', 'small');
    expect(a.entryInfo('later')?.backups).to.deep.equal(['b']);
    expect(await b.get('later', { promote: false })).to.equal('small');
    expect([ta, tb].map((t) => t.stats().reconnects)).to.deep.equal(before.map((s) => s.reconnects));
    expect(downs.map((d) => d.events)).to.deep.equal([[], []]);
    expect(errors.map((r) => r.events)).to.deep.equal([[], []]);
  });
});
