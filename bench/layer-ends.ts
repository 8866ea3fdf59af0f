/**
 * The two ends of one layer of the layers benchmark (bench/layers.ts): the writer, which makes one
 * round trip per call of its `op`, and the receiver, which answers. The writer runs in the bench's
 * process; the receiver in a forked bench/layer-peer.ts, or in the same process for
 * `inOneProcess`.
 *
 * @module
 */
import { main } from './built.js';
import { LOAD_KEYS } from './measure.js';

/** A layer of the library the bench measures a round trip through. */
export type Layer = 'transport' | 'rpc' | 'map';

/** A started writer: one acknowledged round trip per `op`, and how to stop it. */
export interface Writer {
  readonly address: string;
  op(i: number): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * The writing end of `layer` as member `writer`, started: a 330-byte frame each way through
 * TcpTransport, a 330-byte RpcChannel call, or a map `set` of a 300-byte value with one backup.
 */
export async function startWriter(layer: Layer): Promise<Writer> {
  const { LazyReplicatedMap, RpcChannel, TcpTransport } = main;
  const transport = new TcpTransport({ id: 'writer', host: '127.0.0.1', port: 0, seeds: [] });
  const frame = new Uint8Array(330).fill(2);
  if (layer === 'transport') {
    let waiting: (() => void) | undefined;
    transport.on('message', () => {
      const w = waiting;
      waiting = undefined;
      w?.();
    });
    await transport.start();
    return {
      address: transport.address,
      op: () =>
        new Promise<void>((resolve, reject) => {
          waiting = resolve;
          transport.send('receiver', frame).catch(reject);
        }),
      stop: () => transport.stop(),
    };
  }
  if (layer === 'rpc') {
    const channel = new RpcChannel(transport, 'layers');
    await transport.start();
    return { address: transport.address, op: () => channel.call(frame, { to: ['receiver'], stackAtCallSite: false }), stop: () => transport.stop() };
  }
  const map = new LazyReplicatedMap<string, string>({ name: 'layers', transport, backups: 1 });
  await map.start();
  const value = 'v'.repeat(300);
  return { address: transport.address, op: (i) => map.set(`k${String(i % LOAD_KEYS)}`, value), stop: () => map.stop({ discard: true }) };
}

/**
 * The answering end of `layer` as member `receiver`, joined to the writer at `seed`: a transport
 * that answers every frame with 24 bytes, an RpcChannel whose handler answers, or a map that backs
 * up the writer's entries. Resolves once it has met the writer; returns how to stop it.
 */
export async function startReceiver(layer: Layer, seed: string): Promise<() => Promise<void>> {
  const { LazyReplicatedMap, RpcChannel, TcpTransport } = main;
  const transport = new TcpTransport({ id: 'receiver', host: '127.0.0.1', port: 0, seeds: [seed] });
  let stop: () => Promise<void> = () => transport.stop();
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
    const map = new LazyReplicatedMap<string, string>({ name: 'layers', transport, backups: 1 });
    await map.start();
    stop = () => map.stop({ discard: true });
  }
  // Polled: nothing is measured until the two have met.
  while (!transport.peers().includes('writer')) await new Promise((resolve) => setTimeout(resolve, 10));
  return stop;
}
