/** Applying portmap's nftables objects: one `nft -f -` per ADD and per DEL in the common case. */
import { pluginError } from '../../lib/cni/errors.js';
import type { Family } from '../../lib/ip.js';
import { nftApply, nftJson } from '../../lib/netfilter.js';
import type { ContainerAddress, PortMapConf } from './config.js';
import {
  addScript,
  attachment,
  containerObjects,
  deleteScript,
  HAIRPIN_SET,
  isEmptyRemoval,
  nftFamily,
  removalOf,
  setupScript,
  TABLE,
  type ContainerObjects,
  type Elem,
} from './nft-rules.js';
import { attachmentIds, inTheWay, isSetUp, parseTable, removalFromState, sharedRules, udpPortsOf, type TableState } from './nft-state.js';
import type { Forwarder, Removed } from './forwarder.js';
import { withHostLock } from '../../lib/lock.js';

function readTable(family: Family): TableState | undefined {
  const items = nftJson(['list', 'table', nftFamily(family), TABLE]);
  return items ? parseTable(items, family) : undefined;
}

const objectsFor = (conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): ContainerObjects[] =>
  addrs.map((a) => containerObjects(conf, containerId, a)).filter((o) => o.ports.length > 0);

function add(conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): void {
  const objs = objectsFor(conf, containerId, addrs);
  if (!objs.length) return;
  const fast = nftApply(objs.map((o) => addScript(o)).join(''));
  if (fast.status === 0) return;
  // First ADD in this namespace (no table yet, or one of an older layout), or a host port held by another (likely
  // stale) attachment: look, then set up what is missing and take such ports over, in one transaction.
  withHostLock('portmap', () => {
    let script = '';
    const notes: string[] = [];
    for (const o of objs) {
      const st = readTable(o.family);
      const c = inTheWay(st, o);
      notes.push(...c.notes);
      if (!isSetUp(st)) script += setupScript(o.family, st ? sharedRules(st) : []);
      script += addScript(o, c.replace);
    }
    if (notes.length) process.stderr.write(`portmap: ${notes.join('; ')}\n`);
    const r = nftApply(script);
    if (r.status !== 0) throw pluginError('unable to set up nftables rules for port mappings', r.stderr.trim());
  });
}

function del(conf: PortMapConf, containerId: string, addrs: ContainerAddress[] | undefined): Removed {
  const udp: Removed = { udpPorts: new Map() };
  let known: ContainerObjects[] = [];
  // Fast path: the runtime resent the mappings and prevResult; delete exactly what ADD made, without reading.
  if (addrs && conf.mappings.length) {
    known = objectsFor(conf, containerId, addrs);
    if (!known.length) return udp;
    const removals = known.map(removalOf);
    if (nftApply(removals.map(deleteScript).join('')).status === 0) {
      for (const r of removals) udp.udpPorts.set(r.family, udpPortsOf(r));
      return udp;
    }
  }
  // Otherwise find everything of this attachment (and reference-style rules commented with its ID) in the tables.
  const who = attachment(conf.name, containerId);
  let script = '';
  for (const family of [4, 6] as const) {
    const st = readTable(family);
    if (!st) continue;
    const removal = removalFromState(st, who, known.find((o) => o.family === family));
    if (isEmptyRemoval(removal)) continue;
    udp.udpPorts.set(family, udpPortsOf(removal));
    script += deleteScript(removal);
  }
  if (!script) return udp;
  const r = nftApply(script);
  if (r.status !== 0) throw pluginError('error deleting nftables rules', r.stderr.trim());
  return udp;
}

const sameElem = (a: Elem, b: Elem): boolean => a.map === b.map && a.key === b.key && a.value === b.value && a.comment === b.comment;

function check(conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): void {
  for (const o of objectsFor(conf, containerId, addrs)) {
    const st = readTable(o.family);
    const fam = `table ${nftFamily(o.family)} ${TABLE}`;
    if (!st) throw pluginError(`nftables ${fam} is missing`);
    if (o.chain) {
      if (!st.chains.has(o.chain)) throw pluginError(`chain ${o.chain} for container ${containerId} is missing from ${fam}`);
      const rules = st.rules.filter((r) => r.chain === o.chain).length;
      if (rules < o.rules.length) throw pluginError(`missing hostport rules in chain ${o.chain}: found ${rules}, expected ${o.rules.length}`);
    }
    for (const p of o.ports) {
      if (!st.elements.some((e) => sameElem(e, p))) {
        throw pluginError(`host port ${p.key.replace(/ \. /g, ' ')} is not forwarded to container ${containerId} in ${fam}`);
      }
    }
    for (const h of o.hairpin) {
      if (!st.elements.some((e) => e.map === HAIRPIN_SET && e.key === h)) throw pluginError(`hairpin masquerade for ${h} is missing in ${fam}`);
    }
  }
}

function gc(conf: PortMapConf, keep: Set<string>): void {
  let script = '';
  for (const family of [4, 6] as const) {
    const st = readTable(family);
    if (!st) continue;
    for (const id of attachmentIds(st, conf.name)) {
      if (!keep.has(id)) script += deleteScript(removalFromState(st, attachment(conf.name, id)));
    }
  }
  if (!script) return;
  const r = nftApply(script);
  if (r.status !== 0) throw pluginError('error removing stale nftables port mappings', r.stderr.trim());
}

export const nftForwarder: Forwarder = { add, del, check, gc };
