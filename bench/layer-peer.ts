/**
 * The answering side of the layers benchmark (bench/layers.ts), in its own process: a TcpTransport
 * that answers every frame, an RpcChannel whose handler answers every request, or a
 * LazyReplicatedMap that backs up the writer's entries, as `LAYER` says (`transport`, `rpc` or
 * `map`). Joins the writer at `SEED`; says "ready" on IPC once it has met it.
 *
 * @module
 */
import { main } from './built.js';

const { LazyReplicatedMap, RpcChannel, TcpTransport } = main;
const layer = process.env['LAYER'] ?? 'transport';
const transport = new TcpTransport({ id: 'receiver', host: '127.0.0.1', port: 0, seeds: [process.env['SEED'] ?? ''] });
if (layer === 'transport') {
  const ack = new Uint8Array(24);
  transport.on('message', (from: string) => {
    transport.send(from, ack).catch(() => undefined);
  });
  await transport.start();
} else if (layer === 'rpc') {
  new RpcChannel(transport, 'layers', () => 1);
  await transport.start();
} else {
  await new LazyReplicatedMap<string, string>({ name: 'layers', transport, backups: 1 }).start();
}
while (!transport.peers().includes('writer')) await new Promise((resolve) => setTimeout(resolve, 10));
process.send?.('ready');
process.on('disconnect', () => process.exit(0));
