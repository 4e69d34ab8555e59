/**
 * The agent's settings: command-line flags, the same as environment variables (CNI_TS_AGENT_<FLAG>, e.g.
 * CNI_TS_AGENT_CLUSTER_CIDR) and as a JSON config file (`--config FILE`, keys are the flag names without dashes,
 * e.g. {"cluster-cidr": "10.244.0.0/16"}). A flag beats the environment, which beats the file, which beats the
 * default. Everything is validated here, before anything changes on the node. Pure apart from reading the file.
 */
import { readFileSync } from 'node:fs';
import { formatCIDR, networkOf, overlaps, parseCIDR, parseIP, type CIDR, type Family } from '../lib/ip.js';

export type Backend = 'vxlan' | 'host-gw';
export type StoreKind = 'etcd' | 'kubernetes';
export type Mode = 'daemon' | 'cleanup' | 'install-cni' | 'help' | 'version';

export interface AgentConfig extends ClusterSettings {
  mode: Mode;
  nodeName: string;
  /** Underlay addresses (at most one per family); empty = the address of the default route's interface. */
  publicIPs: string[];
  /** Underlay interface; empty = the default route's. */
  iface: string;
  store: StoreKind;
  etcdEndpoints: string[];
  etcdPrefix: string;
  /** etcd TLS (flannel's flags): CA bundle, client certificate and key files; empty = not given. */
  etcdCAFile: string;
  etcdCertFile: string;
  etcdKeyFile: string;
  /** etcd user/password authentication; empty = none. */
  etcdUsername: string;
  etcdPassword: string;
  /** Seconds; the etcd lease on this node's subnet. */
  leaseTTL: number;
  /** Runtime files that must not outlive a reboot: status.json and the conflist the conf-dir entry links to. */
  runDir: string;
  /** Accept rules for the cluster CIDR in iptables FORWARD (flannel's --iptables-forward-rules). */
  iptablesForwardRules: boolean;
  /** Underlay chosen by a regular expression on interface names or addresses (flannel's --iface-regex). */
  ifaceRegex: string;
  /** Underlay chosen as the interface and address the kernel uses to reach this address (flannel's --iface-can-reach). */
  ifaceCanReach: string;
  /** The Node's InternalIP(s) (the DaemonSet passes status.hostIPs): the underlay in Kubernetes mode by default. */
  nodeIPs: string[];
  /** Seconds without any event, progress notification or bookmark after which a watch is taken for dead. */
  watchIdleTimeout: number;
  /** --install-cni also replaces the node's bridge, host-local, portmap and loopback. */
  installReplace: boolean;
  confDir: string;
  confName: string;
  networkName: string;
  bridge: string;
  cniBinDir: string;
  stateDir: string;
  /** host-local dataDir written into the conflist; empty = host-local's default (/var/lib/cni/networks). */
  ipamDataDir: string;
  /** Seconds between full reconciles. */
  resyncInterval: number;
  /** host:port of the /healthz endpoint; empty = none (the status file is always written). */
  healthzAddr: string;
  kubeAPIServer: string;
  kubeTokenFile: string;
  kubeCAFile: string;
  /** kubeconfig for running outside the cluster (server, CA, credentials of its current context); empty = in-cluster. */
  kubeconfigFile: string;
  /** Masquerade pod traffic leaving the cluster (false: no nft table of ours). */
  ipMasq: boolean;
  /** Destinations besides the cluster CIDRs that pod traffic reaches without masquerade (normalized CIDRs). */
  noMasqCIDRs: string[];
  /** nft `masquerade fully-random` (source ports fully randomized, as flannel's --random-fully). */
  masqFullyRandom: boolean;
  /** Pod MTU (and the VXLAN device's); 0 = derived from the underlay. */
  mtu: number;
  /** flannel-style subnet.env for other tools; empty = not written. */
  subnetFile: string;
  /** --install-cni SRC: the directory the plugins are copied from. */
  installFrom: string;
}

export class AgentConfigError extends Error {}

interface FlagSpec {
  name: string;
  kind: 'string' | 'int' | 'bool';
  dflt: string;
  help: string;
}

/** Every flag, its default and its one-line help (printed by --help and used by the config file and env). */
export const FLAGS: readonly FlagSpec[] = [
  { name: 'node-name', kind: 'string', dflt: '', help: 'this node\'s name (default: $NODE_NAME, else the hostname)' },
  { name: 'public-ip', kind: 'string', dflt: '', help: 'underlay address(es) of this node, one per family, comma-separated (default: the address of the default-route interface)' },
  { name: 'iface', kind: 'string', dflt: '', help: 'underlay interface (default: the one holding --public-ip, else the default route\'s)' },
  { name: 'cluster-cidr', kind: 'string', dflt: '', help: 'pod network of the whole cluster, one CIDR per family, comma-separated (required), e.g. 10.244.0.0/16' },
  { name: 'subnet-len', kind: 'int', dflt: '24', help: 'prefix length of each node\'s IPv4 subnet' },
  { name: 'subnet-len-v6', kind: 'int', dflt: '64', help: 'prefix length of each node\'s IPv6 subnet' },
  { name: 'backend', kind: 'string', dflt: 'vxlan', help: 'vxlan (overlay) or host-gw (routes via the peer nodes; they must share an L2 underlay)' },
  { name: 'vxlan-vni', kind: 'int', dflt: '1', help: 'VXLAN network identifier; the device is named cni-ts.<vni>' },
  { name: 'vxlan-port', kind: 'int', dflt: '8472', help: 'VXLAN UDP port' },
  { name: 'store', kind: 'string', dflt: 'etcd', help: 'etcd (subnets leased in etcd) or kubernetes (Node spec.podCIDRs, peers from Node objects)' },
  { name: 'etcd-endpoints', kind: 'string', dflt: 'http://127.0.0.1:2379', help: 'etcd client URLs, comma-separated (JSON gateway, etcd >= 3.4)' },
  { name: 'etcd-prefix', kind: 'string', dflt: '/cni-ts/network', help: 'etcd key prefix of the cluster\'s settings and subnet leases' },
  { name: 'etcd-cafile', kind: 'string', dflt: '', help: 'PEM CA bundle that signed the etcd servers\' certificates (https endpoints)' },
  { name: 'etcd-certfile', kind: 'string', dflt: '', help: 'PEM client certificate for etcd (with --etcd-keyfile; kubeadm\'s etcd requires one)' },
  { name: 'etcd-keyfile', kind: 'string', dflt: '', help: 'PEM private key of --etcd-certfile' },
  { name: 'etcd-username', kind: 'string', dflt: '', help: 'etcd user (etcd authentication; the token is refreshed when it expires)' },
  { name: 'etcd-password', kind: 'string', dflt: '', help: 'password of --etcd-username (prefer the environment variable or the config file: flags show in ps)' },
  { name: 'lease-ttl', kind: 'int', dflt: '86400', help: 'seconds an etcd subnet lease outlives its agent (peers drop the node after that; renewed every min(TTL/3, 60s))' },
  { name: 'conf-dir', kind: 'string', dflt: '/etc/cni/net.d', help: 'where the node\'s CNI config is written' },
  { name: 'conf-name', kind: 'string', dflt: '10-cni-ts.conflist', help: 'file name of the node\'s CNI config' },
  { name: 'network-name', kind: 'string', dflt: 'cni-ts', help: 'CNI network name in the conflist' },
  { name: 'bridge', kind: 'string', dflt: 'cni-ts0', help: 'bridge the pods are attached to' },
  { name: 'cni-bin-dir', kind: 'string', dflt: '/opt/cni/bin', help: 'CNI plugin directory (target of --install-cni)' },
  { name: 'state-dir', kind: 'string', dflt: '/var/lib/cni-ts-agent', help: 'state that survives a reboot: the node\'s subnets (subnet.json)' },
  { name: 'run-dir', kind: 'string', dflt: '/run/cni-ts-agent', help: 'state that a reboot clears: status.json and the CNI config the --conf-dir entry links to (mount it at the same path on the host)' },
  { name: 'ipam-data-dir', kind: 'string', dflt: '', help: 'host-local dataDir written into the conflist (default: host-local\'s own)' },
  { name: 'resync-interval', kind: 'int', dflt: '30', help: 'seconds between full reconciles of the data path' },
  { name: 'healthz-addr', kind: 'string', dflt: '', help: 'host:port to serve GET /healthz (alive) and /readyz (data path in place) on (default: off; status.json is always written)' },
  { name: 'iptables-forward-rules', kind: 'bool', dflt: 'true', help: 'accept forwarded traffic to and from the cluster CIDR in iptables FORWARD, for hosts whose FORWARD policy is DROP (default true; --iptables-forward-rules=false leaves FORWARD to the admin)' },
  { name: 'iface-regex', kind: 'string', dflt: '', help: 'underlay: the first interface whose name, or address, matches this regular expression' },
  { name: 'iface-can-reach', kind: 'string', dflt: '', help: 'underlay: the interface and address the kernel uses to reach this IP' },
  { name: 'node-ips', kind: 'string', dflt: '', help: 'the Node\'s InternalIP(s), comma-separated (the DaemonSet passes status.hostIPs); Kubernetes mode uses them as the underlay when --public-ip, --iface, --iface-regex and --iface-can-reach are not given (default: read from the Node)' },
  { name: 'watch-idle-timeout', kind: 'int', dflt: '660', help: 'seconds without an event, progress notification (etcd) or bookmark (Kubernetes) after which a watch is taken for dead and the peers are listed again' },
  { name: 'kube-api-server', kind: 'string', dflt: '', help: 'API server URL (default: in-cluster https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)' },
  { name: 'kube-token-file', kind: 'string', dflt: '/var/run/secrets/kubernetes.io/serviceaccount/token', help: 'bearer token file (re-read on every request)' },
  { name: 'kube-ca-file', kind: 'string', dflt: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt', help: 'CA bundle for the API server' },
  { name: 'kubeconfig-file', kind: 'string', dflt: '', help: 'kubeconfig for running outside the cluster: server, CA and token or client certificate of its current context (default: in-cluster config; --kube-api-server overrides its server)' },
  { name: 'ip-masq', kind: 'bool', dflt: 'true', help: 'masquerade pod traffic leaving the cluster CIDR (false: no NAT by the agent; the node\'s own rules decide)' },
  { name: 'no-masquerade-cidr', kind: 'string', dflt: '', help: 'more destinations, comma-separated CIDRs, that pods reach with their own address (not masqueraded)' },
  { name: 'masq-fully-random', kind: 'bool', dflt: 'true', help: 'masquerade with fully random source ports (avoids conntrack port collisions; flannel\'s --random-fully)' },
  { name: 'mtu', kind: 'int', dflt: '0', help: 'MTU of the pods and the VXLAN device (0: the underlay\'s MTU, less 50 (IPv4) or 70 (IPv6) with vxlan)' },
  { name: 'subnet-file', kind: 'string', dflt: '/run/cni-ts/subnet.env', help: 'flannel-style file with the network, subnet, MTU and masquerade setting for other tools (empty: not written)' },
  { name: 'config', kind: 'string', dflt: '', help: 'JSON file with any of these settings, keys without dashes: {"cluster-cidr": "10.244.0.0/16"}' },
  { name: 'cleanup', kind: 'bool', dflt: 'false', help: 'one-shot: remove everything the agent made on this node and release its subnet, then exit' },
  { name: 'install-cni', kind: 'string', dflt: '', help: 'one-shot: install the executable from this directory into --cni-bin-dir under our own names (cni-ts, cni-ts-bridge, cni-ts-host-local, cni-ts-portmap; loopback only where there is none), then exit' },
  { name: 'install-cni-replace', kind: 'bool', dflt: 'false', help: 'with --install-cni: also replace the node\'s bridge, host-local, portmap and loopback with ours' },
  { name: 'version', kind: 'bool', dflt: 'false', help: 'print the version and exit' },
  { name: 'help', kind: 'bool', dflt: 'false', help: 'print this help and exit' },
];

export const envName = (flag: string): string => `CNI_TS_AGENT_${flag.toUpperCase().replaceAll('-', '_')}`;

export function usage(): string {
  const lines = ['usage: cni-ts-agent [flags]', '', 'Every flag can also be set as the environment variable CNI_TS_AGENT_<FLAG> or in the --config file.', ''];
  for (const f of FLAGS) {
    const arg = f.kind === 'bool' ? '' : f.kind === 'int' ? ' N' : ' VALUE';
    const dflt = f.dflt && f.kind !== 'bool' ? ` (default ${f.dflt})` : f.kind === 'bool' && f.dflt === 'true' ? ` (default true; --${f.name}=false turns it off)` : '';
    lines.push(`  --${f.name}${arg}`, `      ${f.help}${dflt}`);
  }
  return lines.join('\n') + '\n';
}

/** Parse argv into raw flag values (`--flag value`, `--flag=value`, bare `--bool`). */
export function parseArgv(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new AgentConfigError(`unexpected argument ${JSON.stringify(a)} (flags start with --; see --help)`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const spec = FLAGS.find((f) => f.name === name);
    if (!spec) throw new AgentConfigError(`unknown flag --${name} (see --help)`);
    if (eq > 0) out.set(name, a.slice(eq + 1));
    else if (spec.kind === 'bool') out.set(name, 'true');
    else {
      const v = argv[++i];
      if (v === undefined) throw new AgentConfigError(`flag --${name} needs a value`);
      out.set(name, v);
    }
  }
  return out;
}

/** Raw values from a config file's JSON object (keys are flag names). */
export function fileValues(json: unknown, path: string): Map<string, string> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new AgentConfigError(`config file ${path}: must hold a JSON object`);
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(json)) {
    const spec = FLAGS.find((f) => f.name === k);
    if (!spec || k === 'config') throw new AgentConfigError(`config file ${path}: unknown key ${JSON.stringify(k)}`);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out.set(k, v.join(','));
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.set(k, String(v));
    else throw new AgentConfigError(`config file ${path}: "${k}" must be a string, number or boolean, got ${JSON.stringify(v)}`);
  }
  return out;
}

const splitList = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean);

interface Sources {
  argv: Map<string, string>;
  env: NodeJS.ProcessEnv;
  file: Map<string, string>;
}

function rawValue(src: Sources, name: string): { value: string; from: string } {
  if (src.argv.has(name)) return { value: src.argv.get(name)!, from: `--${name}` };
  const e = src.env[envName(name)];
  if (e !== undefined && e !== '') return { value: e, from: envName(name) };
  if (src.file.has(name)) return { value: src.file.get(name)!, from: `config file key "${name}"` };
  return { value: FLAGS.find((f) => f.name === name)!.dflt, from: `--${name}` };
}

function int(src: Sources, name: string, min: number, max: number): number {
  const { value, from } = rawValue(src, name);
  if (!/^\d+$/.test(value)) throw new AgentConfigError(`${from}: ${JSON.stringify(value)} is not a whole number`);
  const n = Number(value);
  if (n < min || n > max) throw new AgentConfigError(`${from}: ${n} is out of range ${min}–${max}`);
  return n;
}

function bool(src: Sources, name: string): boolean {
  const { value, from } = rawValue(src, name);
  if (!['true', 'false', '1', '0'].includes(value)) throw new AgentConfigError(`${from}: ${JSON.stringify(value)} is not true or false`);
  return value === 'true' || value === '1';
}

function oneOf<T extends string>(src: Sources, name: string, allowed: readonly T[]): T {
  const { value, from } = rawValue(src, name);
  if (!allowed.includes(value as T)) throw new AgentConfigError(`${from}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  return value as T;
}

/** Cluster CIDRs: valid, network addresses, at most one per family, subnet lengths that fit. */
export function validateClusterCIDRs(raw: string, from: string, subnetLen: number, subnetLenV6: number): string[] {
  const list = splitList(raw);
  if (list.length === 0) throw new AgentConfigError(`${from} is required (the pod network of the whole cluster, e.g. 10.244.0.0/16)`);
  const seen = new Map<Family, CIDR>();
  const out: string[] = [];
  for (const s of list) {
    const c = parseCIDR(s);
    if (!c) throw new AgentConfigError(`${from}: ${JSON.stringify(s)} is not a CIDR`);
    const net = networkOf(c);
    if (net.ip.value !== c.ip.value) throw new AgentConfigError(`${from}: ${s} has host bits set (did you mean ${formatCIDR(net)}?)`);
    const fam = c.ip.family;
    const prev = seen.get(fam);
    if (prev) {
      const why = overlaps(prev, c) ? 'overlaps' : 'is a second IPv' + fam + ' range besides';
      throw new AgentConfigError(`${from}: ${s} ${why} ${formatCIDR(prev)} (give one CIDR per family)`);
    }
    const len = fam === 4 ? subnetLen : subnetLenV6;
    const lenFlag = fam === 4 ? '--subnet-len' : '--subnet-len-v6';
    const maxLen = fam === 4 ? 30 : 126;
    if (len <= c.prefix) throw new AgentConfigError(`${lenFlag} ${len} must be longer than the prefix of ${s} (/${c.prefix})`);
    if (len > maxLen) throw new AgentConfigError(`${lenFlag} ${len} leaves no room for pods (at most /${maxLen})`);
    seen.set(fam, c);
    out.push(formatCIDR(net));
  }
  return out;
}

/** Public IPs: valid unicast addresses, at most one per family, none inside the cluster CIDRs. */
export function validatePublicIPs(raw: string, from: string, clusterCIDRs: readonly string[]): string[] {
  const out: string[] = [];
  const fams = new Set<Family>();
  for (const s of splitList(raw)) {
    const ip = parseIP(s);
    if (!ip) throw new AgentConfigError(`${from}: ${JSON.stringify(s)} is not an IP address`);
    if (fams.has(ip.family)) throw new AgentConfigError(`${from}: more than one IPv${ip.family} address`);
    fams.add(ip.family);
    for (const c of clusterCIDRs) {
      const net = parseCIDR(c)!;
      if (overlaps(net, { ip, prefix: ip.family === 4 ? 32 : 128 })) throw new AgentConfigError(`${from}: ${s} lies inside the cluster CIDR ${c} (the underlay and the pod network must not overlap)`);
    }
    out.push(s);
  }
  return out;
}

/** A comma-separated list of CIDRs (any family), each a network address; normalized. */
export function validateCIDRList(raw: string, from: string): string[] {
  return splitList(raw).map((s) => {
    const c = parseCIDR(s);
    if (!c) throw new AgentConfigError(`${from}: ${JSON.stringify(s)} is not a CIDR`);
    const net = networkOf(c);
    if (net.ip.value !== c.ip.value) throw new AgentConfigError(`${from}: ${s} has host bits set (did you mean ${formatCIDR(net)}?)`);
    return formatCIDR(net);
  });
}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, hostname: () => string, readFile = (p: string) => readFileSync(p, 'utf8')): AgentConfig {
  const args = parseArgv(argv);
  const pre: Sources = { argv: args, env, file: new Map() };
  const cfgPath = rawValue(pre, 'config').value;
  let file = new Map<string, string>();
  if (cfgPath) {
    let text: string;
    try {
      text = readFile(cfgPath);
    } catch (e) {
      throw new AgentConfigError(`cannot read config file ${cfgPath}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new AgentConfigError(`config file ${cfgPath} is not valid JSON: ${(e as Error).message}`);
    }
    file = fileValues(json, cfgPath);
  }
  const src: Sources = { argv: args, env, file };
  const str = (name: string): string => rawValue(src, name).value.trim();

  let mode: Mode = 'daemon';
  if (bool(src, 'help')) mode = 'help';
  else if (bool(src, 'version')) mode = 'version';
  else if (str('install-cni')) mode = 'install-cni';
  else if (bool(src, 'cleanup')) mode = 'cleanup';

  const nodeName = str('node-name') || (env.NODE_NAME ?? '').trim() || hostname();
  const subnetLen = int(src, 'subnet-len', 1, 32);
  const subnetLenV6 = int(src, 'subnet-len-v6', 1, 128);
  const needsNetwork = mode === 'daemon' || mode === 'cleanup';
  const clusterCIDRs = needsNetwork ? validateClusterCIDRs(str('cluster-cidr'), rawValue(src, 'cluster-cidr').from, subnetLen, subnetLenV6) : splitList(str('cluster-cidr'));
  const publicIPs = validatePublicIPs(str('public-ip'), rawValue(src, 'public-ip').from, needsNetwork ? clusterCIDRs : []);
  const store = oneOf(src, 'store', ['etcd', 'kubernetes'] as const);
  const etcdEndpoints = splitList(str('etcd-endpoints'));
  for (const e of etcdEndpoints) {
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      throw new AgentConfigError(`${rawValue(src, 'etcd-endpoints').from}: ${JSON.stringify(e)} is not a URL (e.g. http://10.0.0.1:2379)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new AgentConfigError(`${rawValue(src, 'etcd-endpoints').from}: ${e} must be http:// or https://`);
  }
  if (store === 'etcd' && needsNetwork && etcdEndpoints.length === 0) throw new AgentConfigError('--etcd-endpoints is required with --store etcd');
  const etcdPrefix = str('etcd-prefix').replace(/\/+$/, '');
  if (!etcdPrefix.startsWith('/')) throw new AgentConfigError(`${rawValue(src, 'etcd-prefix').from}: ${JSON.stringify(etcdPrefix)} must start with /`);
  if (needsNetwork && !NAME_RE.test(nodeName)) throw new AgentConfigError(`node name ${JSON.stringify(nodeName)} is not a valid node name (lower-case letters, digits, '-' and '.')`);
  const bridge = str('bridge');
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new AgentConfigError(`--bridge ${JSON.stringify(bridge)} is not a valid interface name (1–15 characters)`);
  const confName = str('conf-name');
  if (!/^[A-Za-z0-9_.-]+\.conflist$/.test(confName)) throw new AgentConfigError(`--conf-name ${JSON.stringify(confName)} must be a plain file name ending in .conflist`);
  const etcdTLS = { ca: str('etcd-cafile'), cert: str('etcd-certfile'), key: str('etcd-keyfile') };
  if (!!etcdTLS.cert !== !!etcdTLS.key) throw new AgentConfigError(`${etcdTLS.cert ? '--etcd-certfile' : '--etcd-keyfile'} needs ${etcdTLS.cert ? '--etcd-keyfile' : '--etcd-certfile'} too (a client certificate and its private key)`);
  if (store === 'etcd' && needsNetwork && (etcdTLS.ca || etcdTLS.cert) && !etcdEndpoints.some((e) => e.startsWith('https:'))) {
    throw new AgentConfigError(`${etcdTLS.ca ? '--etcd-cafile' : '--etcd-certfile'} is given but no --etcd-endpoints URL is https:// (${etcdEndpoints.join(',')})`);
  }
  const etcdUsername = str('etcd-username');
  const etcdPassword = rawValue(src, 'etcd-password').value; // not trimmed: a password may have spaces
  if (!!etcdUsername !== !!etcdPassword) throw new AgentConfigError(etcdUsername ? '--etcd-username needs --etcd-password' : '--etcd-password needs --etcd-username');
  const noMasqCIDRs = validateCIDRList(str('no-masquerade-cidr'), rawValue(src, 'no-masquerade-cidr').from);
  const mtu = int(src, 'mtu', 0, 65535);
  if (mtu !== 0 && mtu < 576) throw new AgentConfigError(`${rawValue(src, 'mtu').from}: ${mtu} is too small (at least 576, 1280 with IPv6; 0 = from the underlay)`);
  if (mtu !== 0 && mtu < 1280 && clusterCIDRs.some((c) => c.includes(':'))) throw new AgentConfigError(`${rawValue(src, 'mtu').from}: ${mtu} is below IPv6's minimum of 1280 (the cluster CIDR has IPv6)`);
  const subnetFile = str('subnet-file');
  if (subnetFile && !subnetFile.startsWith('/')) throw new AgentConfigError(`--subnet-file ${JSON.stringify(subnetFile)} must be an absolute path (or empty: not written)`);
  const ifaceRegex = str('iface-regex');
  if (ifaceRegex) {
    try {
      new RegExp(ifaceRegex);
    } catch (e) {
      throw new AgentConfigError(`${rawValue(src, 'iface-regex').from}: ${JSON.stringify(ifaceRegex)} is not a regular expression (${(e as Error).message})`);
    }
  }
  const ifaceCanReach = str('iface-can-reach');
  if (ifaceCanReach && !parseIP(ifaceCanReach)) throw new AgentConfigError(`${rawValue(src, 'iface-can-reach').from}: ${JSON.stringify(ifaceCanReach)} is not an IP address`);
  const nodeIPs = validatePublicIPs(str('node-ips'), rawValue(src, 'node-ips').from, needsNetwork ? clusterCIDRs : []);
  const healthzAddr = str('healthz-addr');
  if (healthzAddr && !/^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):\d{1,5}$/.test(healthzAddr)) throw new AgentConfigError(`--healthz-addr ${JSON.stringify(healthzAddr)} must be host:port, e.g. 127.0.0.1:9876`);

  return {
    mode,
    nodeName,
    publicIPs,
    iface: str('iface'),
    clusterCIDRs,
    subnetLen,
    subnetLenV6,
    backend: oneOf(src, 'backend', ['vxlan', 'host-gw'] as const),
    vxlanVNI: int(src, 'vxlan-vni', 0, 16777215),
    vxlanPort: int(src, 'vxlan-port', 1, 65535),
    store,
    etcdEndpoints,
    etcdPrefix,
    etcdCAFile: etcdTLS.ca,
    etcdCertFile: etcdTLS.cert,
    etcdKeyFile: etcdTLS.key,
    etcdUsername,
    etcdPassword,
    leaseTTL: int(src, 'lease-ttl', 2, 86400 * 7),
    confDir: str('conf-dir'),
    confName,
    networkName: str('network-name'),
    bridge,
    cniBinDir: str('cni-bin-dir'),
    stateDir: str('state-dir'),
    ipamDataDir: str('ipam-data-dir'),
    resyncInterval: int(src, 'resync-interval', 1, 86400),
    healthzAddr,
    // With a kubeconfig, its server is used unless --kube-api-server overrides it (not the in-cluster address).
    kubeAPIServer: str('kube-api-server') || (str('kubeconfig-file') ? '' : inClusterServer(env)),
    kubeTokenFile: str('kube-token-file'),
    kubeCAFile: str('kube-ca-file'),
    kubeconfigFile: str('kubeconfig-file'),
    ipMasq: bool(src, 'ip-masq'),
    noMasqCIDRs,
    masqFullyRandom: bool(src, 'masq-fully-random'),
    mtu,
    subnetFile,
    installFrom: str('install-cni'),
    runDir: str('run-dir'),
    iptablesForwardRules: bool(src, 'iptables-forward-rules'),
    ifaceRegex,
    ifaceCanReach,
    nodeIPs,
    watchIdleTimeout: int(src, 'watch-idle-timeout', 2, 86400),
    installReplace: bool(src, 'install-cni-replace'),
  };
}

/** https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, as client-go's InClusterConfig. */
export function inClusterServer(env: NodeJS.ProcessEnv): string {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return '';
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The VXLAN device's name: flannel calls it flannel.<vni>; ours is cni-ts.<vni>. */
export const vxlanDevice = (vni: number): string => `cni-ts.${vni}`;

/** The settings every node of a cluster must share (stored once in etcd; a node that differs refuses to start). */
export interface ClusterSettings {
  /** Cluster CIDRs, at most one per family, normalized (e.g. "10.244.0.0/16"). */
  clusterCIDRs: string[];
  subnetLen: number;
  subnetLenV6: number;
  backend: Backend;
  vxlanVNI: number;
  vxlanPort: number;
}

export const clusterSettings = (c: AgentConfig): ClusterSettings => ({
  clusterCIDRs: c.clusterCIDRs,
  subnetLen: c.subnetLen,
  subnetLenV6: c.subnetLenV6,
  backend: c.backend,
  vxlanVNI: c.vxlanVNI,
  vxlanPort: c.vxlanPort,
});

const SETTING_FLAGS: Record<keyof ClusterSettings, string> = {
  clusterCIDRs: '--cluster-cidr',
  subnetLen: '--subnet-len',
  subnetLenV6: '--subnet-len-v6',
  backend: '--backend',
  vxlanVNI: '--vxlan-vni',
  vxlanPort: '--vxlan-port',
};

/** Human-readable differences between the cluster's stored settings and this node's ("--backend: cluster has vxlan, this node host-gw"). */
export function settingsDiff(stored: ClusterSettings, mine: ClusterSettings): string[] {
  const out: string[] = [];
  for (const key of Object.keys(SETTING_FLAGS) as Array<keyof ClusterSettings>) {
    const a = JSON.stringify(stored[key]);
    const b = JSON.stringify(mine[key]);
    if (a !== b) out.push(`${SETTING_FLAGS[key]}: the cluster has ${fmt(stored[key])}, this node ${fmt(mine[key])}`);
  }
  return out;
}

const fmt = (v: unknown): string => (Array.isArray(v) ? v.join(',') : String(v));
