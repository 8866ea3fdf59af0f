/**
 * A primary's bytes rebuilt on demand: the bytes of a value as last encoded, and the diffs
 * replicated since. A `replicate()` that sends a diff needs the whole value encoded only when a
 * member asks for it (a holder without the base, a fetch, a handover, a state transfer, a
 * snapshot); a session store's steady state asks for none of them, and encoding the whole session
 * at every save was the largest single cost of its write path (docs/performance.md, "The whole
 * value, encoded only when asked").
 *
 * The bytes it rebuilds are those of the version replicated: the last bytes with the diffs
 * applied, as each backup holds them. The primary's live object is not encoded, since callers
 * may have changed it since without replicating.
 *
 * @module
 */
import type { ValueCodec } from '../codec/value-codec.js';
import { isDeltaValue } from './delta-value.js';

/** Diffs logged at most before the whole value is encoded again (bounds the work of a rebuild). */
export const MAX_LOGGED_DIFFS = 32;

/** The last bytes of a primary's value and the diffs replicated since (see the module's comment). */
export class ReplayLog {
  /** The diffs since {@link base}, oldest first. */
  private readonly diffs: Uint8Array[] = [];
  /** Their total length in bytes. */
  private diffBytes = 0;

  /**
   * @param base the bytes of the value as last encoded (the entry's bytes while it defers).
   * @param codec decodes them and the diffs, and encodes the rebuilt value.
   */
  constructor(
    readonly base: Uint8Array,
    private readonly codec: Pick<ValueCodec, 'encode' | 'decode'>,
  ) {}

  /** True while no diff was logged. */
  get empty(): boolean {
    return this.diffs.length === 0;
  }

  /**
   * Whether `diff` may join the log: it keeps at most {@link MAX_LOGGED_DIFFS} diffs, and diffs no
   * longer in total than the base, so that a rebuild costs at most a few whole encodes and the
   * log at most the value's size again.
   */
  admits(diff: Uint8Array): boolean {
    return this.diffs.length < MAX_LOGGED_DIFFS && this.diffBytes + diff.byteLength <= this.base.byteLength;
  }

  /** Logs a diff just replicated. */
  add(diff: Uint8Array): void {
    this.diffs.push(diff);
    this.diffBytes += diff.byteLength;
  }

  /**
   * The bytes of the value as replicated: the base decoded, every diff applied in order, encoded.
   * An arrow function, so the entry can hold it as its deferred encoder (Entry.deferEncoding).
   * @throws {Error} whatever the codec or the value's `applyDiff` throws.
   */
  readonly rebuild = (): Uint8Array => {
    const value = this.codec.decode(this.base);
    if (!isDeltaValue(value)) throw new TypeError('a logged value does not decode to a DeltaValue: register its class with ValueCodec.register');
    for (const diff of this.diffs) value.applyDiff(this.codec.decode(diff));
    return this.codec.encode(value);
  };
}
