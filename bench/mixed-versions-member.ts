/**
 * One member of scripts/mixed-versions.sh: a TcpTransport and a LazyReplicatedMap built from the
 * library checkout named by LRM_ROOT (this one, or a git worktree of an older commit), so that
 * two builds can run in one cluster. Prints every 'error' it hears and how `start()` ended; a
 * member that started writes KEYS keys and prints `ready <address>`, then runs until SIGTERM.
 *
 *   LRM_ROOT=/path/to/checkout ID=old SEEDS=127.0.0.1:4000 KEYS=300 npx tsx bench/mixed-versions-member.ts
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type Lib = typeof import('../lib/index.js');

const root = resolve(process.env.LRM_ROOT ?? '.');
const id = process.env.ID ?? 'member';
const seeds = (process.env.SEEDS ?? '').split(',').filter((s) => s !== '');
const keys = Number(process.env.KEYS ?? '0');

const lib = (await import(pathToFileURL(resolve(root, 'lib/index.ts')).href)) as Lib;
const tag = `[${id} protocol v${lib.PROTOCOL_VERSION}]`;
const say = (line: string): void => {
  process.stdout.write(`${tag} ${line}\n`);
};

const transport = new lib.TcpTransport({ id, host: '127.0.0.1', port: 0, seeds });
const map = new lib.LazyReplicatedMap<string, number>({ name: 'mixed', transport, rpcTimeoutMs: 3000 });
// One listener on each: the map passes the transport's errors on, so count where each came from.
transport.on('error', (e: Error) => {
  say(`transport error ${e.name}: ${e.message}`);
});
map.on('error', (e: Error) => {
  say(`map error ${e.name}: ${e.message}`);
});

try {
  await map.start();
  say(`start() resolved; members ${JSON.stringify(map.members())}, keys known ${map.size}`);
} catch (error) {
  const e = error as Error;
  say(`start() rejected with ${e.name}: ${e.message}`);
  process.exit(2);
}
for (let i = 0; i < keys; i++) await map.set(`k${i}`, i);
say(`ready ${transport.address}`);
process.on('SIGTERM', () => {
  say(`stopping; members ${JSON.stringify(map.members())}, keys known ${map.size}`);
  void map.stop().finally(() => process.exit(0));
});
