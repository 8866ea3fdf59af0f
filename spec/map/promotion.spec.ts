import { expect } from 'chai';
import { classifyFrame } from '../../lib/index.js';
import type { NetworkStats } from '../../lib/index.js';
import { record } from '../helpers/events.js';
import { cluster, type Cluster } from './helpers.js';
import { assertConverged } from './invariants.js';

const IDS = ['a', 'b', 'c', 'd'];

/** Messages of `type` delivered between two network snapshots. */
function delta(before: NetworkStats, after: NetworkStats, type: string): number {
  return (after.byType[type]?.messages ?? 0) - (before.byType[type]?.messages ?? 0);
}

describe('LazyReplicatedMap promotion on read', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  /** A four-member cluster with `k` written on `a`; returns the ids of its backup and of a proxy. */
  async function written(): Promise<{ c: Cluster; backup: string; proxy: string }> {
    c = await cluster(IDS);
    await c.maps.a!.set('k', { user: 'ada', n: 1 });
    await c.net.settled();
    const backup = c.maps.a!.entryInfo('k')?.backups[0] as string;
    const proxy = IDS.find((id) => id !== 'a' && id !== backup) as string;
    expect(c.maps[proxy]!.entryInfo('k')?.role).to.equal('proxy');
    return { c, backup, proxy };
  }

  it('reads on the primary without sending anything', async () => {
    const { c } = await written();
    const before = c.net.stats();
    expect(await c.maps.a!.get('k')).to.deep.equal({ user: 'ada', n: 1 });
    await c.net.settled();
    expect(c.net.stats()).to.deep.equal(before);
    expect(c.maps.a!.stats().promotions).to.equal(0);
  });

  it('promotes a backup that is read: it returns its copy, becomes primary and gets a backup of its own', async () => {
    const { c, backup } = await written();
    const promoted = record<[string | number]>(c.maps[backup]!, 'promoted');
    const before = c.net.stats();

    expect(await c.maps[backup]!.get('k')).to.deep.equal({ user: 'ada', n: 1 });
    // The primary hands the role over (MSG_CONDITIONAL 'take', answered by MSG_HANDOVER): a
    // backup's copy may be older than the primary's value, so it is not served on its own.
    const info = c.maps[backup]!.entryInfo('k');
    expect(info?.role).to.equal('primary');
    expect(info?.primary).to.equal(backup);
    await c.net.settled();
    promoted.stop();

    expect(delta(before, c.net.stats(), 'MSG_RETRIEVE_BACKUP')).to.equal(0);
    expect(delta(before, c.net.stats(), 'MSG_CONDITIONAL'), 'handover requests').to.equal(1);
    expect(delta(before, c.net.stats(), 'MSG_HANDOVER'), 'handover answers').to.equal(1);
    expect(promoted.events).to.deep.equal([['k']]);
    const after = c.maps[backup]!.entryInfo('k');
    expect(after?.backups).to.have.length(1);
    expect(after?.backups).to.not.include(backup);
    assertConverged(Object.values(c.maps), IDS, 1);
    expect(c.maps[backup]!.stats().promotions).to.equal(1);
    // The new backup really holds the value, and a read there is answered by the new primary:
    // one request and its answer.
    const newBackup = after?.backups[0] as string;
    expect(c.maps[newBackup]!.entryInfo('k')?.role).to.equal('backup');
    const beforeBackupRead = c.net.stats();
    expect(await c.maps[newBackup]!.get('k', { promote: false })).to.deep.equal({ user: 'ada', n: 1 });
    await c.net.settled();
    expect(c.net.stats().messages - beforeBackupRead.messages).to.equal(2);
  });

  it('sends nothing on a second read of a promoted backup', async () => {
    const { c, backup } = await written();
    await c.maps[backup]!.get('k');
    await c.net.settled();
    const before = c.net.stats();
    expect(await c.maps[backup]!.get('k')).to.deep.equal({ user: 'ada', n: 1 });
    await c.net.settled();
    expect(c.net.stats()).to.deep.equal(before);
    expect(c.maps[backup]!.stats().promotions).to.equal(1);
  });

  it('takes the value for a proxy that is read from the primary, which hands the role over, and updates every member', async () => {
    const { c, proxy } = await written();
    const promoted = record<[string | number]>(c.maps[proxy]!, 'promoted');
    const before = c.net.stats();
    // Who is asked: only the primary, never a backup (whose copy may be older).
    const asked: string[] = [];
    const offs = IDS.map((id) => {
      const t = c.net.transport(id);
      const listener = (_from: string, frame: Uint8Array): void => {
        if (classifyFrame(frame) === 'MSG_CONDITIONAL') asked.push(id);
      };
      t.on('message', listener);
      return () => t.off('message', listener);
    });

    expect(await c.maps[proxy]!.get('k')).to.deep.equal({ user: 'ada', n: 1 });
    expect(c.maps[proxy]!.entryInfo('k')?.role).to.equal('primary');
    await c.net.settled();
    promoted.stop();
    for (const off of offs) off();
    const after = c.net.stats();

    expect(asked).to.deep.equal(['a']);
    expect(delta(before, after, 'MSG_RETRIEVE_BACKUP'), 'retrievals from holders').to.equal(0);
    expect(delta(before, after, 'MSG_HANDOVER'), 'handover answers').to.equal(1);
    expect(promoted.events).to.deep.equal([['k']]);
    for (const id of IDS) expect(c.maps[id]!.entryInfo('k')?.primary, `primary as '${id}' sees it`).to.equal(proxy);
    assertConverged(Object.values(c.maps), IDS, 1);

    const settledStats = c.net.stats();
    expect(await c.maps[proxy]!.get('k')).to.deep.equal({ user: 'ada', n: 1 });
    await c.net.settled();
    expect(c.net.stats()).to.deep.equal(settledStats);
  });

  it('keeps the value the writer wrote after a proxy promotion, and later writes by the old primary still win', async () => {
    const { c, proxy } = await written();
    await c.maps[proxy]!.get('k');
    await c.net.settled();
    await c.maps.a!.set('k', 'newer');
    await c.net.settled();
    expect(c.maps.a!.entryInfo('k')?.role).to.equal('primary');
    for (const id of IDS) expect(await c.maps[id]!.get('k', { promote: false }), `value on '${id}'`).to.equal('newer');
    assertConverged(Object.values(c.maps), IDS, 1);
  });

  it('reads a proxy with `promote: false` without changing any role', async () => {
    const { c, proxy } = await written();
    const rolesBefore = IDS.map((id) => c.maps[id]!.entryInfo('k'));
    const promoted = record(c.maps[proxy]!, 'promoted');
    const before = c.net.stats();

    expect(await c.maps[proxy]!.get('k', { promote: false })).to.deep.equal({ user: 'ada', n: 1 });
    await c.net.settled();
    promoted.stop();

    expect(IDS.map((id) => c.maps[id]!.entryInfo('k'))).to.deep.equal(rolesBefore);
    expect(promoted.events).to.have.length(0);
    // Asked of the primary: one request, one answer.
    expect(delta(before, c.net.stats(), 'MSG_CONDITIONAL')).to.equal(1);
    expect(delta(before, c.net.stats(), 'MSG_OUTCOME')).to.equal(1);
    expect(delta(before, c.net.stats(), 'MSG_BACKUP')).to.equal(0);
    expect(delta(before, c.net.stats(), 'MSG_PROXY')).to.equal(0);
    expect(c.maps[proxy]!.stats().promotions).to.equal(0);
  });

  it('reads a backup with `promote: false` through the primary (its copy may be older) without changing any role', async () => {
    const { c, backup } = await written();
    const rolesBefore = IDS.map((id) => c.maps[id]!.entryInfo('k'));
    const before = c.net.stats();
    expect(await c.maps[backup]!.get('k', { promote: false })).to.deep.equal({ user: 'ada', n: 1 });
    await c.net.settled();
    expect(c.net.stats().messages - before.messages).to.equal(2);
    expect(delta(before, c.net.stats(), 'MSG_CONDITIONAL')).to.equal(1);
    expect(IDS.map((id) => c.maps[id]!.entryInfo('k'))).to.deep.equal(rolesBefore);
  });

  it('returns undefined for an unknown key, sending nothing and creating no entry', async () => {
    const { c, proxy } = await written();
    const before = c.net.stats();
    expect(await c.maps[proxy]!.get('nope')).to.equal(undefined);
    expect(await c.maps.a!.get(42)).to.equal(undefined);
    await c.net.settled();
    expect(c.net.stats()).to.deep.equal(before);
    expect(c.maps[proxy]!.has('nope')).to.equal(false);
    expect(c.maps[proxy]!.size).to.equal(1);
  });

  it('ends with a single primary when two proxies read the same key at once, and both get the value', async () => {
    c = await cluster(['a', 'b', 'c', 'd', 'e']);
    await c.maps.a!.set('k', 'v');
    await c.net.settled();
    const proxies = ['b', 'c', 'd', 'e'].filter((id) => c!.maps[id]!.entryInfo('k')?.role === 'proxy');
    const [p, q] = proxies as [string, string];
    const [vp, vq] = await Promise.all([c.maps[p]!.get('k'), c.maps[q]!.get('k')]);
    expect([vp, vq]).to.deep.equal(['v', 'v']);
    await c.net.settled();
    // The primary handed the role to one, then that one to the other: one primary, the value intact.
    assertConverged(Object.values(c.maps), ['a', 'b', 'c', 'd', 'e'], 1);
    for (const id of ['a', 'b', 'c', 'd', 'e']) expect(await c.maps[id]!.get('k', { promote: false })).to.equal('v');
  });
});
