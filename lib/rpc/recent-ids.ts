/**
 * The last request ids served for one peer, so that a request delivered twice runs once (see
 * RpcChannel). A fixed ring beside a set: remembering an id when full forgets the oldest without
 * allocating, where a set alone needed an iterator per request to find its oldest.
 *
 * @module
 */

/** Remembers the last `capacity` ids added. */
export class RecentIds {
  private readonly ids = new Set<number>();
  private readonly ring: number[] = [];
  /** Where the next id goes in {@link ring} once it is full (the oldest id is there). */
  private next = 0;

  /** @param capacity how many ids are remembered. */
  constructor(private readonly capacity: number) {}

  /** True when `id` is remembered; remembers it otherwise (forgetting the oldest when full). */
  seen(id: number): boolean {
    if (this.ids.has(id)) return true;
    this.ids.add(id);
    if (this.ring.length < this.capacity) {
      this.ring.push(id);
    } else {
      this.ids.delete(this.ring[this.next] as number);
      this.ring[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    return false;
  }
}
