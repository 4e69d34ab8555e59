/**
 * The reference portmap's iptables rules (nat table), as iptables-restore input. Pure.
 * Chain names, comments and rule order match containernetworking/plugins, so either implementation removes
 * what the other installed.
 */
import { dnatChainName } from '../../lib/hash.js';
import { declaredChains, missingSetup as missing, ruleLine as line, type WantedRule } from '../../lib/netfilter.js';
import type { Family } from '../../lib/ip.js';
import { appliesTo, PROTOCOLS, type ContainerAddress, type PortMapConf } from './config.js';

export const TOP_DNAT = 'CNI-HOSTPORT-DNAT';
export const SETMARK = 'CNI-HOSTPORT-SETMARK';
export const MASQ = 'CNI-HOSTPORT-MASQ';

/** Comments longer than 255 chars are cut to 253 + "..." (the reference's trimComment). */
export const trimComment = (c: string): string => (c.length <= 255 ? c : c.slice(0, 253) + '...');

export const entryComment = (netName: string, containerId: string): string => trimComment(`dnat name: "${netName}" id: "${containerId}"`);

const markDef = (bit: number): string => {
  const v = (2 ** bit).toString(16);
  return `0x${v}/0x${v}`;
};

/** Host ports grouped by protocol (sorted), split into multiport lists of at most 15. */
export function portLists(conf: PortMapConf): Array<{ protocol: string; ports: string }> {
  const out: Array<{ protocol: string; ports: string }> = [];
  for (const protocol of [...PROTOCOLS].sort()) {
    const ports = conf.mappings.filter((m) => m.protocol === protocol).map((m) => String(m.hostPort));
    for (let i = 0; i < ports.length; i += 15) out.push({ protocol, ports: ports.slice(i, i + 15).join(',') });
  }
  return out;
}

/** The jump rules from CNI-HOSTPORT-DNAT into the attachment's chain (without the -A/-I/-D verb). */
export function entryRules(conf: PortMapConf, containerId: string, family: Family): string[][] {
  const chain = dnatChainName(conf.name, containerId);
  const conds = family === 4 ? conf.conditionsV4 : conf.conditionsV6;
  return portLists(conf).map(({ protocol, ports }) => [
    '-m', 'comment', '--comment', entryComment(conf.name, containerId),
    '-m', 'multiport', '-p', protocol, '--destination-ports', ports,
    ...conds,
    '-j', chain,
  ]);
}

const ipPort = (addr: ContainerAddress, port: number): string => (addr.family === 4 ? `${addr.ip}:${port}` : `[${addr.ip}]:${port}`);

/** The rules of the attachment's CNI-DN-<hash> chain: hairpin mark, localhost mark (IPv4), DNAT, per mapping. */
export function chainRules(conf: PortMapConf, addr: ContainerAddress): string[][] {
  const setMark = conf.externalSetMarkChain ?? SETMARK;
  const rules: string[][] = [];
  for (const m of conf.mappings) {
    if (!appliesTo(m, addr.family)) continue;
    const base = ['-p', m.protocol, '--dport', String(m.hostPort), ...(m.hostIP ? ['-d', m.hostIP] : [])];
    if (conf.snat) {
      const src = conf.masqAll ? (addr.family === 4 ? '0.0.0.0/0' : '::/0') : addr.cidr;
      rules.push([...base, '-s', src, '-j', setMark]);
      if (addr.family === 4 && !conf.masqAll) rules.push([...base, '-s', '127.0.0.1', '-j', setMark]);
    }
    rules.push([...base, '-j', 'DNAT', '--to-destination', ipPort(addr, m.containerPort)]);
  }
  return rules;
}

/** Fast ADD: assumes the shared chains exist. Declaring the attachment's chain creates or flushes it. */
export function addRestore(conf: PortMapConf, containerId: string, addr: ContainerAddress, setup: string[] = []): string {
  const chain = dnatChainName(conf.name, containerId);
  return [
    '*nat',
    ...setup.filter((l) => l.startsWith(':')),
    `:${chain} - [0:0]`,
    ...setup.filter((l) => !l.startsWith(':')),
    ...chainRules(conf, addr).map((r) => `-A ${chain} ${line(r)}`),
    ...entryRules(conf, containerId, addr.family).map((r) => `-I ${TOP_DNAT} ${line(r)}`),
    'COMMIT',
    '',
  ].join('\n');
}

/** Fast DEL: remove the entry rules generated from the config, then the chain. Fails (atomically) if anything differs. */
export function delRestore(conf: PortMapConf, containerId: string, family: Family): string {
  const chain = dnatChainName(conf.name, containerId);
  return ['*nat', ...entryRules(conf, containerId, family).map((r) => `-D ${TOP_DNAT} ${line(r)}`), `-F ${chain}`, `-X ${chain}`, 'COMMIT', ''].join('\n');
}

/** The shared chains and rules an ADD needs, as the reference sets them up, minus what `save` already has. */
export function missingSetup(conf: PortMapConf, save: string): string[] {
  const chains: string[] = [];
  const rules: WantedRule[] = [];
  if (conf.snat && !conf.externalSetMarkChain) {
    const mark = markDef(conf.markMasqBit);
    chains.push(SETMARK, MASQ);
    rules.push(
      { verb: '-A', chain: SETMARK, rule: `-m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark ${mark}` },
      { verb: '-A', chain: MASQ, rule: `-m mark --mark ${mark} -j MASQUERADE` },
      { verb: '-I', chain: 'POSTROUTING', rule: `-m comment --comment "CNI portfwd requiring masquerade" -j ${MASQ}` },
    );
  }
  chains.push(TOP_DNAT);
  rules.push(
    { verb: '-A', chain: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${TOP_DNAT}` },
    { verb: '-A', chain: 'OUTPUT', rule: `-m addrtype --dst-type LOCAL -j ${TOP_DNAT}` },
  );
  return missing(save, chains, rules);
}

/**
 * Remove every rule that jumps to `chains` and the chains themselves, found in an iptables-save dump
 * (for DEL without config, after drift, and for GC). Empty string when there is nothing to do.
 */
export function removalRestore(save: string, chains: readonly string[]): string {
  const declared = declaredChains(save);
  const present = chains.filter((c) => declared.has(c));
  const jumps = save.split('\n').filter((l) => l.startsWith('-A ') && present.some((c) => l.endsWith(` -j ${c}`) || l.includes(` -j ${c} `)));
  if (!present.length) return '';
  return ['*nat', ...jumps.map((l) => `-D ${l.slice(3)}`), ...present.map((c) => `-F ${c}`), ...present.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
}

/** UDP host ports an attachment's chain forwards, read from a dump. */
export function udpPortsInSave(save: string, chain: string): number[] {
  const out = new Set<number>();
  for (const l of save.split('\n')) {
    if (!l.startsWith(`-A ${chain} `) || !l.includes(' -j DNAT')) continue;
    const m = / -p udp .*--dport (\d+)/.exec(l);
    if (m) out.add(Number(m[1]));
  }
  return [...out];
}

/** Attachments found in a dump: entry-rule comments `dnat name: "<net>" id: "<cid>"` and the chain they jump to. */
export function attachmentsInSave(save: string): Array<{ net: string; containerId: string; chain: string }> {
  const out = new Map<string, { net: string; containerId: string; chain: string }>();
  for (const l of save.split('\n')) {
    if (!l.startsWith(`-A ${TOP_DNAT} `)) continue;
    const m = /--comment "dnat name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\""/.exec(l);
    const j = / -j (CNI-DN-[0-9a-f]+)/.exec(l);
    if (m && j) out.set(j[1]!, { net: m[1]!, containerId: m[2]!, chain: j[1]! });
  }
  return [...out.values()];
}
