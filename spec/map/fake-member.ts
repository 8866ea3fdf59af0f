/**
 * A member that joins a map but answers its copies as a test chooses: it takes them, refuses
 * them with an error answer, or never answers. It speaks the map's protocol on any transport
 * (the in-memory network here; spec/map/raw-map-peer.ts puts the same answers on a raw TCP
 * connection), so the specs can play a live member that refuses, which a real map never does on
 * purpose. It holds nothing: its state is empty and it acknowledges everything but copies.
 *
 * @module
 */
import { mapMessageFromWire, mapMessageToWire, MSG_ACK, MSG_BACKUP, MSG_COPY, MSG_START, MSG_STATE, MSG_VIEW, type Transport } from '../../lib/index.js';
import { mapChannelName } from '../../lib/map/map-channel.js';
import { openLibraryChannel, type RpcChannel } from '../../lib/rpc/rpc-channel.js';

/** What a fake member does with a copy (`MSG_BACKUP`, `MSG_COPY`). */
export type CopyAnswer =
  /** Acknowledges it, as a real member would (and holds nothing). */
  | 'ack'
  /** Answers with an error: `name` and `message` as a refusing member would send them. */
  | { readonly refuse: { readonly name: string; readonly message: string } }
  /** Never answers (the request runs into the sender's `rpcTimeoutMs`). */
  | 'ignore';

/** The answer to one map request: a reply body, an error `[name, message]`, or nothing. */
export type FakeAnswer = { readonly reply: unknown[] } | { readonly error: readonly [string, string] } | 'none';

/** A remote error thrown by a fake member's handler (the channel sends its name and message). */
class FakeRefusal extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * How a fake member answers the map request `body` (the wire form of a map message): an empty
 * state to `MSG_START` (so the map adds it as a member), the announcer's own view of the members
 * to `MSG_VIEW` (it agrees, so the map decides for keys nobody knows at once), `onCopy` to
 * copies, an acknowledgement to everything else.
 */
export function answerAsMember(body: unknown, onCopy: CopyAnswer): FakeAnswer {
  const message = mapMessageFromWire(body);
  switch (message.type) {
    case MSG_START:
      return { reply: mapMessageToWire({ type: MSG_STATE, incarnation: 'fake-member', entries: [], tombstones: [] }) };
    case MSG_VIEW:
      return { reply: mapMessageToWire({ type: MSG_VIEW, seq: 1, incarnation: 'fake-member', members: message.members, clock: 0, creations: [] }) };
    case MSG_BACKUP:
    case MSG_COPY:
      if (onCopy === 'ack') break;
      if (onCopy === 'ignore') return 'none';
      return { error: [onCopy.refuse.name, onCopy.refuse.message] };
    default:
      break;
  }
  return { reply: mapMessageToWire({ type: MSG_ACK }) };
}

/** A fake member of map `mapName` on `transport`; what it does with copies can change (`answer.copy`). */
export interface FakeMember {
  /** The map's channel it answers on; close it to end the fake member. */
  readonly channel: RpcChannel;
  /** What it does with the next copies. */
  copy: CopyAnswer;
  /** Copies it was sent, by key. */
  readonly copiesOf: string[];
}

/** Opens map `mapName`'s channel on `transport` and answers it as a fake member (see {@link answerAsMember}). */
export function fakeMember(transport: Transport, mapName: string, copy: CopyAnswer): FakeMember {
  const member: { channel?: RpcChannel; copy: CopyAnswer; copiesOf: string[] } = { copy, copiesOf: [] };
  member.channel = openLibraryChannel(transport, mapChannelName(mapName), (request) => {
    const message = mapMessageFromWire(request);
    if (message.type === MSG_BACKUP || message.type === MSG_COPY) for (const e of message.entries) member.copiesOf.push(String(e.key));
    const answer = answerAsMember(request, member.copy);
    if (answer === 'none') return new Promise<never>(() => undefined);
    if ('error' in answer) throw new FakeRefusal(answer.error[0], answer.error[1]);
    return answer.reply;
  });
  return member as FakeMember;
}
