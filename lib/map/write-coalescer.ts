/**
 * Group commit for writes: many `set` calls made while earlier ones are still being acknowledged
 * are published together, as one message per backup and one per proxy, instead of one each.
 *
 * @module
 */
import { atEndOfTurn } from '../transport/end-of-turn.js';

/**
 * Collects items and hands them to `flush` in groups.
 *
 * A lone item is flushed at once, so a writer with nothing else in flight pays no added latency.
 * An item that arrives while a group is in flight, or in the turn of the event loop in which one
 * finished, waits until the end of that turn and goes out with everything else that arrived in it.
 * The second rule is what makes groups large: the acknowledgement of one group releases its
 * writers together, their next writes come in the same turn, and the first of them must not leave
 * alone. An item added twice to one group is flushed once.
 */
export class WriteCoalescer<T> {
  private queued: { readonly items: Set<T>; readonly done: Promise<void> } | undefined;
  private inFlight = 0;
  /** A group finished in this turn: its writers may be about to write again. */
  private released = false;

  /**
   * @param flush publishes one group; its promise settles every `add` of that group.
   * @param defer runs a callback at the end of this turn (by default {@link atEndOfTurn}: after the
   *   I/O callbacks that may release more writers, before the event loop waits for I/O again, and
   *   before the transport's corked writes of the same turn leave, so a group leaves in its turn).
   */
  constructor(
    private readonly flush: (items: T[]) => Promise<void>,
    private readonly defer: (run: () => void) => void = (run) => {
      atEndOfTurn(run, 'gather');
    },
  ) {}

  /** True when no group is queued or in flight, nor just finished (dropping this coalescer changes nothing). */
  get idle(): boolean {
    return this.queued === undefined && this.inFlight === 0 && !this.released;
  }

  /** Queues `item`; resolves or rejects as the flush of its group does. */
  add(item: T): Promise<void> {
    if (this.idle) return this.start([item]);
    if (this.queued === undefined) {
      const items = new Set<T>();
      const done = new Promise<void>((resolve, reject) => {
        this.defer(() => {
          this.queued = undefined;
          this.start([...items]).then(resolve, reject);
        });
      });
      this.queued = { items, done };
    }
    this.queued.items.add(item);
    return this.queued.done;
  }

  private start(items: T[]): Promise<void> {
    this.inFlight++;
    let flushed: Promise<void>;
    try {
      flushed = this.flush(items);
    } catch (error) {
      flushed = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    // Registered before the writers' own continuations, so they see `released` when they resume.
    const end = (): void => {
      this.inFlight--;
      if (this.released) return;
      this.released = true;
      this.defer(() => {
        this.released = false;
      });
    };
    flushed.then(end, end);
    return flushed;
  }
}
