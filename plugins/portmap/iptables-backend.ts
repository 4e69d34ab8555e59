/** Applying the reference's iptables rules: one iptables-restore --noflush per family per operation in the common case. */
import { pluginError } from '../../lib/cni/errors.js';
import { dnatChainName, sha512Hex } from '../../lib/hash.js';
import type { Family } from '../../lib/ip.js';
import { declaredChains, iptablesRestore, iptablesSave, iptablesUsable } from '../../lib/netfilter.js';
import type { ContainerAddress, PortMapConf } from './config.js';
import type { Forwarder, Removed } from './forwarder.js';
import { withHostLock } from '../../lib/lock.js';
import {
  addRestore,
  attachmentsInSave,
  chainRules,
  delRestore,
  entryRules,
  missingSetup,
  removalRestore,
  udpPortsInSave,
} from './iptables-rules.js';

const tool = (f: Family): string => (f === 4 ? 'iptables' : 'ip6tables');

function save(f: Family): string | undefined {
  try {
    return iptablesSave(f, 'nat');
  } catch {
    return undefined;
  }
}

/** The reference's old per-container SNAT chain (CNI-SN-<hash>), torn down too in case it lingers. */
const oldSnatChain = (net: string, id: string): string => `CNI-SN-${sha512Hex(net + id)}`.slice(0, 28);

function add(conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): void {
  for (const addr of addrs) {
    if (iptablesRestore(addr.family, addRestore(conf, containerId, addr)).status === 0) continue;
    // Shared chains missing (first ADD) or stale state: read once, add what is missing and drop old jumps to our chain.
    withHostLock('portmap', () => {
      const dump = save(addr.family);
      if (dump === undefined) throw pluginError(`${tool(addr.family)} is not usable`);
      const chain = dnatChainName(conf.name, containerId);
      const stale = removalRestore(dump, [chain])
        .split('\n')
        .filter((l) => l.startsWith('-D '));
      const r = iptablesRestore(addr.family, addRestore(conf, containerId, addr, [...missingSetup(conf, dump), ...stale]));
      if (r.status !== 0) throw pluginError(`unable to set up ${tool(addr.family)} rules for port mappings`, r.stderr.trim());
    });
  }
}

function del(conf: PortMapConf, containerId: string, addrs: ContainerAddress[] | undefined): Removed {
  const chain = dnatChainName(conf.name, containerId);
  const removed: Removed = { udpPorts: new Map() };
  const families: Family[] = addrs ? addrs.map((a) => a.family) : [4, 6];
  let usable = 0;
  for (const f of families) {
    if (conf.mappings.length && iptablesRestore(f, delRestore(conf, containerId, f)).status === 0) {
      usable++;
      removed.udpPorts.set(f, conf.mappings.filter((m) => m.protocol === 'udp').map((m) => m.hostPort));
      continue;
    }
    const dump = save(f);
    if (dump === undefined) continue;
    usable++;
    const script = removalRestore(dump, [chain, oldSnatChain(conf.name, containerId)]);
    if (!script) continue;
    removed.udpPorts.set(f, udpPortsInSave(dump, chain));
    const r = iptablesRestore(f, script);
    if (r.status !== 0) throw pluginError(`could not teardown ipv${f} dnat`, r.stderr.trim());
  }
  if (!usable && families.length && !iptablesUsable(4) && !iptablesUsable(6)) throw pluginError('neither iptables nor ip6tables is usable');
  return removed;
}

function check(conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): void {
  const chain = dnatChainName(conf.name, containerId);
  for (const addr of addrs) {
    const dump = save(addr.family);
    if (dump === undefined) throw pluginError(`${tool(addr.family)} is not usable`);
    if (!declaredChains(dump).has(chain)) throw pluginError(`could not check ipv${addr.family} dnat: chain ${chain} not found in ${tool(addr.family)} table nat`);
    const lines = dump.split('\n');
    const inChain = lines.filter((l) => l.startsWith(`-A ${chain} `));
    const want = chainRules(conf, addr);
    if (inChain.length < want.length) throw pluginError(`could not check ipv${addr.family} dnat: chain ${chain} has ${inChain.length} rules, expected ${want.length}`);
    for (const m of conf.mappings) {
      const dest = addr.family === 4 ? `${addr.ip}:${m.containerPort}` : `[${addr.ip}]:${m.containerPort}`;
      if (m.hostFamily !== undefined && m.hostFamily !== addr.family) continue;
      if (!inChain.some((l) => l.includes(`-p ${m.protocol} `) && l.includes(`--dport ${m.hostPort} `) && l.endsWith(`--to-destination ${dest}`))) {
        throw pluginError(`could not check ipv${addr.family} dnat: no DNAT rule for ${m.protocol}/${m.hostPort} → ${dest} in chain ${chain}`);
      }
    }
    const entries = lines.filter((l) => l.startsWith('-A CNI-HOSTPORT-DNAT ') && l.endsWith(`-j ${chain}`)).length;
    const wantEntries = entryRules(conf, containerId, addr.family).length;
    if (entries < wantEntries) throw pluginError(`could not check ipv${addr.family} dnat: ${entries} of ${wantEntries} jumps to ${chain} found in CNI-HOSTPORT-DNAT`);
  }
}

function gc(conf: PortMapConf, keep: Set<string>): void {
  for (const f of [4, 6] as const) {
    const dump = save(f);
    if (dump === undefined) continue;
    const stale = attachmentsInSave(dump).filter((a) => a.net === conf.name && !keep.has(a.containerId) && a.chain === dnatChainName(conf.name, a.containerId));
    if (!stale.length) continue;
    const script = removalRestore(dump, stale.map((a) => a.chain));
    const r = iptablesRestore(f, script);
    if (r.status !== 0) throw pluginError(`could not remove stale ${tool(f)} port mappings`, r.stderr.trim());
  }
}

export const iptablesForwarder: Forwarder = { add, del, check, gc };
