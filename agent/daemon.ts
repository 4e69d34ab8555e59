/**
 * The long-running agent. Start-up, in this order, so the node is never announced Ready (the conflist) with a data
 * path that is not there:
 *
 *   1. the underlay (interface, address, MTU),
 *   2. this node's subnets from the store (confirmed there: after a reboot the conflist link dangles until now),
 *   3. the data path (forwarding sysctls, the VXLAN device and its address),
 *   4. the FORWARD accept rules (forward.ts), 5. the masquerade as configured (masq.ts: --ip-masq,
 *      --no-masquerade-cidr, --masq-fully-random), 6. the bridge's gateway addresses,
 *   7. subnet.env (--subnet-file), then the conflist — last.
 *
 * Then it follows the peers — reconciling on every change and every --resync-interval, when it also re-detects the
 * underlay (a new address or MTU is published and applied) and re-applies 3–7 — until the signal aborts. Stopping
 * keeps the data path, the conflist and the masquerade (pods keep working while the agent restarts); a fatal error
 * removes the conflist and subnet.env (the node is not Ready without the agent's data path); --cleanup (cleanup.ts)
 * removes the rest.
 *
 * A periodic resync with nothing to change stays cheap at scale (1000 peers: a few tens of ms of CPU): the kernel is
 * read in-process over rtnetlink (kernel-state.ts: the data path, and also the underlay and the bridge), the FORWARD
 * rules are read only when the nftables ruleset changed or a legacy filter table exists (forward.ts), the masquerade
 * table is re-applied only when it differs (masq.ts), and status.json is rewritten when something in it other than
 * the time changed (else once a minute).
 */
import { BridgeGateways } from './bridge.js';
import { clusterSettings, type AgentConfig } from './config.js';
import { conflistPlace, installConflist, pluginPrefixFor, removeConflist, renderConflist } from './conflist.js';
import { DataPath, vtepMAC, type ApplyReport } from './datapath.js';
import { ForwardRules } from './forward.js';
import { liveness, serveHealth, type Heartbeat } from './health.js';
import { kernelReader, type KernelReader } from './kernel-state.js';
import { syncMasq } from './masq.js';
import { Metrics, processFigures, renderMetrics } from './metrics.js';
import { removeSubnetEnv, writeSubnetEnv } from './subnet-env.js';
import { CNI_TS_VERSION } from '../lib/cni/skel.js';
import { loadSubnets, saveStatus, saveSubnets, type PeerStatus, type Status } from './state.js';
import { EtcdStore } from './store/etcd.js';
import { describeError, sleep } from './store/http.js';
import { KubeStore } from './store/kubernetes.js';
import { FatalStoreError, type LocalInfo, type NodeRecord, type Store } from './store/types.js';
import { etcdTransport, kubeAccess } from './store/access.js';
import { detectUnderlay, underlayChanges, type Underlay, type UnderlaySelection } from './underlay.js';

export type Log = (msg: string) => void;

/** Peers appearing or going at once beyond this many are logged as a count. */
const PEER_LOG_MAX = 20;

export function makeStore(cfg: AgentConfig, log: Log): Store {
  if (cfg.store === 'kubernetes') {
    return new KubeStore({ access: kubeAccess(cfg), nodeName: cfg.nodeName, clusterCIDRs: cfg.clusterCIDRs, watchIdleTimeout: cfg.watchIdleTimeout, log });
  }
  return new EtcdStore({
    transport: etcdTransport(cfg, log),
    endpoints: cfg.etcdEndpoints,
    prefix: cfg.etcdPrefix,
    nodeName: cfg.nodeName,
    settings: clusterSettings(cfg),
    leaseTTL: cfg.leaseTTL,
    watchIdleTimeout: cfg.watchIdleTimeout,
    previous: loadSubnets(cfg.stateDir, cfg.nodeName),
    log,
  });
}

export const underlaySelection = (cfg: AgentConfig): UnderlaySelection => ({ publicIPs: cfg.publicIPs, iface: cfg.iface, ifaceRegex: cfg.ifaceRegex, ifaceCanReach: cfg.ifaceCanReach, nodeIPs: cfg.nodeIPs });

const explicitUnderlay = (s: UnderlaySelection): boolean => !!(s.publicIPs.length || s.iface || s.ifaceRegex || s.ifaceCanReach || s.nodeIPs.length);

export function makeDataPath(cfg: AgentConfig, reader: KernelReader = kernelReader(), underlay: Underlay = detectUnderlay(underlaySelection(cfg), reader)): DataPath {
  return new DataPath(cfg.backend, underlay, cfg.clusterCIDRs, { vni: cfg.vxlanVNI, port: cfg.vxlanPort, mac: vtepMAC(cfg.nodeName, cfg.vxlanVNI) }, cfg.nodeName, cfg.mtu, reader);
}

/** Changes beyond this many in one report are logged as a count (a large cluster's first reconcile). */
const CHANGE_LOG_MAX = 30;

function logReport(log: Log, what: string, r: ApplyReport): void {
  for (const d of r.described.slice(0, CHANGE_LOG_MAX)) log(`${what}: ${d}`);
  if (r.described.length > CHANGE_LOG_MAX) log(`${what}: … and ${r.described.length - CHANGE_LOG_MAX} more changes`);
  for (const e of r.errors) log(`${what}: error: ${e}`);
}

/** Peers (and this node) publishing the same underlay address: their traffic would go to one machine. Pure. */
export function duplicateIPs(self: { node: string; publicIPs: readonly string[] }, peers: Iterable<NodeRecord>): string[] {
  // Runs on every change of the peers: one string per address, an array only for an address seen twice.
  const first = new Map<string, string>();
  const dup = new Map<string, string[]>();
  const add = (n: { node: string; publicIPs: readonly string[] }): void => {
    for (const ip of n.publicIPs) {
      const seen = first.get(ip);
      if (seen === undefined) first.set(ip, n.node);
      else dup.set(ip, [...(dup.get(ip) ?? [seen]), n.node]);
    }
  };
  add(self);
  for (const p of peers) add(p);
  return [...dup].map(([ip, nodes]) => `nodes ${nodes.join(' and ')} all publish the underlay address ${ip}: traffic for all of them goes to one machine (cloned VMs? a wrong --public-ip or public-ip-overwrite?)`);
}

/** Bun's collector (the shipped executable); undefined under Node. */
const bunGC = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc;

/** Readiness reasons (pure): everything that must be in place for pods on this node to reach the others. */
export function notReadyReasons(s: { subnets: readonly string[]; havePeers: boolean; storeConnected: boolean; storeDetail: string; problems: ReadonlyMap<string, string> }): string[] {
  const out: string[] = [];
  if (s.subnets.length === 0) out.push('no subnet held yet');
  if (!s.storeConnected) out.push(`store: ${s.storeDetail}`);
  else if (!s.havePeers) out.push('the store has not listed the peers yet');
  for (const [what, why] of s.problems) out.push(`${what}: ${why}`);
  return out;
}

export async function runDaemon(cfg: AgentConfig, outer: AbortSignal, log: Log): Promise<number> {
  // Stopping (outer signal) or failing (error) ends every loop; the finally below waits for nothing but the server.
  const stopAll = new AbortController();
  const signal = stopAll.signal;
  const onOuter = (): void => stopAll.abort();
  outer.addEventListener('abort', onOuter, { once: true });
  const place = conflistPlace(cfg.confDir, cfg.confName, cfg.runDir);
  const store = makeStore(cfg, log);
  log(`store: ${store.label}`);
  // One way of reading the kernel for the data path, the underlay and the bridge (netlink in the executable).
  const reader = kernelReader();

  const status: Status = {
    ok: false,
    ready: false,
    notReady: ['starting'],
    warnings: [],
    node: cfg.nodeName,
    backend: cfg.backend,
    store: store.label,
    storeConnected: false,
    storeDetail: 'connecting',
    subnets: [],
    peers: [],
    since: new Date().toISOString(),
  };
  /** What keeps the node from being ready, by part ("forwarding rules" → why); empty when all is in place. */
  const problems = new Map<string, string>();
  const warnings = new Map<string, string>();
  let havePeers = false;
  const heartbeat: Heartbeat = { resyncInterval: cfg.resyncInterval };
  const metrics = new Metrics({ node: cfg.nodeName, backend: cfg.backend, store: cfg.store, version: CNI_TS_VERSION });
  const started = Date.now() / 1000;
  let statusSig = '';
  let statusWritten = 0;
  let peersVersion = 0;
  /**
   * Readiness from the facts (also into /metrics), and status.json rewritten when anything but the time of the last
   * reconcile changed, else at most once a minute (a thousand peers make it ~100 KB; /status, /readyz and /metrics
   * serve the current state from memory either way).
   */
  const writeStatus = (): void => {
    status.notReady = notReadyReasons({ subnets: status.subnets, havePeers, storeConnected: status.storeConnected, storeDetail: status.storeDetail, problems });
    status.ready = status.notReady.length === 0;
    status.ok = status.ready;
    status.warnings = [...warnings.values()];
    metrics.setReadiness({ ready: status.ready, subnetHeld: status.subnets.length > 0, peersListed: havePeers, problems: [...problems.keys()], warnings: status.warnings.length });
    const sig = JSON.stringify([status.ready, status.notReady, status.warnings, status.storeConnected, status.storeDetail, status.subnets, status.publicIPs, status.mtu, status.lastError, peersVersion]);
    if (sig === statusSig && Date.now() - statusWritten < 60_000) return;
    try {
      saveStatus(cfg.runDir, status);
      statusSig = sig;
      statusWritten = Date.now();
    } catch (e) {
      log(`cannot write ${cfg.runDir}/status.json: ${describeError(e)}`);
    }
  };
  /** Record (and log once) whether a part is in place. */
  const part = (what: string, problem: string | undefined): void => {
    if (problem && problems.get(what) !== problem) log(`not ready: ${what}: ${problem}`);
    if (!problem && problems.has(what)) log(`${what}: in place again`);
    if (problem) problems.set(what, problem);
    else problems.delete(what);
  };
  const warn = (key: string, msg: string | undefined): void => {
    if (msg && warnings.get(key) !== msg) log(`warning: ${msg}`);
    if (msg) warnings.set(key, msg);
    else warnings.delete(key);
  };
  writeStatus();
  const renderAll = (): string => {
    metrics.live = liveness(heartbeat, Date.now()).live;
    return renderMetrics(metrics, processFigures(started));
  };
  const health = cfg.healthzAddr ? await serveHealth(cfg.healthzAddr, () => status, () => heartbeat, log, renderAll) : undefined;

  let fatal = false;
  try {
    const sel = underlaySelection(cfg);
    if (!explicitUnderlay(sel) && store.nodeIPs) {
      try {
        sel.nodeIPs = await store.nodeIPs(signal);
      } catch (e) {
        if (outer.aborted) return 0; // stopped while waiting for the API: a normal stop
        throw e;
      }
      log(`the Node's InternalIP: ${sel.nodeIPs.join(', ')}`);
    }
    const dp = makeDataPath(cfg, reader, detectUnderlay(sel, reader));
    dp.onNetlinkFailure = (m) => log(`warning: ${m}`);
    // --mtu larger than the underlay carries: refused before anything changes.
    const mtuProblem = dp.mtuProblem();
    if (mtuProblem) throw new Error(mtuProblem);
    const describeUnderlay = (u: Underlay): string => `${u.iface} ${u.publicIPs.join(',')} (MTU ${u.mtu})`;
    log(`node ${cfg.nodeName}: underlay ${describeUnderlay(dp.underlay)}, backend ${cfg.backend}, cluster ${cfg.clusterCIDRs.join(',')}`);
    status.publicIPs = dp.underlay.publicIPs;
    status.mtu = dp.podMTU;
    const localInfo = (): LocalInfo => ({ publicIPs: dp.underlay.publicIPs, backend: cfg.backend, vtepMAC: cfg.backend === 'vxlan' ? dp.vxlan.mac : undefined });

    let subnets: string[];
    try {
      subnets = await store.acquire(localInfo(), signal);
      metrics.setStoreConnected(true);
      status.storeConnected = true;
      status.storeDetail = 'ok';
    } catch (e) {
      if (outer.aborted) return 0;
      if (e instanceof FatalStoreError) {
        log(`fatal: ${e.message}`);
        status.lastError = e.message;
        fatal = true;
        return 1;
      }
      throw e;
    }

    const forward = new ForwardRules(cfg.clusterCIDRs, [cfg.bridge, dp.device], cfg.iptablesForwardRules);
    const bridge = BridgeGateways.forNetwork(cfg.bridge, cfg.ipamDataDir, cfg.networkName, cfg.clusterCIDRs, reader);

    // 3. The data path: the device comes after the lease (a node refused by the store changes nothing).
    const setupDataPath = (what: string): void => {
      const r = dp.setupDevice();
      logReport(log, what, r);
      warn('br_netfilter', r.warnings?.find((w) => w.includes('br_netfilter') || w.includes('bridge-nf-call')));
      part('forwarding sysctls', r.errors.join('; ') || undefined);
      const a = dp.setLocalSubnets(status.subnets);
      logReport(log, what, a);
      part('data path', a.errors.join('; ') || undefined);
    };
    // 4. FORWARD accept rules; an nft drop we cannot open is reported.
    const ensureForward = (first: boolean): void => {
      const r = forward.ensure();
      for (const d of r.described) log(`forwarding: ${d}`);
      if (r.errors.length && first) throw new Error(r.errors.join('; '));
      for (const e of r.errors) log(`forwarding: error: ${e}`);
      part('forwarding rules', r.errors.join('; ') || undefined);
      part('forwarding blocked', r.blocked.join('; ') || undefined);
      if (!cfg.iptablesForwardRules) warn('forward-rules', 'no FORWARD rules of ours (--iptables-forward-rules=false): if the host drops forwarded traffic, pods cannot reach other nodes until the admin accepts the cluster CIDR in FORWARD');
    };
    // 5. The masquerade as configured (installed again only when it differs or is gone).
    const ensureMasq = (): void => {
      const m = syncMasq(cfg);
      if (m) log(m);
    };
    // 6. Gateways of the node's subnets on the bridge; old ones go when their pods are gone.
    const ensureBridge = (what: string): void => {
      const r = bridge.reconcile(status.subnets);
      for (const d of r.described) log(`${what}: ${d}`);
      for (const e of r.errors) log(`${what}: error: ${e}`);
      warn('bridge-old-gateways', r.kept.length ? `bridge ${cfg.bridge} keeps the old gateway ${r.kept.join(', ')}: it goes once those pods are deleted` : undefined);
    };
    // 7. subnet.env for other tools, then the conflist (content in the run dir, link in the conf dir).
    const writeConflist = (): void => {
      if (writeSubnetEnv(cfg.subnetFile, { clusterCIDRs: cfg.clusterCIDRs, subnets: status.subnets, mtu: dp.podMTU, ipMasq: cfg.ipMasq })) log(`wrote ${cfg.subnetFile}`);
      const pluginPrefix = pluginPrefixFor(cfg.cniBinDir);
      const text = renderConflist({ networkName: cfg.networkName, bridge: cfg.bridge, subnets: status.subnets, mtu: dp.podMTU, ipamDataDir: cfg.ipamDataDir || undefined, pluginPrefix });
      const names = `${pluginPrefix}bridge + ${pluginPrefix}host-local + ${pluginPrefix}portmap${pluginPrefix ? '' : ` (no ${cfg.cniBinDir}/cni-ts-bridge: run --install-cni for ours beside the node's)`}`;
      if (installConflist(place, text)) log(`wrote ${place.confPath} → ${place.runPath} (${names}, bridge ${cfg.bridge}, host-local ${status.subnets.join(', ')}, MTU ${dp.podMTU})`);
      status.mtu = dp.podMTU;
    };

    status.subnets = [...subnets];
    saveSubnets(cfg.stateDir, cfg.nodeName, subnets);
    setupDataPath('data path');
    ensureForward(true);
    ensureMasq();
    if (cfg.ipMasq) {
      const extra = cfg.noMasqCIDRs.length ? ` except to ${cfg.noMasqCIDRs.join(',')}` : '';
      log(`masquerading traffic from ${cfg.clusterCIDRs.join(',')} leaving the cluster${extra}${cfg.masqFullyRandom ? ' (fully random ports)' : ''} (nft table inet cni_ts_agent)`);
    } else log('--ip-masq=false: pod traffic leaving the cluster is not masqueraded by the agent');
    ensureBridge('bridge');
    writeConflist();
    writeStatus();

    /** The node's subnets changed while running: conflist first (new pods get the new subnet), then device and bridge. */
    const subnetsChanged = (s: readonly string[]): void => {
      status.subnets = [...s];
      saveSubnets(cfg.stateDir, cfg.nodeName, s);
      writeConflist();
      logReport(log, 'data path', dp.setLocalSubnets(s));
      ensureBridge('bridge');
      writeStatus();
    };

    let peers: ReadonlyMap<string, NodeRecord> = new Map();
    // Until the store has delivered the full set of peers once, reconciling would remove every route of a restarted
    // agent (pods would lose their peers for a moment): the data path is left as it is until then.
    let lastSkipped = '';
    let statusPeers: unknown;
    let peerSig = '';
    const reconcile = (why: string): void => {
      if (!havePeers) return;
      const t0 = performance.now();
      metrics.reconciles++;
      metrics.peers = peers.size;
      const peerErrors = new Map<string, string>();
      const skipped = new Map<string, string>();
      try {
        const r = dp.reconcile(peers);
        metrics.changes += r.described.length;
        metrics.peersSkipped = r.skipped.length;
        if (r.errors.length || r.peerErrors.size) metrics.reconcileErrors++;
        if (r.described.length) log(`reconcile (${why}): ${r.described.length} change(s)`);
        logReport(log, 'data path', r);
        for (const [n, e] of r.peerErrors) {
          peerErrors.set(n, e);
          log(`data path: peer ${n}: error: ${e}`);
        }
        for (const s of r.skipped) skipped.set(s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 2));
        const sk = r.skipped.join('; ');
        if (sk && sk !== lastSkipped) log(`warning: peers skipped: ${sk}`);
        lastSkipped = sk;
        status.lastReconcile = new Date().toISOString();
        // Per-peer failures are reported per peer, not as the node's error: one bad peer must not fail the node.
        status.lastError = r.errors.length ? r.errors.join('; ') : undefined;
        part('reconcile', r.errors.length ? r.errors.join('; ') : undefined);
      } catch (e) {
        metrics.reconcileErrors++;
        status.lastError = describeError(e);
        part('reconcile', describeError(e));
        log(`reconcile failed: ${describeError(e)}`);
      }
      metrics.peerErrors = peerErrors.size;
      metrics.lastReconcile = Date.now() / 1000;
      metrics.lastReconcileDuration = (performance.now() - t0) / 1000;
      // The peers in status: built again only when the peers or their errors / reasons to skip changed.
      const sig = peerErrors.size || skipped.size ? JSON.stringify([[...peerErrors], [...skipped]]) : '';
      if (statusPeers !== peers || sig !== peerSig) {
        status.peers = [...peers.values()].map((p): PeerStatus => {
          const ps: PeerStatus = { node: p.node, subnets: p.subnets, publicIPs: p.publicIPs };
          if (skipped.has(p.node)) ps.skipped = skipped.get(p.node);
          if (peerErrors.has(p.node)) ps.error = peerErrors.get(p.node);
          return ps;
        });
        statusPeers = peers;
        peerSig = sig;
        peersVersion++;
      }
      writeStatus();
      if (why !== 'periodic resync') collectSoon();
    };

    /**
     * A full garbage collection a second after a change of the peers (at most one a second). Each change replaces
     * structures the size of the peer list (the store's records, the wanted state, the kernel's dumps, the status);
     * they live long enough to leave the young generation, and JSC would let the old one grow to several times the
     * live size before collecting it: with 1000 peers, 30 changes in a row took the agent from 75 to over 100 MB.
     * A collection of this small heap costs a few milliseconds; periodic resyncs with nothing to do do not ask for it.
     */
    let gcTimer: NodeJS.Timeout | undefined;
    const collectSoon = (): void => {
      if (!bunGC || gcTimer || peers.size < 100) return;
      gcTimer = setTimeout(() => {
        gcTimer = undefined;
        bunGC(true);
      }, 1000);
      gcTimer.unref?.();
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

    /** The addresses the store has for this node (published again, until it works, when they change). */
    let published = dp.underlay.publicIPs.join(',');
    /** Every round: the underlay again (address, MTU), then everything local, then the peers. */
    const resyncOnce = async (): Promise<void> => {
      try {
        const u = detectUnderlay(sel, reader);
        const changes = underlayChanges(dp.underlay, u);
        dp.setUnderlay(u); // also the on-link networks, which host-gw checks peers against
        if (changes.length) {
          log(`the underlay changed: ${changes.join(', ')}`);
          status.publicIPs = u.publicIPs;
          // Connections from the old address are dead without a word: the watch starts again from the new one.
          if (u.publicIPs.join(',') !== published) store.restartWatch(`this node's address changed to ${u.publicIPs.join(',')}: watching again`);
        }
        if (u.publicIPs.join(',') !== published) {
          await store.update(localInfo(), signal);
          published = u.publicIPs.join(',');
        }
        part('underlay', undefined);
      } catch (e) {
        log(`resync: underlay: ${describeError(e)}`);
        part('underlay', describeError(e));
      }
      try {
        setupDataPath('resync');
        ensureForward(false);
        ensureMasq();
        part('masquerade', undefined);
      } catch (e) {
        log(`resync: ${describeError(e)}`);
        part(/nft|masquerad/.test(describeError(e)) ? 'masquerade' : 'data path', describeError(e));
      }
      try {
        ensureBridge('resync');
        writeConflist();
      } catch (e) {
        log(`resync: ${describeError(e)}`);
      }
      reconcile('periodic resync');
      writeStatus(); // also before the first list of peers (reconcile writes it only after)
    };

    const resync = (async () => {
      heartbeat.lastTick = Date.now();
      while (await sleep(cfg.resyncInterval * 1000, signal)) {
        await resyncOnce();
        heartbeat.lastTick = Date.now();
      }
    })();

    let lastDup = '';
    const follow = store
      .follow(
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
            const dup = duplicateIPs({ node: cfg.nodeName, publicIPs: dp.underlay.publicIPs }, p.values());
            if (dup.join() !== lastDup) for (const d of dup) log(`warning: ${d}`);
            lastDup = dup.join();
            if (dup.length) warnings.set('duplicate-ips', dup.join('; '));
            else warnings.delete('duplicate-ips');
            schedule(havePeers ? 'peers changed' : 'first list of peers');
            havePeers = true;
          },
          lease: (s) => {
            log(`this node's subnets are now ${s.join(', ')}`);
            try {
              subnetsChanged(s);
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
      )
      .finally(() => {
        if (!signal.aborted) heartbeat.stopped = "the store's follow loop";
      });
    await Promise.all([follow, resync]);
    if (pending) clearTimeout(pending);
    if (gcTimer) clearTimeout(gcTimer);
    log('stopping: the data path, CNI config and masquerade stay in place (run with --cleanup to remove them)');
    return 0;
  } catch (e) {
    fatal = !outer.aborted;
    throw e;
  } finally {
    stopAll.abort();
    outer.removeEventListener('abort', onOuter);
    if (fatal) {
      // The node must not look Ready to the kubelet (nor to tools reading subnet.env) without the agent's data path.
      try {
        const r = removeConflist(place, cfg.networkName, cfg.bridge);
        if (removeSubnetEnv(cfg.subnetFile)) r.removed.push(cfg.subnetFile);
        if (r.removed.length) log(`fatal error: removed ${r.removed.join(' and ')} (the node is not Ready without the agent)`);
      } catch (e) {
        log(`cannot remove ${place.confPath}: ${describeError(e)}`);
      }
      writeStatus(); // with the error
    }
    health?.closeAllConnections?.();
    await new Promise<void>((r) => (health ? health.close(() => r()) : r()));
  }
}
