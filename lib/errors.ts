/**
 * Every error the library throws or reports. One class per failure, each with a stable `name`,
 * a message that says what happened and what to change, and the underlying `cause` when there is
 * one. Peer faults never throw into user code: they are reported through `'error'` events.
 *
 * @module
 */

/** Base class of every error thrown or reported by lazy-replicated-map. */
export class LazyReplicatedMapError extends Error {
  override name = 'LazyReplicatedMapError';
}

/** A frame or message could not be decoded: bad CBOR, wrong shape, unknown type or protocol version. */
export class CodecError extends LazyReplicatedMapError {
  override name = 'CodecError';
}

/**
 * A value could not be encoded with the codec (cbor-x): functions, symbols, cycles and unregistered
 * exotic objects are not encodable. The write that carried it was rejected and changed nothing.
 */
export class ValueEncodeError extends LazyReplicatedMapError {
  override name = 'ValueEncodeError';
}

/** A message arrived from a peer that is valid CBOR but breaks the protocol (for example, an unknown map message type). */
export class ProtocolError extends LazyReplicatedMapError {
  override name = 'ProtocolError';
  /** The member the offending frame came from. */
  readonly from: string;
  constructor(message: string, from: string, options?: ErrorOptions) {
    super(message, options);
    this.from = from;
  }
}

/** `send` was asked to deliver to a member that is not reachable (unknown, crashed, partitioned or stopped). */
export class PeerUnreachableError extends LazyReplicatedMapError {
  override name = 'PeerUnreachableError';
  /** The member that could not be reached. */
  readonly peer: string;
  constructor(peer: string, message?: string, options?: ErrorOptions) {
    super(message ?? `member '${peer}' is not reachable: it is unknown, gone or cut off by a partition`, options);
    this.peer = peer;
  }
}

/** The transport is not running: it was never started, or it was stopped or crashed. Start it first. */
export class TransportStoppedError extends LazyReplicatedMapError {
  override name = 'TransportStoppedError';
}

/** A transport was configured wrongly (for example, a duplicate member id on one network). */
export class TransportConfigError extends LazyReplicatedMapError {
  override name = 'TransportConfigError';
}

/**
 * Discovery found no member address: every DNS query failed or returned nothing. The message names
 * the query and the servers asked; `cause` holds the resolver's error. The transport retries on
 * its next attempt, so members that appear in DNS later are still found.
 */
export class DiscoveryError extends LazyReplicatedMapError {
  override name = 'DiscoveryError';
}

/**
 * A channel name under the library's reserved prefix (`lrm/`, where maps talk) was given to
 * `new RpcChannel`. Choose a name that does not start with `lrm/`.
 */
export class ReservedChannelNameError extends LazyReplicatedMapError {
  override name = 'ReservedChannelNameError';
}

/**
 * A TCP transport could not listen: the address (`host`, `port`) is taken by another process or
 * member (`EADDRINUSE`). Choose another `port`, or 0 for any free port. `cause` is the socket error.
 */
export class AddressInUseError extends TransportConfigError {
  override name = 'AddressInUseError';
  /** The `host:port` asked for. */
  readonly address: string;
  constructor(message: string, address: string, options?: ErrorOptions) {
    super(message, options);
    this.address = address;
  }
}

/** A channel or map of that name already runs on this transport. Use another name, or stop the first. */
export class ChannelInUseError extends LazyReplicatedMapError {
  override name = 'ChannelInUseError';
}

/**
 * A frame larger than a receiver's `maxFrameBytes` arrived. From an authenticated peer it is
 * dropped and the connection is kept (the sender is not made to reconnect and send it again);
 * before the handshake completed, the connection is closed.
 */
export class FrameTooLargeError extends LazyReplicatedMapError {
  override name = 'FrameTooLargeError';
}

/**
 * A call (a map write, an RPC request or reply, a state page) would need a frame larger than the
 * transports of the cluster accept (`maxFrameBytes`; the smallest among the members applies). It
 * was refused before anything was sent: the map is unchanged and no member saw it. Store smaller
 * values (or split them across keys), or raise `maxFrameBytes` on every member.
 */
export class ValueTooLargeError extends LazyReplicatedMapError {
  override name = 'ValueTooLargeError';
  /** Size of the frame the call needed, in bytes (an upper bound where the frame was not built). */
  readonly bytes: number;
  /** The largest frame the cluster accepts, in bytes. */
  readonly limit: number;
  constructor(message: string, bytes: number, limit: number, options?: ErrorOptions) {
    super(message, options);
    this.bytes = bytes;
    this.limit = limit;
  }
}

/**
 * A write of a key this member does not hold was refused because the member is at its limit
 * (`maxEntries` or `maxBytes`) and the map's `evictionPolicy` is `'reject'`, as Tomcat refuses a
 * session beyond `maxActiveSessions`. Nothing was sent or changed. Delete keys, raise the limit,
 * or choose an evicting policy (`'lru'`, `'ttl-first'`).
 */
export class CapacityError extends LazyReplicatedMapError {
  override name = 'CapacityError';
  /** The option whose limit was reached. */
  readonly option: 'maxEntries' | 'maxBytes';
  /** Its value (values held, or bytes). */
  readonly limit: number;
  constructor(message: string, option: 'maxEntries' | 'maxBytes', limit: number, options?: ErrorOptions) {
    super(message, options);
    this.option = option;
    this.limit = limit;
  }
}

/**
 * A transport did not send a frame because the peer declared, when it connected, that it accepts
 * nothing that large (its `maxFrameBytes`). The connection stays up; only this frame was not sent.
 * Raise `maxFrameBytes` on the peer, or send smaller frames.
 */
export class FrameRefusedError extends LazyReplicatedMapError {
  override name = 'FrameRefusedError';
  /** The member that would refuse the frame. */
  readonly peer: string;
  /** Size of the frame, in bytes. */
  readonly bytes: number;
  /** The peer's limit, in bytes. */
  readonly limit: number;
  constructor(peer: string, bytes: number, limit: number, options?: ErrorOptions) {
    super(
      `a ${bytes}-byte frame was not sent to member '${peer}', which accepts at most ${limit} bytes (its option maxFrameBytes): raise maxFrameBytes on '${peer}' or send smaller values`,
      options,
    );
    this.peer = peer;
    this.bytes = bytes;
    this.limit = limit;
  }
}

/**
 * A TCP handshake failed (wrong secret, wrong cluster, other protocol version, same id, or a
 * malformed message): the peer was not admitted. Both members of the handshake report it.
 */
export class HandshakeError extends LazyReplicatedMapError {
  override name = 'HandshakeError';
  /** Who the peer is, as far as the handshake got: `member 'id' at host:port`, or its address. */
  readonly peer: string;
  constructor(message: string, peer = 'unknown peer', options?: ErrorOptions) {
    super(message, options);
    this.peer = peer;
  }
}

/**
 * The two members of a TCP handshake do not share the cluster secret: one has another `secret`,
 * or only one has a `secret` at all. Give every member the same `secret` option.
 */
export class AuthenticationError extends HandshakeError {
  override name = 'AuthenticationError';
}

/**
 * A member's id is already taken: by a live member with another incarnation, or by this member
 * itself (a member reached its own address under another name). Give every member its own `id`.
 */
export class DuplicateIdError extends HandshakeError {
  override name = 'DuplicateIdError';
}

/** The peer belongs to another cluster (option `cluster`) or speaks another TCP protocol version. */
export class ClusterMismatchError extends HandshakeError {
  override name = 'ClusterMismatchError';
}

/**
 * A TCP connection did not complete its handshake within `handshakeTimeoutMs` and was closed. It
 * is not reported on `'error'` (strangers and slow dials are routine): it is counted in
 * `stats().handshakeFailures.timeout`, and reaches users only as the `cause` of a seed's
 * {@link SeedUnreachableError}. Check that a member listens at the seed's address, or raise
 * `handshakeTimeoutMs` on a slow network.
 *
 * Deliberately neither a {@link LazyReplicatedMapError} nor a {@link HandshakeError}: the TCP
 * transport reports those on `'error'` as a peer's fault, and counts a seed that fails with one
 * as refusing rather than unreachable.
 */
export class HandshakeTimeout extends Error {
  override name = 'HandshakeTimeout';
}

/**
 * A seed could not be reached: nobody listens there, the name does not resolve, or what answers
 * did not complete the handshake in time. The seed is retried in the background with backoff;
 * this is reported once until the seed answers again. Check the option `seeds`.
 */
export class SeedUnreachableError extends LazyReplicatedMapError {
  override name = 'SeedUnreachableError';
  /** The seed's address, as given in `seeds`. */
  readonly seed: string;
  constructor(message: string, seed: string, options?: ErrorOptions) {
    super(message, options);
    this.seed = seed;
  }
}

/**
 * A `seeds` function returned an entry that is not a `host:port` address, or threw or rejected.
 * The entry is skipped; reported once per distinct entry. (A static `seeds` array with such an
 * entry makes the constructor throw instead.)
 */
export class InvalidSeedError extends TransportConfigError {
  override name = 'InvalidSeedError';
  /** The offending entry (undefined when the function itself failed). */
  readonly seed: unknown;
  constructor(message: string, seed: unknown, options?: ErrorOptions) {
    super(message, options);
    this.seed = seed;
  }
}

/**
 * A transport with `mustJoin` met no other member within `joinTimeoutMs`: `start()` rejected and
 * the transport stopped. Check `seeds`, `secret` and `cluster`, or raise `joinTimeoutMs`.
 */
export class JoinTimeoutError extends LazyReplicatedMapError {
  override name = 'JoinTimeoutError';
  /** The seeds that were tried. */
  readonly seeds: readonly string[];
  constructor(message: string, seeds: readonly string[], options?: ErrorOptions) {
    super(message, options);
    this.seeds = seeds;
  }
}

/**
 * A member runs a release whose map/RPC protocol this member cannot speak: it announced, in the
 * hello every member sends when it meets another, a protocol version outside what this member
 * interoperates with (or this member's outside its range), or it sent frames of an older envelope
 * version (a release without the hello, such as 0.1.0). The member was not admitted: no map or
 * RPC traffic goes to it. Both members report it. Run releases at most one protocol version apart
 * (docs/protocol.md); across a release marked "no rolling upgrade" in the CHANGELOG, stop every
 * member and start them all on the new release.
 */
export class IncompatibleProtocolError extends LazyReplicatedMapError {
  override name = 'IncompatibleProtocolError';
  /** The member refused. */
  readonly peer: string;
  /** The protocol version it speaks (for an older release without the hello: its frames' version). */
  readonly peerVersion: number;
  /** The protocol version this member speaks. */
  readonly version: number;
  /** Frames of the peer dropped so far because of their version (0 when refused at the hello). */
  readonly dropped: number;
  constructor(message: string, details: { peer: string; peerVersion: number; version: number; dropped?: number }, options?: ErrorOptions) {
    super(message, options);
    this.peer = details.peer;
    this.peerVersion = details.peerVersion;
    this.version = details.version;
    this.dropped = details.dropped ?? 0;
  }
}

/** A peer does not read fast enough: more than `maxQueueBytes` are waiting for it. Slow down, or raise the limit. */
export class BackpressureError extends LazyReplicatedMapError {
  override name = 'BackpressureError';
}

/** A remote RPC handler threw; `message` is the handler's message. */
export class RpcRemoteError extends LazyReplicatedMapError {
  override name = 'RpcRemoteError';
  /** The member whose handler threw. */
  readonly from: string;
  /** The `name` of the error the remote handler threw, when it had one. */
  readonly remoteName: string | undefined;
  constructor(message: string, from: string, remoteName?: string) {
    super(message);
    this.from = from;
    this.remoteName = remoteName;
  }
}

/** One entry of an RPC call's result: a reply, or the error a remote handler answered with. */
export type RpcResponse =
  | { readonly from: string; readonly reply: unknown }
  | { readonly from: string; readonly error: RpcRemoteError };

/**
 * An RPC call's deadline passed before its reply mode was satisfied. `replies` holds what did
 * arrive. Raise `timeoutMs` (or the map's `rpcTimeoutMs`) if members are merely slow.
 */
export class RpcTimeoutError extends LazyReplicatedMapError {
  override name = 'RpcTimeoutError';
  /** The replies (and remote errors) that arrived before the deadline. */
  readonly replies: RpcResponse[];
  constructor(message: string, replies: RpcResponse[]) {
    super(message);
    this.replies = replies;
  }
}

/** An RPC call was aborted through its `AbortSignal`. `replies` holds what had arrived. */
export class RpcAbortedError extends LazyReplicatedMapError {
  override name = 'RpcAbortedError';
  /** The replies (and remote errors) that arrived before the abort. */
  readonly replies: RpcResponse[];
  constructor(message: string, replies: RpcResponse[], options?: ErrorOptions) {
    super(message, options);
    this.replies = replies;
  }
}

/** A map or channel was used after `stop()` (or after its transport stopped or crashed). */
export class StoppedError extends LazyReplicatedMapError {
  override name = 'StoppedError';
}

/**
 * A synchronous read (`has`, `size`, `keys`, `entryInfo`, `lastAccess`) of a map whose `start()`
 * was never called: it has not met its members and knows no key. Await `map.start()` first; the
 * asynchronous calls (`get`, `set`, `delete`, ...) start the map themselves.
 */
export class NotStartedError extends LazyReplicatedMapError {
  override name = 'NotStartedError';
}

/**
 * `stop()` dropped entries that no other live member held: none was left to take them, and none
 * joined within `stopWaitMs`. The map stopped all the same. Start the replacement before stopping
 * the last member, raise `stopWaitMs`, or configure a snapshot; pass `{ discard: true }` to
 * `stop()` to drop them knowingly.
 */
export class DataLossError extends LazyReplicatedMapError {
  override name = 'DataLossError';
  /** How many entries were dropped. */
  readonly dropped: number;
  constructor(message: string, dropped: number, options?: ErrorOptions) {
    super(message, options);
    this.dropped = dropped;
  }
}

/**
 * A value held elsewhere could not be fetched: no member holding it answered within `rpcTimeoutMs`.
 * The key is still known; retry, or raise `rpcTimeoutMs` if members are slow.
 */
export class RetrieveError extends LazyReplicatedMapError {
  override name = 'RetrieveError';
  /** The key whose value could not be fetched. */
  readonly key: string | number;
  constructor(message: string, key: string | number, options?: ErrorOptions) {
    super(message, options);
    this.key = key;
  }
}

/** A member that did not take a copy a write sent it, and why (see {@link ReplicationError}). */
export interface ReplicaRefusal {
  /** The member. */
  readonly member: string;
  /**
   * Why, as this member learned it: the error the member answered with (`name: message`), or that
   * no answer came within `rpcTimeoutMs` while its connection stayed up.
   */
  readonly reason: string;
}

/**
 * A write could not get the copies it promises although enough members are live: live members
 * refused their copy (answered with an error, or did not answer within `rpcTimeoutMs`) and no other
 * live member took it. The write is **not** rolled back: this member stays the key's primary with
 * the new value, and `held` names the members that do hold it (fewer than `wanted`; `entryInfo`
 * shows the same). Retry the write (every live member is tried again), and find out why the
 * members in `refusals` refused (their own `'error'` events and logs). Members that left during
 * the write are not refusals: a write then resolves with fewer copies and the map emits
 * `'underReplicated'`.
 */
export class ReplicationError extends LazyReplicatedMapError {
  override name = 'ReplicationError';
  /** The key of the write (for a re-homing of many entries, the first of {@link keys}). */
  readonly key: string | number;
  /** Every key this error is about: the write's key, or the entries a re-homing could not back up. */
  readonly keys: readonly (string | number)[];
  /** Copies the map promises besides the primary (the `backups` option, or every other member). */
  readonly wanted: number;
  /**
   * The members that hold a copy now (acknowledged it). Empty for a re-homing of many entries
   * (reported on `'error'`): each entry's `entryInfo` names its own.
   */
  readonly held: readonly string[];
  /** The live members that did not take their copy, and why. */
  readonly refusals: readonly ReplicaRefusal[];
  constructor(message: string, details: { keys: readonly (string | number)[]; wanted: number; held: readonly string[]; refusals: readonly ReplicaRefusal[] }, options?: ErrorOptions) {
    super(message, options);
    this.keys = details.keys;
    this.key = details.keys[0] ?? '';
    this.wanted = details.wanted;
    this.held = details.held;
    this.refusals = details.refusals;
  }
}

/**
 * A holder was sent a diff (`MSG_DIFF`) for an entry whose base value it does not hold: it holds
 * another write, only a proxy, or nothing. It refuses rather than leave an empty or wrong copy
 * (Tomcat would create an empty entry); the primary then sends the whole value (`MSG_BACKUP`).
 */
export class DiffBaseMissingError extends LazyReplicatedMapError {
  override name = 'DiffBaseMissingError';
  /** The key the diff was for. */
  readonly key: string | number;
  constructor(message: string, key: string | number, options?: ErrorOptions) {
    super(message, options);
    this.key = key;
  }
}

/**
 * A holder could not apply a diff to its copy: the copy does not decode to a `DeltaValue`
 * here (register the value's class with `ValueCodec.register` on every member), or the value's
 * `applyDiff` threw. The primary then sends the whole value (`MSG_BACKUP`).
 */
export class DiffApplyError extends LazyReplicatedMapError {
  override name = 'DiffApplyError';
  /** The key the diff was for. */
  readonly key: string | number;
  constructor(message: string, key: string | number, options?: ErrorOptions) {
    super(message, options);
    this.key = key;
  }
}

/**
 * A member was asked for a page of a state transfer it no longer serves: the asker went away and
 * came back, started again, or asked twice for one page. The asker's newer `MSG_START` (or its
 * first request for the page) is answered; this one is not.
 */
export class StatePageGoneError extends LazyReplicatedMapError {
  override name = 'StatePageGoneError';
}

/**
 * `ValueCodec.register` refused a class: the tag is outside the range left to applications, or
 * the tag or the class is already registered with another partner.
 */
export class ClassRegistrationError extends LazyReplicatedMapError {
  override name = 'ClassRegistrationError';
}

/** Why a snapshot could not be used or written (see {@link SnapshotError}). */
export type SnapshotFailure = 'corrupt' | 'truncated' | 'version' | 'wrong-map' | 'io';

/**
 * A map's `snapshot` could not be used or written.
 * - When loading (at `start()`, reported through the map's `'error'` event; `start()` goes on
 *   without it): the file is not a snapshot, is damaged (`corrupt`), ends early (`truncated`), was
 *   written by an incompatible format (`version`), belongs to another map (`wrong-map`), or could
 *   not be read or set aside (`io`). Nothing of it was loaded, and a damaged file is renamed
 *   `<file>.rejected-<time>` for inspection.
 * - When writing (the last member's `stop()` rejects with it, after the map stopped): the entries
 *   could not be saved (`io`); they are lost. Check the path, free space and permissions.
 */
export class SnapshotError extends LazyReplicatedMapError {
  override name = 'SnapshotError';
  /** Where the snapshot lives (a file path, or what a custom store calls itself). */
  readonly location: string;
  /** What went wrong. */
  readonly reason: SnapshotFailure;
  constructor(message: string, location: string, reason: SnapshotFailure, options?: ErrorOptions) {
    super(message, options);
    this.location = location;
    this.reason = reason;
  }
}

/**
 * A conditional write (`setIfAbsent`, `compareAndSet`, `update`) could not be decided, or its
 * outcome is unknown:
 * - the member that decides for the key could not be found within the bounded number of
 *   forwards (members disagreed about where the key lives, during a failover or a join), or it
 *   is leaving or unreachable: nothing was written (`mayHaveWritten` false); retry;
 * - the decider was asked but gave no answer (it crashed, or did not answer within
 *   `rpcTimeoutMs`), or it wrote the value but could not replicate it: the write may or may not
 *   have taken effect (`mayHaveWritten` true). Read the key before you retry a write that must
 *   not happen twice. A conditional write is never applied twice by the map itself.
 */
export class ConditionalWriteError extends LazyReplicatedMapError {
  override name = 'ConditionalWriteError';
  /** The key of the write. */
  readonly key: string | number;
  /** False when the write surely did not take effect; true when it may have. */
  readonly mayHaveWritten: boolean;
  constructor(message: string, key: string | number, mayHaveWritten: boolean, options?: ErrorOptions) {
    super(message, options);
    this.key = key;
    this.mayHaveWritten = mayHaveWritten;
  }
}

/**
 * `update(key, fn)` found the key's value changed by other writers every time it offered the
 * value `fn` computed, `attempts` times in a row (the `maxAttempts` option of the call). Nothing
 * of this call was written. Retry later, or raise `maxAttempts` when many members update one key
 * at once.
 */
export class UpdateConflictError extends LazyReplicatedMapError {
  override name = 'UpdateConflictError';
  /** The key of the update. */
  readonly key: string | number;
  /** How many times `fn` ran and its result was refused. */
  readonly attempts: number;
  constructor(message: string, key: string | number, attempts: number, options?: ErrorOptions) {
    super(message, options);
    this.key = key;
    this.attempts = attempts;
  }
}
