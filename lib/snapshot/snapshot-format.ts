/**
 * The bytes of a snapshot, written and read as a stream so that a million entries never sit in
 * memory twice. Layout (integers little-endian, `f64` for every number, strings as a `u32` byte
 * length and UTF-8):
 *
 * ```
 * magic "LRMSNAP\0" | u32 format version | u32 header length | header | record* | SHA-256 of all before it
 * header:  str map name | str member id | f64 written at (ms since epoch) | f64 entries | f64 tombstones
 * record:  u32 length | u8 kind (1 entry, 2 tombstone) | key | version | (entry only:) expiry | u32 value length | value
 * key:     u8 0 + str, or u8 1 + f64
 * version: f64 writeClock | str writer | f64 placeSeq | str placer | f64 update | str updater
 * expiry:  f64 time to live left | f64 idle limit | f64 idle so far (each in ms, -1 when none)
 * ```
 *
 * The reader checks everything (counts, lengths, the digest at the end) before it hands back a
 * single entry: a damaged or truncated file is refused whole, never half-loaded.
 *
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { SnapshotError } from '../errors.js';
import type { EntryExpiry, MapKey, Removal, Version } from '../codec/map-messages.js';

/** The format this version of the library writes and reads. */
export const SNAPSHOT_FORMAT_VERSION = 1;

const MAGIC = Buffer.from('LRMSNAP\0', 'latin1');
const DIGEST_BYTES = 32;
/** Bytes handed to the store at a time. */
const WRITE_CHUNK_BYTES = 1 << 20;
/** A record announcing more than this is damage, not data (a value is far smaller; see maxFrameBytes). */
const MAX_RECORD_BYTES = 1 << 30;
const KIND_ENTRY = 1;
const KIND_TOMBSTONE = 2;
const NONE = -1;

/** What a snapshot says about itself. */
export interface SnapshotHeader {
  /** The map it was written by. */
  readonly map: string;
  /** The member that wrote it. */
  readonly member: string;
  /** When it was written, in milliseconds since the epoch (by the writer's map clock). */
  readonly writtenAt: number;
  /** Entries it holds. */
  readonly entries: number;
  /** Deletes it remembers. */
  readonly tombstones: number;
}

/** One entry held by the member that wrote the snapshot. */
export interface SnapshotEntry {
  readonly key: MapKey;
  readonly version: Version;
  /** The value, as encoded by the value codec. */
  readonly bytes: Uint8Array;
  /** Its expiry as of `writtenAt`, in durations (see {@link EntryExpiry}). */
  readonly expiry: EntryExpiry | undefined;
}

/** A whole snapshot, checked; its entries went to the caller one by one (see {@link decodeSnapshot}). */
export interface SnapshotContents {
  readonly header: SnapshotHeader;
  readonly tombstones: Removal[];
}

// ---------------------------------------------------------------- writing

/** Builds chunks of at most {@link WRITE_CHUNK_BYTES} (a record larger than that gets its own). */
class ChunkWriter {
  private buf = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  private pos = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly done: Buffer[] = [];

  /** True when chunks were completed since the last {@link take}. */
  get ready(): boolean {
    return this.done.length > 0;
  }

  /** Chunks completed since the last call. */
  take(): Buffer[] {
    return this.done.splice(0);
  }

  /** Makes room for `bytes` more. */
  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    this.flush();
    // A new buffer each time: the store may keep the chunks it was given.
    this.buf = Buffer.allocUnsafe(Math.max(WRITE_CHUNK_BYTES, bytes));
  }

  flush(): void {
    if (this.pos === 0) return;
    const chunk = this.buf.subarray(0, this.pos);
    this.hash.update(chunk);
    this.done.push(chunk);
    this.buf = this.buf.subarray(this.pos);
    this.pos = 0;
  }

  /** The digest of everything written, as the last chunk. */
  finish(): void {
    this.flush();
    this.done.push(this.hash.digest());
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  str(s: string): void {
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.pos);
    this.pos += 4 + n;
  }

  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Starts a record whose size is at most `bound`; call {@link endRecord} with the result. */
  beginRecord(bound: number): number {
    this.reserve(bound);
    const at = this.pos;
    this.pos += 4;
    return at;
  }

  endRecord(at: number): void {
    this.buf.writeUInt32LE(this.pos - at - 4, at);
  }
}

/** Bytes a string takes at most (UTF-8 needs at most 3 bytes per UTF-16 code unit). */
function strBound(s: string): number {
  return 4 + 3 * s.length;
}

function keyBound(key: MapKey): number {
  return 1 + (typeof key === 'string' ? strBound(key) : 8);
}

function versionBound(v: Version): number {
  return 24 + strBound(v[1]) + strBound(v[3]) + strBound(v.length === 6 ? v[5] : '');
}

function writeKey(w: ChunkWriter, key: MapKey): void {
  if (typeof key === 'string') {
    w.u8(0);
    w.str(key);
  } else {
    w.u8(1);
    w.f64(key);
  }
}

function writeVersion(w: ChunkWriter, v: Version): void {
  w.f64(v[0]);
  w.str(v[1]);
  w.f64(v[2]);
  w.str(v[3]);
  w.f64(v.length === 6 ? v[4] : 0);
  w.str(v.length === 6 ? v[5] : '');
}

/**
 * The snapshot of `entries` and `tombstones` as chunks, encoded as they are asked for (the caller
 * writes one before it asks for the next). `header.entries` / `header.tombstones` must be their
 * counts: the reader refuses a file whose records do not match them.
 */
export function* encodeSnapshot(header: SnapshotHeader, entries: Iterable<SnapshotEntry>, tombstones: Iterable<Removal>): Generator<Uint8Array, void, undefined> {
  const w = new ChunkWriter();
  w.reserve(MAGIC.length + 8 + strBound(header.map) + strBound(header.member) + 24);
  w.raw(MAGIC);
  w.u32(SNAPSHOT_FORMAT_VERSION);
  const head = w.beginRecord(0);
  w.str(header.map);
  w.str(header.member);
  w.f64(header.writtenAt);
  w.f64(header.entries);
  w.f64(header.tombstones);
  w.endRecord(head);
  for (const e of entries) {
    const at = w.beginRecord(5 + keyBound(e.key) + versionBound(e.version) + 24 + 4 + e.bytes.length);
    w.u8(KIND_ENTRY);
    writeKey(w, e.key);
    writeVersion(w, e.version);
    w.f64(e.expiry?.ttlMs ?? NONE);
    w.f64(e.expiry?.maxIdleMs ?? NONE);
    w.f64(e.expiry?.idleMs ?? NONE);
    w.bytes(e.bytes);
    w.endRecord(at);
    if (w.ready) yield* w.take();
  }
  for (const t of tombstones) {
    const at = w.beginRecord(5 + keyBound(t.key) + versionBound(t.version));
    w.u8(KIND_TOMBSTONE);
    writeKey(w, t.key);
    writeVersion(w, t.version);
    w.endRecord(at);
    if (w.ready) yield* w.take();
  }
  w.finish();
  yield* w.take();
}

// ---------------------------------------------------------------- reading

/** The damage found, as a {@link SnapshotError}. */
function damaged(location: string, what: string, reason: 'corrupt' | 'truncated' = 'corrupt'): SnapshotError {
  return new SnapshotError(
    `snapshot ${location} is ${reason === 'truncated' ? 'truncated' : 'damaged'} (${what}); nothing of it was loaded and it is set aside. The map starts without it`,
    location,
    reason,
  );
}

/** Reads the fields of one record, refusing to read past its end. */
class RecordReader {
  private pos: number;
  private readonly buf: Buffer;
  private readonly end: number;
  private readonly location: string;
  private readonly ids: IdCache;

  constructor(buf: Buffer, start: number, end: number, location: string, ids: IdCache) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.location = location;
    this.ids = ids;
  }

  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.end) throw damaged(this.location, 'a record ends before its fields do');
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.buf[this.need(1)] as number;
  }

  u32(): number {
    return this.buf.readUInt32LE(this.need(4));
  }

  f64(): number {
    return this.buf.readDoubleLE(this.need(8));
  }

  /** A whole number >= 0 (counts, clocks). */
  count(what: string): number {
    const v = this.f64();
    if (!Number.isSafeInteger(v) || v < 0) throw damaged(this.location, `${what} is not a whole number`);
    return v;
  }

  /** A duration in ms, or `undefined` for none. */
  duration(): number | undefined {
    const v = this.f64();
    if (v === NONE) return undefined;
    if (!Number.isFinite(v) || v < 0) throw damaged(this.location, 'an expiry is not a duration');
    return v;
  }

  str(): string {
    const n = this.u32();
    const at = this.need(n);
    return this.buf.toString('utf8', at, at + n);
  }

  /** A member id: the same few repeat in every version, so the last one decoded is reused. */
  id(): string {
    const n = this.u32();
    const at = this.need(n);
    const ids = this.ids;
    if (ids.bytes !== undefined && ids.bytes.length === n && this.buf.compare(ids.bytes, 0, n, at, at + n) === 0) return ids.last;
    ids.bytes = Buffer.from(this.buf.subarray(at, at + n));
    ids.last = this.buf.toString('utf8', at, at + n);
    return ids.last;
  }

  key(): MapKey {
    const tag = this.u8();
    if (tag === 0) return this.str();
    if (tag === 1) {
      const k = this.f64();
      if (!Number.isFinite(k)) throw damaged(this.location, 'a numeric key is not finite');
      return k;
    }
    throw damaged(this.location, `unknown key tag ${tag}`);
  }

  version(): Version {
    const writeClock = this.count('a version clock');
    const writer = this.id();
    const placeSeq = this.count('a version placement');
    const placer = this.id();
    const update = this.count('a version update');
    const updater = this.id();
    return update === 0 ? [writeClock, writer, placeSeq, placer] : [writeClock, writer, placeSeq, placer, update, updater];
  }

  /**
   * The value, as a view of the chunk it came in (no copy: copying a million values cost a
   * third of the load). A chunk is thus kept while one of its values lives: at most the size of
   * the file, which the map holds anyway once loaded.
   */
  value(): Uint8Array {
    const n = this.u32();
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }

  /** True when every byte of the record was read. */
  get finished(): boolean {
    return this.pos === this.end;
  }
}

/** The member id decoded last, and its bytes. */
interface IdCache {
  bytes: Buffer | undefined;
  last: string;
}

/** The stream of chunks as a sequence of byte ranges, hashing what it consumed. */
class StreamReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private hashed = 0;
  private readonly hash: Hash = createHash('sha256');
  private digested: Buffer | undefined;
  private readonly chunks: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  /** Shared by the records read. */
  readonly ids: IdCache = { bytes: undefined, last: '' };

  constructor(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.chunks = Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : chunks[Symbol.iterator]();
  }

  /** True when `n` bytes are available from the current position without reading more. */
  has(n: number): boolean {
    return this.buf.length - this.pos >= n;
  }

  /** Makes `n` bytes available from the current position; false when the stream ends first. */
  async fill(n: number): Promise<boolean> {
    if (this.has(n)) return true;
    this.digestConsumed();
    // The unread rest (usually part of one record) and as many chunks as it takes, joined once:
    // joining chunk by chunk would copy a large record (or a damaged length) over and over.
    const parts = [this.buf.subarray(this.pos)];
    let have = this.buf.length - this.pos;
    let ended = false;
    while (have < n) {
      const next = await this.chunks.next();
      if (next.done === true) {
        ended = true;
        break;
      }
      parts.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
      have += next.value.byteLength;
    }
    this.buf = parts.length === 1 ? (parts[0] as Buffer) : parts[0]?.length === 0 && parts.length === 2 ? (parts[1] as Buffer) : Buffer.concat(parts, have);
    this.pos = 0;
    this.hashed = 0;
    return !ended;
  }

  /** The buffer and offset of the next `n` bytes (after {@link fill}); advances past them. */
  take(n: number): { buf: Buffer; at: number } {
    const at = this.pos;
    this.pos += n;
    return { buf: this.buf, at };
  }

  /** Hashes what was consumed and not hashed yet. */
  private digestConsumed(): void {
    if (this.digested === undefined && this.pos > this.hashed) this.hash.update(this.buf.subarray(this.hashed, this.pos));
    this.hashed = this.pos;
  }

  /** The digest of everything consumed so far; what is consumed afterwards (the digest stored) is not hashed. */
  digest(): Buffer {
    this.digestConsumed();
    this.digested ??= this.hash.digest();
    return this.digested;
  }

  /** True when nothing follows what was consumed. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  /** Lets the source release what it holds (a file handle) when reading stops early. */
  async close(): Promise<void> {
    await this.chunks.return?.();
  }
}

/**
 * Reads one length-prefixed record; `what` names it in errors. Awaits only when the record runs
 * past the bytes at hand (a million awaits cost more than the parsing).
 */
function readRecord(s: StreamReader, location: string, what: () => string): RecordReader | Promise<RecordReader> {
  if (s.has(4)) {
    const { buf, at } = s.take(0);
    const length = buf.readUInt32LE(at);
    if (length <= MAX_RECORD_BYTES && s.has(4 + length)) {
      s.take(4 + length);
      return new RecordReader(buf, at + 4, at + 4 + length, location, s.ids);
    }
  }
  return readRecordLater(s, location, what());
}

async function readRecordLater(s: StreamReader, location: string, what: string): Promise<RecordReader> {
  if (!(await s.fill(4))) throw damaged(location, `it ends before ${what}`, 'truncated');
  const { buf, at } = s.take(4);
  const length = buf.readUInt32LE(at);
  if (length > MAX_RECORD_BYTES) throw damaged(location, `${what} claims ${length} bytes`);
  if (!(await s.fill(length))) throw damaged(location, `it ends inside ${what}`, 'truncated');
  const body = s.take(length);
  return new RecordReader(body.buf, body.at, body.at + length, location, s.ids);
}

/** Receives each entry as it is read, with the snapshot's header. */
export type SnapshotEntryVisitor = (entry: SnapshotEntry, header: SnapshotHeader) => void;

/**
 * Reads and checks a whole snapshot. `onEntry` sees each entry as it is read, so the caller can
 * build what it keeps without a second copy of the file in memory; it must not apply anything
 * before this resolves: a damage found later (the checksum comes last) means none of it counts.
 * @param chunks the snapshot's bytes, in order.
 * @param location names the snapshot in errors.
 * @param map the map that reads it: another map's snapshot is refused.
 * @param onEntry called with each entry, in order.
 * @throws {SnapshotError} when the file is damaged, truncated, of another format or map.
 */
export async function decodeSnapshot(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, location: string, map: string, onEntry: SnapshotEntryVisitor): Promise<SnapshotContents> {
  const s = new StreamReader(chunks);
  try {
    return await decodeFrom(s, location, map, onEntry);
  } finally {
    await s.close();
  }
}

async function decodeFrom(s: StreamReader, location: string, map: string, onEntry: SnapshotEntryVisitor): Promise<SnapshotContents> {
  if (!(await s.fill(MAGIC.length + 4))) throw damaged(location, 'it is too short to be a snapshot', 'truncated');
  const intro = s.take(MAGIC.length + 4);
  if (!intro.buf.subarray(intro.at, intro.at + MAGIC.length).equals(MAGIC)) throw damaged(location, 'it does not start as a snapshot does');
  const format = intro.buf.readUInt32LE(intro.at + MAGIC.length);
  if (format !== SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotError(
      `snapshot ${location} has format version ${format}; this version of lazy-replicated-map reads format ${SNAPSHOT_FORMAT_VERSION} only. Nothing of it was loaded and it is set aside: load it with the version that wrote it, or start without it`,
      location,
      'version',
    );
  }
  const h = await readRecord(s, location, () => 'the header');
  const header: SnapshotHeader = { map: h.str(), member: h.str(), writtenAt: h.count('the time written'), entries: h.count('the entry count'), tombstones: h.count('the tombstone count') };
  if (!h.finished) throw damaged(location, 'the header is longer than its fields');
  if (header.map !== map) {
    throw new SnapshotError(
      `snapshot ${location} was written by map '${header.map}', not '${map}': nothing of it was loaded and it is set aside. Give each map its own snapshot path`,
      location,
      'wrong-map',
    );
  }
  const tombstones: Removal[] = [];
  const total = header.entries + header.tombstones;
  for (let i = 0; i < total; i++) {
    const next = readRecord(s, location, () => `record ${i + 1} of ${total}`);
    const r = next instanceof RecordReader ? next : await next;
    const kind = r.u8();
    const expected = i < header.entries ? KIND_ENTRY : KIND_TOMBSTONE;
    if (kind !== expected) throw damaged(location, `record ${i + 1} is of kind ${kind}, expected ${expected}`);
    const key = r.key();
    const version = r.version();
    if (kind === KIND_TOMBSTONE) {
      tombstones.push({ key, version });
    } else {
      const ttlMs = r.duration();
      const maxIdleMs = r.duration();
      const idleMs = r.duration();
      const expiry = ttlMs === undefined && maxIdleMs === undefined ? undefined : { ...(ttlMs === undefined ? {} : { ttlMs }), ...(maxIdleMs === undefined ? {} : { maxIdleMs }), ...(idleMs === undefined ? {} : { idleMs }) };
      onEntry({ key, version, bytes: r.value(), expiry }, header);
    }
    if (!r.finished) throw damaged(location, `record ${i + 1} is longer than its fields`);
  }
  const digest = s.digest();
  if (!(await s.fill(DIGEST_BYTES))) throw damaged(location, 'it ends before its checksum', 'truncated');
  const stored = s.take(DIGEST_BYTES);
  if (!stored.buf.subarray(stored.at, stored.at + DIGEST_BYTES).equals(digest)) throw damaged(location, 'its checksum does not match its content');
  if (!(await s.atEnd())) throw damaged(location, 'bytes follow its checksum');
  return { header, tombstones };
}
