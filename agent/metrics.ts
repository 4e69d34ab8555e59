/**
 * The agent's Prometheus metrics, served as text (exposition format 0.0.4) at GET /metrics on --healthz-addr, beside
 * /healthz, /readyz and /status (health.ts): the reconciles and the store, and the same facts as readiness — ready or
 * not, which part is missing, peers whose changes failed, warnings. Counters and gauges are plain fields the daemon
 * updates; rendering is pure.
 */

/** The parts /readyz checks, each a `cni_ts_agent_not_ready{part=…}` series (1 while that part is missing). */
export const READINESS_PARTS = ['subnet', 'peers listed', 'underlay', 'forwarding sysctls', 'data path', 'forwarding rules', 'forwarding blocked', 'masquerade', 'reconcile'] as const;

export class Metrics {
  /** Reconciles of the data path run (events and periodic resyncs). */
  reconciles = 0;
  /** Reconciles that ended with an error (a kernel change refused, a dump failed). */
  reconcileErrors = 0;
  /** Kernel changes (routes, neighbours, FDB entries) made by reconciles. */
  changes = 0;
  /** Unix time (s) of the end of the last reconcile; 0 = none yet. */
  lastReconcile = 0;
  /** Wall seconds the last reconcile took. */
  lastReconcileDuration = 0;
  /** Nodes known besides this one, and those of them not installed (no VTEP MAC, no address of the family…). */
  peers = 0;
  peersSkipped = 0;
  storeConnected = false;
  /** Times the store became unreachable. */
  storeDisconnects = 0;
  /** /readyz: ready, and the parts not in place (READINESS_PARTS; 'store' is storeConnected). */
  ready = false;
  notReady: string[] = ['subnet', 'peers listed'];
  /** /healthz: the process's loops run. */
  live = true;
  /** Peers whose last change failed (reported per peer in /status; not fatal). */
  peerErrors = 0;
  /** Conditions the admin should fix (br_netfilter, duplicate peer addresses, …; listed in /readyz). */
  warnings = 0;

  constructor(readonly info: { node: string; backend: string; store: string; version: string }) {}

  setStoreConnected(ok: boolean): void {
    if (this.storeConnected && !ok) this.storeDisconnects++;
    this.storeConnected = ok;
  }

  /** The readiness facts, as the daemon computes them for /readyz. */
  setReadiness(r: { ready: boolean; subnetHeld: boolean; peersListed: boolean; problems: readonly string[]; warnings: number }): void {
    this.ready = r.ready;
    this.notReady = [...(r.subnetHeld ? [] : ['subnet']), ...(r.peersListed ? [] : ['peers listed']), ...r.problems];
    this.warnings = r.warnings;
  }
}

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Process figures (the standard process_* names); taken by the caller so rendering stays pure. */
export interface ProcessFigures {
  cpuSeconds: number;
  residentBytes: number;
  startTimeSeconds: number;
}

export function processFigures(startTimeSeconds: number): ProcessFigures {
  const u = process.cpuUsage();
  return { cpuSeconds: (u.user + u.system) / 1e6, residentBytes: process.memoryUsage.rss?.() ?? process.memoryUsage().rss, startTimeSeconds };
}

/** The exposition text. */
export function renderMetrics(m: Metrics, p: ProcessFigures): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number, labels = ''): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${Number.isInteger(value) ? value : value.toFixed(6)}`);
  };
  const i = m.info;
  metric('cni_ts_agent_info', 'gauge', 'The agent: node name, backend, store and version (always 1).', 1, `{node="${esc(i.node)}",backend="${esc(i.backend)}",store="${esc(i.store)}",version="${esc(i.version)}"}`);
  metric('cni_ts_agent_peers', 'gauge', 'Nodes of the cluster known besides this one.', m.peers);
  metric('cni_ts_agent_peers_skipped', 'gauge', 'Known peers not installed in the data path (see the log or /status for why).', m.peersSkipped);
  metric('cni_ts_agent_reconciles_total', 'counter', 'Reconciles of the data path (on peer changes and every --resync-interval).', m.reconciles);
  metric('cni_ts_agent_reconcile_errors_total', 'counter', 'Reconciles that ended with an error.', m.reconcileErrors);
  metric('cni_ts_agent_datapath_changes_total', 'counter', 'Routes, neighbours and FDB entries added, changed or removed by reconciles.', m.changes);
  metric('cni_ts_agent_last_reconcile_timestamp_seconds', 'gauge', 'Unix time the last reconcile ended (0: none yet).', m.lastReconcile);
  metric('cni_ts_agent_last_reconcile_duration_seconds', 'gauge', 'Wall time of the last reconcile.', m.lastReconcileDuration);
  metric('cni_ts_agent_store_connected', 'gauge', '1 when the store (etcd or the Kubernetes API) answered the last request, else 0.', m.storeConnected ? 1 : 0);
  metric('cni_ts_agent_store_disconnects_total', 'counter', 'Times the store became unreachable.', m.storeDisconnects);
  metric('cni_ts_agent_ready', 'gauge', '1 when /readyz answers 200: subnet held, peers listed, data path, forwarding and masquerade in place, store watch fresh.', m.ready ? 1 : 0);
  out.push('# HELP cni_ts_agent_not_ready 1 for each part that keeps the node from being ready (see /readyz for why).', '# TYPE cni_ts_agent_not_ready gauge');
  for (const part of [...new Set([...READINESS_PARTS, ...m.notReady])]) out.push(`cni_ts_agent_not_ready{part="${esc(part)}"} ${m.notReady.includes(part) ? 1 : 0}`);
  metric('cni_ts_agent_live', 'gauge', '1 when /healthz answers 200 (the agent\'s loops run).', m.live ? 1 : 0);
  metric('cni_ts_agent_peer_errors', 'gauge', 'Peers whose last data path change failed (the others are unaffected; see /status).', m.peerErrors);
  metric('cni_ts_agent_warnings', 'gauge', 'Conditions the admin should fix, listed by /readyz (br_netfilter, duplicate peer addresses, …).', m.warnings);
  metric('process_cpu_seconds_total', 'counter', 'User and system CPU time of the agent process (not its children).', p.cpuSeconds);
  metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the agent process.', p.residentBytes);
  metric('process_start_time_seconds', 'gauge', 'Unix time the agent started.', p.startTimeSeconds);
  return out.join('\n') + '\n';
}
