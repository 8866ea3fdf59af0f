/**
 * What `map.start()` checks once its transport is up and before it asks for the map's state:
 * that this member may join. A member that every member it reached refused, for a reason waiting
 * cannot fix (another secret, a taken id, another cluster, an incompatible protocol version),
 * must not start alone and look healthy: `start()` rejects with that refusal. Members that
 * cannot be reached are no such reason (the first member of a cluster starts alone), unless the
 * map's `mustJoin` asks for a member to be met.
 *
 * @module
 */
import { JoinTimeoutError } from '../errors.js';
import type { Membership } from '../membership/membership.js';
import type { ChannelRouter } from '../rpc/channel-router.js';

/** What the check needs to know about the map. */
export interface JoinCheck {
  readonly name: string;
  readonly id: string;
  /** How long discovery and the hellos are waited for, in milliseconds (the map's `rpcTimeoutMs`). */
  readonly discoverMs: number;
  /** Reject when no member was admitted within `joinTimeoutMs`. */
  readonly mustJoin: boolean;
  /** With `mustJoin`: how long to wait for a member, in milliseconds. */
  readonly joinTimeoutMs: number;
}

/**
 * Waits (bounded) for the transport to meet the members it can find and for their hellos, then
 * throws the reason this member cannot join, if there is one.
 * @throws {AuthenticationError | DuplicateIdError | ClusterMismatchError} when the transport's
 *   `joined()` rejects with it (every member reached refused this one).
 * @throws {IncompatibleProtocolError} when every member met speaks an incompatible protocol version.
 * @throws {JoinTimeoutError} with `mustJoin`, when no member was admitted in time.
 */
export async function checkJoin(router: ChannelRouter, members: Membership, check: JoinCheck): Promise<void> {
  // A transport that finds members in the background (TCP seeds, gossip) is given the time to
  // meet them, and every member met the time to say hello, so that the state asked for next comes
  // from everyone (bounded: a seed that never answers must not hold start() up).
  const discovering = members.discovered(check.discoverMs);
  if (discovering !== undefined) await discovering;
  const refusal = router.refusal();
  if (refusal !== undefined) throw refusal;
  if (!check.mustJoin || router.peers().length > 0) return;
  if (await router.admittedAny(check.joinTimeoutMs)) return;
  throw new JoinTimeoutError(
    `map '${check.name}' on member '${check.id}' met no other member within ${check.joinTimeoutMs} ms (option joinTimeoutMs) and must not run alone (option mustJoin): ` +
      "check the transport's seeds and settings (the 'error' events name what failed), or raise joinTimeoutMs",
    [],
  );
}
