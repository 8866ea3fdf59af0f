import { expect } from 'chai';
import { ProtocolError, StoppedError } from '../../../lib/errors.js';
import { mapMessageFromWire, mapMessageToWire, type MapMessage } from '../../../lib/codec/map-messages.js';
import {
  MSG_ACCESS,
  MSG_ACK,
  MSG_BACKUP,
  MSG_CONDITIONAL,
  MSG_COPY,
  MSG_DIFF,
  MSG_HANDOVER,
  MSG_LEAVING,
  MSG_OUTCOME,
  MSG_PING,
  MSG_PROXY,
  MSG_REMOVE,
  MSG_RETRIEVE_BACKUP,
  MSG_RETRIEVE_MANY,
  MSG_START,
  MSG_STATE,
  MSG_STATE_NEXT,
  MSG_STOP,
  MSG_VALUE,
  MSG_VALUES,
  MSG_VIEW,
} from '../../../lib/codec/message-types.js';
import type { MapState } from '../../../lib/map/map-options.js';
import { MessageHandler, type MessageHandlerParts } from '../../../lib/map/message-handler.js';
import { Messenger } from '../../../lib/map/messenger.js';
import { Calls, fakeContext } from './fakes.js';

/** A MessageHandler for member 'a' (with 'b') whose collaborators are recorders. */
function build(lifecycle: MapState = 'running') {
  const fake = fakeContext('a', ['b']);
  fake.ctx.lifecycle = lifecycle;
  const calls = new Calls();
  const parts: MessageHandlerParts = {
    messenger: new Messenger(fake.ctx),
    reconciler: {
      applyCopies: (entries, from) => {
        calls.record('applyCopies', entries.map((e) => e.key), from);
      },
      applyDiff: (diff, from) => {
        calls.record('applyDiff', diff.entry.key, from);
      },
      applyPlacements: (entries, from) => {
        calls.record('applyPlacements', entries.map((e) => e.key), from);
      },
      applyRemovals: (removals, from) => {
        calls.record('applyRemovals', removals.map((r) => r.key), from);
      },
    },
    transfer: {
      answerStart: (from, incarnation) => {
        calls.record('answerStart', from, incarnation);
        return ['state'];
      },
      answerNext: (from, transfer, page) => {
        calls.record('answerNext', from, transfer, page);
        return ['page'];
      },
    },
    memberChanges: {
      disappeared: (id) => {
        calls.record('disappeared', id);
      },
    },
    expiry: {
      heard: (keys, from, wantsReply) => {
        calls.record('heard', keys, from, wantsReply);
      },
    },
    promotion: {
      held: (key) => {
        calls.record('held', key);
        return { version: [1, 'a', 0, 'a'], bytes: new Uint8Array([7]) };
      },
      heldMany: (keys) => {
        calls.record('heldMany', keys);
        return keys.map(() => ({ answer: 'none' as const }));
      },
    },
    departure: {
      changed: () => {
        calls.record('changed');
      },
    },
    conditional: {
      answer: (request, from) => {
        calls.record('answer', request.key, request.condition, from);
        return Promise.resolve(['outcome']);
      },
    },
    view: {
      heard: (view, from) => {
        calls.record('viewHeard', view.seq, from);
        return ['view'];
      },
    },
  };
  return { handler: new MessageHandler(fake.ctx, parts), calls, fake };
}

const version = [1, 'b', 0, 'b'] as const;
const placement = { key: 'k', version, primary: 'b', backups: ['a'] };

/** A message from 'b' as it arrives: in its wire form. */
const wire = (message: MapMessage): unknown[] => mapMessageToWire(message);

/** The type of the message a reply encodes. */
const typeOf = (reply: unknown): number => mapMessageFromWire(reply).type;

describe('MessageHandler (alone, on fakes): routing only', () => {
  const routes: Array<{ message: MapMessage; call: unknown[]; reply?: number | unknown[] }> = [
    { message: { type: MSG_BACKUP, entries: [{ ...placement, bytes: new Uint8Array([1]) }] }, call: ['applyCopies', ['k'], 'b'], reply: MSG_ACK },
    { message: { type: MSG_COPY, entries: [{ ...placement, bytes: new Uint8Array([1]) }] }, call: ['applyCopies', ['k'], 'b'], reply: MSG_ACK },
    { message: { type: MSG_DIFF, entry: placement, base: version, diff: new Uint8Array([2]) }, call: ['applyDiff', 'k', 'b'], reply: MSG_ACK },
    { message: { type: MSG_PROXY, entries: [placement] }, call: ['applyPlacements', ['k'], 'b'], reply: MSG_ACK },
    { message: { type: MSG_REMOVE, removals: [{ key: 'k', version }] }, call: ['applyRemovals', ['k'], 'b'], reply: MSG_ACK },
    { message: { type: MSG_RETRIEVE_BACKUP, key: 'k' }, call: ['held', 'k'], reply: MSG_VALUE },
    { message: { type: MSG_RETRIEVE_MANY, keys: ['k', 'l'] }, call: ['heldMany', ['k', 'l']], reply: MSG_VALUES },
    { message: { type: MSG_START, incarnation: 'b-1' }, call: ['answerStart', 'b', 'b-1'], reply: ['state'] },
    { message: { type: MSG_STATE_NEXT, transfer: 3, page: 2 }, call: ['answerNext', 'b', 3, 2], reply: ['page'] },
    { message: { type: MSG_STOP }, call: ['disappeared', 'b'], reply: MSG_ACK },
    { message: { type: MSG_VIEW, seq: 4, incarnation: 'b-1', members: [['b', 'b-1']], clock: 0, creations: [] }, call: ['viewHeard', 4, 'b'], reply: ['view'] },
    { message: { type: MSG_ACCESS, keys: ['k'] }, call: ['heard', ['k'], 'b', true], reply: MSG_ACK },
    { message: { type: MSG_CONDITIONAL, key: 'k', condition: 'absent', bytes: new Uint8Array([1]) }, call: ['answer', 'k', 'absent', 'b'] },
  ];
  for (const { message, call, reply } of routes) {
    it(`hands message type ${message.type} to its collaborator, once, and counts it received`, async () => {
      const { handler, calls, fake } = build();
      const answer: unknown = await handler.handle(wire(message), 'b');
      expect(calls.list).to.deep.equal([call]);
      if (typeof reply === 'number') expect(typeOf(answer)).to.equal(reply);
      else if (reply !== undefined) expect(answer).to.deep.equal(reply);
      else expect(answer).to.deep.equal(['outcome']);
      expect(Object.values(fake.ctx.counters.received)).to.deep.equal([1]);
    });
  }

  it('marks a member leaving (MSG_LEAVING) or gone (MSG_STOP) in the member view', () => {
    const { handler, fake } = build();
    handler.handle(wire({ type: MSG_LEAVING }), 'b');
    expect(fake.ctx.members.isLeaving('b')).to.equal(true);
    handler.handle(wire({ type: MSG_STOP }), 'b');
    // Once gone, b's goodbye tells a late message of its old life from a new life's (b is still reachable).
    fake.ctx.members.remove('b');
    expect(fake.ctx.members.departed('b')).to.equal(true);
  });

  it('answers a ping, and acknowledges nothing to a one-way message', () => {
    const { handler, calls } = build();
    expect(typeOf(handler.handle(wire({ type: MSG_PING }), 'b'))).to.equal(MSG_ACK);
    expect(handler.handle(wire({ type: MSG_PROXY, entries: [placement] }), 'b', false)).to.equal(undefined);
    expect(calls.names()).to.deep.equal(['applyPlacements']);
  });

  it('reports a body that is no map message as one ProtocolError naming the sender, and routes nothing', () => {
    const { handler, calls, fake } = build();
    let thrown: unknown;
    try {
      handler.handle([MSG_BACKUP, 'not a list of entries'], 'b');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).to.be.instanceOf(ProtocolError);
    expect((thrown as ProtocolError).message).to.include("'b'");
    expect(handler.wasReported(thrown as Error)).to.equal(true);
    expect(fake.raised.map(([event]) => event)).to.deep.equal(['error']);
    expect(calls.list).to.deep.equal([]);
  });

  it('reports an answer sent as a request (MSG_STATE, MSG_ACK, MSG_VALUE, MSG_OUTCOME, MSG_HANDOVER) as a ProtocolError', () => {
    const answers: MapMessage[] = [
      { type: MSG_STATE, incarnation: 'b-1', entries: [], tombstones: [] },
      { type: MSG_ACK },
      { type: MSG_VALUE, key: 'k', copy: undefined },
      { type: MSG_OUTCOME, key: 'k', outcome: 'written' },
      { type: MSG_HANDOVER, key: 'k', version },
    ];
    for (const message of answers) {
      const { handler, calls } = build();
      expect(() => handler.handle(wire(message), 'b'), `type ${message.type}`).to.throw(ProtocolError, /unexpected/);
      expect(calls.list).to.deep.equal([]);
    }
  });

  it('while leaving: tells the departure of every message, refuses copies, still answers a start until the goodbye', () => {
    const { handler, calls, fake } = build('stopping');
    expect(() => handler.handle(wire({ type: MSG_BACKUP, entries: [{ ...placement, bytes: new Uint8Array([1]) }] }), 'b')).to.throw(StoppedError, /leaving/);
    expect(calls.names()).to.deep.equal(['changed']);
    handler.handle(wire({ type: MSG_START, incarnation: 'b-1' }), 'b');
    expect(calls.names()).to.deep.equal(['changed', 'changed', 'answerStart']);
    fake.ctx.markGoodbye();
    expect(() => handler.handle(wire({ type: MSG_START, incarnation: 'b-1' }), 'b')).to.throw(StoppedError, /leaving/);
  });

  it('refuses every message once stopped, and a start before it started', () => {
    const stopped = build('stopped');
    expect(() => stopped.handler.handle(wire({ type: MSG_PROXY, entries: [placement] }), 'b')).to.throw(StoppedError, /stopped/);
    expect(stopped.calls.list).to.deep.equal([]);
    const fresh = build('new');
    expect(() => fresh.handler.handle(wire({ type: MSG_START, incarnation: 'b-1' }), 'b')).to.throw(StoppedError);
    expect(fresh.calls.list).to.deep.equal([]);
  });
});
