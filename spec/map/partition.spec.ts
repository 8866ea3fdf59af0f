import { expect } from 'chai';
import { defaultValueCodec, InMemoryNetwork, LazyReplicatedMap, mapMessageFromWire, mapMessageToWire, MSG_ACK, MSG_BACKUP, MSG_PROXY, MSG_START, MSG_STATE, MSG_STOP } from '../../lib/index.js';
import { mapChannelName } from '../../lib/map/map-channel.js';
import { openLibraryChannel, type RpcChannel } from '../../lib/rpc/rpc-channel.js';
import { SeededRandom } from '../../lib/transport/memory/seeded-random.js';
import { cluster, type Cluster } from './helpers.js';
import { runSchedule, type Schedule } from './fault-schedule.js';
import { assertConverged, assertSameValues } from './invariants.js';

type Map_ = LazyReplicatedMap<string | number>;

function live(c: Cluster, ids: string[]): Map_[] {
  return ids.map((id) => c.maps[id]!);
}

describe('LazyReplicatedMap partitions', () => {
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  for (const backups of [1, 2]) {
    it(`converges after a heal with writes on both sides, the higher version of a shared key winning (backups: ${backups})`, async () => {
      const ids = ['a', 'b', 'c', 'd', 'e'];
      c = await cluster(ids, { backups });
      for (let i = 0; i < 20; i++) await c.maps[ids[i % 5]!]!.set(`before${i}`, i);
      await c.maps.a!.set('shared', 'initial');
      await c.net.settled();

      c.net.partition(['a', 'b', 'c'], ['d', 'e']);
      await c.net.settled();
      for (let i = 0; i < 10; i++) {
        await c.maps.b!.set(`left${i}`, i);
        await c.maps.e!.set(`right${i}`, i);
      }
      await c.maps.d!.set('before0', 'right side');
      await c.maps.e!.set('shared', 'right 1');
      // The left side places the shared key more often (each write on the member that is not its
      // primary is a Lamport tick; updates in place are not): its version ends higher, so it wins.
      for (let i = 1; i <= 20; i++) await c.maps[i % 2 === 0 ? 'b' : 'c']!.set('shared', `left ${i}`);
      await c.net.settled();

      c.net.heal();
      await c.net.settled();

      const keys = assertConverged(live(c, ids), ids, backups);
      expect(keys).to.have.length(20 + 1 + 10 + 10);
      const values = await assertSameValues(live(c, ids), ids);
      expect(values.get('shared')).to.equal('left 20');
      expect(values.get('before0')).to.equal('right side');
      for (let i = 0; i < 10; i++) {
        expect(values.get(`left${i}`)).to.equal(i);
        expect(values.get(`right${i}`)).to.equal(i);
      }
      for (let i = 1; i < 20; i++) expect(values.get(`before${i}`)).to.equal(i);
    });
  }

  it('lets the higher version win whichever side wrote it', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { backups: 1 });
    await c.maps.a!.set('k', 'initial');
    await c.net.settled();

    c.net.partition(['a', 'b'], ['c', 'd']);
    await c.net.settled();
    // This time the right side writes more often.
    await c.maps.a!.set('k', 'left');
    for (let i = 1; i <= 5; i++) await c.maps.d!.set('k', `right ${i}`);
    await c.net.settled();
    c.net.heal();
    await c.net.settled();

    assertConverged(live(c, ids), ids, 1);
    const values = await assertSameValues(live(c, ids), ids);
    expect(values.get('k')).to.equal('right 5');
    expect(c.maps.d!.entryInfo('k')!.primary).to.equal('d');
  });

  it('stops listing a key on the side that holds no copy of it, and lists it again with its value after the heal', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { backups: 1 });
    await c.maps.a!.set('k', { v: 1 });
    await c.net.settled();
    const backup = c.maps.a!.entryInfo('k')!.backups[0]!;
    const holders = ['a', backup];
    const others = ids.filter((id) => !holders.includes(id));

    c.net.partition(holders, others);
    await c.net.settled();

    for (const id of others) {
      expect(c.maps[id]!.has('k'), `'${id}' stops listing k`).to.equal(false);
      expect(await c.maps[id]!.get('k')).to.equal(undefined);
    }
    for (const id of holders) expect(c.maps[id]!.has('k')).to.equal(true);
    assertConverged(live(c, holders), holders, 1);
    assertConverged(live(c, others), others, 1);

    c.net.heal();
    await c.net.settled();
    assertConverged(live(c, ids), ids, 1);
    for (const id of ids) expect(await c.maps[id]!.get('k', { promote: false }), `k on '${id}'`).to.deep.equal({ v: 1 });
  });

  for (const side of ['the primary', 'the other'] as const) {
    it(`keeps a key deleted on ${side} side of a partition deleted after the heal when the delete is newer`, async () => {
      const ids = ['a', 'b', 'c', 'd'];
      c = await cluster(ids, { backups: 2 });
      await c.maps.a!.set('k', 'v');
      await c.maps.a!.set('kept', 'v');
      await c.net.settled();
      const [b1, b2] = c.maps.a!.entryInfo('k')!.backups as [string, string];
      // Each side holds a copy of k: the primary with one backup, the other backup with the rest.
      const left = ['a', b1];
      const right = ids.filter((id) => !left.includes(id));
      expect(right).to.include(b2);

      c.net.partition(left, right);
      await c.net.settled();
      expect(c.maps[right[0]!]!.has('k'), 'the other side still lists k').to.equal(true);
      const deleter = side === 'the primary' ? c.maps.a! : c.maps[b2]!;
      expect(await deleter.delete('k')).to.equal(true);
      await c.net.settled();

      c.net.heal();
      await c.net.settled();

      for (const id of ids) {
        expect(c.maps[id]!.has('k'), `k on '${id}'`).to.equal(false);
        expect(await c.maps[id]!.get('k', { promote: false })).to.equal(undefined);
      }
      const keys = assertConverged(live(c, ids), ids, 2);
      expect(keys).to.deep.equal(['kept']);
    });
  }

  it('keeps a write made during a partition when it is newer than a delete on the other side', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    c = await cluster(ids, { backups: 2 });
    await c.maps.a!.set('k', 'v');
    await c.net.settled();
    const [b1, b2] = c.maps.a!.entryInfo('k')!.backups as [string, string];
    const left = ['a', b1];
    const right = ids.filter((id) => !left.includes(id));

    c.net.partition(left, right);
    await c.net.settled();
    await c.maps[b2]!.delete('k');
    // Each write moves the key between the two members of the left side, so each takes a Lamport
    // tick and the last one outranks the delete (updates in place on one primary would not).
    for (let i = 1; i <= 5; i++) await c.maps[i % 2 === 0 ? 'a' : b1]!.set('k', `w${i}`);
    await c.net.settled();
    c.net.heal();
    await c.net.settled();

    assertConverged(live(c, ids), ids, 2);
    const values = await assertSameValues(live(c, ids), ids);
    expect(values.get('k')).to.equal('w5');
  });

  it('agrees on a key whose newest write dies with its holders while the heal is under way', async () => {
    // The newest write of k lives only on b and its backup d (their side of the partition). At the
    // heal, b's state reaches a or c first; b and d crash at that moment, so the other one never
    // hears of the write from b. Random delays (seeded) vary who hears first. On seeds 29, 66,
    // 80, 94, 108, 117, 169 and 234 the backup a hears of it first-hand, from b's announcement
    // (b answers c's older claim by telling every member), and b dies before that reaches c: a
    // must tell c it gave its copy up, or c keeps naming a as its backup (found 2026-12-05).
    const firstTold = new Set<string>();
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 29, 66, 80, 94, 108, 117, 169, 234]) {
      const ids = ['a', 'b', 'c', 'd'];
      c = await cluster(ids, { backups: 1, seed, netOptions: { delay: { min: 0, max: 3 } } });
      await c.maps.c!.set('k', 'old');
      await c.net.settled();
      expect(c.maps.c!.entryInfo('k')!.backups).to.deep.equal(['a']);
      c.net.partition(['a', 'c'], ['b', 'd']);
      await c.net.settled();
      await c.maps.b!.set('k', 'new');
      await c.net.settled();
      expect(c.maps.b!.entryInfo('k')!.backups).to.deep.equal(['d']);

      for (const id of ['a', 'c']) {
        c.maps[id]!.on('entrySet', () => {
          if (c!.maps[id]!.entryInfo('k')?.primary !== 'b' || c!.maps.b!.state !== 'running') return;
          firstTold.add(id);
          c!.net.crash('b');
          c!.net.crash('d');
        });
      }
      c.net.heal();
      await c.net.settled();

      expect(c.maps.b!.state, `seed ${seed}: b crashed`).to.equal('stopped');
      const survivors = ['a', 'c'];
      assertConverged(live(c, survivors), survivors, 1);
      await assertSameValues(live(c, survivors), survivors);
      await c.stopAll();
      c = undefined;
    }
    expect([...firstTold].sort(), 'both the old primary and its backup were, in some run, the first told').to.deep.equal(['a', 'c']);
  });

  it('agrees on a key whose delete dies with its author while the heal is under way', async () => {
    // k lives on c and a; b deletes it while cut off from them (b and d remember the delete).
    // At the heal, b's state reaches a or c first; b and d crash at that moment. On seed 6 the
    // delete reaches the backup a first, from its author d, as d pushes its state to a member met
    // again: a passes it on to the primary c, or c would keep k alone.
    const firstTold = new Set<string>();
    for (let seed = 1; seed <= 10; seed++) {
      const ids = ['a', 'b', 'c', 'd'];
      c = await cluster(ids, { backups: 1, seed, netOptions: { delay: { min: 0, max: 3 } } });
      await c.maps.c!.set('k', 'v');
      await c.maps.c!.set('kept', 'v');
      await c.net.settled();
      expect(c.maps.c!.entryInfo('k')!.backups).to.deep.equal(['a']);
      c.net.partition(['a', 'c'], ['b', 'd']);
      await c.net.settled();
      expect(await c.maps.b!.delete('k'), 'b no longer lists k, but remembers the delete').to.equal(false);
      await c.net.settled();

      for (const id of ['a', 'c']) {
        c.maps[id]!.on('entryRemoved', (key: string | number, reason: string) => {
          if (key !== 'k' || reason !== 'deleted' || c!.maps.b!.state !== 'running') return;
          firstTold.add(id);
          c!.net.crash('b');
          c!.net.crash('d');
        });
      }
      c.net.heal();
      await c.net.settled();

      expect(c.maps.b!.state, `seed ${seed}: b crashed`).to.equal('stopped');
      const survivors = ['a', 'c'];
      let keys: unknown;
      try {
        keys = assertConverged(live(c, survivors), survivors, 1);
      } catch (error) {
        throw new Error(`seed ${seed}: ${(error as Error).message}`, { cause: error });
      }
      expect(keys, `seed ${seed}`).to.deep.equal(['kept']);
      await c.stopAll();
      c = undefined;
    }
    expect([...firstTold].sort(), 'both the primary and its backup were, in some run, the first told').to.deep.equal(['a', 'c']);
  });

  it('reunites members cut off and reconnected at once while they were still introducing each other', async () => {
    // The second cut and heal land 0 to 5 event-loop turns after the first heal, that is while
    // the members' introductions (MSG_START) are on their way; both the 'peerDown' and the
    // 'peerUp' of the second cut arrive before those introductions settle.
    for (let turns = 0; turns <= 5; turns++) {
      const ids = ['a', 'b', 'c'];
      c = await cluster(ids, { backups: 1 });
      c.net.partition(['a'], ['b', 'c']);
      await c.net.settled();
      c.net.heal();
      for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      c.net.partition(['a'], ['b', 'c']);
      c.net.heal();
      await c.net.settled();

      for (const id of ids) expect(c.maps[id]!.members(), `members as '${id}' sees them (${turns} turns)`).to.deep.equal(ids);
      await c.maps.a!.set('k', turns);
      await c.net.settled();
      assertConverged(live(c, ids), ids, 1);
      expect(await c.maps.b!.get('k', { promote: false })).to.equal(turns);
      await c.stopAll();
      c = undefined;
    }
  });

  it('takes up a handover whose answer it gave up on when the link broke and healed at once', async () => {
    // a's promoting read asks c, the primary, to hand k over; the network is cut and healed at
    // once, so the request goes on the healed link while a then learns of the cut and gives the
    // call up. c, which saw a leave and come back before the request arrived, hands k over and
    // keeps a spare naming a. Unless a asks again once it meets c again, nobody is k's primary
    // (the fault schedules 50861 and 51888). Random delays (seeded) decide whether it happens.
    let raced = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const ids = ['a', 'b', 'c'];
      c = await cluster(ids, { backups: 0, seed, netOptions: { reorder: true, delay: { min: 0, max: 3 } } });
      await c.maps.c!.set('k', 'v');
      await c.net.settled();
      const read = c.maps.a!.get('k');
      c.net.partition(['a'], ['b', 'c']);
      c.net.heal();
      const answered = await read;
      const took = { up: false };
      c.maps.a!.on('promoted', () => {
        took.up = true;
      });
      await c.net.settled();
      if (answered === undefined && took.up) raced++;
      assertConverged(live(c, ids), ids, 0);
      expect((await assertSameValues(live(c, ids), ids)).get('k'), `seed ${seed}`).to.equal('v');
      await c.stopAll();
      c = undefined;
    }
    expect(raced, 'runs where a gave the call up and took k up once it met c again').to.be.greaterThan(0);
  });

  it('converges to one value and one primary when three members write the same key at once', async () => {
    const ids = ['a', 'b', 'c'];
    c = await cluster(ids, { backups: 1 });
    await c.maps.a!.set('k', 'initial');
    await c.net.settled();

    await Promise.all(ids.flatMap((id) => [1, 2, 3].map((n) => c!.maps[id]!.set('k', `${id}${n}`))));
    await c.net.settled();

    assertConverged(live(c, ids), ids, 1);
    const values = await assertSameValues(live(c, ids), ids);
    // Equal clocks: the member id breaks the tie, so c's last write wins everywhere.
    expect(values.get('k')).to.equal('c3');
  });

  it('converges when three partitioned members write the same key and the network heals', async () => {
    const ids = ['a', 'b', 'c'];
    c = await cluster(ids, { backups: 1 });
    await c.maps.a!.set('k', 'initial');
    await c.net.settled();

    const holders = [c.maps.a!.entryInfo('k')!.primary, ...c.maps.a!.entryInfo('k')!.backups];
    c.net.partition(['a'], ['b'], ['c']);
    await c.net.settled();
    const outsider = ids.find((id) => !holders.includes(id))!;
    // Each member alone writes k. The two holders (the primary, and the backup promoted by the
    // failover) update the initial write in place, however often; the third member places the key
    // anew, a Lamport tick past the initial write, which outranks every update in place of it.
    for (const id of holders) for (let i = 1; i <= 3; i++) await c.maps[id]!.set('k', `${id}${i}`);
    await c.maps[outsider]!.set('k', outsider);
    await c.net.settled();
    c.net.heal();
    await c.net.settled();

    assertConverged(live(c, ids), ids, 1);
    const values = await assertSameValues(live(c, ids), ids);
    expect(values.get('k')).to.equal(outsider);
  });

  for (const seed of [1, 2, 3]) {
    it(`converges under reordered and duplicated delivery for a mix of sets, deletes and gets (seed ${seed})`, async () => {
      const ids = ['a', 'b', 'c', 'd'];
      c = await cluster(ids, { backups: 1, seed, netOptions: { seed, reorder: true, duplicateRate: 0.2, delay: { min: 0, max: 3 } } });
      const random = new SeededRandom(seed);
      // Keys each member alone writes (their final value is known) and keys everyone writes.
      const model = new Map<string, number | undefined>();
      for (let round = 0; round < 4; round++) {
        await Promise.all(
          ids.map(async (id) => {
            const map = c!.maps[id]!;
            for (let op = 0; op < 15; op++) {
              const roll = random.next();
              const own = `${id}-${random.int(0, 4)}`;
              const shared = `s${random.int(0, 4)}`;
              const other = `${ids[random.int(0, 3)]!}-${random.int(0, 4)}`;
              const value = round * 100 + op;
              if (roll < 0.35) {
                await map.set(own, value);
                model.set(own, value);
              } else if (roll < 0.5) {
                await map.delete(own);
                model.set(own, undefined);
              } else if (roll < 0.65) {
                await map.set(shared, value);
              } else if (roll < 0.72) {
                await map.delete(shared);
              } else if (roll < 0.9) {
                await map.get(other);
              } else {
                await map.get(shared, { promote: false });
              }
            }
          }),
        );
        await c.net.settled();
        assertConverged(live(c, ids), ids, 1);
      }
      const values = await assertSameValues(live(c, ids), ids);
      for (const [key, value] of model) {
        expect(values.get(key), `value of ${key}`).to.equal(value);
        expect(c.maps.a!.has(key), `${key} listed`).to.equal(value !== undefined);
      }
    });
  }
});


describe('LazyReplicatedMap: placements from members met before', () => {
  // Member 'c' is played by hand, so that its placement of k reaches 'a' exactly when wanted: a
  // member cut off and healed (or restarted) is up again before 'a' has it as a member again, and
  // on a network that reorders, its first writes can overtake its answer to a's start. Seen in the
  // fault schedules at backups: 0 (seeds 358, 477, 928, ...): 'a' dropped the key as lost, the
  // other members kept it.
  const started: LazyReplicatedMap<string>[] = [];
  afterEach(async () => {
    for (const m of started.splice(0)) await m.stop({ discard: true }).catch(() => undefined);
  });

  interface Pair {
    net: InMemoryNetwork;
    a: LazyReplicatedMap<string>;
    c: RpcChannel;
    /** What 'c' does when 'a' introduces itself; whether it answers. */
    hooks: { onStart?: () => void; answerStart: boolean };
  }

  /** Map 'a' (backups: 0) and the hand-played member 'c', met. */
  async function metPair(): Promise<Pair> {
    const net = new InMemoryNetwork({ seed: 1 });
    const a = new LazyReplicatedMap<string>({ name: 'again', transport: net.transport('a'), backups: 0, stopWaitMs: 0 });
    started.push(a);
    await a.start();
    const hooks: Pair['hooks'] = { answerStart: true };
    const c = openLibraryChannel(net.transport('c'), mapChannelName('again'), (request) => {
      const m = mapMessageFromWire(request);
      if (m.type === MSG_START) {
        hooks.onStart?.();
        if (!hooks.answerStart) return new Promise<never>(() => undefined);
        return mapMessageToWire({ type: MSG_STATE, incarnation: 'c-1', entries: [], tombstones: [] });
      }
      return mapMessageToWire({ type: MSG_ACK });
    });
    await net.settled();
    expect(a.members()).to.deep.equal(['a', 'c']);
    return { net, a, c, hooks };
  }

  /** 'c' publishes k, of which it is the only holder. */
  function placeK(c: RpcChannel): void {
    const placement = { type: MSG_PROXY, entries: [{ key: 'k', version: [7, 'c', 1, 'c'] as [number, string, number, string], primary: 'c', backups: [] }] } as const;
    void c.call(mapMessageToWire(placement), { to: ['a'], mode: 'all', timeoutMs: 1000 }).catch(() => undefined);
  }

  it('keeps a placement its primary sends after a heal, before it is a member again', async () => {
    const { net, a, c, hooks } = await metPair();
    net.partition(['a'], ['c']);
    await net.settled();
    expect(a.members()).to.deep.equal(['a']);
    let metWhenPlaced: boolean | undefined;
    a.on('entrySet', () => {
      metWhenPlaced = a.members().includes('c');
    });
    // c places k first thing after the heal: the placement reaches a before c's answer to a's start.
    hooks.onStart = () => {
      placeK(c);
    };
    net.heal();
    await net.settled();
    expect(metWhenPlaced, 'a heard of k before it had c as a member again').to.equal(false);
    expect(a.members()).to.deep.equal(['a', 'c']);
    expect(a.entryInfo('k')).to.deep.equal({ role: 'proxy', primary: 'c', backups: [] });
  });

  it('drops that placement when its primary goes down before it is a member again', async () => {
    const { net, a, c, hooks } = await metPair();
    net.partition(['a'], ['c']);
    await net.settled();
    hooks.answerStart = false;
    hooks.onStart = () => {
      placeK(c);
    };
    net.heal();
    await net.settled();
    expect(a.members()).to.deep.equal(['a']);
    expect(a.entryInfo('k')?.primary).to.equal('c');
    net.crash('c');
    await net.settled();
    expect(a.has('k'), 'no holder of k is left').to.equal(false);
  });

  it('drops a placement that arrives after its primary said goodbye', async () => {
    const { net, a, c } = await metPair();
    await c.call(mapMessageToWire({ type: MSG_STOP }), { to: ['a'], mode: 'all', timeoutMs: 1000 });
    expect(a.members()).to.deep.equal(['a']);
    // Sent before the goodbye, delivered after it (a network that reorders); c's transport is up.
    placeK(c);
    await net.settled();
    expect(a.has('k'), 'a late placement naming a member gone for good').to.equal(false);
  });

  it('tells a member it said it holds a key once its primary leaves it none', async () => {
    // 'a' holds a copy of k under primary 'c' (a spare it kept, say, when it handed k to 'c'); 'b'
    // publishes an older placement of k and 'a' tells it of the newer one, naming itself as a
    // holder. Then c's own placement leaves 'a' a mere proxy. Unless 'a' passes that on, 'b'
    // counts on a's copy: when 'c' dies, 'b' waits for 'a' to take over, and 'a' drops the key
    // (seed 470 of the backups: 0 schedules).
    const net = new InMemoryNetwork({ seed: 1 });
    const a = new LazyReplicatedMap<string>({ name: 'told', transport: net.transport('a'), backups: 0, stopWaitMs: 0 });
    started.push(a);
    await a.start();
    type Heard = { version: unknown; primary: string; backups: readonly string[] }[];
    const heard: { b: Heard; c: Heard } = { b: [], c: [] };
    const peers: Record<string, RpcChannel> = {};
    for (const id of ['b', 'c'] as const) {
      peers[id] = openLibraryChannel(net.transport(id), mapChannelName('told'), (request) => {
        const m = mapMessageFromWire(request);
        if (m.type === MSG_START) return mapMessageToWire({ type: MSG_STATE, incarnation: `${id}-1`, entries: [], tombstones: [] });
        if (m.type === MSG_PROXY) for (const e of m.entries) heard[id].push({ version: e.version, primary: e.primary, backups: e.backups });
        return mapMessageToWire({ type: MSG_ACK });
      });
    }
    await net.settled();
    expect(a.members()).to.deep.equal(['a', 'b', 'c']);
    const send = async (from: string, message: Parameters<typeof mapMessageToWire>[0]): Promise<void> => {
      await peers[from]!.call(mapMessageToWire(message), { to: ['a'], mode: 'all', timeoutMs: 1000 });
      await net.settled();
    };
    const bytes = defaultValueCodec.encode('v');
    await send('b', { type: MSG_PROXY, entries: [{ key: 'k', version: [5, 'b', 0, 'b'], primary: 'b', backups: [] }] });
    await send('c', { type: MSG_BACKUP, entries: [{ key: 'k', version: [10, 'c', 1, 'c'], primary: 'c', backups: ['a'], bytes }] });
    expect(a.entryInfo('k')).to.deep.equal({ role: 'backup', primary: 'c', backups: ['a'] });
    await send('b', { type: MSG_PROXY, entries: [{ key: 'k', version: [5, 'b', 1, 'b'], primary: 'b', backups: [] }] });
    expect(heard.b, 'a told b of the newer placement, naming itself').to.deep.equal([{ version: [10, 'c', 1, 'c'], primary: 'c', backups: ['a'] }]);
    await send('c', { type: MSG_PROXY, entries: [{ key: 'k', version: [10, 'c', 1, 'c', 1, 'c'], primary: 'c', backups: [] }] });
    expect(a.entryInfo('k')).to.deep.equal({ role: 'proxy', primary: 'c', backups: [] });
    expect(heard.b.at(-1), 'and then that it holds no copy any more').to.deep.equal({ version: [10, 'c', 1, 'c', 1, 'c'], primary: 'c', backups: [] });
    expect(heard.c, 'c, which said so, is not told').to.deep.equal([]);
  });

  it('converges on the backups: 0 schedules that diverged for these', async () => {
    const schedule: Schedule = { backups: 0, net: { reorder: true, delay: { min: 0, max: 3 } } };
    // A first placement that overtook the heal's start, dropped.
    for (const seed of [358, 477, 928, 1058, 1147, 1170, 1222, 1352, 1462, 1895, 1935, 2316, 2440, 2819, 3049]) await runSchedule(seed, schedule);
    // A holder that said so and then held nothing.
    await runSchedule(470, schedule);
    // A handover answered after its asker gave up on it (see "takes up a handover ...").
    await runSchedule(51888, schedule);
    // A handover whose new primary died with the key before its announcement reached everyone:
    // the member that handed it over tells the others it is lost (Failover.lost).
    await runSchedule(1042314, schedule);
    // A primary that dropped its write for a newer one already lost: its own placement, still on
    // its way to a member that had lost the newer write, named it primary there (Heal.withdraw:
    // it deletes its write everywhere, at that write's version).
    await runSchedule(1081620, schedule);
  });

  it('converges on the reordered, duplicated schedule that a narrower heal notice let diverge', async () => {
    // Heal.firstHand told the old primary only when this member lost its copy and the old primary
    // held none under the new placement: seed 1070567 then ended with a member naming another
    // primary than the rest.
    await runSchedule(1070567, { backups: 1, net: { reorder: true, duplicateRate: 0.2, delay: { min: 0, max: 3 } } });
  });
});

describe('LazyReplicatedMap under mixed faults', () => {
  const schedules: Record<string, Schedule> = {
    'in-order delivery': { backups: 1, net: {} },
    'delayed delivery, backups: 2': { backups: 2, net: { delay: { min: 0, max: 4 } } },
    'reordered, duplicated and delayed delivery': { backups: 1, net: { reorder: true, duplicateRate: 0.2, delay: { min: 0, max: 3 } } },
    'reordered delivery, ReplicatedMap': { backups: 0, replicated: true, net: { reorder: true, duplicateRate: 0.1, delay: { min: 0, max: 2 } } },
  };
  for (const [name, schedule] of Object.entries(schedules)) {
    it(`converges after seeded random schedules of writes, crashes, stops, restarts, partitions and heals (${name})`, async () => {
      for (let seed = 1; seed <= 60; seed++) await runSchedule(seed, schedule);
    });
  }
  // Schedules that once broke convergence (a copy overtaken by its placement, a state snapshot
  // naming a backup that never got the copy, a stale peerDown after a restart, a newest write or
  // delete lost with its author right after a heal, a promotion half announced when its primary
  // died, a goodbye overtaking the last copies, a quick cut-and-heal during introductions), kept
  // as regressions.
  it('converges on the schedules that once diverged', async () => {
    const reordered: Schedule = { backups: 1, net: { reorder: true, duplicateRate: 0.2, delay: { min: 0, max: 3 } } };
    for (const seed of [10, 28, 79, 138, 236]) await runSchedule(seed, reordered);
    for (const seed of [258, 2441]) await runSchedule(seed, reordered);
    for (const seed of [256, 316]) await runSchedule(seed, { backups: 1, net: { reorder: true, delay: { min: 0, max: 2 } } });
    for (const seed of [3, 10, 13, 20, 29, 32, 38, 41, 50, 2621, 2720]) await runSchedule(seed, { backups: 1, net: {} });
    for (const seed of [2207, 2598]) await runSchedule(seed, { backups: 2, net: { delay: { min: 0, max: 2 } } });
  });
  // Schedules whose repairs were notifications (placements passed on, a state pushed to a member
  // met again) that the receiving channel dropped: it took every notification after the first
  // from a peer for a duplicate of it (they all carry id 0).
  it('converges on the schedules whose repairing notifications were dropped as duplicates', async () => {
    for (const seed of [2018, 2603]) await runSchedule(seed, { backups: 1, net: { reorder: true, duplicateRate: 0.2, delay: { min: 0, max: 3 } } });
    for (const seed of [2237, 2834]) await runSchedule(seed, { backups: 2, net: { delay: { min: 0, max: 4 } } });
  });
  // A handover answered after its asker gave up on it, when a partition and its heal came at once.
  it('converges on the schedules where a handover was answered after its asker gave up', async () => {
    for (const seed of [50861, 51888]) await runSchedule(seed, { backups: 1, net: { reorder: true, duplicateRate: 0.2, delay: { min: 0, max: 3 } } });
  });
  // A member primary again of a key, by a handover of the same lineage, whose placement matched
  // what it had announced before it lost the role: it told only the new backup, and the members
  // that had since heard of another primary kept it.
  it('converges on the schedule where a regained placement was taken for one announced already (seed 91817)', async () => {
    await runSchedule(91817, { backups: 1, net: {} });
  });
  // A backups: 0 schedule that diverged while the primary role could move one-sidedly (a read's
  // promotion racing an update in place that, with no backups, told nobody): kept as a regression
  // now that the role moves only by a handover.
  it('converges on the backups: 0 schedule that once diverged (seed 2321)', async () => {
    for (const seed of [2321]) await runSchedule(seed, { backups: 0, net: { reorder: true, delay: { min: 0, max: 3 } } });
  });
});
