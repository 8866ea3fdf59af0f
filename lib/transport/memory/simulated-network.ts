/**
 * A simulated cluster in one process: members, their traffic, and the faults a real network has
 * (crash, partition, delay, drop, duplicate, reorder), all deterministic under a seed.
 *
 * Delivery is round-based: every frame is delivered in a later turn of the event loop than the
 * one that sent it (never inside the sender's call stack), so `settled()` can tell exactly when
 * nothing is in flight and tests never sleep.
 *
 * @module
 */
import { FrameTooLargeError, PeerUnreachableError, TransportConfigError, TransportStoppedError } from '../../errors.js';
import { InMemoryTransport, type InMemoryFabric, type InMemoryTransportOptions } from './in-memory-transport.js';
import { IN_MEMORY_NETWORK_OPTION_RULES, type InMemoryNetworkOptions, type NetworkStats } from './in-memory-network-options.js';
import { describeValue, validateOptions, type OptionRules } from '../../options/validate.js';

/** What `configure` may change: the fault settings, not the seed or the naming of frames. */
const { seed: _seed, classify: _classify, ...CONFIGURE_RULES }: OptionRules<InMemoryNetworkOptions> = IN_MEMORY_NETWORK_OPTION_RULES;
import { SeededRandom } from './seeded-random.js';

type Pending =
  | { readonly kind: 'frame'; readonly from: string; readonly to: string; readonly frame: Uint8Array; readonly due: number }
  | { readonly kind: 'peer'; readonly from: string; readonly to: string; readonly up: boolean; readonly due: number };

const NOT_GROUPED = -1;

const turn = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

/**
 * A simulated network of {@link InMemoryTransport}s, blind to what its frames hold. The package
 * exports it as `InMemoryNetwork` (`lib/in-memory-network.ts`), which adds the naming of this
 * library's frames; this class alone counts traffic only in totals unless given `classify`. Its
 * messages say `InMemoryNetwork`, the name users construct it by.
 */
export class SimulatedNetwork {
  private readonly transports = new Map<string, InMemoryTransport>();
  private readonly running = new Set<string>();
  private readonly random: SeededRandom;
  private readonly options: Required<Omit<InMemoryNetworkOptions, 'seed' | 'classify'>>;
  /** Names frames for `stats().byType`; the network itself never reads them. */
  private readonly classify: ((frame: Uint8Array) => string | undefined) | undefined;
  private groups: Map<string, number> | undefined;
  private queue: Pending[] = [];
  private readonly lastDue = new Map<string, number>();
  private round = 0;
  private readonly crashedThisRound = new Set<string>();
  private pumpScheduled = false;
  private activity = 0;
  private readonly totals: NetworkStats = { messages: 0, bytes: 0, byType: {} };
  private readonly fabric: InMemoryFabric = {
    start: (id) => {
      this.start(id);
    },
    stop: (id) => {
      this.leave(id, false);
    },
    peersOf: (id) => this.peersOf(id),
    send: (from, to, frame) => {
      this.send(from, to, frame);
    },
  };

  /** @param options seed and fault settings; see {@link InMemoryNetworkOptions}. */
  constructor(options: InMemoryNetworkOptions = {}) {
    validateOptions('InMemoryNetwork', options, IN_MEMORY_NETWORK_OPTION_RULES);
    this.random = new SeededRandom(options.seed ?? 1);
    this.options = {
      delay: options.delay ?? { min: 0, max: 0 },
      dropRate: options.dropRate ?? 0,
      duplicateRate: options.duplicateRate ?? 0,
      reorder: options.reorder ?? false,
    };
    this.classify = options.classify;
  }

  /**
   * The endpoint of member `id`, created on first use. Ids are unique per network: asking twice
   * for one id returns the same transport.
   * @param options the member's settings (its `maxFrameBytes`), used when it is created.
   * @throws {TransportConfigError} when `options` differ from those the member was created with.
   */
  transport(id: string, options?: InMemoryTransportOptions): InMemoryTransport {
    if (typeof id !== 'string' || id.length === 0) throw new TransportConfigError(`a member id must be a non-empty string, got ${describeValue(id)}`);
    let t = this.transports.get(id);
    if (t === undefined) {
      t = new InMemoryTransport(id, this.fabric, options);
      this.transports.set(id, t);
    } else if (options?.maxFrameBytes !== undefined && options.maxFrameBytes !== t.maxFrameBytes) {
      throw new TransportConfigError(`member '${id}' already exists with maxFrameBytes ${String(t.maxFrameBytes)}: give its options on first use only`);
    }
    return t;
  }

  /** Changes fault settings from now on (frames already queued keep their fate). */
  configure(options: Omit<InMemoryNetworkOptions, 'seed' | 'classify'>): void {
    validateOptions('InMemoryNetwork.configure', options, CONFIGURE_RULES);
    if (options.delay !== undefined) this.options.delay = options.delay;
    if (options.dropRate !== undefined) this.options.dropRate = options.dropRate;
    if (options.duplicateRate !== undefined) this.options.duplicateRate = options.duplicateRate;
    if (options.reorder !== undefined) this.options.reorder = options.reorder;
  }

  /**
   * Member `id` vanishes at once: its queued traffic both ways is dropped, every other member is
   * told it disappeared, and its transport emits `close` so its maps stop serving. It may be
   * started again later, as a restarted process.
   */
  crash(id: string): void {
    this.leave(id, true);
  }

  /**
   * Cuts the network into groups. No traffic crosses between groups; frames queued across a cut
   * are dropped; each side sees the other disappear. A member named in no group is cut off from
   * every named one. A new partition replaces the previous one.
   */
  partition(...groups: string[][]): void {
    const next = new Map<string, number>();
    groups.forEach((group, index) => {
      for (const id of group) next.set(id, index);
    });
    this.regroup(next);
  }

  /** Ends any partition: traffic flows again and the sides see each other reappear. */
  heal(): void {
    this.regroup(undefined);
  }

  /**
   * Resolves once nothing is queued (frames and peer events) and a full turn of the event loop
   * produced nothing new.
   */
  async settled(): Promise<void> {
    for (;;) {
      const before = this.activity;
      await turn();
      await turn();
      if (this.queue.length === 0 && this.activity === before) return;
    }
  }

  /** Traffic delivered so far. */
  stats(): NetworkStats {
    const byType: NetworkStats['byType'] = {};
    for (const [type, s] of Object.entries(this.totals.byType)) byType[type] = { ...s };
    return { messages: this.totals.messages, bytes: this.totals.bytes, byType };
  }

  /** Ids of the members currently started. */
  members(): string[] {
    return [...this.running].sort();
  }

  private reachable(a: string, b: string): boolean {
    if (this.groups === undefined) return true;
    return (this.groups.get(a) ?? NOT_GROUPED) === (this.groups.get(b) ?? NOT_GROUPED);
  }

  private peersOf(id: string): string[] {
    if (!this.running.has(id)) return [];
    return [...this.running].filter((p) => p !== id && this.reachable(id, p)).sort();
  }

  private start(id: string): void {
    if (this.running.has(id)) return;
    this.running.add(id);
    this.activity++;
    for (const peer of this.peersOf(id)) {
      this.enqueuePeer(peer, id, true);
      this.enqueuePeer(id, peer, true);
    }
  }

  private leave(id: string, crash: boolean): void {
    if (!this.running.has(id)) return;
    const peers = this.peersOf(id);
    this.running.delete(id);
    this.activity++;
    // Frames of the round being delivered right now were already taken off the queue.
    if (crash) this.crashedThisRound.add(id);
    // A crash loses every frame in flight; a graceful stop lets what was already sent arrive.
    // Peer events about the member stay: one telling a member on the other side of a partition
    // that this one went down (queued by the cut, not yet due) is the only news it will get of
    // it, since a member cut off now is not told again below.
    this.queue = this.queue.filter((p) => p.to !== id && (!crash || p.kind === 'peer' || p.from !== id));
    for (const peer of peers) this.enqueuePeer(id, peer, false);
    this.transports.get(id)?.emit('close');
  }

  private regroup(next: Map<string, number> | undefined): void {
    const before = new Map<string, boolean>();
    const ids = [...this.running].sort();
    for (const a of ids) for (const b of ids) if (a < b) before.set(`${a}\0${b}`, this.reachable(a, b));
    this.groups = next;
    this.activity++;
    for (const a of ids) {
      for (const b of ids) {
        if (a >= b) continue;
        const was = before.get(`${a}\0${b}`);
        const now = this.reachable(a, b);
        if (was === now) continue;
        if (!now) this.queue = this.queue.filter((p) => !((p.from === a && p.to === b) || (p.from === b && p.to === a)));
        this.enqueuePeer(a, b, now);
        this.enqueuePeer(b, a, now);
      }
    }
  }

  private send(from: string, to: string, frame: Uint8Array): void {
    if (!this.running.has(from)) {
      throw new TransportStoppedError(`member '${from}' is not started: call transport.start() first`);
    }
    if (from === to || !this.running.has(to) || !this.reachable(from, to)) throw new PeerUnreachableError(to);
    if (this.random.chance(this.options.dropRate)) return;
    // The receiver gets its own copy, as it would over a wire: the sender may reuse its buffer.
    const copy = Uint8Array.prototype.slice.call(frame);
    this.enqueueFrame(from, to, copy);
    if (this.random.chance(this.options.duplicateRate)) this.enqueueFrame(from, to, copy);
  }

  private dueFor(from: string, to: string, ordered: boolean): number {
    const { min, max } = this.options.delay;
    let due = this.round + 1 + (max > 0 ? this.random.int(min, max) : 0);
    if (ordered) {
      const pair = `${from}\0${to}`;
      due = Math.max(due, this.lastDue.get(pair) ?? 0);
      this.lastDue.set(pair, due);
    }
    return due;
  }

  private enqueueFrame(from: string, to: string, frame: Uint8Array): void {
    this.queue.push({ kind: 'frame', from, to, frame, due: this.dueFor(from, to, !this.options.reorder) });
    this.scheduled();
  }

  /** Tells `to` that `from` went up or down. Peer events keep their place in the pair's order. */
  private enqueuePeer(from: string, to: string, up: boolean): void {
    this.queue.push({ kind: 'peer', from, to, up, due: this.dueFor(from, to, true) });
    this.scheduled();
  }

  private scheduled(): void {
    this.activity++;
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pump();
    });
  }

  private pump(): void {
    this.pumpScheduled = false;
    this.round++;
    let due = this.queue.filter((p) => p.due <= this.round);
    if (due.length === 0) {
      if (this.queue.length > 0) this.scheduled();
      return;
    }
    this.queue = this.queue.filter((p) => p.due > this.round);
    this.crashedThisRound.clear();
    if (this.options.reorder) due = this.shuffleFrames(due);
    for (const item of due) {
      // A member that crashed earlier in this round sends and receives nothing more.
      if (item.kind === 'frame' && (this.crashedThisRound.has(item.from) || this.crashedThisRound.has(item.to))) continue;
      this.deliver(item);
    }
    this.crashedThisRound.clear();
    if (this.queue.length > 0) this.scheduled();
  }

  /** Shuffles frames among themselves; peer events keep their slots so a member's view of who is up stays causal. */
  private shuffleFrames(items: Pending[]): Pending[] {
    const frames: Pending[] = items.filter((p) => p.kind === 'frame');
    for (let i = frames.length - 1; i > 0; i--) {
      const j = this.random.int(0, i);
      [frames[i], frames[j]] = [frames[j] as Pending, frames[i] as Pending];
    }
    let next = 0;
    return items.map((p) => (p.kind === 'frame' ? (frames[next++] as Pending) : p));
  }

  private deliver(item: Pending): void {
    const receiver = this.transports.get(item.to);
    if (receiver === undefined || !this.running.has(item.to)) return;
    this.activity++;
    if (item.kind === 'peer') {
      // Delivered as queued, even if already outdated (down then up after a quick restart): a
      // real network shows the same sequence, and listeners must cope with it.
      receiver.emit(item.up ? 'peerUp' : 'peerDown', item.from);
      return;
    }
    if (!this.reachable(item.from, item.to)) return;
    const limit = receiver.maxFrameBytes;
    if (limit !== undefined && item.frame.byteLength > limit) {
      // Refused by the receiver, as a TCP member refuses it: reported there, never delivered.
      const error = new FrameTooLargeError(`member '${item.from}' sent a ${item.frame.byteLength}-byte frame to '${item.to}', which accepts at most ${limit} bytes (option maxFrameBytes): dropped`);
      // Reported on the transport, as a TCP member reports it; never silently.
      if (receiver.listenerCount('error') > 0) receiver.emit('error', error);
      else process.emitWarning(error);
      return;
    }
    this.totals.messages++;
    this.totals.bytes += item.frame.byteLength;
    const type = this.classify?.(item.frame);
    if (type !== undefined) {
      const s = (this.totals.byType[type] ??= { messages: 0, bytes: 0 });
      s.messages++;
      s.bytes += item.frame.byteLength;
    }
    receiver.emit('message', item.from, item.frame);
  }
}
