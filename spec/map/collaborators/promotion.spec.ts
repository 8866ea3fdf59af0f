import { expect } from 'chai';
import { RetrieveError, ValueTooLargeError } from '../../../lib/errors.js';
import { Entry } from '../../../lib/map/entry.js';
import { stampWrite } from '../../../lib/map/expiry.js';
import { Messenger } from '../../../lib/map/messenger.js';
import { Promotion } from '../../../lib/map/promotion.js';
import { Publisher } from '../../../lib/map/publisher.js';
import { Calls, fakeContext } from './fakes.js';

/** A Promotion for member 'a' whose expiry is a recorder; nothing is sent. */
function build(frameLimit?: number): { promotion: Promotion; calls: Calls; fake: ReturnType<typeof fakeContext> } {
  const fake = fakeContext('a', ['b'], frameLimit === undefined ? {} : { frameLimit });
  const calls = new Calls();
  const messenger = new Messenger(fake.ctx);
  const expiry = {
    used: (entry: Entry) => {
      calls.record('used', entry.key);
    },
    sweep: () => {
      calls.record('sweep');
      return Promise.resolve(0);
    },
  };
  return { promotion: new Promotion(fake.ctx, messenger, new Publisher(fake.ctx, messenger), expiry), calls, fake };
}

describe('Promotion (alone, on fakes): answering a fetch of a value held here', () => {
  it('answers the copy with its version and expiry, and counts the fetch as a use on the primary', () => {
    const { promotion, calls, fake } = build();
    const e = new Entry('k', 'primary', [1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array([7]));
    stampWrite(e, { ttlMs: 500 }, 900);
    fake.ctx.entries.set('k', e);
    const copy = promotion.held('k', (error) => error);
    expect(copy).to.deep.include({ version: [1, 'a', 0, 'a'], ttlMs: 400, idleMs: 100 });
    expect(calls.names()).to.deep.equal(['used']);
  });

  it('refuses a key not held here, or expired (swept at once on its primary)', () => {
    const { promotion, calls, fake } = build();
    expect(() => promotion.held('none', (error) => error)).to.throw(RetrieveError, /holds no value/);
    const e = new Entry('k', 'primary', [1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array([7]));
    stampWrite(e, { ttlMs: 10 }, 0);
    fake.ctx.entries.set('k', e);
    expect(() => promotion.held('k', (error) => error)).to.throw(RetrieveError, /expired/);
    expect(calls.names()).to.deep.equal(['sweep']);
  });

  it('reports and refuses a value too large for the frame limit now', () => {
    const { promotion, fake } = build(64);
    fake.ctx.entries.set('k', new Entry('k', 'primary', [1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array(1000)));
    const reported: Error[] = [];
    expect(() => promotion.held('k', (error) => (reported.push(error), error))).to.throw(ValueTooLargeError);
    expect(reported).to.have.length(1);
  });
});

describe('Promotion (alone, on fakes): answering a fetch of several keys (MSG_RETRIEVE_MANY)', () => {
  const primary = (key: string, size: number): Entry => new Entry(key, 'primary', [1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array(size));

  it('answers each key on its own, in order: a copy, not held, a refusal', () => {
    const { promotion, calls, fake } = build(2048);
    fake.ctx.entries.set('k', primary('k', 8));
    fake.ctx.entries.set('big', primary('big', 4000));
    const answers = promotion.heldMany(['big', 'k', 'none'], (error) => error);
    expect(answers.map((a) => a.answer)).to.deep.equal(['refused', 'held', 'none']);
    expect(answers[0]).to.deep.include({ name: 'ValueTooLargeError' });
    expect(calls.names()).to.deep.equal(['used']);
  });

  it('answers "later" every key after the first that would not fit the frame limit, without reading it', () => {
    const { promotion, calls, fake } = build(4096);
    for (const k of ['k0', 'k1', 'k2', 'k3']) fake.ctx.entries.set(k, primary(k, 1500));
    const answers = promotion.heldMany(['k0', 'k1', 'k2', 'k3'], (error) => error);
    expect(answers.map((a) => a.answer)).to.deep.equal(['held', 'held', 'later', 'later']);
    // Only the keys answered were read (a use each): a key left for later has no effect.
    expect(calls.names()).to.deep.equal(['used', 'used']);
    // The first key is always answered, whatever the room.
    expect(promotion.heldMany(['k3', 'k2'], (error) => error).map((a) => a.answer)).to.deep.equal(['held', 'held']);
  });
});
