/**
 * What each layer of the library adds to an acknowledged write, in CPU per round trip on each
 * side, measured in one run between two processes on loopback at 1 in flight (the case where no
 * grouping hides a message's fixed cost):
 *
 * 1. a bare Node round trip (bench/echo-peer.ts: a length-prefixed message, a 24-byte answer);
 * 2. TcpTransport: one 330-byte frame each way through `send` and the `'message'` event;
 * 3. RpcChannel: `call` with a 330-byte request to one member, whose handler answers;
 * 4. LazyReplicatedMap: `set` of a 300-byte value with one backup on the other process.
 *
 * Each layer's writer runs in this process (and runs nothing else meanwhile); its receiver is a
 * forked bench/layer-peer.ts. CPU is from `process.cpuUsage` here and /proc for the receiver,
 * split into user space and kernel.
 *
 * @module
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { main } from './built.js';
import { LOAD_KEYS, roundTrips, throughput, type RoundTripCpu } from './measure.js';
import { nodeRoundTrip } from './tcp.js';

const PEER = fileURLToPath(new URL('./layer-peer.ts', import.meta.url));

/** One layer's round trips per second and CPU per round trip. */
export interface LayerCost {
  layer: 'node' | 'transport' | 'rpc' | 'map';
  opsPerSec: number;
  cpu: RoundTripCpu;
}

/** `total` round trips through one library layer (after a warm-up of 3,000). */
async function throughLayer(layer: 'transport' | 'rpc' | 'map', total: number): Promise<LayerCost> {
  const { LazyReplicatedMap, RpcChannel, TcpTransport } = main;
  const transport = new TcpTransport({ id: 'writer', host: '127.0.0.1', port: 0, seeds: [] });
  const frame = new Uint8Array(330).fill(2);
  const value = 'v'.repeat(300);
  let op: (i: number) => Promise<unknown>;
  let stop: () => Promise<void>;
  if (layer === 'transport') {
    let waiting: (() => void) | undefined;
    transport.on('message', () => {
      const w = waiting;
      waiting = undefined;
      w?.();
    });
    await transport.start();
    op = () =>
      new Promise<void>((resolve, reject) => {
        waiting = resolve;
        transport.send('receiver', frame).catch(reject);
      });
    stop = () => transport.stop();
  } else if (layer === 'rpc') {
    const channel = new RpcChannel(transport, 'layers');
    await transport.start();
    op = () => channel.call(frame, { to: ['receiver'], stackAtCallSite: false });
    stop = () => transport.stop();
  } else {
    const map = new LazyReplicatedMap<string, string>({ name: 'layers', transport, backups: 1 });
    await map.start();
    op = (i) => map.set(`k${String(i % LOAD_KEYS)}`, value);
    stop = () => map.stop({ discard: true });
  }
  const peer = fork(PEER, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, LAYER: layer, SEED: transport.address }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await once(peer, 'message');
    await throughput(3000, 1, op);
    const result = await roundTrips(total, 1, op, peer.pid ?? 0);
    return { layer, opsPerSec: result.opsPerSec, cpu: result.cpu };
  } finally {
    const exited = once(peer, 'exit');
    peer.disconnect();
    await exited;
    await stop();
  }
}

/**
 * The same round trips with both ends in this process, over TCP on loopback: user CPU µs per round
 * trip for both sides together. Each message still crosses the kernel, but no process sleeps
 * between messages and is woken for the next, so the difference to the two-process figure is what
 * waking costs a layer's code (its caches and the event loop's turn), apart from running it.
 */
export async function inOneProcess(layer: 'transport' | 'rpc' | 'map', total: number): Promise<number> {
  const { LazyReplicatedMap, RpcChannel, TcpTransport } = main;
  const writer = new TcpTransport({ id: 'writer', host: '127.0.0.1', port: 0, seeds: [] });
  let receiver: InstanceType<typeof TcpTransport> | undefined;
  const stops: Array<() => Promise<void>> = [];
  const frame = new Uint8Array(330).fill(2);
  let op: (i: number) => Promise<unknown>;
  try {
    if (layer === 'transport') {
      let waiting: (() => void) | undefined;
      writer.on('message', () => {
        const w = waiting;
        waiting = undefined;
        w?.();
      });
      await writer.start();
      const answering = new TcpTransport({ id: 'receiver', host: '127.0.0.1', port: 0, seeds: [writer.address] });
      const ack = new Uint8Array(24);
      answering.on('message', (from: string) => {
        answering.send(from, ack).catch(() => undefined);
      });
      receiver = answering;
      await answering.start();
      op = () =>
        new Promise<void>((resolve, reject) => {
          waiting = resolve;
          writer.send('receiver', frame).catch(reject);
        });
      stops.push(() => answering.stop(), () => writer.stop());
    } else if (layer === 'rpc') {
      const channel = new RpcChannel(writer, 'layers');
      await writer.start();
      receiver = new TcpTransport({ id: 'receiver', host: '127.0.0.1', port: 0, seeds: [writer.address] });
      new RpcChannel(receiver, 'layers', () => 1);
      await receiver.start();
      op = () => channel.call(frame, { to: ['receiver'], stackAtCallSite: false });
      const r = receiver;
      stops.push(() => r.stop(), () => writer.stop());
    } else {
      const map = new LazyReplicatedMap<string, string>({ name: 'layers', transport: writer, backups: 1 });
      await map.start();
      receiver = new TcpTransport({ id: 'receiver', host: '127.0.0.1', port: 0, seeds: [writer.address] });
      const backup = new LazyReplicatedMap<string, string>({ name: 'layers', transport: receiver, backups: 1 });
      await backup.start();
      // Polled: nothing is measured until the two have met.
      while (!map.members().includes('receiver')) await sleep(10);
      const value = 'v'.repeat(300);
      op = (i) => map.set(`k${String(i % LOAD_KEYS)}`, value);
      stops.push(() => backup.stop({ discard: true }), () => map.stop({ discard: true }));
    }
    while (!writer.peers().includes('receiver')) await sleep(10);
    for (let i = 0; i < 3000; i++) await op(i);
    const before = process.cpuUsage();
    for (let i = 0; i < total; i++) await op(i);
    return process.cpuUsage(before).user / total;
  } finally {
    for (const stop of stops) await stop();
  }
}

/** Every layer, bottom up, `total` round trips each. */
export async function layerCosts(total: number): Promise<LayerCost[]> {
  const node = await nodeRoundTrip(total, 1, 300);
  const rows: LayerCost[] = [{ layer: 'node', opsPerSec: node.opsPerSec, cpu: node.cpu }];
  for (const layer of ['transport', 'rpc', 'map'] as const) rows.push(await throughLayer(layer, total));
  return rows;
}
