/**
 * The agent's Prometheus metrics, served as text (exposition format 0.0.4) at GET /metrics on --healthz-addr.
 * Counters and gauges are plain fields the daemon updates; rendering is pure.
 */

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

  constructor(readonly info: { node: string; backend: string; store: string; version: string }) {}

  setStoreConnected(ok: boolean): void {
    if (this.storeConnected && !ok) this.storeDisconnects++;
    this.storeConnected = ok;
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
  metric('process_cpu_seconds_total', 'counter', 'User and system CPU time of the agent process (not its children).', p.cpuSeconds);
  metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the agent process.', p.residentBytes);
  metric('process_start_time_seconds', 'gauge', 'Unix time the agent started.', p.startTimeSeconds);
  return out.join('\n') + '\n';
}
