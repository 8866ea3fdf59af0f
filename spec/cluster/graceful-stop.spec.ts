/**
 * Graceful scale-down with real processes: a member holding the primaries of a batch of writes
 * gets SIGTERM while writes are in flight; stopOnSignals stops its map (every entry handed over)
 * and its transport (goodbye), and the process exits 0. Every acknowledged write is then readable
 * on the survivors at once. Waits are for the members' own reports and the process's exit.
 */
import { expect } from 'chai';
import { expectReadable, interruptMidWrite, keyOf, threeMembers, valueOf } from './cluster-scenarios.js';
import { killAll } from './member-harness.js';

describe('a member process stopped with SIGTERM', function () {
  // Forking a member that loads TypeScript takes a moment; each test stays well under this.
  this.timeout(20_000);

  afterEach(async () => {
    await killAll();
  });

  it('hands every entry over before it exits 0, so every acknowledged write is readable on the survivors at once', async () => {
    const [a, b, c] = await threeMembers();
    const marks = [b.events.length, c.events.length];
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const acknowledged = await interruptMidWrite(a, 1500, 100, async () => {
      exit = await a.terminate();
    });
    expect(exit, `a's exit; its output:\n${a.output}`).to.deep.equal({ code: 0, signal: null });
    expect(acknowledged.length).to.be.at.least(100);
    // No wait for the survivors to notice: a's stop handed everything over before it exited.
    await expectReadable([b, c], acknowledged.map(keyOf), acknowledged.map(valueOf));
    // And they saw it leave (a goodbye, not a failure timeout), with no error reported but that
    // their static seed (a) no longer answers: a listed seed is retried in case it comes back.
    await b.event((e) => e.event === 'memberDisappeared' && e.id === 'a', "memberDisappeared 'a'", marks[0]);
    await c.event((e) => e.event === 'memberDisappeared' && e.id === 'a', "memberDisappeared 'a'", marks[1]);
    for (const m of [b, c]) expect(m.events.filter((e) => e.event === 'error' && e.name !== 'SeedUnreachableError'), `errors on '${m.id}'`).to.deep.equal([]);
    expect(await b.request({ cmd: 'members' })).to.deep.equal(['b', 'c']);
  });
});
