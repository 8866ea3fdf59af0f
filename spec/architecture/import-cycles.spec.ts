import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { forbiddenImports, importCycles, importGraph, moduleNames, type ForbiddenImport, type ImportGraph } from './import-graph.js';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));

/**
 * Imports that must not exist, between folders of lib/ (see docs/architecture.md, "Who imports
 * whom"). Arrows point one way: map → rpc / membership → codec / transport interface; whatever a
 * lower layer needs from a higher one is given to it (an interface it declares, a function passed
 * in), never imported.
 */
const FORBIDDEN: readonly ForbiddenImport[] = [
  { from: '*', to: 'index.ts', why: 'lib/index.ts is the public surface only; importing it pulls in the whole library' },
  { from: 'errors.ts', to: '*', why: 'every layer imports the error classes, so they import nothing' },
  { from: 'transport/transport.ts', to: '*', why: 'implementing the Transport interface must not pull in the library' },
  ...['map/', 'rpc/', 'membership/', 'codec/', 'session/', 'keyv/', 'snapshot/'].map((to) => ({
    from: 'transport/',
    to,
    why: 'a transport carries opaque bytes: it knows no frame, channel or map',
  })),
  { from: 'transport/memory/', to: 'transport/tcp/', why: 'the two transports share only the Transport interface' },
  { from: 'transport/tcp/', to: 'transport/memory/', why: 'the two transports share only the Transport interface' },
  { from: 'transport/', to: 'diagnostics/publish.ts', why: "the map-level publishing helpers; a transport publishes only its own errors (diagnostics/peer-error.ts)" },
  ...['map/', 'rpc/', 'membership/', 'transport/', 'session/', 'keyv/', 'snapshot/'].map((to) => ({
    from: 'diagnostics/',
    to,
    why: "every layer imports diagnostics, so it imports no layer above the codec (a shape that names a layer's types is declared with that layer)",
  })),
  ...['map/', 'rpc/', 'membership/', 'transport/', 'diagnostics/', 'session/', 'keyv/', 'snapshot/'].map((to) => ({
    from: 'codec/',
    to,
    why: 'the codec is pure functions from bytes to typed values; the layer above names what it does not know',
  })),
  ...['map/', 'rpc/', 'transport/', 'session/', 'keyv/'].map((to) => ({
    from: 'membership/',
    to,
    why: 'who is alive is drawn from a MemberSource given to it',
  })),
  { from: 'rpc/', to: 'membership/', why: "the map's Membership (its members, incarnations, leavers) is not the RPC channel's business; a channel asks its router who is reachable" },
  ...['map/', 'session/', 'keyv/'].map((to) => ({ from: 'rpc/', to, why: 'the RPC channel runs on any transport for any caller; the maps sit above it' })),
  { from: 'map/', to: 'transport/memory/', why: 'nothing under map/ imports a concrete transport' },
  { from: 'map/', to: 'transport/tcp/', why: 'nothing under map/ imports a concrete transport' },
  ...['session/', 'keyv/', 'in-memory-network.ts'].map((to) => ({ from: 'map/', to, why: 'the stores and the packaged network are built on the map, not the other way round' })),
  ...['keyv/', 'session/'].flatMap((from) =>
    ['map/map-context.ts', 'map/base-replicated-map.ts', 'map/map-assembly.ts'].map((to) => ({
      from,
      to,
      why: "the stores see the map through small structural interfaces and its public option types, never its shared state or its facade's module",
    })),
  ),
  ...['map/', 'rpc/', 'transport/'].map((to) => ({ from: 'snapshot/', to, why: 'the map calls the snapshot store; the store knows no map' })),
];

describe('lib/ imports', () => {
  describe('the import graph', () => {
    it('counts type-only imports, re-exports and import() types, and no import written in a comment', () => {
      const source = [
        "/** @example import { X } from './in-a-comment.js' */",
        "import type { A } from './a.js';",
        'import { type B, C } from "./b.js";',
        "export * from './c.js';",
        "export type { D } from './d.js';",
        "import './e.js';",
        "type F = import('./f.js').F;",
        "// import { G } from './in-a-line-comment.js'",
        "const s = 'import { H } from \"./in-a-string.js\"';",
      ].join('\n');
      expect(moduleNames(source)).to.deep.equal(['./a.js', './b.js', './c.js', './d.js', './e.js', './f.js']);
    });

    it('names a cycle by its modules, and finds none in a graph without one', () => {
      const graph: ImportGraph = new Map([
        ['a.ts', ['b.ts']],
        ['b.ts', ['c.ts', 'd.ts']],
        ['c.ts', ['a.ts']],
        ['d.ts', []],
        ['e.ts', ['e.ts']],
      ]);
      expect(importCycles(graph)).to.deep.equal([
        ['a.ts', 'b.ts', 'c.ts', 'a.ts'],
        ['e.ts', 'e.ts'],
      ]);
      expect(importCycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', []]]))).to.deep.equal([]);
    });

    it('finds a forbidden edge by folder or by file', () => {
      const graph: ImportGraph = new Map([
        ['transport/tcp/x.ts', ['map/y.ts', 'errors.ts']],
        ['keyv/k.ts', ['map/map-context.ts', 'map/map-options.ts']],
      ]);
      const rules: ForbiddenImport[] = [
        { from: 'transport/', to: 'map/', why: 'down only' },
        { from: 'keyv/', to: 'map/map-context.ts', why: 'no shared state' },
      ];
      expect(forbiddenImports(graph, rules)).to.deep.equal(['keyv/k.ts → map/map-context.ts (no shared state)', 'transport/tcp/x.ts → map/y.ts (down only)']);
    });
  });

  describe('of this library', () => {
    let graph: ImportGraph = new Map();
    before(() => {
      graph = importGraph(LIB);
    });

    it('form no cycle, type-only imports included', () => {
      const cycles = importCycles(graph).map((c) => c.join(' → '));
      expect(cycles, `import cycles in lib/:\n  ${cycles.join('\n  ')}\n`).to.deep.equal([]);
    });

    it('cross no forbidden line between folders', () => {
      const leaks = forbiddenImports(graph, FORBIDDEN);
      expect(leaks, `forbidden imports in lib/:\n  ${leaks.join('\n  ')}\n`).to.deep.equal([]);
    });

    it('name, in every forbidden-import rule, a folder or file that exists (a rename must update the rule)', () => {
      const missing = [...new Set(FORBIDDEN.flatMap((r) => [r.from, r.to]))].filter((p) => p !== '*' && !existsSync(`${LIB}${p}`));
      expect(missing).to.deep.equal([]);
    });
  });
});
