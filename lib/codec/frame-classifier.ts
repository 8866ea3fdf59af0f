/**
 * Names the kind of a frame for traffic statistics (for example, the in-memory network's
 * `stats().byType`): the map message type for map traffic, the frame kind otherwise.
 *
 * @module
 */
import { FrameKind, decodeFrame } from './frame.js';
import { MESSAGE_TYPE_NAMES } from './message-types.js';

const KIND_NAMES: Readonly<Record<number, string>> = {
  [FrameKind.Request]: 'RPC_REQUEST',
  [FrameKind.Notify]: 'RPC_NOTIFY',
  [FrameKind.Reply]: 'RPC_REPLY',
  [FrameKind.Error]: 'RPC_ERROR',
  [FrameKind.NoChannel]: 'RPC_NO_CHANNEL',
};

/** The name of a frame's kind: `MSG_BACKUP`, `MSG_PROXY`, ... for map messages, `RPC_*` otherwise; `undefined` if undecodable. */
export function classifyFrame(bytes: Uint8Array): string | undefined {
  try {
    const frame = decodeFrame(bytes);
    if (Array.isArray(frame.body) && typeof frame.body[0] === 'number' && frame.channel.startsWith('lrm/map/')) {
      return MESSAGE_TYPE_NAMES[frame.body[0]] ?? KIND_NAMES[frame.kind];
    }
    return KIND_NAMES[frame.kind];
  } catch {
    return undefined;
  }
}
