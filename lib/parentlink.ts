/**
 * Links stacked on a parent ("master") link and moved into a container: macvlan, ipvlan and vlan share all of it.
 * Master resolution (config or default-route interface), creation under a temporary name directly into the
 * container netns, rename + configuration, rollback on failure, CHECK and DEL.
 * Command building and result building are pure; the functions taking a context or a Netns do the I/O.
 */
import { randomBytes } from './hash.js';
import { CniError, ErrorCode, configError, pluginError } from './cni/errors.js';
import { delegate, ipamDel, ipamType } from './cni/invoke.js';
import { needsLinkFirst } from './cni/linkfirst.js';
import type { DNS, IPConfig, Interface, Result, Route } from './cni/result.js';
import type { CniContext } from './cni/skel.js';
import { checkInterfaceIPs, checkRoutes, configureIfaceCommands, deleteContainerLink, ifaceSysctls, ipsForInterface, readLink, type IpLink, type IpRoute } from './iface.js';
import { Netns, batchFailedLine, describeBatchFailure, isNotFound } from './netns.js';
import { libc, type Libc } from './native.js';
import { runAll } from './rollback.js';

export type SubLinkKind = 'macvlan' | 'ipvlan' | 'vlan';

/** What to create: the settings the plugins share, plus kind-specific `ip link add` type arguments. */
export interface SubLinkSpec {
  kind: SubLinkKind;
  /** Parent link name; undefined means the interface of the default route. */
  master?: string;
  /** macvlan/ipvlan mode; undefined for a kind without one (vlan). */
  mode?: string;
  /** 0 = leave it to the kernel (the master's MTU). */
  mtu: number;
  mac?: string;
  /** The master lives in the container netns, not the host's. */
  linkInContainer: boolean;
  /** Extra `type KIND` options after `mode MODE` (e.g. macvlan bcqueuelen, vlan id). */
  typeOptions?: string[];
  /** arp_notify / ndisc_notify on the new link (default true; the reference vlan sets neither). */
  notify?: boolean;
}

/** Addresses and routes to put on the new link, and how to give them back if ADD fails later. */
export interface IpSource {
  ips: IPConfig[];
  routes: Route[];
  release?: () => void;
}

export interface MasterInfo {
  name: string;
  mtu?: number;
}

/** A random temporary name (the reference uses veth + 8 hex): never clashes with CNI_IFNAME in either netns. */
export const tempLinkName = (): string => `cnitmp${randomBytes(4).toString('hex')}`;

/** The first default route's device of a `ip -j route show default` listing (multipath: first nexthop). */
export function defaultRouteDev(routes: ReadonlyArray<IpRoute & { nexthops?: Array<{ dev?: string }> }>): string | undefined {
  for (const r of routes) {
    const dev = r.dev ?? r.nexthops?.find((n) => n.dev)?.dev;
    if (dev) return dev;
  }
  return undefined;
}

/** The interface of the default route in `ns` (IPv4 first, then IPv6), as the reference's getDefaultRouteInterfaceName. */
export function defaultRouteInterface(ns: Netns): string {
  for (const fam of ['-4', '-6']) {
    const dev = defaultRouteDev(ns.ipJson<IpRoute[]>([fam, 'route', 'show', 'default']));
    if (dev) return dev;
  }
  throw pluginError(`no default route interface found${ns.isHost ? '' : ` in ${ns.label}`}: set "master"`);
}

/** `type KIND [mode MODE] [options]` of `ip link add`. */
const typeArgs = (spec: SubLinkSpec): string[] => ['type', spec.kind, ...(spec.mode ? ['mode', spec.mode] : []), ...(spec.typeOptions ?? [])];

/** `ip link add` argv (run in the netns holding the master; `targetNetns` moves the new link at creation). */
export function createLinkArgs(spec: SubLinkSpec, master: string, tmpName: string, targetNetns: string | undefined): string[] {
  const args = ['link', 'add', tmpName, 'link', master];
  if (targetNetns) args.push('netns', targetNetns);
  if (spec.mtu > 0) args.push('mtu', String(spec.mtu));
  if (spec.mac) args.push('address', spec.mac);
  args.push(...typeArgs(spec));
  return args;
}

const KERNEL_SUPPORT: Record<SubLinkKind, string> = {
  macvlan: 'CONFIG_MACVLAN / the macvlan module',
  ipvlan: 'CONFIG_IPVLAN / the ipvlan module',
  vlan: 'CONFIG_VLAN_8021Q / the 8021q module',
};

/** A plugin error for a failed `ip link add`, naming what is missing when it is the master or kernel support. */
export function createFailure(spec: SubLinkSpec, master: string, where: string, stderr: string): CniError {
  const text = stderr.trim();
  if (/Cannot find device/i.test(text)) return pluginError(`failed to lookup master ${JSON.stringify(master)} in ${where}: Link not found`);
  if (spec.kind === 'vlan' && /VLAN device already exists/i.test(text)) {
    const id = spec.typeOptions?.[spec.typeOptions.indexOf('id') + 1];
    return pluginError(`failed to create vlan: master ${JSON.stringify(master)} already has a vlan with id ${id}`, `${text} (the kernel allows one per id and master; another container may hold it)`);
  }
  if (/Unknown device type/i.test(text)) {
    return pluginError(`failed to create ${spec.kind}: the kernel has no ${spec.kind} support (${KERNEL_SUPPORT[spec.kind]} is missing)`, text);
  }
  if (spec.kind === 'macvlan' && spec.mode === 'passthru' && /Invalid argument|busy/i.test(text)) {
    return pluginError(`failed to create macvlan: master ${JSON.stringify(master)} already has links (passthru needs it alone)`, text);
  }
  return pluginError(`failed to create ${spec.kind} on ${JSON.stringify(master)}`, text);
}

/**
 * Sysctls for the new link, keyed by its temporary name (values follow the device through the rename); `notify`:
 * arp_notify and ndisc_notify too.
 */
export function subLinkSysctls(tmpName: string, ips: readonly IPConfig[], notify = true): Record<string, string> {
  const announce = notify ? { [`net/ipv4/conf/${tmpName}/arp_notify`]: '1', [`net/ipv6/conf/${tmpName}/ndisc_notify`]: '1' } : {};
  return { ...announce, ...ifaceSysctls(tmpName, ips) };
}

/** One `ip -j -batch` in the container: rename, addresses, up, routes, then show the link (its MAC). */
export function finishCommands(tmpName: string, ifname: string, ips: readonly IPConfig[], routes: readonly Route[]): string[] {
  return [`link set dev ${tmpName} name ${ifname}`, ...configureAndShow(ifname, ips, routes)];
}

/** Addresses, up, routes, then show the link (its MAC, for the result). */
const configureAndShow = (ifname: string, ips: readonly IPConfig[], routes: readonly Route[]): string[] => [
  ...configureIfaceCommands(ifname, ips, routes),
  `link show dev ${ifname}`,
];

/** The result of ADD: the one container interface, its addresses (all on interface 0), routes, and the config's DNS. */
export function buildResult(cniVersion: string, iface: Interface, src: IpSource | undefined, dns: DNS): Result {
  const result: Result = { cniVersion, interfaces: [iface] };
  if (src?.ips.length) result.ips = src.ips.map((ip) => ({ ...ip, interface: 0 }));
  if (src?.routes.length) result.routes = src.routes;
  if (dns && Object.keys(dns).length) result.dns = dns;
  return result;
}

/** The netns holding the master, and the master's name and (when an MTU must be checked) its MTU. */
export function resolveMaster(spec: SubLinkSpec, container: Netns): { where: Netns; master: MasterInfo } {
  const where = spec.linkInContainer ? container : Netns.host();
  const name = spec.master ?? defaultRouteInterface(where);
  if (spec.mtu <= 0) return { where, master: { name } };
  const link = readLink(where, name);
  if (!link) throw pluginError(`failed to lookup master ${JSON.stringify(name)} in ${where.label}: Link not found`);
  if (link.mtu !== undefined && spec.mtu > link.mtu) {
    throw configError(`invalid MTU ${spec.mtu}, must be [0, master MTU(${link.mtu})]`, `"mtu" is above the MTU of master ${JSON.stringify(name)}`);
  }
  return { where, master: { name, mtu: link.mtu } };
}

/**
 * ADD for a macvlan/ipvlan. With the executable's FFI (the master in the host netns): get the IPs, then ONE `ip` exec
 * in the container that creates the link there on the host's master (`link if<index> link-netns /proc/<pid>/ns/net`),
 * configures it and reads it back; its sysctls come from the container's `default` settings, put in place just for
 * that exec. Otherwise (Node, or the master in the container): create the link under a temporary name directly in the
 * container netns, get the IPs, then sysctls and rename + configure + read back. Either way any failure removes the
 * link and releases the IPs; `obtainIps` undefined means L2 only.
 */
export function addSubLink(ctx: CniContext, spec: SubLinkSpec, obtainIps: () => IpSource | undefined): Result {
  const container = Netns.at(ctx.netns);
  container.requireExists();
  const { where, master } = resolveMaster(spec, container);
  const c = spec.linkInContainer ? undefined : libc();
  if (c) return addInOneExec(c, ctx, spec, master, container, obtainIps);
  const tmp = tempLinkName();
  const created = where.ip(createLinkArgs(spec, master.name, tmp, spec.linkInContainer ? undefined : ctx.netns));
  if (created.status !== 0) throw createFailure(spec, master.name, where.label, created.stderr);

  let current = tmp;
  let src: IpSource | undefined;
  try {
    if (needsLinkFirst(ctx)) {
      const r = container.ip(['link', 'set', 'dev', tmp, 'name', ctx.ifname]);
      if (r.status !== 0) throw renameFailure(spec, ctx.ifname, r.stderr);
      current = ctx.ifname;
    }
    src = obtainIps();
    const ips = src?.ips ?? [];
    if (src) container.sysctlSet(subLinkSysctls(current, ips, spec.notify !== false));
    const lines = current === tmp ? finishCommands(tmp, ctx.ifname, ips, src?.routes ?? []) : configureAndShow(current, ips, src?.routes ?? []);
    const r = container.ip(['-j', '-batch', '-'], lines.join('\n') + '\n');
    if (r.status !== 0) {
      const failedLine = batchFailedLine(r.stderr);
      if (failedLine === 1 && current === tmp) throw renameFailure(spec, ctx.ifname, r.stderr);
      current = ctx.ifname;
      throw pluginError(`failed to configure ${ctx.ifname} in ${ctx.netns}`, describeBatchFailure(r.stderr, lines));
    }
    current = ctx.ifname;
    const link = parseLastLink(r.stdout);
    return buildResult(ctx.conf.cniVersion, { name: ctx.ifname, mac: link?.address, sandbox: ctx.netns }, src, ctx.conf.dns);
  } catch (e) {
    releaseQuietly(src); // first: a DHCP lease is released over the link
    removeQuietly(container, current);
    throw e;
  }
}

/** The reference's error when CNI_IFNAME is taken in the container (its rename of the temporary link fails). */
function renameFailure(spec: SubLinkSpec, ifname: string, stderr: string): CniError {
  const exists = /File exists/i.test(stderr);
  return pluginError(`failed to rename ${spec.kind} to ${JSON.stringify(ifname)}${exists ? ': file exists' : ''}`, stderr.trim());
}

function releaseQuietly(src: IpSource | undefined): void {
  try {
    src?.release?.();
  } catch {
    /* the original error is the one to report */
  }
}

/** `ip -batch` line run in the container: the link created there, on the master with `index` in the netns at `hostNs`. */
export function createInContainerLine(spec: SubLinkSpec, index: number, hostNs: string, ifname: string): string {
  const args = ['link', 'add', 'link', `if${index}`, 'link-netns', hostNs, 'name', ifname];
  if (spec.mtu > 0) args.push('mtu', String(spec.mtu));
  if (spec.mac) args.push('address', spec.mac);
  args.push(...typeArgs(spec));
  return args.join(' ');
}

/** The container's `default` sysctls that give a new link the settings subLinkSysctls sets on it by name. */
export function linkDefaultSysctls(ips: readonly IPConfig[], notify = true): Record<string, string> {
  const byName = subLinkSysctls('default', ips, notify);
  return Object.fromEntries(Object.entries(byName).filter(([k]) => k.includes('/conf/default/')));
}

function addInOneExec(c: Libc, ctx: CniContext, spec: SubLinkSpec, master: MasterInfo, container: Netns, obtainIps: () => IpSource | undefined): Result {
  const index = c.ifNameToIndex(master.name);
  if (!index) throw pluginError(`failed to lookup master ${JSON.stringify(master.name)} in host netns: Link not found`);
  let src: IpSource | undefined;
  let created = false;
  try {
    if (needsLinkFirst(ctx)) return addLinkFirst(ctx, spec, index, master, container, obtainIps);
    src = obtainIps();
    const ips = src?.ips ?? [];
    const notify = spec.notify !== false;
    const others = Object.fromEntries(Object.entries(subLinkSysctls(ctx.ifname, ips, notify)).filter(([k]) => !k.includes(`/conf/${ctx.ifname}/`)));
    if (src) container.sysctlSet(others); // e.g. lo's disable_ipv6
    // Created under a temporary name and renamed in the same batch: some kernels (6.1) register a link made with
    // link-netns in the master's netns first, where a host link named like CNI_IFNAME (eth0!) would clash.
    const tmp = tempLinkName();
    const lines = [
      createInContainerLine(spec, index, `/proc/${process.pid}/ns/net`, tmp),
      `link set dev ${tmp} name ${ctx.ifname}`,
      ...configureAndShow(ctx.ifname, ips, src?.routes ?? []),
    ];
    const run = (): ReturnType<Netns['ip']> => container.ip(['-j', '-batch', '-'], lines.join('\n') + '\n');
    const r = src ? container.withLinkDefaults(c, linkDefaultSysctls(ips, notify), run) : run();
    if (r.status !== 0) {
      const failedLine = batchFailedLine(r.stderr);
      if (failedLine === 1) throw createFailure(spec, master.name, 'host netns', r.stderr.replace(/Command failed -:1\s*$/m, ''));
      if (failedLine === 2) {
        removeQuietly(container, tmp);
        throw renameFailure(spec, ctx.ifname, r.stderr);
      }
      created = true;
      throw pluginError(`failed to configure ${ctx.ifname} in ${ctx.netns}`, describeBatchFailure(r.stderr, lines));
    }
    created = true;
    const link = parseLastLink(r.stdout);
    return buildResult(ctx.conf.cniVersion, { name: ctx.ifname, mac: link?.address, sandbox: ctx.netns }, src, ctx.conf.dns);
  } catch (e) {
    if (created) removeQuietly(container, ctx.ifname);
    releaseQuietly(src);
    throw e;
  }
}

/**
 * With an IPAM that needs the interface (LINK_FIRST_IPAM in lib/cni/linkfirst.ts): one `ip -batch` creates the link in
 * the container under CNI_IFNAME, the IPAM runs on it, its sysctls are set in-process, a second batch configures it
 * and reads it back (in-process over rtnetlink in the executable; exec'd without it).
 */
function addLinkFirst(ctx: CniContext, spec: SubLinkSpec, index: number, master: MasterInfo, container: Netns, obtainIps: () => IpSource | undefined): Result {
  // Under a temporary name, renamed in the same batch (as addInOneExec: a host link named like CNI_IFNAME must not clash).
  const tmp = tempLinkName();
  const createLines = [createInContainerLine(spec, index, `/proc/${process.pid}/ns/net`, tmp), `link set dev ${tmp} name ${ctx.ifname}`];
  const created = container.ip(['-batch', '-'], createLines.join('\n') + '\n');
  if (created.status !== 0) {
    if (batchFailedLine(created.stderr) === 2) {
      removeQuietly(container, tmp);
      throw renameFailure(spec, ctx.ifname, created.stderr);
    }
    throw createFailure(spec, master.name, 'host netns', created.stderr.replace(/Command failed -:1\s*$/m, ''));
  }
  let src: IpSource | undefined;
  try {
    src = obtainIps();
    const ips = src?.ips ?? [];
    if (src) container.sysctlSet(subLinkSysctls(ctx.ifname, ips, spec.notify !== false));
    const lines = configureAndShow(ctx.ifname, ips, src?.routes ?? []);
    const r = container.ip(['-j', '-batch', '-'], lines.join('\n') + '\n');
    if (r.status !== 0) throw pluginError(`failed to configure ${ctx.ifname} in ${ctx.netns}`, describeBatchFailure(r.stderr, lines));
    const link = parseLastLink(r.stdout);
    return buildResult(ctx.conf.cniVersion, { name: ctx.ifname, mac: link?.address, sandbox: ctx.netns }, src, ctx.conf.dns);
  } catch (e) {
    releaseQuietly(src); // first: a DHCP lease is released over the link
    removeQuietly(container, ctx.ifname);
    throw e;
  }
}

/** The last JSON array `ip -j -batch` printed (only `link show` prints anything). */
export function parseLastLink(stdout: string): IpLink | undefined {
  const text = stdout.trim();
  if (!text) return undefined;
  const start = text.lastIndexOf('[{');
  try {
    return (JSON.parse(start >= 0 ? text.slice(start) : text) as IpLink[])[0];
  } catch {
    return undefined;
  }
}

function removeQuietly(ns: Netns, ifname: string): void {
  ns.ip(['link', 'del', 'dev', ifname]);
}

/** IPs obtained from the configured IPAM plugin, released again with IPAM DEL when ADD fails afterwards. */
export function ipamSource(ctx: CniContext, add: (ctx: CniContext) => Result): IpSource {
  const res = add(ctx);
  return { ips: res.ips ?? [], routes: res.routes ?? [], release: () => ipamDel(ctx) };
}

/**
 * DEL: IPAM DEL first (even when the netns is gone), then delete the link in the netns — also when IPAM DEL fails
 * (e.g. an ipam.type refused as a loop): the first error is reported after both.
 * Never resolves the master: works without a default route, a master or the netns. Idempotent.
 */
export function delSubLink(ctx: CniContext): void {
  runAll([ipamType(ctx) !== undefined && (() => ipamDel(ctx)), () => deleteContainerLink(ctx, false)]);
}

/** The mode the kernel reports for a macvlan/ipvlan link (`ip -d -j` linkinfo.info_data.mode). */
export const linkMode = (link: IpLink): string | undefined => link.linkinfo?.info_data?.mode as string | undefined;

/**
 * CHECK: IPAM CHECK, then prevResult's interface for CNI_IFNAME in this sandbox must exist in the container as a
 * `kind` link in `mode` (when the kind has modes) with the recorded MAC, pass `verify` (kind-specific settings, e.g.
 * a vlan's id), carry the addresses, and the routes must be there; the master (when known) must exist.
 */
export function checkSubLink(ctx: CniContext, spec: SubLinkSpec, masterKnown: boolean, verify?: (link: IpLink) => void): void {
  const container = Netns.at(ctx.netns);
  container.requireExists();
  const type = ipamType(ctx);
  if (type) delegate(type, 'CHECK', ctx);
  const prev = ctx.conf.prevResult;
  if (!prev) throw pluginError('required prevResult missing');
  const index = (prev.interfaces ?? []).findIndex((i) => i.name === ctx.ifname && i.sandbox === ctx.netns);
  const intf = index >= 0 ? prev.interfaces![index]! : undefined;
  if (!intf) throw pluginError(`sandbox in prevResult doesn't match configured netns: ${ctx.netns} (no interface ${JSON.stringify(ctx.ifname)} there)`);
  if (masterKnown) {
    const where = spec.linkInContainer ? container : Netns.host();
    const name = spec.master ?? defaultRouteInterface(where);
    const r = where.ip(['-j', 'link', 'show', 'dev', name]);
    if (r.status !== 0) {
      if (isNotFound(r.stderr)) throw pluginError(`failed to lookup master ${JSON.stringify(name)} in ${where.label}: Link not found`);
      throw pluginError(`failed to lookup master ${JSON.stringify(name)}`, r.stderr.trim());
    }
  }
  const link = readLink(container, ctx.ifname, true);
  if (!link) throw pluginError(`container Interface name in prevResult: ${ctx.ifname} not found`);
  if (link.linkinfo?.info_kind !== spec.kind) throw pluginError(`error: Container interface ${ctx.ifname} not of type ${spec.kind}`);
  const mode = linkMode(link);
  if (spec.mode !== undefined && mode !== spec.mode) throw pluginError(`container ${spec.kind} mode ${mode ?? '(none)'} does not match expected value: ${spec.mode}`);
  if (intf.mac && link.address && intf.mac.toLowerCase() !== link.address.toLowerCase()) {
    throw pluginError(`interface ${ctx.ifname} Mac ${intf.mac} doesn't match container Mac: ${link.address}`);
  }
  verify?.(link);
  checkInterfaceIPs(link, ipsForInterface(prev, index));
  checkRoutes(container, ctx.ifname, prev.routes ?? []);
}

/** Code 7 error for a mode outside `allowed` (message as the reference's, plus the allowed values). */
export function unknownMode(kind: SubLinkKind, mode: string, allowed: readonly string[]): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, `unknown ${kind} mode: ${JSON.stringify(mode)}`, `allowed: ${allowed.join(', ')}`);
}
