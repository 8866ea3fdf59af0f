/**
 * Restarts that keep their entries through a snapshot, with real processes: SIGTERM reaches the
 * last member through stopOnSignals, its map writes the snapshot, and a new process on the same
 * path loads it. Waits are for the processes' own answers and exits.
 */
import { expect } from 'chai';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyOf, valueOf } from './cluster-scenarios.js';
import { killAll, MemberProcess } from './member-harness.js';

const SESSIONS = 300;

async function writeSessions(member: MemberProcess): Promise<void> {
  await Promise.all(Array.from({ length: SESSIONS }, (_, n) => member.request({ cmd: 'set', key: keyOf(n), value: { ...valueOf(n), at: new Date(1_700_000_000_000 + n) } })));
}

async function expectSessions(member: MemberProcess): Promise<void> {
  const keys = Array.from({ length: SESSIONS }, (_, n) => keyOf(n));
  const values = await member.request({ cmd: 'getMany', keys });
  expect(values).to.deep.equal(Array.from({ length: SESSIONS }, (_, n) => ({ ...valueOf(n), at: new Date(1_700_000_000_000 + n) })));
}

describe('a restart with a snapshot, with real processes', function () {
  // Forking a member that loads TypeScript takes a moment; each test stays well under this.
  this.timeout(30_000);
  let dir = '';

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lrm-snapshot-restart-'));
  });

  afterEach(async () => {
    await killAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('a single instance SIGTERMed and started again on the same snapshot path keeps every session', async () => {
    const snapshot = join(dir, 'sessions.snapshot');
    const first = await MemberProcess.start({ id: 'app', snapshot });
    await writeSessions(first);
    expect(await first.terminate(), `exit; its output:\n${first.output}`).to.deep.equal({ code: 0, signal: null });
    expect((await stat(snapshot)).mode & 0o777).to.equal(0o600);

    const second = await MemberProcess.start({ id: 'app', snapshot });
    await expectSessions(second);
    expect(second.events.filter((e) => e.event === 'error'), `errors; output:\n${second.output}`).to.deep.equal([]);
    const names = await readdir(dir);
    expect(names).to.have.length(1);
    expect(names[0]).to.match(/^sessions\.snapshot\.loaded-/);
  });

  it('of two members SIGTERMed one after the other, the last writes what both held, and a new process loads it', async () => {
    const snapA = join(dir, 'a.snapshot');
    const snapB = join(dir, 'b.snapshot');
    const a = await MemberProcess.start({ id: 'a', snapshot: snapA });
    const b = await MemberProcess.start({ id: 'b', seeds: [a.address], snapshot: snapB });
    await a.event((e) => e.event === 'memberAdded' && e.id === 'b', "memberAdded 'b'");
    await writeSessions(a);
    expect(await a.terminate(), `a's exit; its output:\n${a.output}`).to.deep.equal({ code: 0, signal: null });
    expect(await b.terminate(), `b's exit; its output:\n${b.output}`).to.deep.equal({ code: 0, signal: null });
    // a handed over to b and wrote nothing; b was the last member out.
    expect((await readdir(dir)).sort()).to.deep.equal(['b.snapshot']);

    const again = await MemberProcess.start({ id: 'b', snapshot: snapB });
    await expectSessions(again);
  });

  it('a process that finds a running member over TCP ignores its snapshot and sets it aside', async () => {
    const snapshot = join(dir, 'sessions.snapshot');
    const lone = await MemberProcess.start({ id: 'old', snapshot });
    await lone.request({ cmd: 'set', key: 'stale', value: 'from the snapshot' });
    expect((await lone.terminate()).code).to.equal(0);

    const running = await MemberProcess.start({ id: 'a' });
    await running.request({ cmd: 'set', key: 'live', value: 'from the cluster' });
    const joiner = await MemberProcess.start({ id: 'b', seeds: [running.address], snapshot });
    expect(await joiner.request({ cmd: 'get', key: 'live', promote: false })).to.equal('from the cluster');
    expect(await joiner.request({ cmd: 'get', key: 'stale' })).to.equal(undefined);
    const names = await readdir(dir);
    expect(names).to.have.length(1);
    expect(names[0]).to.match(/^sessions\.snapshot\.ignored-/);
  });
});
