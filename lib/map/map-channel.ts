/**
 * The map's place on a transport: the RPC channel each map talks on, and how its frames are
 * named in traffic statistics. Only the map knows which channels are maps'.
 *
 * @module
 */
import { frameClassifier, type FrameClassifier } from '../codec/frame-classifier.js';
import { MESSAGE_TYPE_NAMES } from '../codec/message-types.js';

/** Prefix of the RPC channel each map talks on; reserved for the library. */
export const MAP_CHANNEL_PREFIX = 'lrm/map/';

/** The name of the RPC channel map `name` talks on. */
export function mapChannelName(name: string): string {
  return MAP_CHANNEL_PREFIX + name;
}

/** The Tomcat name of a map message's body (`MSG_BACKUP`, ...), or `undefined` for any other body. */
export function mapMessageName(channel: string, body: unknown): string | undefined {
  if (!channel.startsWith(MAP_CHANNEL_PREFIX) || !Array.isArray(body) || typeof body[0] !== 'number') return undefined;
  return MESSAGE_TYPE_NAMES[body[0]];
}

/**
 * The name of a frame's kind: `MSG_BACKUP`, `MSG_PROXY`, ... for map messages, `RPC_*` otherwise;
 * `undefined` if undecodable.
 */
export const classifyFrame: FrameClassifier = frameClassifier(mapMessageName);
