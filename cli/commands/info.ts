/** `cnictl info` (like `docker info`: sandboxes, networks, the network plugins on CNI_PATH, the host) and `version`. */
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.js';
import { loadAll } from '../runtime/conffiles.js';
import { StateStore } from '../sandbox/state.js';
import { parseArgs, str } from '../util/args.js';
import { usageError } from '../util/errors.js';
import { compile, run } from '../util/format.js';
import { json, out } from '../util/output.js';
import { pathsFrom } from '../util/paths.js';
import { stateOf } from './ps.js';

export const INFO_USAGE = `Usage: cnictl info [-f FORMAT]

cnictl's view of this host: sandboxes, networks, the CNI network plugins found on CNI_PATH (as Docker's
"Plugins: Network:"), where configs and state live, the kernel and OS. -f: a Go template ('{{json .}}',
'{{.Plugins.Network}}') or "json".`;

export const VERSION_USAGE = `Usage: cnictl version [-f FORMAT]

cnictl's version, the CNI spec versions it speaks, its runtime and platform. -f: a Go template
('{{.Client.Version}}') or "json".`;

/** Our executables that are not plugins (they share the plugins' directory in a release). */
const NOT_PLUGINS = new Set(['cni-ts', 'cnictl', 'cni-ts-agent']);

/** Executables in the CNI_PATH directories (first one of a name wins, as plugins are found). */
export function pluginsOnPath(dirs: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const d of dirs) {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      const f = join(d, n);
      try {
        if (NOT_PLUGINS.has(n) || !statSync(f).isFile()) continue;
        accessSync(f, constants.X_OK);
        seen.add(n);
      } catch {
        /* not an executable */
      }
    }
  }
  return [...seen].sort();
}

function osRelease(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

const kernel = (): string => {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return '';
  }
};

const runtimeName = (): string => {
  const bun = (globalThis as { Bun?: { version: string } }).Bun;
  return bun ? `bun ${bun.version}` : `node ${process.version}`;
};

declare const __CNI_TS_VERSION__: string | undefined;
const CNI_TS_VERSION = typeof __CNI_TS_VERSION__ === 'string' ? __CNI_TS_VERSION__ : 'dev';

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

function print(format: string | undefined, obj: unknown, text: () => string): void {
  if (format === undefined) return out(text());
  if (format === 'json') return out(json(obj));
  out(run(compile(format.replace(/\\t/g, '\t').replace(/\\n/g, '\n')), obj));
}

export async function infoCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, [{ name: 'format', short: 'f', value: true }]);
  if (p.positional.length) throw usageError(INFO_USAGE);
  const paths = pathsFrom(env);
  const sandboxes = new StateStore(paths.stateDir).list();
  const states = sandboxes.map(stateOf);
  const { lists, errors } = loadAll(paths.netconf);
  const networks = [...new Set([...lists.map((l) => l.name), 'bridge'])].sort();
  const info = {
    ClientInfo: { Version: CNI_TS_VERSION, Runtime: runtimeName() },
    Sandboxes: sandboxes.length,
    SandboxesRunning: states.filter((s) => s === 'running').length,
    SandboxesStopped: states.filter((s) => s !== 'running').length,
    Networks: networks,
    Plugins: { Network: pluginsOnPath(paths.cniPath) },
    CNIPath: paths.cniPath,
    NetConfPath: paths.netconf,
    UnreadableConfigs: errors.map((e) => e.message),
    CacheDir: paths.cacheDir,
    StateDir: paths.stateDir,
    ConfigFile: paths.config,
    KernelVersion: kernel(),
    OperatingSystem: osRelease(),
    OSType: 'linux',
    Architecture: process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch,
    NCPU: cpus().length,
    MemTotal: totalmem(),
    Name: hostname(),
  };
  print(str(p, 'format'), info, () =>
    [
      'Client:',
      ` Version:    ${info.ClientInfo.Version}`,
      ` Runtime:    ${info.ClientInfo.Runtime}`,
      '',
      'Host (no daemon: cnictl reads the state below):',
      ` Sandboxes: ${info.Sandboxes}`,
      `  Running: ${info.SandboxesRunning}`,
      `  Stopped: ${info.SandboxesStopped}`,
      ` Networks: ${networks.length + 2} (${[...networks, 'host', 'none'].join(', ')})`,
      ' Plugins:',
      `  Network: ${info.Plugins.Network.join(' ') || `(none found on CNI_PATH ${paths.cniPath.join(':')})`}`,
      ` CNI_PATH: ${paths.cniPath.join(':')}`,
      ` Network configs (NETCONFPATH): ${paths.netconf}${errors.length ? ` (${errors.length} unreadable: ${errors.map((e) => e.message).join('; ')})` : ''}`,
      ` CNI cache (CNI_CACHEDIR): ${paths.cacheDir}`,
      ` Sandbox state (CNICTL_STATE_DIR): ${paths.stateDir}`,
      ` Settings (CNICTL_CONFIG): ${paths.config}`,
      ` Kernel Version: ${info.KernelVersion}`,
      ` Operating System: ${info.OperatingSystem}`,
      ` OSType: ${info.OSType}`,
      ` Architecture: ${info.Architecture}`,
      ` CPUs: ${info.NCPU}`,
      ` Total Memory: ${(info.MemTotal / 2 ** 30).toFixed(2)}GiB`,
      ` Name: ${info.Name}`,
    ].join('\n'),
  );
  return 0;
}

export async function versionCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, [{ name: 'format', short: 'f', value: true }]);
  if (p.positional.length) throw usageError(VERSION_USAGE);
  const v = {
    Client: {
      Version: CNI_TS_VERSION,
      CNIVersions: [...SUPPORTED_VERSIONS],
      Runtime: runtimeName(),
      Os: 'linux',
      Arch: GOARCH[process.arch] ?? process.arch,
    },
  };
  print(str(p, 'format'), v, () =>
    [
      'Client: cnictl (cni-ts)',
      ` Version:           ${v.Client.Version}`,
      ` CNI spec versions: ${v.Client.CNIVersions.join(', ')}`,
      ` Runtime:           ${v.Client.Runtime}`,
      ` OS/Arch:           ${v.Client.Os}/${v.Client.Arch}`,
      '',
      'Server: none (cnictl has no daemon: it runs the CNI plugins itself)',
    ].join('\n'),
  );
  return 0;
}
