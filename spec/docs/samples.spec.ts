/**
 * The settings the docs' samples read from the environment work when the environment sets
 * nothing (the first member of a cluster, a one-process dev run) and when it sets a list: each
 * `const x = <expression with process.env>;` line of a sample is evaluated both ways and handed
 * to the class it configures. (The consumer check compiles the samples; this runs their settings.)
 */
import { readFileSync, readdirSync } from 'node:fs';
import { expect } from 'chai';
import { TcpTransport } from '../../lib/index.js';

/** The `const name = expression;` lines of a Markdown file's TypeScript samples that read `process.env`. */
function envSettings(file: string): Map<string, string> {
  const found = new Map<string, string>();
  let inSample = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) inSample = line.startsWith('```ts') && !inSample;
    const m = inSample ? /^const (\w+) = (.*process\.env.*?);\s*(\/\/.*)?$/.exec(line) : null;
    if (m !== null) found.set(m[1]!, m[2]!.replace(/!$/, ''));
  }
  return found;
}

/** `expression` evaluated with `env` as `process.env`. */
function evaluate(expression: string, env: Record<string, string>): unknown {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const fn = new Function('process', `return ${expression};`) as (process: { env: Record<string, string> }) => unknown;
  return fn({ env });
}

describe('doc samples read their settings from the environment', () => {
  const sessions = envSettings('docs/sessions.md');

  it('docs/sessions.md: SEEDS unset is no seed at all (the first member), a list is a list', () => {
    const seeds = sessions.get('SEEDS');
    expect(seeds, 'the SEEDS line of the sample').to.be.a('string');
    expect(evaluate(seeds!, {})).to.deep.equal([]);
    expect(evaluate(seeds!, { SEEDS: 'node2.internal:4000,node3.internal:4000' })).to.deep.equal(['node2.internal:4000', 'node3.internal:4000']);
    for (const env of [{}, { SEEDS: 'node2.internal:4000' }]) {
      expect(() => new TcpTransport({ id: evaluate(sessions.get('route')!, env) as string, seeds: evaluate(seeds!, env) as string[] })).not.to.throw();
    }
  });

  it('docs/sessions.md: the member id has a default for a one-process run', () => {
    expect(evaluate(sessions.get('route')!, {})).to.equal('node1');
    expect(evaluate(sessions.get('route')!, { MEMBER_ID: 'node2' })).to.equal('node2');
  });

  it('no sample splits a list from the environment without dropping the empty entry', () => {
    const files = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    for (const file of files) {
      for (const [name, expression] of envSettings(file)) {
        if (!expression.includes('.split(')) continue;
        expect(evaluate(expression, {}), `${file}: ${name}`).to.deep.equal([]);
      }
    }
  });
});
