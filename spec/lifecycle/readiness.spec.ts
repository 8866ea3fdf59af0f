/**
 * readinessProbe behind a real HTTP server (127.0.0.1, ephemeral port): 503 while the map joins,
 * 200 once it joined, 503 again from the moment it stops.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { InMemoryNetwork, LazyReplicatedMap, readinessProbe } from '../../lib/index.js';

async function probeAnswer(server: Server): Promise<{ status: number; body: string }> {
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: await res.text() };
}

describe('readinessProbe', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => {
      if (server === undefined) resolve();
      else server.close(() => { resolve(); });
    });
    server = undefined;
  });

  it('answers 503 naming the map until it joined, 200 once joined, and 503 from the moment it stops', async () => {
    const net = new InMemoryNetwork({ seed: 1 });
    const a = new LazyReplicatedMap<string, number>({ name: 'sessions', transport: net.transport('a') });
    const probe = readinessProbe([a]);
    server = createServer((req, res) => {
      probe(req, res);
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    expect(await probeAnswer(server)).to.deep.equal({ status: 503, body: 'not ready: sessions\n' });
    await a.start();
    expect(await probeAnswer(server)).to.deep.equal({ status: 200, body: 'ready\n' });
    const stopping = a.stop();
    expect(a.isReady).to.equal(false);
    await stopping;
    expect((await probeAnswer(server)).status).to.equal(503);
  });
});
