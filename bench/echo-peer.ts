/**
 * The floor of a replicated write between two Node processes: a peer that answers every
 * length-prefixed message with a 20-byte acknowledgement, and nothing else (no library code).
 * Forked by `nodeRoundTrip` in tcp.ts; prints its port on IPC.
 *
 * @module
 */
import { createServer } from 'node:net';

const ACK = Buffer.alloc(24, 1);
ACK.writeUInt32BE(20, 0);

const server = createServer((socket) => {
  socket.setNoDelay(true);
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let acks = 0;
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
      pending = pending.subarray(4 + pending.readUInt32BE(0));
      acks++;
    }
    // One write per read, as a member's corked replies are.
    if (acks > 0) socket.write(acks === 1 ? ACK : Buffer.concat(Array.from({ length: acks }, () => ACK)));
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.(typeof address === 'object' && address !== null ? address.port : 0);
});
process.on('disconnect', () => {
  process.exit(0);
});
