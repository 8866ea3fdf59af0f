import { expect } from 'chai';
import { RetrieveError } from '../../../lib/errors.js';
import { Entry } from '../../../lib/map/entry.js';
import { Expiry, copyReceived, stampWrite, type ExpiryHost } from '../../../lib/map/expiry.js';
import type { MapKey } from '../../../lib/codec/map-messages.js';
import { Calls, fakeContext } from './fakes.js';

/** An Expiry for member 'a' (with 'b' and 'c') on fakes; sweeps only when called. */
function build(): { expiry: Expiry; calls: Calls; fake: ReturnType<typeof fakeContext> } {
  const fake = fakeContext('a', ['b', 'c']);
  fake.ctx.lifecycle = 'running';
  const calls = new Calls();
  const host: ExpiryHost = {
    access: (entry) => calls.done('access', entry.key),
    remove: (keys: MapKey[]) => calls.done('remove', keys),
    expired: (key) => {
      calls.record('expired', key);
    },
    forward: (key, primary) => calls.done('forward', key, primary),
  };
  const timers = { setInterval: () => 0, clearInterval: () => undefined };
  return { expiry: new Expiry(fake.ctx, host, 0, timers), calls, fake };
}

describe('Expiry (alone, on fakes): the uses other members report', () => {
  it('counts a use reported to the primary, marks a copy used when its primary reports one, and passes a misdirected use on', () => {
    const { expiry, calls, fake } = build();
    const own = new Entry('own', 'primary', [1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array([1]));
    stampWrite(own, { maxIdleMs: 100 }, 950);
    const copy = new Entry('copy', 'backup', [1, 'b', 0, 'b'], 'b', ['a'], new Uint8Array([1]));
    const proxy = new Entry('moved', 'proxy', [1, 'c', 0, 'c'], 'c', ['b']);
    for (const e of [own, copy, proxy]) fake.ctx.entries.set(e.key, e);
    expiry.heard(['own'], 'c', true);
    expect(own.lastAccess).to.equal(1000);
    expiry.heard(['copy'], 'b', false);
    expect(copy.lastAccess).to.equal(1000);
    expiry.heard(['moved'], 'b', false);
    expect(calls.list).to.deep.include(['forward', 'moved', 'c']);
  });

  it('answers an expired or unknown key with a RetrieveError when a reply is awaited, and sweeps the expired one', async () => {
    const { expiry, calls, fake } = build();
    const old = new Entry('old', 'primary', [1, 'a', 0, 'a'], 'a', ['b'], new Uint8Array([1]));
    stampWrite(old, { ttlMs: 10 }, 0);
    fake.ctx.entries.set('old', old);
    expect(() => {
      expiry.heard(['old'], 'b', true);
    }).to.throw(RetrieveError, /expired/);
    await Promise.all(fake.background);
    expect(calls.list).to.deep.include(['remove', ['old']]);
    expect(() => {
      expiry.heard(['never'], 'b', true);
    }).to.throw(RetrieveError, /not known/);
    expect(() => {
      expiry.heard(['never'], 'b', false);
    }).to.not.throw();
  });

  it('marks a copy received as used only when it is the write held here', () => {
    const held = new Entry('k', 'backup', [2, 'b', 0, 'b'], 'b', ['a'], new Uint8Array([1]));
    copyReceived(held, [1, 'b', 0, 'b'], 50);
    expect(held.lastAccess).to.equal(undefined);
    copyReceived(held, [2, 'b', 3, 'c'], 50);
    expect(held.lastAccess).to.equal(50);
  });
});
