/** Applying portmap's nftables objects: one `nft -f -` per ADD and per DEL in the common case. */
import { pluginError } from '../../lib/cni/errors.js';
import type { Family } from '../../lib/ip.js';
import { nftApply, nftJson } from '../../lib/netfilter.js';
import type { ContainerAddress, PortMapConf } from './config.js';
import {
  addScript,
  containerChain,
  containerObjects,
  deleteScript,
  isEmptyRemoval,
  nftFamily,
  removalOf,
  setupScript,
  TABLE,
  type ContainerObjects,
  type MapKey,
} from './nft-rules.js';
import { attachmentChains, parseTable, removalFromState, udpPortsOf, type TableState } from './nft-state.js';
import type { Forwarder, Removed } from './forwarder.js';
import { withHostLock } from '../../lib/lock.js';

function readTable(family: Family): TableState | undefined {
  const items = nftJson(['list', 'table', nftFamily(family), TABLE]);
  return items ? parseTable(items, family) : undefined;
}

const objectsFor = (conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): ContainerObjects[] =>
  addrs.map((a) => containerObjects(conf, containerId, a)).filter((o) => o.rules.length > 0);

/** Is the table set up with our maps and dispatch rules? */
const isSetUp = (st: TableState | undefined): boolean =>
  !!st && st.chains.has('hostip_hostports') && st.rules.some((r) => r.chain === 'hostip_hostports' && r.comment === 'cni-ts portmap');

/** Host ports another attachment forwards now: the keys to take over, and a description of each for the log. */
function conflicts(st: TableState | undefined, o: ContainerObjects): { keys: MapKey[]; notes: string[] } {
  const out: { keys: MapKey[]; notes: string[] } = { keys: [], notes: [] };
  for (const k of o.keys) {
    const e = st?.elements.find((x) => x.map === k.map && x.key === k.key && x.target !== o.chain);
    if (!e) continue;
    const owner = st!.rules.find((r) => r.chain === e.target && r.comment)?.comment;
    out.keys.push(k);
    out.notes.push(`${k.key.replace(/ \. /g, ' ')} (IPv${o.family}) taken over from container ${owner ?? e.target}`);
  }
  return out;
}

function add(conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): void {
  const objs = objectsFor(conf, containerId, addrs);
  if (!objs.length) return;
  const fast = nftApply(objs.map((o) => addScript(o)).join(''));
  if (fast.status === 0) return;
  // First ADD in this namespace (no table yet), or a host port held by another (likely stale) attachment:
  // look, then set up what is missing and take such ports over, in one transaction.
  withHostLock('portmap', () => {
    let script = '';
    const notes: string[] = [];
    for (const o of objs) {
      const st = readTable(o.family);
      const c = conflicts(st, o);
      notes.push(...c.notes);
      if (!isSetUp(st)) script += setupScript(o.family);
      script += addScript(o, c.keys);
    }
    if (notes.length) process.stderr.write(`portmap: ${notes.join('; ')}\n`);
    const r = nftApply(script);
    if (r.status !== 0) throw pluginError('unable to set up nftables rules for port mappings', r.stderr.trim());
  });
}

function del(conf: PortMapConf, containerId: string, addrs: ContainerAddress[] | undefined): Removed {
  const chain = containerChain(conf.name, containerId);
  const udp: Removed = { udpPorts: new Map() };
  const udpFromConf = (family: Family): number[] =>
    conf.mappings.filter((m) => m.protocol === 'udp' && (m.hostFamily === undefined || m.hostFamily === family)).map((m) => m.hostPort);
  // Fast path: the runtime resent the mappings and prevResult; delete exactly what ADD made, without reading.
  if (addrs && conf.mappings.length) {
    const objs = objectsFor(conf, containerId, addrs);
    if (!objs.length) return udp;
    if (nftApply(objs.map((o) => deleteScript(removalOf(o))).join('')).status === 0) {
      for (const o of objs) udp.udpPorts.set(o.family, udpFromConf(o.family));
      return udp;
    }
  }
  // Otherwise find everything of this attachment (and reference-style rules commented with its ID) in the tables.
  let script = '';
  for (const family of [4, 6] as const) {
    const st = readTable(family);
    if (!st) continue;
    const removal = removalFromState(st, chain, containerId);
    if (isEmptyRemoval(removal)) continue;
    udp.udpPorts.set(family, udpPortsOf(st, chain));
    script += deleteScript(removal);
  }
  if (!script) return udp;
  const r = nftApply(script);
  if (r.status !== 0) throw pluginError('error deleting nftables rules', r.stderr.trim());
  return udp;
}

function check(conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): void {
  for (const o of objectsFor(conf, containerId, addrs)) {
    const st = readTable(o.family);
    const fam = `table ${nftFamily(o.family)} ${TABLE}`;
    if (!st) throw pluginError(`nftables ${fam} is missing`);
    if (!st.chains.has(o.chain)) throw pluginError(`chain ${o.chain} for container ${containerId} is missing from ${fam}`);
    const rules = st.rules.filter((r) => r.chain === o.chain).length;
    if (rules < o.rules.length) throw pluginError(`missing hostport rules in chain ${o.chain}: found ${rules}, expected ${o.rules.length}`);
    for (const k of o.keys) {
      if (!st.elements.some((e) => e.map === k.map && e.key === k.key && e.target === o.chain)) {
        throw pluginError(`host port ${k.key.replace(/ \. /g, ' ')} is not forwarded to container ${containerId} in ${fam}`);
      }
    }
    for (const h of o.hairpin) if (!st.hairpin.includes(h)) throw pluginError(`hairpin masquerade for ${h} is missing in ${fam}`);
  }
}

function gc(conf: PortMapConf, keep: Set<string>): void {
  let script = '';
  for (const family of [4, 6] as const) {
    const st = readTable(family);
    if (!st) continue;
    for (const { chain, containerId } of attachmentChains(st)) {
      // Only this network's chains (the name hashes network + ID); chains we cannot attribute are left alone.
      if (!containerId || containerChain(conf.name, containerId) !== chain || keep.has(containerId)) continue;
      script += deleteScript(removalFromState(st, chain, containerId));
    }
  }
  if (!script) return;
  const r = nftApply(script);
  if (r.status !== 0) throw pluginError('error removing stale nftables port mappings', r.stderr.trim());
}

export const nftForwarder: Forwarder = { add, del, check, gc };
