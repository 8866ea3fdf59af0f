import { expect } from 'chai';
import { RpcRemoteError, RpcTimeoutError, StoppedError, ValueTooLargeError, type RpcResponse } from '../../../lib/errors.js';
import { mapMessageFromWire, type Placement } from '../../../lib/codec/map-messages.js';
import { MSG_PROXY, MSG_REMOVE, MSG_RETRIEVE_BACKUP } from '../../../lib/codec/message-types.js';
import { Messenger, type MessengerState } from '../../../lib/map/messenger.js';
import type { RpcCallOptions } from '../../../lib/rpc/rpc-options.js';
import { Calls } from './fakes.js';

/** A Messenger whose channel answers with `answer` (or throws what it returns, when an Error). */
function build(answer: (to: readonly string[]) => RpcResponse[] | Error = (to) => to.map((from) => ({ from, reply: [] })), frameLimit = Infinity) {
  const calls = new Calls();
  const sent: number[] = [];
  let timeouts = 0;
  const state: MessengerState = {
    name: 'm',
    rpcTimeoutMs: 1234,
    countSent: (type) => sent.push(type),
    countTimeout: () => {
      timeouts++;
    },
    frameLimit: () => frameLimit,
    events: { emit: (event: string, ...args: unknown[]) => (calls.record(event, ...args), true) } as MessengerState['events'],
    rpc: {
      call: async (wire: unknown, options: RpcCallOptions) => {
        calls.record('call', mapMessageFromWire(wire), options);
        await Promise.resolve();
        const a = answer(options.to ?? []);
        if (a instanceof Error) throw a;
        return a;
      },
    },
  };
  return { messenger: new Messenger(state), calls, sent, timeouts: () => timeouts };
}

const placement = (key: string): Placement => ({ key, version: [1, 'a', 0, 'a'], primary: 'a', backups: ['b'] });

describe('Messenger (alone, on fakes)', () => {
  it("sends a request with the map's deadline, and counts it once per target", async () => {
    const { messenger, calls, sent } = build();
    const replies = await messenger.request({ type: MSG_RETRIEVE_BACKUP, key: 'k' }, ['b', 'c'], 'all');
    expect(replies.map((r) => r.from)).to.deep.equal(['b', 'c']);
    expect(calls.list).to.deep.equal([['call', { type: MSG_RETRIEVE_BACKUP, key: 'k' }, { mode: 'all', to: ['b', 'c'], timeoutMs: 1234, stackAtCallSite: false }]]);
    expect(sent).to.deep.equal([MSG_RETRIEVE_BACKUP, MSG_RETRIEVE_BACKUP]);
  });

  it('sends nothing, and counts nothing, to no target', async () => {
    const { messenger, calls, sent } = build();
    expect(await messenger.request({ type: MSG_RETRIEVE_BACKUP, key: 'k' }, [], 'all')).to.deep.equal([]);
    expect(calls.list).to.deep.equal([]);
    expect(sent).to.deep.equal([]);
  });

  it('turns a timeout into the replies that did arrive, counted as a timeout', async () => {
    const arrived: RpcResponse[] = [{ from: 'b', reply: [] }];
    const { messenger, timeouts } = build(() => new RpcTimeoutError('late', arrived));
    expect(await messenger.request({ type: MSG_RETRIEVE_BACKUP, key: 'k' }, ['b', 'c'], 'all')).to.deep.equal(arrived);
    expect(timeouts()).to.equal(1);
  });

  it('answers "no reply" once the map stopped, and reports a frame above the limit as an error', async () => {
    const stopped = build(() => new StoppedError('stopped'));
    expect(await stopped.messenger.request({ type: MSG_RETRIEVE_BACKUP, key: 'k' }, ['b'], 'all')).to.deep.equal([]);
    expect(stopped.timeouts()).to.equal(0);
    const tooLarge = new ValueTooLargeError('too large', 2000, 1000);
    const large = build(() => tooLarge);
    expect(await large.messenger.request({ type: MSG_RETRIEVE_BACKUP, key: 'k' }, ['b'], 'all')).to.deep.equal([]);
    expect(large.calls.list.at(-1)).to.deep.equal(['error', tooLarge]);
    expect(large.timeouts()).to.equal(0);
  });

  it('lets any other failure through, uncounted as a timeout', async () => {
    const failure = new RpcRemoteError('boom', 'b', 'Error');
    const { messenger, timeouts } = build(() => failure);
    let error: unknown;
    await messenger.request({ type: MSG_RETRIEVE_BACKUP, key: 'k' }, ['b'], 'all').catch((e: unknown) => (error = e));
    expect(error).to.equal(failure);
    expect(timeouts()).to.equal(0);
  });

  it('counts a reply it builds as sent', () => {
    const { messenger, sent } = build();
    expect(messenger.wire({ type: MSG_RETRIEVE_BACKUP, key: 'k' })).to.be.an('array');
    expect(sent).to.deep.equal([MSG_RETRIEVE_BACKUP]);
  });

  it('has no frame budget without a frame limit, and cuts placements and deletes to fit one', async () => {
    expect(build().messenger.budget(() => 1)).to.equal(undefined);
    const { messenger, calls } = build(undefined, 400);
    const budget = messenger.budget(() => 1);
    expect(budget?.maxBytes).to.be.above(0).and.below(400);
    const placements = Array.from({ length: 20 }, (_, i) => placement(`key-${i}`));
    await Promise.all(messenger.sendPlacements('b', placements, 'all'));
    const proxies = calls.list.map(([, m]) => m as { type: number; entries: Placement[] });
    expect(proxies.length).to.be.above(1);
    expect(proxies.every((m) => m.type === MSG_PROXY)).to.equal(true);
    expect(proxies.flatMap((m) => m.entries.map((p) => p.key))).to.deep.equal(placements.map((p) => p.key));
    calls.list.length = 0;
    const removals = placements.map((p) => ({ key: p.key, version: p.version }));
    await Promise.all(messenger.sendRemovals(['b', 'c'], removals, 'all'));
    const deletes = calls.list.map(([, m]) => m as { type: number; removals: Array<{ key: string }> });
    expect(deletes.length).to.be.above(1);
    expect(deletes.every((m) => m.type === MSG_REMOVE)).to.equal(true);
    expect(deletes.flatMap((m) => m.removals.map((r) => r.key))).to.deep.equal(placements.map((p) => p.key));
    expect(messenger.sendPlacements('b', [], 'all')).to.deep.equal([]);
  });
});
