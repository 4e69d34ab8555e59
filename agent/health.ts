/**
 * Health, split as flannel's and as Kubernetes probes expect:
 *
 *   GET /healthz  liveness: the process answers and its loops run (the resync loop ticked lately). One unreachable
 *                 peer or an etcd outage is not a reason to restart the agent: 200 unless a loop is stuck.
 *   GET /readyz   readiness: the node's subnet is held, the data path, forwarding rules and masquerade are in place
 *                 and the store's watch is fresh. 503 with the reasons otherwise.
 *   GET /status   the whole status.json (200 when ready, else 503).
 *   GET /metrics  Prometheus text (metrics.ts): reconciles, peers, the store, and readiness as numbers.
 *
 * Every answer but /metrics is JSON. Pure decisions (liveness) are functions; serveHealth runs node:http.
 */
import { createServer, type Server } from 'node:http';
import type { Status } from './state.js';

export interface Heartbeat {
  /** When the resync loop last completed a round (ms since the epoch); undefined before it started. */
  lastTick?: number;
  /** Seconds between rounds. */
  resyncInterval: number;
  /** A loop that ended while the agent runs (e.g. the store's follow loop): its name. */
  stopped?: string;
}

/** Alive unless a loop stopped or the resync loop is overdue (three rounds, and at least two minutes). */
export function liveness(h: Heartbeat, now: number): { live: boolean; reason?: string } {
  if (h.stopped) return { live: false, reason: `${h.stopped} stopped` };
  if (h.lastTick === undefined) return { live: true };
  const overdue = Math.max(3 * h.resyncInterval * 1000, 120_000);
  const since = now - h.lastTick;
  return since > overdue ? { live: false, reason: `the resync loop has not run for ${Math.round(since / 1000)}s (every ${h.resyncInterval}s expected)` } : { live: true };
}

export function serveHealth(addr: string, status: () => Status, heartbeat: () => Heartbeat, log: (m: string) => void, metrics?: () => string): Promise<Server> {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(addr.slice(i + 1));
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/metrics' && metrics) return void res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(metrics());
    const json = (code: number, body: unknown): void => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
    const s = status();
    if (path === '/healthz') {
      const l = liveness(heartbeat(), Date.now());
      return json(l.live ? 200 : 503, { live: l.live, ...(l.reason ? { reason: l.reason } : {}), node: s.node, since: s.since });
    }
    if (path === '/readyz') return json(s.ready ? 200 : 503, { ready: s.ready, notReady: s.notReady, warnings: s.warnings, node: s.node, subnets: s.subnets });
    if (path === '/status') return json(s.ready ? 200 : 503, s);
    res.writeHead(404).end(`not found (try /healthz, /readyz, /status${metrics ? ', /metrics' : ''})\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      log(`serving /healthz (alive), /readyz (ready), /status${metrics ? ' and /metrics' : ''} on ${addr}`);
      resolve(server);
    });
  });
}
