/**
 * One member of the demo cluster, as its own OS process: a TcpTransport on 127.0.0.1 and a
 * LazyReplicatedMap named 'sessions', driven by its parent over IPC.
 *
 * Started by examples/demo.ts with: MEMBER_ID=a SEEDS=127.0.0.1:4000 CLUSTER_SECRET=... (env).
 */
import { LazyReplicatedMap, TcpTransport } from '../lib/index.js';

/** A request from the parent. */
export type MemberRequest =
  | { id: number; cmd: 'set'; key: string; value: unknown }
  | { id: number; cmd: 'get'; key: string; promote: boolean }
  | { id: number; cmd: 'info'; keys: string[] }
  | { id: number; cmd: 'members'; atLeast: number }
  | { id: number; cmd: 'stop' };

/** What a member tells its parent. */
export type MemberMessage =
  | { type: 'ready'; id: string; address: string }
  | { type: 'reply'; id: number; result?: unknown; error?: string }
  | { type: 'event'; event: 'memberAdded' | 'memberDisappeared' | 'promoted'; subject: string };

const id = process.env['MEMBER_ID'] ?? 'member';
const seeds = (process.env['SEEDS'] ?? '').split(',').filter((s) => s.length > 0);
const send = (m: MemberMessage): void => {
  // After the parent disconnects there is nobody to tell (and sending would throw).
  if (process.connected) process.send?.(m);
};

const transport = new TcpTransport({
  id,
  host: '127.0.0.1',
  port: 0,
  seeds,
  ...(process.env['CLUSTER_SECRET'] === undefined ? {} : { secret: process.env['CLUSTER_SECRET'] }),
  heartbeatIntervalMs: 200,
  failureTimeoutMs: 1000,
});
const map = new LazyReplicatedMap<string, unknown>({ name: 'sessions', transport, backups: 1, rpcTimeoutMs: 2000 });
map.on('memberAdded', (m) => {
  send({ type: 'event', event: 'memberAdded', subject: m });
});
map.on('memberDisappeared', (m) => {
  send({ type: 'event', event: 'memberDisappeared', subject: m });
});
map.on('promoted', (key) => {
  send({ type: 'event', event: 'promoted', subject: key });
});
// Each fault is reported once, where it happened: the transport's (handshakes, seeds) on the
// transport, the map's on the map (docs/observability.md).
transport.on('error', (error) => {
  console.error(`[${id}] transport: ${error.message}`);
});
map.on('error', (error) => {
  console.error(`[${id}] ${error.message}`);
});

await map.start();
send({ type: 'ready', id, address: transport.address });

/**
 * The members once there are at least `n`. The check and the listener are set up in one turn,
 * so a member that arrived before the request is seen by the check, and one after by the listener.
 */
function membersAtLeast(n: number): Promise<string[]> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (map.members().length < n) return;
      map.off('memberAdded', check);
      resolve(map.members());
    };
    map.on('memberAdded', check);
    check();
  });
}

process.on('message', (raw) => {
  const req = raw as MemberRequest;
  void (async () => {
    try {
      let result: unknown;
      switch (req.cmd) {
        case 'set':
          await map.set(req.key, req.value);
          break;
        case 'get':
          result = await map.get(req.key, { promote: req.promote });
          break;
        case 'info':
          result = Object.fromEntries(req.keys.map((k) => [k, map.entryInfo(k) ?? null]));
          break;
        case 'members':
          result = await membersAtLeast(req.atLeast);
          break;
        case 'stop':
          // The demo ends by stopping every member: the last ones drop what they hold knowingly
          // instead of waiting stopWaitMs for a successor (a member that stays still gets it all).
          await map.stop({ discard: true });
          await transport.stop();
          break;
      }
      send({ type: 'reply', id: req.id, result });
      if (req.cmd === 'stop') process.disconnect();
    } catch (error) {
      send({ type: 'reply', id: req.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    }
  })();
});
// The parent went away: so does this member.
process.on('disconnect', () => {
  // A graceful hand-over if it can be had quickly; an orphan never outlives its parent for long.
  setTimeout(() => process.exit(1), 3000).unref();
  void map.stop({ discard: true }).finally(() => process.exit(0));
});
