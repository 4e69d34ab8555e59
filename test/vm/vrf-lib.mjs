// Helpers shared by the vrf VM tests (vrf.vm.mjs, vrf-chain.vm.mjs); not a test file itself.
import { ip, ipJson, linkInfo } from './lib.mjs';

/** A container with a veth `ifname` (peer `<ifname>p` in the same netns), up, with the addresses and routes given. */
export function iface(ns, ifname, { v4 = [], v6 = [], routes = [] } = {}) {
  ip(['link', 'add', ifname, 'type', 'veth', 'peer', 'name', `${ifname}p`], ns.name);
  ip(['link', 'set', `${ifname}p`, 'up'], ns.name);
  ip(['link', 'set', ifname, 'up'], ns.name);
  for (const a of v4) ip(['addr', 'add', a, 'dev', ifname], ns.name);
  for (const a of v6) ip(['addr', 'add', a, 'dev', ifname, 'nodad'], ns.name);
  for (const r of routes) ip(['route', 'add', ...r.split(' '), 'dev', ifname], ns.name);
}

/** A vrf config with a prevResult naming `ifname` in `ns` with the given addresses. */
export function conf(ns, ifname, vrfname, extra = {}, ips = [{ address: '10.90.0.2/24', gateway: '10.90.0.1' }]) {
  const cniVersion = extra.cniVersion ?? '1.0.0';
  const version = (x) => (cniVersion.startsWith('0.') ? { version: x.address.includes(':') ? '6' : '4' } : {});
  return {
    cniVersion,
    name: 'vrfnet',
    type: 'vrf',
    vrfname,
    ...extra,
    prevResult: { cniVersion, interfaces: [{ name: ifname, sandbox: ns.path }], ips: ips.map((x) => ({ ...version(x), ...x, interface: 0 })) },
  };
}

/** Both ways ours can work: `ip` command lines run in-process over rtnetlink (the executable's FFI), and `ip` execs. */
export const MODES = [
  ['in-process rtnetlink', {}],
  ['ip execs (CNI_TS_NO_FFI=1)', { CNI_TS_NO_FFI: '1' }],
];
let modeEnv = {};
/** The mode the following invocations of ours use (opts() carries it). */
export const useMode = (env) => {
  modeEnv = env;
};
export const opts = (ns, ifname = 'eth0', containerId = 'ctr') => ({ netns: ns.path, ifname, containerId, env: modeEnv });
export const master = (ns, ifname) => linkInfo(ifname, ns.name)?.master;
export const vrfTable = (ns, name) => linkInfo(name, ns.name)?.linkinfo?.info_data?.table;
/** Routes of a table as "dst[ via gw]" strings (both families). */
export const tableRoutes = (ns, table) =>
  ['-4', '-6'].flatMap((f) => ipJson([f, 'route', 'show', 'table', String(table)], ns.name))
    .filter((r) => r.type !== 'local' && r.type !== 'broadcast' && r.type !== 'multicast' && !String(r.dst).startsWith('fe80'))
    .map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`)
    .sort();
export const mainRoutesOf = (ns, dev) => ['-4', '-6'].flatMap((f) => ipJson([f, 'route', 'show', 'table', 'main', 'dev', dev], ns.name)).filter((r) => !String(r.dst).startsWith('fe80'));
