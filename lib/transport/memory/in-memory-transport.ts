import { EventEmitter } from 'eventemitter3';
import type { Transport, TransportEvents } from '../transport.js';
import type { InMemoryNetwork } from './in-memory-network.js';

/** The part of the network a transport calls into; kept narrow so the two files stay decoupled. */
export interface InMemoryFabric {
  start(id: string): void;
  stop(id: string): void;
  peersOf(id: string): string[];
  send(from: string, to: string, frame: Uint8Array): void;
}

/**
 * One member's endpoint on an {@link InMemoryNetwork}. Obtain it with `network.transport(id)`.
 * After a simulated crash it can be started again, as a restarted process with the same id would.
 */
export class InMemoryTransport extends EventEmitter<TransportEvents> implements Transport {
  /** This member's id. */
  readonly id: string;
  private readonly fabric: InMemoryFabric;

  /** @internal Created by {@link InMemoryNetwork.transport}. */
  constructor(id: string, fabric: InMemoryFabric) {
    super();
    this.id = id;
    this.fabric = fabric;
  }

  /** Joins the network: the other members see `peerUp`, and this one sees one for each of them. */
  start(): Promise<void> {
    this.fabric.start(this.id);
    return Promise.resolve();
  }

  /** Leaves the network: frames already sent are still delivered, then the others see `peerDown`. */
  stop(): Promise<void> {
    this.fabric.stop(this.id);
    return Promise.resolve();
  }

  /** Live, reachable other members, sorted. */
  peers(): string[] {
    return this.fabric.peersOf(this.id);
  }

  /** Queues a copy of `frame` for `to`; rejects when `to` is unreachable or this member is stopped. */
  send(to: string, frame: Uint8Array): Promise<void> {
    try {
      this.fabric.send(this.id, to, frame);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

export type { InMemoryNetwork };
