import { expect } from 'chai';
import { ConditionalWriteError, MSG_ACK, ProtocolError } from '../../lib/index.js';
import { mapMessageFromWire, mapMessageToWire, type MapMessage, type MemberView } from '../../lib/codec/map-messages.js';
import { MSG_VIEW } from '../../lib/codec/message-types.js';
import { DeciderView, type DeciderViewState } from '../../lib/map/decider-view.js';
import { Membership } from '../../lib/membership/membership.js';
import type { MapState } from '../../lib/map/map-options.js';
import { LamportClock } from '../../lib/map/version.js';
import type { RpcResponse } from '../../lib/errors.js';
import { checkHistory } from '../../property-tests/linearizability/checker.js';
import { PASSING } from '../../property-tests/linearizability/configurations.js';
import { runProgram, type Program } from '../../property-tests/linearizability/workload.js';
import { cluster, type Cluster } from './helpers.js';

/** A view on its own: a member 'me' whose peers are `peers`, sending through a recording messenger. */
function lone(peers: string[], rpcTimeoutMs = 60_000, answer?: (to: string) => unknown[]) {
  const sent: Array<{ message: MapMessage; to: readonly string[] }> = [];
  const errors: Error[] = [];
  const members = new Membership({ peers: () => [...peers] });
  const state = {
    id: 'me',
    name: 'test',
    members,
    clock: new LamportClock(),
    lifecycle: 'running' as MapState,
    rpcTimeoutMs,
    background: (work: Promise<unknown>) => void work.catch(() => undefined),
    // Only 'error' is emitted by the view.
    events: {
      emit: (_name: string, error: Error) => {
        errors.push(error);
        return true;
      },
    },
  };
  const messenger = {
    wire: (m: MapMessage) => mapMessageToWire(m),
    request: (message: MapMessage, to: readonly string[]): Promise<RpcResponse[]> => {
      sent.push({ message, to });
      return Promise.resolve(answer === undefined ? [] : to.map((from) => ({ from, reply: answer(from) })));
    },
  };
  const view = new DeciderView(state as unknown as DeciderViewState, messenger, 'inc-me');
  view.attach({ creations: () => [], learn: () => undefined });
  members.watch((change, id) => {
    if (change === 'gone') view.forget(id);
    else view.changed();
  });
  for (const p of peers) members.add(p, `inc-${p}`);
  return { view, state, members, sent, errors };
}

function announcement(from: string, members: string[], seq = 1, clock = 0): MemberView {
  return { seq, incarnation: `inc-${from}`, members: members.map((id) => [id, `inc-${id}`] as const), clock, creations: [] };
}

const settleTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('DeciderView', () => {
  it('agrees only once every member announced the same view of the members', async () => {
    const { view } = lone(['a', 'b']);
    const waiting = view.agreement('k');
    expect(waiting, 'no member announced anything yet').to.not.equal(undefined);
    let agreed = false;
    void waiting!.then(() => (agreed = true));
    view.heard(announcement('a', ['a', 'b', 'me']), 'a');
    await settleTurn();
    expect(agreed, 'b has not announced').to.equal(false);
    // b's view lacks a member: not the same view.
    view.heard(announcement('b', ['b', 'me']), 'b');
    await settleTurn();
    expect(agreed, "b's view differs").to.equal(false);
    view.heard(announcement('b', ['a', 'b', 'me'], 2), 'b');
    await settleTurn();
    expect(agreed).to.equal(true);
    expect(view.agreement('k')).to.equal(undefined);
  });

  it('ignores an older announcement arriving after a newer one (a reordered network)', () => {
    const { view } = lone(['a']);
    view.heard(announcement('a', ['a', 'me'], 3), 'a');
    expect(view.agreement('k')).to.equal(undefined);
    view.heard(announcement('a', ['a'], 2), 'a');
    expect(view.agreement('k'), 'the stale view of seq 2 does not count').to.equal(undefined);
  });

  it('stops agreeing as soon as a member announces another view, and this member leaving decides nothing', () => {
    const { view, state } = lone(['a']);
    view.heard(announcement('a', ['a', 'me']), 'a');
    expect(view.agreement('k')).to.equal(undefined);
    view.heard(announcement('a', ['a', 'me', 'z'], 2), 'a');
    expect(view.agreement('k')?.catch(() => undefined)).to.not.equal(undefined);
    state.lifecycle = 'stopping';
    expect(view.deciders()).to.deep.equal(['a']);
    view.close();
  });

  it('announces each change of its view to every member, with its clock, and answers with its own view', async () => {
    const { view, state, members, sent } = lone(['a', 'b']);
    await settleTurn();
    const first = sent.at(-1)!;
    expect(first.message.type).to.equal(MSG_VIEW);
    expect([...first.to].sort()).to.deep.equal(['a', 'b']);
    state.clock.tick('me');
    members.markLeaving('b');
    await settleTurn();
    const second = sent.at(-1)!.message as MemberView & { type: number };
    expect(second.members.map(([id]) => id)).to.deep.equal(['a', 'me']);
    expect(second.seq).to.be.greaterThan((first.message as MemberView).seq);
    expect(second.clock).to.equal(1);
    const reply = mapMessageFromWire(view.heard(announcement('a', ['a', 'b', 'me'], 1, 41), 'a'));
    expect(reply).to.include({ type: MSG_VIEW });
    // The announcer's clock is observed: this member's next write outranks its writes.
    expect(state.clock.tick('me')[0]).to.equal(42);
  });

  it('reports a peer that answers its view with something else as a ProtocolError, and agrees with nobody on it', async () => {
    const { view, errors } = lone(['a'], 60_000, () => mapMessageToWire({ type: MSG_ACK }));
    await settleTurn();
    await settleTurn();
    expect(errors.length).to.be.greaterThan(0);
    expect(errors[0]).to.be.instanceOf(ProtocolError);
    expect(errors[0]!.message).to.match(/answered a view of the members with message type 14/);
    const waiting = view.agreement('k');
    expect(waiting, 'no view heard from a').to.not.equal(undefined);
    view.close();
    await waiting!.catch(() => undefined);
  });

  it('refuses a decision with ConditionalWriteError when the members do not agree within rpcTimeoutMs, and tells them its view again', async () => {
    const { view, sent } = lone(['a'], 5);
    await settleTurn();
    const before = sent.length;
    const error = await view.agreement('k')!.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ConditionalWriteError);
    expect((error as ConditionalWriteError).mayHaveWritten).to.equal(false);
    expect((error as Error).message).to.match(/did not agree/);
    // The member whose view differs (it never answered) is told again: a lost announcement does
    // not keep the views apart until the members change.
    await settleTurn();
    expect(sent.length).to.be.greaterThan(before);
    expect(sent.at(-1)?.to).to.deep.equal(['a']);
  });
});

describe('Keys no member knows while a member leaves (issue 22, joins and graceful stops)', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('a delete on the leaving member and a set elsewhere, of fresh keys, end in one order of the two', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { backups: 2 });
    const maps = c.maps;
    const keys = Array.from({ length: 24 }, (_, i) => `fresh${i}`);
    // Not awaited: the delete and the set race the stop, as calls of users who do not wait.
    const deletes = keys.map((k) => maps.a!.delete(k));
    const stopping = maps.a!.stop();
    const sets = keys.map((k) => maps.b!.set(k, `b:${k}`));
    const answers = await Promise.all(deletes);
    await Promise.all([...sets, stopping]);
    await c.net.settled();
    for (const [i, k] of keys.entries()) {
      // A delete that found nothing came before the set: the value stays. One that found the
      // value came after it: the key is gone.
      const expected = answers[i] === true ? undefined : `b:${k}`;
      for (const id of ['b', 'c', 'd']) expect(await maps[id]!.get(k, { promote: false }), `${k} on ${id} (delete answered ${String(answers[i])})`).to.equal(expected);
    }
  });

  // Histories the linearizability checker found with 2 callers per member and a graceful stop,
  // before members agreed on who decides for unknown keys: a delete answered false and a set
  // resolved, and then every member read nothing.
  const config = PASSING.find((k) => k.name === '3-5 members, 2 callers each, joins and graceful stops (backups: 2)')!;
  const found: Program[] = [
    {"seed":1,"members":4,"phases":[{"callers":[[{"call":{"op":"get","key":0,"promote":false},"pipelined":false,"member":0}],[{"call":{"op":"delete","key":2},"pipelined":false,"member":0}],[{"call":{"op":"set","key":2},"pipelined":false,"member":0}],[{"call":{"op":"set","key":0},"pipelined":false,"member":0}]],"event":{"kind":"stop","who":0}}]},
    {"seed":1,"members":5,"phases":[{"callers":[[{"call":{"op":"get","key":0,"promote":false},"pipelined":false,"member":0}],[{"call":{"op":"delete","key":1},"pipelined":false,"member":0},{"call":{"op":"set","key":0},"pipelined":false,"member":0}],[{"call":{"op":"set","key":0},"pipelined":false,"member":0}],[{"call":{"op":"delete","key":1},"pipelined":false,"member":0}],[{"call":{"op":"set","key":1},"pipelined":false,"member":0},{"call":{"op":"get","key":0,"promote":false},"pipelined":false,"member":0}],[{"call":{"op":"set","key":0},"pipelined":false,"member":0}]],"event":{"kind":"stop","who":0}}]},
  ] as Program[];
  for (const [i, program] of found.entries()) {
    it(`history ${i + 1} found by the checker is linearizable`, async () => {
      const result = checkHistory(await runProgram(config, program));
      expect(result.failures).to.deep.equal([]);
    });
  }
});
