/**
 * Names the kind of a frame for traffic statistics (for example, the in-memory network's
 * `stats().byType`): the frame kind (`RPC_REQUEST`, ...), or a name the layer that owns the
 * frame's channel gives its body. The codec knows envelopes, not what runs on which channel.
 *
 * @module
 */
import { FrameKind, decodeFrame } from './frame.js';

const KIND_NAMES: Readonly<Record<number, string>> = {
  [FrameKind.Request]: 'RPC_REQUEST',
  [FrameKind.Notify]: 'RPC_NOTIFY',
  [FrameKind.Reply]: 'RPC_REPLY',
  [FrameKind.Error]: 'RPC_ERROR',
  [FrameKind.NoChannel]: 'RPC_NO_CHANNEL',
  [FrameKind.Hello]: 'HELLO',
  [FrameKind.Refuse]: 'REFUSE',
};

/**
 * Names the body of a frame on `channel`, or `undefined` to name the frame by its kind. Given by
 * the layer that knows what travels on its channels (the map names its messages `MSG_*`).
 */
export type BodyNamer = (channel: string, body: unknown) => string | undefined;

/** Names a frame for statistics; `undefined` when the bytes are no frame. */
export type FrameClassifier = (bytes: Uint8Array) => string | undefined;

/**
 * A classifier that names frames by kind (`RPC_REQUEST`, `RPC_REPLY`, ...), or by what
 * `nameBody` says of their body when it says anything.
 */
export function frameClassifier(nameBody?: BodyNamer): FrameClassifier {
  return (bytes) => {
    try {
      const frame = decodeFrame(bytes);
      return nameBody?.(frame.channel, frame.body) ?? KIND_NAMES[frame.kind];
    } catch {
      return undefined;
    }
  };
}
