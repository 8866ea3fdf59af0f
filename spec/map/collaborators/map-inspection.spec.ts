import { expect } from 'chai';
import { NotStartedError } from '../../../lib/errors.js';
import type { MapKey } from '../../../lib/codec/map-messages.js';
import { Entry } from '../../../lib/map/entry.js';
import { MapInspection } from '../../../lib/map/map-inspection.js';
import { Calls, fakeContext } from './fakes.js';

/** An inspection of member 'a' (with 'b' and 'c', two backups wanted) whose host the spec starts. */
function build() {
  const fake = fakeContext('a', ['c', 'b']);
  const calls = new Calls();
  const life = { started: false };
  const inspection = new MapInspection(fake.ctx, {
    assertStarted: () => {
      if (!life.started) throw new NotStartedError('not started');
    },
    ready: () => calls.done('ready'),
  });
  return { inspection, fake, life, calls };
}

const entry = (key: MapKey, role: 'primary' | 'backup' | 'proxy', backups: string[]): Entry =>
  new Entry(key, role, [1, 'a', 0, 'a'], role === 'primary' ? 'a' : 'b', backups, role === 'proxy' ? undefined : new Uint8Array([1]));

describe('MapInspection (alone, on fakes)', () => {
  it('refuses the synchronous answers before the map started, and answers afterwards', () => {
    const { inspection, fake, life } = build();
    fake.ctx.entries.set('k', entry('k', 'primary', ['b']));
    expect(() => inspection.size).to.throw(NotStartedError);
    expect(() => inspection.has('k')).to.throw(NotStartedError);
    expect(() => inspection.keys()).to.throw(NotStartedError);
    expect(() => inspection.entryInfo('k')).to.throw(NotStartedError);
    expect(() => inspection.lastAccess('k')).to.throw(NotStartedError);
    life.started = true;
    expect(inspection.size).to.equal(1);
    expect(inspection.has('k')).to.equal(true);
    expect([...inspection.keys()]).to.deep.equal(['k']);
  });

  it('tells where a key lives with a copy of its backups, and nothing for a key unknown here', () => {
    const { inspection, fake, life } = build();
    life.started = true;
    const e = entry('k', 'primary', ['b']);
    fake.ctx.entries.set('k', e);
    const info = inspection.entryInfo('k');
    expect(info).to.deep.equal({ role: 'primary', primary: 'a', backups: ['b'] });
    (info!.backups as string[]).push('x');
    expect(e.backups).to.deep.equal(['b']);
    expect(inspection.entryInfo('none')).to.equal(undefined);
    expect(inspection.lastAccess('none')).to.equal(undefined);
  });

  it('lists the live members with this one, sorted, even before the start', () => {
    expect(build().inspection.members()).to.deep.equal(['a', 'b', 'c']);
  });

  it('counts entries by role, and the primaries holding fewer backups than promised', () => {
    const { inspection, fake } = build();
    fake.ctx.entries.set('full', entry('full', 'primary', ['b']));
    fake.ctx.entries.set('b1', entry('b1', 'backup', ['a']));
    fake.ctx.entries.set('p1', entry('p1', 'proxy', ['c']));
    fake.ctx.countSent(1);
    const stats = inspection.stats();
    expect(stats.entries).to.deep.equal({ primary: 1, backup: 1, copy: 0, proxy: 1 });
    // One backup promised (the lazy flavour's default): 'full' holds it.
    expect(stats.underReplicated).to.equal(0);
    expect(Object.values(stats.sent)).to.deep.equal([1]);
    fake.ctx.entries.set('short', entry('short', 'primary', []));
    expect(inspection.stats().underReplicated).to.equal(1);
  });

  it('iterates once the map is ready, over the keys known at the start, skipping those deleted meanwhile', async () => {
    const { inspection, fake, calls } = build();
    for (const key of ['x', 'y', 'z']) fake.ctx.entries.set(key, entry(key, 'primary', ['b']));
    const read: MapKey[] = [];
    const seen: Array<[MapKey, unknown]> = [];
    for await (const pair of inspection.entries(async (key) => {
      read.push(key);
      if (key === 'x') fake.ctx.entries.delete('y');
      await Promise.resolve();
      return `v-${String(key)}`;
    })) seen.push(pair);
    expect(calls.names()).to.deep.equal(['ready']);
    expect(read).to.deep.equal(['x', 'z']);
    expect(seen).to.deep.equal([['x', 'v-x'], ['z', 'v-z']]);
  });
});
