/**
 * The one rule every caller applies before sending: a frame must fit the smallest `maxFrameBytes`
 * of the cluster (see `ChannelRouter.frameLimit`). A frame that does not is refused here, at the
 * caller, with a {@link ValueTooLargeError}; sent anyway, every receiver would refuse it and the
 * caller would hear nothing but a timeout.
 *
 * @module
 */
import { ValueTooLargeError } from '../errors.js';

/**
 * The error for `what` needing a `bytes`-byte frame above `limit`.
 * @param what names what was refused, e.g. `the value of key 'k' (20971520 bytes encoded)`.
 * @param advice what to change besides the limit.
 */
export function valueTooLarge(what: string, bytes: number, limit: number, advice = 'send smaller values'): ValueTooLargeError {
  return new ValueTooLargeError(
    `${what} needs a frame of ${bytes} bytes, above the ${limit} bytes the cluster's transports accept (option maxFrameBytes; the smallest among the members applies): nothing was sent; ${advice}, or raise maxFrameBytes on every member`,
    bytes,
    limit,
  );
}

/**
 * @throws {ValueTooLargeError} when `bytes` exceeds `limit` (see {@link valueTooLarge}).
 */
export function assertFrameFits(what: () => string, bytes: number, limit: number, advice?: string): void {
  if (bytes > limit) throw valueTooLarge(what(), bytes, limit, advice);
}
