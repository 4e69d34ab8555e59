/**
 * --cleanup (one-shot, like kube-proxy's): with the same flags as the daemon, remove everything the agent made on
 * this node — the data path (VXLAN device, its routes, neighbours and FDB; host-gw routes), the conflist, the
 * masquerade table, the state files and subnet.env — and give its subnets back to the store. The bridge and the pods' veths belong
 * to the bridge plugin and are left to the runtime's DEL. Exit status 0 when everything of ours is gone.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from './config.js';
import { isOurConflist } from './conflist.js';
import { DataPath, vtepMAC } from './datapath.js';
import { removeMasq } from './masq.js';
import { removeStateFiles } from './state.js';
import { removeSubnetEnv } from './subnet-env.js';
import { makeStore, type Log } from './daemon.js';
import { describeError } from './store/http.js';

export async function runCleanup(cfg: AgentConfig, signal: AbortSignal, log: Log): Promise<number> {
  let failed = false;
  // The underlay is not needed to remove things: a placeholder keeps DataPath's planning code in one place.
  const dp = new DataPath(cfg.backend, { iface: cfg.iface, publicIPs: cfg.publicIPs, mtu: 1500 }, cfg.clusterCIDRs, { vni: cfg.vxlanVNI, port: cfg.vxlanPort, mac: vtepMAC(cfg.nodeName, cfg.vxlanVNI) }, cfg.nodeName);
  const r = dp.teardown();
  for (const d of r.described) log(`cleanup: ${d}`);
  for (const e of r.errors) {
    log(`cleanup: error: ${e}`);
    failed = true;
  }
  const conf = join(cfg.confDir, cfg.confName);
  if (existsSync(conf)) {
    if (isOurConflist(conf, cfg.networkName, cfg.bridge)) {
      rmSync(conf, { force: true });
      log(`cleanup: removed ${conf}`);
    } else log(`cleanup: ${conf} was not written by this agent (network ${cfg.networkName}, bridge ${cfg.bridge}): left alone`);
  }
  try {
    if (removeMasq()) log('cleanup: removed nft table inet cni_ts_agent');
  } catch (e) {
    log(`cleanup: error: ${describeError(e)}`);
    failed = true;
  }
  removeStateFiles(cfg.stateDir);
  if (removeSubnetEnv(cfg.subnetFile)) log(`cleanup: removed ${cfg.subnetFile}`);
  try {
    await makeStore(cfg, log).release(signal);
  } catch (e) {
    log(`cleanup: cannot release this node's subnets in the store: ${describeError(e)}`);
    failed = true;
  }
  return failed ? 1 : 0;
}
