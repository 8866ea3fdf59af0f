/**
 * `host:port` addresses as `seeds` and `advertise` take them: a host name, an IPv4 address or a
 * bracketed IPv6 address, a colon, and a port from 1 to 65535. Nothing else (no scheme, no path).
 *
 * @module
 */

/** A parsed `host:port`. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/;

/**
 * Parses a `host:port` address given in option `option`.
 * @throws {TypeError} when `value` is not a string.
 * @throws {RangeError} when it is not a `host:port` address with a port from 1 to 65535; the
 *   message names the option, the value and the form expected.
 */
export function parseAddress(value: unknown, option: string): HostPort {
  if (typeof value !== 'string') {
    throw new TypeError(`TcpTransport option \`${option}\`: ${String(value)} is not a string; give 'host:port' addresses, such as '10.0.0.11:4000'`);
  }
  const m = ADDRESS.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535) {
    const hint = value.includes('://') ? ' (no URL scheme)' : !value.includes(':') ? ' (the port is missing)' : '';
    throw new RangeError(`TcpTransport option \`${option}\`: '${value}' is not a host:port address${hint}; write it as 'host:port' with a port from 1 to 65535, such as '10.0.0.11:4000' or '[::1]:4000'`);
  }
  return { host: m[1] ?? m[2] ?? '', port };
}
