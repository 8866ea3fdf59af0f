/**
 * The reply collection of one RPC call: who is still awaited, what arrived, and whether the call's
 * mode is satisfied. Pure bookkeeping, no I/O, so every settle rule is testable on its own.
 *
 * @module
 */
import type { RpcRemoteError, RpcResponse } from '../errors.js';
import type { RpcReplyMode } from './rpc-options.js';

/** What a pending call decided after an event. */
export type PendingOutcome = 'waiting' | 'settled';

/** Replies of one call, by mode. */
export class PendingCall {
  /** Targets still awaited. */
  readonly waiting: Set<string>;
  /** Replies and remote errors, in arrival order. */
  readonly responses: RpcResponse[] = [];
  private readonly mode: Exclude<RpcReplyMode, 'none'>;
  /** Targets that count: asked, minus those without the channel and those that disappeared. */
  private countable: number;
  private successes = 0;

  constructor(mode: Exclude<RpcReplyMode, 'none'>, targets: Iterable<string>) {
    this.mode = mode;
    this.waiting = new Set(targets);
    this.countable = this.waiting.size;
  }

  /** A reply from `from`. */
  reply(from: string, reply: unknown): PendingOutcome {
    if (!this.waiting.delete(from)) return this.outcome();
    this.responses.push({ from, reply });
    this.successes++;
    return this.outcome();
  }

  /** A remote handler's error from `from`: an answer for `all` and `majority`. */
  error(from: string, error: RpcRemoteError): PendingOutcome {
    if (!this.waiting.delete(from)) return this.outcome();
    this.responses.push({ from, error });
    return this.outcome();
  }

  /** `from` will never answer (no such channel there, unreachable, gone): stop waiting for it. */
  drop(from: string): PendingOutcome {
    if (this.waiting.delete(from)) this.countable--;
    return this.outcome();
  }

  /** Whether the mode is satisfied (or nothing is left to wait for). */
  outcome(): PendingOutcome {
    if (this.waiting.size === 0) return 'settled';
    switch (this.mode) {
      case 'first':
        return this.successes > 0 ? 'settled' : 'waiting';
      case 'majority':
        return this.responses.length >= Math.ceil(this.countable / 2) ? 'settled' : 'waiting';
      case 'all':
        return 'waiting';
    }
  }
}
