import { expect } from 'chai';
import { WriteCoalescer } from '../../lib/map/write-coalescer.js';

/** A coalescer whose flushes are recorded and settled by hand, and whose "end of turn" is `endTurn()`. */
function harness() {
  const flushes: { items: string[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  const deferred: (() => void)[] = [];
  const coalescer = new WriteCoalescer<string>(
    (items) =>
      new Promise<void>((resolve, reject) => {
        flushes.push({ items, resolve, reject });
      }),
    (run) => {
      deferred.push(run);
    },
  );
  const endTurn = (): void => {
    for (const run of deferred.splice(0)) run();
  };
  return { coalescer, flushes, endTurn };
}

/** Lets promise callbacks run (a settled flush's `then`s), without ending the turn. */
const microtasks = (): Promise<void> => new Promise((resolve) => { queueMicrotask(resolve); });

describe('WriteCoalescer', () => {
  it('is idle only with nothing queued, in flight, or just released (its owner may then drop it)', async () => {
    const { coalescer, flushes, endTurn } = harness();
    expect(coalescer.idle, 'new').to.equal(true);
    void coalescer.add('a');
    expect(coalescer.idle, 'a flush in flight').to.equal(false);
    void coalescer.add('b');
    flushes[0]!.resolve();
    await microtasks();
    expect(coalescer.idle, "'b' queued for the end of the turn").to.equal(false);
    endTurn();
    flushes[1]!.resolve();
    await microtasks();
    expect(coalescer.idle, 'released in this turn: writers may write again').to.equal(false);
    endTurn();
    expect(coalescer.idle, 'once the turn ended').to.equal(true);
  });

  it('flushes a lone item at once, before add() returns', () => {
    const { coalescer, flushes } = harness();
    void coalescer.add('a');
    expect(flushes.map((f) => f.items)).to.deep.equal([['a']]);
  });

  it('groups the items added while a flush is in flight into one flush at the end of the turn', async () => {
    const { coalescer, flushes, endTurn } = harness();
    const first = coalescer.add('a');
    const rest = ['b', 'c', 'd'].map((x) => coalescer.add(x));
    expect(flushes).to.have.length(1);
    expect(rest[0]).to.equal(rest[2], 'one promise for the whole group');
    endTurn();
    expect(flushes.map((f) => f.items)).to.deep.equal([['a'], ['b', 'c', 'd']]);
    flushes[0]!.resolve();
    await first;
    flushes[1]!.resolve();
    await Promise.all(rest);
  });

  it('groups the writes made in the turn a flush finished, the first one included', async () => {
    const { coalescer, flushes, endTurn } = harness();
    const first = coalescer.add('a');
    flushes[0]!.resolve();
    await first;
    // Same turn: the writers released by 'a' write again; none of them leaves alone.
    void coalescer.add('b');
    void coalescer.add('c');
    expect(flushes).to.have.length(1);
    endTurn();
    expect(flushes.map((f) => f.items)).to.deep.equal([['a'], ['b', 'c']]);
    // A later turn with nothing in flight: at once again.
    flushes[1]!.resolve();
    await microtasks();
    endTurn();
    void coalescer.add('d');
    expect(flushes.map((f) => f.items)).to.deep.equal([['a'], ['b', 'c'], ['d']]);
  });

  it('flushes an item added twice to one group once', () => {
    const { coalescer, flushes, endTurn } = harness();
    void coalescer.add('a');
    void coalescer.add('k');
    void coalescer.add('k');
    endTurn();
    expect(flushes.map((f) => f.items)).to.deep.equal([['a'], ['k']]);
  });

  it('rejects every add of a group whose flush fails, and carries on with the next group', async () => {
    const { coalescer, flushes, endTurn } = harness();
    void coalescer.add('a');
    const group = [coalescer.add('b'), coalescer.add('c')];
    endTurn();
    flushes[1]!.reject(new Error('backup gone'));
    for (const p of group) await p.then(() => expect.fail('should reject'), (e: unknown) => expect((e as Error).message).to.equal('backup gone'));
    const next = coalescer.add('d');
    endTurn();
    flushes.at(-1)!.resolve();
    await next;
    expect(flushes.at(-1)!.items).to.deep.equal(['d']);
  });

  it('turns a flush that throws into a rejection of its adds', async () => {
    const coalescer = new WriteCoalescer<string>(() => {
      throw new Error('cannot encode');
    });
    await coalescer.add('a').then(
      () => expect.fail('should reject'),
      (e: unknown) => expect((e as Error).message).to.equal('cannot encode'),
    );
  });
});
