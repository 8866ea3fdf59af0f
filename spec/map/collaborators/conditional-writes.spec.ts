import { expect } from 'chai';
import { ConditionalWriteError, type RpcResponse } from '../../../lib/errors.js';
import { mapMessageFromWire, mapMessageToWire, type ConditionalOutcome, type MapMessage } from '../../../lib/codec/map-messages.js';
import { MSG_CONDITIONAL, MSG_OUTCOME } from '../../../lib/codec/message-types.js';
import { ConditionalWrites, type ConditionalHooks, type ConditionalParts } from '../../../lib/map/conditional-writes.js';
import { Entry } from '../../../lib/map/entry.js';
import { Calls, fakeContext } from './fakes.js';

/** How a member answers a conditional write sent to it: an outcome, or no answer. */
type Answer = ConditionalOutcome | 'silent';

/**
 * ConditionalWrites for member 'a' with `others`, on recorders. `deciders` are the members a key
 * nobody knows is decided among; `answers` say how each other member answers (in turn).
 */
function build(options: { others?: string[]; deciders?: string[]; answers?: Record<string, Answer[]> } = {}) {
  const fake = fakeContext('a', options.others ?? ['b']);
  fake.ctx.lifecycle = 'running';
  const calls = new Calls();
  const messenger: ConditionalParts['messenger'] = {
    wire: (message: MapMessage) => mapMessageToWire(message),
    request: async (message: MapMessage, to) => {
      const target = to[0] as string;
      calls.record('ask', target, message.type === MSG_CONDITIONAL ? message.condition : message.type);
      await Promise.resolve();
      const answer = options.answers?.[target]?.shift() ?? 'silent';
      if (answer === 'silent') return [];
      return [{ from: target, reply: mapMessageToWire({ type: MSG_OUTCOME, key: 'k', ...answer }) } satisfies RpcResponse];
    },
  };
  const publisher: ConditionalParts['publisher'] = {
    publicationOf: (entry) => calls.done('publicationOf', entry.key),
    underWay: () => undefined,
  };
  const view: ConditionalParts['view'] = {
    deciders: () => options.deciders ?? ['a', ...(options.others ?? ['b'])],
    agreement: () => undefined,
    until: () => Promise.resolve(),
  };
  const hooks: ConditionalHooks = {
    inOrder: (_key, step) => step(),
    afterEarlier: (_key, step) => step(),
    fetching: (_key, request) => request,
    write: (key, value) => calls.done('write', key, value),
    sent: () => Promise.resolve(),
    fits: () => undefined,
    expired: () => {
      calls.record('expired');
    },
    used: (key) => {
      calls.record('used', key);
    },
    remove: (key) => calls.done('remove', key),
    adopt: () => Promise.resolve(false),
  };
  return { conditional: new ConditionalWrites(fake.ctx, messenger, publisher, hooks, view), calls, fake };
}

const bytesOf = (value: unknown): Uint8Array => fakeContext().ctx.codec.encode(value);

/** An entry of `key` known to 'a' as `role`, whose primary is `primary`. */
function known(fake: ReturnType<typeof fakeContext>, role: 'primary' | 'backup', primary: string, value: unknown = 1): Entry {
  const entry = new Entry('k', role, [1, primary, 0, primary], primary, role === 'primary' ? ['b'] : ['a'], bytesOf(value));
  fake.ctx.entries.set('k', entry);
  return entry;
}

describe('ConditionalWrites (alone, on fakes)', () => {
  it('decides on the primary: setIfAbsent refuses a live value once its publication is known, compareAndSet writes on equal bytes only', async () => {
    const { conditional, calls, fake } = build();
    known(fake, 'primary', 'a', 1);
    expect(await conditional.setIfAbsent('k', 2, bytesOf(2), {})).to.equal(false);
    expect(calls.names()).to.deep.equal(['publicationOf']);
    expect(await conditional.compareAndSet('k', bytesOf(9), 2, bytesOf(2), {})).to.equal(false);
    expect(await conditional.compareAndSet('k', bytesOf(1), 2, bytesOf(2), {})).to.equal(true);
    expect(calls.list.at(-1)).to.deep.equal(['write', 'k', 2]);
    expect(calls.names()).to.not.include('ask');
  });

  it('writes a key nobody knows when this member is its decider, without asking anyone', async () => {
    const { conditional, calls } = build({ deciders: ['a'] });
    expect(await conditional.setIfAbsent('k', 2, bytesOf(2), {})).to.equal(true);
    expect(calls.list).to.deep.equal([['write', 'k', 2]]);
  });

  it("sends the write to the key's primary elsewhere, follows its 'moved' answer, and returns the decider's outcome", async () => {
    const { conditional, calls, fake } = build({ others: ['b', 'c'], answers: { b: [{ outcome: 'moved', at: 'c' }], c: [{ outcome: 'written' }] } });
    known(fake, 'backup', 'b');
    expect(await conditional.setIfAbsent('k', 2, bytesOf(2), {})).to.equal(true);
    expect(calls.list).to.deep.equal([
      ['ask', 'b', 'absent'],
      ['ask', 'c', 'absent'],
    ]);
  });

  it('rejects with ConditionalWriteError, saying it may have written, when the primary does not answer', async () => {
    const { conditional, fake } = build();
    known(fake, 'backup', 'b');
    let error: unknown;
    await conditional.setIfAbsent('k', 2, bytesOf(2), {}).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(ConditionalWriteError);
    expect((error as ConditionalWriteError).mayHaveWritten).to.equal(true);
  });

  it('reads elsewhere through the primary, and counts a read there as a use on the primary', async () => {
    const asker = build({ answers: { b: [{ outcome: 'refused', current: bytesOf(5) }] } });
    known(asker.fake, 'backup', 'b');
    expect(await asker.conditional.read('k')).to.deep.equal(bytesOf(5));
    const primary = build();
    known(primary.fake, 'primary', 'a', 5);
    const answer = mapMessageFromWire(await primary.conditional.answer({ type: MSG_CONDITIONAL, key: 'k', condition: 'read' }, 'b'));
    expect(answer).to.deep.include({ type: MSG_OUTCOME, outcome: 'refused', current: bytesOf(5) });
    expect(primary.calls.names()).to.deep.equal(['used', 'publicationOf']);
  });

  it('answers a member that asks the wrong one with where the key lives, and decides a delete it is asked as primary', async () => {
    const { conditional, calls, fake } = build({ others: ['b', 'c'] });
    known(fake, 'backup', 'c');
    const moved = mapMessageFromWire(await conditional.answer({ type: MSG_CONDITIONAL, key: 'k', condition: 'absent', bytes: bytesOf(2) }, 'b'));
    expect(moved).to.deep.include({ type: MSG_OUTCOME, outcome: 'moved', at: 'c' });
    known(fake, 'primary', 'a');
    const deleted = mapMessageFromWire(await conditional.answer({ type: MSG_CONDITIONAL, key: 'k', condition: 'delete' }, 'b'));
    expect(deleted).to.deep.include({ type: MSG_OUTCOME, outcome: 'written' });
    expect(calls.list).to.deep.equal([['remove', 'k']]);
  });

  it('remembers a handover while the placement known here names the member it went to, past the spare and through a sweep of the records (Failover.lost asks)', async () => {
    const { conditional, fake } = build({ others: ['b', 'c'] });
    const handOver = async (key: string, to: string): Promise<void> => {
      fake.ctx.entries.set(key, new Entry(key, 'primary', [1, 'a', 0, 'a'], 'a', ['c'], bytesOf(1)));
      const answer = mapMessageFromWire(await conditional.answer({ type: MSG_CONDITIONAL, key, condition: 'take' }, to));
      expect(answer.type, `${key} handed over`).to.not.equal(MSG_OUTCOME);
    };
    await handOver('k', 'b');
    expect(conditional.handedTo('k')).to.equal('b');
    // b's own placement arrives: 'a' drops its spare and is a proxy naming b.
    const entry = fake.ctx.entries.get('k') as Entry;
    entry.version = [2, 'b', 1, 'b'];
    entry.role = 'proxy';
    entry.bytes = undefined;
    expect(conditional.handedTo('k'), 'after the spare is gone').to.equal('b');
    // Enough handovers of other keys that the records are swept.
    for (let i = 0; i < 1100; i++) await handOver(`other${i}`, 'c');
    expect(conditional.handedTo('k'), 'after a sweep').to.equal('b');
    // Once the key moves on here, nothing is claimed.
    entry.primary = 'c';
    expect(conditional.handedTo('k')).to.equal(undefined);
    // Once it is gone here, the next sweep drops its record: a later write of the key that names
    // the same member (learned here as a proxy) is no handover of this member's.
    fake.ctx.entries.delete('other0');
    for (let i = 0; i < 1200; i++) await handOver(`more${i}`, 'c');
    fake.ctx.entries.set('other0', new Entry('other0', 'proxy', [9, 'c', 0, 'c'], 'c', []));
    expect(conditional.handedTo('other0'), 'swept while the key was gone').to.equal(undefined);
  });
});
