/**
 * Golden frames: the encoded bytes of every message members exchange, pinned in
 * spec/codec/golden-frames.json (hex) and checked both ways: today's encoder gives exactly the
 * fixture's bytes, and the fixture's bytes decode to the message.
 *
 * THIS SPEC MUST FAIL WHEN THE SHAPE OF ANY MESSAGE CHANGES (the envelope, a frame kind's body, a
 * map message), until PROTOCOL_VERSION moves: members of two builds that encode one message
 * differently must refuse each other at the hello, not misread each other's frames. After moving
 * the version (and stating the compatibility of the release in the CHANGELOG, docs/protocol.md),
 * rewrite the fixture with
 *
 *     GOLDEN_FRAMES_UPDATE=1 npx mocha spec/codec/golden-frames.spec.ts
 *
 * which refuses to change the bytes of a message while the fixture's version is still today's.
 * Adding a message (a new name below) needs no new version only if no existing one changes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import {
  FrameKind,
  MSG_ACCESS,
  MSG_ACK,
  MSG_BACKUP,
  MSG_CONDITIONAL,
  MSG_HANDOVER,
  MSG_VIEW,
  MSG_COPY,
  MSG_DIFF,
  MSG_DIFFS,
  MSG_DIFF_OUTCOMES,
  MSG_LEAVING,
  MSG_OUTCOME,
  MSG_PING,
  MSG_PROXY,
  MSG_REMOVE,
  MSG_RETRIEVE_BACKUP,
  MSG_START,
  MSG_STATE,
  MSG_STATE_NEXT,
  MSG_STOP,
  MSG_VALUE,
  MSG_VALUES,
  MSG_RETRIEVE_MANY,
  OLDEST_COMPATIBLE_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  mapMessageFromWire,
  mapMessageToWire,
  type Frame,
  type MapMessage,
} from '../../lib/index.js';

const FIXTURE = fileURLToPath(new URL('./golden-frames.json', import.meta.url));

interface Fixture {
  /** The protocol version the bytes are of. */
  protocolVersion: number;
  /** Encoded frame by name, as lowercase hex. */
  frames: Record<string, string>;
}

const CHANNEL = 'lrm/map/sessions';
const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
const placement = { key: 'session-1', version: [7, 'a', 1, 'b'] as [number, string, number, string], primary: 'b', backups: ['c'] };
const updated = { key: 42, version: [7, 'a', 1, 'b', 3, 'b'] as [number, string, number, string, number, string], primary: 'a', backups: ['b', 'c'] };

/** Every map message type, in each of its wire forms, with the frame kind it travels in. */
const MAP_MESSAGES: Record<string, { kind: FrameKind; message: MapMessage }> = {
  MSG_BACKUP: { kind: FrameKind.Request, message: { type: MSG_BACKUP, entries: [{ ...placement, bytes: bytes(0x63, 0x61, 0x62, 0x63) }] } },
  'MSG_BACKUP with expiry': {
    kind: FrameKind.Request,
    message: { type: MSG_BACKUP, entries: [{ ...updated, bytes: bytes(0xf5), expiry: { ttlMs: 60_000, maxIdleMs: 10_000, idleMs: 250 } }] },
  },
  MSG_RETRIEVE_BACKUP: { kind: FrameKind.Request, message: { type: MSG_RETRIEVE_BACKUP, key: 'session-1' } },
  MSG_PROXY: { kind: FrameKind.Request, message: { type: MSG_PROXY, entries: [placement, updated] } },
  MSG_REMOVE: { kind: FrameKind.Request, message: { type: MSG_REMOVE, removals: [{ key: 'gone', version: [9, 'c', 0, 'c'] }] } },
  MSG_STATE: {
    kind: FrameKind.Reply,
    message: { type: MSG_STATE, incarnation: '4f0c2b6e', entries: [placement], tombstones: [{ key: 3, version: [2, 'a', 0, 'a'] }] },
  },
  'MSG_STATE with a next page': { kind: FrameKind.Reply, message: { type: MSG_STATE, incarnation: '4f0c2b6e', entries: [updated], tombstones: [], next: 5 } },
  MSG_START: { kind: FrameKind.Request, message: { type: MSG_START, incarnation: '4f0c2b6e' } },
  MSG_STOP: { kind: FrameKind.Request, message: { type: MSG_STOP } },
  MSG_LEAVING: { kind: FrameKind.Request, message: { type: MSG_LEAVING } },
  MSG_COPY: { kind: FrameKind.Request, message: { type: MSG_COPY, entries: [{ ...placement, bytes: bytes(1, 2, 3) }] } },
  MSG_ACCESS: { kind: FrameKind.Request, message: { type: MSG_ACCESS, keys: ['session-1', 42] } },
  MSG_PING: { kind: FrameKind.Request, message: { type: MSG_PING } },
  MSG_ACK: { kind: FrameKind.Reply, message: { type: MSG_ACK } },
  MSG_VALUE: { kind: FrameKind.Reply, message: { type: MSG_VALUE, key: 'session-1', copy: { version: placement.version, bytes: bytes(0x01), idleMs: 12 } } },
  'MSG_VALUE with expiry': {
    kind: FrameKind.Reply,
    message: { type: MSG_VALUE, key: 42, copy: { version: updated.version, bytes: bytes(0x02), idleMs: 12, ttlMs: 1000, maxIdleMs: 500 } },
  },
  'MSG_VALUE without a copy': { kind: FrameKind.Reply, message: { type: MSG_VALUE, key: 'session-1', copy: undefined } },
  MSG_DIFF: { kind: FrameKind.Request, message: { type: MSG_DIFF, entry: updated, base: [7, 'a', 1, 'b', 2, 'b'], diff: bytes(0x82, 0x01, 0x02) } },
  MSG_STATE_NEXT: { kind: FrameKind.Request, message: { type: MSG_STATE_NEXT, transfer: 5, page: 2 } },
  MSG_DIFFS: {
    kind: FrameKind.Request,
    message: {
      type: MSG_DIFFS,
      diffs: [
        { entry: updated, base: [7, 'a', 1, 'b', 2, 'b'], diff: bytes(0x82, 0x01, 0x02) },
        { entry: placement, base: [6, 'a', 0, 'a'], diff: bytes(0xa0) },
      ],
    },
  },
  MSG_DIFF_OUTCOMES: { kind: FrameKind.Reply, message: { type: MSG_DIFF_OUTCOMES, outcomes: [undefined, { name: 'DiffBaseMissingError', message: 'no copy' }] } },
  MSG_CONDITIONAL: {
    kind: FrameKind.Request,
    message: { type: MSG_CONDITIONAL, key: 'lock-1', condition: 'equal', expected: bytes(0x01), bytes: bytes(0x02), expiry: { ttlMs: 1000 } },
  },
  'MSG_CONDITIONAL read': { kind: FrameKind.Request, message: { type: MSG_CONDITIONAL, key: 42, condition: 'read' } },
  MSG_OUTCOME: { kind: FrameKind.Reply, message: { type: MSG_OUTCOME, key: 'lock-1', outcome: 'refused', current: bytes(0x03) } },
  'MSG_OUTCOME moved': { kind: FrameKind.Reply, message: { type: MSG_OUTCOME, key: 42, outcome: 'moved', at: 'b' } },
  'MSG_CONDITIONAL delete': { kind: FrameKind.Request, message: { type: MSG_CONDITIONAL, key: 'session-1', condition: 'delete' } },
  'MSG_CONDITIONAL take': { kind: FrameKind.Request, message: { type: MSG_CONDITIONAL, key: 'session-1', condition: 'take' } },
  'MSG_CONDITIONAL place': { kind: FrameKind.Request, message: { type: MSG_CONDITIONAL, key: 42, condition: 'place' } },
  MSG_HANDOVER: { kind: FrameKind.Reply, message: { type: MSG_HANDOVER, key: 'session-1', version: [7, 'a', 1, 'b'], bytes: bytes(0x01), expiry: { ttlMs: 1000, idleMs: 3 } } },
  'MSG_HANDOVER for a write': { kind: FrameKind.Reply, message: { type: MSG_HANDOVER, key: 42, version: [9, 'b', 1, 'b'] } },
  MSG_RETRIEVE_MANY: { kind: FrameKind.Request, message: { type: MSG_RETRIEVE_MANY, keys: ['session-1', 42] } },
  MSG_VALUES: {
    kind: FrameKind.Reply,
    message: {
      type: MSG_VALUES,
      answers: [
        { answer: 'held', copy: { version: placement.version, bytes: bytes(0x01), idleMs: 12 } },
        { answer: 'held', copy: { version: updated.version, bytes: bytes(0x02), idleMs: 12, ttlMs: 1000, maxIdleMs: 500 } },
        { answer: 'none' },
        { answer: 'refused', name: 'ValueTooLargeError', message: 'too large' },
        { answer: 'later' },
      ],
    },
  },
  MSG_VIEW: {
    kind: FrameKind.Request,
    message: { type: MSG_VIEW, seq: 2, incarnation: 'inc-a', members: [['a', 'inc-a'], ['b', 'inc-b']], clock: 9, creations: [{ key: 'session-1', to: 'b', version: [9, 'b', 1, 'b'] }] },
  },
};

/** Every frame kind of the envelope (RPC request, notify, reply, error, no-channel, the hello). */
const ENVELOPES: Record<string, Frame> = {
  'RPC Request': { kind: FrameKind.Request, channel: 'echo', id: 7, body: { ask: 'hi', n: 1 } },
  'RPC Notify': { kind: FrameKind.Notify, channel: 'echo', id: 0, body: 'note' },
  'RPC Reply': { kind: FrameKind.Reply, channel: 'echo', id: 7, body: ['hi', 2] },
  'RPC Error': { kind: FrameKind.Error, channel: 'echo', id: 7, body: ['TypeError', 'boom'] },
  'RPC NoChannel': { kind: FrameKind.NoChannel, channel: 'echo', id: 7, body: null },
  Hello: { kind: FrameKind.Hello, channel: 'lrm/router', id: 0, body: [PROTOCOL_VERSION, OLDEST_COMPATIBLE_PROTOCOL_VERSION, 1_048_576, false] },
  'Hello answer, no frame limit': { kind: FrameKind.Hello, channel: 'lrm/router', id: 0, body: [PROTOCOL_VERSION, OLDEST_COMPATIBLE_PROTOCOL_VERSION, null, true] },
  Refuse: { kind: FrameKind.Refuse, channel: 'lrm/router', id: 0, body: [PROTOCOL_VERSION, OLDEST_COMPATIBLE_PROTOCOL_VERSION] },
};

/** Every golden frame, by name. */
function frames(): Record<string, Frame> {
  const all: Record<string, Frame> = {};
  for (const [name, { kind, message }] of Object.entries(MAP_MESSAGES)) {
    all[`map ${name}`] = { kind, channel: CHANNEL, id: kind === FrameKind.Notify ? 0 : 11, body: mapMessageToWire(message) };
  }
  for (const [name, frame] of Object.entries(ENVELOPES)) all[`envelope ${name}`] = frame;
  return all;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function readFixture(): Fixture {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture;
}

describe('golden frames (the wire format, pinned)', () => {
  if (process.env.GOLDEN_FRAMES_UPDATE === '1') {
    it('rewrites the fixture (GOLDEN_FRAMES_UPDATE=1), refusing to change a message of the same version', () => {
      let old: Fixture | undefined;
      try {
        old = readFixture();
      } catch {
        old = undefined;
      }
      const next: Fixture = { protocolVersion: PROTOCOL_VERSION, frames: {} };
      for (const [name, frame] of Object.entries(frames())) {
        const now = hex(encodeFrame(frame));
        const before = old?.frames[name];
        if (old?.protocolVersion === PROTOCOL_VERSION && before !== undefined && before !== now) {
          throw new Error(`'${name}' changed shape while PROTOCOL_VERSION is still ${PROTOCOL_VERSION}: move the version first (lib/codec/frame.ts), and say in the CHANGELOG whether the release interoperates with the previous one`);
        }
        next.frames[name] = now;
      }
      writeFileSync(FIXTURE, `${JSON.stringify(next, null, 2)}\n`);
    });
    return;
  }

  const fixture = readFixture();

  it('is of the protocol version this build speaks: a new version needs a new fixture', () => {
    expect(fixture.protocolVersion, 'move the fixture with PROTOCOL_VERSION (GOLDEN_FRAMES_UPDATE=1)').to.equal(PROTOCOL_VERSION);
  });

  it('covers every map message type and every frame kind', () => {
    const names = Object.keys(fixture.frames);
    for (const type of Object.keys(MAP_MESSAGES)) expect(names).to.include(`map ${type}`);
    const kinds = new Set(Object.values(frames()).map((f) => f.kind));
    expect([...kinds].sort()).to.deep.equal(Object.values(FrameKind).sort());
    const types = new Set(Object.values(MAP_MESSAGES).map((m) => m.message.type));
    // Reserved numbers (Tomcat's MSG_INIT, MSG_STATE_COPY, MSG_NOTIFY_MAPMEMBER) are never sent.
    expect([...types].sort((x, y) => x - y)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26]);
    expect(names.sort()).to.deep.equal(Object.keys(frames()).sort());
  });

  for (const [name, frame] of Object.entries(frames())) {
    it(`${name}: today's encoder gives exactly the fixture's bytes`, () => {
      const pinned = fixture.frames[name];
      expect(pinned, `no golden bytes for '${name}': add them with GOLDEN_FRAMES_UPDATE=1`).to.be.a('string');
      expect(hex(encodeFrame(frame)), `'${name}' changed on the wire: move PROTOCOL_VERSION (see this spec's header)`).to.equal(pinned);
    });

    it(`${name}: the fixture's bytes decode to the message`, () => {
      const decoded = decodeFrame(Buffer.from(fixture.frames[name] ?? '', 'hex'));
      expect({ kind: decoded.kind, channel: decoded.channel, id: decoded.id }).to.deep.equal({ kind: frame.kind, channel: frame.channel, id: frame.id });
      const mapName = name.startsWith('map ') ? name.slice(4) : undefined;
      if (mapName === undefined) {
        expect(decoded.body).to.deep.equal(frame.body);
      } else {
        expect(mapMessageFromWire(decoded.body)).to.deep.equal(MAP_MESSAGES[mapName]?.message);
      }
    });
  }
});
