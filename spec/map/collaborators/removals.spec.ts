import { expect } from 'chai';
import { ConditionalWriteError, type RpcResponse } from '../../../lib/errors.js';
import type { Removal } from '../../../lib/codec/map-messages.js';
import { Entry } from '../../../lib/map/entry.js';
import { stampWrite } from '../../../lib/map/expiry.js';
import { Removals, type RemovalsParts } from '../../../lib/map/removals.js';
import { Calls, fakeContext } from './fakes.js';

/** What `conditional.delete` does in a spec: the primary's answer, or no answer. */
type Decision = boolean | Error;

/** A Removals for member 'a' (with 'b' and 'c') on recorders; `acks` settles the members' acknowledgements. */
function build(options: { decision?: Decision } = {}) {
  const fake = fakeContext('a', ['b', 'c']);
  fake.ctx.lifecycle = 'running';
  const calls = new Calls();
  // One acknowledgement per message sent, settled by the spec; those sent later resolve at once once `acknowledge` ran.
  const pending: Array<() => void> = [];
  let acknowledged = false;
  const acknowledge = (which?: number): void => {
    if (which === undefined) acknowledged = true;
    for (const [i, resolve] of pending.entries()) if (which === undefined || which === i) resolve();
  };
  const parts: RemovalsParts = {
    reconciler: {
      applyRemoval: (removal: Removal) => {
        calls.record('applyRemoval', removal.key);
        fake.ctx.entries.delete(removal.key);
      },
    },
    messenger: {
      sendRemovals: (to, removals) => {
        calls.record('sendRemovals', [...to].sort(), removals.map((r) => r.key));
        return [acknowledged ? Promise.resolve([]) : new Promise<RpcResponse[]>((resolve) => pending.push(() => {
          resolve([]);
        }))];
      },
    },
    conditional: {
      delete: async (key) => {
        calls.record('ask', key);
        await Promise.resolve();
        const decision = options.decision ?? true;
        if (decision instanceof Error) throw decision;
        return decision;
      },
    },
  };
  const removals = new Removals(fake.ctx, parts, { assertUsable: () => undefined });
  return { removals, calls, fake, acknowledge };
}

const held = (key: string, role: 'primary' | 'backup', primary: string): Entry => new Entry(key, role, [1, primary, 0, primary], primary, role === 'primary' ? ['b'] : ['a'], new Uint8Array([1]));

describe('Removals (alone, on fakes)', () => {
  it('deletes a key owned here at once, tells every member, and remembers the delete until all acknowledged', async () => {
    const { removals, calls, fake, acknowledge } = build();
    fake.ctx.entries.set('k', held('k', 'primary', 'a'));
    const deleting = removals.delete('k');
    expect(fake.ctx.entries.has('k')).to.equal(false);
    expect(calls.list).to.deep.equal([['applyRemoval', 'k'], ['sendRemovals', ['b', 'c'], ['k']]]);
    expect(removals.pending('k')).to.not.equal(undefined);
    acknowledge();
    expect(await deleting).to.equal(true);
    expect(removals.pending('k')).to.equal(undefined);
  });

  it('answers false for a key owned here that expired', async () => {
    const { removals, fake, acknowledge } = build();
    const e = held('k', 'primary', 'a');
    stampWrite(e, { ttlMs: 10 }, 0);
    fake.ctx.entries.set('k', e);
    acknowledge();
    expect(await removals.delete('k')).to.equal(false);
  });

  it('has the primary elsewhere decide, and deletes from here when it cannot be asked', async () => {
    const asked = build({ decision: false });
    asked.fake.ctx.entries.set('k', held('k', 'backup', 'b'));
    expect(await asked.removals.delete('k')).to.equal(false);
    expect(asked.calls.names()).to.deep.equal(['ask']);
    const gone = build({ decision: new ConditionalWriteError('gone', 'k', false) });
    gone.fake.ctx.entries.set('k', held('k', 'backup', 'b'));
    gone.acknowledge();
    expect(await gone.removals.delete('k')).to.equal(true);
    expect(gone.calls.names()).to.deep.equal(['ask', 'applyRemoval', 'sendRemovals']);
  });

  it('makes no guess when the primary may have deleted: the error goes to the caller', async () => {
    const { removals, fake } = build({ decision: new ConditionalWriteError('no answer', 'k', true) });
    fake.ctx.entries.set('k', held('k', 'backup', 'b'));
    let error: unknown;
    await removals.delete('k').catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(ConditionalWriteError);
  });

  it('clears every key known here, and resolves only after the deletes already under way', async () => {
    const { removals, calls, fake, acknowledge } = build();
    for (const k of ['x', 'y']) fake.ctx.entries.set(k, held(k, 'primary', 'a'));
    void removals.remove(['x']);
    let cleared = false;
    const clearing = removals.clear().then(() => (cleared = true));
    expect(calls.list.at(-1)).to.deep.equal(['sendRemovals', ['b', 'c'], ['y']]);
    acknowledge(1);
    await new Promise((r) => setImmediate(r));
    expect(cleared, 'the earlier delete of x is not acknowledged yet').to.equal(false);
    acknowledge(0);
    await clearing;
    expect(cleared).to.equal(true);
  });
});
