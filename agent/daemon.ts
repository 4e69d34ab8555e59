/**
 * The long-running agent. Start-up, in this order, so the node is never announced Ready (the conflist) with a data
 * path that is not there:
 *
 *   1. the underlay (interface, address, MTU),
 *   2. this node's subnets from the store (confirmed there: after a reboot the conflist link dangles until now),
 *   3. the data path (forwarding sysctls, the VXLAN device and its address),
 *   4. the FORWARD accept rules (forward.ts), 5. the masquerade table, 6. the bridge's gateway addresses,
 *   7. the conflist — last.
 *
 * Then it follows the peers — reconciling on every change and every --resync-interval, when it also re-detects the
 * underlay (a new address or MTU is published and applied) and re-applies 3–7 — until the signal aborts. Stopping
 * keeps the data path, the conflist and the masquerade (pods keep working while the agent restarts); a fatal error
 * removes the conflist (the node is not Ready without the agent's data path); --cleanup (cleanup.ts) removes the rest.
 */
import { BridgeGateways } from './bridge.js';
import { clusterSettings, type AgentConfig } from './config.js';
import { conflistPlace, installConflist, pluginPrefixFor, removeConflist, renderConflist } from './conflist.js';
import { DataPath, vtepMAC, type ApplyReport } from './datapath.js';
import { ForwardRules } from './forward.js';
import { serveHealth, type Heartbeat } from './health.js';
import { applyMasq } from './masq.js';
import { loadSubnets, saveStatus, saveSubnets, type Status } from './state.js';
import { EtcdStore } from './store/etcd.js';
import { describeError, sleep } from './store/http.js';
import { KubeStore } from './store/kubernetes.js';
import { FatalStoreError, type LocalInfo, type NodeRecord, type Store } from './store/types.js';
import { detectUnderlay, underlayChanges, type Underlay, type UnderlaySelection } from './underlay.js';

export type Log = (msg: string) => void;

export function makeStore(cfg: AgentConfig, log: Log): Store {
  if (cfg.store === 'kubernetes') {
    return new KubeStore({ server: cfg.kubeAPIServer, tokenFile: cfg.kubeTokenFile, caFile: cfg.kubeCAFile, nodeName: cfg.nodeName, clusterCIDRs: cfg.clusterCIDRs, watchIdleTimeout: cfg.watchIdleTimeout, log });
  }
  return new EtcdStore({
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

export function makeDataPath(cfg: AgentConfig, underlay: Underlay = detectUnderlay(underlaySelection(cfg))): DataPath {
  return new DataPath(cfg.backend, underlay, cfg.clusterCIDRs, { vni: cfg.vxlanVNI, port: cfg.vxlanPort, mac: vtepMAC(cfg.nodeName, cfg.vxlanVNI) }, cfg.nodeName);
}

function logReport(log: Log, what: string, r: ApplyReport): void {
  for (const d of r.described) log(`${what}: ${d}`);
  for (const e of r.errors) log(`${what}: error: ${e}`);
}

/** Peers (and this node) publishing the same underlay address: their traffic would go to one machine. Pure. */
export function duplicateIPs(self: { node: string; publicIPs: readonly string[] }, peers: Iterable<NodeRecord>): string[] {
  const by = new Map<string, string[]>();
  for (const n of [self, ...peers]) for (const ip of n.publicIPs) by.set(ip, [...(by.get(ip) ?? []), n.node]);
  return [...by].filter(([, nodes]) => nodes.length > 1).map(([ip, nodes]) => `nodes ${nodes.join(' and ')} all publish the underlay address ${ip}: traffic for all of them goes to one machine (cloned VMs? a wrong --public-ip or public-ip-overwrite?)`);
}

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
  // Everything below stops when the caller aborts, and also when any part fails (nothing keeps running behind a return).
  const stopAll = new AbortController();
  const signal = stopAll.signal;
  const onOuter = (): void => stopAll.abort();
  outer.addEventListener('abort', onOuter, { once: true });
  const place = conflistPlace(cfg.confDir, cfg.confName, cfg.runDir);
  const store = makeStore(cfg, log);
  log(`store: ${store.label}`);

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
  /** What keeps the node from being ready, by part ("forwarding" → why); empty when all is in place. */
  const problems = new Map<string, string>();
  const warnings = new Map<string, string>();
  let havePeers = false;
  const heartbeat: Heartbeat = { resyncInterval: cfg.resyncInterval };
  const writeStatus = (): void => {
    status.notReady = notReadyReasons({ subnets: status.subnets, havePeers, storeConnected: status.storeConnected, storeDetail: status.storeDetail, problems });
    status.ready = status.notReady.length === 0;
    status.ok = status.ready;
    status.warnings = [...warnings.values()];
    try {
      saveStatus(cfg.runDir, status);
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
  const health = cfg.healthzAddr ? await serveHealth(cfg.healthzAddr, () => status, () => heartbeat, log) : undefined;

  let fatal = false;
  try {
    const sel = underlaySelection(cfg);
    if (!explicitUnderlay(sel) && store.nodeIPs) {
      sel.nodeIPs = await store.nodeIPs(signal);
      log(`the Node's InternalIP: ${sel.nodeIPs.join(', ')}`);
    }
    const dp = makeDataPath(cfg, detectUnderlay(sel));
    const describeUnderlay = (u: Underlay): string => `${u.iface} ${u.publicIPs.join(',')} (MTU ${u.mtu})`;
    log(`node ${cfg.nodeName}: underlay ${describeUnderlay(dp.underlay)}, backend ${cfg.backend}, cluster ${cfg.clusterCIDRs.join(',')}`);
    status.publicIPs = dp.underlay.publicIPs;
    status.mtu = dp.podMTU;
    const localInfo = (): LocalInfo => ({ publicIPs: dp.underlay.publicIPs, backend: cfg.backend, vtepMAC: cfg.backend === 'vxlan' ? dp.vxlan.mac : undefined });

    let subnets: string[];
    try {
      subnets = await store.acquire(localInfo(), signal);
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
    const bridge = BridgeGateways.forNetwork(cfg.bridge, cfg.ipamDataDir, cfg.networkName, cfg.clusterCIDRs);

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
    // 6. Gateways of the node's subnets on the bridge; old ones go when their pods are gone.
    const ensureBridge = (what: string): void => {
      const r = bridge.reconcile(status.subnets);
      for (const d of r.described) log(`${what}: ${d}`);
      for (const e of r.errors) log(`${what}: error: ${e}`);
      warn('bridge-old-gateways', r.kept.length ? `bridge ${cfg.bridge} keeps the old gateway ${r.kept.join(', ')}: it goes once those pods are deleted` : undefined);
    };
    // 7. The conflist (content in the run dir, link in the conf dir).
    const writeConflist = (): void => {
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
    applyMasq(cfg.clusterCIDRs);
    log(`masquerading traffic from ${cfg.clusterCIDRs.join(',')} leaving the cluster (nft table inet cni_ts_agent)`);
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
    const reconcile = (why: string): void => {
      if (!havePeers) return;
      const peerErrors = new Map<string, string>();
      const skipped = new Map<string, string>();
      try {
        const r = dp.reconcile(peers.values());
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
        status.lastError = describeError(e);
        part('reconcile', describeError(e));
        log(`reconcile failed: ${describeError(e)}`);
      }
      status.peers = [...peers.values()].map((p) => ({
        node: p.node,
        subnets: p.subnets,
        publicIPs: p.publicIPs,
        ...(skipped.has(p.node) ? { skipped: skipped.get(p.node) } : {}),
        ...(peerErrors.has(p.node) ? { error: peerErrors.get(p.node) } : {}),
      }));
      writeStatus();
    };

    let pending: NodeJS.Timeout | undefined;
    const schedule = (why: string): void => {
      if (pending) return;
      pending = setTimeout(() => {
        pending = undefined;
        reconcile(why);
      }, 50);
    };

    /** The addresses the store has for this node (published again, until it works, when they change). */
    let published = dp.underlay.publicIPs.join(',');
    /** Every round: the underlay again (address, MTU), then everything local, then the peers. */
    const resyncOnce = async (): Promise<void> => {
      try {
        const u = detectUnderlay(sel);
        const changes = underlayChanges(dp.underlay, u);
        dp.underlay = u; // also the on-link networks, which host-gw checks peers against
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
        applyMasq(cfg.clusterCIDRs);
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
            for (const n of added) log(`peer ${n} appeared: ${p.get(n)!.subnets.join(', ')} via ${p.get(n)!.publicIPs.join(', ')}`);
            for (const n of removed) log(`peer ${n} is gone`);
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
            status.storeConnected = ok;
            status.storeDetail = detail;
            writeStatus();
          },
        },
        signal,
      )
      .finally(() => {
        if (!signal.aborted) heartbeat.stopped = 'the store\'s follow loop';
      });
    await Promise.all([follow, resync]);
    if (pending) clearTimeout(pending);
    log('stopping: the data path, CNI config and masquerade stay in place (run with --cleanup to remove them)');
    return 0;
  } catch (e) {
    fatal = !outer.aborted;
    throw e;
  } finally {
    stopAll.abort();
    outer.removeEventListener('abort', onOuter);
    if (fatal) {
      // The node must not look Ready to the kubelet without the agent's data path.
      try {
        const r = removeConflist(place, cfg.networkName, cfg.bridge);
        if (r.removed.length) log(`fatal error: removed ${r.removed.join(' and ')} (the node is not Ready without the agent)`);
      } catch (e) {
        log(`cannot remove ${place.confPath}: ${describeError(e)}`);
      }
    }
    health?.closeAllConnections?.();
    await new Promise<void>((r) => (health ? health.close(() => r()) : r()));
  }
}
