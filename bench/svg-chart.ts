/**
 * A small, dependency-free SVG line chart for docs/performance.md: bytes per write against the
 * number of members, one line per map kind.
 *
 * @module
 */

/** One measured row: members, and bytes per write for each kind. */
export interface BytesRow {
  members: number;
  lazy: number;
  replicated: number;
}

/** The chart as an SVG document. */
export function bytesChart(rows: readonly BytesRow[]): string {
  const width = 640;
  const height = 360;
  const left = 70;
  const bottom = 40;
  const top = 30;
  const right = 150;
  const maxX = Math.max(...rows.map((r) => r.members));
  const maxY = Math.max(...rows.map((r) => Math.max(r.lazy, r.replicated)));
  const x = (m: number): number => left + ((width - left - right) * (m - 0)) / maxX;
  const y = (b: number): number => height - bottom - ((height - bottom - top) * b) / maxY;
  const line = (key: 'lazy' | 'replicated'): string => rows.map((r) => `${x(r.members).toFixed(1)},${y(r[key]).toFixed(1)}`).join(' ');
  const ticksY = [0, 0.25, 0.5, 0.75, 1].map((f) => maxY * f);
  const label = (b: number): string => (b >= 1024 ? `${(b / 1024).toFixed(0)} KiB` : `${Math.round(b)} B`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
  <rect width="100%" height="100%" fill="white"/>
  <text x="${left}" y="18" font-size="14">Bytes on the wire per write of a 4 KiB value</text>
  <line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="black"/>
  <line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="black"/>
${ticksY.map((t) => `  <text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${label(t)}</text><line x1="${left}" y1="${y(t)}" x2="${width - right}" y2="${y(t)}" stroke="#ddd"/>`).join('\n')}
${rows.map((r) => `  <text x="${x(r.members)}" y="${height - bottom + 16}" text-anchor="middle">${r.members}</text>`).join('\n')}
  <text x="${(left + width - right) / 2}" y="${height - 6}" text-anchor="middle">members</text>
  <polyline points="${line('replicated')}" fill="none" stroke="#c0392b" stroke-width="2"/>
  <polyline points="${line('lazy')}" fill="none" stroke="#2471a3" stroke-width="2"/>
  <text x="${width - right + 8}" y="${y(rows[rows.length - 1]?.replicated ?? 0) + 4}" fill="#c0392b">ReplicatedMap</text>
  <text x="${width - right + 8}" y="${y(rows[rows.length - 1]?.lazy ?? 0) + 4}" fill="#2471a3">LazyReplicatedMap</text>
</svg>
`;
}
