/**
 * Networks are the conflists in NETCONFPATH (plus Docker's pseudo networks host and none, and the implicit default
 * network "bridge", written on first use like docker0). Reading them, the subnets they and the host's routes
 * occupy, writing and removing the ones cnictl manages.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/files.js';
import { join } from 'node:path';
import { isObject, type Obj } from '../../lib/cni/fields.js';
import { readLink } from '../../lib/iface.js';
import { contains, formatCIDR, formatIP, networkOf, overlaps, parseCIDR, parseIP } from '../../lib/ip.js';
import { iptablesRestore, iptablesSave } from '../../lib/netfilter.js';
import { Netns } from '../../lib/netns.js';
import { ResultCache, type CacheEntry } from '../runtime/cache.js';
import { confListFromBytes, loadAll, type ConfError, type ConfList } from '../runtime/conffiles.js';
import { execPlugin, havePlugin, PluginNotFound } from '../runtime/invoke.js';
import { UserError } from '../util/errors.js';
import type { Paths } from '../util/paths.js';
import { bridgeUser, gatewayAddresses, gatewayConflict, isolationRuleDeletes, linkFound, restoreFound } from './bridges.js';
import { buildConflist, EXTRA_PLUGINS, parseDriverOptions } from './create.js';
import { DEFAULT_NETWORK, describe, managedFile, subnetsOf, type NetworkInfo } from './model.js';
import { NetworkRecords, type BridgeRecord } from './records.js';
import { chooseSubnet, parseSubnet, planRange, type Taken } from './subnet.js';

export const DEFAULT_BRIDGE = 'cnictl0';

/**
 * cnictl settings (CNICTL_CONFIG, default /etc/cnictl/config.json), daemon.json's names:
 * {"bip": "172.17.0.1/16", "mtu": 1500, "fixed-cidr": "172.17.1.0/24", "ip-masq": true,
 *  "dns": ["10.0.0.53"], "dns-search": ["corp"], "dns-opts": ["ndots:2"]}. Any other key is refused, naming it.
 */
export interface Settings {
  /** The default network's gateway address and prefix, as Docker's "bip". CNICTL_BIP overrides it. */
  bip?: string;
  mtu?: number;
  /** The part of the default network's subnet that addresses are handed out from. */
  fixedCidr?: string;
  /** Masquerade the default network's traffic (default true). */
  ipMasq?: boolean;
  /** Defaults for every sandbox's --dns, --dns-search, --dns-option. */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
}

const SETTING_KEYS = ['bip', 'mtu', 'fixed-cidr', 'ip-masq', 'dns', 'dns-search', 'dns-opts'];

export function parseSettings(raw: unknown, file: string): Settings {
  if (!isObject(raw)) throw new UserError(`${file} must be a JSON object such as {"bip": "172.17.0.1/16"}`);
  const s: Settings = {};
  const strings = (k: string): string[] => {
    const v = raw[k];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new UserError(`"${k}" in ${file} must be a list of strings, e.g. ["${k === 'dns' ? '10.0.0.53' : k === 'dns-opts' ? 'ndots:2' : 'example.com'}"]`);
    return v as string[];
  };
  for (const k of Object.keys(raw)) {
    if (!SETTING_KEYS.includes(k)) throw new UserError(`"${k}" in ${file} is not supported by cnictl (it knows ${SETTING_KEYS.join(', ')}): remove it`);
    const v = raw[k];
    switch (k) {
      case 'bip':
      case 'fixed-cidr':
        if (typeof v !== 'string' || !parseCIDR(v)) throw new UserError(`"${k}" in ${file} must be an address with its prefix, e.g. ${k === 'bip' ? '172.17.0.1/16' : '172.17.1.0/24'}`);
        if (k === 'bip') s.bip = v;
        else s.fixedCidr = v;
        break;
      case 'mtu':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 68 || v > 65535) throw new UserError(`"mtu" in ${file} must be a number from 68 to 65535`);
        s.mtu = v;
        break;
      case 'ip-masq':
        if (typeof v !== 'boolean') throw new UserError(`"ip-masq" in ${file} must be true or false`);
        s.ipMasq = v;
        break;
      case 'dns':
        s.dns = strings(k);
        for (const d of s.dns) if (!parseIP(d)) throw new UserError(`"dns" in ${file}: ${JSON.stringify(d)} is not an IP address`);
        break;
      case 'dns-search':
        s.dnsSearch = strings(k);
        break;
      case 'dns-opts':
        s.dnsOptions = strings(k);
        break;
    }
  }
  return s;
}

export function readSettings(paths: Paths, env: NodeJS.ProcessEnv): Settings {
  let s: Settings = {};
  if (existsSync(paths.config)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(paths.config, 'utf8'));
    } catch (e) {
      throw new UserError(`${paths.config} is not valid JSON (${(e as Error).message}): fix or remove it`);
    }
    s = parseSettings(raw, paths.config);
  }
  if (env.CNICTL_BIP) s.bip = env.CNICTL_BIP;
  return s;
}

export interface Attached {
  containerId: string;
  ifname: string;
  ips: string[];
  mac?: string;
  netns?: string;
  /** Where we know it from. */
  source: 'cache' | 'lease';
}

export class NetworkStore {
  private versionCache = new Map<string, string[]>();
  readonly records: NetworkRecords;

  constructor(
    readonly paths: Paths,
    readonly env: NodeJS.ProcessEnv,
  ) {
    this.records = new NetworkRecords(paths.dataDir);
  }

  /** Every network with a config file, in libcni's order, plus the default network (virtual until first use). */
  load(): { lists: ConfList[]; errors: ConfError[]; defaultVirtual: boolean } {
    const { lists, errors } = loadAll(this.paths.netconf);
    if (lists.some((l) => l.name === DEFAULT_NETWORK)) return { lists, errors, defaultVirtual: false };
    return { lists: [...lists, this.defaultList(lists, '1.0.0')], errors, defaultVirtual: true };
  }

  find(name: string): ConfList | undefined {
    return this.load().lists.find((l) => l.name === name);
  }

  /**
   * The network called `name` as `require` gives it, but nothing written: the default network as it is or would be
   * (what a command checks its flags against before it creates anything). Unknown names fail as in `require`.
   */
  peek(name: string): ConfList {
    return name === DEFAULT_NETWORK ? this.find(name)! : this.require(name);
  }

  /** The network called `name` with its config file written (the default network is created here on first use). */
  require(name: string): ConfList {
    if (name === DEFAULT_NETWORK) return this.ensureDefault();
    const { lists, errors } = loadAll(this.paths.netconf);
    const l = lists.find((x) => x.name === name);
    if (l) return l;
    const bad = errors.length ? ` (${errors.length} unreadable config file(s): ${errors.map((e) => e.message).join('; ')})` : '';
    throw new UserError(`network ${name} not found in ${this.paths.netconf}${bad}: see "cnictl network ls", or create it with "cnictl network create ${name}"`);
  }

  /** Subnets of every network but `except` (the default network's too, even before it is written). */
  networksTaken(except?: string): Taken[] {
    const out: Taken[] = [];
    for (const l of this.load().lists) {
      if (l.name === except) continue;
      for (const c of subnetsOf(describe(l))) out.push({ cidr: c, by: `network "${l.name}"` });
    }
    return out;
  }

  /** IPv4 routes of this (host) namespace but the default route. */
  routesTaken(): Taken[] {
    const routes = Netns.host().ipJson<Array<{ dst: string; dev?: string }>>(['-4', 'route', 'show']);
    const out: Taken[] = [];
    for (const r of routes) {
      if (r.dst === 'default') continue;
      const c = parseCIDR(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
      if (c) out.push({ cidr: c, by: `host route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}` });
    }
    return out;
  }

  /** The highest spec version (1.1.0, 1.0.0 or 0.4.0) every plugin type supports (asked with VERSION). */
  chooseVersion(types: readonly string[]): string {
    const supported = types.map((t) => {
      let v = this.versionCache.get(t);
      if (!v) {
        let res: Obj | undefined;
        try {
          res = execPlugin(t, 'VERSION', '{"cniVersion":"1.0.0"}', { path: this.paths.cniPath }, this.env);
        } catch (e) {
          if (e instanceof PluginNotFound) throw new UserError(`${e.message}: install the plugins (scripts/install.sh) or point CNI_PATH at them`);
          throw e;
        }
        v = Array.isArray(res?.supportedVersions) ? (res.supportedVersions as string[]) : [];
        this.versionCache.set(t, v);
      }
      return v;
    });
    for (const want of ['1.1.0', '1.0.0', '0.4.0']) if (supported.every((s) => s.includes(want))) return want;
    throw new UserError(`plugins ${types.join(', ')} share no spec version of 0.4.0, 1.0.0, 1.1.0`);
  }

  extrasOnPath(): string[] {
    return EXTRA_PLUGINS.filter((t) => havePlugin(t, this.paths.cniPath));
  }

  /** The default network's conflist: bridge cnictl0 on "bip" (settings) or the first free of 172.17.0.0/16 onwards. */
  defaultList(others: readonly ConfList[], cniVersion: string): ConfList {
    const settings = readSettings(this.paths, this.env);
    let range;
    if (settings.bip) {
      const c = parseCIDR(settings.bip);
      if (!c) throw new UserError(`invalid bip ${JSON.stringify(settings.bip)} (${this.env.CNICTL_BIP ? 'CNICTL_BIP' : this.paths.config}): give the gateway address with its prefix, e.g. 172.17.0.1/16`);
      const subnet = parseSubnet(formatCIDR(networkOf(c)), 'bip');
      range = planRange(subnet, settings.bip.split('/')[0], undefined);
    } else {
      const taken: Taken[] = [];
      for (const l of others) if (l.name !== DEFAULT_NETWORK) for (const c of subnetsOf(describe(l))) taken.push({ cidr: c, by: l.name });
      range = planRange(chooseSubnet([...taken, ...this.routesTaken()]), undefined, undefined);
    }
    if (settings.fixedCidr) {
      const f = networkOf(parseCIDR(settings.fixedCidr)!);
      if (!settings.bip) range = planRange(parseSubnet(formatCIDR(f), 'fixed-cidr'), undefined, undefined); // Docker: without bip the bridge is on fixed-cidr
      else if (f.ip.family !== range.subnet.ip.family || !contains(range.subnet, f.ip) || f.prefix < range.subnet.prefix) {
        throw new UserError(`"fixed-cidr" ${settings.fixedCidr} (${this.paths.config}) is not inside the default network's subnet ${formatCIDR(range.subnet)} (bip ${settings.bip}): make them agree`);
      } else range = planRange(range.subnet, formatIP(range.gateway), formatCIDR(f));
    }
    const obj = buildConflist({
      name: DEFAULT_NETWORK,
      driver: 'bridge',
      cniVersion,
      ranges: [range],
      internal: false,
      options: { ...parseDriverOptions('bridge', []), ...(settings.mtu ? { mtu: settings.mtu } : {}), ...(settings.ipMasq === false ? { masquerade: false } : {}) },
      bridgeName: DEFAULT_BRIDGE,
      extras: this.extrasOnPath(),
    });
    return confListFromBytes(JSON.stringify(obj, null, 2) + '\n', join(this.paths.netconf, managedFile(DEFAULT_NETWORK)));
  }

  /**
   * The default network, written on first use (its bridge claimed: created, or found and recorded as found). When
   * settings changed it (bip, mtu, fixed-cidr, ip-masq) and nothing is attached, it is rewritten and its old bridge
   * released (deleted only if cnictl created it). A bip or fixed-cidr that overlaps another network is refused here,
   * before any address is handed out twice.
   */
  ensureDefault(): ConfList {
    return this.records.locked(() => {
      const { lists } = loadAll(this.paths.netconf);
      const existing = lists.find((l) => l.name === DEFAULT_NETWORK);
      const settings = readSettings(this.paths, this.env);
      if (existing && !(describe(existing).managed && this.settingsChanged(existing, settings, lists) && this.attachments(existing).length === 0)) return existing;
      const probe = this.defaultList(lists, '1.0.0');
      if (settings.bip || settings.fixedCidr) this.checkBip(settings, describe(probe), lists);
      if (existing) this.release(describe(existing), existing);
      const list = this.defaultList(lists, this.chooseVersion(probe.plugins.map((p) => String(p.type)).concat('host-local')));
      const bridge = this.claimBridge(DEFAULT_BRIDGE, settings.mtu, gatewayAddresses(describe(list)), true);
      this.records.write({ name: DEFAULT_NETWORK, created: new Date().toISOString(), bridge });
      return this.write(JSON.parse(list.bytes));
    });
  }

  /**
   * The default network's subnet, when settings fix it (bip, or fixed-cidr without bip: then the bridge is on
   * fixed-cidr), must not overlap another network (its addresses would be handed out twice).
   */
  private checkBip(settings: Settings, def: NetworkInfo, lists: readonly ConfList[]): void {
    const mine = subnetsOf(def);
    const what = settings.bip
      ? { key: 'bip', value: settings.bip, from: this.env.CNICTL_BIP ? 'CNICTL_BIP' : this.paths.config }
      : { key: 'fixed-cidr', value: settings.fixedCidr, from: this.paths.config };
    for (const l of lists) {
      if (l.name === DEFAULT_NETWORK) continue;
      const hit = subnetsOf(describe(l)).find((c) => mine.some((m) => overlaps(m, c)));
      if (hit) throw new UserError(`${what.key} ${what.value} (${what.from}) overlaps network "${l.name}" (${formatCIDR(hit)}): choose a ${what.key} outside it, or remove that network`);
    }
  }

  /**
   * Make sure `name` can be this network's bridge: absent → cnictl creates it now (and will delete it with the
   * network); a bridge already there → used as found (its addresses and state recorded, to be left as they were),
   * unless it has an address the gateway cannot go beside; any other kind of link → refused, naming it.
   * `isDefault`: the default network's (its fixes are a bip, not --subnet or a bridge name).
   */
  claimBridge(name: string, mtu: number | undefined, gateways: readonly string[], isDefault = false): BridgeRecord {
    const host = Netns.host();
    const link = readLink(host, name, true);
    const found = linkFound(link);
    const what = isDefault ? "the default network's bridge" : 'bridge';
    if (found.kind === 'other') {
      throw new UserError(`${what} ${name} already exists as a ${found.type} link, not a bridge: ${isDefault ? 'rename or remove that link' : 'choose another name with -o com.docker.network.bridge.name=NAME'}`);
    }
    if (found.kind === 'bridge') {
      const clash = gatewayConflict(link!, gateways);
      if (clash) {
        const fix = isDefault ? `set bip to ${clash.have}` : `use its subnet (--subnet ${formatCIDR(networkOf(parseCIDR(clash.have)!))} --gateway ${clash.have.split('/')[0]}) or another bridge`;
        throw new UserError(`${what} ${name} already has the address ${clash.have}, and the gateway ${clash.want} cannot go beside it without removing it: ${fix}`);
      }
      return { name, created: false, addresses: found.addresses, up: found.up };
    }
    const add = host.ip(['link', 'add', 'name', name, ...(mtu ? ['mtu', String(mtu)] : []), 'type', 'bridge']);
    if (add.status !== 0) throw new UserError(`cannot create bridge ${name}: ${add.stderr.trim().split('\n')[0]}`);
    const up = host.ip(['link', 'set', 'dev', name, 'up']);
    if (up.status !== 0) {
      host.ip(['link', 'del', name, 'type', 'bridge']); // ours: made just now
      throw new UserError(`cannot set bridge ${name} up: ${up.stderr.trim().split('\n')[0]}`);
    }
    return { name, created: true };
  }

  private bipChanged(list: ConfList, bip: string): boolean {
    const r = describe(list).ranges[0];
    return !r || `${r.gateway}/${r.subnet.split('/')[1]}` !== bip;
  }

  /** Does the written default network differ from what the settings ask for (its addresses, mtu, ip-masq)? */
  private settingsChanged(existing: ConfList, settings: Settings, lists: readonly ConfList[]): boolean {
    if (settings.bip && this.bipChanged(existing, settings.bip)) return true;
    const have = describe(existing);
    const range = (i: NetworkInfo) => JSON.stringify(i.ranges[0] ?? {});
    const addressesChanged = settings.bip || settings.fixedCidr ? range(have) !== range(describe(this.defaultList(lists, existing.cniVersion))) : !!have.ranges[0]?.rangeStart;
    const masq = (l: ConfList) => l.plugins[0]?.ipMasq === true;
    return addressesChanged || (have.mtu ?? 0) !== (settings.mtu ?? 0) || masq(existing) !== (settings.ipMasq ?? true);
  }

  /** Write NETCONFPATH/cnictl-<name>.conflist atomically. */
  write(conflist: Obj): ConfList {
    mkdirSync(this.paths.netconf, { recursive: true });
    const file = join(this.paths.netconf, managedFile(String(conflist.name)));
    const text = JSON.stringify(conflist, null, 2) + '\n';
    writeFileAtomic(file, text);
    return confListFromBytes(text, file);
  }

  /** Attachments of a network: libcni cache entries (any runtime using this cache dir) and host-local leases. */
  attachments(list: ConfList): Attached[] {
    const out: Attached[] = [];
    const seen = new Set<string>();
    for (const e of new ResultCache(this.paths.cacheDir).list(list.name)) {
      seen.add(`${e.containerId}/${e.ifName}`);
      out.push({ containerId: e.containerId, ifname: e.ifName, ...resultFacts(e), ...(e.netns ? { netns: e.netns } : {}), source: 'cache' });
    }
    const dir = describe(list).leaseDir;
    if (dir && existsSync(dir)) {
      for (const f of readdirSync(dir)) {
        if (!parseCIDR(`${f}/${f.includes(':') ? 128 : 32}`)) continue;
        let id = '';
        let ifname = '';
        try {
          [id = '', ifname = ''] = readFileSync(join(dir, f), 'utf8').split(/\r?\n/);
        } catch {
          continue;
        }
        const known = out.find((a) => a.containerId === id && a.ifname === (ifname || a.ifname));
        if (known) {
          if (!known.ips.some((ip) => ip.startsWith(`${f}/`))) known.ips.push(f);
          continue;
        }
        if (seen.has(`${id}/${ifname}`)) continue;
        seen.add(`${id}/${ifname}`);
        out.push({ containerId: id, ifname, ips: [f], source: 'lease' });
      }
    }
    return out;
  }

  /**
   * Remove a managed network: its file, its record, its bridge (deleted when cnictl created it, else left as found),
   * its isolation rules and its empty lease directory. Returns warnings (one line each) about what was left.
   */
  remove(list: ConfList): string[] {
    const info = describe(list);
    rmSync(list.file, { force: true });
    const warnings = this.release(info, list);
    if (info.leaseDir && existsSync(info.leaseDir)) {
      const left = readdirSync(info.leaseDir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
      if (left.length === 0) rmSync(info.leaseDir, { recursive: true, force: true });
    }
    return warnings;
  }

  /**
   * Give back what a network (whose file is gone or about to be rewritten) held on the host: its bridge — unless
   * another config uses it — and the firewall's isolation rules naming that bridge; then forget its record.
   */
  private release(info: NetworkInfo, list?: ConfList): string[] {
    const warnings: string[] = [];
    const record = this.records.read(info.name);
    this.records.remove(info.name);
    if (!info.bridge) return warnings;
    const others = loadAll(this.paths.netconf).lists.filter((l) => l.name !== info.name).map(describe);
    const user = bridgeUser(info.bridge, others);
    if (user) return warnings; // still another network's bridge: leave it and its rules
    if ((!list || isolates(list)) && !this.removeIsolationRules(info.bridge)) warnings.push(`could not remove the isolation rules naming bridge ${info.bridge} (see iptables -S CNI-ISOLATION-STAGE-1)`);
    const host = Netns.host();
    const now = readLink(host, info.bridge, true);
    if (!now) return warnings;
    const found = linkFound(now);
    if (!record?.bridge || record.bridge.name !== info.bridge) {
      warnings.push(`left bridge ${info.bridge} in place: cnictl has no record of creating it (delete it yourself if it is unused: ip link del ${info.bridge})`);
      return warnings;
    }
    if (found.kind !== 'bridge') return warnings; // the name is now something else: not ours
    if (record.bridge.created) {
      host.ip(['link', 'del', info.bridge, 'type', 'bridge']);
      return warnings;
    }
    const r = restoreFound(record.bridge, gatewayAddresses(info), now);
    const lines = [...r.delAddresses.map((a) => `addr del ${a} dev ${info.bridge}`), ...(r.down ? [`link set dev ${info.bridge} down`] : [])];
    if (host.ipBatch(lines, true).status !== 0) warnings.push(`could not restore bridge ${info.bridge} as found (${lines.join('; ')})`);
    return warnings;
  }

  /** Delete the same-bridge isolation rules naming `bridge` (IPv4 and IPv6); the shared chains stay. False: some remain. */
  private removeIsolationRules(bridge: string): boolean {
    let ok = true;
    for (const family of [4, 6] as const) {
      let save: string;
      try {
        save = iptablesSave(family, 'filter');
      } catch {
        continue; // no iptables (or no IPv6): no rules of ours there
      }
      const lines = isolationRuleDeletes(save, bridge);
      if (lines.length && iptablesRestore(family, ['*filter', ...lines, 'COMMIT', ''].join('\n')).status !== 0) ok = false;
    }
    return ok;
  }
}

/** Does this conflist isolate its bridge (a firewall with ingressPolicy same-bridge)? */
const isolates = (list: ConfList): boolean => list.plugins.some((p) => p.type === 'firewall' && p.ingressPolicy === 'same-bridge');

/** IPs and the container-side MAC from a cached result. */
export function resultFacts(e: CacheEntry): { ips: string[]; mac?: string } {
  const r = e.result ?? {};
  const ifaces = Array.isArray(r.interfaces) ? (r.interfaces as Obj[]) : [];
  const ips: string[] = [];
  let mac: string | undefined;
  if (Array.isArray(r.ips)) {
    for (const ip of r.ips as Obj[]) {
      if (typeof ip.address === 'string') ips.push(ip.address);
      const i = typeof ip.interface === 'number' ? ifaces[ip.interface] : undefined;
      if (i && typeof i.mac === 'string' && !mac) mac = i.mac;
    }
  }
  for (const k of ['ip4', 'ip6']) if (isObject(r[k]) && typeof (r[k] as Obj).ip === 'string') ips.push((r[k] as Obj).ip as string);
  if (!mac) mac = ifaces.find((i) => i.sandbox && typeof i.mac === 'string')?.mac as string | undefined;
  return mac ? { ips, mac } : { ips };
}
