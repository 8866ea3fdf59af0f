/**
 * The answering side of the layers benchmark (bench/layers.ts), in its own process: the receiver
 * of bench/layer-ends.ts for the layer `LAYER` names (`transport`, `rpc` or `map`), joined to the
 * writer at `SEED`. Says "ready" on IPC once it has met the writer; exits when it disconnects.
 *
 * @module
 */
import { startReceiver, type Layer } from './layer-ends.js';

await startReceiver((process.env['LAYER'] ?? 'transport') as Layer, process.env['SEED'] ?? '');
process.send?.('ready');
process.on('disconnect', () => process.exit(0));
