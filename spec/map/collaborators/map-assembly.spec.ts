import { expect } from 'chai';
import { EventEmitter } from 'eventemitter3';
import { StoppedError } from '../../../lib/errors.js';
import { InMemoryNetwork } from '../../../lib/in-memory-network.js';
import { MapAssembly } from '../../../lib/map/map-assembly.js';
import type { MapEvents } from '../../../lib/map/map-options.js';
import { lazyFlavour } from './fakes.js';

/** A stand-in for the facade: the emitter the assembly wires the collaborators to. */
class FakeMap extends EventEmitter<MapEvents> {
  readonly name = 'm';
  readonly id = 'a';
}

/** The collaborators of map 'm' on member 'a', alone on an in-memory transport, on a clock the spec moves. */
function build() {
  const net = new InMemoryNetwork({ seed: 1 });
  const clock = { now: 1000 };
  const map = new FakeMap();
  const events: string[] = [];
  for (const name of ['ready', 'stopped', 'expired', 'entryRemoved'] as const) map.on(name, () => events.push(name));
  const parts = new MapAssembly(map, { name: 'm', transport: net.transport('a'), now: () => clock.now, expirySweepIntervalMs: 0 }, lazyFlavour());
  return { parts, map, events, clock };
}

describe('MapAssembly (the wiring of one map)', () => {
  it('gives the shared state the map as emitter, and the lifecycle the map to start', async () => {
    const { parts, map, events } = build();
    expect(parts.ctx.events).to.equal(map);
    expect(await parts.lifecycle.start()).to.equal(map);
    expect(events).to.deep.equal(['ready']);
    await parts.lifecycle.stop();
  });

  it('starts the map through the call order: a call made before start() runs once the map joined', async () => {
    const { parts } = build();
    const states: string[] = [];
    await parts.order.inOrder(() => {
      states.push(parts.ctx.lifecycle);
      return Promise.resolve();
    }, ['k']);
    expect(states).to.deep.equal(['running']);
    await parts.lifecycle.stop();
  });

  it('routes expiry to the delete path and its news to the map', async () => {
    const { parts, events, clock } = build();
    await parts.lifecycle.start();
    await parts.order.inOrder(() => parts.writes.store('k', 'v', parts.ctx.codec.encode('v'), { ttlMs: 10 }), ['k']);
    clock.now += 20;
    expect(await parts.expiry.sweep()).to.equal(1);
    expect(parts.ctx.entries.has('k')).to.equal(false);
    expect(events).to.include('expired');
    await parts.lifecycle.stop();
  });

  it('refuses the calls ordered after the lifecycle stopped', async () => {
    const { parts } = build();
    await parts.lifecycle.start();
    await parts.lifecycle.stop();
    let ran = false;
    const error = await parts.order.inOrder(() => {
      ran = true;
      return Promise.resolve();
    }, ['k']).then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(StoppedError);
    expect(ran).to.equal(false);
  });
});
