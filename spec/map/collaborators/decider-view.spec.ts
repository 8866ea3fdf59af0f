import { expect } from 'chai';
import { ProtocolError, StoppedError, type RpcResponse } from '../../../lib/errors.js';
import { mapMessageFromWire, mapMessageToWire, type MapMessage, type MemberView } from '../../../lib/codec/map-messages.js';
import { MSG_VIEW } from '../../../lib/codec/message-types.js';
import { DeciderView } from '../../../lib/map/decider-view.js';
import { fakeContext } from './fakes.js';

/** A DeciderView for member 'a' (running) with `others`; each announcement is answered by `answer`, or by nobody. */
function build(others: string[], answer?: (from: string) => unknown) {
  const fake = fakeContext('a', []);
  fake.ctx.lifecycle = 'running';
  const sent: Array<{ view: MemberView; to: string[] }> = [];
  const messenger = {
    wire: (message: MapMessage) => mapMessageToWire(message),
    request: (message: MapMessage, to: readonly string[]): Promise<RpcResponse[]> => {
      if (message.type === MSG_VIEW) sent.push({ view: message, to: [...to] });
      return Promise.resolve(answer === undefined ? [] : to.map((from) => ({ from, reply: answer(from) })));
    },
  };
  const view = new DeciderView(fake.ctx, messenger, 'a-1');
  view.attach({ creations: () => [{ key: 'c', to: 'a', version: [3, 'a', 0, 'a'] }], learn: () => undefined });
  fake.ctx.members.watch((change, id) => {
    if (change === 'gone') view.forget(id);
    else view.changed();
  });
  for (const m of others) fake.ctx.members.add(m, `${m}-1`);
  return { view, fake, sent };
}

/** `from`'s announcement of the members `members` (each at incarnation `<id>-1`, this member at 'a-1'). */
function announcement(from: string, members: string[], seq = 1, clock = 0): MemberView {
  return { seq, incarnation: `${from}-1`, members: members.map((id) => [id, `${id}-1`] as const), clock, creations: [] };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('DeciderView (alone, on fakes)', () => {
  it('decides among this member and the members that stay, and not among itself once it leaves', () => {
    const { view, fake } = build(['b', 'c']);
    expect(view.deciders()).to.deep.equal(['a', 'b', 'c']);
    fake.ctx.members.markLeaving('c');
    expect(view.deciders()).to.deep.equal(['a', 'b']);
    fake.ctx.lifecycle = 'stopping';
    expect(view.deciders()).to.deep.equal(['b']);
  });

  it("announces a change of the members to every member, with its clock and its ledger's creations", async () => {
    const { sent, fake } = build(['b', 'c']);
    fake.ctx.clock.tick('a');
    await turn();
    // Nobody answers here: the same view (seq 1) goes again to the silent members, never a second one.
    expect(sent.map(({ view }) => view.seq)).to.include(1).and.not.include(2);
    expect(sent[0]?.to).to.deep.equal(['b', 'c']);
    expect(sent[0]?.view).to.deep.include({ seq: 1, incarnation: 'a-1', clock: fake.ctx.clock.current() });
    expect(sent[0]?.view.members).to.deep.equal([['a', 'a-1'], ['b', 'b-1'], ['c', 'c-1']]);
    expect(sent[0]?.view.creations).to.deep.equal([{ key: 'c', to: 'a', version: [3, 'a', 0, 'a'] }]);
  });

  it("answers an announcement with its own view, moves its clock past the sender's, and marks a sender missing from its own view leaving", () => {
    const { view, fake } = build(['b', 'c']);
    const answer = mapMessageFromWire(view.heard(announcement('b', ['a', 'b', 'c'], 1, 50), 'b'));
    expect(answer.type).to.equal(MSG_VIEW);
    expect(fake.ctx.clock.current()).to.be.at.least(50);
    expect(fake.ctx.members.isLeaving('c')).to.equal(false);
    view.heard(announcement('c', ['a', 'b']), 'c');
    expect(fake.ctx.members.isLeaving('c')).to.equal(true);
  });

  it('agrees once every member announced the same view, and waits while one differs', async () => {
    const { view } = build(['b']);
    await turn();
    const waiting = view.agreement('k');
    expect(waiting).to.not.equal(undefined);
    view.heard(announcement('b', ['b']), 'b');
    expect(view.agreement('k'), "b's view lacks this member").to.not.equal(undefined);
    view.heard(announcement('b', ['a', 'b'], 2), 'b');
    await waiting;
    expect(view.agreement('k')).to.equal(undefined);
  });

  it('reports an answer that is no map message as a ProtocolError naming the member', async () => {
    const { fake } = build(['b'], () => [MSG_VIEW, 'garbage']);
    await turn();
    await Promise.all(fake.background);
    const errors = fake.raised.filter(([event]) => event === 'error').map(([, error]) => error);
    expect(errors).to.have.length(1);
    expect(errors[0]).to.be.instanceOf(ProtocolError);
    expect((errors[0] as ProtocolError).message).to.include("'b'");
  });

  it('ends every wait with StoppedError when the map stops', async () => {
    const { view } = build(['b']);
    await turn();
    const waiting = view.agreement('k');
    view.close();
    let error: unknown;
    await waiting?.catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(StoppedError);
  });
});
