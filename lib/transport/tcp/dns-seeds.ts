/**
 * Seeds from DNS, for deployments where members come and go under one name: a Kubernetes headless
 * Service (SRV records carry each pod's port), a Compose service or any round-robin A/AAAA name.
 * Built on `node:dns` only. The returned function is asked again on every attempt to reach the
 * cluster, so a member that appears in DNS later is found, and one that vanished is not dialled.
 *
 * @module
 */
import { Resolver } from 'node:dns/promises';
import { DiscoveryError } from '../../errors.js';
import { nonEmptyString, stringArray, validateOptions, wholeNumber, type OptionRules } from '../../options/validate.js';

/** What to look up: SRV records, or A/AAAA records of a name with a fixed port. */
export type DnsSeedQuery =
  | {
      /** An SRV name, such as `_lrm._tcp.sessions.default.svc.cluster.local`: every target and its port. */
      srv: string;
    }
  | {
      /** A name whose A and AAAA records are the members' addresses, such as `sessions-headless`. */
      host: string;
      /** The port every member listens on. */
      port: number;
    };

/** How to ask DNS. */
export interface DnsSeedOptions {
  /**
   * DNS servers to ask instead of the system's, as `ip` or `ip:port` (`[ipv6]:port`).
   * @default the system's resolvers
   */
  servers?: readonly string[];
  /**
   * How long one query may take before it is tried again, in milliseconds.
   * @default 2000
   */
  timeoutMs?: number;
  /**
   * How many times a query is tried before it fails.
   * @default 2
   */
  tries?: number;
}

/** A source of seeds: asked on every attempt, answers `host:port` addresses. */
export type SeedSource = () => Promise<string[]>;

/** @internal */
export const DEFAULT_DNS_TIMEOUT_MS = 2000;
/** @internal */
export const DEFAULT_DNS_TRIES = 2;

/** `ip:port`, with brackets around IPv6 addresses so the port stays unambiguous. */
function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The rule of every option of {@link dnsSeeds}: one line per option. */
export const DNS_SEED_OPTION_RULES: OptionRules<DnsSeedOptions> = {
  servers: stringArray,
  // c-ares keeps the timeout in a 32-bit int, as Node's timers do.
  timeoutMs: wholeNumber({ min: 1, max: 2 ** 31 - 1, unit: 'milliseconds' }),
  tries: wholeNumber({ min: 1, max: 1000 }),
};

/** The rules of the query: one of `srv` or `host` with `port`. */
const QUERY_RULES: OptionRules<{ srv: string; host: string; port: number }> = {
  srv: nonEmptyString,
  host: nonEmptyString,
  port: wholeNumber({ min: 1, max: 65_535 }),
};

/**
 * Seeds for {@link TcpTransport}'s `seeds` option, looked up in DNS on every attempt.
 *
 * With `srv`, each SRV record gives a target name and a port; the target is resolved to its A/AAAA
 * addresses with the same servers (a headless Service's pod names resolve only in cluster DNS), or
 * kept as a name when it has none. With `host`, every A and AAAA address of the name, at `port`.
 *
 * When every lookup fails or finds nothing, the source rejects with a {@link DiscoveryError} that
 * names the query and the servers; the transport reports it and asks again on its next attempt.
 *
 * @throws {TypeError} when the query has neither `srv` nor `host`.
 * @throws {RangeError} when `port`, `timeoutMs` or `tries` is not a valid number.
 *
 * @example
 * ```ts
 * import { TcpTransport, dnsSeeds } from 'lazy-replicated-map';
 * const transport = new TcpTransport({
 *   id: process.env.POD_NAME ?? 'member', host: '0.0.0.0', port: 4000,
 *   seeds: dnsSeeds({ srv: '_lrm._tcp.sessions.default.svc.cluster.local' }),
 * });
 * ```
 */
export function dnsSeeds(query: DnsSeedQuery, options: DnsSeedOptions = {}): SeedSource {
  validateOptions('dnsSeeds', options, DNS_SEED_OPTION_RULES);
  const timeoutMs = options.timeoutMs ?? DEFAULT_DNS_TIMEOUT_MS;
  const tries = options.tries ?? DEFAULT_DNS_TRIES;
  validateOptions('dnsSeeds', query, QUERY_RULES);
  const srv = 'srv' in query ? query.srv : undefined;
  const host = 'host' in query ? query.host : undefined;
  if ((srv === undefined) === (host === undefined)) {
    throw new TypeError("dnsSeeds: give `{ srv: '_service._tcp.name' }` or `{ host: 'name', port: 4000 }`");
  }
  if (host !== undefined && (query as { port?: unknown }).port === undefined) throw new RangeError('dnsSeeds option `port` must be a whole number from 1 to 65535, got undefined');
  const servers = options.servers === undefined ? undefined : [...options.servers];
  const where = servers === undefined ? 'the system resolvers' : servers.join(', ');

  const resolverFor = (): Resolver => {
    const resolver = new Resolver({ timeout: timeoutMs, tries });
    if (servers !== undefined) resolver.setServers(servers);
    return resolver;
  };
  // Both families; one failing (a name with only A records answers AAAA with ENODATA) is not an error.
  const addresses = async (resolver: Resolver, name: string): Promise<{ found: string[]; errors: unknown[] }> => {
    const answers = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
    const found: string[] = [];
    const errors: unknown[] = [];
    for (const a of answers) {
      if (a.status === 'fulfilled') found.push(...a.value);
      else errors.push(a.reason);
    }
    return { found, errors };
  };
  const fail = (what: string, cause: unknown): never => {
    throw new DiscoveryError(`dnsSeeds: ${what} (asked ${where}); no seeds this attempt, retrying on the next`, { cause });
  };

  return async () => {
    const resolver = resolverFor();
    if (host !== undefined) {
      const port = (query as { port: number }).port;
      const { found, errors } = await addresses(resolver, host);
      if (found.length === 0) fail(`no A or AAAA record for '${host}'`, errors[0]);
      return [...new Set(found)].sort().map((a) => hostPort(a, port));
    }
    const name = srv as string;
    let records: Awaited<ReturnType<Resolver['resolveSrv']>> = [];
    try {
      records = await resolver.resolveSrv(name);
    } catch (error) {
      fail(`no SRV record for '${name}'`, error);
    }
    if (records.length === 0) fail(`no SRV record for '${name}'`, undefined);
    const seeds = await Promise.all(records.map(async (r) => {
      const { found } = await addresses(resolver, r.name);
      return found.length === 0 ? [hostPort(r.name, r.port)] : found.map((a) => hostPort(a, r.port));
    }));
    return [...new Set(seeds.flat())].sort();
  };
}
