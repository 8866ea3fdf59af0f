import { expect } from 'chai';
import { checkHistory, checkOperations, minimize, partitionByKey } from './checker.js';
import { HistoryRecorder, type Call, type Operation } from './history.js';

/** A call made on `member` at `invoke`, completed at `complete` (null: unknown) with `answer`. */
function op(id: number, member: string, call: Call, invoke: number, complete: number | null, answer?: unknown, now = 0): Operation {
  return { id, member, caller: `${member}1`, call, invoke, complete: complete ?? Infinity, answer, status: complete === null ? 'unknown' : 'ok', now };
}

const set = (value: unknown, key = 'k'): Call => ({ op: 'set', key, value });
const get = (key = 'k'): Call => ({ op: 'get', key });
const del = (key = 'k'): Call => ({ op: 'delete', key });

describe('Linearizability checker (Wing–Gong with memoization)', () => {
  it('accepts a sequential history whose answers match the register', () => {
    expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'b', get(), 3, 4, 1), op(2, 'c', del(), 5, 6, true), op(3, 'a', get(), 7, 8, undefined), op(4, 'b', del(), 9, 10, false)])).to.equal('linearizable');
  });

  it('rejects a stale read: a get that starts after a set resolved returns the older value', () => {
    expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'a', set(2), 3, 4), op(2, 'b', get(), 5, 6, 1)])).to.equal('not linearizable');
  });

  it('accepts either value for a get concurrent with a set', () => {
    for (const answer of [1, 2]) expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'a', set(2), 3, 6), op(2, 'b', get(), 4, 5, answer)])).to.equal('linearizable');
  });

  it('rejects two concurrent deletes of one value that both answer true', () => {
    expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'b', del(), 3, 6, true), op(2, 'c', del(), 4, 5, true)])).to.equal('not linearizable');
    expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'b', del(), 3, 6, true), op(2, 'c', del(), 4, 5, false)])).to.equal('linearizable');
  });

  it('rejects a delete that answers false and then removes a value that existed', () => {
    // The set resolved before the delete began, and the value is gone afterwards.
    expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'b', del(), 3, 4, false), op(2, 'c', get(), 5, 6, undefined)])).to.equal('not linearizable');
  });

  it('rejects reads that go back: once a reader saw the new value, a later reader sees no older one', () => {
    expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'a', set(2), 3, 10), op(2, 'b', get(), 4, 5, 2), op(3, 'c', get(), 6, 7, 1)])).to.equal('not linearizable');
  });

  it('lets a call with an unknown outcome have happened or not', () => {
    // The set to 2 timed out: reads may see it or not, but not flip back once it was seen.
    expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'a', set(2), 3, null), op(2, 'b', get(), 4, 5, 1), op(3, 'b', get(), 6, 7, 2)])).to.equal('linearizable');
    expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'a', set(2), 3, null), op(2, 'b', get(), 4, 5, 1)])).to.equal('linearizable');
    expect(checkOperations([op(0, 'a', set(1), 1, 2), op(1, 'a', set(2), 3, null), op(2, 'b', get(), 4, 5, 2), op(3, 'b', get(), 6, 7, 1)])).to.equal('not linearizable');
  });

  it("keeps each member's call order: a pipelined delete then set on one member must leave the set", () => {
    // Both calls are in flight at once (real time alone would allow set, then delete).
    const ops = [op(0, 'a', set(0), 1, 2), op(1, 'a', del(), 3, 8, true), op(2, 'a', set('new'), 4, 6), op(3, 'b', get(), 9, 10, undefined)];
    expect(checkOperations(ops, undefined, { memberOrder: true })).to.equal('not linearizable');
    expect(checkOperations(ops, undefined, { memberOrder: false })).to.equal('linearizable');
  });

  it('judges expiry at each call\'s fake time: no value after its time to live, a touch keeps an idle entry alive', () => {
    const withTtl = (answer: unknown): Operation[] => [op(0, 'a', { op: 'set', key: 'k', value: 1, expiry: { ttlMs: 100 } }, 1, 2, undefined, 1000), op(1, 'b', get(), 3, 4, answer, 1100)];
    expect(checkOperations(withTtl(undefined))).to.equal('linearizable');
    expect(checkOperations(withTtl(1))).to.equal('not linearizable');
    const idle = (touchAt: number, answer: unknown): Operation[] => [
      op(0, 'a', { op: 'set', key: 'k', value: 1, expiry: { maxIdleMs: 100 } }, 1, 2, undefined, 1000),
      op(1, 'b', { op: 'touch', key: 'k' }, 3, 4, true, touchAt),
      op(2, 'c', get(), 5, 6, answer, 1150),
    ];
    expect(checkOperations(idle(1080, 1))).to.equal('linearizable');
    expect(checkOperations(idle(1040, 1))).to.equal('not linearizable');
  });

  it('models the conditional writes: of two racing setIfAbsent exactly one wins; compareAndSet and update', () => {
    const sia = (member: string, invoke: number, complete: number, answer: boolean, value: string): Operation => op(invoke, member, { op: 'setIfAbsent', key: 'k', value }, invoke, complete, answer);
    expect(checkOperations([sia('a', 1, 4, true, 'x'), sia('b', 2, 3, false, 'y'), op(5, 'c', get(), 5, 6, 'x')])).to.equal('linearizable');
    expect(checkOperations([sia('a', 1, 4, true, 'x'), sia('b', 2, 3, true, 'y')])).to.equal('not linearizable');
    const cas = (invoke: number, complete: number, expected: unknown, value: unknown, answer: boolean): Operation => op(invoke, 'a', { op: 'compareAndSet', key: 'k', expected, value }, invoke, complete, answer);
    expect(checkOperations([op(0, 'a', set(1), 0, 1), cas(2, 3, 1, 2, true), cas(4, 5, 1, 3, false), op(6, 'b', get(), 6, 7, 2)])).to.equal('linearizable');
    expect(checkOperations([op(0, 'a', set(1), 0, 1), cas(2, 3, 1, 2, true), cas(4, 5, 1, 3, true)])).to.equal('not linearizable');
    const upd = (member: string, invoke: number, complete: number, answer: number): Operation => op(invoke, member, { op: 'update', key: 'k', add: 1 }, invoke, complete, answer);
    expect(checkOperations([upd('a', 1, 4, 1), upd('b', 2, 3, 2)])).to.equal('linearizable');
    expect(checkOperations([upd('a', 1, 4, 1), upd('b', 2, 3, 1)]), 'a lost update').to.equal('not linearizable');
  });

  it('splits a history by key, with clear in every part, and checks each part apart', () => {
    const ops = [op(0, 'a', set(1, 'x'), 1, 2), op(1, 'a', set(1, 'y'), 3, 4), op(2, 'b', { op: 'clear' }, 5, 6), op(3, 'c', get('x'), 7, 8, undefined), op(4, 'c', get('y'), 9, 10, 1)];
    const parts = partitionByKey(ops);
    expect([...parts.keys()]).to.deep.equal(['x', 'y']);
    expect(parts.get('x')!.map((o) => o.id)).to.deep.equal([0, 2, 3]);
    const result = checkHistory(ops);
    expect(result.ok).to.equal(false);
    expect(result.failures.map((f) => f.key)).to.deep.equal(['y']);
  });

  it('shrinks a failing history to the calls that make it fail', () => {
    const ops = [op(0, 'a', set(1), 1, 2), op(1, 'b', get(), 3, 4, 1), op(2, 'a', set(2), 5, 6), op(3, 'c', get(), 7, 8, 2), op(4, 'b', get(), 9, 10, 1), op(5, 'c', get(), 11, 12, 1)];
    const minimal = minimize(ops);
    expect(checkOperations(minimal)).to.equal('not linearizable');
    expect(minimal.length).to.be.at.most(3);
  });

  it('copes with many concurrent calls thanks to memoization, and says when it gives up', () => {
    // 12 concurrent sets of distinct values, then reads: a plain search tries 12! orders, the
    // memoized one at most 12 × 2^11 configurations.
    const ops: Operation[] = [];
    for (let i = 0; i < 12; i++) ops.push(op(i, `m${i}`, set(i), 1 + i, 100 + i));
    ops.push(op(12, 'z', get(), 200, 201, 11));
    expect(checkOperations(ops, undefined, { budget: 100_000 })).to.equal('linearizable');
    ops.push(op(13, 'z', get(), 202, 203, 5));
    expect(checkOperations(ops, undefined, { budget: 100_000 })).to.equal('not linearizable');
    expect(checkOperations(ops, undefined, { budget: 1000 }), 'over budget').to.equal('inconclusive');
  });
});

describe('HistoryRecorder', () => {
  it('records invocation and completion on one logical clock, and a failed call as unknown', async () => {
    let now = 1000;
    const recorder = new HistoryRecorder(() => now);
    let finish: (v: unknown) => void = () => undefined;
    const first = recorder.record('a', 'a1', { op: 'get', key: 'k' }, () => new Promise((resolve) => (finish = resolve)));
    now = 1100;
    await recorder.record('b', 'b1', { op: 'delete', key: 'k' }, () => Promise.reject(new Error('gone')));
    finish('v');
    await first;
    const [get, del] = recorder.ops;
    expect([get!.invoke, get!.complete, get!.answer, get!.status, get!.now]).to.deep.equal([1, 3, 'v', 'ok', 1000]);
    expect([del!.invoke, del!.complete, del!.status, del!.now]).to.deep.equal([2, Infinity, 'unknown', 1100]);
    expect(del!.error).to.contain('gone');
  });
});
