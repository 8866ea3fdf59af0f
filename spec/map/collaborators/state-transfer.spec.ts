import { expect } from 'chai';
import { ProtocolError, StatePageGoneError, type RpcResponse } from '../../../lib/errors.js';
import { mapMessageFromWire, mapMessageToWire, type MapMessage, type Placement, type Removal } from '../../../lib/codec/map-messages.js';
import { MSG_START, MSG_STATE, MSG_STATE_NEXT } from '../../../lib/codec/message-types.js';
import { Entry } from '../../../lib/map/entry.js';
import { StateTransfer, type StateTransferParts } from '../../../lib/map/state-transfer.js';
import { Calls, fakeContext } from './fakes.js';

/** What a member answers in a spec: the message it replies to a request, by the request. */
type Answer = (message: MapMessage, to: string) => MapMessage | undefined;

/** A StateTransfer for member 'a' (with 'b') whose siblings are recorders; `answer` plays the peers. */
function build(answer: Answer = () => undefined, pageBytes?: number) {
  const fake = fakeContext('a', ['b']);
  fake.ctx.lifecycle = 'running';
  const calls = new Calls();
  const parts: StateTransferParts = {
    messenger: {
      request: (message: MapMessage, to: readonly string[]) => {
        calls.record('request', message.type, [...to]);
        const replies: RpcResponse[] = [];
        for (const t of to) {
          const reply = answer(message, t);
          if (reply !== undefined) replies.push({ from: t, reply: mapMessageToWire(reply) });
        }
        return Promise.resolve(replies);
      },
      sendPlacements: (to: string, placements: readonly Placement[]) => {
        calls.record('sendPlacements', to, placements.map((p) => p.key));
        return [];
      },
      sendRemovals: (to: readonly string[], removals: readonly Removal[]) => {
        calls.record('sendRemovals', [...to], removals.map((r) => r.key));
        return [];
      },
      wire: (message: MapMessage) => mapMessageToWire(message),
    },
    publisher: { lastAnnounced: (e: Entry) => e.placement() },
    reconciler: {
      mergeState: (placements: readonly Placement[], tombstones: readonly Removal[], from: string) => {
        calls.record('mergeState', from, placements.map((p) => p.key), tombstones.map((r) => r.key));
      },
    },
    memberChanges: {
      added: (id: string, incarnation: string) => {
        calls.record('added', id, incarnation);
        if (fake.ctx.members.incarnation(id) !== incarnation) fake.ctx.members.add(id, incarnation);
      },
    },
  };
  return { transfer: new StateTransfer(fake.ctx, parts, pageBytes), calls, fake };
}

/** Owns `keys` here (with 'b' as backup) and remembers a delete of 'gone'. */
function own(fake: ReturnType<typeof fakeContext>, ...keys: string[]): void {
  for (const [i, k] of keys.entries()) fake.ctx.entries.set(k, new Entry(k, 'primary', [i + 1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array([1])));
  fake.ctx.tombstones.add('gone', [9, 'a', 0, 'a']);
}

/** A page of `from`'s state, as its reply carries it. */
const page = (incarnation: string, keys: string[], next?: number): MapMessage => ({
  type: MSG_STATE,
  incarnation,
  entries: keys.map((k) => ({ key: k, version: [1, 'c', 0, 'c'], primary: 'c', backups: [] })),
  tombstones: [],
  ...(next === undefined ? {} : { next }),
});

/** Decodes a wire page this member answered. */
function decoded(wire: unknown[]): { keys: unknown[]; deletes: unknown[]; next: number | undefined } {
  const m = mapMessageFromWire(wire);
  if (m.type !== MSG_STATE) throw new Error(`not a state page: ${m.type}`);
  return { keys: m.entries.map((p) => p.key), deletes: m.tombstones.map((r) => r.key), next: m.next };
}

describe('StateTransfer (alone, on fakes)', () => {
  it('answers a start with its deletes and the placements it owns, and adds the member', () => {
    const { transfer, calls, fake } = build();
    own(fake, 'x', 'y');
    expect(decoded(transfer.answerStart('c', 'c-1'))).to.deep.equal({ keys: ['x', 'y'], deletes: ['gone'], next: undefined });
    expect(calls.list).to.deep.equal([['added', 'c', 'c-1']]);
  });

  it('sends a large state page by page, and refuses a page asked twice', () => {
    const { transfer, fake } = build(undefined, 1);
    own(fake, 'x', 'y');
    const first = decoded(transfer.answerStart('c', 'c-1'));
    expect(first.deletes).to.deep.equal(['gone']);
    const transferId = first.next as number;
    expect(decoded(transfer.answerNext('c', transferId, 1)).keys).to.deep.equal(['x']);
    expect(() => transfer.answerNext('c', transferId, 1)).to.throw(StatePageGoneError);
    expect(decoded(transfer.answerNext('c', transferId, 2))).to.deep.equal({ keys: ['y'], deletes: [], next: undefined });
    expect(() => transfer.answerNext('c', transferId, 3)).to.throw(StatePageGoneError);
  });

  it('introduces itself to a peer once at a time, merges every page of its state, and pushes its own', async () => {
    const { transfer, calls, fake } = build((m) => {
      if (m.type === MSG_START) return page('c-1', ['p'], 7);
      if (m.type === MSG_STATE_NEXT) return page('c-1', ['q']);
      return undefined;
    });
    own(fake, 'x');
    transfer.introduce('c');
    transfer.introduce('c');
    await Promise.all(fake.background);
    expect(calls.list).to.deep.equal([
      ['request', MSG_START, ['c']],
      ['added', 'c', 'c-1'],
      ['mergeState', 'c', ['p'], []],
      ['sendRemovals', ['c'], ['gone']],
      ['sendPlacements', 'c', ['x']],
      ['request', MSG_STATE_NEXT, ['c']],
      ['mergeState', 'c', ['q'], []],
    ]);
  });

  it('pushes its state to a member met again only if that member was not sent it, or left since (forgetSent)', async () => {
    const { transfer, calls, fake } = build((m) => (m.type === MSG_START ? page('c-1', []) : undefined));
    own(fake, 'x');
    transfer.answerStart('c', 'c-1');
    transfer.introduce('c');
    await Promise.all(fake.background);
    expect(calls.names()).to.deep.equal(['added', 'request', 'added', 'mergeState']);
    calls.list.length = 0;
    transfer.forgetSent('c');
    transfer.introduce('c');
    await Promise.all(fake.background);
    expect(calls.names()).to.deep.equal(['request', 'added', 'mergeState', 'sendRemovals', 'sendPlacements']);
  });

  it('reports an answer to its start that is not a state page', async () => {
    const { transfer, calls, fake } = build((m) => (m.type === MSG_START ? { type: MSG_START, incarnation: 'c-1' } : undefined));
    transfer.introduce('c');
    await Promise.all(fake.background);
    expect(calls.names()).to.deep.equal(['request']);
    expect(fake.raised.find(([event]) => event === 'error')?.[1]).to.be.instanceOf(ProtocolError);
  });
});
