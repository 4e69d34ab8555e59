/**
 * What a plugin can leave behind, read in one shell run inside the sandbox, parsed into comparable items, and the
 * judgement of what a command added: links on the host and in every container netns, netfilter (nft, iptables and
 * ip6tables in both the nft and the legacy backend), policy routing rules, state files (leases, backups, configs),
 * network namespaces. Parsing and judging are pure.
 */

/** The state dirs whose files are compared (lock files and host-local's last_reserved_ip are not state). */
export const STATE_DIRS = ['/var/lib/cni', '/run/cni', '/etc/cni/net.d', '/etc/cnictl', '/run/cnictl', '/run/cni-ts-agent', '/var/lib/cni-ts-agent'];

/** The script that prints a snapshot (run by `sh` in the sandbox's host netns and mount namespace). */
export const SNAPSHOT_SCRIPT = [
  'echo "@@links"; ip -d -j link show',
  'for n in $(ls /run/netns 2>/dev/null); do echo "@@container $n"; ip -n "$n" -d -j link show 2>/dev/null; echo "@@crules $n"; ip -n "$n" -4 rule show 2>/dev/null; ip -n "$n" -6 rule show 2>/dev/null; done',
  // iptables-save only for the families iptables-nft has tables in, the legacy tools only when legacy tables exist
  'r=$(nft -s list ruleset 2>/dev/null); echo "@@nft"; echo "$r"',
  'case "$r" in *"table ip "*) echo "@@ipt iptables"; iptables-save 2>/dev/null;; esac',
  'case "$r" in *"table ip6 "*) echo "@@ipt ip6tables"; ip6tables-save 2>/dev/null;; esac',
  '[ -s /proc/net/ip_tables_names ] && command -v iptables-legacy-save >/dev/null && { echo "@@ipt iptables-legacy"; iptables-legacy-save 2>/dev/null; }',
  '[ -s /proc/net/ip6_tables_names ] && command -v ip6tables-legacy-save >/dev/null && { echo "@@ipt ip6tables-legacy"; ip6tables-legacy-save 2>/dev/null; }',
  'echo "@@rules"; ip -4 rule show; ip -6 rule show',
  `echo "@@files"; find ${STATE_DIRS.join(' ')} -type f 2>/dev/null | sort`,
  'echo "@@end"',
].join('\n');

export interface LinkInfo {
  name: string;
  kind: string;
  master?: string;
}

export interface Snapshot {
  links: LinkInfo[];
  /** netns name → its links (lo excluded) */
  containers: Record<string, string[]>;
  /** netfilter items: `<source> table|chain|rule|set|element …` */
  netfilter: string[];
  rules: string[];
  files: string[];
}

interface IpLinkJson {
  ifname?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

function parseLinks(text: string): LinkInfo[] {
  const t = text.trim();
  if (!t) return [];
  try {
    return (JSON.parse(t) as IpLinkJson[])
      .filter((l) => l.ifname && l.ifname !== 'lo')
      .map((l) => ({ name: l.ifname!, kind: l.linkinfo?.info_kind ?? 'device', ...(l.master ? { master: l.master } : {}) }));
  } catch {
    return [{ name: `(unparsable: ${t.slice(0, 80)})`, kind: '?' }];
  }
}

/** `nft -s list ruleset` as items; one item per rule and per set/map element, each with its table and chain. */
export function parseNft(text: string): string[] {
  const out: string[] = [];
  let table = '';
  let block = '';
  let collecting: string[] | undefined;
  let skipping = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (skipping) {
      if (raw.startsWith('}')) skipping = false;
      continue;
    }
    if (collecting) {
      collecting.push(line);
      if (line.includes('}')) {
        for (const e of elementsOf(collecting.join(' '))) out.push(`nft element ${table} ${block}: ${e}`);
        collecting = undefined;
      }
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = /^table (\S+ \S+) \{$/.exec(line))) {
      table = m[1]!;
      // iptables-nft's tables: iptables-save lists them already, in its own words
      if (/^(ip|ip6) (filter|nat|mangle|raw|security)$/.test(table)) {
        skipping = true;
        continue;
      }
      out.push(`nft table ${table}`);
    } else if ((m = /^(chain|set|map|flowtable) (\S+) \{$/.exec(line))) {
      block = `${m[1]} ${m[2]}`;
      out.push(`nft ${block} in ${table}`);
    } else if (line.startsWith('elements = {')) {
      if (line.includes('}')) for (const e of elementsOf(line)) out.push(`nft element ${table} ${block}: ${e}`);
      else collecting = [line];
    } else if (line === '}' || /^(type|policy|flags|hook|size|timeout|gc-interval|comment) /.test(line) || /^type .* hook /.test(line)) {
      if (line === '}' && block) block = '';
      else if (line === '}') table = '';
    } else {
      out.push(`nft rule ${table} ${block}: ${line}`);
    }
  }
  return out;
}

function elementsOf(text: string): string[] {
  const inner = text.replace(/^elements = \{/, '').replace(/\}\s*$/, '');
  return inner.split(',').map((e) => e.trim()).filter(Boolean);
}

/** iptables-save output (comments and counters dropped) as items `<tool> table|chain|rule …`. */
export function parseIptablesSave(tool: string, text: string): string[] {
  const out: string[] = [];
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      table = line.slice(1);
      out.push(`${tool} table ${table}`);
    } else if (line.startsWith(':')) {
      out.push(`${tool} chain ${table} ${line.slice(1).split(' ')[0]}`);
    } else {
      out.push(`${tool} rule ${table}: ${line.replace(/\[\d+:\d+\]/g, '').trim()}`);
    }
  }
  return out;
}

const ruleLines = (body: string): string[] => body.split('\n').map((l) => l.trim().replace(/^\d+:\s*/, '')).filter(Boolean);

export function parseSnapshot(text: string): Snapshot {
  const snap: Snapshot = { links: [], containers: {}, netfilter: [], rules: [], files: [] };
  const sections = text.split(/^@@/m).slice(1);
  for (const section of sections) {
    const nl = section.indexOf('\n');
    const head = nl < 0 ? section : section.slice(0, nl);
    const body = nl < 0 ? '' : section.slice(nl + 1);
    const [kind, arg] = [head.split(' ')[0], head.split(' ').slice(1).join(' ')];
    if (kind === 'links') snap.links = parseLinks(body);
    else if (kind === 'container') snap.containers[arg] = parseLinks(body).map((l) => l.name).sort();
    else if (kind === 'crules') snap.rules.push(...ruleLines(body).map((r) => `in ${arg}: ${r}`));
    else if (kind === 'nft') snap.netfilter.push(...parseNft(body));
    else if (kind === 'ipt') snap.netfilter.push(...parseIptablesSave(arg, body));
    else if (kind === 'rules') snap.rules.push(...ruleLines(body));
    else if (kind === 'files') snap.files = body.split('\n').map((l) => l.trim()).filter(Boolean);
  }
  return snap;
}

export interface Leak {
  what: 'link' | 'lost-link' | 'container-link' | 'netfilter' | 'rule' | 'file' | 'netns';
  item: string;
}

/** IP literals in a rule, except the catch-alls and loopback that shared rules use. */
const IPV4 = /(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?:\/\d+)?(?![\w.])/g;
const IPV6 = /(?<![\w:])([0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})(?:\/\d+)?(?![\w:])/gi;
const SHARED_ADDRESSES = new Set(['0.0.0.0', '127.0.0.1', '127.0.0.0', '255.255.255.255', '::', '::1', '224.0.0.0', 'ff00::']);

/** Chains named after one attachment (the reference's and ours: CNI-<hash>, CNI-DN-<hash>, …). */
const PER_ATTACHMENT_CHAIN = /\bCNI-(?:DN-|SN-)?[0-9a-f]{12,}\b/i;

function addressesIn(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(IPV4)) found.push(m[1]!);
  for (const m of text.matchAll(IPV6)) if (m[1]!.includes('::') || m[1]!.split(':').length > 3) found.push(m[1]!.toLowerCase());
  return found.filter((a) => !SHARED_ADDRESSES.has(a) && !a.startsWith('127.') && !/^(?:0\.){3}0$/.test(a));
}

/** Interface names a rule matches on (iptables -i/-o, nft iifname/oifname). */
function interfacesIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\s)(?:-i|-o|--in-interface|--out-interface|iifname|oifname)\s+"?([^\s"]+)"?/g)) out.push(m[1]!);
  return out;
}

/**
 * Why an added netfilter item is per-attachment state (a leak once the attachment is gone), or undefined when it is
 * shared infrastructure that DEL leaves by design in the reference and in cni-ts (tables, chains, jumps into them,
 * isolation rules of an existing bridge, empty sets and maps).
 */
export function perAttachment(item: string, ctx: { containerId?: string; links: ReadonlySet<string> }): string | undefined {
  if (PER_ATTACHMENT_CHAIN.test(item)) return 'a chain of one attachment';
  if (/^\S+ (table|chain|set|map|flowtable) /.test(item)) return undefined; // a declaration: shared unless named after one
  const addrs = addressesIn(item);
  if (addrs.length) return `names address ${addrs[0]}`;
  if (ctx.containerId && ctx.containerId.length >= 4 && new RegExp(`id: \\\\?"?${ctx.containerId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w.-])`).test(item)) return 'names the container ID';
  const gone = interfacesIn(item).find((i) => !ctx.links.has(i) && !i.endsWith('+') && i !== 'lo');
  if (gone) return `names interface ${gone}, which no longer exists`;
  return undefined;
}

/** Files that are not state: lock files, host-local's last reserved address. */
const NOT_STATE = /(?:\/lock|\/last_reserved_ip\.\d+)$/;

/**
 * What `after` has that `before` did not and that outlives an attachment: links other than bridges (a bridge plugin
 * leaves its bridge, as the reference does), links in container namespaces, per-attachment netfilter items, policy
 * routing rules (host and containers), state files; and host links that are gone.
 */
export function leaksBetween(before: Snapshot, after: Snapshot, containerId?: string, opts: { netnsDeleted?: boolean } = {}): Leak[] {
  const leaks: Leak[] = [];
  const beforeLinks = new Set(before.links.map((l) => l.name));
  const afterLinks = new Set(after.links.map((l) => l.name));
  // a host link that is gone (host-device did not give its device back); a deleted container netns takes veths with it
  if (!opts.netnsDeleted) for (const l of before.links) if (!afterLinks.has(l.name)) leaks.push({ what: 'lost-link', item: `${l.name} (${l.kind}) is gone from the host` });
  for (const l of after.links) {
    if (beforeLinks.has(l.name) || l.kind === 'bridge') continue;
    leaks.push({ what: 'link', item: `${l.name} (${l.kind}${l.master ? ` on ${l.master}` : ''})` });
  }
  for (const [ns, links] of Object.entries(after.containers)) {
    if (!(ns in before.containers)) {
      leaks.push({ what: 'netns', item: ns });
      continue;
    }
    const had = new Set(before.containers[ns]);
    for (const l of links) if (!had.has(l)) leaks.push({ what: 'container-link', item: `${l} in ${ns}` });
  }
  const hadNf = new Set(before.netfilter);
  const seenRules = new Set<string>();
  for (const item of after.netfilter) {
    if (hadNf.has(item)) continue;
    const why = perAttachment(item, { containerId, links: afterLinks });
    if (!why) continue;
    // the same iptables-nft rule shows in iptables-save and in nft: report it once
    const key = item.replace(/^\S+ /, '');
    if (seenRules.has(key)) continue;
    seenRules.add(key);
    leaks.push({ what: 'netfilter', item: `${item} (${why})` });
  }
  const hadRules = new Set(before.rules);
  for (const r of after.rules) if (!hadRules.has(r)) leaks.push({ what: 'rule', item: r });
  const hadFiles = new Set(before.files);
  for (const f of after.files) if (!hadFiles.has(f) && !NOT_STATE.test(f)) leaks.push({ what: 'file', item: f });
  return leaks;
}
