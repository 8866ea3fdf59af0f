import { expect } from 'chai';
import { ReplicationError, RpcRemoteError, StoppedError, type RpcResponse } from '../../../lib/errors.js';
import type { MapMessage, Placement } from '../../../lib/codec/map-messages.js';
import { MSG_BACKUP } from '../../../lib/codec/message-types.js';
import { Entry } from '../../../lib/map/entry.js';
import { Publisher, type PublicationMessenger } from '../../../lib/map/publisher.js';
import { nextUpdate } from '../../../lib/map/version.js';
import { Calls, fakeContext, settledByNextTurn } from './fakes.js';

/**
 * A Publisher for member 'a' with `others`; a member in `refusing` answers every message with an
 * error; placements are acknowledged once `placementsHeld` (if given) resolves.
 */
function build(others: string[], refusing: string[] = [], placementsHeld?: Promise<void>) {
  const fake = fakeContext('a', others);
  fake.ctx.lifecycle = 'running';
  const calls = new Calls();
  const answer = (from: string): RpcResponse => (refusing.includes(from) ? { from, error: new RpcRemoteError('full', from, 'CapacityError') } : { from, reply: [] });
  const messenger: PublicationMessenger = {
    request: async (message: MapMessage, to) => {
      const keys = 'entries' in message ? message.entries.map((e) => e.key) : [];
      calls.record('request', message.type, [...to], keys);
      await Promise.resolve();
      return to.map(answer);
    },
    // As the messenger does, one message per chunk: none for no placement.
    sendPlacements: (to: string, placements: readonly Placement[]) => {
      if (placements.length === 0) return [];
      calls.record('placements', to, placements.map((p) => [p.key, p.primary, [...p.backups]]));
      return [(placementsHeld ?? Promise.resolve()).then(() => [answer(to)])];
    },
    budget: () => undefined,
  };
  return { publisher: new Publisher(fake.ctx, messenger), calls, fake };
}

/** An entry owned by 'a', backed up on `backups`, known in `fake`'s entries. */
function owned(fake: ReturnType<typeof fakeContext>, key: string, backups: string[]): Entry {
  const entry = new Entry(key, 'primary', [1, 'a', 0, 'a'], 'a', backups, new Uint8Array([1]));
  fake.ctx.entries.set(key, entry);
  return entry;
}

describe('Publisher (alone, on fakes)', () => {
  it('sends the copy to the backups first, then the placement to every other member, and settles after both', async () => {
    const { publisher, calls, fake } = build(['b', 'c', 'd']);
    const entry = owned(fake, 'k', ['b']);
    await publisher.publish([entry]);
    expect(calls.list).to.deep.equal([
      ['request', MSG_BACKUP, ['b'], ['k']],
      ['placements', 'c', [['k', 'a', ['b']]]],
      ['placements', 'd', [['k', 'a', ['b']]]],
    ]);
    expect(publisher.busy).to.equal(false);
    expect(publisher.lastAnnounced(entry)).to.deep.include({ key: 'k', primary: 'a' });
  });

  it('replaces a backup that refuses its copy with another member, and names only backups that took it', async () => {
    const { publisher, calls, fake } = build(['b', 'c'], ['b']);
    const entry = owned(fake, 'k', ['b']);
    await publisher.publish([entry], undefined, 'each');
    expect(entry.backups).to.deep.equal(['c']);
    expect(calls.list.filter(([name]) => name === 'request')).to.deep.equal([
      ['request', MSG_BACKUP, ['b'], ['k']],
      ['request', MSG_BACKUP, ['c'], ['k']],
    ]);
    // b, which refused, learns where the key lives now.
    expect(calls.list.at(-1)).to.deep.equal(['placements', 'b', [['k', 'a', ['c']]]]);
    await publisher.published(entry, Promise.resolve());
  });

  it('rejects the awaited write with ReplicationError and reports it under-replicated when a live member refused and none other took it', async () => {
    const { publisher, fake } = build(['b'], ['b']);
    const entry = owned(fake, 'k', ['b']);
    const done = publisher.publishWrite(entry);
    let error: unknown;
    await publisher.published(entry, done).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(ReplicationError);
    expect(entry.backups).to.deep.equal([]);
    expect(fake.raised.map(([event]) => event)).to.deep.equal(['underReplicated']);
  });

  it('tells an update in place to its backups only, unless the entry is to be announced again', async () => {
    const { publisher, calls, fake } = build(['b', 'c']);
    const entry = owned(fake, 'k', ['b']);
    await publisher.publish([entry]);
    calls.list.length = 0;
    entry.version = nextUpdate(entry.version, 'a');
    await publisher.publish([entry]);
    expect(calls.names(), 'the proxy c keeps the placement it has').to.deep.equal(['request']);
    calls.list.length = 0;
    publisher.reannounce(entry);
    await publisher.publish([entry]);
    expect(calls.names()).to.deep.equal(['request', 'placements']);
  });

  it('settles an update in place only once the announcement of its placement, still under way, was acknowledged', async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { publisher, calls, fake } = build(['b', 'c'], [], held);
    const entry = owned(fake, 'k', ['b']);
    const placed = publisher.publish([entry]);
    expect(await settledByNextTurn(placed), 'c has not acknowledged the placement').to.equal('pending');
    expect(calls.list.at(-1)).to.deep.equal(['placements', 'c', [['k', 'a', ['b']]]]);
    // A change in place: only b hears of it, but a read on c must find the key once it settles.
    entry.version = nextUpdate(entry.version, 'a');
    const updated = publisher.publish([entry]);
    expect(await settledByNextTurn(updated.then(() => 'settled'))).to.equal('pending');
    expect(calls.list.filter(([name]) => name === 'placements')).to.have.length(1);
    release();
    await Promise.all([placed, updated]);
  });

  it('does not let a write look acknowledged once the map stopped under it', async () => {
    const { publisher, fake } = build(['b']);
    const entry = owned(fake, 'k', ['b']);
    const done = publisher.publishWrite(entry);
    fake.ctx.lifecycle = 'stopped';
    let error: unknown;
    await publisher.published(entry, done).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(StoppedError);
  });

  it('keeps a publication under way until it settles, so a graceful stop can drain it', async () => {
    const { publisher, fake } = build(['b']);
    const entry = owned(fake, 'k', ['b']);
    const done = publisher.publishWrite(entry);
    expect(publisher.underWay(entry)).to.not.equal(undefined);
    expect(publisher.busy).to.equal(true);
    await publisher.drain();
    await done;
    expect(publisher.underWay(entry)).to.equal(undefined);
    expect(publisher.busy).to.equal(false);
  });
});
