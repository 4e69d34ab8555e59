/**
 * The plugin skeleton: reads env and stdin, validates them as the reference skel does, dispatches the command
 * and prints the result or error. Nothing here runs at module load (so a startup snapshot can be taken).
 */
import { readFileSync, writeSync } from 'node:fs';
import { CniError, ErrorCode, asCniError } from './errors.js';
import { checkVersionSupported, configVersion, decodeJSON, parseNetConf, type NetConf } from './config.js';
import { formatResult, printJSON, type Result } from './result.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, versionAllowsCheck, versionAllowsGcStatus } from './version.js';
import { NAME_PATTERN } from './config.js';
import { ensurePath } from '../exec.js';
import { Netns } from '../netns.js';
import { peakRssKb, traceEvent, tracing } from '../trace.js';
import { delegationDepth } from './delegation.js';

export type CommandName = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';

export interface CniContext {
  command: CommandName;
  containerId: string;
  /** CNI_NETNS; may be '' for DEL/GC/STATUS. */
  netns: string;
  ifname: string;
  /** Raw CNI_ARGS. */
  args: string;
  /** CNI_PATH split into directories. */
  path: string[];
  stdin: Buffer;
  conf: NetConf;
  /** Plugins bundled into this executable that a delegation may run in-process (see invoke.ts). */
  inProcess?: Readonly<Record<string, Plugin>>;
  /** The running plugin's own type: it never delegates to itself (see invoke.ts). */
  self?: string;
  /** Nested delegations above this invocation (CNI_TS_DELEGATION_DEPTH; 0 when a runtime runs it). */
  depth?: number;
}

export interface Plugin {
  /** Plugin type name, e.g. "bridge". */
  name: string;
  add(ctx: CniContext): Result;
  del(ctx: CniContext): void;
  check(ctx: CniContext): void;
  status?(ctx: CniContext): void;
  gc?(ctx: CniContext): void;
  /** Spec versions the plugin accepts when fewer than SUPPORTED_VERSIONS (as the reference's VersionsStartingFrom). */
  versions?: readonly string[];
}

const versionsOf = (plugin: Plugin): readonly string[] => plugin.versions ?? SUPPORTED_VERSIONS;

const REQUIRED_ENV: Record<CommandName, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: ['CNI_PATH'],
  GC: ['CNI_PATH'],
};

export function validateContainerId(id: string): void {
  if (id === '') throw new CniError(ErrorCode.UnknownContainer, 'missing containerID');
  if (!NAME_PATTERN.test(id)) {
    throw new CniError(ErrorCode.InvalidEnvironment, `invalid characters in containerID ${JSON.stringify(id)}`, `CNI_CONTAINERID must match ${NAME_PATTERN}`);
  }
}

export function validateIfname(name: string): void {
  const bad = (why: string): never => {
    throw new CniError(ErrorCode.InvalidEnvironment, `invalid CNI_IFNAME ${JSON.stringify(name)}: ${why}`);
  };
  if (name === '') bad('interface name is empty');
  if (Buffer.byteLength(name) > 15) bad(`interface name is too long (${Buffer.byteLength(name)} bytes, at most 15)`);
  if (name === '.' || name === '..') bad('interface name is . or ..');
  if (/[/:\s]/.test(name)) bad('interface name contains / or : or whitespace');
}

function readStdin(): Buffer {
  try {
    return readFileSync(0);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EOF' || code === 'EISDIR') return Buffer.alloc(0);
    throw new CniError(ErrorCode.IOFailure, 'error reading from stdin', (e as Error).message);
  }
}

function out(text: string, fd = 1): void {
  writeSync(fd, text);
}

/** cni-ts's version, set by the build (undefined when running from source). */
declare const __CNI_TS_VERSION__: string | undefined;
export const CNI_TS_VERSION = typeof __CNI_TS_VERSION__ === 'string' ? __CNI_TS_VERSION__ : 'dev';

export const aboutText = (name: string, versions: readonly string[] = SUPPORTED_VERSIONS): string =>
  `CNI ${name} plugin cni-ts ${CNI_TS_VERSION}\nCNI protocol versions supported: ${versions.join(', ')}\n`;

interface Invocation {
  env: NodeJS.ProcessEnv;
  readStdin: () => Buffer;
  inProcess?: Readonly<Record<string, Plugin>>;
  /** Set as soon as the config's version is known: errors are reported in it. */
  version: string;
}

/** Validate, run the command, and return what goes to stdout (throws CniError on failure). */
function dispatch(plugin: Plugin, inv: Invocation): string | undefined {
  const env = inv.env;
  const command = env.CNI_COMMAND!;
  if (command === 'VERSION') return JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: versionsOf(plugin) }) + '\n';
  if (!(command in REQUIRED_ENV)) throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${command}`);
  const cmd = command as CommandName;
  const missing = REQUIRED_ENV[cmd].filter((k) => env[k] === undefined || (env[k] === '' && k !== 'CNI_PATH'));
  if (missing.length) {
    if (missing.includes('CNI_CONTAINERID') && env.CNI_CONTAINERID === '') throw new CniError(ErrorCode.UnknownContainer, 'missing containerID');
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  if (cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK') {
    validateContainerId(containerId);
    validateIfname(ifname);
  }
  const stdin = inv.readStdin();
  const raw = decodeJSON(stdin);
  const version = configVersion(raw);
  checkVersionSupported(version, versionsOf(plugin));
  inv.version = version;
  const conf = parseNetConf(raw);
  if (cmd === 'CHECK' && !versionAllowsCheck(version)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `config version ${JSON.stringify(version)} does not allow CHECK (needs 0.4.0 or later)`);
  }
  if ((cmd === 'GC' || cmd === 'STATUS') && !versionAllowsGcStatus(version)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `config version ${JSON.stringify(version)} does not allow ${cmd} (needs 1.1.0 or later)`);
  }
  const ctx: CniContext = {
    command: cmd,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifname,
    args: env.CNI_ARGS ?? '',
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
    stdin,
    conf,
    self: plugin.name,
    depth: delegationDepth(env),
  };
  if (inv.inProcess) ctx.inProcess = inv.inProcess;
  const override = env.CNI_NETNS_OVERRIDE === '1' || env.CNI_NETNS_OVERRIDE === 'true';
  if ((cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK') && ctx.netns && !override && Netns.at(ctx.netns).isCurrent()) {
    throw new CniError(ErrorCode.InvalidNetns, `CNI_NETNS ${ctx.netns} is the plugin's own network namespace; refusing to configure it`);
  }
  switch (cmd) {
    case 'ADD':
      return printJSON(formatResult(plugin.add(ctx), version));
    case 'DEL':
      plugin.del(ctx);
      return undefined;
    case 'CHECK':
      plugin.check(ctx);
      return undefined;
    case 'STATUS':
      plugin.status?.(ctx);
      return undefined;
    case 'GC':
      plugin.gc?.(ctx);
      return undefined;
  }
}

/**
 * Entry point of every plugin executable. Returns the process exit code.
 * `inProcess`: other plugins bundled in, which IPAM delegation may run without a new process.
 */
export function runPlugin(plugin: Plugin, env: NodeJS.ProcessEnv = process.env, inProcess?: Readonly<Record<string, Plugin>>): number {
  ensurePath();
  if (env.CNI_COMMAND === undefined || env.CNI_COMMAND === '') {
    out(aboutText(plugin.name, versionsOf(plugin)), 2);
    return 0;
  }
  const { status, stdout } = invokePlugin(plugin, env, readStdin, inProcess);
  if (stdout) out(stdout);
  if (tracing()) traceEvent(`${env.CNI_COMMAND} exit ${status} (peak RSS ${peakRssKb()} KB)`, 0);
  return status;
}

/** Run a plugin as its executable would, but in this process: exit status and stdout, nothing printed. */
export function invokePlugin(
  plugin: Plugin,
  env: NodeJS.ProcessEnv,
  stdin: () => Buffer,
  inProcess?: Readonly<Record<string, Plugin>>,
): { status: number; stdout: string } {
  const inv: Invocation = { env, readStdin: stdin, version: CURRENT_VERSION };
  if (inProcess) inv.inProcess = inProcess;
  try {
    return { status: 0, stdout: dispatch(plugin, inv) ?? '' };
  } catch (e) {
    return { status: 1, stdout: printJSON(asCniError(e).toJSON(inv.version)) };
  }
}
