/**
 * TcpTransport misconfigured: every mistake is loud and specific. Bad options throw at
 * construction naming the option; a refused secret or a duplicate id is a typed error on both
 * sides, naming the peer and the option to change; an unreachable or malformed seed is reported;
 * with nobody listening for `'error'` the report becomes a process warning; and `mustJoin` makes
 * `start()` fail instead of running alone.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { expect } from 'chai';
import {
  AuthenticationError,
  ClusterMismatchError,
  DuplicateIdError,
  HandshakeTimeout,
  IncompatibleProtocolError,
  InvalidSeedError,
  JoinTimeoutError,
  LazyReplicatedMap,
  LazyReplicatedMapError,
  PROTOCOL_VERSION,
  SeedUnreachableError,
  TcpTransport,
  TransportStoppedError,
  type TcpTransportOptions,
} from '../../../lib/index.js';
import { simulateProtocolVersion } from '../../../lib/rpc/channel-router.js';
import { within } from '../../helpers/deadline.js';
import { once, rejection } from '../../helpers/events.js';
import { EVENT_MS, FakeClock, addressesOf, connected, created, member, stopAllMembers, type ErrorArgs } from './tcp-helpers.js';
import { destroyAllRaw } from './raw-peer.js';

/** What `fn` throws (fails the test when it returns). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

/** The port a transport bound (its `address` may be an advertised one). */
function boundPort(t: TcpTransport): number {
  return (t as unknown as { server: { address(): AddressInfo } }).server.address().port;
}

/** An address nobody listens on: a port that was free a moment ago. */
async function deadAddress(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => { resolve(); }));
  return `127.0.0.1:${port}`;
}

describe('TcpTransport misconfigured', () => {
  const maps: Array<LazyReplicatedMap<string>> = [];
  afterEach(async () => {
    for (const m of maps.splice(0)) await m.stop().catch(() => undefined);
    await stopAllMembers();
    await destroyAllRaw();
  });

  /** A map on `transport`, remembered for the teardown; its errors are collected, never thrown. */
  function mapOn(transport: TcpTransport, options: { mustJoin?: boolean; joinTimeoutMs?: number } = {}): LazyReplicatedMap<string> {
    const map = new LazyReplicatedMap<string, unknown>({ name: 'm', transport, rpcTimeoutMs: 3000, ...options });
    map.on('error', () => undefined);
    maps.push(map);
    return map;
  }

  describe('options checked by the constructor', () => {
    for (const seed of ['127.0.0.1:undefined', 'http://x', 'http://x:80', 'host', '127.0.0.1:0', '127.0.0.1:70000', ':4000', '']) {
      it(`throws a RangeError naming \`seeds\` for the seed '${seed}'`, () => {
        const error = thrown(() => new TcpTransport({ id: 'a', seeds: [seed] }));
        expect(error).to.be.instanceOf(RangeError);
        expect(error.message).to.include('`seeds`').and.include(`'${seed}'`).and.include('host:port');
      });
    }

    it('throws a TypeError naming `seeds` for a seed that is not a string', () => {
      const error = thrown(() => new TcpTransport({ id: 'a', seeds: [4000 as unknown as string] }));
      expect(error).to.be.instanceOf(TypeError);
      expect(error.message).to.include('`seeds`');
    });

    it('accepts host names, IPv4 and bracketed IPv6 seeds', () => {
      expect(() => new TcpTransport({ id: 'a', seeds: ['sessions-0.sessions:4000', '10.0.0.1:1', '[::1]:65535'] })).not.to.throw();
    });

    const positive: Array<keyof TcpTransportOptions> = [
      'heartbeatIntervalMs',
      'failureTimeoutMs',
      'handshakeTimeoutMs',
      'maxReconnectDelayMs',
      'forgetAfterMs',
      'joinTimeoutMs',
      'maxFrameBytes',
      'maxQueueBytes',
      'maxPendingConnections',
    ];
    for (const option of positive) {
      for (const value of [0, -1, NaN, Infinity]) {
        it(`throws a RangeError naming \`${option}\` for ${value}`, () => {
          const error = thrown(() => new TcpTransport({ id: 'a', [option]: value }));
          expect(error).to.be.instanceOf(RangeError);
          expect(error.message).to.include(`\`${option}\``);
        });
      }
    }
    for (const option of ['maxFrameBytes', 'maxQueueBytes', 'maxPendingConnections'] as const) {
      it(`throws a RangeError naming \`${option}\` for a fraction`, () => {
        expect(thrown(() => new TcpTransport({ id: 'a', [option]: 1.5 })).message).to.include(`\`${option}\``);
      });
    }
    for (const port of [-1, 1.5, 65536, NaN]) {
      it(`throws a RangeError naming \`port\` for ${port}`, () => {
        const error = thrown(() => new TcpTransport({ id: 'a', port }));
        expect(error).to.be.instanceOf(RangeError);
        expect(error.message).to.include('`port`');
      });
    }

    it('throws a RangeError when failureTimeoutMs is less than twice heartbeatIntervalMs', () => {
      const error = thrown(() => new TcpTransport({ id: 'a', heartbeatIntervalMs: 600, failureTimeoutMs: 1000 }));
      expect(error).to.be.instanceOf(RangeError);
      expect(error.message).to.include('`failureTimeoutMs`').and.include('`heartbeatIntervalMs`');
    });

    it('throws a TypeError for a missing id', () => {
      expect(thrown(() => new TcpTransport({} as TcpTransportOptions))).to.be.instanceOf(TypeError);
    });
  });

  describe('the secret', () => {
    it('reports an AuthenticationError on both sides when one member has no secret, naming the peer and the option', async () => {
      const a = member('a', { secret: 's3cret' });
      await a.start();
      const b = member('b', { seeds: [a.address] });
      const aRefused = once<ErrorArgs>(a, 'error', (e) => e instanceof AuthenticationError);
      const bRefused = once<ErrorArgs>(b, 'error', (e) => e instanceof AuthenticationError);
      await b.start();
      const [[aError], [bError]] = await within(Promise.all([aRefused, bRefused]), EVENT_MS, 'AuthenticationErrors on both sides');
      // b dialled a: b checked a's proof first and refused it, so a hears of it through the refusal.
      expect(bError.message).to.match(new RegExp(`member 'a' at ${a.address} does not know the cluster secret`));
      expect(bError.message).to.include('this member has no `secret` option set');
      expect(aError.message).to.match(/member 'b' at 127\.0\.0\.1:\d+ does not know the cluster secret/);
      expect(aError.message).to.include('it has no `secret` option set');
      for (const e of [aError, bError]) expect(e.message).to.include('give every member the same `secret` option');
      expect(bError).to.have.property('peer').that.equals(`member 'a' at ${a.address}`);
      expect(a.stats().handshakeFailures.secret).to.equal(1);
      expect(b.stats().handshakeFailures.secret).to.equal(1);
      expect(a.peers()).to.deep.equal([]);
    });
  });

  describe('ids', () => {
    it('reports a DuplicateIdError on both sides for a second member with a live id, naming the option', async () => {
      const a = member('a');
      const first = member('dup', { seeds: addressesOf(a) });
      await connected(a, first);
      const second = member('dup', { seeds: addressesOf(a) });
      const aRefused = once<ErrorArgs>(a, 'error', (e) => e instanceof DuplicateIdError);
      const secondRefused = once<ErrorArgs>(second, 'error', (e) => e instanceof DuplicateIdError);
      await second.start();
      const [[aError], [secondError]] = await within(Promise.all([aRefused, secondRefused]), EVENT_MS, 'DuplicateIdErrors on both sides');
      expect(aError.message).to.match(/^refused member 'dup' at 127\.0\.0\.1:\d+: id 'dup' is already used by a live member at .*; give every member its own `id` option$/);
      expect(secondError.message).to.match(new RegExp(`^refused by the member at ${a.address}: id 'dup' is already used .*; give every member its own \`id\` option$`));
      expect(a.stats().handshakeFailures.id).to.equal(1);
    });
  });

  describe('seeds', () => {
    it('reports an unreachable seed once as a SeedUnreachableError with the socket error as its cause', async () => {
      const dead = await deadAddress();
      const a = member('a', { seeds: [dead] });
      const reported = once<ErrorArgs>(a, 'error');
      await a.start();
      const [error] = await within(reported, EVENT_MS, 'the SeedUnreachableError');
      expect(error).to.be.instanceOf(SeedUnreachableError);
      expect(error).to.have.property('seed').that.equals(dead);
      expect(error.message).to.include(`seed '${dead}' cannot be reached`).and.include('`seeds`');
      expect((error.cause as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
    });

    it('reports a seed that accepts but never completes the handshake as a SeedUnreachableError caused by a HandshakeTimeout', async () => {
      // Accepts connections and answers nothing: the member's Hello meets silence.
      const silent = createServer();
      const sockets: Socket[] = [];
      const heard = new Promise<void>((resolve) => {
        silent.on('connection', (socket) => {
          sockets.push(socket);
          socket.once('data', () => {
            resolve();
          });
        });
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const seed = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
        const clock = new FakeClock();
        const a = member('a', { seeds: [seed], clock, handshakeTimeoutMs: 1000 });
        const reported = once<ErrorArgs>(a, 'error');
        await a.start();
        await within(heard, EVENT_MS, "a's Hello to reach the silent seed");
        clock.advance(1000 + clock.period);
        const [error] = await within(reported, EVENT_MS, 'the SeedUnreachableError');
        expect(error).to.be.instanceOf(SeedUnreachableError);
        expect(error.cause, 'the class the package exports').to.be.instanceOf(HandshakeTimeout);
        expect(error.cause).to.not.be.instanceOf(LazyReplicatedMapError);
        expect((error.cause as Error).name).to.equal('HandshakeTimeout');
        expect((error.cause as Error).message).to.include('handshakeTimeoutMs');
        expect(a.stats().handshakeFailures.timeout).to.equal(1);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => silent.close(() => { resolve(); }));
      }
    });

    it('reports a malformed entry of a seeds function as an InvalidSeedError, once, and uses the others', async () => {
      const a = member('a');
      await a.start();
      const errors: Error[] = [];
      const b = member('b', { seeds: () => ['127.0.0.1:undefined', a.address] });
      b.on('error', (e) => errors.push(e));
      const up = once(b, 'peerUp');
      await b.start();
      await within(up, EVENT_MS, 'b to reach a through the good seed');
      await within(b.joined(), EVENT_MS, 'b to finish joining');
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(InvalidSeedError);
      expect(errors[0]?.message).to.include("'127.0.0.1:undefined'").and.include('`seeds`');
    });

    it('reports a seeds function that rejects as an InvalidSeedError with the rejection as its cause', async () => {
      const failure = new Error('DNS is down');
      const a = member('a', { seeds: () => Promise.reject(failure) });
      const reported = once<ErrorArgs>(a, 'error');
      await a.start();
      const [error] = await within(reported, EVENT_MS, 'the InvalidSeedError');
      expect(error).to.be.instanceOf(InvalidSeedError);
      expect(error.cause).to.equal(failure);
    });

    it('uses seeds from an asynchronous function', async () => {
      const a = member('a');
      await a.start();
      const b = member('b', { seeds: () => Promise.resolve([a.address]) });
      const up = once(b, 'peerUp');
      await b.start();
      await within(up, EVENT_MS, 'b to reach a');
      expect(b.peers()).to.deep.equal(['a']);
    });

    it('turns a report nobody listens for into a process warning', async () => {
      const dead = await deadAddress();
      const warned = new Promise<Error>((resolve) => {
        const listener = (warning: Error): void => {
          if (warning instanceof SeedUnreachableError) {
            process.off('warning', listener);
            resolve(warning);
          }
        };
        process.on('warning', listener);
      });
      const a = member('a', { seeds: [dead] });
      await a.start();
      expect((await within(warned, EVENT_MS, 'the process warning')).message).to.include(dead);
    });
  });

  describe("map.start() fails fast on what waiting cannot fix", () => {
    it('rejects with an AuthenticationError when the only seed refuses the secret, and stops the transport', async () => {
      const a = member('a', { secret: 's3cret' });
      await mapOn(a).start();
      const b = member('b', { seeds: [a.address], secret: 'wrong' });
      b.on('error', () => undefined);
      const error = await within(rejection(mapOn(b).start()), EVENT_MS, "b's start() to reject");
      expect(error).to.be.instanceOf(AuthenticationError);
      expect((error as Error).message).to.include('give every member the same `secret` option');
      expect(b.state).to.equal('stopped');
    });

    it('rejects with a DuplicateIdError when a live member already has the id', async () => {
      const a = member('a');
      const first = member('dup', { seeds: addressesOf(a) });
      await connected(a, first);
      const second = member('dup', { seeds: addressesOf(a) });
      second.on('error', () => undefined);
      const error = await within(rejection(mapOn(second).start()), EVENT_MS, "the second dup's start() to reject");
      expect(error).to.be.instanceOf(DuplicateIdError);
      expect(second.state).to.equal('stopped');
      expect(a.peers()).to.deep.equal(['dup']);
    });

    it('rejects with a ClusterMismatchError when the seed belongs to another cluster', async () => {
      const a = member('a', { cluster: 'blue' });
      await a.start();
      const b = member('b', { seeds: [a.address], cluster: 'green' });
      b.on('error', () => undefined);
      expect(await within(rejection(mapOn(b).start()), EVENT_MS, "b's start() to reject")).to.be.instanceOf(ClusterMismatchError);
    });

    it('rejects with an IncompatibleProtocolError, reported on both sides, when the member met speaks an incompatible protocol version', async () => {
      const a = member('a');
      const aMap = mapOn(a);
      await aMap.start();
      await aMap.set('k', 'v');
      const aReported = once<ErrorArgs>(aMap, 'error', (e) => e instanceof IncompatibleProtocolError);
      const b = member('b', { seeds: [a.address] });
      const newer = PROTOCOL_VERSION + 1;
      simulateProtocolVersion(b, newer, newer);
      const bMap = mapOn(b);
      const bReported = once<ErrorArgs>(bMap, 'error', (e) => e instanceof IncompatibleProtocolError);
      const error = await within(rejection(bMap.start()), EVENT_MS, "b's start() to reject");
      expect(error).to.be.instanceOf(IncompatibleProtocolError);
      expect(error).to.include({ peer: 'a', peerVersion: PROTOCOL_VERSION, version: newer });
      const [[aError], [bError]] = await within(Promise.all([aReported, bReported]), EVENT_MS, 'the refusal on both sides');
      expect(aError).to.include({ peer: 'b', peerVersion: newer });
      expect(bError).to.equal(error);
      expect(aMap.members()).to.deep.equal(['a']);
      expect(b.state).to.equal('stopped');
    });

    it('resolves alone when the only seed is unreachable (the first member of a cluster)', async () => {
      const dead = await deadAddress();
      const a = member('a', { seeds: [dead] });
      a.on('error', () => undefined);
      const map = mapOn(a);
      await within(map.start(), EVENT_MS, "a's start()");
      expect(map.state).to.equal('running');
      expect(map.members()).to.deep.equal(['a']);
    });

    it('rejects with a JoinTimeoutError with the map option mustJoin when the only seed is unreachable', async () => {
      const dead = await deadAddress();
      const a = member('a', { seeds: [dead] });
      a.on('error', () => undefined);
      const map = mapOn(a, { mustJoin: true, joinTimeoutMs: 300 });
      const error = await within(rejection(map.start()), EVENT_MS, "a's start() to reject");
      expect(error).to.be.instanceOf(JoinTimeoutError);
      expect((error as Error).message).to.include('mustJoin');
      expect(map.state).to.equal('stopped');
      expect(a.state).to.equal('stopped');
    });

    it('resolves with mustJoin once the seed is met', async () => {
      const a = member('a');
      await mapOn(a).start();
      const b = member('b', { seeds: [a.address] });
      const map = mapOn(b, { mustJoin: true });
      await within(map.start(), EVENT_MS, "b's start()");
      expect(map.members()).to.deep.equal(['a', 'b']);
    });

    it('does not count a refusal by its own address reached under another name', async () => {
      // It advertises another address than the one it binds, and its seed is the bound one: it
      // dials itself and refuses itself (a DuplicateIdError), which is no member refusing it.
      const self: { transport?: TcpTransport } = {};
      const a = member('a', { advertise: 'a.invalid:4000', seeds: () => (self.transport?.state === 'running' ? [`127.0.0.1:${boundPort(self.transport)}`] : []) });
      self.transport = a;
      const refusedItself = once<ErrorArgs>(a, 'error', (e) => e instanceof DuplicateIdError);
      const map = mapOn(a);
      await within(map.start(), EVENT_MS, "a's start()");
      await within(refusedItself, EVENT_MS, 'a to refuse itself');
      expect(map.state).to.equal('running');
    });
  });

  describe('mustJoin', () => {
    it('rejects start() with a JoinTimeoutError naming the seeds when no member was met within joinTimeoutMs, and stops', async () => {
      const dead = await deadAddress();
      const a = member('a', { seeds: [dead], mustJoin: true, joinTimeoutMs: 300 });
      a.on('error', () => undefined);
      const error = await within(rejection(a.start()), EVENT_MS, 'start() to reject');
      expect(error).to.be.instanceOf(JoinTimeoutError);
      expect(error).to.have.property('seeds').that.deep.equals([dead]);
      expect((error as Error).message).to.include('joinTimeoutMs').and.include('mustJoin').and.include(dead);
      expect(a.state).to.equal('stopped');
    });

    it('resolves start() once connected to a member', async () => {
      const a = member('a');
      await a.start();
      const b = member('b', { seeds: [a.address], mustJoin: true });
      await within(b.start(), EVENT_MS, 'start() with mustJoin');
      expect(b.peers()).to.deep.equal(['a']);
    });

    it('rejects a waiting start() with TransportStoppedError when stop() is called', async () => {
      const dead = await deadAddress();
      const a = new TcpTransport({ id: 'a', seeds: [dead], mustJoin: true, joinTimeoutMs: 60_000 });
      created.push(a);
      a.on('error', () => undefined);
      const starting = rejection(a.start());
      await within(once(a, 'error'), EVENT_MS, 'the first failed attempt');
      await a.stop();
      expect(await within(starting, EVENT_MS, 'start() to reject')).to.be.instanceOf(TransportStoppedError);
    });
  });
});
