/** `cnictl network create|ls|inspect|rm|prune|connect|disconnect`: Docker's network verbs over conflists. */
import { statSync } from 'node:fs';
import { NAME_PATTERN } from '../../lib/cni/config.js';
import { formatIP } from '../../lib/ip.js';
import { Netns } from '../../lib/netns.js';
import { buildConflist, bridgeNameFor, DRIVERS, parseDriverOptions, planSubnets, type Driver } from '../network/create.js';
import { bridgeUser } from '../network/bridges.js';
import { DEFAULT_NETWORK, describe, networkId, PSEUDO, type NetworkInfo } from '../network/model.js';
import type { BridgeRecord } from '../network/records.js';
import { NetworkStore, type Attached } from '../network/store.js';
import { reapDead } from '../sandbox/reap.js';
import { StateStore, type SandboxState } from '../sandbox/state.js';
import { resolveNetworkName } from '../network/resolve.js';
import { bool, JSON_FLAGS, list, parseArgs, str, wantsJson, type FlagSpec } from '../util/args.js';
import { UserError, usageError } from '../util/errors.js';
import { formatEach, formatList } from '../util/format.js';
import { err, json, out, table } from '../util/output.js';
import { asMap } from '../util/template.js';
import { pathsFrom } from '../util/paths.js';
import { requireRoot } from '../util/root.js';

const USAGE = `Usage: cnictl network COMMAND

  create [-d bridge|macvlan|ipvlan] [--subnet CIDR]... [--gateway IP]... [--ip-range CIDR]... [--ipv6] [--internal]
         [-o KEY=VALUE]... NAME
         options: com.docker.network.bridge.name=BR, com.docker.network.driver.mtu=N (or mtu=N),
                  com.docker.network.bridge.enable_ip_masquerade=false, parent=IF, macvlan_mode=M, ipvlan_mode=M
  ls [-q] [--json] [--format F]     networks (conflists in NETCONFPATH), with the pseudo networks host and none
  inspect [-f FORMAT] NETWORK...    config, bridge and attached sandboxes (JSON, or a Go template with -f)
  rm NETWORK...                     remove networks cnictl created (refused while anything is attached)
  prune [-f]                        remove every unused network cnictl created
  connect [--ip IP] [--alias NAME]... NETWORK SANDBOX   attach a running sandbox (eth1, eth2, ...)
  disconnect [-f] NETWORK SANDBOX   detach it

NETWORK is a name, an ID (as "network ls" prints it) or a unique prefix of one.`;

export async function networkCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  const ctx = { env, paths: pathsFrom(env) };
  if (rest.includes('--help') || (sub !== 'create' && rest.includes('-h'))) return out(USAGE), 0;
  switch (sub) {
    case 'create':
      return create(rest, ctx);
    case 'ls':
    case 'list':
      return ls(rest, ctx);
    case 'inspect':
      return inspect(rest, ctx);
    case 'rm':
    case 'remove':
      return rm(rest, ctx);
    case 'prune':
      return prune(rest, ctx);
    case 'connect':
    case 'disconnect': {
      const { connectCommand } = await import('./connect.js');
      return connectCommand(sub, rest, env);
    }
    case undefined: // bare `cnictl network` shows its usage, as `docker network` does (exit 0)
    case '-h':
    case '--help':
      out(USAGE);
      return 0;
    default:
      throw usageError(`unknown network command "${sub}"\n${USAGE}`);
  }
}

interface Ctx {
  env: NodeJS.ProcessEnv;
  paths: ReturnType<typeof pathsFrom>;
}

const CREATE_FLAGS: FlagSpec[] = [
  { name: 'driver', short: 'd', value: true },
  { name: 'subnet', value: true, multi: true },
  { name: 'gateway', value: true, multi: true },
  { name: 'ip-range', value: true, multi: true },
  { name: 'ipv6' },
  { name: 'internal' },
  { name: 'opt', short: 'o', value: true, multi: true },
  { name: 'help', short: 'h' },
];

async function create(argv: string[], ctx: Ctx): Promise<number> {
  const p = parseArgs(argv, CREATE_FLAGS);
  if (bool(p, 'help')) return out(USAGE), 0;
  if (p.positional.length !== 1) throw usageError(`"cnictl network create" needs exactly one NAME\n${USAGE}`);
  const name = p.positional[0]!;
  requireRoot('network create');
  if (!NAME_PATTERN.test(name)) throw new UserError(`invalid network name ${JSON.stringify(name)}: use letters, digits, _ . - (starting with a letter or digit)`);
  const driver = (str(p, 'driver') ?? 'bridge') as Driver;
  if (!DRIVERS.includes(driver)) throw new UserError(`unknown --driver ${JSON.stringify(driver)}: one of ${DRIVERS.join(', ')}`);
  if ((PSEUDO as readonly string[]).includes(name) || name === DEFAULT_NETWORK) throw new UserError(`network with name ${name} already exists (it is pre-defined): choose another name`);
  const options = parseDriverOptions(driver, list(p, 'opt'));
  const store = new NetworkStore(ctx.paths, ctx.env);
  if (options.parent && Netns.host().ip(['link', 'show', 'dev', options.parent]).status !== 0) {
    throw new UserError(`parent interface ${options.parent} does not exist: give an existing interface with -o parent=IF`);
  }
  const extras = store.extrasOnPath();
  const types = [driver, 'host-local', 'portmap', ...extras];
  const cniVersion = store.chooseVersion(types);
  const id = networkId(name);
  return store.records.locked(() => {
    const { lists } = store.load();
    const existing = lists.find((l) => l.name === name);
    if (existing) throw new UserError(`network with name ${name} already exists (${existing.file}): choose another name or remove it first`);
    const ranges = planSubnets(
      { name, subnets: list(p, 'subnet'), gateways: list(p, 'gateway'), ipRanges: list(p, 'ip-range'), ipv6: bool(p, 'ipv6') },
      store.networksTaken(),
      list(p, 'subnet').some((s) => !s.includes(':')) ? [] : store.routesTaken(),
    );
    const bridgeName = options.bridgeName ?? bridgeNameFor(id);
    let bridge: BridgeRecord | undefined;
    if (driver === 'bridge') {
      const user = bridgeUser(bridgeName, lists.map(describe));
      if (user) throw new UserError(`bridge ${bridgeName} is already used by network ${user.name}: two networks cannot share a bridge; choose another -o com.docker.network.bridge.name`);
      bridge = store.claimBridge(bridgeName, options.mtu, ranges.map((r) => `${formatIP(r.gateway)}/${r.subnet.prefix}`));
    }
    const conflist = buildConflist({ name, driver, cniVersion, ranges, internal: bool(p, 'internal'), options, bridgeName, extras });
    try {
      store.records.write({ name, created: new Date().toISOString(), ...(bridge ? { bridge } : {}) });
      store.write(conflist);
    } catch (e) {
      if (bridge?.created) Netns.host().ip(['link', 'del', bridge.name, 'type', 'bridge']);
      store.records.remove(name);
      throw e;
    }
    if (driver === 'bridge' && !extras.includes('firewall')) err(`cnictl: warning: no firewall plugin on CNI_PATH: network ${name} is not isolated from other networks`);
    out(id);
    return 0;
  });
}

/** Sandbox names by ID, for showing attachments. */
function sandboxNames(ctx: Ctx): Map<string, SandboxState> {
  return new Map(new StateStore(ctx.paths.stateDir).list().map((s) => [s.id, s]));
}

const NETWORK_LS_FORMAT = { table: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', headers: { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', Subnets: 'SUBNETS', File: 'FILE' } };

async function ls(argv: string[], ctx: Ctx): Promise<number> {
  const p = parseArgs(argv, [...JSON_FLAGS, { name: 'quiet', short: 'q' }]);
  const store = new NetworkStore(ctx.paths, ctx.env);
  const { lists, errors, defaultVirtual } = store.load();
  const infos = lists.map(describe);
  const rows = [
    ...infos.map((i) => ({ ID: i.id.slice(0, 12), Name: i.name, Driver: i.driver, Scope: 'local', Subnets: i.ranges.map((r) => r.subnet), File: i.name === DEFAULT_NETWORK && defaultVirtual ? '' : i.file })),
    { ID: networkId('host').slice(0, 12), Name: 'host', Driver: 'host', Scope: 'local', Subnets: [], File: '' },
    { ID: networkId('none').slice(0, 12), Name: 'none', Driver: 'null', Scope: 'local', Subnets: [], File: '' },
  ].sort((a, b) => a.Name.localeCompare(b.Name));
  const format = str(p, 'format');
  if (format !== undefined && format !== 'json' && format !== 'table') process.stdout.write(formatList(format, rows, NETWORK_LS_FORMAT)); // a Go template
  else if (wantsJson(p)) out(json(rows));
  else if (bool(p, 'quiet')) out(rows.map((r) => r.ID).join('\n'));
  else out(table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], rows.map((r) => [r.ID, r.Name, r.Driver, r.Scope])));
  for (const e of errors) process.stderr.write(`cnictl: warning: skipped ${e.message}\n`);
  return 0;
}

function endpoint(a: Attached, sandboxes: Map<string, SandboxState>): Record<string, unknown> {
  const sb = sandboxes.get(a.containerId);
  return {
    Name: sb?.name ?? a.containerId,
    ContainerID: a.containerId,
    Interface: a.ifname,
    MacAddress: a.mac ?? '',
    IPv4Address: a.ips.find((x) => !x.includes(':')) ?? '',
    IPv6Address: a.ips.find((x) => x.includes(':')) ?? '',
    Source: a.source,
  };
}

async function inspect(argv: string[], ctx: Ctx): Promise<number> {
  const p = parseArgs(argv, [{ name: 'json' }, { name: 'format', short: 'f', value: true }]);
  if (p.positional.length === 0) throw usageError(`"cnictl network inspect" needs at least one NAME\n${USAGE}`);
  await reapDead(new StateStore(ctx.paths.stateDir), ctx.env);
  const { objects, missing } = networkObjects(p.positional, ctx.env);
  if (objects.length) out(formatEach(str(p, 'format'), objects, json));
  for (const m of missing) process.stderr.write(`cnictl: network ${m} not found: see "cnictl network ls"\n`);
  return missing.length ? 1 : 0;
}

/** Networks as `network inspect` shows them (by name, ID or unique ID prefix); refs not found are returned apart. */
export function networkObjects(refs: readonly string[], env: NodeJS.ProcessEnv): { objects: Array<Record<string, unknown>>; missing: string[] } {
  const ctx = { env, paths: pathsFrom(env) };
  const store = new NetworkStore(ctx.paths, ctx.env);
  const { lists } = store.load();
  const sandboxes = sandboxNames(ctx);
  const objects: Array<Record<string, unknown>> = [];
  const missing: string[] = [];
  for (const ref of refs) {
    const name = resolveNetworkName(ref, lists.map((l) => l.name));
    if ((PSEUDO as readonly string[]).includes(name)) {
      const attached = [...sandboxes.values()].filter((s) => s.mode === name && s.status !== 'exited');
      objects.push({ Name: name, Id: networkId(name), Scope: 'local', Driver: name === 'none' ? 'null' : 'host', Containers: asMap(Object.fromEntries(attached.map((s) => [s.id, { Name: s.name }]))) });
      continue;
    }
    const l = lists.find((x) => x.name === name);
    if (!l) {
      missing.push(ref);
      continue;
    }
    const i: NetworkInfo = describe(l);
    const eps = store.attachments(l);
    let config: unknown;
    try {
      config = JSON.parse(l.bytes);
    } catch {
      config = l.bytes;
    }
    objects.push({
      Name: i.name,
      Id: i.id,
      Created: created(l.file),
      Scope: 'local',
      Driver: i.driver,
      EnableIPv6: i.ipv6,
      IPAM: { Driver: 'host-local', Config: i.ranges.map((r) => ({ Subnet: r.subnet, Gateway: r.gateway ?? '', ...(r.rangeStart ? { IPRange: `${r.rangeStart}-${r.rangeEnd ?? ''}` } : {}) })) },
      Internal: i.internal,
      Bridge: i.bridge ?? '',
      Parent: i.parent ?? '',
      Plugins: i.plugins,
      ConfigFile: l.file,
      Managed: i.managed,
      Containers: asMap(Object.fromEntries(eps.map((a) => [`${a.containerId}/${a.ifname}`, endpoint(a, sandboxes)]))),
      Config: config,
    });
  }
  return { objects, missing };
}

function created(file: string): string {
  try {
    return new Date(statSync(file).mtimeMs).toISOString();
  } catch {
    return '';
  }
}

/** Who is attached to a network: cache entries and leases (any runtime), and live sandboxes that use it. */
function attachedNames(store: NetworkStore, ctx: Ctx, name: string): string[] {
  const l = store.find(name)!;
  const sandboxes = sandboxNames(ctx);
  const names = new Set<string>();
  for (const a of store.attachments(l)) names.add(sandboxes.get(a.containerId)?.name ?? a.containerId);
  for (const s of sandboxes.values()) if (s.status !== 'exited' && s.attachments.some((a) => a.network === name)) names.add(s.name);
  return [...names];
}

function removable(store: NetworkStore, ctx: Ctx, name: string): void {
  if ((PSEUDO as readonly string[]).includes(name) || name === DEFAULT_NETWORK) throw new UserError(`${name} is a pre-defined network and cannot be removed`);
  const l = store.find(name);
  if (!l) throw new UserError(`network ${name} not found: see "cnictl network ls"`);
  if (!describe(l).managed) throw new UserError(`network ${name} is defined by ${l.file}, which cnictl did not create: remove that file yourself if you mean it`);
  const names = attachedNames(store, ctx, name);
  if (names.length) throw new UserError(`network ${name} has attached sandboxes: ${names.join(', ')}: stop or disconnect them first (cnictl stop NAME / cnictl network disconnect ${name} NAME)`);
}

async function rm(argv: string[], ctx: Ctx): Promise<number> {
  const p = parseArgs(argv, []);
  if (p.positional.length === 0) throw usageError(`"cnictl network rm" needs at least one NAME\n${USAGE}`);
  requireRoot('network rm');
  const stateStore = new StateStore(ctx.paths.stateDir);
  await reapDead(stateStore, ctx.env);
  const store = new NetworkStore(ctx.paths, ctx.env);
  let status = 0;
  for (const ref of p.positional) {
    try {
      const name = resolveNetworkName(ref, store.load().lists.map((l) => l.name));
      const warnings = stateStore.locked(() => {
        removable(store, ctx, name);
        return store.records.locked(() => store.remove(store.find(name)!));
      });
      out(ref);
      for (const w of warnings) err(`cnictl: ${name}: ${w}`);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      process.stderr.write(`cnictl: ${e.message}\n`);
      status = 1;
    }
  }
  return status;
}

async function prune(argv: string[], ctx: Ctx): Promise<number> {
  const p = parseArgs(argv, [{ name: 'force', short: 'f' }]);
  requireRoot('network prune');
  if (!bool(p, 'force') && !(await confirm('WARNING! This will remove all custom networks not used by at least one sandbox.\nAre you sure you want to continue? [y/N] '))) return 0;
  const removed = await pruneNetworks(ctx.env);
  if (removed.length) out(`Deleted Networks:\n${removed.join('\n')}`);
  return 0;
}

/** Remove every managed, unused network but the default one; returns their names. */
export async function pruneNetworks(env: NodeJS.ProcessEnv): Promise<string[]> {
  const ctx = { env, paths: pathsFrom(env) };
  const stateStore = new StateStore(ctx.paths.stateDir);
  await reapDead(stateStore, env);
  const store = new NetworkStore(ctx.paths, env);
  const removed: string[] = [];
  stateStore.locked(() =>
    store.records.locked(() => {
      for (const l of store.load().lists) {
        if (l.name === DEFAULT_NETWORK || !describe(l).managed) continue;
        if (attachedNames(store, ctx, l.name).length) continue;
        for (const w of store.remove(l)) err(`cnictl: ${l.name}: ${w}`);
        removed.push(l.name);
      }
    }),
  );
  return removed;
}

/** Docker's y/N prompt: one line from stdin; anything but y/yes is no. */
export async function confirm(question: string): Promise<boolean> {
  process.stdout.write(question);
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const stdin = process.stdin;
    const done = () => {
      stdin.pause();
      stdin.removeAllListeners('data');
      resolve(buf);
    };
    stdin.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) done();
    });
    stdin.on('end', done);
    stdin.resume();
  });
  const yes = /^\s*y(es)?\s*$/i.test(line.split('\n')[0] ?? '');
  if (!line.endsWith('\n')) process.stdout.write('\n');
  return yes;
}

