/**
 * Real processes, really killed: three members (spec/cluster/member-process.ts) each run a
 * TcpTransport and a LazyReplicatedMap 'sessions'; the primary of a batch of writes is SIGKILLed
 * while writes are in flight, restarted under its id, and an outsider with the wrong secret tries
 * to get in. Waits are for the members' own reports (memberDisappeared, memberAdded, errors).
 */
import { expect } from 'chai';
import { expectReadable, interruptMidWrite, keyOf, threeMembers, valueOf } from './cluster-scenarios.js';
import { MemberProcess, killAll } from './member-harness.js';
import { rejection } from '../helpers/events.js';

describe('a cluster of member processes', function () {
  // Forking a member that loads TypeScript takes a moment; each test stays well under this.
  this.timeout(20_000);

  afterEach(async () => {
    await killAll();
  });

  it('keeps every acknowledged write readable on the survivors when the primary is SIGKILLed mid-write', async () => {
    const [a, b, c] = await threeMembers();
    const marks = [b.events.length, c.events.length];
    // Far more writes than are acknowledged in the moment the kill takes to land (about a hundred
    // or two): the kill always finds most of the batch in flight.
    const acknowledged = await interruptMidWrite(a, 1500, 100, () => a.kill());
    expect(acknowledged.length).to.be.at.least(100);
    expect(acknowledged.length, 'some writes were still in flight at the kill').to.be.lessThan(1500);
    await b.event((e) => e.event === 'memberDisappeared' && e.id === 'a', "memberDisappeared 'a'", marks[0]);
    await c.event((e) => e.event === 'memberDisappeared' && e.id === 'a', "memberDisappeared 'a'", marks[1]);

    await expectReadable([b, c], acknowledged.map(keyOf), acknowledged.map(valueOf));
    for (const survivor of [b, c]) expect(await survivor.request({ cmd: 'members' })).to.deep.equal(['b', 'c']);
  });

  it('lets a SIGKILLed member restart under the same id, rejoin cleanly and read every key', async () => {
    const [a, b, c] = await threeMembers();
    const marks = [b.events.length, c.events.length];
    const acknowledged = await interruptMidWrite(a, 600, 50, () => a.kill());
    await b.event((e) => e.event === 'memberDisappeared' && e.id === 'a', "memberDisappeared 'a'", marks[0]);
    await c.event((e) => e.event === 'memberDisappeared' && e.id === 'a', "memberDisappeared 'a'", marks[1]);

    const rejoin = [b.events.length, c.events.length];
    const again = await MemberProcess.start({ id: 'a', seeds: [b.address, c.address] });
    await b.event((e) => e.event === 'memberAdded' && e.id === 'a', "memberAdded 'a' (restarted)", rejoin[0]);
    await c.event((e) => e.event === 'memberAdded' && e.id === 'a', "memberAdded 'a' (restarted)", rejoin[1]);
    for (const m of [again, b, c]) expect(await m.request({ cmd: 'members' }), `members at '${m.id}'`).to.deep.equal(['a', 'b', 'c']);

    // Its map started, so it knows every key; reading them (with promotion) fetches the values.
    const keys = acknowledged.map(keyOf);
    expect(await again.request({ cmd: 'getMany', keys })).to.deep.equal(acknowledged.map(valueOf));
    // And its own writes reach the others.
    await again.request({ cmd: 'set', key: 'after-restart', value: 'hello' });
    await expectReadable([b, c], ['after-restart'], ['hello']);
    const errors = [again, b, c].flatMap((m) => m.events.filter((e) => e.event === 'error').map((e) => `${m.id}: ${JSON.stringify(e)}`));
    expect(errors.filter((e) => /HandshakeError|AuthenticationError|DuplicateIdError|ClusterMismatchError/.test(e)), 'the restarted member was refused').to.deep.equal([]);
  });

  it('reads a write on every member as soon as set resolved: read-your-writes over TCP', async () => {
    const members = await threeMembers();
    let proxies = 0;
    for (let n = 0; n < 300; n++) {
      const writer = members[n % 3]!;
      await writer.request({ cmd: 'set', key: `ryw-${n % 50}`, value: n });
      for (const m of members) {
        const info = (await m.request({ cmd: 'info', key: `ryw-${n % 50}` })) as { role: string } | null;
        if (info?.role === 'proxy') proxies++;
        expect(await m.request({ cmd: 'get', key: `ryw-${n % 50}`, promote: false }), `ryw-${n % 50} on '${m.id}' right after set #${n}`).to.equal(n);
      }
    }
    // One of three members is neither primary nor backup of each key: the reads went through proxies.
    expect(proxies).to.be.at.least(250);
  });

  it('keeps out a member with the wrong secret: its start() rejects with AuthenticationError instead of running alone', async () => {
    const [a, b, c] = await threeMembers();
    const marks = [a.events.length, b.events.length, c.events.length];
    const failed = await rejection(MemberProcess.start({ id: 'w', secret: 'not-the-secret', seeds: [a.address, b.address, c.address] }));
    expect(failed).to.be.instanceOf(Error);
    expect((failed as Error).message).to.include("member 'w' exited while waiting for ready").and.match(/start\(\) rejected with AuthenticationError: .*cluster secret/);

    for (const [i, m] of [a, b, c].entries()) {
      expect(await m.request({ cmd: 'members' }), `members at '${m.id}'`).to.deep.equal(['a', 'b', 'c']);
      expect(await m.request({ cmd: 'info', key: 'intruder' }), `'intruder' at '${m.id}'`).to.equal(null);
      expect(await m.request({ cmd: 'get', key: 'intruder', promote: false })).to.equal(undefined);
      expect(m.events.slice(marks[i]).filter((e) => e.event === 'memberAdded'), `memberAdded at '${m.id}'`).to.deep.equal([]);
    }
  });
});
