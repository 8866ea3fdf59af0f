/**
 * `npx tsx bench/profile-top.ts [--top=10] [--by=package] file.cpuprofile...`: where the time went, as a
 * Markdown table of the functions with the most self time over all the given V8 CPU profiles
 * (such as the ones `BENCH_CPU_PROF=dir npm run bench -- --only=sessions` writes), aggregated by
 * function name and source location, with the package or file each one lives in. Idle samples
 * are left out, so shares are of the time the processes were busy.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { markdownTable } from './measure.js';

/** The parts of a V8 `.cpuprofile` this tool reads. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Self time of one function over all profiles. */
export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  share: number;
}

/** A short location: `pkg:express-session`, `lib/map/entry.ts:42`, `node:net`, or `(native)`. */
function locate(url: string, line: number): string {
  if (url === '') return '(native)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path);
  if (inPackage !== null) return `${inPackage[1] ?? ''}/${inPackage[2] ?? ''}:${String(line + 1)}`;
  // dist/ is lib/ built (the benches run it): named as lib/, so --by=package groups it by folder.
  const ours = /\/(lib|bench|dist)\/(.*)$/.exec(path);
  if (ours !== null) return `${ours[1] === 'dist' ? 'lib' : (ours[1] ?? '')}/${ours[2] ?? ''}:${String(line + 1)}`;
  return `${path}:${String(line + 1)}`;
}

/** Aggregates self time (sampled) by function and location over `files`; the `top` largest. */
export function topSelfTime(files: string[], top = 10, byPackage = false): SelfTime[] {
  const byKey = new Map<string, SelfTime>();
  let total = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const node = nodes.get(samples[i] ?? -1);
      // A sample's time is the gap until the next sample (the last one gets the profile's end).
      const us = i + 1 < deltas.length ? (deltas[i + 1] ?? 0) : 0;
      // Idle time is the process waiting for I/O: not where CPU goes.
      if (node === undefined || node.callFrame.functionName === '(idle)') continue;
      const { functionName, url, lineNumber } = node.callFrame;
      const name = functionName === '' ? '(anonymous)' : functionName;
      const where = locate(url, lineNumber);
      // --by=package: one row per package, per folder of lib/, or per native entry (GC, writev).
      const group = url === '' ? name : where.startsWith('lib/') ? where.split('/').slice(0, 2).join('/') : (where.split(/\/|:/)[0] ?? where);
      const key = byPackage ? group : `${name}\u0000${where}`;
      const entry = byKey.get(key) ?? (byPackage ? { name: group, where: '', ms: 0, share: 0 } : { name, where, ms: 0, share: 0 });
      entry.ms += us / 1000;
      byKey.set(key, entry);
      total += us / 1000;
    }
  }
  const sorted = [...byKey.values()].sort((a, b) => b.ms - a.ms).slice(0, top);
  for (const s of sorted) s.share = total === 0 ? 0 : s.ms / total;
  return sorted;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice('--top='.length) ?? 10);
  const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (files.length === 0) {
    console.error('usage: npx tsx bench/profile-top.ts [--top=10] file.cpuprofile...');
    process.exit(2);
  }
  const rows = topSelfTime(files, top, process.argv.includes('--by=package'));
  console.log(markdownTable(['function', 'where', 'self ms', 'share of busy samples'], rows.map((r) => [`\`${r.name}\``, `\`${r.where}\``, r.ms, `${(r.share * 100).toFixed(1)}%`])));
}
