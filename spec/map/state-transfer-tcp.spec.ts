import { expect } from 'chai';
import { LazyReplicatedMap } from '../../lib/index.js';
import type { Placement } from '../../lib/codec/map-messages.js';
import { placementSize } from '../../lib/map/message-size.js';
import { within } from '../helpers/deadline.js';
import { addressesOf, connected, member, stopAllMembers } from '../transport/tcp/tcp-helpers.js';

/** Deliberately small, so that a state of 12k keys needs several frames and the spec stays fast. */
const MAX_FRAME_BYTES = 256 * 1024;
const KEYS = 12_000;

describe('LazyReplicatedMap state transfer over TCP', () => {
  const maps: Array<LazyReplicatedMap<string>> = [];
  afterEach(async () => {
    // Transports first: a graceful map stop would hand 12k entries over in 1 MiB messages, which
    // this spec's small maxFrameBytes refuses. A closed transport halts its maps at once.
    await stopAllMembers();
    for (const m of maps.splice(0)) await m.stop({ discard: true }).catch(() => undefined);
  });

  function mapOn(transport: ReturnType<typeof member>): LazyReplicatedMap<string> {
    // Pages of a quarter of the frame limit: estimates, not exact sizes, so leave room. No
    // backups: the re-backup a lone member owes a newcomer is cut at 1 MiB, above this limit,
    // and is not what this spec is about. rpcTimeoutMs also bounds how long start() lets TCP
    // discovery settle (it waits it out in full here), and a page takes milliseconds.
    const map = new LazyReplicatedMap<string, number>({ name: 'paged', transport, backups: 0, statePageBytes: MAX_FRAME_BYTES / 4, rpcTimeoutMs: 1500 });
    maps.push(map);
    return map;
  }

  it('joins a member whose state is larger than maxFrameBytes, and knows every key when start() resolves', async function () {
    this.timeout(30_000);
    const ta = member('a', { maxFrameBytes: MAX_FRAME_BYTES });
    const tb = member('b', { maxFrameBytes: MAX_FRAME_BYTES, seeds: addressesOf(ta) });
    const tc = member('c', { maxFrameBytes: MAX_FRAME_BYTES, seeds: addressesOf(ta) });
    await connected(ta, tb, tc);
    const a = mapOn(ta);
    await a.start();
    for (let i = 0; i < KEYS; i += 1000) await Promise.all(Array.from({ length: 1000 }, (_, j) => a.set(`key-${i + j}`, i + j)));
    // What one MSG_STATE would have carried: well over the limit, which closes the connection.
    const whole = Array.from({ length: KEYS }, (_, i): Placement => ({ key: `key-${i}`, version: [i + 1, 'a', 0, 'a'], primary: 'a', backups: [] }));
    expect(whole.reduce((sum, p) => sum + placementSize(p), 0)).to.be.above(1.5 * MAX_FRAME_BYTES);
    const errors: Error[] = [];
    for (const t of [ta, tb, tc]) t.on('error', (e: Error) => errors.push(e));

    const b = mapOn(tb);
    await within(b.start(), 20_000, "b's start");
    expect(b.size, 'keys b knows when start() resolves').to.equal(KEYS);

    // A second joiner: every member that owns something pages to it.
    const c = mapOn(tc);
    await within(c.start(), 20_000, "c's start");
    expect(c.size, 'keys c knows when start() resolves').to.equal(KEYS);
    expect(await c.get('key-11999', { promote: false })).to.equal(11999);
    expect(errors, 'no frame refused, no connection lost').to.deep.equal([]);
    expect(a.stats().sent.MSG_STATE ?? 0, 'pages a sent to b and c').to.be.above(4);
    expect(ta.peers()).to.deep.equal(['b', 'c']);
    for (const m of [b, c]) expect([...m.keys()].sort(), `keys of ${m.id}`).to.deep.equal([...a.keys()].sort());
  });
});
