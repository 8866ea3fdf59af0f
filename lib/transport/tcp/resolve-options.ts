/**
 * A {@link TcpTransportOptions} checked and completed with defaults. Invalid settings throw at
 * construction, naming the option: a `TypeError` for a value of the wrong type, a `RangeError`
 * for a number out of range (0, negative, NaN, a fraction where a count is needed) or an address
 * that is not `host:port`.
 *
 * @module
 */
import { parseAddress } from './address.js';
import {
  DEFAULT_FAILURE_TIMEOUT_MS,
  DEFAULT_FORGET_AFTER_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_JOIN_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_RECONNECT_DELAY_MS,
  systemClock,
  type TcpClock,
  type TcpTransportOptions,
} from './tcp-options.js';

/** Settings of a running transport: every option present. */
export interface ResolvedTcpOptions {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly seeds: () => readonly string[] | Promise<readonly string[]>;
  readonly advertise: string | undefined;
  readonly cluster: string;
  readonly secret: string;
  readonly tls: TcpTransportOptions['tls'];
  readonly maxFrameBytes: number;
  readonly maxQueueBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly failureTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxPendingConnections: number;
  readonly maxReconnectDelayMs: number;
  readonly forgetAfterMs: number;
  readonly mustJoin: boolean;
  readonly joinTimeoutMs: number;
  readonly clock: TcpClock;
}

/** The longest id, cluster name or advertised address: they must fit the handshake's 4 KiB. */
const MAX_NAME_LENGTH = 512;

function positive(options: TcpTransportOptions, name: keyof TcpTransportOptions, fallback: number, integer: boolean): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number') throw new TypeError(`option \`${name}\` must be a number, got ${typeof value}`);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new RangeError(`option \`${name}\` must be a positive ${integer ? 'integer' : 'finite number'}, got ${value}`);
  }
  return value;
}

function name(options: TcpTransportOptions, option: 'id' | 'cluster', fallback?: string): string {
  const value = options[option] ?? fallback;
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`option \`${option}\` must be a non-empty string`);
  if (value.length > MAX_NAME_LENGTH) throw new RangeError(`option \`${option}\` is ${value.length} characters long; at most ${MAX_NAME_LENGTH}`);
  return value;
}

/**
 * Checks `options` and fills in the defaults.
 * @throws {TypeError} for a value of the wrong type.
 * @throws {RangeError} for a number out of range or a malformed address, naming the option.
 */
export function resolveTcpOptions(options: TcpTransportOptions): ResolvedTcpOptions {
  const port = options.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`option \`port\` must be an integer from 0 (any free port) to 65535, got ${String(port)}`);
  }
  const seeds = options.seeds ?? [];
  let seedSource: ResolvedTcpOptions['seeds'];
  if (typeof seeds === 'function') {
    seedSource = seeds;
  } else if (Array.isArray(seeds)) {
    const list = seeds as readonly unknown[];
    for (const seed of list) parseAddress(seed, 'seeds');
    const fixed = [...(list as readonly string[])];
    seedSource = () => fixed;
  } else {
    throw new TypeError('option `seeds` must be an array of host:port addresses or a function returning one');
  }
  if (options.advertise !== undefined) parseAddress(options.advertise, 'advertise');
  const secret = options.secret ?? '';
  if (typeof secret !== 'string') throw new TypeError('option `secret` must be a string');
  const heartbeatIntervalMs = positive(options, 'heartbeatIntervalMs', DEFAULT_HEARTBEAT_INTERVAL_MS, false);
  const failureTimeoutMs = positive(options, 'failureTimeoutMs', DEFAULT_FAILURE_TIMEOUT_MS, false);
  if (failureTimeoutMs < 2 * heartbeatIntervalMs) {
    throw new RangeError(
      `option \`failureTimeoutMs\` (${failureTimeoutMs}) must be at least twice \`heartbeatIntervalMs\` (${heartbeatIntervalMs}), or an idle member is declared gone between two heartbeats`,
    );
  }
  return {
    id: name(options, 'id'),
    host: options.host ?? '127.0.0.1',
    port,
    seeds: seedSource,
    advertise: options.advertise,
    cluster: name(options, 'cluster', 'lazy-replicated-map'),
    secret,
    tls: options.tls,
    maxFrameBytes: positive(options, 'maxFrameBytes', DEFAULT_MAX_FRAME_BYTES, true),
    maxQueueBytes: positive(options, 'maxQueueBytes', DEFAULT_MAX_QUEUE_BYTES, true),
    heartbeatIntervalMs,
    failureTimeoutMs,
    handshakeTimeoutMs: positive(options, 'handshakeTimeoutMs', DEFAULT_HANDSHAKE_TIMEOUT_MS, false),
    maxPendingConnections: positive(options, 'maxPendingConnections', DEFAULT_MAX_PENDING_CONNECTIONS, true),
    maxReconnectDelayMs: positive(options, 'maxReconnectDelayMs', DEFAULT_MAX_RECONNECT_DELAY_MS, false),
    forgetAfterMs: positive(options, 'forgetAfterMs', DEFAULT_FORGET_AFTER_MS, false),
    mustJoin: options.mustJoin ?? false,
    joinTimeoutMs: positive(options, 'joinTimeoutMs', DEFAULT_JOIN_TIMEOUT_MS, false),
    clock: options.clock ?? systemClock,
  };
}
