/**
 * A custom transport in about eighty lines: members are `BroadcastChannel`s of one name, so they
 * can live in different worker threads of one process (or all in one thread). It implements the
 * library's `Transport` interface and nothing else, and passes the same compliance suite as the
 * built-in transports (spec/transport/broadcast-channel-compliance.spec.ts).
 *
 * See docs/custom-transport.md for what a transport must guarantee.
 */
import { EventEmitter } from 'node:events';
import { BroadcastChannel } from 'node:worker_threads';
import { PeerUnreachableError, TransportStoppedError, type Transport } from '../lib/index.js';

/** What the members say to each other on the channel. */
type Note =
  | { kind: 'hello'; from: string } // I started: who is there?
  | { kind: 'here'; from: string; to: string } // I am (answer to hello)
  | { kind: 'bye'; from: string } // I stopped
  | { kind: 'frame'; from: string; to: string; frame: Uint8Array };

/** A member on a `BroadcastChannel`: every member of a cluster uses the same `cluster` name. */
export class BroadcastChannelTransport extends EventEmitter implements Transport {
  readonly id: string;
  private readonly cluster: string;
  private channel: BroadcastChannel | undefined;
  private readonly known = new Set<string>();

  constructor(id: string, cluster = 'lazy-replicated-map') {
    super();
    this.id = id;
    this.cluster = cluster;
  }

  start(): Promise<void> {
    if (this.channel !== undefined) return Promise.resolve();
    const channel = new BroadcastChannel(this.cluster);
    channel.onmessage = (event: unknown) => {
      this.onNote((event as { data: Note }).data);
    };
    this.channel = channel;
    channel.postMessage({ kind: 'hello', from: this.id } satisfies Note);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    const channel = this.channel;
    if (channel === undefined) return Promise.resolve();
    channel.postMessage({ kind: 'bye', from: this.id } satisfies Note);
    channel.close();
    this.channel = undefined;
    this.known.clear();
    this.emit('close');
    return Promise.resolve();
  }

  peers(): string[] {
    return [...this.known].sort();
  }

  send(to: string, frame: Uint8Array): Promise<void> {
    if (this.channel === undefined) return Promise.reject(new TransportStoppedError(`transport '${this.id}' is not started`));
    if (!this.known.has(to)) return Promise.reject(new PeerUnreachableError(to));
    // Structured clone copies the bytes, so the sender may reuse its buffer, as the interface
    // allows. It copies the whole ArrayBuffer under a view, though, and a frame is often a view
    // into a larger buffer the library encodes into (up to 8 MiB, or four times a larger frame's
    // size; it once reached 120 MiB in the test suite, a second per frame): the frame's own bytes
    // are copied out first. Uint8Array's slice, not Buffer's, which is a view.
    const own = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength ? frame : Uint8Array.prototype.slice.call(frame);
    this.channel.postMessage({ kind: 'frame', from: this.id, to, frame: own } satisfies Note);
    return Promise.resolve();
  }

  private onNote(note: Note): void {
    if (note.from === this.id) return;
    switch (note.kind) {
      case 'hello':
        this.channel?.postMessage({ kind: 'here', from: this.id, to: note.from } satisfies Note);
        this.meet(note.from);
        return;
      case 'here':
        if (note.to === this.id) this.meet(note.from);
        return;
      case 'bye':
        if (this.known.delete(note.from)) this.emit('peerDown', note.from);
        return;
      case 'frame':
        // Frames of members not (yet) known are dropped: peerUp always comes first.
        if (note.to === this.id && this.known.has(note.from)) this.emit('message', note.from, note.frame);
        return;
    }
  }

  private meet(id: string): void {
    if (this.known.has(id)) return;
    this.known.add(id);
    this.emit('peerUp', id);
  }
}
