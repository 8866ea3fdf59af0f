/**
 * A map member played by hand over a raw TCP connection (spec/transport/tcp/raw-peer.ts): it
 * completes the transport's handshake, answers the map's requests as {@link answerAsMember} says,
 * and can do with a copy what no real member does on purpose: answer it with an error, never
 * answer, or drop the connection the moment the copy arrives. Its sockets are closed by
 * `destroyAllRaw()` (in `afterEach`).
 *
 * @module
 */
import { decodeFrame, encodeFrame, FrameKind, mapMessageFromWire, MSG_BACKUP, MSG_COPY, OLDEST_COMPATIBLE_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../lib/index.js';
import { TcpMessage } from '../../lib/transport/tcp/wire.js';
import { dialAsMember, type RawConnection } from '../transport/tcp/raw-peer.js';
import { answerAsMember, type CopyAnswer } from './fake-member.js';

/** What the raw member does with a copy: what a fake member does, or drop its connection. */
export type RawCopyAnswer = CopyAnswer | 'drop';

/** A raw map member connected to one real member. */
export interface RawMapPeer {
  readonly connection: RawConnection;
  /** Keys of the copies it was sent, in order (the ones that made it drop included). */
  readonly copiesOf: string[];
}

/**
 * Dials the member at `address` as member `id` of map `mapName` and serves the map's requests
 * until the connection closes. Resolves once the handshake is done (the map meets it after that).
 */
export async function rawMapPeer(address: string, id: string, mapName: string, copy: RawCopyAnswer): Promise<RawMapPeer> {
  const connection = await dialAsMember(address, { id });
  const peer: RawMapPeer = { connection, copiesOf: [] };
  const channel = `lrm/map/${mapName}`;
  void (async () => {
    for (;;) {
      const m = await connection.next(TcpMessage.Data).catch(() => undefined);
      if (m === undefined) return;
      const frame = decodeFrame(m.payload);
      // The library's hello (channel router): answered as a member of this build does, or the
      // real member never admits the raw one.
      if (frame.kind === FrameKind.Hello) {
        const body = frame.body as unknown[];
        if (body[3] !== true) connection.sendData(encodeFrame({ kind: FrameKind.Hello, channel: frame.channel, id: 0, body: [PROTOCOL_VERSION, OLDEST_COMPATIBLE_PROTOCOL_VERSION, null, true] }));
        continue;
      }
      if (frame.kind !== FrameKind.Request) continue;
      if (frame.channel !== channel) {
        connection.sendData(encodeFrame({ kind: FrameKind.NoChannel, channel: frame.channel, id: frame.id, body: null }));
        continue;
      }
      const message = mapMessageFromWire(frame.body);
      let answer: CopyAnswer = 'ack';
      if (message.type === MSG_BACKUP || message.type === MSG_COPY) {
        for (const e of message.entries) peer.copiesOf.push(String(e.key));
        if (copy === 'drop') {
          // Gone mid-write: the copy arrived, no answer ever leaves.
          connection.socket.destroy();
          return;
        }
        answer = copy;
      }
      const reply = answerAsMember(frame.body, answer);
      if (reply === 'none') continue;
      const out = 'error' in reply ? { kind: FrameKind.Error, body: [...reply.error] } : { kind: FrameKind.Reply, body: reply.reply };
      connection.sendData(encodeFrame({ ...out, channel, id: frame.id }));
    }
  })();
  return peer;
}
