/**
 * Discovery end to end: members whose only seeds are `dnsSeeds` against a local DNS server
 * (spec/helpers/dns-server.ts) form a cluster of maps, find a member that appears in DNS later,
 * and stop dialling one that vanished from DNS. Every wait is for an event: a map's
 * `memberAdded`, or a member's own DNS lookup (counted by wrapping its seeds function).
 */
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { LazyReplicatedMap, SeedUnreachableError, dnsSeeds, type TcpTransport } from '../../../lib/index.js';
import { within } from '../../helpers/deadline.js';
import { TestDnsServer } from '../../helpers/dns-server.js';
import { once } from '../../helpers/events.js';
import { EVENT_MS, member, stopAllMembers } from './tcp-helpers.js';

const SRV = '_lrm._tcp.sessions.test';

/** One member: its transport seeded only from DNS, its map, its lookups and its errors. */
interface DnsMember {
  id: string;
  transport: TcpTransport;
  map: LazyReplicatedMap<string, string>;
  /** Emits 'lookup' (seeds: string[]) after each answer of its seeds function. */
  lookups: EventEmitter;
  errors: Error[];
}

describe('discovery through DNS (dnsSeeds)', () => {
  let dns: TestDnsServer;
  const maps: Array<LazyReplicatedMap<string, string>> = [];

  beforeEach(async () => {
    dns = await new TestDnsServer().start();
  });
  afterEach(async () => {
    await Promise.all(maps.splice(0).map((m) => m.stop({ discard: true })));
    await stopAllMembers();
    await dns.stop();
  });

  /** A member listening (so its port is known), with its SRV record published. Its map is not started. */
  async function listening(id: string): Promise<DnsMember> {
    const source = dnsSeeds({ srv: SRV }, { servers: [dns.server], timeoutMs: 1000 });
    const lookups = new EventEmitter();
    const transport = member(id, {
      maxReconnectDelayMs: 100,
      // Wrapped only to count: the spec waits for a member's own lookups instead of for time.
      seeds: async () => {
        const seeds = await source();
        lookups.emit('lookup', seeds);
        return seeds;
      },
    });
    const errors: Error[] = [];
    transport.on('error', (e) => errors.push(e));
    await transport.start();
    publish(id, transport.address);
    const map = new LazyReplicatedMap<string, string>({ name: 'sessions', transport, backups: 1, rpcTimeoutMs: 2000 });
    maps.push(map);
    return { id, transport, map, lookups, errors };
  }

  /** Adds a member's SRV record (a pod becoming ready behind a headless Service). */
  function publish(id: string, address: string): void {
    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    dns.a.set(`${id}.sessions.test`, ['127.0.0.1']);
    dns.srv.set(SRV, [...(dns.srv.get(SRV) ?? []).filter((t) => t.name !== `${id}.sessions.test`), { name: `${id}.sessions.test`, port }]);
  }

  /** Removes a member's SRV record. */
  function unpublish(id: string): void {
    dns.srv.set(SRV, (dns.srv.get(SRV) ?? []).filter((t) => t.name !== `${id}.sessions.test`));
  }

  /** Resolves once `m` has done `n` more lookups whose answer satisfies `check`. */
  function lookupsOf(m: DnsMember, n: number, check: (seeds: string[]) => boolean): Promise<void> {
    return new Promise((resolve) => {
      let seen = 0;
      const listener = (seeds: string[]): void => {
        if (!check(seeds) || ++seen < n) return;
        m.lookups.off('lookup', listener);
        resolve();
      };
      m.lookups.on('lookup', listener);
    });
  }

  /** Starts the maps of `joining` and resolves once every member of `all` has every other as a map member. */
  async function formed(all: DnsMember[], joining: DnsMember[]): Promise<void> {
    const ids = all.map((m) => m.id).sort();
    const seen = all.map((m) =>
      Promise.all(
        all
          .filter((o) => o !== m && !(m.map.members().includes(o.id)))
          .map((o) => once<[string]>(m.map, 'memberAdded', (id) => id === o.id)),
      ),
    );
    await Promise.all(joining.map((m) => m.map.start()));
    await within(Promise.all(seen), EVENT_MS, `members ${ids.join(', ')} to see each other`);
    for (const m of all) expect(m.map.members(), `members seen by '${m.id}'`).to.deep.equal(ids);
  }

  it('forms a cluster of maps from SRV records only, and a member added to DNS later is found and joins', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => listening(id))) as [DnsMember, DnsMember, DnsMember];
    await formed([a, b, c], [a, b, c]);
    await a.map.set('k', 'v');

    const d = await listening('d');
    await formed([a, b, c, d], [d]);
    // d joined with the cluster's keys, and the others found it through DNS as well as by gossip.
    expect(await d.map.get('k', { promote: false })).to.equal('v');
    for (const m of [a, b, c, d]) expect(m.transport.peers()).to.have.length(3);
  });

  it('stops dialling a member that vanished from DNS and left', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => listening(id))) as [DnsMember, DnsMember, DnsMember];
    await formed([a, b, c], [a, b, c]);
    const gone = c.transport.address;
    const survivors = [a, b];

    // c is removed from DNS first (a pod being terminated leaves the endpoints), then stops.
    const withoutC = survivors.map((m) => lookupsOf(m, 1, (seeds) => !seeds.includes(gone)));
    unpublish('c');
    await within(Promise.all(withoutC), EVENT_MS, 'the survivors to look up DNS without c');
    const downs = survivors.map((m) => once<[string]>(m.map, 'memberDisappeared', (id) => id === 'c'));
    await c.map.stop();
    await c.transport.stop();
    await within(Promise.all(downs), EVENT_MS, 'the survivors to see c leave');

    // Several attempts later (each asks DNS once), nobody has tried c's closed port: a dial there
    // would be refused and reported as a SeedUnreachableError naming it.
    const reconnects = survivors.map((m) => m.transport.stats().reconnects);
    await within(Promise.all(survivors.map((m) => lookupsOf(m, 5, () => true))), EVENT_MS, 'five more lookups on each survivor');
    for (const [i, m] of survivors.entries()) {
      expect(m.errors.filter((e) => e instanceof SeedUnreachableError && e.message.includes(gone)), `dials of c by '${m.id}'`).to.deep.equal([]);
      expect(m.transport.stats().reconnects, `reconnects by '${m.id}'`).to.equal(reconnects[i]);
      expect(m.map.members()).to.deep.equal(['a', 'b']);
    }
  });
});
