/**
 * The last member of a cluster gets SIGTERM (real processes over TCP): it waits for a member to
 * hand its entries to (its replacement, starting 200 ms later, as in a rolling update that does
 * not wait), and exits 0 once the replacement holds everything; with no replacement it exits 1 and
 * says how many entries it dropped, instead of exiting 0 with nothing in the log.
 */
import { expect } from 'chai';
import { keyOf, valueOf } from './cluster-scenarios.js';
import { killAll, MemberProcess } from './member-harness.js';

/** Starts a and b (seeded with a), writes `n` entries on a, and stops b gracefully: a is left holding everything. */
async function lastMemberHolding(n: number, stopWaitMs: number): Promise<{ a: MemberProcess; keys: string[] }> {
  const a = await MemberProcess.start({ id: 'a', stopWaitMs });
  const b = await MemberProcess.start({ id: 'b', seeds: [a.address] });
  await a.event((e) => e.event === 'memberAdded' && e.id === 'b', "memberAdded 'b'");
  const keys = Array.from({ length: n }, (_, i) => keyOf(i));
  await a.request({ cmd: 'setMany', entries: keys.map((k, i) => [k, valueOf(i)]) });
  expect(await b.terminate(), `b's exit; its output:\n${b.output}`).to.deep.equal({ code: 0, signal: null });
  await a.event((e) => e.event === 'memberDisappeared' && e.id === 'b', "memberDisappeared 'b'");
  return { a, keys };
}

describe('the last member stopped with SIGTERM', function () {
  // Forking a member that loads TypeScript takes a moment; each test stays well under this.
  this.timeout(30_000);

  afterEach(async () => {
    await killAll();
  });

  it('waits for its replacement, started 200 ms later, and hands it every entry before it exits 0', async () => {
    const { a, keys } = await lastMemberHolding(300, 8000);
    const exited = a.terminate();
    // The replacement starts after the SIGTERM, as a one-at-a-time rolling update that does not
    // wait (or a process manager restarting the only instance) would start it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const a2 = await MemberProcess.start({ id: 'a2', seeds: [a.address] });
    expect(await exited, `a's exit; its output:\n${a.output}`).to.deep.equal({ code: 0, signal: null });
    expect(a.stopReport()?.error, a.output).to.equal(undefined);
    expect(await a2.request({ cmd: 'getMany', keys, promote: false }), 'every value on the replacement').to.deep.equal(keys.map((_, i) => valueOf(i)));
    expect(await a2.request({ cmd: 'members' })).to.deep.equal(['a2']);
    if (process.env['LRM_MEASURE'] === '1') console.log(`last member: stopped in ${String(a.stopReport()?.ms)} ms (SIGTERM to exit, the replacement's start included), 0 of ${keys.length} lost`);
  });

  it('with no replacement, exits 1 and says how many entries it dropped', async () => {
    const { a } = await lastMemberHolding(40, 300);
    expect(await a.terminate(), `a's exit; its output:\n${a.output}`).to.deep.equal({ code: 1, signal: null });
    const report = a.stopReport();
    expect(report?.error, a.output).to.match(/^DataLossError: .*dropped 40 entries/);
    // It waited its stopWaitMs for a member to appear, no more.
    expect(report?.ms).to.be.at.least(300).and.below(5000);
  });
});
