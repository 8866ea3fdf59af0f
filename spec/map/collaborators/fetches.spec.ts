import { expect } from 'chai';
import { ProtocolError, RpcRemoteError, RpcTimeoutError, type RpcResponse } from '../../../lib/errors.js';
import { mapMessageFromWire, mapMessageToWire, type HeldAnswer, type HeldCopy, type MapKey } from '../../../lib/codec/map-messages.js';
import { MSG_ACK, MSG_RETRIEVE_BACKUP, MSG_RETRIEVE_MANY, MSG_VALUE, MSG_VALUES } from '../../../lib/codec/message-types.js';
import { Fetches, type FetchAnswer, type FetchesState } from '../../../lib/map/fetches.js';
import { keyBound, type FrameBudget } from '../../../lib/map/message-size.js';
import type { Messenger } from '../../../lib/map/messenger.js';
import type { RpcCallOptions } from '../../../lib/rpc/rpc-options.js';
import { Calls, fakeContext, outcomeByNextTurn, settledByNextTurn } from './fakes.js';

/** How a fake holder answers the `index`th key of a request: its copy, 'none', or 'later' (its reply is full). */
type Holding = (holder: string, key: MapKey, index: number) => HeldAnswer;

const copyOf = (key: MapKey): HeldCopy => ({ version: [1, 'a', 0, 'a'], bytes: new TextEncoder().encode(String(key)) });
const held: Holding = (_holder, key) => ({ answer: 'held', copy: copyOf(key) });

/**
 * Fetches for member 'a' with holders 'b' and 'c', whose channel answers as `holding` says; a
 * holder in `oldBuild` refuses MSG_RETRIEVE_MANY as an older build does, one in `silent` times out.
 */
function build(holding: Holding = held, options: { oldBuild?: string[]; silent?: string[]; wrongType?: string[]; budget?: FrameBudget<MapKey> } = {}) {
  const fake = fakeContext('a', ['b', 'c']);
  const calls = new Calls();
  const sent: number[] = [];
  const rpc = {
    call: async (wire: unknown, callOptions: RpcCallOptions): Promise<RpcResponse[]> => {
      const m = mapMessageFromWire(wire);
      const [from] = callOptions.to ?? [];
      if (from === undefined) throw new Error('no target');
      const keys = m.type === MSG_RETRIEVE_MANY ? [...m.keys] : m.type === MSG_RETRIEVE_BACKUP ? [m.key] : [];
      calls.record('call', m.type, from, keys);
      await Promise.resolve();
      if (options.silent?.includes(from)) throw new RpcTimeoutError('late', []);
      const answers = keys.map((key, index) => holding(from, key, index));
      if (m.type === MSG_RETRIEVE_MANY) {
        if (options.oldBuild?.includes(from)) return [{ from, error: new RpcRemoteError('unknown message type', from, 'ProtocolError') }];
        return [{ from, reply: mapMessageToWire({ type: MSG_VALUES, answers }) }];
      }
      const [answer] = answers;
      if (options.wrongType?.includes(from)) return [{ from, reply: mapMessageToWire({ type: MSG_ACK }) }];
      if (answer?.answer === 'held') return [{ from, reply: mapMessageToWire({ type: MSG_VALUE, key: keys[0] as MapKey, copy: answer.copy }) }];
      return [{ from, error: new RpcRemoteError('not held', from, 'RetrieveError') }];
    },
  };
  let timeouts = 0;
  const messenger: Pick<Messenger, 'callOptions' | 'timedOut' | 'budget'> = {
    callOptions: (to, mode) => ({ to, mode, timeoutMs: 1000 }),
    timedOut: (error) => {
      if (!(error instanceof RpcTimeoutError)) throw error;
      timeouts++;
      return error.replies;
    },
    budget: <T>() => options.budget as FrameBudget<T> | undefined,
  };
  const state = {
    rpc,
    members: fake.ctx.members,
    countSent: (type: number) => sent.push(type),
    events: fake.ctx.events,
  } as unknown as FetchesState;
  return { fetches: new Fetches(state, messenger), calls, sent, fake, timeouts: () => timeouts };
}

/** The calls made, without the recorder's method name. */
const requests = (calls: Calls) => calls.list.map(([, ...rest]) => rest);

describe('Fetches (alone, on fakes)', () => {
  it('asks a lone key as MSG_RETRIEVE_BACKUP, and the keys asked of a holder while it is in flight as one MSG_RETRIEVE_MANY', async () => {
    const { fetches, calls, sent } = build();
    const got = await Promise.all(['k1', 'k2', 'k3'].map((key) => fetches.first(key, ['b'])));
    expect(got).to.deep.equal(['k1', 'k2', 'k3'].map(copyOf));
    expect(requests(calls)).to.deep.equal([
      [MSG_RETRIEVE_BACKUP, 'b', ['k1']],
      [MSG_RETRIEVE_MANY, 'b', ['k2', 'k3']],
    ]);
    expect(sent).to.deep.equal([MSG_RETRIEVE_BACKUP, MSG_RETRIEVE_MANY]);
  });

  it('keeps each holder its own batch, and resolves with the first copy any holder answers', async () => {
    const { fetches, calls } = build((holder, key) => (holder === 'b' ? { answer: 'none' } : { answer: 'held', copy: copyOf(key) }));
    const got = await Promise.all(['k1', 'k2', 'k3'].map((key) => fetches.first(key, ['b', 'c'])));
    expect(got).to.deep.equal(['k1', 'k2', 'k3'].map(copyOf));
    expect(requests(calls).filter(([type]) => type === MSG_RETRIEVE_MANY)).to.deep.equal([
      [MSG_RETRIEVE_MANY, 'b', ['k2', 'k3']],
      [MSG_RETRIEVE_MANY, 'c', ['k2', 'k3']],
    ]);
  });

  it('splits a batch at the frame limit', async () => {
    const keys = Array.from({ length: 9 }, (_, i) => `key-${i}`);
    const maxBytes = 3 * keyBound('key-0');
    const { fetches, calls } = build(held, { budget: { bound: keyBound, maxBytes } });
    const got = await Promise.all(keys.map((key) => fetches.first(key, ['b'])));
    expect(got).to.deep.equal(keys.map(copyOf));
    const many = requests(calls).filter(([type]) => type === MSG_RETRIEVE_MANY);
    expect(many.map(([, , asked]) => asked)).to.deep.equal([keys.slice(1, 4), keys.slice(4, 7), keys.slice(7)]);
  });

  it('asks again for the keys a holder answered "later", until each is answered', async () => {
    // The holder answers the first key of each request only: its reply is full after one.
    const { fetches, calls } = build((_holder, key, index) => (index === 0 ? { answer: 'held', copy: copyOf(key) } : { answer: 'later' }));
    const got = await Promise.all(['k1', 'k2', 'k3', 'k4'].map((key) => fetches.first(key, ['b'])));
    expect(got).to.deep.equal(['k1', 'k2', 'k3', 'k4'].map(copyOf));
    expect(requests(calls).filter(([type]) => type === MSG_RETRIEVE_MANY)).to.deep.equal([
      [MSG_RETRIEVE_MANY, 'b', ['k2', 'k3', 'k4']],
      [MSG_RETRIEVE_MANY, 'b', ['k3', 'k4']],
      [MSG_RETRIEVE_MANY, 'b', ['k4']],
    ]);
  });

  it('falls back key by key to a holder of an older build that refuses MSG_RETRIEVE_MANY, and stops asking it so', async () => {
    const { fetches, calls } = build(held, { oldBuild: ['b'] });
    const got = await Promise.all(['k1', 'k2', 'k3'].map((key) => fetches.first(key, ['b'])));
    expect(got).to.deep.equal(['k1', 'k2', 'k3'].map(copyOf));
    expect(requests(calls)).to.deep.equal([
      [MSG_RETRIEVE_BACKUP, 'b', ['k1']],
      [MSG_RETRIEVE_MANY, 'b', ['k2', 'k3']],
      [MSG_RETRIEVE_BACKUP, 'b', ['k2']],
      [MSG_RETRIEVE_BACKUP, 'b', ['k3']],
    ]);
    calls.list.length = 0;
    await Promise.all(['k4', 'k5', 'k6'].map((key) => fetches.first(key, ['b'])));
    expect(requests(calls).map(([type]) => type)).to.deep.equal([MSG_RETRIEVE_BACKUP, MSG_RETRIEVE_BACKUP, MSG_RETRIEVE_BACKUP]);
  });

  it('answers "none" for a key no holder has, and "silent" (timed out) for a holder whose deadline passed', async () => {
    const { fetches, timeouts } = build(() => ({ answer: 'none' }), { silent: ['c'] });
    const answers = (await fetches.first('k', ['b', 'c'])) as FetchAnswer[];
    expect(answers).to.have.deep.members([{ kind: 'none' }, { kind: 'silent', timedOut: true }]);
    expect(timeouts()).to.equal(1);
  });

  it('answers "silent" for every key of a batch whose holder did not answer in time, leaving none pending', async () => {
    const { fetches, calls } = build(held, { silent: ['c'] });
    const got = await Promise.all(['k1', 'k2', 'k3'].map((key) => settledByNextTurn(fetches.first(key, ['c']))));
    expect(requests(calls)).to.deep.equal([
      [MSG_RETRIEVE_BACKUP, 'c', ['k1']],
      [MSG_RETRIEVE_MANY, 'c', ['k2', 'k3']],
    ]);
    expect(got).to.deep.equal([1, 2, 3].map(() => [{ kind: 'silent', timedOut: true }]));
  });

  it('forgets an older build among the holders that left, so a member that comes back is asked a batch again', async () => {
    const { fetches, calls, fake } = build(held, { oldBuild: ['b'] });
    await Promise.all(['k1', 'k2', 'k3'].map((key) => fetches.first(key, ['b'])));
    fake.ctx.members.remove('b');
    // Holders come and go: past 2 × members + 8 queues, those of members no longer here are dropped.
    for (let i = 0; i < 12; i++) await fetches.first(`h${String(i)}`, [`h${String(i)}`]);
    fake.ctx.members.add('b', 'b-1');
    calls.list.length = 0;
    await Promise.all(['k4', 'k5', 'k6'].map((key) => fetches.first(key, ['b'])));
    expect(requests(calls).map(([type]) => type)).to.include(MSG_RETRIEVE_MANY);
  });

  it('reports a reply that answers none of the keys asked, and takes them as empty', async () => {
    const { fetches, fake } = build((_holder, key) => (key === 'k1' ? { answer: 'held', copy: copyOf(key) } : { answer: 'later' }));
    const got = await Promise.all(['k1', 'k2', 'k3'].map((key) => fetches.first(key, ['b'])));
    expect(got.slice(1)).to.deep.equal([[{ kind: 'empty' }], [{ kind: 'empty' }]]);
    expect(fake.raised.map(([event]) => event)).to.deep.equal(['error']);
    expect(fake.raised[0]?.[1]).to.be.instanceOf(ProtocolError);
  });

  it('reports a lone key answered with another message than MSG_VALUE, and takes it as empty', async () => {
    const { fetches, fake } = build(held, { wrongType: ['b'] });
    expect(await fetches.first('k', ['b'])).to.deep.equal([{ kind: 'empty' }]);
    expect(fake.raised.map(([event]) => event)).to.deep.equal(['error']);
    expect(fake.raised[0]?.[1]).to.be.instanceOf(ProtocolError);
  });

  it('rejects the asks of a batch whose sending fails before it could settle them, instead of leaving them pending', async () => {
    const broken: FrameBudget<MapKey> = {
      bound: () => {
        throw new Error('budget broke');
      },
      maxBytes: 1000,
    };
    const { fetches } = build(held, { budget: broken });
    // The first key goes alone (MSG_RETRIEVE_BACKUP, no budget); the two asked while it is in flight go as a batch.
    const got = await Promise.all(['k1', 'k2', 'k3'].map((key) => outcomeByNextTurn(fetches.first(key, ['b']))));
    expect(got).to.deep.equal(['resolved', 'budget broke', 'budget broke']);
  });
});
