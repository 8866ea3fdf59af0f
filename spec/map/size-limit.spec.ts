import { expect } from 'chai';
import Keyv from 'keyv';
import {
  FrameTooLargeError,
  InMemoryNetwork,
  LazyReplicatedMap,
  ReplicatedMap,
  RetrieveError,
  RpcRemoteError,
  ValueTooLargeError,
  type InMemoryTransport,
} from '../../lib/index.js';
import { KeyvStore } from '../../lib/keyv/index.js';
import { ChannelRouter } from '../../lib/rpc/channel-router.js';
import { BackupSessionStore, SessionValue } from '../../lib/session/index.js';
import { record, rejection } from '../helpers/events.js';

/** Every member's transport accepts frames of at most this many bytes. */
const LIMIT = 4096;
const IDS = ['a', 'b', 'c'];

type AnyMap = LazyReplicatedMap<string>;

interface Limited {
  net: InMemoryNetwork;
  t: Record<string, InMemoryTransport>;
  maps: Record<string, AnyMap>;
  /** Every 'error' of every map and transport, by member. */
  errors: Record<string, Error[]>;
}

async function limited(opts: { limit?: number | undefined; replicated?: boolean; ids?: string[] } = {}): Promise<Limited> {
  const net = new InMemoryNetwork({ seed: 3 });
  const t: Record<string, InMemoryTransport> = {};
  const maps: Record<string, AnyMap> = {};
  const errors: Record<string, Error[]> = {};
  for (const id of opts.ids ?? IDS) {
    t[id] = net.transport(id, 'limit' in opts && opts.limit === undefined ? undefined : { maxFrameBytes: opts.limit ?? LIMIT });
    const settings = { name: 'm', transport: t[id], rpcTimeoutMs: 600_000 };
    maps[id] = opts.replicated === true ? (new ReplicatedMap<string, unknown>(settings) as unknown as AnyMap) : new LazyReplicatedMap<string, unknown>(settings);
    errors[id] = [];
    maps[id].on('error', (e) => errors[id]!.push(e));
    await maps[id].start();
  }
  await net.settled();
  return { net, t, maps, errors };
}

const text = (n: number): string => 'v'.repeat(n);

describe('map size limits', () => {
  let c: Limited | undefined;
  afterEach(async () => {
    for (const m of Object.values(c?.maps ?? {})) if (m.state === 'running') await m.stop({ discard: true });
    c = undefined;
  });

  it('refuses a set whose copy would exceed the frame limit before anything is sent, and the cluster is untouched', async () => {
    c = await limited();
    const { net, maps } = c;
    const before = net.stats().messages;
    const sentBefore = maps.a!.stats().sent;
    const error = await rejection(maps.a!.set('big', text(LIMIT)));
    expect(error).to.be.instanceOf(ValueTooLargeError);
    const e = error as ValueTooLargeError;
    expect(e.limit).to.equal(LIMIT);
    expect(e.bytes).to.be.greaterThan(LIMIT);
    expect(e.message).to.include('"big"').and.include(String(e.bytes)).and.include(String(LIMIT)).and.include('maxFrameBytes');
    await net.settled();
    expect(net.stats().messages, 'frames sent').to.equal(before);
    expect(maps.a!.stats().sent).to.deep.equal(sentBefore);
    for (const id of IDS) expect(maps[id]!.has('big'), `'big' on ${id}`).to.equal(false);
    // The cluster works as before: a later write gets its backup, everyone sees it.
    await maps.a!.set('small', text(1000));
    await net.settled();
    expect(maps.a!.entryInfo('small')?.backups).to.have.length(1);
    for (const id of IDS) expect(await maps[id]!.get('small', { promote: false })).to.equal(text(1000));
    expect(Object.values(c.errors).flat()).to.deep.equal([]);
  });

  it("refuses a set above another member's smaller limit, learnt when the members met", async () => {
    const net = new InMemoryNetwork();
    const settings = (id: string, limit?: number) => ({ name: 'm', transport: net.transport(id, limit === undefined ? undefined : { maxFrameBytes: limit }), rpcTimeoutMs: 600_000 });
    const maps = { a: new LazyReplicatedMap<string, unknown>(settings('a')), b: new LazyReplicatedMap<string, unknown>(settings('b', LIMIT)) };
    c = { net, t: {}, maps, errors: {} };
    for (const m of Object.values(maps)) await m.start();
    await net.settled();
    const before = net.stats().messages;
    const error = await rejection(maps.a.set('big', text(LIMIT)));
    expect(error).to.be.instanceOf(ValueTooLargeError);
    expect((error as ValueTooLargeError).limit).to.equal(LIMIT);
    await net.settled();
    expect(net.stats().messages).to.equal(before);
    await maps.a.set('small', text(100));
    expect(maps.a.entryInfo('small')?.backups).to.deep.equal(['b']);
  });

  it('refuses a too large new value of an existing key: every member keeps the old one, same version', async () => {
    c = await limited();
    const { net, maps } = c;
    await maps.a!.set('k', text(10));
    await net.settled();
    const info = IDS.map((id) => maps[id]!.entryInfo('k'));
    const before = net.stats().messages;
    expect(await rejection(maps.a!.set('k', text(2 * LIMIT)))).to.be.instanceOf(ValueTooLargeError);
    await net.settled();
    expect(net.stats().messages).to.equal(before);
    expect(IDS.map((id) => maps[id]!.entryInfo('k'))).to.deep.equal(info);
    for (const id of IDS) expect(await maps[id]!.get('k', { promote: false })).to.equal(text(10));
  });

  it('refuses a replicate (whole, and as a diff) above the limit: nothing sent, the map serves the value last replicated', async () => {
    c = await limited();
    const { net, maps } = c;
    const session = new SessionValue().set('attribute', 'name', 'Ada');
    await maps.a!.set('s', session);
    await net.settled();
    const holder = maps.a!.entryInfo('s')!.backups[0]!;
    const before = net.stats().messages;
    // Changed in place, then replicated: the diff alone is too large.
    session.set('attribute', 'photo', text(LIMIT));
    expect(await rejection(maps.a!.replicate('s'))).to.be.instanceOf(ValueTooLargeError);
    // The map let go of the refused object; the value it serves, changed and replicated whole.
    const again = (await maps.a!.get('s')) as SessionValue;
    expect(again).to.not.equal(session);
    again.set('attribute', 'photo', text(LIMIT));
    expect(await rejection(maps.a!.replicate('s', true))).to.be.instanceOf(ValueTooLargeError);
    await net.settled();
    expect(net.stats().messages).to.equal(before);
    const here = (await maps.a!.get('s')) as SessionValue;
    expect(here.has('attribute', 'photo'), 'the refused change is served on the primary').to.equal(false);
    const there = (await maps[holder]!.get('s', { promote: false })) as SessionValue;
    expect(there.get('attribute', 'name')).to.equal('Ada');
    expect(there.has('attribute', 'photo')).to.equal(false);
  });

  it('refuses a diff above the limit whose whole value fits too', async () => {
    c = await limited({ limit: 3 * LIMIT });
    const { net, maps } = c;
    const session = new SessionValue().set('attribute', 'a', text(LIMIT));
    await maps.a!.set('s', session);
    await net.settled();
    const before = net.stats().messages;
    // A diff of 2 KiB fits; a diff made of two large attributes does not.
    session.set('attribute', 'b', text(2 * LIMIT));
    session.set('attribute', 'c', text(2 * LIMIT));
    const e = await rejection(maps.a!.replicate('s'));
    expect(e).to.be.instanceOf(ValueTooLargeError);
    expect((e as Error).message).to.match(/the (value|diff) of key "s"/);
    await net.settled();
    expect(net.stats().messages).to.equal(before);
  });

  it('answers a fetch of a value above a lowered limit with a typed error at once, reported by the holders', async () => {
    c = await limited({ limit: undefined });
    const { net, maps, t } = c;
    await maps.a!.set('big', text(3 * LIMIT));
    await net.settled();
    const reader = IDS.find((id) => maps[id]!.entryInfo('big')?.role === 'proxy')!;
    // The cluster's limit drops below the value (as when a member with a smaller maxFrameBytes
    // joins). The maps' deadline is ten minutes: only a typed answer ends the read in time.
    for (const id of IDS) ChannelRouter.of(t[id]!).frameLimit = () => LIMIT;
    const error = await rejection(maps[reader]!.get('big'));
    expect(error).to.be.instanceOf(RetrieveError);
    expect((error as RetrieveError).cause).to.be.instanceOf(RpcRemoteError);
    expect(((error as RetrieveError).cause as RpcRemoteError).remoteName).to.equal('ValueTooLargeError');
    expect((error as Error).message).to.include('maxFrameBytes');
    const reported = IDS.filter((id) => id !== reader).flatMap((id) => c!.errors[id]!.map((e) => e.name));
    expect(reported).to.include('ValueTooLargeError');
  });

  it('leaves an entry too large for a state page out of the state, reports it, and sends the rest in pages within the limit', async () => {
    c = await limited({ limit: undefined });
    const { net, maps, t } = c;
    const hugeKey = 'k'.repeat(LIMIT);
    await maps.a!.set(hugeKey, 1);
    for (let i = 0; i < 40; i++) await maps.a!.set(`key-${i}`, i);
    await net.settled();
    // The cluster's limit as the newcomer brings it (every member learns it when it joins).
    for (const id of IDS) ChannelRouter.of(t[id]!).frameLimit = () => LIMIT;
    // A newcomer that refuses (and reports) any frame above the limit.
    const d = net.transport('d', { maxFrameBytes: LIMIT });
    const refused = record<[Error]>(d, 'error');
    const map = new LazyReplicatedMap<string, unknown>({ name: 'm', transport: d, rpcTimeoutMs: 600_000 });
    c.maps.d = map;
    await map.start();
    await net.settled();
    expect(refused.events.map(([e]) => e)).to.deep.equal([]);
    for (let i = 0; i < 40; i++) expect(map.has(`key-${i}`), `key-${i}`).to.equal(true);
    expect(map.has(hugeKey)).to.equal(false);
    expect(c.errors.a!.map((e) => e.name)).to.include('ValueTooLargeError');
  });

  it('cuts the copies sent to a joining member into frames within the limit', async () => {
    c = await limited({ replicated: true });
    const { net, maps } = c;
    for (let i = 0; i < 30; i++) await maps.a!.set(`key-${i}`, text(1000));
    await net.settled();
    const d = net.transport('d', { maxFrameBytes: LIMIT });
    const refused = record<[Error]>(d, 'error');
    const map = new ReplicatedMap<string, unknown>({ name: 'm', transport: d, rpcTimeoutMs: 600_000 });
    c.maps.d = map as unknown as AnyMap;
    await map.start();
    await net.settled();
    expect(refused.events.map(([e]) => e)).to.deep.equal([]);
    for (let i = 0; i < 30; i++) expect(map.entryInfo(`key-${i}`)?.role, `key-${i}`).to.equal('copy');
    expect(Object.values(c.errors).flat()).to.deep.equal([]);
  });

  it('reports, on a member with maxFrameBytes, a frame above it sent by a member that did not know it', async () => {
    const net = new InMemoryNetwork();
    const a = new LazyReplicatedMap<string, unknown>({ name: 'm', transport: net.transport('a'), rpcTimeoutMs: 600_000 });
    const bt = net.transport('b', { maxFrameBytes: LIMIT });
    const b = new LazyReplicatedMap<string, unknown>({ name: 'm', transport: bt, rpcTimeoutMs: 600_000 });
    c = { net, t: {}, maps: { a, b }, errors: {} };
    await a.start();
    await b.start();
    await net.settled();
    // A sender that does not know b's limit (as before the members' hellos were exchanged).
    ChannelRouter.of(a.transport).frameLimit = () => Infinity;
    // Reported where it happened, on the receiver's transport (the maps do not repeat it).
    const errors = record<[Error]>(bt, 'error');
    void a.set('big', text(2 * LIMIT), { }).catch(() => undefined);
    await net.settled();
    expect(errors.events.map(([e]) => e)).to.have.length(1);
    expect(errors.events[0]![0]).to.be.instanceOf(FrameTooLargeError);
    expect(b.has('big')).to.equal(false);
    // The write waits for an acknowledgement that never comes (the maps' deadline is ten minutes).
    net.crash('a');
    net.crash('b');
  });

  it('rejects a session store save whose session grew above the limit, and keeps the stored session', async () => {
    c = await limited();
    const store = new BackupSessionStore({ map: c.maps.a!, route: 'a' });
    const cookie = { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString() };
    await store.set('sid', { cookie, name: 'Ada' });
    await c.net.settled();
    const before = c.net.stats().messages;
    const error = await new Promise<unknown>((resolve) => {
      store.set('sid', { cookie, name: 'Ada', photo: text(LIMIT) }, (e) => { resolve(e); });
    });
    expect(error).to.be.instanceOf(ValueTooLargeError);
    await c.net.settled();
    expect(c.net.stats().messages).to.equal(before);
    const stored = (await store.get('sid'));
    expect(stored?.name).to.equal('Ada');
    expect(stored).to.not.have.property('photo');
    const elsewhere = new BackupSessionStore({ map: c.maps.b!, route: 'b' });
    expect(((await elsewhere.get('sid')))?.photo).to.equal(undefined);
  });

  it('rejects a Keyv set above the limit', async () => {
    c = await limited();
    const store = new KeyvStore({ map: c.maps.a! });
    expect(await rejection(store.set('big', text(LIMIT)))).to.be.instanceOf(ValueTooLargeError);
    const keyv = new Keyv({ store, throwOnErrors: true });
    expect(await rejection(keyv.set('big', text(LIMIT)))).to.be.instanceOf(ValueTooLargeError);
    expect(await keyv.get('big')).to.equal(undefined);
  });
});
