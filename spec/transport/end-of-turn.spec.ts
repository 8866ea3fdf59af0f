import { expect } from 'chai';
import { atEndOfTurn } from '../../lib/transport/end-of-turn.js';

/** Resolves from a macrotask once `run` has been called in it (the turn then ends). */
const inMacrotask = (run: () => void): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(() => {
      run();
      resolve();
    }, 0);
  });

/** Resolves once the event loop went round twice (everything queued for the end of a turn ran). */
const twoIterations = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

describe('atEndOfTurn', () => {
  it('runs the gathers before the writes, and a write one of them queues after an await in the same end of turn', async () => {
    const order: string[] = [];
    await inMacrotask(() => {
      atEndOfTurn(() => order.push('write 1'), 'write');
      atEndOfTurn(() => {
        order.push('gather');
        // From the end of the turn: the next iteration of the loop.
        setImmediate(() => order.push('next iteration'));
        void Promise.resolve()
          .then(() => undefined)
          .then(() => { atEndOfTurn(() => order.push('write 2'), 'write'); });
      }, 'gather');
    });
    await twoIterations();
    expect(order).to.deep.equal(['gather', 'write 1', 'write 2', 'next iteration']);
  });

  it('runs what is queued from an immediate that precedes its own in the next end of turn, not never', async () => {
    const order: string[] = [];
    await new Promise<void>((resolve) => {
      setImmediate(() => {
        atEndOfTurn(() => {
          order.push('task');
          resolve();
        }, 'write');
      });
    });
    expect(order).to.deep.equal(['task']);
  });

  it('lets the loop poll again when tasks keep queueing more, instead of running them all in one turn', async () => {
    let runs = 0;
    let stop = false;
    let runsBeforeTheImmediate = -1;
    await inMacrotask(() => {
      const again = (): void => {
        runs++;
        if (!stop) atEndOfTurn(again, 'gather');
      };
      atEndOfTurn(again, 'gather');
      atEndOfTurn(() => {
        // Queued inside the end of the turn: runs in the next iteration, once the end of this
        // one gave up.
        setImmediate(() => {
          runsBeforeTheImmediate = runs;
          stop = true;
        });
      }, 'gather');
    });
    await twoIterations();
    await twoIterations();
    expect(runsBeforeTheImmediate).to.be.within(1, 8);
    expect(stop).to.equal(true);
  });

  it('lets the writes queued go out when gathers keep queueing more, before the next turn', async () => {
    let stop = false;
    let wroteBeforeTheImmediate = false;
    let wrote = false;
    await inMacrotask(() => {
      const again = (): void => {
        if (!stop) atEndOfTurn(again, 'gather');
      };
      atEndOfTurn(again, 'gather');
      atEndOfTurn(() => {
        wrote = true;
      }, 'write');
      atEndOfTurn(() => {
        setImmediate(() => {
          wroteBeforeTheImmediate = wrote;
          stop = true;
        });
      }, 'gather');
    });
    await twoIterations();
    await twoIterations();
    expect(stop).to.equal(true);
    expect(wroteBeforeTheImmediate, 'the write waited behind gathers that never ended').to.equal(true);
  });
});
