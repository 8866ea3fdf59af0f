/**
 * Listening and dialling, plain TCP or TLS: the only place that knows which.
 *
 * @module
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { AddressInUseError, TransportConfigError } from '../../errors.js';
import type { HostPort } from './address.js';
import type { TcpTlsOptions } from './tcp-options.js';

/** A listening server and the `host:port` it is bound to. */
export interface Listening {
  readonly server: Server;
  readonly bound: string;
}

/**
 * Listens on `host:port`; `onSocket` gets every connection once usable (after the TLS handshake
 * with `tls`); `onError` gets the server's later errors and TLS clients' failures.
 */
export async function listen(
  where: { host: string; port: number; tls: TcpTlsOptions | undefined },
  onSocket: (socket: Socket) => void,
  onError: (error: Error) => void,
): Promise<Listening> {
  const server = where.tls === undefined ? createServer() : createTlsServer(where.tls);
  server.on(where.tls === undefined ? 'connection' : 'secureConnection', onSocket);
  server.on('tlsClientError', onError);
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      reject(listenError(error, where.host, where.port));
    };
    server.once('error', failed);
    server.listen(where.port, where.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  server.on('error', onError);
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new TransportConfigError('server has no TCP address');
  return { server, bound: `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` };
}

/** The error `start()` rejects with when listening failed, naming the address and the option. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new AddressInUseError(`cannot listen on ${address}: the address is already in use (EADDRINUSE) by another process or member; choose another \`port\` option (0 picks a free one)`, address, { cause: error });
    case 'EACCES':
      return new TransportConfigError(`cannot listen on ${address}: permission denied (EACCES); ports below 1024 need privileges: choose another \`port\` option`, { cause: error });
    case 'EADDRNOTAVAIL':
      return new TransportConfigError(`cannot listen on ${address}: no network interface has address ${host} (EADDRNOTAVAIL); check the \`host\` option`, { cause: error });
    default:
      return new TransportConfigError(`cannot listen on ${address}: ${error.message}; check the \`host\` and \`port\` options`, { cause: error });
  }
}

/** Closes a server; resolves once closed. */
export function unlisten(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (server === undefined) resolve();
    else server.close(() => { resolve(); });
  });
}

/** Dials `address`; `onConnect` runs once the socket is usable (after the TLS handshake with `tls`). */
export function dial(address: HostPort, tls: TcpTlsOptions | undefined, onConnect: () => void): Socket {
  const socket = tls === undefined ? createConnection(address) : tlsConnect({ ...tls, host: address.host, port: address.port });
  socket.once(tls === undefined ? 'connect' : 'secureConnect', onConnect);
  return socket;
}
