/**
 * The checks every settings object of the library goes through, in one place: a class declares
 * its options as a table of rules ({@link OptionRules}), one line per option, and
 * {@link validateOptions} applies it. A bad value throws at construction (or at the call),
 * naming the class and the option: a `RangeError` for a number out of range (negative, `NaN`,
 * `Infinity` where a deadline is needed, a fraction where a count is, a string such as `'abc'`),
 * a `TypeError` for anything else of the wrong kind. An option name the table does not know (a
 * typo in JavaScript, where no compiler sees it) is warned about once per class and name.
 *
 * @module
 */

/** The code of the warning about an option name no rule knows. */
export const UNKNOWN_OPTION_WARNING = 'LRM_UNKNOWN_OPTION';

/**
 * The longest delay Node's timers keep: a larger one (or `Infinity`) fires at once, with only a
 * warning. Every option that ends up in a timer is capped here.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Checks one option's value, which is never `undefined` (an absent option takes its default). */
export type OptionRule = (value: unknown, option: string, owner: string) => void;

/**
 * One rule per option of `T`, keyed by the option's name. Typed over every key of `T`, so an
 * option added to a settings interface without its rule fails the type check: adding one is one
 * line in the table.
 */
export type OptionRules<T> = { readonly [K in keyof Required<T>]: OptionRule };

/** How a rejected value reads in an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  return typeof value === 'object' ? 'an object' : typeof value;
}

function label(owner: string, option: string): string {
  return `${owner} option \`${option}\``;
}

/** Bounds of a numeric rule. */
export interface NumberBounds {
  /** The smallest value allowed. @default 0 */
  min?: number;
  /** The largest value allowed. @default Number.MAX_SAFE_INTEGER */
  max?: number;
  /** What the number counts, for the message ('milliseconds', 'bytes'). */
  unit?: string;
}

/**
 * A whole number in `[min, max]`: anything else (a string, `NaN`, `Infinity`, `1.5`, a value out
 * of range) throws a `RangeError`.
 */
export function wholeNumber({ min = 0, max = Number.MAX_SAFE_INTEGER, unit }: NumberBounds = {}): OptionRule {
  const what = `a whole number${unit === undefined ? '' : ` of ${unit}`} from ${min} to ${max}`;
  return (value, option, owner) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new RangeError(`${label(owner, option)} must be ${what}, got ${describeValue(value)}`);
    }
  };
}

/** A whole number of milliseconds that goes into a timer: from `min` (default 1) to {@link MAX_TIMER_MS}. */
export function timerMs(min = 1): OptionRule {
  return wholeNumber({ min, max: MAX_TIMER_MS, unit: 'milliseconds' });
}

/** A finite number in `[min, max]` (fractions allowed): anything else throws a `RangeError`. */
export function finiteNumber({ min = 0, max = Number.MAX_VALUE, unit, above = false }: NumberBounds & { above?: boolean } = {}): OptionRule {
  const what = `a finite number${unit === undefined ? '' : ` of ${unit}`} ${above ? `above ${min}` : `from ${min}`}${max === Number.MAX_VALUE ? '' : ` to ${max}`}`;
  return (value, option, owner) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (above && value === min) || value > max) {
      throw new RangeError(`${label(owner, option)} must be ${what}, got ${describeValue(value)}`);
    }
  };
}

/** `true` or `false`. */
export const boolean: OptionRule = (value, option, owner) => {
  if (typeof value !== 'boolean') throw new TypeError(`${label(owner, option)} must be true or false, got ${describeValue(value)}`);
};

/** A function. */
export const func: OptionRule = (value, option, owner) => {
  if (typeof value !== 'function') throw new TypeError(`${label(owner, option)} must be a function, got ${describeValue(value)}`);
};

/** A non-empty string. */
export const nonEmptyString: OptionRule = (value, option, owner) => {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${label(owner, option)} must be a non-empty string, got ${describeValue(value)}`);
};

/** Any string, the empty one included. */
export const string: OptionRule = (value, option, owner) => {
  if (typeof value !== 'string') throw new TypeError(`${label(owner, option)} must be a string, got ${describeValue(value)}`);
};

/** An array of non-empty strings. */
export const stringArray: OptionRule = (value, option, owner) => {
  if (!Array.isArray(value) || !(value as unknown[]).every((v) => typeof v === 'string' && v.length > 0)) {
    throw new TypeError(`${label(owner, option)} must be an array of non-empty strings, got ${describeValue(value)}`);
  }
};

/** A plain settings object (not null, not an array). */
export const object: OptionRule = (value, option, owner) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${label(owner, option)} must be an object, got ${describeValue(value)}`);
};

/** One of `choices` (an enum such as `ack`). */
export function oneOf(choices: readonly unknown[]): OptionRule {
  const list = choices.map((c) => (typeof c === 'string' ? `'${c}'` : String(c))).join(', ');
  return (value, option, owner) => {
    if (!choices.includes(value)) throw new TypeError(`${label(owner, option)} must be one of ${list}, got ${describeValue(value)}`);
  };
}

/**
 * An object with the methods `methods` (and, for each `strings` name, a non-empty string
 * property), named `kind` in the message: a transport, a codec, a map.
 */
export function shaped(kind: string, methods: readonly string[], strings: readonly string[] = []): OptionRule {
  const needs = [...strings, ...methods.map((m) => `${m}()`)].join(', ');
  return (value, option, owner) => {
    const holder = value as Record<string, unknown> | null;
    const ok =
      (typeof value === 'object' || typeof value === 'function') &&
      holder !== null &&
      methods.every((m) => typeof holder[m] === 'function') &&
      strings.every((s) => typeof holder[s] === 'string' && (holder[s]).length > 0);
    if (!ok) throw new TypeError(`${label(owner, option)} must be ${kind} (with ${needs}), got ${describeValue(value)}`);
  };
}

/** A transport as maps and channels use it: an id and the methods of the `Transport` interface. */
export const transportRule: OptionRule = shaped('a Transport', ['start', 'stop', 'peers', 'send', 'on', 'off', 'emit'], ['id']);

/** The option must be present (not `undefined`), then pass `rule`. */
export function required(rule: OptionRule): OptionRule {
  // A wrapper of its own: rules are shared (nonEmptyString), requiredness is per option.
  const checked: OptionRule = (value, option, owner) => {
    rule(value, option, owner);
  };
  REQUIRED.add(checked);
  return checked;
}
const REQUIRED = new WeakSet<OptionRule>();

/** The unknown names already warned about, as `owner\0name`: once each per process. */
const warned = new Set<string>();

/** Edit distance of two short names, to suggest the option a typo meant. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] as number;
}

/** The known name closest to `name`, when it is close enough to be a typo of it. */
export function closestOption(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === name.toLowerCase() ? 0 : distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Two edits (a missing unit such as `ttl` for `ttlMs`, a swapped pair), more for long names.
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Warns (once per `owner` and name, with code {@link UNKNOWN_OPTION_WARNING}) about every own
 * key of `options` that `known` lacks, suggesting the closest known name.
 */
export function warnUnknownOptions(owner: string, options: object, known: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const key = `${owner}\0${name}`;
    if (warned.has(key)) continue;
    warned.add(key);
    const guess = closestOption(name, known);
    process.emitWarning(`${owner} has no option \`${name}\`; it is ignored${guess === undefined ? '' : `. Did you mean \`${guess}\`?`}`, {
      code: UNKNOWN_OPTION_WARNING,
    });
  }
}

/** @internal Forgets the warnings given, so a spec can see one again. */
export function resetOptionWarnings(): void {
  warned.clear();
}

const namesOf = new WeakMap<object, readonly string[]>();

/**
 * Checks `options` against `rules`: each present option passes its rule, each required one is
 * present, unknown names are warned about. `options` itself must be an object (or `undefined`
 * when nothing is required).
 * @throws {TypeError} for options that are not an object, a missing required option, or an option of the wrong kind.
 * @throws {RangeError} for a numeric option out of range.
 */
export function validateOptions<T extends object>(owner: string, options: unknown, rules: OptionRules<T>): asserts options is T {
  const table = rules as Readonly<Record<string, OptionRule>>;
  // Per-call options (an RPC, a write) are checked on hot paths: the names are listed once.
  let names = namesOf.get(table);
  if (names === undefined) {
    names = Object.keys(table);
    namesOf.set(table, names);
  }
  if (options === undefined && !names.some((n) => REQUIRED.has(table[n] as OptionRule))) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${owner} needs an options object, got ${describeValue(options)}`);
  }
  const given = options as Record<string, unknown>;
  for (const name of names) {
    const rule = table[name] as OptionRule;
    const value = given[name];
    if (value === undefined) {
      if (REQUIRED.has(rule)) throw new TypeError(`${label(owner, name)} is required`);
      continue;
    }
    rule(value, name, owner);
  }
  warnUnknownOptions(owner, options, names);
}
