import { expect } from 'chai';
import { FrameKind, InMemoryNetwork, LazyReplicatedMap, decodeFrame, type InMemoryNetworkOptions, type Transport } from '../../lib/index.js';
import { assertConverged, assertSameValues } from './invariants.js';

type Map_ = LazyReplicatedMap<string | number>;

/** About five placements a page: a thousand keys make hundreds of pages. */
const PAGE_BYTES = 256;

/** A network whose maps send their state in small pages. */
class PagedCluster {
  readonly net: InMemoryNetwork;
  readonly maps: Record<string, Map_> = {};

  constructor(options: InMemoryNetworkOptions = {}) {
    this.net = new InMemoryNetwork({ seed: 7, ...options });
  }

  /** A map on `id`, not started. */
  map(id: string, options: { rpcTimeoutMs?: number } = {}): Map_ {
    const map = new LazyReplicatedMap<string | number, unknown>({ name: 'paged', transport: this.net.transport(id), backups: 1, statePageBytes: PAGE_BYTES, ...options });
    this.maps[id] = map;
    return map;
  }

  /** Started maps on `ids`, one after another. */
  async started(ids: string[]): Promise<Map_[]> {
    const maps = ids.map((id) => this.map(id));
    for (const m of maps) await m.start();
    await this.net.settled();
    return maps;
  }

  /** The maps of `ids`. */
  of(ids: string[]): Map_[] {
    return ids.map((id) => this.maps[id]!);
  }

  /** Messages of one type delivered so far. */
  delivered(type: string): number {
    return this.net.stats().byType[type]?.messages ?? 0;
  }

  async stopAll(): Promise<void> {
    for (const m of Object.values(this.maps)) if (m.state === 'running' || m.state === 'starting') await m.stop({ discard: true }).catch(() => undefined);
    await this.net.settled();
  }
}

/** Calls `then` when `transport` has received the `n`th frame from `from`. */
function afterFrames(transport: Transport, from: string, n: number, then: () => void): void {
  let seen = 0;
  const listener = (sender: string, frame: Uint8Array): void => {
    // The hello members exchange when they meet is no part of the map's traffic.
    if (sender === from && decodeFrame(frame).kind !== FrameKind.Hello && ++seen === n) {
      transport.off('message', listener);
      then();
    }
  };
  transport.on('message', listener);
}

async function fill(map: Map_, keys: number, prefix = 'k'): Promise<void> {
  for (let i = 0; i < keys; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, keys - i) }, (_, j) => map.set(`${prefix}${i + j}`, i + j)));
  }
}

describe('LazyReplicatedMap state transfer in pages', () => {
  let c: PagedCluster;
  beforeEach(() => {
    c = new PagedCluster();
  });
  afterEach(async () => {
    await c.stopAll();
  });

  it('learns every key and every delete of a join that takes hundreds of pages, once start() resolves', async () => {
    const [a, b] = await c.started(['a', 'b']);
    await fill(a!, 800, 'a');
    await fill(b!, 400, 'b');
    for (let i = 0; i < 100; i++) await a!.delete(`a${i}`);
    await c.net.settled();
    const pagesBefore = c.delivered('MSG_STATE_NEXT');

    const d = c.map('d');
    await d.start();

    expect(d.size, 'keys known when start() resolves').to.equal(1100);
    expect(c.delivered('MSG_STATE_NEXT') - pagesBefore, 'pages asked for').to.be.above(200);
    for (let i = 0; i < 100; i++) expect(d.has(`a${i}`), `deleted a${i}`).to.equal(false);
    await c.net.settled();
    assertConverged(c.of(['a', 'b', 'd']), ['a', 'b', 'd'], 1);
  });

  const networks: Array<[string, InMemoryNetworkOptions]> = [
    ['', {}],
    [' on a network that delays, duplicates and reorders frames', { delay: { min: 0, max: 3 }, duplicateRate: 0.2, reorder: true }],
  ];
  for (const [where, options] of networks) it(`loses no write and resurrects no delete made while the pages are in flight${where}`, async () => {
    c = new PagedCluster(options);
    const [a, b] = await c.started(['a', 'b']);
    await fill(a!, 800);
    await c.net.settled();

    const d = c.map('d');
    let joined = false;
    let writtenWhileJoining: boolean | undefined;
    const writes: Promise<unknown>[] = [];
    // Once d asked a for some pages: overwrite keys paged already and keys still to come, delete
    // some of each, and add new keys, on the owner and on the other member.
    afterFrames(c.net.transport('a'), 'd', 20, () => {
      writtenWhileJoining = !joined;
      for (const i of [0, 1, 2, 600, 798, 799]) writes.push(a!.set(`k${i}`, `new ${i}`));
      for (const i of [3, 4, 700, 797]) writes.push(a!.delete(`k${i}`));
      for (const i of [5, 750]) writes.push(b!.set(`k${i}`, `new ${i} on b`));
      for (let i = 0; i < 50; i++) writes.push(b!.set(`fresh${i}`, i));
    });
    const joining = d.start().then(() => {
      joined = true;
    });
    await c.net.settled();
    await joining;
    await Promise.all(writes);

    expect(writtenWhileJoining, 'the writes started while d paged').to.equal(true);
    expect(writes).to.have.length(62);
    // Read-your-writes: every acknowledged write reads back on the joiner without a wait.
    for (const i of [0, 1, 2, 600, 798, 799]) expect(await d.get(`k${i}`, { promote: false }), `k${i}`).to.equal(`new ${i}`);
    for (const i of [5, 750]) expect(await d.get(`k${i}`, { promote: false }), `k${i}`).to.equal(`new ${i} on b`);
    for (const i of [3, 4, 700, 797]) expect(d.has(`k${i}`), `deleted k${i}`).to.equal(false);
    expect(d.size).to.equal(800 - 4 + 50);
    await c.net.settled();
    const ids = ['a', 'b', 'd'];
    assertConverged(c.of(ids), ids, 1);
    await assertSameValues(c.of(ids), ids);
  });

  it('resolves start() when a member crashes between pages, and the joiner converges on the survivors', async () => {
    const [a, b, e] = await c.started(['a', 'b', 'e']);
    await fill(a!, 500, 'a');
    await fill(b!, 500, 'b');
    await fill(e!, 100, 'e');
    await c.net.settled();

    const d = c.map('d');
    afterFrames(c.net.transport('a'), 'd', 10, () => {
      c.net.crash('a');
    });
    await d.start();
    await c.net.settled();

    const ids = ['b', 'd', 'e'];
    // Every key of a had its backup on b or e, which now owns it: nothing is lost.
    expect(d.size).to.equal(1100);
    assertConverged(c.of(ids), ids, 1);
    await assertSameValues(c.of(ids), ids);
  });

  it('resolves start() within rpcTimeoutMs when a member stops answering pages, then gets its state anew', async () => {
    const [a] = await c.started(['a']);
    await fill(a!, 300);
    await c.net.settled();

    // a's replies to d vanish for a while, as on a stalled connection; a does not disappear.
    const ta = c.net.transport('a');
    const send = ta.send.bind(ta);
    let swallowed = 0;
    afterFrames(ta, 'd', 5, () => {
      ta.send = (to, frame) => {
        if (to !== 'd' || ++swallowed > 1) return send(to, frame);
        return Promise.resolve();
      };
    });
    const d = c.map('d', { rpcTimeoutMs: 50 });
    await d.start();

    expect(swallowed, 'a page was lost').to.be.at.least(1);
    expect(d.stats().rpcTimeouts, 'the lost page ran into its deadline').to.equal(1);
    // The background re-introduction brings the rest.
    await c.net.settled();
    expect(d.size).to.equal(300);
    assertConverged(c.of(['a', 'd']), ['a', 'd'], 1);
  });

  it('exchanges paged state both ways when a partition heals, and converges', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const [a, b, cc, d] = await c.started(ids);
    await fill(a!, 300, 'shared');
    await c.net.settled();
    c.net.partition(['a', 'b'], ['c', 'd']);
    await c.net.settled();

    await fill(b!, 300, 'left');
    await fill(cc!, 300, 'right');
    for (let i = 0; i < 100; i++) await d!.delete(`shared${i}`);
    for (let i = 100; i < 200; i++) await b!.set(`shared${i}`, 'left wins');
    await c.net.settled();
    const pagesBefore = c.delivered('MSG_STATE_NEXT');

    c.net.heal();
    await c.net.settled();

    expect(c.delivered('MSG_STATE_NEXT') - pagesBefore, 'pages asked for').to.be.above(100);
    const keys = assertConverged(c.of(ids), ids, 1);
    expect(keys).to.have.length(300 - 100 + 600);
    for (const m of c.of(ids)) {
      expect(m.has('shared0'), `deleted shared0 on ${m.id}`).to.equal(false);
      expect(await m.get('shared150', { promote: false })).to.equal('left wins');
    }
    await assertSameValues(c.of(ids), ids);
  });

  it('rejects a page budget that is not a positive integer, naming the option', () => {
    for (const statePageBytes of [0, -1, 1.5, Number.NaN]) {
      expect(() => new LazyReplicatedMap({ name: 'x', transport: c.net.transport('z'), statePageBytes })).to.throw(RangeError, /statePageBytes/);
    }
  });
});
