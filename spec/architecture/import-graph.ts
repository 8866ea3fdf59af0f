/**
 * The import graph of `lib/`, built from the files themselves: every `import`, `import type`,
 * `export ... from` and `import('...')` of a relative module, resolved to the file it names. The
 * TypeScript compiler (already a dev dependency) only lists the module names, so comments and
 * strings that look like imports (the TSDoc examples) are not counted; resolving them to files is
 * done here, by the rules this repository uses (`./x.js` names `./x.ts`).
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** Module → the modules it imports, as paths relative to the root (`map/entry.ts`), sorted. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** Every `.ts` file under `dir`, as paths relative to `dir` with `/` separators, sorted. */
export function sourceFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) found.push(relative(dir, path).split(sep).join('/'));
    }
  };
  walk(dir);
  return found.sort();
}

/** The module names `source` imports or re-exports, whatever the form (type-only included). */
export function moduleNames(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/**
 * The file a relative module name of `importer` (both relative to `root`) resolves to: `./x.js`
 * is `./x.ts`, `./x` is `./x.ts` or `./x/index.ts`. `undefined` for a package or `node:` module;
 * throws for a relative name that names no file, so a typo cannot hide an edge.
 */
export function resolveModule(root: string, importer: string, name: string): string | undefined {
  if (!name.startsWith('./') && !name.startsWith('../')) return undefined;
  const base = resolve(root, dirname(importer), name);
  const candidates = [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.d.ts'), `${base}.ts`, join(base, 'index.ts')];
  const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  if (hit === undefined) throw new Error(`${importer} imports '${name}', which names no file under ${root}`);
  return relative(root, hit).split(sep).join('/');
}

/** The import graph of every `.ts` file under `root`. */
export function importGraph(root: string): ImportGraph {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(root)) {
    const targets = new Set<string>();
    for (const name of moduleNames(readFileSync(join(root, file), 'utf8'))) {
      const target = resolveModule(root, file, name);
      if (target !== undefined) targets.add(target);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/**
 * The import cycles of `graph`: one per strongly connected component of more than one module (or
 * a module that imports itself), each given as a path that starts and ends at the component's
 * first module (`a.ts → b.ts → a.ts`). Tarjan's algorithm; order is deterministic.
 */
export function importCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components.map((c) => cycleThrough(graph, c)).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A shortest cycle from the first module of `component` back to it, inside the component. */
function cycleThrough(graph: ImportGraph, component: readonly string[]): string[] {
  const members = new Set(component);
  const start = component[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at = v; at !== start; at = cameFrom.get(at)!) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  throw new Error(`no cycle through ${start} in its component (${component.join(', ')})`);
}

/**
 * An edge that must not exist: a module under `from` imports a module under `to`. A path ending
 * in `/` is a folder (everything under it), any other a file; `*` is every module.
 */
export interface ForbiddenImport {
  readonly from: string;
  readonly to: string;
  /** Why the edge is forbidden: printed when it is found. */
  readonly why: string;
}

const under = (path: string, prefix: string): boolean => prefix === '*' || (prefix.endsWith('/') ? path.startsWith(prefix) : path === prefix);

/** Every edge of `graph` a rule forbids, as `importer → imported (why)`, sorted. */
export function forbiddenImports(graph: ImportGraph, rules: readonly ForbiddenImport[]): string[] {
  const found: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      for (const rule of rules) if (under(from, rule.from) && under(to, rule.to)) found.push(`${from} → ${to} (${rule.why})`);
    }
  }
  return found.sort();
}
