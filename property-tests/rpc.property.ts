/**
 * RpcChannel properties: for random target behaviours (reply after some turns, throw, no such
 * channel, crash before answering, never answer) and every mode, a call settles exactly as its
 * mode says, with replies only from members that answered, and never waits for a dead member.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { InMemoryNetwork, RpcChannel, RpcRemoteError, RpcTimeoutError, type RpcReplyMode, type RpcResponse } from '../lib/index.js';
import { holds } from './settings.js';

type Behaviour = { kind: 'reply'; turns: number } | { kind: 'throw'; turns: number } | { kind: 'noChannel' } | { kind: 'crash' } | { kind: 'silent' };

const behaviour: fc.Arbitrary<Behaviour> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('reply' as const), turns: fc.nat({ max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('throw' as const), turns: fc.nat({ max: 6 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'noChannel' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'silent' as const }) },
);

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('RpcChannel properties', function () {
  this.timeout(300_000);

  it('settles exactly when the mode says, with replies only from members that answered', async () => {
    await holds(
      fc.asyncProperty(
        fc.array(behaviour, { minLength: 1, maxLength: 5 }),
        fc.constantFrom<RpcReplyMode>('first', 'majority', 'all', 'none'),
        fc.integer({ min: 1, max: 10_000 }),
        async (behaviours, mode, seed) => {
          const net = new InMemoryNetwork({ seed, delay: { min: 0, max: 3 } });
          const ids = behaviours.map((_, i) => `t${i}`);
          const received = new Set<string>();
          const channels: RpcChannel[] = [];
          const others: RpcChannel[] = [];
          behaviours.forEach((b, i) => {
            const id = ids[i] as string;
            const t = net.transport(id);
            if (b.kind === 'noChannel') {
              others.push(new RpcChannel(t, 'other', () => 'unrelated'));
              return;
            }
            channels.push(
              new RpcChannel(t, 'p', async () => {
                received.add(id);
                if (b.kind === 'crash') {
                  net.crash(id);
                  return 'never sent';
                }
                if (b.kind === 'silent') return new Promise(() => undefined);
                await turns(b.turns);
                if (b.kind === 'throw') throw new Error(`boom from ${id}`);
                return `reply from ${id}`;
              }),
            );
          });
          const caller = new RpcChannel(net.transport('caller'), 'p');
          await caller.ready();
          await Promise.all([...channels, ...others].map((c) => c.ready()));
          await net.settled();

          const answering = ids.filter((_, i) => ['reply', 'throw'].includes((behaviours[i] as Behaviour).kind));
          const succeeding = ids.filter((_, i) => (behaviours[i] as Behaviour).kind === 'reply');
          const silent = ids.filter((_, i) => (behaviours[i] as Behaviour).kind === 'silent');
          const countable = answering.length + silent.length;
          const timeoutMs = silent.length > 0 ? 40 : 60_000;

          let result: RpcResponse[] | undefined;
          let failure: unknown;
          try {
            result = await caller.call('q', { mode, timeoutMs });
          } catch (error) {
            failure = error;
          }
          const responses = result ?? (failure instanceof RpcTimeoutError ? failure.replies : []);
          for (const r of responses) {
            expect(answering, `reply from a member that answered`).to.include(r.from);
            if ('error' in r) expect(r.error).to.be.instanceOf(RpcRemoteError);
            else expect(succeeding).to.include(r.from);
          }
          expect(new Set(responses.map((r) => r.from)).size, 'one entry per member').to.equal(responses.length);

          const successes = responses.filter((r) => 'reply' in r).length;
          switch (mode) {
            case 'none':
              expect(result).to.deep.equal([]);
              await net.settled();
              // Delivered all the same, to every member running the channel.
              for (const id of ids.filter((_, i) => (behaviours[i] as Behaviour).kind !== 'noChannel')) expect(received).to.include(id);
              break;
            case 'all':
              if (silent.length === 0) {
                expect(failure, 'all never times out without a silent member').to.equal(undefined);
                expect(responses.map((r) => r.from).sort()).to.deep.equal([...answering].sort());
              } else {
                expect(failure).to.be.instanceOf(RpcTimeoutError);
              }
              break;
            case 'first':
              if (successes > 0) expect(successes, 'first settles on the first success').to.equal(1);
              else if (silent.length === 0) expect(responses.map((r) => r.from).sort(), 'first with no success waits for every answer').to.deep.equal([...answering].sort());
              if (succeeding.length === 0 && silent.length > 0) expect(failure).to.be.instanceOf(RpcTimeoutError);
              if (silent.length === 0) expect(failure).to.equal(undefined);
              break;
            case 'majority': {
              if (answering.length >= Math.ceil(countable / 2) || silent.length === 0) {
                expect(failure, 'majority reachable: no timeout').to.equal(undefined);
                expect(responses.length).to.be.at.least(Math.min(answering.length, Math.ceil(countable / 2)));
              } else {
                expect(failure).to.be.instanceOf(RpcTimeoutError);
              }
              break;
            }
          }
          for (const c of [caller, ...channels, ...others]) await c.close();
          await net.settled();
        },
      ),
      150,
    );
  });
});
