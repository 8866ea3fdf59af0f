/**
 * Finding members: the seeds (an array, or a function asked on every attempt, possibly async),
 * the members learned by gossip, the lost ones retried with backoff until forgotten, and
 * `joined()` (and `mustJoin`) on top of them.
 *
 * @module
 */
import {
  AuthenticationError,
  ClusterMismatchError,
  DuplicateIdError,
  InvalidSeedError,
  JoinTimeoutError,
  LazyReplicatedMapError,
  SeedUnreachableError,
} from '../../errors.js';
import { parseAddress, type HostPort } from './address.js';
import type { Connection } from './connection.js';
import { isSelfRefusal, type LinkTable } from './links.js';
import type { ResolvedTcpOptions } from './resolve-options.js';
import type { TcpCounters } from './tcp-stats.js';

/** A place to (re)connect to: a seed, or a member learned by gossip or lost without a goodbye. */
export interface Target {
  readonly address: string;
  readonly hostPort: HostPort;
  /** Known member id at that address, if any (seeds start unknown). */
  id: string | undefined;
  /** Listed by the seeds (the last answer of a seeds function); a seed is never forgotten while listed. */
  seed: boolean;
  attempts: number;
  nextAttemptAt: number;
  /** When the member was lost; forgotten after `forgetAfterMs` (never for seeds). */
  lostAt: number | undefined;
  connecting: boolean;
  /** A failure to reach this seed was reported since it last answered (repeats are rate-limited). */
  reported: boolean;
  /** Why the last attempt failed. */
  lastError: Error | undefined;
  /** The member there refused this one for a reason waiting cannot fix (cleared when it answers). */
  refusal: Error | undefined;
}

/** What discovery needs from its transport. */
export interface DiscoveryHost {
  readonly id: string;
  readonly options: ResolvedTcpOptions;
  readonly links: LinkTable;
  readonly counters: TcpCounters;
  /** This member's advertised address. */
  readonly address: string;
  running(): boolean;
  /** Whether the transport is stopping or stopped (then `joined()` resolves). */
  ended(): boolean;
  dial(target: Target): void;
  /** Reports a fault; repeats from one `source` are rate-limited (see `ReportLimiter`). */
  report(error: Error, source?: string): void;
  /** `source` answered: its next fault is reported at once. */
  recovered(source: string): void;
}

/** Seeds, gossip and reconnection. */
export class Discovery {
  private readonly targets = new Map<string, Target>();
  private readonly gossiped = new WeakSet<Connection>();
  private joinWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private readonly host: DiscoveryHost;
  /** The last list the seeds function gave, and whether an asynchronous one is on its way. */
  private seeds: readonly string[] = [];
  private seedsPending = false;
  /** Whether the seeds function has answered (or failed) at least once since start. */
  private seedsAnswered = false;
  private readonly badSeeds = new Set<string>();

  constructor(host: DiscoveryHost) {
    this.host = host;
  }

  private get now(): number {
    return this.host.options.clock.now();
  }

  /** Forgets every target (the transport stops). */
  clear(): void {
    this.targets.clear();
    this.seeds = [];
    this.seedsAnswered = false;
  }

  /** Seeds tried so far (for a `JoinTimeoutError`). */
  seedTargets(): Target[] {
    return [...this.targets.values()].filter((t) => t.seed);
  }

  /** A connection to `target` is established. */
  reached(target: Target, id: string): void {
    target.connecting = false;
    target.attempts = 0;
    target.id = id;
    target.lostAt = undefined;
    target.reported = false;
    target.lastError = undefined;
    this.host.recovered(target.address);
    target.refusal = undefined;
  }

  /** A connection dialled to `target` ended in its handshake (`error` undefined when only redundant). */
  failed(target: Target, c: Connection, error: Error | undefined): void {
    target.connecting = false;
    target.nextAttemptAt = this.now + this.backoff(target.attempts);
    // Who answers at that address is known now (its proof passed): while it stays connected
    // another way, tick() need not dial it again only to be turned down as a duplicate.
    if (c.peer !== undefined && !(error instanceof AuthenticationError)) target.id = c.peer.id;
    if (error === undefined || !this.host.running()) return;
    target.lastError = error;
    // This member's own address under another name is no member refusing it.
    if (isPermanentRefusal(error) && !isSelfRefusal(error)) target.refusal = error;
    // A seed that cannot be reached is reported at once, then at most once a minute with the
    // number of failures held back (its handshake errors are reported, limited alike, anyway).
    if (target.seed && c.peer === undefined && !(error instanceof LazyReplicatedMapError)) {
      target.reported = true;
      this.host.report(
        new SeedUnreachableError(
          `seed '${target.address}' cannot be reached (${error.message}); check option \`seeds\` and that a member listens there. Retrying in the background (backoff up to maxReconnectDelayMs)`,
          target.address,
          { cause: error },
        ),
        target.address,
      );
    }
  }

  /** A peer's link ended: retry it unless it said goodbye. */
  lost(c: Connection): void {
    const peer = c.peer;
    if (peer === undefined || !this.host.running()) return;
    if (c.saidBye) {
      const t = this.targets.get(peer.address);
      if (t !== undefined && !t.seed) this.targets.delete(peer.address);
      return;
    }
    const t = this.remember(peer.address, peer.id);
    if (t === undefined) return;
    t.lostAt ??= this.now;
    t.nextAttemptAt = this.now;
  }

  /** A peer told whom it knows. */
  learn(c: Connection, members: Array<[string, string]>): void {
    this.gossiped.add(c);
    for (const [id, address] of members) {
      if (id === this.host.id || this.host.links.links.has(id)) continue;
      this.remember(address, id);
    }
    this.tick();
  }

  /** Tells every peer whom this member knows (on every new link). */
  broadcast(): void {
    const members: Array<[string, string]> = [[this.host.id, this.host.address]];
    for (const [id, c] of this.host.links.links) if (c.peer !== undefined) members.push([id, c.peer.address]);
    for (const c of this.host.links.links.values()) c.sendGossip(members);
  }

  /** Remembers where a member (or a seed) is; undefined for an address that is not host:port. */
  remember(address: string, id: string | undefined, seed = false): Target | undefined {
    let t = this.targets.get(address);
    if (t === undefined) {
      let hostPort: HostPort;
      try {
        hostPort = parseAddress(address, 'seeds');
      } catch (error) {
        // Gossip comes from authenticated members; a bad address there is reported like a bad seed.
        this.badSeed(address, error);
        return undefined;
      }
      // A member learned second-hand counts as lost from the start: if it never answers, forget it.
      t = { address, hostPort, id, seed, attempts: 0, nextAttemptAt: this.now, lostAt: seed ? undefined : this.now, connecting: false, reported: false, lastError: undefined, refusal: undefined };
      this.targets.set(address, t);
    }
    if (id !== undefined) t.id = id;
    // An address first learned by gossip that the seeds now list is a seed from now on.
    if (seed && !t.seed) {
      t.seed = true;
      t.lostAt = undefined;
    }
    return t;
  }

  /**
   * Seeds that the seeds function no longer lists (a member gone from DNS) stop being seeds, so
   * they are not dialled forever: one never reached is dropped at once (DNS was its only source);
   * one that was a member is treated like a member learned by gossip, retried while lost until
   * `forgetAfterMs`, and dropped at once if it said goodbye.
   */
  private dropUnlisted(listed: ReadonlySet<string>): void {
    const links = this.host.links.links;
    for (const t of [...this.targets.values()]) {
      if (!t.seed || listed.has(t.address)) continue;
      t.seed = false;
      const linked = t.id !== undefined && links.has(t.id);
      if (t.id === undefined) this.targets.delete(t.address);
      else if (!linked) t.lostAt ??= this.now;
    }
  }

  private badSeed(seed: unknown, error: unknown): void {
    const key = String(seed);
    if (this.badSeeds.has(key)) return;
    this.badSeeds.add(key);
    const why = error instanceof Error ? error.message : String(error);
    this.host.report(new InvalidSeedError(`option \`seeds\` gave an unusable entry, skipped: ${why}`, seed, { cause: error }));
  }

  /** Asks the seeds function again; an asynchronous answer is used on the tick after it arrives. */
  private refreshSeeds(): void {
    if (this.seedsPending) return;
    let result: readonly string[] | Promise<readonly string[]>;
    try {
      result = this.host.options.seeds();
    } catch (error) {
      this.seedsAnswered = true;
      this.badSeed(`threw: ${String(error)}`, error);
      return;
    }
    if (Array.isArray(result)) {
      this.seeds = result;
      this.seedsAnswered = true;
      return;
    }
    this.seedsPending = true;
    Promise.resolve(result).then(
      (list) => {
        this.seedsPending = false;
        this.seedsAnswered = true;
        if (!this.host.running()) return;
        if (Array.isArray(list)) this.seeds = list;
        else this.badSeed(list, new TypeError('the `seeds` function must return an array or a promise of one'));
        // Use the answer now, without asking again (that would loop through the microtask queue).
        this.tick(false);
      },
      (error: unknown) => {
        this.seedsPending = false;
        this.seedsAnswered = true;
        if (!this.host.running()) return;
        this.badSeed(`rejected: ${String(error)}`, error);
        this.checkJoined();
      },
    );
  }

  private backoff(attempts: number): number {
    return Math.min(this.host.options.maxReconnectDelayMs, 100 * 2 ** Math.min(attempts, 16));
  }

  /** Dials whatever is due: new seeds, lost members whose backoff passed. */
  tick(askSeeds = true): void {
    if (!this.host.running()) return;
    if (askSeeds) this.refreshSeeds();
    const now = this.now;
    for (const seed of this.seeds) {
      if (seed === this.host.address) continue;
      if (typeof seed !== 'string') this.badSeed(seed, new TypeError(`${String(seed)} is not a string`));
      else this.remember(seed, undefined, true);
    }
    this.dropUnlisted(new Set(this.seeds));
    const links = this.host.links.links;
    for (const t of [...this.targets.values()]) {
      if (t.id !== undefined && (t.id === this.host.id || links.has(t.id))) continue;
      if (!t.seed && t.lostAt !== undefined && now - t.lostAt > this.host.options.forgetAfterMs) {
        this.targets.delete(t.address);
        continue;
      }
      if (t.connecting || now < t.nextAttemptAt) continue;
      if (t.attempts > 0 || t.lostAt !== undefined) this.host.counters.reconnects++;
      t.connecting = true;
      t.attempts++;
      this.host.dial(t);
    }
    this.checkJoined();
  }

  /** See `TcpTransport.joined()`. */
  joined(): Promise<void> {
    if (this.done()) {
      const refusal = this.refusal();
      return refusal === undefined ? Promise.resolve() : Promise.reject(refusal);
    }
    return new Promise((resolve, reject) => {
      this.joinWaiters.push({ resolve, reject });
    });
  }

  /**
   * Why this member cannot join, when waiting cannot fix it: connected to nobody, and refused by
   * a member it reached (wrong secret, duplicate id, other cluster). Unreachable seeds are retried.
   */
  private refusal(): Error | undefined {
    if (!this.host.running() || this.host.links.links.size > 0) return undefined;
    for (const t of this.targets.values()) if (t.refusal !== undefined) return t.refusal;
    return undefined;
  }

  private done(): boolean {
    if (!this.host.running()) return this.host.ended();
    // An asynchronous seeds function (DNS) that has not answered yet may still name members.
    if (!this.seedsAnswered) return false;
    for (const c of this.host.links.links.values()) if (!this.gossiped.has(c)) return false;
    for (const t of this.targets.values()) {
      const linked = t.id !== undefined && (t.id === this.host.id || this.host.links.links.has(t.id));
      if (!linked && (t.attempts === 0 || t.connecting)) return false;
    }
    return true;
  }

  /** Wakes `joined()` callers when discovery has gone quiet. */
  checkJoined(): void {
    if (this.joinWaiters.length === 0 || !this.done()) return;
    const refusal = this.refusal();
    for (const waiter of this.joinWaiters.splice(0)) {
      if (refusal === undefined) waiter.resolve();
      else waiter.reject(refusal);
    }
  }

  /** The error `start()` rejects with when `mustJoin` met nobody in time. */
  joinTimeout(): JoinTimeoutError {
    const seeds = this.seedTargets();
    const tried = seeds.map((t) => `${t.address}${t.lastError === undefined ? '' : ` (${t.lastError.message})`}`);
    const last = seeds.find((t) => t.lastError !== undefined)?.lastError;
    return new JoinTimeoutError(
      `member '${this.host.id}' met no other member within ${this.host.options.joinTimeoutMs} ms (option joinTimeoutMs) and must not run alone (option mustJoin); ` +
        (tried.length === 0 ? 'it has no seeds: set option `seeds`' : `seeds tried: ${tried.join(', ')}; check \`seeds\`, \`secret\` and \`cluster\``),
      seeds.map((t) => t.address),
      last === undefined ? undefined : { cause: last },
    );
  }
}

/** A handshake refusal that waiting cannot fix (the other member's settings differ from this one's). */
function isPermanentRefusal(error: Error): boolean {
  return error instanceof AuthenticationError || error instanceof DuplicateIdError || error instanceof ClusterMismatchError;
}
