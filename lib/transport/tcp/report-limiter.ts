/**
 * Keeps a fault that repeats from flooding the log: a misconfigured seed (dead, an HTTP port, this
 * member's own address under another name) fails at every retry, for as long as it stays wrong.
 * The first report of a kind of fault from one source goes out at once; repeats within
 * {@link REPEAT_REPORT_INTERVAL_MS} are counted, and the next report after it says how many were
 * held back.
 *
 * @module
 */

/** Least time between two reports of one fault from one source, in milliseconds. */
export const REPEAT_REPORT_INTERVAL_MS = 60_000;

/** Sources remembered at most; beyond it, those not heard of for an interval are forgotten. */
const MAX_SOURCES = 1024;

/** What {@link ReportLimiter.admit} decided. */
export interface Admission {
  /** Report now. */
  readonly report: boolean;
  /** Repeats held back since the last report (when `report`). */
  readonly held: number;
}

/** Decides which repeats of a fault are reported. */
export class ReportLimiter {
  private readonly last = new Map<string, { at: number; held: number }>();
  private readonly now: () => number;
  private readonly intervalMs: number;

  /**
   * @param now the transport's clock, in milliseconds.
   * @param intervalMs least time between two reports of one key.
   */
  constructor(now: () => number, intervalMs = REPEAT_REPORT_INTERVAL_MS) {
    this.now = now;
    this.intervalMs = intervalMs;
  }

  /** Whether a fault of `key` (its kind and source) is reported now. */
  admit(key: string): Admission {
    const now = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && now - seen.at < this.intervalMs) {
      seen.held++;
      return { report: false, held: 0 };
    }
    if (this.last.size >= MAX_SOURCES) this.prune(now);
    this.last.set(key, { at: now, held: 0 });
    return { report: true, held: seen?.held ?? 0 };
  }

  /** A source that answers again starts afresh: its next fault is news. */
  forget(source: string): void {
    for (const key of [...this.last.keys()]) if (key.endsWith(`\0${source}`)) this.last.delete(key);
  }

  private prune(now: number): void {
    for (const [key, seen] of this.last) if (now - seen.at >= this.intervalMs) this.last.delete(key);
  }
}
