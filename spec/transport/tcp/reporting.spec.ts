import { expect } from 'chai';
import { createServer, get, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { AddressInUseError, HandshakeError, InMemoryNetwork, LazyReplicatedMap, SeedUnreachableError } from '../../../lib/index.js';
import { REPEAT_REPORT_INTERVAL_MS } from '../../../lib/transport/tcp/report-limiter.js';
import { waitFor, within } from '../../helpers/deadline.js';
import { once, record, rejection } from '../../helpers/events.js';
import { EVENT_MS, FakeClock, member, stopAllMembers, type ErrorArgs } from './tcp-helpers.js';

/** An address nobody listens on (a port just freed). */
async function deadAddress(): Promise<string> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => { resolve(); }));
  return `127.0.0.1:${port}`;
}

describe('TcpTransport reports', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await stopAllMembers();
    for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => { resolve(); }));
  });

  async function httpServer(): Promise<string> {
    const server = createServer((_req, res) => res.end('hello'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('names a seed that is an HTTP server: its address, that it is no member, and the option to check', async () => {
    const http = await httpServer();
    const a = member('a', { seeds: [http] });
    const reported = once<ErrorArgs>(a, 'error');
    await a.start();
    const [error] = await within(reported, EVENT_MS, 'the report of the HTTP seed');
    expect(error).to.be.instanceOf(HandshakeError);
    expect(error).to.have.property('peer', http);
    expect(error.message).to.include(`what answers at ${http} is not a lazy-replicated-map member`).and.include('(HTTP)').and.include('HTTP/1.1 400').and.include('`seeds`');
    expect(error.message).to.not.include('1213486159');
    expect(a.stats().handshakeFailures.malformed).to.be.greaterThan(0);
  });

  it('names an HTTP client that connects to a member', async () => {
    const a = member('a');
    await a.start();
    const reported = once<ErrorArgs>(a, 'error');
    const request = get(`http://${a.address}/`);
    request.on('error', () => undefined);
    const [error] = await within(reported, EVENT_MS, 'the report of the HTTP client');
    request.destroy();
    expect(error).to.be.instanceOf(HandshakeError);
    expect(error.message).to.match(/^a client at 127\.0\.0\.1:\d+ is not a lazy-replicated-map member: it speaks another protocol \(HTTP\): it sent "GET \/ HTTP\/1\.1"/);
  });

  it('rejects start() with an AddressInUseError naming the address and the port option when the port is taken', async () => {
    const a = member('a');
    await a.start();
    const port = Number(a.address.split(':')[1]);
    const b = member('b', { port });
    const error = await rejection(b.start());
    expect(error).to.be.instanceOf(AddressInUseError);
    expect((error as AddressInUseError).address).to.equal(`127.0.0.1:${port}`);
    expect((error as Error).message).to.include(`127.0.0.1:${port}`).and.include('`port`').and.include('EADDRINUSE');
    expect((error as Error).cause).to.have.property('code', 'EADDRINUSE');
  });

  it('reports a dead seed once, retries with backoff, and reports it again a minute later with the count held back', async () => {
    const dead = await deadAddress();
    const clock = new FakeClock();
    const a = member('a', { seeds: [dead], clock, maxReconnectDelayMs: 1000 });
    const errors = record<ErrorArgs>(a, 'error');
    await a.start();
    // Refused at once, or (when the fake clock jumps past a dial in progress) timed out.
    const failures = (): number => a.stats().handshakeFailures.closed + a.stats().handshakeFailures.timeout;
    const attempt = async (n: number): Promise<void> => {
      // Time enough for the backoff (at most maxReconnectDelayMs) to let the next dial go.
      clock.advance(1000);
      await waitFor(() => failures() >= n, { what: `failed attempt ${n}`, detail: () => JSON.stringify(a.stats()) });
    };
    await attempt(1);
    await waitFor(() => errors.events.length === 1, { what: 'the first report' });
    for (let n = 2; n <= 6; n++) await attempt(n);
    expect(errors.events).to.have.length(1);
    expect(a.stats().reconnects).to.equal(5);
    const before = failures();
    clock.advance(REPEAT_REPORT_INTERVAL_MS);
    // The dials keep failing (one more per retry) until one fails after the minute.
    await waitFor(
      () => {
        if (errors.events.length < 2) clock.advance(1000);
        return errors.events.length === 2;
      },
      { what: 'the second report', detail: () => JSON.stringify(a.stats()) },
    );
    expect(failures()).to.be.greaterThan(before);
    const [first, second] = errors.events.map(([e]) => e);
    expect(first).to.be.instanceOf(SeedUnreachableError);
    expect(second).to.be.instanceOf(SeedUnreachableError);
    expect(first!.message).to.not.include('more like it');
    expect(second!.message).to.match(new RegExp(`\\[\\d+ more like it from ${dead.replace(/\./g, '\\.')} in the last 60 s were not reported\\]`));
  });

  it("reports a transport's fault once: on the transport, not again on the maps over it", async () => {
    const net = new InMemoryNetwork();
    const ta = net.transport('a');
    const tb = net.transport('b', { maxFrameBytes: 64 });
    const maps = [new LazyReplicatedMap({ name: 'one', transport: tb }), new LazyReplicatedMap({ name: 'two', transport: tb })];
    const other = new LazyReplicatedMap({ name: 'one', transport: ta });
    await Promise.all([other.start(), ...maps.map((m) => m.start())]);
    await net.settled();
    const onTransport = record<ErrorArgs>(tb, 'error');
    const onMaps = maps.map((m) => record<ErrorArgs>(m, 'error'));
    await ta.send('b', new Uint8Array(100));
    await net.settled();
    expect(onTransport.events).to.have.length(1);
    expect(onMaps.map((r) => r.events)).to.deep.equal([[], []]);
    for (const m of [...maps, other]) await m.stop({ discard: true });
  });
});
