/**
 * Shares the strings and lists that repeat across entries. Every decoded message brings fresh
 * copies of member ids and backup lists; a map of 100k proxies would otherwise keep 100k copies of
 * the same few ids. Member ids are few, so the tables stay small.
 *
 * @module
 */
import type { MapKey } from '../codec/map-messages.js';
import { updateOf, updaterOf, version, type Version } from './version.js';

/** Canonical member ids, backup lists and versions for one map. */
export class Interner {
  private readonly ids = new Map<string, string>();
  private readonly lists = new Map<string, readonly string[]>();

  /** The canonical copy of a member id. */
  id(id: string): string {
    const known = this.ids.get(id);
    if (known !== undefined) return known;
    const own = ownString(id);
    this.ids.set(own, own);
    return own;
  }

  /**
   * A key to keep: a string key decoded from a message is a slice of one string that cbor-x built
   * for the whole message, and keeping the slice keeps that string alive; this returns a copy of
   * its own (32-character keys: 89 bytes each as slices, 56 as copies).
   */
  key(key: MapKey): MapKey {
    return typeof key === 'string' ? ownString(key) : key;
  }

  /** A shared, frozen copy of a list of member ids. */
  list(ids: readonly string[]): readonly string[] {
    if (ids.length === 0) return EMPTY;
    // One backup is the common case: its id is the key, no string is built on the write path.
    const key = ids.length === 1 ? (ids[0] as string) : ids.join('\0');
    const known = this.lists.get(key);
    if (known !== undefined) return known;
    const list = Object.freeze(ids.map((i) => this.id(i)));
    this.lists.set(key, list);
    return list;
  }

  /** The version with the canonical copies of its member ids (an entry keeps the ids, not the tuple). */
  version(v: Version): Version {
    const writer = this.id(v[1]);
    const placer = this.id(v[3]);
    const updater = v.length === 6 ? this.id(v[5]) : '';
    return writer === v[1] && placer === v[3] && updater === updaterOf(v) ? v : version(v[0], writer, v[2], placer, updateOf(v), updater);
  }
}

const EMPTY: readonly string[] = Object.freeze([]);

/**
 * A flat copy of `s`, sharing nothing with the string it may be a slice of. V8 slices strings of 13
 * characters or more; a property name is stored flat and interned, and `for...in` hands it back.
 */
function ownString(s: string): string {
  if (s.length < 13) return s;
  const holder: Record<string, true> = { [s]: true };
  for (const name in holder) return name;
  return s;
}
