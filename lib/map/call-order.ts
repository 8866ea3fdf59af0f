/**
 * The order of the calls made on one member: each starts in the order it was made, awaited or
 * not, and a call that changes a key waits for the answers that earlier calls of that key await
 * from other members (reads, touches, conditional writes decided elsewhere), so that they answer
 * from before it. See docs/consistency.md.
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';

/** What the call order needs of the map: where it is in its life, and the deletes made here. */
export interface CallOrderHost {
  /** True while the map runs: a call with nothing to wait for starts at once. */
  running(): boolean;
  /** True while the map stops but has not said goodbye: it still answers other members. */
  leaving(): boolean;
  /** Resolves once the map runs (starting it if needed). @throws {StoppedError} after `stop()`. */
  ready(): Promise<void>;
  /** @throws {StoppedError} once `stop()` began. */
  assertUsable(): void;
  /** The delete of `key` made here and still being acknowledged, if any. */
  removal(key: MapKey): Promise<void> | undefined;
}

/** Starts this member's calls in order and keeps the registries of answers they await. */
export class CallOrder {
  private readonly host: CallOrderHost;
  /** Calls made but not yet started (see {@link inOrder}). */
  private waiting = 0;
  /** Settles once the last call waiting for its turn has started. */
  private lastTurn: Promise<unknown> = Promise.resolve();
  /**
   * Answers awaited from other members for a `get` (the value) or a `touch` (the primary's) here,
   * by key. A write of the key made after such a call waits for them (see {@link inOrder}), so
   * the call answers from before the write.
   */
  private readonly fetches = new Map<MapKey, Set<Promise<unknown>>>();
  /**
   * Conditional writes made here and being decided elsewhere, by key. Every later call of the key
   * here (a read too) waits for them (see {@link inOrder}): it comes after them.
   */
  private readonly deciding = new Map<MapKey, Set<Promise<unknown>>>();

  /** @param host see {@link CallOrderHost}. */
  constructor(host: CallOrderHost) {
    this.host = host;
  }

  /**
   * Starts the calls made on this member in the order they were made, awaited or not, as one
   * Redis connection applies commands in the order sent. `step` is the call itself: the part of
   * it before its first `await` takes its effect (a version, a removal, a read of what is held
   * here). A running map with nobody waiting runs it at once, in the caller's turn of the event
   * loop; otherwise (before `start()` resolved, or behind such a call) it waits for its turn.
   * A call that changes `writes` (keys, or every key) also waits for the answers that earlier
   * `get`s and `touch`es of those keys await from other members, so that they answer from
   * before it. Only the start is
   * ordered: a call's acknowledgements may complete after a later call's.
   */
  inOrder<T>(step: () => Promise<T>, writes?: readonly MapKey[] | 'all', reads?: readonly MapKey[]): Promise<T> {
    if (this.host.running() && this.waiting === 0 && this.fetchesOf(writes).length === 0 && this.decidingOf(writes ?? reads).length === 0) return step();
    this.waiting++;
    // Boxed, so that the turn settles when the step has started, not when it has finished.
    const turn = this.lastTurn
      .then(() => this.host.ready())
      .then(async () => {
        // Only fetches of earlier calls can be pending: later calls wait behind this one.
        for (let f = this.earlier(writes, reads); f.length > 0; f = this.earlier(writes, reads)) await Promise.allSettled(f);
        this.host.assertUsable();
      })
      .then(
        () => {
          this.waiting--;
          return { done: step() };
        },
        (error: unknown) => {
          this.waiting--;
          throw error;
        },
      );
    // Only the order is kept here: the caller gets the error through `turn`.
    this.lastTurn = turn.catch(() => undefined);
    return turn.then((t) => t.done);
  }

  /**
   * Runs `step` for another member (a conditional write it asks this member to decide) once the
   * calls of `key` made here that are waiting for answers are done. Not queued behind this
   * member's calls of other keys: those may be waiting for the asker, and it for this answer.
   */
  async afterEarlier<T>(key: MapKey, step: () => Promise<T>): Promise<T> {
    // A member that is leaving still answers until its goodbye: it hands the keys it holds over,
    // or sends the asker on (see ConditionalWrites, Departure).
    if (!this.host.running() && !this.host.leaving()) await this.host.ready();
    // A delete made here is waited for too: until every member has it, the member this one would
    // send the asker to (the decider of a key nobody knows) may still send it back here.
    const pending = (): Array<Promise<unknown>> => {
      const removal = this.host.removal(key);
      return removal === undefined ? this.earlier([key], undefined) : [...this.earlier([key], undefined), removal];
    };
    for (let f = pending(); f.length > 0; f = pending()) await Promise.allSettled(f);
    if (!this.host.leaving()) this.host.assertUsable();
    return step();
  }

  /** What a call of `writes` (or reading `reads`) waits for: earlier fetches it writes over, earlier conditional writes of its keys. */
  private earlier(writes: readonly MapKey[] | 'all' | undefined, reads: readonly MapKey[] | undefined): Array<Promise<unknown>> {
    return [...this.fetchesOf(writes), ...this.decidingOf(writes ?? reads)];
  }

  /** The conditional writes of `keys` made here and still being decided elsewhere. */
  private decidingOf(keys: readonly MapKey[] | 'all' | undefined): Array<Promise<unknown>> {
    return pendingOf(this.deciding, keys);
  }

  /** Registers a conditional write of `key` sent elsewhere until it settles (see {@link deciding}). */
  decidingElsewhere<T>(key: MapKey, request: Promise<T>): Promise<T> {
    return whilePending(this.deciding, key, request);
  }

  /** The answers awaited for `get`s and `touch`es of `keys` (`'all'`: of any key). */
  private fetchesOf(keys: readonly MapKey[] | 'all' | undefined): Array<Promise<unknown>> {
    return pendingOf(this.fetches, keys);
  }

  /** Every answer awaited from other members now: the conditional writes decided elsewhere, then the fetches. */
  awaited(): Array<Promise<unknown>> {
    return [...pendingOf(this.deciding, 'all'), ...pendingOf(this.fetches, 'all')];
  }

  /** Registers a request about `key` made for a `get` or `touch` until it settles (see {@link inOrder}). */
  fetching<T>(key: MapKey, fetch: Promise<T>): Promise<T> {
    return whilePending(this.fetches, key, fetch);
  }
}

/** The promises registered in `registry` for `keys` (`'all'`: for any key). */
function pendingOf(registry: Map<MapKey, Set<Promise<unknown>>>, keys: readonly MapKey[] | 'all' | undefined): Array<Promise<unknown>> {
  if (keys === undefined || registry.size === 0) return [];
  if (keys === 'all') return [...registry.values()].flatMap((set) => [...set]);
  return keys.flatMap((k) => [...(registry.get(k) ?? [])]);
}

/** Keeps `work` registered under `key` in `registry` until it settles; resolves as it does. */
async function whilePending<T>(registry: Map<MapKey, Set<Promise<unknown>>>, key: MapKey, work: Promise<T>): Promise<T> {
  let set = registry.get(key);
  if (set === undefined) registry.set(key, (set = new Set()));
  set.add(work);
  try {
    return await work;
  } finally {
    set.delete(work);
    if (set.size === 0 && registry.get(key) === set) registry.delete(key);
  }
}
