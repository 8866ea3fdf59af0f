/**
 * The backup of bench/session-store-tcp.ts, in its own process: a LazyReplicatedMap named
 * `sessions` that joins the writer at `SEED` and holds the backups of its sessions. Says "ready"
 * on IPC once it has met the writer; exits when the writer disconnects.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { main } from './built.js';

const transport = new main.TcpTransport({ id: 'backup', host: '127.0.0.1', port: 0, seeds: [process.env['SEED'] ?? ''] });
await new main.LazyReplicatedMap<string>({ name: 'sessions', transport, backups: 1, expirySweepIntervalMs: 0 }).start();
// Polled: this process only waits to be told it may start, and the writer measures nothing yet.
while (!transport.peers().includes('primary')) await sleep(10);
process.send?.('ready');
process.on('disconnect', () => process.exit(0));
