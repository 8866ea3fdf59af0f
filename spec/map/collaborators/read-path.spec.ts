import { expect } from 'chai';
import { ConditionalWriteError } from '../../../lib/errors.js';
import { defaultValueCodec } from '../../../lib/codec/value-codec.js';
import type { Handover, MapKey } from '../../../lib/codec/map-messages.js';
import { Entry } from '../../../lib/map/entry.js';
import { ReadPath, type ReadPathParts } from '../../../lib/map/read-path.js';
import { Calls, fakeContext } from './fakes.js';

/** What `conditional.read` does in a spec: the primary's value, or no answer. */
type Answer = Uint8Array | undefined | Error;

/** A ReadPath for member 'a' (with 'b') on recorders. */
function build(options: { answer?: Answer; removal?: Promise<void> } = {}) {
  const fake = fakeContext('a', ['b']);
  fake.ctx.lifecycle = 'running';
  const calls = new Calls();
  const parts: ReadPathParts = {
    publisher: {
      underWay: () => undefined,
      publishWrite: (entry) => calls.done('publishWrite', entry.key),
      published: async (_entry, first) => first,
      publish: (entries) => calls.done('publish', entries.map((e) => e.key)),
      reannounce: (entry) => {
        void calls.done('reannounce', entry.key);
      },
    },
    promotion: {
      readHeld: (entry, promote) => {
        calls.record('readHeld', entry.key, promote);
        return fake.ctx.decoded(entry);
      },
      retrieve: () => Promise.resolve(undefined),
      adoptFetched: () => undefined,
      handedOver: (entry, previous) => {
      calls.record('handedOver', entry.key, previous);
    },
    },
    expiry: {
      used: (entry) => {
        calls.record('used', entry.key);
      },
      sweep: () => Promise.resolve(0),
    },
    conditional: {
      take: () => Promise.resolve('none' as const),
      created: (key) => {
        calls.record('created', key);
        return () => undefined;
      },
      read: async (key) => {
        calls.record('read', key);
        // The primary answers a turn later.
        await Promise.resolve();
        if (options.answer instanceof Error) throw options.answer;
        return options.answer;
      },
    },
    messenger: { request: () => Promise.resolve([]) },
    order: {
      fetching: (key, work) => {
        calls.record('fetching', key);
        return work;
      },
    },
  };
  const removals = new Map<MapKey, Promise<void>>(options.removal === undefined ? [] : [['gone', options.removal]]);
  const reads = new ReadPath(fake.ctx, parts, { assertUsable: () => undefined, removal: (key) => removals.get(key) }, {});
  return { reads, calls, fake };
}

const encoded = (value: unknown): Uint8Array => defaultValueCodec.encode(value);

describe('ReadPath (alone, on fakes)', () => {
  it('answers on the primary from the value held here, asking nobody', async () => {
    const { reads, calls, fake } = build();
    fake.ctx.entries.set('k', new Entry('k', 'primary', [1, 'a', 0, 'a'], 'a', ['b'], encoded('mine')));
    expect(await reads.read('k', {})).to.equal('mine');
    expect(calls.list).to.deep.equal([]);
  });

  it('asks the primary elsewhere, as a fetch of the key, rather than serve the copy held here', async () => {
    const { reads, calls, fake } = build({ answer: encoded('newest') });
    fake.ctx.entries.set('k', new Entry('k', 'backup', [1, 'b', 0, 'b'], 'b', ['a'], encoded('older')));
    expect(await reads.read('k', { promote: false })).to.equal('newest');
    expect(calls.names()).to.deep.equal(['read', 'fetching']);
  });

  it('serves a copy held here, without promotion, when the primary cannot be asked', async () => {
    const { reads, calls, fake } = build({ answer: new ConditionalWriteError('gone', 'k', false) });
    fake.ctx.entries.set('k', new Entry('k', 'backup', [1, 'b', 0, 'b'], 'b', ['a'], encoded('held')));
    expect(await reads.read('k', { promote: false })).to.equal('held');
    expect(calls.list.at(-1)).to.deep.equal(['readHeld', 'k', false]);
  });

  it('answers an unknown key only once a delete of it made here reached every member', async () => {
    let acknowledge!: () => void;
    const { reads } = build({ removal: new Promise<void>((r) => (acknowledge = r)) });
    let answered = false;
    const reading = reads.read('gone', {}).then(() => (answered = true));
    await new Promise((r) => setImmediate(r));
    expect(answered).to.equal(false);
    acknowledge();
    await reading;
    expect(answered).to.equal(true);
  });

  it('takes over a key handed to it with the value, under a new placement, and refuses a handover older than what it knows', async () => {
    const { reads, calls, fake } = build();
    fake.ctx.entries.set('k', new Entry('k', 'proxy', [1, 'b', 0, 'b'], 'b', []));
    const handover: Handover = { key: 'k', version: [1, 'b', 0, 'b'], bytes: encoded('handed') };
    expect(await reads.adopt(handover, undefined)).to.deep.equal({ value: 'handed' });
    const e = fake.ctx.entries.get('k')!;
    expect([e.role, e.primary, e.backups, e.version]).to.deep.equal(['primary', 'a', ['b'], [1, 'b', 1, 'a']]);
    // The publication tells every member again: what this member announced when it was primary
    // before (if it was) is not what the members know now.
    expect(calls.names()).to.deep.equal(['reannounce', 'handedOver', 'publish']);
    expect(await reads.adopt({ key: 'k', version: [1, 'b', 0, 'b'], bytes: encoded('stale') }, undefined)).to.equal(false);
  });
});
