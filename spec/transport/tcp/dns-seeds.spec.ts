import { expect } from 'chai';
import { DiscoveryError, dnsSeeds } from '../../../lib/index.js';
import { TestDnsServer } from '../../helpers/dns-server.js';
import { rejection, thrown } from '../../helpers/events.js';

describe('dnsSeeds', () => {
  let dns: TestDnsServer;
  beforeEach(async () => {
    dns = await new TestDnsServer().start();
  });
  afterEach(async () => {
    await dns.stop();
  });

  it('answers every A and AAAA address of a name at the fixed port, IPv6 in brackets', async () => {
    dns.a.set('members.test', ['127.0.0.2', '127.0.0.1']);
    dns.aaaa.set('members.test', ['::1']);
    const seeds = dnsSeeds({ host: 'members.test', port: 4000 }, { servers: [dns.server] });
    expect(await seeds()).to.deep.equal(['127.0.0.1:4000', '127.0.0.2:4000', '[::1]:4000']);
  });

  it('answers each SRV target resolved through the same servers, with the port of its record', async () => {
    dns.srv.set('_lrm._tcp.sessions.test', [{ name: 'pod-0.sessions.test', port: 4100 }, { name: 'pod-1.sessions.test', port: 4101 }]);
    dns.a.set('pod-0.sessions.test', ['127.0.0.10']);
    dns.a.set('pod-1.sessions.test', ['127.0.0.11']);
    const seeds = dnsSeeds({ srv: '_lrm._tcp.sessions.test' }, { servers: [dns.server] });
    expect(await seeds()).to.deep.equal(['127.0.0.10:4100', '127.0.0.11:4101']);
  });

  it('keeps an SRV target as a name when it has no address record', async () => {
    dns.srv.set('_lrm._tcp.named.test', [{ name: 'elsewhere.example', port: 4000 }]);
    const seeds = dnsSeeds({ srv: '_lrm._tcp.named.test' }, { servers: [dns.server] });
    expect(await seeds()).to.deep.equal(['elsewhere.example:4000']);
  });

  it('asks again on every call, so members that appear later are found and vanished ones dropped', async () => {
    dns.a.set('members.test', ['127.0.0.1']);
    const seeds = dnsSeeds({ host: 'members.test', port: 4000 }, { servers: [dns.server] });
    expect(await seeds()).to.deep.equal(['127.0.0.1:4000']);
    dns.a.set('members.test', ['127.0.0.2', '127.0.0.3']);
    expect(await seeds()).to.deep.equal(['127.0.0.2:4000', '127.0.0.3:4000']);
    expect(dns.asked.filter((q) => q === 'A members.test')).to.have.length(2);
  });

  it('rejects with a DiscoveryError naming the query and the servers when DNS knows nothing', async () => {
    const seeds = dnsSeeds({ srv: '_lrm._tcp.missing.test' }, { servers: [dns.server] });
    const error = await rejection(seeds());
    expect(error).to.be.instanceOf(DiscoveryError);
    expect((error as Error).message).to.include('_lrm._tcp.missing.test').and.include(dns.server);
    const byHost = await rejection(dnsSeeds({ host: 'missing.test', port: 4000 }, { servers: [dns.server] })());
    expect(byHost).to.be.instanceOf(DiscoveryError);
    expect((byHost as Error).message).to.include("'missing.test'");
  });

  it('refuses a query without a name, and ports and timeouts out of range, with errors naming the option', () => {
    expect(thrown(() => dnsSeeds({} as never))).to.be.instanceOf(TypeError);
    for (const port of [0, -1, 65_536, Number.NaN, 1.5]) {
      const error = thrown(() => dnsSeeds({ host: 'x', port }));
      expect(error).to.be.instanceOf(RangeError);
      expect((error as Error).message).to.include('`port`');
    }
    expect((thrown(() => dnsSeeds({ host: 'x', port: 1 }, { timeoutMs: 0 })) as Error).message).to.include('`timeoutMs`');
    expect((thrown(() => dnsSeeds({ host: 'x', port: 1 }, { tries: 0 })) as Error).message).to.include('`tries`');
  });
});
