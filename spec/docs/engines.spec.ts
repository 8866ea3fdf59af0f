/**
 * `engines` claims only Node versions where the package works as a user meets it: `import`, and
 * `require()` of an ES module without a flag (Node 20.19+ in the 20 line, 22.12+ in the 22 line,
 * every later major). A range that admits an older version fails here.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';

type Version = [number, number, number];

function parse(v: string): Version {
  const [major = NaN, minor = 0, patch = 0] = v.split('.').map(Number);
  return [major, minor, patch];
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

/** Whether `version` satisfies `range`, for the forms `engines` uses: `^a.b.c` and `>=a.b.c` joined by `||`. */
function satisfies(range: string, version: Version): boolean {
  return range.split('||').some((part) => {
    const p = part.trim();
    if (p.startsWith('>=')) return compare(version, parse(p.slice(2))) >= 0;
    if (p.startsWith('^')) {
      const low = parse(p.slice(1));
      return version[0] === low[0] && compare(version, low) >= 0;
    }
    throw new Error(`engines: a form this spec does not read: '${p}'`);
  });
}

/** Where `require(esm)` works without a flag. */
function requiresEsm([major, minor]: Version): boolean {
  if (major === 20) return minor >= 19;
  if (major === 22) return minor >= 12;
  return major >= 23;
}

describe('package.json engines', () => {
  const range = (JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } }).engines.node;
  const versions: Version[] = [];
  for (const major of [18, 19, 20, 21, 22, 23, 24, 25]) for (let minor = 0; minor <= 25; minor++) versions.push([major, minor, 0]);

  it('claims no Node version where require() of the package fails', () => {
    for (const v of versions) if (satisfies(range, v)) expect(requiresEsm(v), `engines '${range}' admits ${v.join('.')}`).to.equal(true);
  });

  it('claims the versions the package supports: 20.19+, 22.12+ and later majors', () => {
    for (const v of [[20, 19, 0], [20, 20, 2], [22, 12, 0], [24, 0, 0]] as Version[]) expect(satisfies(range, v), v.join('.')).to.equal(true);
  });

  it('is met by the Node running the tests', () => {
    expect(satisfies(range, parse(process.versions.node))).to.equal(true);
  });
});
