/**
 * A {@link TcpTransportOptions} checked and completed with defaults. Invalid settings throw at
 * construction, naming the option: a `TypeError` for a value of the wrong type, a `RangeError`
 * for a number out of range (0, negative, NaN, Infinity, a string, a fraction, a delay beyond
 * what a timer keeps) or an address that is not `host:port`. The rules are the table
 * {@link TCP_OPTION_RULES}, shared with every other class through `lib/options/validate.ts`.
 *
 * @module
 */
import { parseAddress } from './address.js';
import { boolean, nonEmptyString, object, required, shaped, string, timerMs, validateOptions, wholeNumber, type OptionRule, type OptionRules } from '../../options/validate.js';
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

const OWNER = 'TcpTransport';

/** An id or a cluster name: a non-empty string that fits the handshake. */
const shortName: OptionRule = (value, option, owner) => {
  nonEmptyString(value, option, owner);
  const length = (value as string).length;
  if (length > MAX_NAME_LENGTH) throw new RangeError(`${owner} option \`${option}\` is ${length} characters long; at most ${MAX_NAME_LENGTH}`);
};

/** A `host:port` address (`advertise`). */
const address: OptionRule = (value, option) => {
  parseAddress(value, option);
};

/** A list of `host:port` addresses, or a function asked for one on every attempt. */
const seedList: OptionRule = (value, option) => {
  if (typeof value === 'function') return;
  if (!Array.isArray(value)) throw new TypeError(`${OWNER} option \`${option}\` must be an array of host:port addresses or a function returning one`);
  for (const seed of value as readonly unknown[]) parseAddress(seed, option);
};

/**
 * The rule of every option of a {@link TcpTransport}, checked at construction: one line per
 * option (a new option of {@link TcpTransportOptions} fails the type check until it has its line).
 */
export const TCP_OPTION_RULES: OptionRules<TcpTransportOptions> = {
  id: required(shortName),
  host: nonEmptyString,
  port: wholeNumber({ min: 0, max: 65_535 }),
  seeds: seedList,
  mustJoin: boolean,
  joinTimeoutMs: timerMs(),
  advertise: address,
  cluster: shortName,
  secret: string,
  tls: object,
  maxFrameBytes: wholeNumber({ min: 1, unit: 'bytes' }),
  maxQueueBytes: wholeNumber({ min: 1, unit: 'bytes' }),
  heartbeatIntervalMs: timerMs(),
  failureTimeoutMs: timerMs(),
  handshakeTimeoutMs: timerMs(),
  maxPendingConnections: wholeNumber({ min: 1 }),
  maxReconnectDelayMs: timerMs(),
  forgetAfterMs: timerMs(),
  clock: shaped('a TcpClock', ['now', 'setInterval', 'clearInterval']),
};

/**
 * Checks `options` and fills in the defaults.
 * @throws {TypeError} for a value of the wrong type.
 * @throws {RangeError} for a number out of range or a malformed address, naming the option.
 */
export function resolveTcpOptions(options: TcpTransportOptions): ResolvedTcpOptions {
  validateOptions(OWNER, options, TCP_OPTION_RULES);
  const seeds = options.seeds ?? [];
  let seedSource: ResolvedTcpOptions['seeds'];
  if (typeof seeds === 'function') {
    seedSource = seeds;
  } else {
    const fixed = [...seeds];
    seedSource = () => fixed;
  }
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const failureTimeoutMs = options.failureTimeoutMs ?? DEFAULT_FAILURE_TIMEOUT_MS;
  if (failureTimeoutMs < 2 * heartbeatIntervalMs) {
    throw new RangeError(
      `${OWNER} option \`failureTimeoutMs\` (${failureTimeoutMs}) must be at least twice \`heartbeatIntervalMs\` (${heartbeatIntervalMs}), or an idle member is declared gone between two heartbeats`,
    );
  }
  return {
    id: options.id,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    seeds: seedSource,
    advertise: options.advertise,
    cluster: options.cluster ?? 'lazy-replicated-map',
    secret: options.secret ?? '',
    tls: options.tls,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    maxQueueBytes: options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
    heartbeatIntervalMs,
    failureTimeoutMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    maxPendingConnections: options.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS,
    maxReconnectDelayMs: options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS,
    forgetAfterMs: options.forgetAfterMs ?? DEFAULT_FORGET_AFTER_MS,
    mustJoin: options.mustJoin ?? false,
    joinTimeoutMs: options.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS,
    clock: options.clock ?? systemClock,
  };
}
