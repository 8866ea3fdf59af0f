/**
 * Diffs a primary sends one holder in the same turn of its event loop (32 sessions saved at once)
 * leave as one `MSG_DIFFS` request, answered by one `MSG_DIFF_OUTCOMES` that says, diff by diff,
 * whether it was applied: one message and one wake-up each way for the group, not one per diff.
 * Each diff keeps its own outcome, so a refused one (its holder lacks the base) is repaired with
 * the whole value while its neighbours stand.
 *
 * Only diffs issued together are grouped: a diff with nothing else under way to its holder leaves
 * at once, and a diff is never held back until an earlier group is acknowledged (see
 * {@link WriteCoalescer}: it waits at most until the end of the current turn).
 *
 * @module
 */
import { ProtocolError, RpcRemoteError, type RpcResponse } from '../errors.js';
import { mapMessageFromWire, type DiffOutcome, type EntryDiff } from '../codec/map-messages.js';
import { MSG_DIFF, MSG_DIFF_OUTCOMES, MSG_DIFFS } from '../codec/message-types.js';
import { chunked, diffBound, diffSize, type FrameBudget } from './message-size.js';
import type { Messenger } from './messenger.js';
import { WriteCoalescer } from './write-coalescer.js';

/** Holders with a coalescer above which idle ones are dropped. */
const PRUNE_AT = 64;

/** A diff waiting for its group's answer. */
interface PendingDiff {
  readonly diff: EntryDiff;
  readonly resolve: (replies: RpcResponse[]) => void;
  readonly reject: (error: unknown) => void;
}

/** Groups the diffs sent to each holder (see the module's comment). */
export class DiffGroups {
  /** One coalescer per holder diffs were sent to (idle ones pruned, see {@link PRUNE_AT}). */
  private readonly groups = new Map<string, WriteCoalescer<PendingDiff>>();

  /**
   * @param messenger sends the requests.
   * @param reportError reports a holder's malformed answer (its diffs are then taken as refused).
   */
  constructor(
    private readonly messenger: Pick<Messenger, 'request' | 'budget'>,
    private readonly reportError: (error: Error) => void,
  ) {}

  /**
   * Sends `diff` to `to`, with the other diffs issued to it in this turn. Resolves to the replies
   * as a `MSG_DIFF` request alone would: `to`'s acknowledgement, its error (this diff refused), or
   * nothing from `to` (no answer within the deadline, or its connection was lost).
   */
  send(to: string, diff: EntryDiff): Promise<RpcResponse[]> {
    let group = this.groups.get(to);
    if (group === undefined) {
      // Members come and go (a restart may take a new id): the coalescers of idle holders go.
      if (this.groups.size >= PRUNE_AT) for (const [id, g] of this.groups) if (g.idle) this.groups.delete(id);
      group = new WriteCoalescer<PendingDiff>((items) => this.flush(to, items));
      this.groups.set(to, group);
    }
    const coalescer = group;
    // Each diff settles on its own through `resolve` and `reject`, and a group's flush never
    // rejects (see flush): no promise per diff to watch the group's.
    return new Promise<RpcResponse[]>((resolve, reject) => {
      void coalescer.add({ diff, resolve, reject });
    });
  }

  /**
   * Sends a group, in as many requests as the frame limit needs, and settles each diff. Never
   * rejects: a group that fails before its diffs are sent (its frame budget threw) rejects each
   * of them with the error (a diff settled already ignores it).
   */
  private async flush(to: string, items: PendingDiff[]): Promise<void> {
    try {
      const runs = chunked(items, (p) => diffSize(p.diff), undefined, this.budgetOf());
      await Promise.all(runs.map((run) => this.sendRun(to, run)));
    } catch (error) {
      for (const p of items) p.reject(error);
    }
  }

  private budgetOf(): FrameBudget<PendingDiff> | undefined {
    const budget = this.messenger.budget(diffBound);
    return budget === undefined ? undefined : { bound: (p: PendingDiff) => budget.bound(p.diff), maxBytes: budget.maxBytes };
  }

  private async sendRun(to: string, run: PendingDiff[]): Promise<void> {
    try {
      const [only] = run;
      if (run.length === 1 && only !== undefined) {
        // A lone diff goes as it always did: MSG_DIFF, answered with MSG_ACK or an error.
        only.resolve(await this.messenger.request({ type: MSG_DIFF, ...only.diff }, [to], 'all'));
        return;
      }
      const replies = await this.messenger.request({ type: MSG_DIFFS, diffs: run.map((p) => p.diff) }, [to], 'all');
      const answer = replies.find((r) => r.from === to);
      // No answer, or the whole request refused (a holder that is leaving): the same for each diff.
      if (answer === undefined || 'error' in answer) {
        for (const p of run) p.resolve(replies);
        return;
      }
      const outcomes = this.outcomesOf(to, answer.reply, run.length);
      run.forEach((p, i) => {
        const o = outcomes[i];
        p.resolve(o === undefined ? [answer] : [{ from: to, error: new RpcRemoteError(o.message, to, o.name) }]);
      });
    } catch (error) {
      for (const p of run) p.reject(error);
    }
  }

  /** The outcome of each of `count` diffs in `to`'s answer; a malformed answer refuses them all (reported). */
  private outcomesOf(to: string, reply: unknown, count: number): readonly DiffOutcome[] {
    let why: string;
    try {
      const m = mapMessageFromWire(reply);
      if (m.type === MSG_DIFF_OUTCOMES && m.outcomes.length === count) return m.outcomes;
      why = m.type === MSG_DIFF_OUTCOMES ? `${m.outcomes.length} outcomes for ${count} diffs` : `message type ${m.type}`;
    } catch (error) {
      why = error instanceof Error ? error.message : String(error);
    }
    const error = new ProtocolError(`'${to}' answered a MSG_DIFFS of ${count} diffs with ${why}: its diffs are sent again as whole values`, to);
    this.reportError(error);
    const refused: DiffOutcome = { name: error.name, message: error.message };
    return Array.from({ length: count }, () => refused);
  }
}
