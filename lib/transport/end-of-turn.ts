/**
 * One end of the event loop's turn, shared by everything that batches work until then: the map's
 * write groups ({@link WriteCoalescer}) and the TCP connection's corked writes.
 *
 * Each of them used to wait with a `setImmediate` of its own. An immediate queued from inside
 * another immediate runs in the next iteration of the event loop, after that iteration's poll for
 * I/O: a group flushed at the end of a turn wrote into a corked socket whose uncork then waited
 * one more iteration, so the group's frame left a poll phase late (at one write in flight, on
 * every write). Here the work of a turn's end runs in one immediate, in stages, and work queued
 * while it runs, including from the promise callbacks it started, runs before that immediate is
 * over:
 *
 * - `'gather'` tasks (a group of writes is sent) run first;
 * - `'write'` tasks (a connection uncorks) run once no gather is left and the gathers' promise
 *   callbacks are done, so the frames a group sends leave in one system call per connection, in
 *   the turn the group was sent.
 *
 * @module
 */

/** What a task does at the end of the turn: gathers what to send, or writes what was sent. */
export type TurnStage = 'gather' | 'write';

/**
 * Passes of one turn's end after which the remaining tasks wait for the next turn: work that keeps
 * queueing more (writers released by a group that settles without I/O, on a map alone) must not
 * keep the event loop from polling for I/O.
 */
const MAX_PASSES = 8;

const gathers: Array<() => void> = [];
const writes: Array<() => void> = [];
/** `'scheduled'`: an immediate will run the tasks; `'running'`: it is running them now. */
let state: 'idle' | 'scheduled' | 'running' = 'idle';
let passes = 0;

/**
 * Runs `task` at the end of this turn of the event loop: in the check phase (`setImmediate`) after
 * the I/O callbacks of this iteration, or, when the end of the turn is already under way, before
 * it is over (see the module's comment).
 */
export function atEndOfTurn(task: () => void, stage: TurnStage): void {
  (stage === 'gather' ? gathers : writes).push(task);
  if (state === 'idle') schedule();
}

function schedule(): void {
  state = 'scheduled';
  setImmediate(begin);
}

function begin(): void {
  state = 'running';
  passes = 0;
  pass();
}

/** Runs the gathers queued, or if none, the writes; then comes back once their callbacks ran. */
function pass(): void {
  const queue = gathers.length > 0 ? gathers : writes;
  if (queue.length === 0) {
    state = 'idle';
    return;
  }
  if (++passes > MAX_PASSES) {
    // Gathers that keep queueing more must not hold back the writes already queued: a socket
    // corked behind them would stay corked for as long as they go on. They leave now.
    run(writes.splice(0));
    schedule();
    return;
  }
  run(queue.splice(0));
  // The tasks' promise callbacks (a request that awaits before it writes) are part of this turn:
  // a tick queued from a microtask runs once the microtask queue is empty.
  queueMicrotask(() => {
    process.nextTick(pass);
  });
}

/** Runs `batch`; a task that throws does not stop the others. */
function run(batch: Array<() => void>): void {
  for (const task of batch) {
    try {
      task();
    } catch (error) {
      // The other tasks still run; the error is thrown as from a failed immediate.
      process.nextTick(() => {
        throw error;
      });
    }
  }
}
