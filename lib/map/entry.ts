/**
 * One key as a member knows it.
 *
 * @module
 */
import type { MapKey, Placement } from '../codec/map-messages.js';
import type { Version } from './version.js';

/**
 * What this member holds of a key.
 * - `primary`: owns it and holds the value; reads are local.
 * - `backup`: holds a full copy for failover.
 * - `copy`: holds a full copy in a `ReplicatedMap` (reads are local too).
 * - `proxy`: knows only where the value lives.
 */
export type EntryRole = 'primary' | 'backup' | 'copy' | 'proxy';

/** Where a key lives, as `map.entryInfo(key)` reports it. */
export interface EntryInfo {
  /** This member's role for the key. */
  readonly role: EntryRole;
  /** The member that owns the key. */
  readonly primary: string;
  /** The members holding copies besides the primary. */
  readonly backups: readonly string[];
}

/** Placeholder for "not decoded yet": a value may legitimately be `undefined`. */
export const NOT_DECODED: unique symbol = Symbol('not decoded');

/**
 * A member's record of one key. Holders keep the encoded `bytes` (as they travel); only a primary
 * that was read keeps the decoded `value` too, so backups cost their bytes and nothing more.
 */
export class Entry {
  readonly key: MapKey;
  role: EntryRole;
  version: Version;
  primary: string;
  backups: readonly string[];
  /** The encoded value; `undefined` on a proxy. */
  bytes: Uint8Array | undefined;
  /** The decoded value, or {@link NOT_DECODED}. */
  value: unknown;
  /**
   * When this member last saw the entry used, by the map's clock: written or replicated here, or a
   * copy, diff or access notice received from its primary. On a proxy, as the holder that answered
   * its last fetch reported it. `undefined` when not known. Expiry (sessions) is built on it.
   */
  lastAccess: number | undefined;

  constructor(key: MapKey, role: EntryRole, version: Version, primary: string, backups: readonly string[], bytes?: Uint8Array) {
    this.key = key;
    this.role = role;
    this.version = version;
    this.primary = primary;
    this.backups = backups;
    this.bytes = bytes;
    this.value = NOT_DECODED;
    this.lastAccess = undefined;
  }

  /** The members that hold the value, primary first. */
  holders(): string[] {
    return [this.primary, ...this.backups];
  }

  /** This entry's placement, as sent in `MSG_PROXY`. */
  placement(): Placement {
    return { key: this.key, version: this.version, primary: this.primary, backups: this.backups };
  }
}
