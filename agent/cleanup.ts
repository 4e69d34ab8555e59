/**
 * --cleanup (one-shot, like kube-proxy's): with the same flags as the daemon, remove everything the agent made on
 * this node — the conflist and subnet.env (first: no new pod is set up meanwhile), the data path (VXLAN device, its
 * routes, neighbours and FDB; host-gw routes), our FORWARD rules (the FORWARD policy stays as found), the masquerade
 * table, the pods' bridge when no pod is attached to it (a node that rejoins with a new subnet then starts clean), the
 * state files — and give its subnets back to the store. A bridge with pods still attached is left, saying so. Exit
 * status 0 when everything of ours is gone.
 */
import type { AgentConfig } from './config.js';
import { BridgeGateways } from './bridge.js';
import { conflistPlace, removeConflist } from './conflist.js';
import { DataPath, vtepMAC } from './datapath.js';
import { ForwardRules } from './forward.js';
import { removeMasq } from './masq.js';
import { removeStateFiles } from './state.js';
import { removeSubnetEnv } from './subnet-env.js';
import { makeStore, type Log } from './daemon.js';
import { describeError } from './store/http.js';

export async function runCleanup(cfg: AgentConfig, signal: AbortSignal, log: Log): Promise<number> {
  let failed = false;
  const report = (r: { described: string[]; errors: string[] }): void => {
    for (const d of r.described) log(`cleanup: ${d}`);
    for (const e of r.errors) {
      log(`cleanup: error: ${e}`);
      failed = true;
    }
  };
  const conf = removeConflist(conflistPlace(cfg.confDir, cfg.confName, cfg.runDir), cfg.networkName, cfg.bridge);
  for (const p of conf.removed) log(`cleanup: removed ${p}`);
  if (conf.left) log(`cleanup: ${conf.left}`);
  if (removeSubnetEnv(cfg.subnetFile)) log(`cleanup: removed ${cfg.subnetFile}`);
  // The underlay is not needed to remove things: a placeholder keeps DataPath's planning code in one place.
  const dp = new DataPath(cfg.backend, { iface: cfg.iface, publicIPs: cfg.publicIPs, mtu: 1500 }, cfg.clusterCIDRs, { vni: cfg.vxlanVNI, port: cfg.vxlanPort, mac: vtepMAC(cfg.nodeName, cfg.vxlanVNI) }, cfg.nodeName);
  report(dp.teardown());
  report(new ForwardRules(cfg.clusterCIDRs, [], true).remove());
  try {
    if (removeMasq()) log('cleanup: removed nft table inet cni_ts_agent');
  } catch (e) {
    log(`cleanup: error: ${describeError(e)}`);
    failed = true;
  }
  report(BridgeGateways.forNetwork(cfg.bridge, cfg.ipamDataDir, cfg.networkName, cfg.clusterCIDRs).remove());
  removeStateFiles(cfg.stateDir, cfg.runDir);
  try {
    await makeStore(cfg, log).release(signal);
  } catch (e) {
    log(`cleanup: cannot release this node's subnets in the store: ${describeError(e)}`);
    failed = true;
  }
  return failed ? 1 : 0;
}
