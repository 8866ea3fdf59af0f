import { EventEmitter } from 'eventemitter3';
import type { Transport, TransportEvents } from '../transport.js';

/** Settings of one member of an `InMemoryNetwork`. */
export interface InMemoryTransportOptions {
  /**
   * The largest frame this member accepts, in bytes: a bigger one is reported on its transport
   * (`FrameTooLargeError`) and dropped, never delivered. Lets specs use small limits.
   * @default unlimited
   */
  maxFrameBytes?: number;
}

/** The part of the network a transport calls into; kept narrow so the two files stay decoupled. */
export interface InMemoryFabric {
  start(id: string): void;
  stop(id: string): void;
  peersOf(id: string): string[];
  send(from: string, to: string, frame: Uint8Array): void;
}

/**
 * One member's endpoint on an `InMemoryNetwork`. Obtain it with `network.transport(id)`.
 * After a simulated crash it can be started again, as a restarted process with the same id would.
 */
export class InMemoryTransport extends EventEmitter<TransportEvents> implements Transport {
  /** This member's id. */
  readonly id: string;
  /**
   * The largest frame this member accepts, in bytes, when one was given to
   * `InMemoryNetwork.transport`: a bigger frame sent to it is reported on this transport as
   * a `FrameTooLargeError` and not delivered, as a TCP member does. Absent: unlimited.
   */
  readonly maxFrameBytes?: number;
  private readonly fabric: InMemoryFabric;

  /** @internal Created by `InMemoryNetwork.transport`. */
  constructor(id: string, fabric: InMemoryFabric, options: InMemoryTransportOptions = {}) {
    super();
    this.id = id;
    this.fabric = fabric;
    const max = options.maxFrameBytes;
    if (max !== undefined) {
      if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
        throw new RangeError(`option maxFrameBytes of in-memory member '${id}' must be a positive whole number of bytes, got ${String(max)}`);
      }
      this.maxFrameBytes = max;
    }
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
