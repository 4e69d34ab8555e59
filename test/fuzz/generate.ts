/**
 * Cases: what one fuzz input is (a sandbox setup and a sequence of invocations, as a runtime would make them), and
 * their seeded generation — case `index` of target `t` in a run seeded `seed` is always the same case, whatever else
 * the run does. Case 0 of every plugin is its first valid config, unmutated. Pure.
 */
import { Rng } from './rng.js';
import { mutate, stdinOf, type Env } from './mutate.js';
import { CONTAINER, NETNS, chainedPrevResult, type CommandTarget, type PluginTarget, type Target } from './targets.js';
import { HOSTILE_CIDRS, HOSTILE_STRINGS } from './values.js';

export interface Step {
  /** For the report: ADD, DEL, CHECK, …, `shell`, or the command's argv. */
  label: string;
  kind: 'plugin' | 'command' | 'shell';
  /** plugin: its environment (CNI_*; `@BIN@` stands for the directory under test); command: extra variables */
  env?: Env;
  stdin?: string;
  /** stdin holds bytes (one char per byte), not text */
  stdinBytes?: boolean;
  /** command: the arguments */
  argv?: string[];
  /** shell: the script (run in the sandbox's host netns) */
  script?: string;
  /** Put a successful ADD's result into stdin's prevResult (a runtime does so for CHECK and DEL from 0.4.0 on). */
  prevFromAdd?: boolean;
  /** Run before the state is first recorded (state for the case to act on). */
  prepare?: boolean;
  /** When to compare the state with the state before the case: after this step always, only when it failed, never. */
  leakCheck: 'always' | 'on-failure' | 'never';
  /** command: what a correct program does with it (refuse: a non-zero exit is required). */
  expect?: 'refuse' | 'any';
  /** A repeat of the previous step (DEL again): it must succeed when that one did (DEL is idempotent). */
  repeat?: boolean;
}

export interface Case {
  target: string;
  seed: number;
  index: number;
  /** The mutations applied, one line each (empty: the valid base input). */
  mutations: string[];
  /** Shell run on the sandbox's host before anything else. */
  setup: string;
  steps: Step[];
}

export function generateCase(t: Target, seed: number, index: number): Case {
  return t.kind === 'plugin' ? pluginCase(t, seed, index) : commandCase(t, seed, index);
}

const PREV_FROM = new Set(['0.4.0', '1.0.0', '1.1.0']);

function pluginCase(t: PluginTarget, seed: number, index: number): Case {
  const rng = Rng.forCase(seed, t.name, index);
  const version = index === 0 ? t.versions[t.versions.length - 1]! : rng.pick(t.versions);
  const conf = (index === 0 ? t.configs[0]! : rng.pick(t.configs))(version);
  if (t.chained) conf.prevResult = chainedPrevResult(version);
  const env: Env = { CNI_CONTAINERID: `fz${rng.hex(4)}`, CNI_NETNS: NETNS, CNI_IFNAME: 'eth0', CNI_PATH: '@BIN@' };
  const n = index === 0 ? 0 : rng.int(1, 3);
  const { doc, mutations } = mutate({ conf, env }, n, rng, { self: t.name, delegates: t.delegates ?? false, chained: t.chained ?? false });
  const { stdin, bytes } = stdinOf(doc);
  const step = (command: string, leakCheck: Step['leakCheck'], extra: Partial<Step> = {}): Step => ({
    label: command || '(empty CNI_COMMAND)',
    kind: 'plugin',
    env: { ...doc.env, CNI_COMMAND: command },
    stdin,
    ...(bytes ? { stdinBytes: true } : {}),
    leakCheck,
    ...extra,
  });
  const mode = index === 0 ? 'lifecycle' : rng.weighted([[6, 'lifecycle'], [2, 'del'], [1, 'netns-gone'], [2, 'other']] as const);
  const steps: Step[] = [];
  if (mode === 'lifecycle') {
    steps.push(step('ADD', 'on-failure'));
    if (index === 0 || rng.chance(0.25)) steps.push(step('CHECK', 'never', { prevFromAdd: true }));
    steps.push(step('DEL', 'always', { prevFromAdd: true }));
    if (index === 0 || rng.chance(0.3)) steps.push(step('DEL', 'always', { prevFromAdd: true, repeat: true, label: 'DEL again' }));
  } else if (mode === 'del') {
    steps.push(step('DEL', 'always'));
  } else if (mode === 'netns-gone') {
    steps.push(step('ADD', 'on-failure'));
    steps.push({ label: 'container netns deleted', kind: 'shell', script: `ip netns del ${CONTAINER}`, leakCheck: 'never' });
    const del = step('DEL', 'always', { prevFromAdd: true });
    if (rng.chance(0.5)) del.env = { ...del.env, CNI_NETNS: '' };
    steps.push(del);
  } else {
    steps.push(step(rng.pick(['VERSION', 'STATUS', 'GC', 'CHECK', 'add', 'DELETE', '']), 'always'));
  }
  return { target: t.name, seed, index, mutations, setup: t.setup ?? '', steps };
}

/** Whether a runtime passes prevResult in this config's version (libcni: 0.4.0 and later). */
export const passesPrevResult = (cniVersion: unknown): boolean => typeof cniVersion === 'string' && PREV_FROM.has(cniVersion);

// ---------- commands ----------

function commandCase(t: CommandTarget, seed: number, index: number): Case {
  const rng = Rng.forCase(seed, t.name, index);
  const prepare: Step[] = (t.prepare ?? []).map((argv) => ({ label: argv.join(' '), kind: 'command', argv, prepare: true, leakCheck: 'never', expect: 'any' }));
  const g = t.name === 'cnictl' ? cnictlArgs(rng) : agentArgs(rng, index);
  const step: Step = { label: g.argv.join(' ').slice(0, 200), kind: 'command', argv: g.argv, leakCheck: g.expect === 'refuse' ? 'always' : 'on-failure', expect: g.expect };
  if (g.env) step.env = g.env;
  return { target: t.name, seed, index, mutations: g.mutations, setup: t.setup ?? '', steps: [...prepare, step] };
}

interface Generated {
  argv: string[];
  env?: Env;
  mutations: string[];
  expect: 'refuse' | 'any';
}

const hostile = (rng: Rng): string => rng.pick(HOSTILE_STRINGS);

function cnictlArgs(rng: Rng): Generated {
  const net = (): string => rng.weighted([[4, () => 'fznet'], [1, () => 'bridge'], [1, () => rng.pick(['host', 'none', 'nosuch', 'container:nosuch'])], [2, () => hostile(rng)]] as const)();
  const cidr = (): string => rng.weighted([[3, () => rng.pick(HOSTILE_CIDRS)], [2, () => rng.pick(['10.91.0.0/24', 'fd91::/64', '10.90.0.0/24'])]] as const)();
  const ip = (): string => rng.pick(['10.90.0.50', '10.90.0.0', '10.90.0.255', '10.91.0.5', 'fd91::5', '1.2.3', '::', '', 'x', '10.90.0.1']);
  const port = (): string =>
    rng.pick(['80', '8080:80', '8080:80/udp', '8080:80/sctp', '8080:80/icmp', '0:80', '65536:80', '1-65535:80', '8080-8081:80-82', '127.0.0.1::80', '[::1]:8080:80', '10.90.0.1:8080:80', ':', '', 'x', '-1', '8080:', ':80']);
  const name = (): string => rng.weighted([[3, () => `fz${rng.hex(2)}`], [2, () => hostile(rng)]] as const)();
  const opt = (): string[] =>
    rng.pick<() => string[]>([
      () => ['-d', rng.pick(['bridge', 'macvlan', 'ipvlan', 'overlay', hostile(rng)])],
      () => ['--subnet', cidr()],
      () => ['--gateway', ip()],
      () => ['--ip-range', cidr()],
      () => ['--ipv6'],
      () => ['--internal'],
      () => ['-o', `${rng.pick(['com.docker.network.bridge.name', 'mtu', 'com.docker.network.driver.mtu', 'parent', 'macvlan_mode', 'ipvlan_mode', 'com.docker.network.bridge.enable_ip_masquerade', 'nosuch'])}=${rng.pick(['fzm0', '1400', '0', '99999', 'bridge', 'l3s', 'false', hostile(rng)])}`],
    ])();
  const runOpt = (): string[] =>
    rng.pick<() => string[]>([
      () => ['-d'],
      () => ['--rm'],
      () => ['--name', name()],
      () => ['--network', net()],
      () => ['-p', port()],
      () => ['--ip', ip()],
      () => ['-h', name()],
      () => ['--dns', ip()],
      () => ['--dns-search', name()],
      () => ['--add-host', rng.pick(['h:10.0.0.1', 'h:host-gateway', 'h', ':', `h:${ip()}`])],
      () => ['--mac-address', rng.pick(['02:00:00:00:00:01', 'zz', '', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01'])],
      () => ['--network', endpoint()],
      () => ['--network-alias', name()],
    ])();
  // Docker's advanced --network value: name=…,alias=…,ip=…,ip6=…,mac-address=… (and keys cnictl refuses)
  const endpoint = (): string =>
    [
      ...(rng.chance(0.9) ? [`name=${net()}`] : []),
      ...Array.from({ length: rng.int(0, 3) }, () =>
        rng.pick([`alias=${name()}`, `ip=${ip()}`, `ip6=${ip()}`, `mac-address=${rng.pick(['02:00:00:00:00:02', 'zz', '01:00:5e:00:00:01'])}`, 'driver-opt=x=y', 'nosuch=1', 'alias', `name=${net()}`]),
      ),
    ].join(',');
  const logTime = (): string => rng.pick(['10m', '1h30m', '0', '1765094400.5', '2026-12-07T08:00:00Z', '2026-12-07T09:00:00.5+01:00', '2026-13-01', 'yesterday', '-5m', '']);
  const many = (n: number, f: () => string[]): string[] => Array.from({ length: n }, f).flat();
  const base = rng.weighted<() => string[]>([
    [4, () => ['network', 'create', ...many(rng.int(0, 4), opt), name()]],
    [3, () => ['run', ...many(rng.int(0, 4), runOpt), '--', 'true']],
    [1, () => ['network', rng.pick(['rm', 'inspect']), net()]],
    [1, () => ['network', rng.pick(['connect', 'disconnect']), ...(rng.chance(0.5) ? ['--ip', ip()] : []), net(), name()]],
    [1, () => ['network', rng.pick(['ls', 'prune']), ...(rng.chance(0.5) ? [rng.pick(['--json', '-f', '--format', '--format=x'])] : [])]],
    [2, () => [rng.pick(['add', 'check', 'del']), net(), rng.pick([NETNS, '/nonexistent', '', '/proc/self/ns/net', hostile(rng)])]],
    [1, () => [rng.pick(['gc', 'status']), net()]],
    [1, () => [rng.pick(['ps', 'port', 'stop', 'rm', 'logs', 'exec']), ...(rng.chance(0.7) ? [name()] : []), ...(rng.chance(0.3) ? ['--', 'true'] : [])]],
    [1, () => ['logs', ...many(rng.int(1, 3), () => [rng.pick(['--since', '--until', '--tail']), logTime()]), name()]],
    [1, () => ['system', 'prune', ...(rng.chance(0.5) ? ['-f'] : [])]],
    [1, () => [hostile(rng), hostile(rng)]],
  ])();
  const mutations = [`cnictl ${base.join(' ').slice(0, 160)}`];
  let argv = base;
  if (rng.chance(0.25) && argv.length > 1) {
    const i = rng.int(0, argv.length - 1);
    const v = hostile(rng);
    argv = argv.map((a, j) => (j === i ? v : a));
    mutations.push(`argument ${i} = ${JSON.stringify(v.slice(0, 40))}`);
  }
  if (rng.chance(0.1) && argv.length > 1) {
    argv = argv.slice(0, -1);
    mutations.push('last argument dropped');
  }
  return { argv, mutations, expect: 'any' };
}

/** Agent flags that are refused whatever else is given (each checked on its own). */
const AGENT_REFUSED: readonly string[][] = [
  ['--backend', 'bogus'],
  ['--store', 'zookeeper'],
  ['--subnet-len', '99'],
  ['--subnet-len-v6', '0'],
  ['--vxlan-port', '70000'],
  ['--vxlan-vni', '-1'],
  ['--lease-ttl', '1'],
  ['--conf-name', 'x/y.conflist'],
  ['--bridge', '0123456789abcdefg'],
  ['--healthz-addr', 'nope'],
  ['--etcd-prefix', 'noslash'],
  ['--etcd-endpoints', 'ftp://x'],
  ['--no-such-flag'],
  ['--cluster-cidr', '10.244.0.1/16'],
  ['--config', '/nonexistent/agent.json'],
  ['--resync-interval', '0'],
];

/** Every agent flag with values to try (valid and not). */
const AGENT_FLAGS: Record<string, readonly string[]> = {
  '--node-name': ['node-1', '', 'Node_1', 'x'.repeat(300), '-'],
  '--public-ip': ['192.0.2.10', '10.244.0.5', 'x', '192.0.2.10,192.0.2.11', 'fd00::1'],
  '--iface': ['fzm0', 'nosuch', '', 'x'.repeat(16)],
  '--cluster-cidr': ['10.244.0.0/16', '10.244.0.0/16,fd44::/56', '10.0.0.0/33', '', 'x', '10.244.0.0/16,10.245.0.0/16'],
  '--subnet-len': ['24', '8', '31', 'x', ''],
  '--backend': ['vxlan', 'host-gw', ''],
  '--vxlan-vni': ['1', '16777216', 'x'],
  '--vxlan-port': ['8472', '0', 'x'],
  '--store': ['etcd', 'kubernetes', ''],
  '--etcd-endpoints': ['http://127.0.0.1:1', 'http://[::1]:1', 'x', ''],
  '--lease-ttl': ['300', '0', 'x'],
  '--conf-dir': ['/etc/cni/net.d', '', '/nonexistent'],
  '--network-name': ['cni-ts', '', '../x'],
  '--bridge': ['cni-ts0', '', 'a b'],
  '--state-dir': ['/run/cni-ts-agent', ''],
  '--healthz-addr': ['127.0.0.1:0', '[::1]:1', ':', ''],
  '--kube-api-server': ['https://127.0.0.1:1', 'x', ''],
};

function agentArgs(rng: Rng, index: number): Generated {
  if (index % 10 === 0) {
    const argv = rng.pick([['--help'], ['-h'], ['--version'], ['help']]);
    return { argv, mutations: [`cni-ts-agent ${argv.join(' ')}`], expect: argv[0] === 'help' ? 'refuse' : 'any' };
  }
  const refused = rng.pick(AGENT_REFUSED);
  const flags = new Map<string, string[]>();
  // never reach anything real: a closed local port for the stores (a refused run must not get that far anyway)
  if (refused[0] !== '--etcd-endpoints') flags.set('--etcd-endpoints', ['--etcd-endpoints', 'http://127.0.0.1:1']);
  if (refused[0] !== '--cluster-cidr' && rng.chance(0.7)) flags.set('--cluster-cidr', ['--cluster-cidr', '10.244.0.0/16']);
  for (let i = rng.int(0, 4); i > 0; i--) {
    const f = rng.pick(Object.keys(AGENT_FLAGS));
    if (f === refused[0]) continue;
    flags.set(f, [f, rng.chance(0.2) ? hostile(rng) : rng.pick(AGENT_FLAGS[f]!)]);
  }
  const list = [...flags.values()];
  list.splice(rng.int(0, list.length), 0, refused);
  const argv = list.flat();
  const env: Env = {};
  if (rng.chance(0.2)) env[rng.pick(['CNI_TS_AGENT_BACKEND', 'CNI_TS_AGENT_SUBNET_LEN', 'CNI_TS_AGENT_NODE_NAME', 'CNI_TS_AGENT_CLUSTER_CIDR'])] = hostile(rng);
  const mutations = [`cni-ts-agent ${argv.join(' ').slice(0, 160)}`, ...Object.entries(env).map(([k, v]) => `${k}=${JSON.stringify(v)}`)];
  return { argv, env, mutations, expect: 'refuse' };
}
