/**
 * Just enough of vitest for Keyv's official `@keyv/test-suite` to run under mocha: the suite
 * takes vitest's module as a parameter and uses only `it`, `beforeEach`, `afterEach` and the
 * test context's `expect` (`toBe`, `toEqual`, `toBeTruthy`, `toBeFalsy`, `toBeNull`,
 * `toBeUndefined`, `toBeDefined`, `not`, `expect.assertions`). Matchers follow vitest's meaning
 * (`toBe` is `Object.is`, `toEqual` a deep equality); a matcher the suite starts to use and this
 * shim lacks fails the test loudly instead of passing it.
 *
 * @module
 */
import { inspect } from 'node:util';
import { expect as chaiExpect } from 'chai';

type Matcher = (expected?: unknown) => void;
interface Matchers {
  toBe: Matcher;
  toEqual: Matcher;
  toBeTruthy: Matcher;
  toBeFalsy: Matcher;
  toBeNull: Matcher;
  toBeUndefined: Matcher;
  toBeDefined: Matcher;
  not: Omit<Matchers, 'not'>;
}
type Expect = ((actual: unknown) => Matchers) & { assertions: (count: number) => void };
type TestFn = (context: { expect: Expect }) => unknown;

/** The vitest-shaped module the suite is handed; `skip` names tests not to run, each with its reason. */
export function vitestShim(skip: ReadonlyMap<string, string> = new Map()): { it: (name: string, fn: TestFn) => void; beforeEach: (fn: () => unknown) => void; afterEach: (fn: () => unknown) => void } {
  return {
    it(name, fn) {
      const reason = skip.get(name);
      if (reason !== undefined) {
        it.skip(`${name} (skipped: ${reason})`, () => undefined);
        return;
      }
      // Wrapped: mocha would take the suite's `(t) => ...` for a callback-style test.
      it(name, async () => {
        const context = newContext();
        await fn({ expect: context.expect });
        context.verify();
      });
    },
    beforeEach(fn) {
      beforeEach(async () => {
        await fn();
      });
    },
    afterEach(fn) {
      afterEach(async () => {
        await fn();
      });
    },
  };
}

function newContext(): { expect: Expect; verify: () => void } {
  let made = 0;
  let expected: number | undefined;
  const matchers = (actual: unknown, negate: boolean): Omit<Matchers, 'not'> => {
    const check = (pass: boolean, what: string): void => {
      made++;
      if (pass === negate) chaiExpect.fail(`expected ${inspect(actual)} ${negate ? 'not ' : ''}${what}`);
    };
    return {
      toBe: (e) => { check(Object.is(actual, e), `to be ${inspect(e)}`); },
      toEqual: (e) => {
        made++;
        if (negate) chaiExpect(actual).to.not.deep.equal(e);
        else chaiExpect(actual).to.deep.equal(e);
      },
      toBeTruthy: () => { check(Boolean(actual), 'to be truthy'); },
      toBeFalsy: () => { check(!actual, 'to be falsy'); },
      toBeNull: () => { check(actual === null, 'to be null'); },
      toBeUndefined: () => { check(actual === undefined, 'to be undefined'); },
      toBeDefined: () => { check(actual !== undefined, 'to be defined'); },
    };
  };
  const expect = Object.assign((actual: unknown): Matchers => ({ ...matchers(actual, false), not: matchers(actual, true) }), {
    assertions: (count: number) => {
      expected = count;
    },
  });
  return {
    expect,
    verify: () => {
      if (expected !== undefined) chaiExpect(made, 'assertions made (expect.assertions)').to.equal(expected);
    },
  };
}
