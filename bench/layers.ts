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
 * forked bench/layer-peer.ts, or runs in this process too for {@link inOneProcess}. Both ends are
 * in bench/layer-ends.ts. CPU is from `process.cpuUsage` here and /proc for the receiver, split
 * into user space and kernel.
 *
 * @module
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startReceiver, startWriter, type Layer } from './layer-ends.js';
import { roundTrips, throughput, type RoundTripCpu } from './measure.js';
import { nodeRoundTrip } from './tcp.js';

const PEER = fileURLToPath(new URL('./layer-peer.ts', import.meta.url));

/** One layer's round trips per second and CPU per round trip. */
export interface LayerCost {
  layer: 'node' | 'transport' | 'rpc' | 'map';
  opsPerSec: number;
  cpu: RoundTripCpu;
}

/** `total` round trips through one library layer (after a warm-up of 3,000), the receiver in another process. */
async function throughLayer(layer: Layer, total: number): Promise<LayerCost> {
  const writer = await startWriter(layer);
  const peer = fork(PEER, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, LAYER: layer, SEED: writer.address }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await once(peer, 'message');
    await throughput(3000, 1, (i) => writer.op(i));
    const result = await roundTrips(total, 1, (i) => writer.op(i), peer.pid ?? 0);
    return { layer, opsPerSec: result.opsPerSec, cpu: result.cpu };
  } finally {
    const exited = once(peer, 'exit');
    peer.disconnect();
    await exited;
    await writer.stop();
  }
}

/**
 * The same round trips with both ends in this process, over TCP on loopback: user CPU µs per round
 * trip for both sides together. Each message still crosses the kernel, but no process sleeps
 * between messages and is woken for the next, so the difference to the two-process figure is what
 * waking costs a layer's code (its caches and the event loop's turn), apart from running it.
 */
export async function inOneProcess(layer: Layer, total: number): Promise<number> {
  const writer = await startWriter(layer);
  let stopReceiver: (() => Promise<void>) | undefined;
  try {
    stopReceiver = await startReceiver(layer, writer.address);
    for (let i = 0; i < 3000; i++) await writer.op(i);
    const before = process.cpuUsage();
    for (let i = 0; i < total; i++) await writer.op(i);
    return process.cpuUsage(before).user / total;
  } finally {
    await stopReceiver?.();
    await writer.stop();
  }
}

/** Every layer, bottom up, `total` round trips each. */
export async function layerCosts(total: number): Promise<LayerCost[]> {
  const node = await nodeRoundTrip(total, 1, 300);
  const rows: LayerCost[] = [{ layer: 'node', opsPerSec: node.opsPerSec, cpu: node.cpu }];
  for (const layer of ['transport', 'rpc', 'map'] as const) rows.push(await throughLayer(layer, total));
  return rows;
}
