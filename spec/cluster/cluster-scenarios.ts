/**
 * Scenarios the multi-process specs share: a cluster of three members that see each other, a
 * batch of writes interrupted (SIGKILL, SIGTERM) while in flight, and the check that
 * acknowledged writes are readable on the survivors at once.
 *
 * @module
 */
import { expect } from 'chai';
import { MemberProcess } from './member-harness.js';

/** A value the scenarios write. */
export type Session = { n: number; by: string; data: string };

/** The value of write `n`. */
export const valueOf = (n: number): Session => ({ n, by: 'a', data: `session-${n}-`.padEnd(120, '*') });
/** The key of write `n`. */
export const keyOf = (n: number): string => `session-${n}`;

/** Starts a, then b and c seeded with the members before them; resolves once all three see each other. */
export async function threeMembers(): Promise<[MemberProcess, MemberProcess, MemberProcess]> {
  const a = await MemberProcess.start({ id: 'a' });
  const [b, c] = await Promise.all([
    MemberProcess.start({ id: 'b', seeds: [a.address] }),
    MemberProcess.start({ id: 'c', seeds: [a.address] }),
  ]);
  for (const m of [a, b, c]) {
    for (const other of [a, b, c].filter((o) => o !== m)) {
      await m.event((e) => e.event === 'memberAdded' && e.id === other.id, `memberAdded '${other.id}'`);
    }
  }
  return [a, b, c];
}

/**
 * Sends `total` sets to `writer` at once and calls `interrupt` (a SIGKILL, a SIGTERM) as soon as
 * `after` of them were acknowledged, with the rest still in flight. Resolves, once `interrupt`
 * did, with the numbers of the acknowledged writes.
 */
export async function interruptMidWrite(writer: MemberProcess, total: number, after: number, interrupt: () => Promise<unknown>): Promise<number[]> {
  const acknowledged: number[] = [];
  let enough: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => {
    enough = resolve;
  });
  for (let n = 0; n < total; n++) {
    writer.fire({ cmd: 'set', key: keyOf(n), value: valueOf(n) }, () => {
      acknowledged.push(n);
      if (acknowledged.length === after) enough();
    });
  }
  await reached;
  await interrupt();
  // Acknowledgements the member sent before it died may still have been in the pipe: they count.
  return acknowledged;
}

/**
 * Checks that acknowledged writes are readable on `members` at once, without waiting for anything
 * to settle: read-your-writes holds for every member that was live when the write started, and
 * its failover keeps it.
 */
export async function expectReadable(members: MemberProcess[], keys: string[], expected: unknown[]): Promise<void> {
  for (const m of members) {
    expect(await m.request({ cmd: 'getMany', keys, promote: false }), `acknowledged values read on '${m.id}'`).to.deep.equal(expected);
  }
}
