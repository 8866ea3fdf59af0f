/**
 * A three-member cluster in one process, on the in-memory network: a write, the roles it
 * creates, a member killed without warning, and the survivors serving every value.
 *
 * Run: npm run demo
 */
import { InMemoryNetwork, LazyReplicatedMap } from '../lib/index.js';

interface Session {
  user: string;
  cart: string[];
}

const say = (line = ''): void => {
  console.log(line);
};

function table(maps: LazyReplicatedMap<string, Session>[], keys: string[]): void {
  const live = maps.filter((m) => m.state === 'running');
  const width = 12;
  say(['key'.padEnd(width), ...live.map((m) => `member ${m.id}`.padEnd(width))].join(' '));
  for (const key of keys) {
    const cells = live.map((m) => (m.entryInfo(key)?.role ?? '-').padEnd(width));
    say([key.padEnd(width), ...cells].join(' '));
  }
  say();
}

const net = new InMemoryNetwork({ seed: 7 });
const ids = ['a', 'b', 'c'];
const maps = ids.map((id) => new LazyReplicatedMap<string, Session>({ name: 'sessions', transport: net.transport(id), backups: 1 }));
await Promise.all(maps.map((m) => m.start()));
await net.settled();
const [a, b, c] = maps as [LazyReplicatedMap<string, Session>, LazyReplicatedMap<string, Session>, LazyReplicatedMap<string, Session>];
say(`Three members started: ${a.members().join(', ')}. Each entry gets one primary, one backup, and proxies elsewhere.`);
say();

await a.set('s-ada', { user: 'ada', cart: ['book'] });
await a.set('s-alan', { user: 'alan', cart: [] });
await b.set('s-grace', { user: 'grace', cart: ['compiler', 'moth'] });
await c.set('s-edsger', { user: 'edsger', cart: ['goto (considered harmful)'] });
await net.settled();
const keys = ['s-ada', 's-alan', 's-grace', 's-edsger'];
say('Wrote four sessions (each set resolved once its backup acknowledged). Who holds what:');
table(maps, keys);

const before = net.stats().messages;
await a.get('s-ada');
say(`a reads s-ada, which it owns: ${net.stats().messages - before} messages sent.`);
const fetched = await c.get('s-ada');
await net.settled();
say(`c reads s-ada through its proxy: fetched ${JSON.stringify(fetched)} from a holder, and c is now its primary.`);
table(maps, keys);

const victim = 'c';
say(`Killing member ${victim} without warning (it owns s-ada and s-edsger now).`);
net.crash(victim);
await net.settled();
say(`Survivors: ${a.members().join(', ')}. Backups took over and chose new backups:`);
table(maps, keys);

for (const key of keys) {
  const fromA = await a.get(key, { promote: false });
  const fromB = await b.get(key, { promote: false });
  say(`  ${key.padEnd(10)} on a: ${JSON.stringify(fromA)}   on b: ${JSON.stringify(fromB)}`);
}
say();
say('Every acknowledged write survived the loss of a member. No external store was involved.');

// The demo is over: both go at once, dropping what they hold knowingly (no wait for a successor).
await Promise.all([a.stop({ discard: true }), b.stop({ discard: true })]);
