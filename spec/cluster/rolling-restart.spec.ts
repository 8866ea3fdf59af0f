/**
 * A rolling restart of three member processes over TCP, under load, paced by the readiness probe
 * (`map.whenReady()`, what `readinessProbe` answers 200 for) the two ways Kubernetes paces one:
 * - `maxSurge: 1, maxUnavailable: 0` (a Deployment's default): a replacement starts, and the
 *   moment its probe passes the next old member gets SIGTERM;
 * - `maxSurge: 0, maxUnavailable: 1` (a StatefulSet, or one process per port behind nginx): an old
 *   member gets SIGTERM, its replacement starts, and the moment that one's probe passes the next
 *   old member gets SIGTERM. The last old member may then have no staying peer at all.
 * Nobody waits for a stopping member to finish. Writes go on through every member not yet told
 * to stop. No acknowledged write may be lost.
 *
 * With LRM_MEASURE=1 it prints what it measured (writes acknowledged, entries lost, stop durations).
 */
import { expect } from 'chai';
import { keyOf, threeMembers, valueOf } from './cluster-scenarios.js';
import { killAll, MemberProcess } from './member-harness.js';

/** Writes new keys without pause, a few in flight at a time, through whichever members serve. */
class Load {
  /** Members writes go to (round-robin); a member leaves the list when it is told to stop. */
  serving: MemberProcess[] = [];
  /** Numbers of the writes acknowledged. */
  readonly acked: number[] = [];
  /** Writes refused (sent to a member that was stopping): not acknowledged, so not counted. */
  refused = 0;
  private next = 0;
  private inflight = 0;
  private running = false;
  private idle: (() => void) | undefined;

  start(parallel: number): void {
    this.running = true;
    for (let i = 0; i < parallel; i++) this.write();
  }

  /** Stops sending and resolves once every write sent has been answered. */
  stop(): Promise<void> {
    this.running = false;
    return this.inflight === 0
      ? Promise.resolve()
      : new Promise((resolve) => {
          this.idle = resolve;
        });
  }

  private write(): void {
    const to = this.serving[this.next % Math.max(1, this.serving.length)];
    if (!this.running || to === undefined) return;
    const n = this.next++;
    this.inflight++;
    to.request({ cmd: 'set', key: keyOf(n), value: valueOf(n) }).then(
      () => {
        this.acked.push(n);
        this.done();
      },
      () => {
        this.refused++;
        this.done();
      },
    );
  }

  private done(): void {
    this.inflight--;
    if (this.running) this.write();
    else if (this.inflight === 0) this.idle?.();
  }
}

describe('a rolling restart of three member processes under load', function () {
  // Six processes that load TypeScript start one after another; the restart itself takes seconds.
  this.timeout(60_000);

  afterEach(async () => {
    await killAll();
  });

  for (const pacing of ['surge', 'unavailable'] as const) {
    it(`loses no acknowledged write when each old member gets SIGTERM as soon as a replacement is ready (max${pacing === 'surge' ? 'Surge' : 'Unavailable'}: 1)`, async () => {
      const olds = await threeMembers();
      const load = new Load();
      load.serving = [...olds];
      load.start(8);
      const replacements: MemberProcess[] = [];
      const exits: Array<Promise<{ code: number | null; signal: NodeJS.Signals | null }>> = [];
      const ackedAtSigterm: number[] = [];
      const sigterm = (i: number): void => {
        load.serving = [...olds.slice(i + 1), ...replacements];
        ackedAtSigterm.push(load.acked.length);
        exits.push((olds[i] as MemberProcess).terminate());
      };
      for (const [i, old] of olds.entries()) {
        if (pacing === 'unavailable') sigterm(i);
        // Seeded like a headless Service lists pods: every pod still there, the stopping ones too.
        const seeds = [...olds.slice(i), ...replacements].map((m) => m.address);
        // Resolves once its probe passes.
        replacements.push(await MemberProcess.start({ id: `${old.id}2`, seeds }));
        if (pacing === 'surge') sigterm(i);
      }
      const codes = await Promise.all(exits);
      await load.stop();
      for (const [i, old] of olds.entries()) expect(codes[i], `${old.id}'s exit; its output:\n${old.output}`).to.deep.equal({ code: 0, signal: null });

      const keys = load.acked.map(keyOf);
      const expected = load.acked.map(valueOf);
      expect(load.acked.length, 'writes went on during the restart').to.be.above(ackedAtSigterm[0] ?? 0);
      for (const m of replacements) {
        // In slices: thousands of fetches at once would measure the machine, not the restart.
        const values: unknown[] = [];
        for (let i = 0; i < keys.length; i += 500) values.push(...((await m.request({ cmd: 'getMany', keys: keys.slice(i, i + 500), promote: false })) as unknown[]));
          const missing = load.acked.filter((_, i) => JSON.stringify(values[i]) !== JSON.stringify(expected[i]));
        expect(missing, `acknowledged writes not read back on '${m.id}' (of ${load.acked.length}); stops: ${olds.map((o) => `${o.id}: ${o.output.trim()}`).join(' | ')}`).to.deep.equal([]);
      }
      if (process.env['LRM_MEASURE'] === '1') {
        const stops = olds.map((o) => `${o.id} ${String(o.stopReport()?.ms)} ms`).join(', ');
        console.log(`rolling restart (max${pacing}: 1): ${load.acked.length} writes acknowledged (${load.refused} refused by stopping members), 0 lost; stops (SIGTERM to exit): ${stops}; acknowledged at each SIGTERM: ${ackedAtSigterm.join(', ')}`);
      }
    });
  }
});
