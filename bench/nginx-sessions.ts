/**
 * Failover behind nginx, measured: three express apps with the session store (one process, an
 * in-memory network between the maps, real HTTP ports) behind a real nginx, N users reading their
 * session in a loop; one member is killed mid-run. Counts the promotions on the survivors after
 * the kill, and the requests that found no session, for two nginx configs:
 * - `backup`: per-route upstreams whose other members are `backup` servers (round-robin among them);
 * - `hash`: per-route upstreams, and on error a fallback upstream `hash $cookie_sid consistent`.
 *
 * Usage: npx tsx bench/nginx-sessions.ts [users=50] [seconds=4]   (needs nginx on the PATH)
 * Not part of `npm test`: it needs nginx and takes seconds of wall time.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import session from 'express-session';
import { InMemoryNetwork, LazyReplicatedMap } from '../lib/index.js';
import { BackupSessionStore } from '../lib/session/index.js';

const USERS = Number(process.argv[2] ?? 50);
const SECONDS = Number(process.argv[3] ?? 4);
const IDS = ['node1', 'node2', 'node3'];

interface App { id: string; map: LazyReplicatedMap<string>; server: Server; port: number }

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => { resolve(); }));
  return port;
}

async function startApps(): Promise<{ net: InMemoryNetwork; apps: App[] }> {
  const net = new InMemoryNetwork({ seed: 7 });
  const apps: App[] = [];
  for (const id of IDS) {
    const map = new LazyReplicatedMap<string>({ name: 'sessions', transport: net.transport(id), backups: 1 });
    await map.start();
    const store = new BackupSessionStore({ map, route: id });
    const app = express();
    app.use(session({
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
      store, name: 'sid', secret: 'nginx measurement secret', genid: (req) => store.genid(req),
      resave: false, saveUninitialized: false, cookie: { maxAge: 600_000 },
    }));
    app.post('/login', (req, res) => { (req.session as unknown as Record<string, unknown>).user = 'u'; res.json({ member: id }); });
    app.get('/me', (req, res) => { res.json({ user: (req.session as unknown as Record<string, unknown>).user ?? null, member: id }); });
    const server = createServer(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    apps.push({ id, map, server, port: (server.address() as AddressInfo).port });
  }
  await net.settled();
  return { net, apps };
}

/** The two nginx configs, for members on these ports. */
function nginxConfig(kind: 'backup' | 'hash', listen: number, apps: App[], dir: string): string {
  const addr = (a: App): string => `127.0.0.1:${a.port}`;
  const routeMap = `map $cookie_sid $session_route {
    "~^s%3A[A-Za-z0-9_-]+\\.(?<sroute>[A-Za-z0-9_-]+)\\."  $sroute;
    default "";
  }
  map $session_route $app_upstream {
${apps.map((a) => `    ${a.id} ${a.id};`).join('\n')}
    default app_all;
  }
  upstream app_all { ${apps.map((a) => `server ${addr(a)};`).join(' ')} }`;
  const groups = kind === 'backup'
    ? apps.map((a) => `  upstream ${a.id} { server ${addr(a)} max_fails=1 fail_timeout=10s; ${apps.filter((o) => o !== a).map((o) => `server ${addr(o)} backup;`).join(' ')} }`).join('\n')
    : `${apps.map((a) => `  upstream ${a.id} { server ${addr(a)}; }`).join('\n')}
  upstream app_hash { hash $cookie_sid consistent; ${apps.map((a) => `server ${addr(a)} max_fails=1 fail_timeout=10s;`).join(' ')} }`;
  const location = kind === 'backup'
    ? `location / { proxy_pass http://$app_upstream; proxy_next_upstream error timeout http_502 http_503; }`
    : `location / { proxy_pass http://$app_upstream; proxy_next_upstream off; error_page 502 504 = @fallback; }
    location @fallback { proxy_pass http://app_hash; proxy_next_upstream error timeout; }`;
  return `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log crit;
events { worker_connections 1024; }
http {
  access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  proxy_connect_timeout 1s;
  ${routeMap}
${groups}
  server { listen 127.0.0.1:${listen}; ${location} }
}
`;
}

async function run(kind: 'backup' | 'hash'): Promise<Record<string, number | string>> {
  const { net, apps } = await startApps();
  const dir = mkdtempSync(join(tmpdir(), 'nginx-sessions-'));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(kind, port, apps, dir));
  const nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'inherit' });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    try { await fetch(`${base}/me`); break; } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  // Logins spread over the members (no cookie yet: app_all round-robins).
  const cookies: string[] = [];
  for (let u = 0; u < USERS; u++) {
    const res = await fetch(`${base}/login`, { method: 'POST' });
    cookies.push((res.headers.get('set-cookie') ?? '').split(';')[0] ?? '');
  }
  await net.settled();
  const [victim] = apps;
  if (victim === undefined) throw new Error("no member started");
  const victimSessions = cookies.filter((c) => c.includes(`.${victim.id}.`)).length;
  let requests = 0;
  let loggedOut = 0;
  let failed = 0;
  const end = Date.now() + SECONDS * 1000;
  const killAt = Date.now() + (SECONDS * 1000) / 4;
  let before = 0;
  const load = cookies.map(async (cookie) => {
    while (Date.now() < end) {
      try {
        const res = await fetch(`${base}/me`, { headers: { cookie } });
        const body = (await res.json()) as { user: string | null };
        requests++;
        if (body.user === null) loggedOut++;
      } catch { failed++; }
    }
  });
  await new Promise((r) => setTimeout(r, killAt - Date.now()));
  // Killed: its HTTP port refuses connections and it vanishes from the network without a word.
  victim.server.closeAllConnections();
  victim.server.close();
  net.crash(victim.id);
  await net.settled();
  before = apps.slice(1).reduce((n, a) => n + a.map.stats().promotions, 0);
  await Promise.all(load);
  const promotions = apps.slice(1).reduce((n, a) => n + a.map.stats().promotions, 0) - before;
  nginx.kill('SIGTERM');
  await once(nginx, 'exit');
  for (const a of apps.slice(1)) { a.server.closeAllConnections(); a.server.close(); await a.map.stop({ discard: true }); }
  rmSync(dir, { recursive: true, force: true });
  return { config: kind, users: USERS, seconds: SECONDS, victimSessions, requests, loggedOut, failed, promotionsAfterKill: promotions };
}

for (const kind of ['backup', 'hash'] as const) console.log(JSON.stringify(await run(kind)));
