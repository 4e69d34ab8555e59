/**
 * The long-running agent: set the data path up, obtain this node's subnets from the store, write the CNI config and
 * the masquerade table, then follow the peers — reconciling on every change and every --resync-interval — until the
 * signal aborts. Stopping keeps the data path, the conflist and the masquerade (pods keep working while the agent
 * restarts); --cleanup (cleanup.ts) removes them.
 */
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { clusterSettings, type AgentConfig } from './config.js';
import { renderConflist, writeAtomically } from './conflist.js';
import { DataPath, detectUnderlay, vtepMAC, type ApplyReport } from './datapath.js';
import { syncMasq } from './masq.js';
import { Metrics, processFigures, renderMetrics } from './metrics.js';
import { writeSubnetEnv } from './subnet-env.js';
import { CNI_TS_VERSION } from '../lib/cni/skel.js';
import { loadSubnets, saveStatus, saveSubnets, type Status } from './state.js';
import { EtcdStore } from './store/etcd.js';
import { describeError, sleep } from './store/http.js';
import { KubeStore } from './store/kubernetes.js';
import { FatalStoreError, type NodeRecord, type Store } from './store/types.js';
import { etcdTransport, kubeAccess } from './store/access.js';

export type Log = (msg: string) => void;

/** Peers appearing or going at once beyond this many are logged as a count. */
const PEER_LOG_MAX = 20;

export function makeStore(cfg: AgentConfig, log: Log): Store {
  if (cfg.store === 'kubernetes') {
    return new KubeStore({ access: kubeAccess(cfg), nodeName: cfg.nodeName, clusterCIDRs: cfg.clusterCIDRs, log });
  }
  return new EtcdStore({
    transport: etcdTransport(cfg, log),
    endpoints: cfg.etcdEndpoints,
    prefix: cfg.etcdPrefix,
    nodeName: cfg.nodeName,
    settings: clusterSettings(cfg),
    leaseTTL: cfg.leaseTTL,
    previous: loadSubnets(cfg.stateDir, cfg.nodeName),
    log,
  });
}

export function makeDataPath(cfg: AgentConfig): DataPath {
  const underlay = detectUnderlay(cfg.publicIPs, cfg.iface);
  return new DataPath(cfg.backend, underlay, cfg.clusterCIDRs, { vni: cfg.vxlanVNI, port: cfg.vxlanPort, mac: vtepMAC(cfg.nodeName, cfg.vxlanVNI) }, cfg.nodeName, cfg.mtu);
}

/** Changes beyond this many in one report are logged as a count (a large cluster's first reconcile). */
const CHANGE_LOG_MAX = 30;

function logReport(log: Log, what: string, r: ApplyReport): void {
  for (const d of r.described.slice(0, CHANGE_LOG_MAX)) log(`${what}: ${d}`);
  if (r.described.length > CHANGE_LOG_MAX) log(`${what}: … and ${r.described.length - CHANGE_LOG_MAX} more changes`);
  for (const e of r.errors) log(`${what}: error: ${e}`);
}

/**
 * /healthz: 200 with the status JSON when the node has its subnets and the last reconcile succeeded, else 503.
 * /metrics: Prometheus text (metrics.ts).
 */
function serveHealth(addr: string, status: () => Status, log: Log, metrics: () => string): Promise<Server> {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(addr.slice(i + 1));
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(metrics());
      return;
    }
    const s = status();
    if (req.url !== '/healthz' && req.url !== '/status') {
      res.writeHead(404).end('not found\n');
      return;
    }
    res.writeHead(s.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(s) + '\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      log(`serving /healthz on ${addr}`);
      resolve(server);
    });
  });
}

export async function runDaemon(cfg: AgentConfig, outer: AbortSignal, log: Log): Promise<number> {
  // Everything below stops when the caller aborts, and also when any part fails (nothing keeps running behind a return).
  const stopAll = new AbortController();
  const signal = stopAll.signal;
  const onOuter = (): void => stopAll.abort();
  outer.addEventListener('abort', onOuter, { once: true });
  const dp = makeDataPath(cfg);
  const mtuProblem = dp.mtuProblem();
  if (mtuProblem) throw new Error(mtuProblem);
  log(`node ${cfg.nodeName}: underlay ${dp.underlay.iface} ${dp.underlay.publicIPs.join(',')} (MTU ${dp.underlay.mtu}), backend ${cfg.backend}, cluster ${cfg.clusterCIDRs.join(',')}`);
  const store = makeStore(cfg, log);
  log(`store: ${store.label}`);

  const status: Status = {
    ok: false,
    node: cfg.nodeName,
    backend: cfg.backend,
    store: store.label,
    storeConnected: false,
    storeDetail: 'connecting',
    subnets: [],
    peers: [],
    since: new Date().toISOString(),
  };
  const writeStatus = (): void => {
    try {
      saveStatus(cfg.stateDir, status);
    } catch (e) {
      log(`cannot write ${cfg.stateDir}/status.json: ${describeError(e)}`);
    }
  };
  writeStatus();
  const metrics = new Metrics({ node: cfg.nodeName, backend: cfg.backend, store: cfg.store, version: CNI_TS_VERSION });
  const started = Date.now() / 1000;
  const health = cfg.healthzAddr ? await serveHealth(cfg.healthzAddr, () => status, log, () => renderMetrics(metrics, processFigures(started))) : undefined;

  try {
    const local = { publicIPs: dp.underlay.publicIPs, backend: cfg.backend, vtepMAC: cfg.backend === 'vxlan' ? dp.vxlan.mac : undefined };
    let subnets: string[];
    try {
      subnets = await store.acquire(local, signal);
      metrics.setStoreConnected(true);
      status.storeConnected = true;
      status.storeDetail = 'ok';
    } catch (e) {
      if (outer.aborted) return 0;
      if (e instanceof FatalStoreError) {
        log(`fatal: ${e.message}`);
        status.lastError = e.message;
        writeStatus();
        return 1;
      }
      throw e;
    }
    // The device comes after the lease: a node refused by the store (settings, exhausted space) changes nothing.
    logReport(log, 'data path', dp.setupDevice());

    /** Everything that depends on this node's subnets: device address, conflist, masquerade, state file. */
    const applyLocal = (s: readonly string[]): void => {
      status.subnets = [...s];
      saveSubnets(cfg.stateDir, cfg.nodeName, s);
      logReport(log, 'data path', dp.setLocalSubnets(s));
      const path = join(cfg.confDir, cfg.confName);
      const text = renderConflist({ networkName: cfg.networkName, bridge: cfg.bridge, subnets: s, mtu: dp.podMTU, ipamDataDir: cfg.ipamDataDir || undefined });
      if (writeAtomically(path, text)) log(`wrote ${path} (bridge ${cfg.bridge}, host-local ${s.join(', ')}, MTU ${dp.podMTU})`);
      const masq = syncMasq(cfg);
      if (masq) log(masq);
      if (writeSubnetEnv(cfg.subnetFile, { clusterCIDRs: cfg.clusterCIDRs, subnets: s, mtu: dp.podMTU, ipMasq: cfg.ipMasq })) log(`wrote ${cfg.subnetFile}`);
    };
    applyLocal(subnets);
    if (cfg.ipMasq) {
      const extra = cfg.noMasqCIDRs.length ? ` except to ${cfg.noMasqCIDRs.join(',')}` : '';
      log(`masquerading traffic from ${cfg.clusterCIDRs.join(',')} leaving the cluster${extra}${cfg.masqFullyRandom ? ' (fully random ports)' : ''} (nft table inet cni_ts_agent)`);
    } else log('--ip-masq=false: pod traffic leaving the cluster is not masqueraded by the agent');

    let peers: ReadonlyMap<string, NodeRecord> = new Map();
    // Until the store has delivered the full set of peers once, reconciling would remove every route of a restarted
    // agent (pods would lose their peers for a moment): the data path is left as it is until then.
    let havePeers = false;
    let lastSkipped = '';
    let statusPeers: unknown;
    let statusSig = '';
    let statusWritten = 0;
    let peersVersion = 0;
    const reconcile = (why: string): void => {
      if (!havePeers) return;
      const t0 = performance.now();
      metrics.reconciles++;
      metrics.peers = peers.size;
      try {
        const r = dp.reconcile(peers);
        metrics.changes += r.described.length;
        metrics.peersSkipped = r.skipped.length;
        if (r.errors.length) metrics.reconcileErrors++;
        if (r.described.length) log(`reconcile (${why}): ${r.described.length} change(s)`);
        logReport(log, 'data path', r);
        const skipped = r.skipped.join('; ');
        if (skipped && skipped !== lastSkipped) log(`peers not reachable yet: ${skipped}`);
        lastSkipped = skipped;
        status.lastReconcile = new Date().toISOString();
        status.lastError = r.errors.length ? r.errors.join('; ') : undefined;
        status.ok = r.errors.length === 0;
      } catch (e) {
        metrics.reconcileErrors++;
        status.ok = false;
        status.lastError = describeError(e);
        log(`reconcile failed: ${describeError(e)}`);
      }
      metrics.lastReconcile = Date.now() / 1000;
      metrics.lastReconcileDuration = (performance.now() - t0) / 1000;
      // status.json: rewritten when anything but the time of the reconcile changed, else at most once a minute (a
      // thousand peers make it ~100 KB; /healthz serves the current status from memory either way).
      if (statusPeers !== peers) {
        status.peers = [...peers.values()].map((p) => ({ node: p.node, subnets: p.subnets, publicIPs: p.publicIPs }));
        statusPeers = peers;
        peersVersion++;
      }
      const sig = `${status.ok} ${status.lastError ?? ''} ${status.storeConnected} ${status.subnets.join()} ${peersVersion}`;
      if (sig !== statusSig || Date.now() - statusWritten >= 60_000) {
        writeStatus();
        statusSig = sig;
        statusWritten = Date.now();
      }
    };

    // Changes arriving together (a burst of watch events) are applied by one reconcile, 20 ms after the first.
    let pending: NodeJS.Timeout | undefined;
    const schedule = (why: string): void => {
      if (pending) return;
      pending = setTimeout(() => {
        pending = undefined;
        reconcile(why);
      }, 20);
    };

    const resync = (async () => {
      while (await sleep(cfg.resyncInterval * 1000, signal)) {
        try {
          logReport(log, 'resync', dp.setupDevice());
          applyLocal(status.subnets);
        } catch (e) {
          log(`resync: ${describeError(e)}`);
        }
        reconcile('periodic resync');
      }
    })();

    const follow = store.follow(
      {
        peers: (p) => {
          const added = [...p.keys()].filter((k) => !peers.has(k));
          const removed = [...peers.keys()].filter((k) => !p.has(k));
          // One line per peer, or a count when many change at once (a large cluster's first list).
          if (added.length <= PEER_LOG_MAX) for (const n of added) log(`peer ${n} appeared: ${p.get(n)!.subnets.join(', ')} via ${p.get(n)!.publicIPs.join(', ')}`);
          else log(`${added.length} peers appeared (${added.slice(0, 3).join(', ')}, …)`);
          if (removed.length <= PEER_LOG_MAX) for (const n of removed) log(`peer ${n} is gone`);
          else log(`${removed.length} peers are gone (${removed.slice(0, 3).join(', ')}, …)`);
          peers = p;
          schedule(havePeers ? 'peers changed' : 'first list of peers');
          havePeers = true;
        },
        lease: (s) => {
          log(`this node's subnets are now ${s.join(', ')}`);
          try {
            applyLocal(s);
          } catch (e) {
            log(`applying the new subnets failed: ${describeError(e)}`);
          }
        },
        connected: (ok, detail) => {
          metrics.setStoreConnected(ok);
          status.storeConnected = ok;
          status.storeDetail = detail;
          writeStatus();
        },
      },
      signal,
    );
    await Promise.all([follow, resync]);
    if (pending) clearTimeout(pending);
    log('stopping: the data path, CNI config and masquerade stay in place (run with --cleanup to remove them)');
    return 0;
  } finally {
    stopAll.abort();
    outer.removeEventListener('abort', onOuter);
    health?.closeAllConnections?.();
    await new Promise<void>((r) => (health ? health.close(() => r()) : r()));
  }
}
