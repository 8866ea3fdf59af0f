// Extracts the TypeScript samples of the given Markdown files into one .ts module each, so the
// consumer check can compile them against the installed package: samples that cannot rot.
//
// Fences: ```ts is a sample and is compiled; ```ts continued is appended to the sample before it
// in the same file (a walk-through in steps); ```ts outline is an outline (API signatures, or code that needs files of this repository), not compiled.
// Usage: node --import tsx .ci/doc-blocks.ts OUT_DIR FILE.md...   (prints the written paths)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const [outDir, ...files] = process.argv.slice(2);
if (outDir === undefined || files.length === 0) {
  console.error('usage: node --import tsx .ci/doc-blocks.ts OUT_DIR FILE.md...');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
for (const file of files) {
  const samples: string[][] = [];
  // The sample being read; null inside an outline (skipped); undefined outside any fence.
  let current: string[] | null | undefined;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const fence = /^```(\S*)\s*(\S*)/.exec(line);
    if (current === undefined && fence?.[1] === 'ts') {
      const kind = fence[2] === undefined || fence[2] === '' ? 'sample' : fence[2];
      if (!['sample', 'continued', 'outline'].includes(kind)) throw new Error(`${file}: unknown fence '${line}'`);
      if (kind === 'continued' && samples.length === 0) throw new Error(`${file}: 'ts continued' with no sample before it`);
      if (kind === 'sample') samples.push([]);
      current = kind === 'outline' ? null : samples[samples.length - 1];
      continue;
    }
    if (current !== undefined && line.startsWith('```')) {
      current = undefined;
      continue;
    }
    current?.push(line);
  }
  samples.forEach((lines, i) => {
    // `export {}` makes every sample a module, so top-level await and imports behave as in an app.
    const path = join(outDir, `${basename(file, '.md')}-${i + 1}.ts`);
    writeFileSync(path, `${lines.join('\n')}\nexport {};\n`);
    console.log(path);
  });
}
