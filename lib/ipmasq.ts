/**
 * IP masquerade for container addresses, with the reference plugins' on-host names (pkg/ip/ipmasq_*_linux.go), so rules
 * made by the Go plugins are removed by ours and the other way round.
 *
 * - iptables: nat chain `CNI-<sha512(name+cid)[:24]>` with `-d <subnet> -j ACCEPT` and `! -d <multicast> -j MASQUERADE`,
 *   and a `POSTROUTING -s <ip> -j <chain>` jump; every rule commented `name: "<net>" id: "<cid>"`.
 * - nftables: table `inet cni_plugins_masquerade`, chain `masq_checks` holding one rule per address, commented
 *   `<h16(net)>-<h16(ifname:cid)>, net: <net>, if: <ifname>, id: <cid>`.
 *
 * Teardown never needs the container's addresses: the iptables chain name and the nft comment prefix are computed
 * from (network, ifname, container id), so DEL cleans up even when the netns is gone and there is no prevResult.
 * Script/rule generation is pure (unit-tested); the functions at the end run iptables/nft, one batch per operation.
 */
import { pluginError } from './cni/errors.js';
import type { Fields } from './cni/fields.js';
import { chainName, sha512Hex } from './hash.js';
import { formatCIDR, formatIP, networkOf, parseCIDR } from './ip.js';
import { run } from './exec.js';
import { iptablesCmd as iptTool, iptablesRestore, nft, nftApply, type Backend } from './netfilter.js';

export const MASQ_TABLE = 'cni_plugins_masquerade';
export const MASQ_CHAIN = 'masq_checks';
const TABLE_COMMENT = 'Masquerading for plugins from github.com/containernetworking/plugins';
const CHAIN_COMMENT = 'Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet';
/** knftables.CommentLengthMax */
const NFT_COMMENT_MAX = 128;

export interface MasqIdentity {
  network: string;
  ifname: string;
  containerId: string;
}

/** The `ipMasqBackend` key of bridge and ptp: undefined (the reference's automatic choice), iptables or nftables. */
export function ipMasqBackendOf(f: Fields): Backend | undefined {
  const backend = f.string('ipMasqBackend');
  if (backend !== undefined && backend !== 'iptables' && backend !== 'nftables') {
    f.fail('ipMasqBackend', `is ${JSON.stringify(backend)}; allowed: iptables, nftables`);
  }
  return backend as Backend | undefined;
}

// ---------- names ----------

export const hashForNetwork = (network: string): string => sha512Hex(network).slice(0, 16);

export const hashForInstance = (id: MasqIdentity): string =>
  `${hashForNetwork(id.network)}-${sha512Hex(`${id.ifname}:${id.containerId}`).slice(0, 16)}`;

const noQuotes = (s: string): string => s.replaceAll('"', '');

/** The nft rule comment (reference commentForInstance). */
export function nftComment(id: MasqIdentity): string {
  const c = `${hashForInstance(id)}, net: ${noQuotes(id.network)}, if: ${noQuotes(id.ifname)}, id: ${noQuotes(id.containerId)}`;
  return c.slice(0, NFT_COMMENT_MAX);
}

/** Go's %q for the names CNI allows (letters, digits, `_.-`): a plain double-quoted string. */
const goQuote = (s: string): string => JSON.stringify(s);

/** The iptables rule comment (reference utils.FormatComment). */
export const iptablesComment = (network: string, containerId: string): string => `name: ${goQuote(network)} id: ${goQuote(containerId)}`;

export const masqChain = (network: string, containerId: string): string => chainName(network, containerId);

const familyOf = (cidr: string): 4 | 6 => (parseCIDR(cidr)?.ip.family === 6 ? 6 : 4);
const multicastNet = (f: 4 | 6): string => (f === 4 ? '224.0.0.0/4' : 'ff00::/8');

function hostAndNet(address: string): { ip: string; net: string; family: 4 | 6 } {
  const c = parseCIDR(address);
  if (!c) throw pluginError(`invalid address ${JSON.stringify(address)} for masquerade`);
  return { ip: formatIP(c.ip), net: formatCIDR(networkOf(c)), family: c.ip.family };
}

export const familiesOf = (addresses: readonly string[]): Array<4 | 6> => [...new Set(addresses.map(familyOf))].sort();

// ---------- iptables (pure) ----------

/** Quote a token for iptables-restore (it understands "..." with \" inside). */
const iptQuote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * iptables-restore --noflush input that sets masquerade up for the addresses of one family.
 * Declaring the chain (`:CHAIN - [0:0]`) creates it, or flushes it when it exists, so its rules are never duplicated.
 */
export function iptablesSetupRestore(family: 4 | 6, addresses: readonly string[], network: string, containerId: string): string {
  const chain = masqChain(network, containerId);
  const comment = iptQuote(iptablesComment(network, containerId));
  const mine = addresses.map(hostAndNet).filter((a) => a.family === family);
  const lines = ['*nat', `:${chain} - [0:0]`];
  for (const a of mine) lines.push(`-A ${chain} -d ${a.net} -j ACCEPT -m comment --comment ${comment}`);
  lines.push(`-A ${chain} ! -d ${multicastNet(family)} -j MASQUERADE -m comment --comment ${comment}`);
  for (const a of mine) lines.push(`-A POSTROUTING -s ${a.ip} -j ${chain} -m comment --comment ${comment}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Lines of `iptables-save -t nat` that jump from POSTROUTING to `chain` (any source form, ours or the reference's). */
export function postroutingJumps(saveText: string, chain: string): string[] {
  const jump = new RegExp(`(^| )-j ${chain}( |$)`);
  return saveText.split('\n').filter((l) => l.startsWith('-A POSTROUTING ') && jump.test(l));
}

/** Does `iptables-save -t nat` declare `chain`? */
export const hasChain = (saveText: string, chain: string): boolean => saveText.split('\n').some((l) => l.startsWith(`:${chain} `));

/**
 * iptables-restore --noflush input removing the masquerade of (network, containerId): every POSTROUTING jump to its chain,
 * then the chain. Undefined when there is nothing to remove.
 */
export function iptablesTeardownRestore(saveText: string, chains: readonly string[]): string | undefined {
  const lines: string[] = [];
  for (const chain of chains) {
    for (const rule of postroutingJumps(saveText, chain)) lines.push(`-D${rule.slice(2)}`);
  }
  for (const chain of chains) {
    if (hasChain(saveText, chain)) lines.push(`-F ${chain}`, `-X ${chain}`);
  }
  if (lines.length === 0) return undefined;
  return ['*nat', ...lines, 'COMMIT', ''].join('\n');
}

/**
 * iptables-restore --noflush input removing the masquerade of (network, containerId) for the addresses of one family
 * without reading the table first: exactly the rules iptablesSetupRestore added (and the reference adds), then the
 * chain. The whole transaction fails when any of them is not there (then read the table: iptablesTeardownRestore).
 */
export function iptablesBlindTeardownRestore(family: 4 | 6, addresses: readonly string[], network: string, containerId: string): string | undefined {
  const chain = masqChain(network, containerId);
  const comment = iptQuote(iptablesComment(network, containerId));
  const mine = addresses.map(hostAndNet).filter((a) => a.family === family);
  if (!mine.length) return undefined;
  return ['*nat', ...mine.map((a) => `-D POSTROUTING -s ${a.ip} -j ${chain} -m comment --comment ${comment}`), `-F ${chain}`, `-X ${chain}`, 'COMMIT', ''].join('\n');
}

/**
 * GC: the masquerade chains of `network` whose container is not in `keep`. Found from the comments of the POSTROUTING
 * jumps (`name: "<net>" id: "<cid>"`), checked against the computed chain name so nothing else is ever touched.
 */
export function iptablesStaleChains(saveText: string, network: string, keep: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  const re = /--comment "name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\"" .*-j (CNI-[0-9a-f]{24})(?: |$)|-j (CNI-[0-9a-f]{24}) .*--comment "name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\""/;
  for (const line of saveText.split('\n')) {
    if (!line.startsWith('-A POSTROUTING ')) continue;
    const m = re.exec(line);
    if (!m) continue;
    const [net, cid, chain] = m[3] ? [m[1]!, m[2]!, m[3]] : [m[5]!, m[6]!, m[4]!];
    if (net !== network || keep.has(cid)) continue;
    if (masqChain(net, cid) === chain) out.add(chain);
  }
  return [...out];
}

// ---------- nftables (pure) ----------

/** One `nft -f -` transaction that (re)declares the table and chains and adds one rule per address. */
export function nftSetupScript(addresses: readonly string[], id: MasqIdentity): string {
  const t = `inet ${MASQ_TABLE}`;
  const lines = [
    `add table ${t} { comment "${TABLE_COMMENT}" ; }`,
    `add chain ${t} ${MASQ_CHAIN} { comment "${CHAIN_COMMENT}" ; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority 100 ; }`,
    `flush chain ${t} postrouting`,
    `add rule ${t} postrouting ip daddr == 224.0.0.0/4 return`,
    `add rule ${t} postrouting ip6 daddr == ff00::/8 return`,
    `add rule ${t} postrouting goto ${MASQ_CHAIN}`,
  ];
  const comment = nftComment(id);
  for (const a of addresses.map(hostAndNet)) {
    const ip = a.family === 4 ? 'ip' : 'ip6';
    lines.push(`add rule ${t} ${MASQ_CHAIN} ${ip} saddr == ${a.ip} ${ip} daddr != ${a.net} masquerade comment "${comment}"`);
  }
  return lines.join('\n') + '\n';
}

export interface NftRule {
  handle: number;
  comment?: string;
  /** Address family the rule matches (from its `ip`/`ip6 saddr` match). */
  family?: 4 | 6;
}

/** The rules of `nft -j list chain inet cni_plugins_masquerade masq_checks`. */
export function nftRulesOf(listJson: string): NftRule[] {
  let parsed: { nftables?: Array<Record<string, any>> };
  try {
    parsed = JSON.parse(listJson);
  } catch {
    return [];
  }
  return (parsed.nftables ?? [])
    .filter((o) => o.rule && o.rule.chain === MASQ_CHAIN)
    .map((o) => ({ handle: Number(o.rule.handle), comment: o.rule.comment, family: JSON.stringify(o.rule.expr ?? []).includes('"protocol":"ip6"') ? 6 : 4 }));
}

/** `nft -f -` input deleting the rules with the given handles; undefined when there are none. */
export function nftDeleteScript(handles: readonly number[]): string | undefined {
  if (handles.length === 0) return undefined;
  return handles.map((h) => `delete rule inet ${MASQ_TABLE} ${MASQ_CHAIN} handle ${h}`).join('\n') + '\n';
}

/** Rules belonging to one attachment (comment starts with its instance hash). */
export const nftRulesFor = (rules: readonly NftRule[], id: MasqIdentity): NftRule[] =>
  rules.filter((r) => r.comment?.startsWith(hashForInstance(id)));

/** GC: rules of `network` whose comment is not one of the valid attachments'. */
export function nftStaleRules(rules: readonly NftRule[], network: string, keep: ReadonlyArray<{ containerID: string; ifname: string }>): NftRule[] {
  const valid = new Set(keep.map((a) => nftComment({ network, ifname: a.ifname, containerId: a.containerID })));
  const prefix = hashForNetwork(network);
  return rules.filter((r) => r.comment?.startsWith(prefix) && !valid.has(r.comment));
}

// ---------- effects ----------

/** Table or chain missing: `nft list chain` says "No such file or directory". */
const nftMissing = (stderr: string): boolean => /No such file or directory|does not exist/i.test(stderr);

export interface MasqSetup extends MasqIdentity {
  /** Container addresses (CIDR). */
  addresses: readonly string[];
  /** Explicit backend; undefined = the reference's choice (iptables, unless it is not usable and nftables is). */
  backend?: Backend;
}

function setupIptables(s: MasqSetup): void {
  const done: Array<4 | 6> = [];
  for (const family of familiesOf(s.addresses)) {
    const r = iptablesRestore(family, iptablesSetupRestore(family, s.addresses, s.network, s.containerId));
    if (r.status !== 0) {
      if (done.length) teardownIptables(s, done);
      throw pluginError(`failed to set up IP masquerade with ${iptTool(family, '-restore')}`, r.stderr.trim() || `exit status ${r.status}`);
    }
    done.push(family);
  }
}

function setupNftables(s: MasqSetup): void {
  const r = nftApply(nftSetupScript(s.addresses, s));
  if (r.status !== 0) throw pluginError('failed to set up IP masquerade with nft', r.stderr.trim() || `exit status ${r.status}`);
}

/**
 * Install masquerade for the addresses: one iptables-restore per family, or one nft transaction.
 * Returns the backend used. With no explicit backend, iptables is tried first and nftables used when iptables is
 * missing or refuses (the reference's default), so the common case costs a single exec.
 */
export function setupIpMasq(s: MasqSetup): Backend {
  if (s.addresses.length === 0) return s.backend ?? 'iptables';
  if (s.backend === 'nftables') {
    setupNftables(s);
    return 'nftables';
  }
  if (s.backend === 'iptables') {
    setupIptables(s);
    return 'iptables';
  }
  try {
    setupIptables(s);
    return 'iptables';
  } catch (iptErr) {
    try {
      setupNftables(s);
      return 'nftables';
    } catch (nftErr) {
      throw pluginError('failed to set up IP masquerade: neither iptables nor nftables is usable', `${(iptErr as Error).message}; ${(nftErr as Error).message}`);
    }
  }
}

/**
 * Remove the iptables masquerade of one container in the given families. With its `addresses` known (prevResult), one
 * iptables-restore per family removes exactly the rules ADD made; otherwise, or when that finds them not all there,
 * the table is read (iptables-save) and what is there removed. Returns the errors, and whether anything was found.
 */
function teardownIptables(id: MasqIdentity, families: ReadonlyArray<4 | 6>, addresses: readonly string[] = []): { errors: string[]; found: boolean } {
  const chains = [masqChain(id.network, id.containerId)];
  const errors: string[] = [];
  let found = false;
  for (const family of families) {
    const blind = iptablesBlindTeardownRestore(family, addresses, id.network, id.containerId);
    if (blind && iptablesRestore(family, blind).status === 0) {
      found = true;
      continue;
    }
    const save = run(iptTool(family, '-save'), ['-t', 'nat']);
    if (save.status !== 0) continue; // iptables missing or unusable here: nothing of ours can be there
    const input = iptablesTeardownRestore(save.stdout, chains);
    if (!input) continue;
    found = true;
    const r = iptablesRestore(family, input);
    if (r.status !== 0) errors.push(`${iptTool(family, '-restore')}: ${r.stderr.trim() || `exit status ${r.status}`}`);
  }
  return { errors, found };
}

/** `nft -j list chain` of masq_checks; undefined when the table/chain does not exist or nft is missing. */
function listMasqRules(): NftRule[] | undefined {
  const r = nft(['-j', 'list', 'chain', 'inet', MASQ_TABLE, MASQ_CHAIN]);
  if (r.status !== 0) {
    if (r.status === 127 || nftMissing(r.stderr)) return undefined;
    throw pluginError('failed to list nft masquerade rules', r.stderr.trim());
  }
  return nftRulesOf(r.stdout);
}

function deleteNftRules(rules: readonly NftRule[]): string[] {
  const script = nftDeleteScript(rules.map((r) => r.handle));
  if (!script) return [];
  const r = nftApply(script);
  return r.status === 0 ? [] : [`nft: ${r.stderr.trim()}`];
}

export interface MasqTeardown extends MasqIdentity {
  /** Families to look at in iptables (those of the container's addresses when known); default both. */
  families?: ReadonlyArray<4 | 6>;
  /** The container's addresses when known (prevResult): the iptables rules are then removed without reading the table. */
  addresses?: readonly string[];
  /** The backend the config chose (`ipMasqBackend`): looked at first. */
  backend?: Backend;
}

/**
 * Remove the masquerade of one attachment from both backends (whichever made it, Go or us). Never needs the
 * addresses (they only spare reading the iptables table). Missing rules, chains, tables or tools are not errors. One
 * ADD installs it with one backend only, so when the first backend looked at had it, the other is not read: nftables
 * first when the config chose it (in-process, no exec), else iptables first (the reference's default).
 */
export function teardownIpMasq(t: MasqTeardown): void {
  const errors: string[] = [];
  const iptables = (): boolean => {
    const ipt = teardownIptables(t, t.families?.length ? t.families : [4, 6], t.addresses);
    errors.push(...ipt.errors);
    return ipt.found;
  };
  const nftables = (): boolean => {
    try {
      const mine = nftRulesFor(listMasqRules() ?? [], t);
      errors.push(...deleteNftRules(mine));
      return mine.length > 0;
    } catch (e) {
      errors.push((e as Error).message);
      return false;
    }
  };
  if (t.backend === 'nftables') {
    if (!nftables()) iptables();
  } else if (!iptables()) nftables();
  if (errors.length) throw pluginError('failed to remove IP masquerade', errors.join('; '));
}

/** GC: remove the masquerade of every attachment of `network` not in `keep` (both backends). */
export function gcIpMasq(network: string, keep: ReadonlyArray<{ containerID: string; ifname: string }>): void {
  const errors: string[] = [];
  const cids = new Set(keep.map((a) => a.containerID));
  for (const family of [4, 6] as const) {
    const save = run(iptTool(family, '-save'), ['-t', 'nat']);
    if (save.status !== 0) continue;
    const chains = iptablesStaleChains(save.stdout, network, cids);
    const input = iptablesTeardownRestore(save.stdout, chains);
    if (!input) continue;
    const r = iptablesRestore(family, input);
    if (r.status !== 0) errors.push(`${iptTool(family, '-restore')}: ${r.stderr.trim()}`);
  }
  try {
    const rules = listMasqRules();
    if (rules) errors.push(...deleteNftRules(nftStaleRules(rules, network, keep)));
  } catch (e) {
    errors.push((e as Error).message);
  }
  if (errors.length) throw pluginError('failed to garbage-collect IP masquerade', errors.join('; '));
}

/**
 * CHECK: is the masquerade of this attachment in place for every family of `addresses`? (An iptables chain with its
 * POSTROUTING jump, or nft rules with the attachment's comment.) Returns what is missing, empty when all is there.
 */
export function missingIpMasq(id: MasqIdentity, addresses: readonly string[]): string[] {
  const missing: string[] = [];
  const chain = masqChain(id.network, id.containerId);
  let nftRules: NftRule[] | undefined;
  for (const family of familiesOf(addresses)) {
    const save = run(iptTool(family, '-save'), ['-t', 'nat']);
    if (save.status === 0 && hasChain(save.stdout, chain) && postroutingJumps(save.stdout, chain).length > 0) continue;
    nftRules ??= listMasqRules() ?? [];
    if (nftRulesFor(nftRules, id).some((r) => r.family === family)) continue;
    missing.push(`IPv${family} (no iptables chain ${chain} with its POSTROUTING jump, no nft rule in inet ${MASQ_TABLE} ${MASQ_CHAIN} for ${hashForInstance(id)})`);
  }
  return missing;
}

/** CHECK: throw an error naming the missing families when the masquerade of this attachment is not complete. */
export function requireIpMasq(id: MasqIdentity, addresses: readonly string[]): void {
  const missing = missingIpMasq(id, addresses);
  if (missing.length) throw pluginError(`IP masquerade for ${id.containerId} is missing: ${missing.join('; ')}`);
}
