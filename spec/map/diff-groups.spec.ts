import { expect } from 'chai';
import { InMemoryNetwork, LazyReplicatedMap, classifyFrame, type Transport } from '../../lib/index.js';
import { record } from '../helpers/events.js';

import { Doc as Fields } from '../helpers/delta-doc.js';
import { DiffGroups } from '../../lib/map/diff-groups.js';
import { version } from '../../lib/map/version.js';
import type { EntryDiff } from '../../lib/codec/map-messages.js';
import type { RpcResponse } from '../../lib/errors.js';

type AnyMap = LazyReplicatedMap<string>;
const USERS = 32;

/** Messages of each type `map` sent since `before` (its `stats().sent`). */
function sentSince(map: AnyMap, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [type, n] of Object.entries(map.stats().sent)) if (n > (before[type] ?? 0)) out[type] = n - (before[type] ?? 0);
  return out;
}

describe('diffs issued together leave together (MSG_DIFFS)', () => {
  let net: InMemoryNetwork;
  let maps: Record<string, AnyMap>;

  async function start(ids: string[], transports: Record<string, Transport> = {}): Promise<void> {
    for (const id of ids) {
      maps[id] = new LazyReplicatedMap<string>({ name: 'groups', transport: transports[id] ?? net.transport(id), backups: 1, expirySweepIntervalMs: 0 });
      await maps[id].start();
    }
    await net.settled();
  }

  /** `USERS` values written on `a`, which is then primary of each. */
  async function written(): Promise<Map<string, Fields>> {
    const docs = new Map<string, Fields>();
    for (let i = 0; i < USERS; i++) {
      const doc = new Fields().put('n', 0).put('pad', 'p'.repeat(200));
      docs.set(`user-${i}`, doc);
      await maps.a!.set(`user-${i}`, doc);
    }
    await net.settled();
    for (const key of docs.keys()) expect(maps.a!.entryInfo(key)?.role).to.equal('primary');
    return docs;
  }

  /** What the surviving members serve once `a`, the primary of every key, crashed: what its backups held. */
  async function heldByBackups(keys: Iterable<string>, reader: string): Promise<Map<string, unknown>> {
    net.crash('a');
    await net.settled();
    const out = new Map<string, unknown>();
    for (const key of keys) out.set(key, ((await maps[reader]!.get(key)) as Fields | undefined)?.fields.n);
    return out;
  }

  beforeEach(() => {
    net = new InMemoryNetwork({ seed: 11 });
    maps = {};
  });

  afterEach(async () => {
    for (const m of Object.values(maps)) if (m.state === 'running') await m.stop({ discard: true });
    await net.settled();
  });

  it('sends the diffs of 32 values replicated at once to their backup in one message, with one answer', async () => {
    await start(['a', 'b']);
    const docs = await written();
    const before = { a: { ...maps.a!.stats().sent }, b: { ...maps.b!.stats().sent } };

    for (const doc of docs.values()) doc.put('n', 1);
    await Promise.all([...docs.keys()].map((key) => maps.a!.replicate(key)));

    const a = sentSince(maps.a!, before.a);
    const b = sentSince(maps.b!, before.b);
    // The first diff leaves at once (nothing else was under way); the 31 issued with it while it
    // was in flight leave together at the end of the turn.
    expect(a, 'a sends the first diff alone, the other 31 in one MSG_DIFFS, and nothing else').to.deep.equal({ MSG_DIFF: 1, MSG_DIFFS: 1 });
    expect(b, 'b answers each request once').to.deep.equal({ MSG_ACK: 1, MSG_DIFF_OUTCOMES: 1 });
    const held = await heldByBackups(docs.keys(), 'b');
    for (const key of docs.keys()) expect(held.get(key), key).to.equal(1);
  });

  it('refuses one diff of a group without failing its neighbours: that value alone is sent whole', async () => {
    await start(['a', 'b']);
    const docs = await written();
    const errors = record<[Error]>(maps.b!, 'error');
    const before = { ...maps.a!.stats().sent };

    for (const doc of docs.values()) doc.put('n', 1);
    // b cannot apply this one (its applyDiff throws): a sends it whole, and it alone.
    docs.get('user-7')!.put('poison', true);
    await Promise.all([...docs.keys()].map((key) => maps.a!.replicate(key)));
    errors.stop();

    expect(sentSince(maps.a!, before)).to.deep.equal({ MSG_DIFF: 1, MSG_DIFFS: 1, MSG_BACKUP: 1 });
    expect(errors.events.map(([e]) => e.name), 'b reports the diff it could not apply').to.deep.equal(['DiffApplyError']);
    const held = await heldByBackups(docs.keys(), 'b');
    for (const key of docs.keys()) expect(held.get(key), key).to.equal(1);
    expect(((await maps.b!.get('user-7')) as Fields).fields.poison, 'the whole value reached b').to.equal(true);
  });

  it('splits a group at the frame limit, each message within it', async () => {
    const limit = 4096;
    const transports = { a: net.transport('a', { maxFrameBytes: limit }), b: net.transport('b', { maxFrameBytes: limit }) };
    const largest = { MSG_DIFFS: 0 };
    const send = transports.a.send.bind(transports.a);
    transports.a.send = (to: string, frame: Uint8Array): Promise<void> => {
      if (classifyFrame(frame) === 'MSG_DIFFS') largest.MSG_DIFFS = Math.max(largest.MSG_DIFFS, frame.byteLength);
      return send(to, frame);
    };
    await start(['a', 'b'], transports);
    const docs = await written();
    const errors = record<[Error]>(maps.a!, 'error');
    const before = { ...maps.a!.stats().sent };

    // About 300 bytes of diff each: 31 of them need three frames of 4 KiB.
    for (const doc of docs.values()) doc.put('pad', 'q'.repeat(300));
    await Promise.all([...docs.keys()].map((key) => maps.a!.replicate(key)));
    errors.stop();

    const sent = sentSince(maps.a!, before);
    expect(errors.events, 'nothing refused for its size').to.deep.equal([]);
    expect(sent.MSG_DIFFS, 'the group of 31 in several messages').to.be.within(3, 5);
    expect(sent.MSG_BACKUP, 'no value sent whole').to.equal(undefined);
    expect(largest.MSG_DIFFS).to.be.within(1, limit);
    const held = await heldByBackups(docs.keys(), 'b');
    for (const key of docs.keys()) expect(held.get(key), key).to.equal(0);
    expect(((await maps.b!.get('user-3')) as Fields).fields.pad).to.equal('q'.repeat(300));
  });

  it('loses no acknowledged write when the backup dies with a group in flight', async () => {
    const ta = net.transport('a');
    let crashed = false;
    const send = ta.send.bind(ta);
    ta.send = (to: string, frame: Uint8Array): Promise<void> => {
      const sent = send(to, frame);
      // b dies as the group reaches the network: the group and any answer are lost with it.
      if (!crashed && to === 'b' && classifyFrame(frame) === 'MSG_DIFFS') {
        crashed = true;
        net.crash('b');
      }
      return sent;
    };
    await start(['a', 'b', 'c'], { a: ta });
    const docs = await written();
    const onB = [...docs.keys()].filter((key) => maps.a!.entryInfo(key)?.backups[0] === 'b');
    expect(onB.length, 'b backs up some of the keys').to.be.above(2);

    for (const doc of docs.values()) doc.put('n', 1);
    const outcomes = await Promise.allSettled([...docs.keys()].map((key) => maps.a!.replicate(key)));
    // Acknowledged means held by a live backup now: a may die at once, before any re-homing.
    const backups = [...docs.keys()].map((key) => maps.a!.entryInfo(key)?.backups);
    const held = await heldByBackups(docs.keys(), 'c');

    expect(crashed, 'a group of diffs went to b').to.equal(true);
    expect(outcomes.map((o) => o.status), 'every replicate resolved: c took the copies b did not acknowledge').to.deep.equal(outcomes.map(() => 'fulfilled'));
    expect(backups, 'each names c, the live backup').to.deep.equal(backups.map(() => ['c']));
    for (const key of docs.keys()) expect(held.get(key), key).to.equal(1);
  });
});

describe('DiffGroups, when a group fails before it is sent', () => {
  it('rejects each diff of the group with the error, and leaves no rejection unhandled', async () => {
    const failure = new Error('frame budget failed');
    let requests = 0;
    const messenger = {
      budget: (): undefined => {
        throw failure;
      },
      request: (): Promise<RpcResponse[]> => {
        requests++;
        return Promise.resolve([]);
      },
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const groups = new DiffGroups(messenger, () => undefined);
      const diff = (key: string): EntryDiff => ({ entry: { key, version: version(1, 'a', 0, 'a', 0, ''), primary: 'a', backups: ['b'] }, base: version(1, 'a', 0, 'a', 0, ''), diff: new Uint8Array([0x80]) });
      // A lone diff leaves at once; the two issued while it is in flight leave as one group.
      const sent = ['k1', 'k2', 'k3'].map((key) => groups.send('b', diff(key)).then(() => 'resolved', (error: unknown) => error));
      expect(await Promise.all(sent)).to.deep.equal([failure, failure, failure]);
      // One more turn: a rejection nobody handled is reported after the microtasks of its turn.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).to.deep.equal([]);
      expect(requests).to.equal(0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
