import { expect } from 'chai';
import { ConditionalWriteError, ValueTooLargeError } from '../../../lib/errors.js';
import { MSG_ACCESS } from '../../../lib/codec/message-types.js';
import type { MapKey } from '../../../lib/codec/map-messages.js';
import { Entry } from '../../../lib/map/entry.js';
import { WritePath, type WritePathParts } from '../../../lib/map/write-path.js';
import { Calls, fakeContext } from './fakes.js';

/** What `conditional.take` does in a spec: the role comes here, stays there, or nobody answers. */
type Take = 'here' | { value: unknown } | Error;

/** A WritePath for member 'a' (with 'b') on recorders; `decides` says whether 'a' decides for unknown keys. */
function build(options: { decides?: boolean; take?: Take; frameLimit?: number } = {}) {
  const fake = fakeContext('a', ['b'], options.frameLimit === undefined ? {} : { frameLimit: options.frameLimit });
  fake.ctx.lifecycle = 'running';
  const calls = new Calls();
  const parts: WritePathParts = {
    publisher: {
      publishWrite: (entry) => calls.done('publishWrite', entry.key),
      published: async (entry, first) => {
        await first;
        calls.record('published', entry.key);
      },
      publish: (entries) => calls.done('publish', entries.map((e) => e.key)),
      access: (entry) => calls.done('access', entry.key),
      underWay: () => undefined,
    },
    conditional: {
      decidesHere: () => options.decides ?? true,
      agreeing: () => undefined,
      created: () => () => undefined,
      take: async (key) => {
        calls.record('take', key);
        await Promise.resolve();
        const take = options.take ?? 'here';
        if (take instanceof Error) throw take;
        return take;
      },
    },
    expiry: {
      used: (entry) => {
        calls.record('used', entry.key);
      },
    },
    messenger: {
      request: async (message, to) => {
        calls.record('request', message.type, to);
        await Promise.resolve();
        return to.map((from) => ({ from, reply: [] }));
      },
    },
    order: {
      fetching: (key, work) => {
        calls.record('fetching', key);
        return work;
      },
      decidingElsewhere: (key, work) => {
        calls.record('decidingElsewhere', key);
        return work;
      },
    },
    reads: { removedEverywhere: (key: MapKey) => calls.done('removedEverywhere', key) },
  };
  const writes = new WritePath(fake.ctx, parts, { assertUsable: () => undefined }, {});
  return { writes, calls, fake };
}

const bytes = (n = 3): Uint8Array => new Uint8Array(n).fill(1);

describe('WritePath (alone, on fakes)', () => {
  it('writes a key it decides for here, as its primary with a backup chosen, and resolves once published', async () => {
    const { writes, calls, fake } = build();
    await writes.store('k', 'v', bytes(), {});
    const e = fake.ctx.entries.get('k')!;
    expect([e.role, e.primary, e.backups, e.value]).to.deep.equal(['primary', 'a', ['b'], 'v']);
    expect(calls.names()).to.deep.equal(['publishWrite', 'published']);
    expect(fake.raised).to.deep.include(['entrySet', 'k', 'local']);
  });

  it('asks the primary elsewhere to hand the role over, and writes only once it came here', async () => {
    const there = build({ decides: false, take: { value: 'v' } });
    await there.writes.store('k', 'v', bytes(), {});
    expect(there.calls.names()).to.deep.equal(['take', 'decidingElsewhere']);
    expect(there.fake.ctx.entries.has('k')).to.equal(false);
    const here = build({ decides: false, take: 'here' });
    await here.writes.store('k', 'v', bytes(), {});
    expect(here.calls.names()).to.deep.equal(['take', 'decidingElsewhere', 'publishWrite', 'published']);
  });

  it('places the key here anew when its primary cannot be asked, and passes any other failure on', async () => {
    const lost = build({ decides: false, take: new ConditionalWriteError('gone', 'k', false) });
    await lost.writes.store('k', 'v', bytes(), {});
    expect(lost.fake.ctx.entries.get('k')?.role).to.equal('primary');
    const broken = build({ decides: false, take: new TypeError('bug') });
    let error: unknown;
    await broken.writes.store('k', 'v', bytes(), {}).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(TypeError);
  });

  it('refuses a value too large for the frame limit, letting go of the value held here', () => {
    const { writes, fake } = build({ frameLimit: 64 });
    const value = { big: true };
    const e = new Entry('k', 'primary', [1, 'a', 0, 'a'], 'a', ['b'], bytes(1));
    e.value = value;
    fake.ctx.entries.set('k', e);
    expect(() => {
      writes.assertFits('k', 1000, undefined, value);
    }).to.throw(ValueTooLargeError);
    expect(fake.ctx.decoded(e)).to.not.equal(value);
  });

  it('touches a key held elsewhere by asking its primary, as a fetch of the key', async () => {
    const { writes, calls, fake } = build();
    fake.ctx.entries.set('k', new Entry('k', 'proxy', [1, 'b', 0, 'b'], 'b', []));
    expect(await writes.use('k')).to.equal(true);
    expect(calls.list).to.deep.equal([['request', MSG_ACCESS, ['b']], ['fetching', 'k']]);
    expect(await writes.use('unknown')).to.equal(false);
    expect(calls.list.at(-1)).to.deep.equal(['removedEverywhere', 'unknown']);
  });
});
