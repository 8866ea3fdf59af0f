/**
 * Shares the strings and lists that repeat across entries. Every decoded message brings fresh
 * copies of member ids and backup lists; a map of 100k proxies would otherwise keep 100k copies of
 * the same few ids. Member ids are few, so the tables stay small.
 *
 * @module
 */
import type { Version } from './version.js';

/** Canonical member ids, backup lists and versions for one map. */
export class Interner {
  private readonly ids = new Map<string, string>();
  private readonly lists = new Map<string, readonly string[]>();

  /** The canonical copy of a member id. */
  id(id: string): string {
    const known = this.ids.get(id);
    if (known !== undefined) return known;
    this.ids.set(id, id);
    return id;
  }

  /** A shared, frozen copy of a list of member ids. */
  list(ids: readonly string[]): readonly string[] {
    if (ids.length === 0) return EMPTY;
    const key = ids.join('\0');
    const known = this.lists.get(key);
    if (known !== undefined) return known;
    const list = Object.freeze(ids.map((i) => this.id(i)));
    this.lists.set(key, list);
    return list;
  }

  /** A version whose member ids are the canonical copies. */
  version(v: Version): Version {
    const writer = this.id(v[1]);
    const placer = this.id(v[3]);
    return writer === v[1] && placer === v[3] && Object.isFrozen(v) ? v : Object.freeze([v[0], writer, v[2], placer] as const);
  }
}

const EMPTY: readonly string[] = Object.freeze([]);
