/**
 * A DeltaValue shared by the map's delta specs (spec/map/delta.spec.ts, spec/map/diff-groups.spec.ts),
 * registered once with the value codec.
 */
import { ValueCodec, type DeltaValue } from '../../lib/index.js';

/**
 * A DeltaValue for these specs: named fields, recording the ones changed since the last reset.
 * A field named `poison` makes `applyDiff` throw, to play a member that cannot apply a diff.
 */
export class Doc implements DeltaValue {
  fields: Record<string, unknown> = {};
  private readonly changed = new Map<string, unknown>();

  put(name: string, value: unknown): this {
    this.fields[name] = value;
    this.changed.set(name, value);
    return this;
  }

  describe(): string {
    return Object.keys(this.fields).sort().join(',');
  }

  isDirty(): boolean {
    return this.changed.size > 0;
  }

  getDiff(): unknown {
    return [...this.changed];
  }

  applyDiff(diff: unknown): void {
    if (!Array.isArray(diff)) throw new TypeError('a Doc diff is a list of [name, value]');
    for (const [name, value] of diff as [string, unknown][]) {
      if (name === 'poison') throw new Error('poisoned diff');
      this.fields[name] = value;
    }
  }

  resetDiff(): void {
    this.changed.clear();
  }
}
/** How many times a Doc was encoded and decoded, on every member (they share this process). */
export const docCodec = { encoded: 0, decoded: 0 };
ValueCodec.register(40_901, Doc, (d) => {
  docCodec.encoded++;
  return d.fields;
}, (data) => {
  if (typeof data !== 'object' || data === null) throw new TypeError('a Doc is a map of fields');
  docCodec.decoded++;
  const d = new Doc();
  d.fields = data as Record<string, unknown>;
  return d;
});
