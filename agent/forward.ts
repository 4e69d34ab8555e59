/**
 * Forwarded pod traffic on hosts whose firewall drops it (Docker and ufw set the iptables FORWARD policy to DROP;
 * hardened hosts end FORWARD with a REJECT). As flannel's --iptables-forward-rules: a chain of ours, CNI-TS-FWD, in
 * the filter table accepts traffic from and to the cluster CIDR, and one rule at the top of FORWARD jumps to it —
 *
 *   -A FORWARD -m comment --comment "cni-ts-agent forward" -j CNI-TS-FWD
 *   -A CNI-TS-FWD -s 10.244.0.0/16 -m comment --comment "cni-ts-agent forward" -j ACCEPT
 *   -A CNI-TS-FWD -d 10.244.0.0/16 -m comment --comment "cni-ts-agent forward" -j ACCEPT
 *
 * — in the iptables backend the host uses: always the one `iptables` runs (nf_tables or legacy), and also the other
 * one when it holds FORWARD rules or a non-ACCEPT policy (both are evaluated by the kernel). IPv6 the same with
 * ip6tables. Applied with iptables-restore --noflush (one exec per backend and family, only when something differs)
 * on start and every resync, so a Docker or firewall started later is caught. The policy itself is never changed.
 *
 * Checking is cheap when nothing changed: in the shipped executable the nftables ruleset generation (one nfnetlink
 * round trip on lib/rtnetlink's socket, nftgen.ts) says whether any nf_tables rule changed since the last check that found everything in place — if not,
 * neither iptables-nft-save nor `nft list ruleset` runs. The legacy backend has no such counter: its filter table is
 * read (one iptables-legacy-save) only where one exists (/proc/net/ip_tables_names), i.e. on hosts that use it.
 *
 * A drop in a separate nft base chain (e.g. `table inet filter { chain forward { … policy drop; } }`) cannot be
 * opened from another chain — an accept in ours does not stop theirs — and is not ours to edit: it is reported (log,
 * readiness) with the rules the admin has to add.
 *
 * Planning and parsing are pure; ForwardRules runs the tools.
 */
import { readFileSync } from 'node:fs';
import { run } from '../lib/exec.js';
import { ruleLine } from '../lib/netfilter.js';
import type { Family } from '../lib/ip.js';
import { nftGeneration } from '../lib/rtnetlink/nftgen.js';

export const FWD_CHAIN = 'CNI-TS-FWD';
export const FWD_COMMENT = 'cni-ts-agent forward';

export type IptBackend = 'nft' | 'legacy';

const famOf = (cidr: string): Family => (cidr.includes(':') ? 6 : 4);

/** The `-A …` lines (as iptables-save prints them) our chain must hold, and the jump from FORWARD. */
export function wantedForwardRules(clusterCIDRs: readonly string[], family: Family): { jump: string; chain: string[] } {
  const comment = ['-m', 'comment', '--comment', FWD_COMMENT];
  const cidrs = clusterCIDRs.filter((c) => famOf(c) === family);
  return {
    jump: `-A FORWARD ${ruleLine([...comment, '-j', FWD_CHAIN])}`,
    chain: cidrs.flatMap((c) => [`-A ${FWD_CHAIN} ${ruleLine(['-s', c, ...comment, '-j', 'ACCEPT'])}`, `-A ${FWD_CHAIN} ${ruleLine(['-d', c, ...comment, '-j', 'ACCEPT'])}`]),
  };
}

/** The filter table of one iptables-save dump, as far as FORWARD and our chain go. */
export interface FilterTable {
  present: boolean;
  forwardPolicy?: string;
  /** FORWARD's rules other than our jump. */
  forwardRules: string[];
  jumps: number;
  /** Our chain declared, and its rules. */
  chainDeclared: boolean;
  chainRules: string[];
}

export function parseFilterTable(save: string): FilterTable {
  const t: FilterTable = { present: false, forwardRules: [], jumps: 0, chainDeclared: false, chainRules: [] };
  let inFilter = false;
  for (const raw of save.split('\n')) {
    const l = raw.trim();
    if (l.startsWith('*')) {
      inFilter = l === '*filter';
      if (inFilter) t.present = true;
      continue;
    }
    if (!inFilter) continue;
    if (l.startsWith(':FORWARD ')) t.forwardPolicy = l.split(/\s+/)[1];
    else if (l.startsWith(`:${FWD_CHAIN} `)) t.chainDeclared = true;
    else if (l.startsWith('-A FORWARD ')) {
      if (l.endsWith(`-j ${FWD_CHAIN}`)) t.jumps++;
      else t.forwardRules.push(l);
    } else if (l.startsWith(`-A ${FWD_CHAIN} `)) t.chainRules.push(l);
  }
  return t;
}

/** Does this backend's FORWARD do anything (a policy other than ACCEPT, or rules)? */
export const forwardInUse = (t: FilterTable): boolean => t.present && ((t.forwardPolicy !== undefined && t.forwardPolicy !== 'ACCEPT') || t.forwardRules.length > 0);

/**
 * iptables-restore input (without *filter/COMMIT) that brings our chain and jump to the wanted state, or [] when
 * they are. Declaring our chain flushes it under --noflush, so a chain that differs is rewritten whole.
 */
export function forwardRestoreLines(t: FilterTable, want: { jump: string; chain: string[] }): string[] {
  const lines: string[] = [];
  const chainOK = t.chainDeclared && t.chainRules.length === want.chain.length && want.chain.every((r, i) => t.chainRules[i] === r);
  if (!chainOK) lines.push(`:${FWD_CHAIN} - [0:0]`, ...want.chain);
  const jump = want.jump.slice('-A FORWARD '.length);
  if (t.jumps === 0) lines.push(`-I FORWARD 1 ${jump}`);
  for (let i = 1; i < t.jumps; i++) lines.push(`-D FORWARD ${jump}`);
  return lines;
}

/** iptables-restore input removing our jump(s) and chain; [] when there is nothing of ours. */
export function forwardRemoveLines(t: FilterTable, want: { jump: string }): string[] {
  const jump = want.jump.slice('-A FORWARD '.length);
  const lines: string[] = [];
  for (let i = 0; i < t.jumps; i++) lines.push(`-D FORWARD ${jump}`);
  if (t.chainDeclared) lines.push(`-F ${FWD_CHAIN}`, `-X ${FWD_CHAIN}`);
  return lines;
}

/** The backend `iptables` itself runs, from `iptables -V` ("iptables v1.8.9 (nf_tables)" or "(legacy)"). */
export const defaultBackend = (version: string): IptBackend => (/legacy/.test(version) ? 'legacy' : 'nft');

const tool = (b: IptBackend, fam: Family, what: '-save' | '-restore'): string => `${fam === 4 ? 'iptables' : 'ip6tables'}-${b}${what}`;

// ---------- nft base chains with policy drop (report only) ----------

export interface DropChain {
  family: string;
  table: string;
  chain: string;
  hook: string;
}

type NftObj = Record<string, any>;

/**
 * nft base chains on the forward hook with policy drop that are not iptables' own (those are opened by the iptables
 * rules) and have no accept rule for the cluster CIDRs or our devices. Pure, from `nft -j list ruleset`.
 */
export function unopenedDropChains(ruleset: readonly NftObj[], clusterCIDRs: readonly string[], devices: readonly string[], iptablesHandled: boolean): DropChain[] {
  const chains = ruleset.map((o) => o.chain).filter((c): c is NftObj => !!c && c.hook === 'forward' && c.policy === 'drop');
  const out: DropChain[] = [];
  for (const c of chains) {
    const iptablesOwn = (c.family === 'ip' || c.family === 'ip6') && c.table === 'filter' && c.name === 'FORWARD';
    if (iptablesOwn && iptablesHandled) continue;
    const rules = ruleset.map((o) => o.rule).filter((r): r is NftObj => !!r && r.family === c.family && r.table === c.table && r.chain === c.name);
    const accepting = rules.filter((r) => JSON.stringify(r.expr ?? []).includes('"accept"')).map((r) => JSON.stringify(r.expr));
    const opensCIDR = (cidr: string): boolean => {
      const [addr, len] = cidr.split('/');
      const hits = accepting.filter((e) => e.includes(`"addr":"${addr}"`) && e.includes(`"len":${len}`));
      return hits.some((e) => e.includes('"saddr"')) && hits.some((e) => e.includes('"daddr"'));
    };
    const opensDevice = devices.some((d) => accepting.some((e) => e.includes(`"${d}"`)));
    if (clusterCIDRs.every(opensCIDR) || opensDevice) continue;
    out.push({ family: c.family, table: c.table, chain: c.name, hook: c.hook });
  }
  return out;
}

export function describeDropChain(d: DropChain, clusterCIDRs: readonly string[]): string {
  const adds = clusterCIDRs.flatMap((c) => {
    const ip = c.includes(':') ? 'ip6' : 'ip';
    return [`nft insert rule ${d.family} ${d.table} ${d.chain} ${ip} saddr ${c} accept`, `nft insert rule ${d.family} ${d.table} ${d.chain} ${ip} daddr ${c} accept`];
  });
  return `nft chain ${d.family} ${d.table} ${d.chain} (hook forward) has policy drop: forwarded pod traffic is dropped there and cni-ts-agent does not edit other programs' tables; open it for the cluster CIDR: ${adds.join('; ')}`;
}

// ---------- effects ----------

/** Does the legacy (x_tables) backend have a filter table of this family in this netns? */
function legacyFilterExists(fam: Family): boolean {
  try {
    return readFileSync(`/proc/net/${fam === 4 ? 'ip' : 'ip6'}_tables_names`, 'utf8').split('\n').includes('filter');
  } catch {
    return false; // ip_tables not loaded: no legacy table anywhere
  }
}

export interface ForwardReport {
  described: string[];
  errors: string[];
  /** Drop policies we cannot open (readiness fails while there are any). */
  blocked: string[];
  /** Where our rules are ("nft IPv4", "legacy IPv6"). */
  backends: string[];
}

export class ForwardRules {
  private dflt: IptBackend | undefined;

  constructor(
    readonly clusterCIDRs: readonly string[],
    readonly devices: readonly string[],
    readonly enabled: boolean,
  ) {}

  private families(): Family[] {
    return [...new Set(this.clusterCIDRs.map(famOf))];
  }

  private installed: boolean | undefined;

  /**
   * The last check that found everything in place (no change, no error): the nftables generation it saw before
   * reading, and what it reported. While the generation is the same, nothing in nf_tables changed since.
   */
  private clean: { gen: number; blocked: string[]; nftBackends: string[] } | undefined;

  /** The backend `iptables` runs; undefined when no iptables is installed here (nothing of iptables can drop then). */
  private defaultBackend(): IptBackend | undefined {
    if (this.installed === undefined) {
      const r = run('iptables', ['-V']);
      this.installed = r.status !== 127;
      this.dflt = defaultBackend(r.stdout);
    }
    return this.installed ? this.dflt : undefined;
  }

  private read(b: IptBackend, fam: Family): FilterTable | undefined {
    const r = run(tool(b, fam, '-save'), []);
    if (r.status !== 0) return undefined; // the backend is not there (no binary, no kernel support)
    return parseFilterTable(r.stdout);
  }

  private restore(b: IptBackend, fam: Family, lines: readonly string[]): string | undefined {
    const r = run(tool(b, fam, '-restore'), ['-w', '--noflush'], { input: ['*filter', ...lines, 'COMMIT', ''].join('\n') });
    return r.status === 0 ? undefined : `${tool(b, fam, '-restore')}: ${r.stderr.trim() || `exit ${r.status}`}`;
  }

  /** Put our rules where they are needed (when enabled) and look for drops we cannot open. */
  ensure(): ForwardReport {
    const rep: ForwardReport = { described: [], errors: [], blocked: [], backends: [] };
    const dflt = this.enabled ? this.defaultBackend() : undefined;
    const gen = nftGeneration();
    const nftSame = gen !== undefined && this.clean?.gen === gen;
    if (dflt) {
      for (const fam of this.families()) {
        const want = wantedForwardRules(this.clusterCIDRs, fam);
        for (const b of ['nft', 'legacy'] as const) {
          // Unchanged since a check found our rules in place: nothing to read (nft), or no legacy table to look at.
          if (b === 'nft' && nftSame) continue;
          if (b === 'legacy' && b !== dflt && !legacyFilterExists(fam)) continue;
          const t = this.read(b, fam);
          if (b !== dflt && (!t || !forwardInUse(t))) continue;
          if (!t && run(tool(b, fam, '-restore'), ['--version']).status === 127) continue; // e.g. no ip6tables
          const lines = forwardRestoreLines(t ?? parseFilterTable(''), want);
          const label = `${b === 'nft' ? 'iptables-nft' : 'iptables-legacy'} IPv${fam}`;
          if (lines.length) {
            const err = this.restore(b, fam, lines);
            if (err) {
              rep.errors.push(`cannot add the FORWARD accept rules for the cluster CIDR (${label}): ${err}`);
              continue;
            }
            rep.described.push(`accept forwarded traffic to and from ${this.clusterCIDRs.filter((c) => famOf(c) === fam).join(', ')} (${label} chain ${FWD_CHAIN}${t?.forwardPolicy && t.forwardPolicy !== 'ACCEPT' ? `; FORWARD policy ${t.forwardPolicy}` : ''})`);
          }
          rep.backends.push(label);
        }
      }
    }
    if (nftSame) {
      rep.blocked.push(...this.clean!.blocked);
      rep.backends.unshift(...this.clean!.nftBackends);
      return rep;
    }
    const r = run('nft', ['-j', 'list', 'ruleset']);
    if (r.status === 0 && r.stdout.trim()) {
      let objs: NftObj[] = [];
      try {
        objs = (JSON.parse(r.stdout).nftables ?? []) as NftObj[];
      } catch {
        /* unreadable: nothing to report */
      }
      for (const d of unopenedDropChains(objs, this.clusterCIDRs, this.devices, true)) rep.blocked.push(describeDropChain(d, this.clusterCIDRs));
    }
    // Remembered only when this check changed nothing (our own changes move the generation: the next check reads again).
    this.clean = gen !== undefined && rep.described.length === 0 && rep.errors.length === 0 ? { gen, blocked: [...rep.blocked], nftBackends: rep.backends.filter((l) => l.startsWith('iptables-nft')) } : undefined;
    return rep;
  }

  /** --cleanup: our jump and chain out of every backend and family; FORWARD's policy and other rules stay. */
  remove(): ForwardReport {
    const rep: ForwardReport = { described: [], errors: [], blocked: [], backends: [] };
    for (const fam of [4, 6] as const) {
      const want = wantedForwardRules(this.clusterCIDRs, fam);
      for (const b of ['nft', 'legacy'] as const) {
        const t = this.read(b, fam);
        if (!t) continue;
        const lines = forwardRemoveLines(t, want);
        if (!lines.length) continue;
        const label = `${b === 'nft' ? 'iptables-nft' : 'iptables-legacy'} IPv${fam}`;
        const err = this.restore(b, fam, lines);
        if (err) rep.errors.push(`cannot remove our FORWARD rules (${label}): ${err}`);
        else rep.described.push(`removed chain ${FWD_CHAIN} and its jump from FORWARD (${label}; policy ${t.forwardPolicy ?? 'ACCEPT'} left as it was)`);
      }
    }
    return rep;
  }
}
