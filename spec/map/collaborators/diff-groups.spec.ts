import { expect } from 'chai';
import { ProtocolError, RpcRemoteError, type RpcResponse } from '../../../lib/errors.js';
import { mapMessageToWire, type DiffOutcome, type EntryDiff, type MapMessage } from '../../../lib/codec/map-messages.js';
import { MSG_ACK, MSG_DIFF, MSG_DIFF_OUTCOMES, MSG_DIFFS } from '../../../lib/codec/message-types.js';
import { DiffGroups } from '../../../lib/map/diff-groups.js';
import { diffBound, type FrameBudget } from '../../../lib/map/message-size.js';
import type { Messenger } from '../../../lib/map/messenger.js';
import { Calls, outcomeByNextTurn } from './fakes.js';

/** A diff of `key` onto its first write. */
function diffOf(key: string): EntryDiff {
  return { entry: { key, version: [1, 'a', 1, 'a'], primary: 'a', backups: ['b'] }, base: [1, 'a', 0, 'a'], diff: new Uint8Array([1, 2, 3]) };
}

/**
 * DiffGroups on a recording messenger: `answer` says how the holder answers a MSG_DIFFS (by default
 * every diff applied); a lone MSG_DIFF is acknowledged.
 */
function build(answer: (to: string, diffs: readonly EntryDiff[]) => RpcResponse[] = (to, diffs) => [{ from: to, reply: mapMessageToWire({ type: MSG_DIFF_OUTCOMES, outcomes: diffs.map(() => undefined) }) }], budget?: FrameBudget<EntryDiff>) {
  const calls = new Calls();
  const errors: Error[] = [];
  const messenger: Pick<Messenger, 'request' | 'budget'> = {
    request: async (message: MapMessage, to: readonly string[]) => {
      const [holder] = to;
      if (holder === undefined) return [];
      const diffs = message.type === MSG_DIFFS ? message.diffs : message.type === MSG_DIFF ? [message] : [];
      calls.record('request', message.type, holder, diffs.map((d) => d.entry.key));
      await Promise.resolve();
      return message.type === MSG_DIFFS ? answer(holder, message.diffs) : [{ from: holder, reply: mapMessageToWire({ type: MSG_ACK }) }];
    },
    budget: <T>() => budget as FrameBudget<T> | undefined,
  };
  return { groups: new DiffGroups(messenger, (error) => errors.push(error)), calls, errors };
}

const requests = (calls: Calls) => calls.list.map(([, ...rest]) => rest);

describe('DiffGroups (alone, on fakes)', () => {
  it('sends a lone diff at once as MSG_DIFF, and the diffs issued to a holder while it is in flight as one MSG_DIFFS', async () => {
    const { groups, calls } = build();
    const first = groups.send('b', diffOf('k1'));
    expect(requests(calls), 'the first leaves before the turn ends').to.deep.equal([[MSG_DIFF, 'b', ['k1']]]);
    const rest = [groups.send('b', diffOf('k2')), groups.send('b', diffOf('k3')), groups.send('c', diffOf('k4'))];
    const replies = await Promise.all([first, ...rest]);
    expect(requests(calls)).to.deep.equal([
      [MSG_DIFF, 'b', ['k1']],
      [MSG_DIFF, 'c', ['k4']],
      [MSG_DIFFS, 'b', ['k2', 'k3']],
    ]);
    expect(replies.map((r) => r.map((x) => x.from))).to.deep.equal([['b'], ['b'], ['b'], ['c']]);
    expect(replies.every((r) => r.every((x) => !('error' in x)))).to.equal(true);
  });

  it('gives each diff of a group its own outcome: a refused one gets its error, its neighbours the acknowledgement', async () => {
    const refusal: DiffOutcome = { name: 'DiffBaseError', message: 'no base' };
    const { groups } = build((to, diffs) => [{ from: to, reply: mapMessageToWire({ type: MSG_DIFF_OUTCOMES, outcomes: diffs.map((d) => (d.entry.key === 'k3' ? refusal : undefined)) }) }]);
    const [, k2, k3] = await Promise.all(['k1', 'k2', 'k3'].map((key) => groups.send('b', diffOf(key))));
    expect(k2?.[0]).to.not.have.property('error');
    const error = (k3?.[0] as { error: RpcRemoteError }).error;
    expect(error).to.be.instanceOf(RpcRemoteError).and.deep.include({ remoteName: 'DiffBaseError', from: 'b' });
  });

  it('gives every diff of a group the same answer when the holder refused it whole or did not answer', async () => {
    const whole = new RpcRemoteError('leaving', 'b', 'StoppedError');
    const refused = build((to) => [{ from: to, error: whole }]);
    const got = await Promise.all(['k1', 'k2', 'k3'].map((key) => refused.groups.send('b', diffOf(key))));
    expect(got.slice(1)).to.deep.equal([[{ from: 'b', error: whole }], [{ from: 'b', error: whole }]]);
    const silent = build(() => []);
    const none = await Promise.all(['k1', 'k2', 'k3'].map((key) => silent.groups.send('b', diffOf(key))));
    expect(none.slice(1)).to.deep.equal([[], []]);
  });

  it('reports a malformed answer and takes its diffs as refused, to be sent again whole', async () => {
    const { groups, errors } = build((to) => [{ from: to, reply: mapMessageToWire({ type: MSG_DIFF_OUTCOMES, outcomes: [undefined] }) }]);
    const got = await Promise.all(['k1', 'k2', 'k3'].map((key) => groups.send('b', diffOf(key))));
    expect(errors).to.have.length(1);
    expect(errors[0]).to.be.instanceOf(ProtocolError);
    for (const r of got.slice(1)) expect((r[0] as { error: RpcRemoteError }).error.remoteName).to.equal('ProtocolError');
  });

  it('splits a group at the frame limit', async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `key-${i}`);
    const { groups, calls } = build(undefined, { bound: diffBound, maxBytes: 2 * diffBound(diffOf('key-0')) });
    await Promise.all(keys.map((key) => groups.send('b', diffOf(key))));
    expect(requests(calls).map(([type, , sent]) => [type, sent])).to.deep.equal([
      [MSG_DIFF, ['key-0']],
      [MSG_DIFFS, ['key-1', 'key-2']],
      [MSG_DIFFS, ['key-3', 'key-4']],
      [MSG_DIFFS, ['key-5', 'key-6']],
    ]);
  });

  it('rejects the diffs of a group whose flush fails before it could settle them, instead of leaving them pending', async () => {
    const broken: FrameBudget<EntryDiff> = {
      bound: () => {
        throw new Error('budget broke');
      },
      maxBytes: 1000,
    };
    const { groups } = build(undefined, broken);
    const lone = groups.send('b', diffOf('k1'));
    const grouped = [groups.send('b', diffOf('k2')), groups.send('b', diffOf('k3'))];
    expect(await Promise.all([lone, ...grouped].map(outcomeByNextTurn))).to.deep.equal(['budget broke', 'budget broke', 'budget broke']);
  });
});
