/**
 * A readiness probe for orchestrators (Kubernetes' `readinessProbe`, a load balancer's health
 * check): 200 once every map joined, 503 while one is joining or stopping. Plain `node:http`
 * types, so it serves from `http.createServer`, express, connect or fastify's raw handlers alike.
 * See docs/kubernetes.md.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a probe asks: a map (`isReady` is true once it joined, false again once it stops). */
export interface ReadinessSource {
  /** True once the member joined (it knows every key) and is not stopping. */
  readonly isReady: boolean;
  /** Named in the 503 answer. */
  readonly name?: string;
}

/**
 * A request handler answering `200 ready` when every map of `maps` is ready, else `503` naming the
 * maps that are not (still joining, or stopping: a member that got SIGTERM stops taking traffic).
 * Point the readiness probe at it; the next pod of a rolling update is stopped only once this
 * answers 200, that is once the new member received the state of every member it found.
 *
 * @example
 * ```ts
 * const probe = readinessProbe([map]);
 * http.createServer((req, res) => (req.url === '/readyz' ? probe(req, res) : app(req, res)));
 * // or, with express: app.get('/readyz', probe);
 * ```
 */
export function readinessProbe(maps: readonly ReadinessSource[]): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    const waiting = maps.filter((m) => !m.isReady);
    const body = waiting.length === 0 ? 'ready\n' : `not ready: ${waiting.map((m, i) => m.name ?? `#${i}`).join(', ')}\n`;
    res.writeHead(waiting.length === 0 ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  };
}
