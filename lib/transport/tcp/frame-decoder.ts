/**
 * Cuts a TCP byte stream into messages: 4-byte big-endian length (type byte included), type,
 * payload. Never buffers more than one message of at most `maxFrameBytes`; a larger one either
 * fails the stream or, once the peer is authenticated, is skipped as its bytes arrive.
 *
 * @module
 */
import { FrameTooLargeError, CodecError } from '../../errors.js';

/** A message cut from the stream. */
export interface StreamMessage {
  readonly type: number;
  readonly payload: Buffer;
}

/** Stateful decoder of one connection's incoming bytes. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /**
   * Largest payload accepted now. A connection lowers it until its peer has authenticated, so a
   * stranger cannot make this member buffer a large frame (see `HANDSHAKE_MAX_FRAME_BYTES`).
   */
  maxFrameBytes: number;
  /** Says which limit a too-large frame broke, and which option governs it. */
  limitName: string;
  /**
   * When set, a message above `maxFrameBytes` is skipped (its bytes dropped as they arrive, never
   * buffered) and handed here with its announced size, instead of failing the whole stream: one
   * frame too large for this member is not a reason to drop the connection and make the peer
   * reconnect and send it again.
   */
  skipOversize: ((bytes: number) => void) | undefined;
  /** Bytes of a skipped message still to drop. */
  private skipping = 0;

  /**
   * @param maxFrameBytes largest payload accepted.
   * @param limitName how the error message names the limit.
   */
  constructor(maxFrameBytes: number, limitName = 'option maxFrameBytes') {
    this.maxFrameBytes = maxFrameBytes;
    this.limitName = limitName;
  }

  /**
   * Adds bytes and returns every complete message they finish.
   * @throws {FrameTooLargeError} when a length prefix announces more than `maxFrameBytes` (unless
   *   {@link skipOversize} is set).
   * @throws {CodecError} for a zero length (no type byte).
   */
  push(chunk: Buffer): StreamMessage[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: StreamMessage[] = [];
    for (;;) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, this.buffered);
        if (n > 0) this.take(n);
        this.skipping -= n;
        if (this.skipping > 0) return out;
      }
      if (this.buffered < 4) return out;
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length === 0) throw new CodecError('TCP message with zero length');
      if (length - 1 > this.maxFrameBytes) {
        if (this.skipOversize === undefined) {
          throw new FrameTooLargeError(`peer announced a ${length - 1}-byte frame; the limit is ${this.maxFrameBytes} (${this.limitName})`);
        }
        this.take(4);
        this.skipping = length;
        this.skipOversize(length - 1);
        continue;
      }
      if (this.buffered < 4 + length) return out;
      const whole = this.take(4 + length);
      out.push({ type: whole.readUInt8(4), payload: whole.subarray(5) });
    }
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const first = this.peek(n);
    const taken = first.subarray(0, n);
    const rest = first.subarray(n);
    this.chunks[0] = rest;
    if (rest.length === 0) this.chunks.shift();
    this.buffered -= n;
    return taken;
  }
}
