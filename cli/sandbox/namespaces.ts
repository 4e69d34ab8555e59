/**
 * The namespaces of a sandbox. Its network namespace is a named one (/run/netns/cnictl-<id12>, so plugins, `ip` and
 * other tools can find it); its UTS and mount namespaces belong to the command, made by util-linux `unshare` right
 * before it execs: the sandbox's hosts, resolv.conf and hostname files are bind-mounted there only. The mount
 * namespace is a slave of the host's, so a network namespace removed on the host is not kept alive by a copy of
 * its mount inside a sandbox.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { run, sleepSync } from '../../lib/exec.js';
import { UserError, oneLine } from '../util/errors.js';
import { isAlive, type ProcRef } from './state.js';

export const netnsName = (id: string): string => `cnictl-${id.slice(0, 12)}`;
export const netnsPath = (id: string): string => `/run/netns/${netnsName(id)}`;

export function createNetns(id: string): string {
  const name = netnsName(id);
  const r = run('ip', ['netns', 'add', name]);
  if (r.status !== 0) throw new UserError(`cannot create network namespace ${name}: ${oneLine(r.stderr)}`);
  const lo = run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  if (lo.status !== 0) {
    run('ip', ['netns', 'del', name]);
    throw new UserError(`cannot bring lo up in ${name}: ${oneLine(lo.stderr)}`);
  }
  return `/run/netns/${name}`;
}

/** PIDs of the processes in a named network namespace. */
export function netnsPids(path: string): number[] {
  const r = run('ip', ['netns', 'pids', basename(path)]);
  return r.status === 0 ? r.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

/** The session a process belongs to (a sandbox's command leads a session of its own). */
export function sessionOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  } catch {
    return undefined;
  }
}

/**
 * SIGKILL every process in the namespace and wait (briefly) until they are gone; processes of the sessions in
 * `spare` (sandboxes that joined this namespace with --network container:) are left running.
 */
export function killNetnsProcesses(path: string, spare: ReadonlySet<number> = new Set()): void {
  for (let i = 0; i < 40; i++) {
    const pids = netnsPids(path).filter((p) => !spare.has(sessionOf(p) ?? -1));
    if (!pids.length) return;
    for (const p of pids) signal(p, 'SIGKILL');
    sleepSync(50);
  }
}

/**
 * Kill everything in the namespace (but `spare`), then remove its name (idempotent). A namespace with spared
 * processes lives on, unnamed, as long as they do: Docker's joined container keeps running with only `lo`.
 */
export function deleteNetns(path: string, spare: ReadonlySet<number> = new Set()): void {
  killNetnsProcesses(path, spare);
  if (existsSync(path)) run('ip', ['netns', 'del', basename(path)]);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Signal a sandbox's command and its process group (it runs in a session of its own). */
export function signalCommand(p: ProcRef | undefined, sig: NodeJS.Signals, group = false): void {
  if (!p || !isAlive(p)) return;
  if (group) signal(-p.pid, sig);
  signal(p.pid, sig);
}

export interface SandboxFiles {
  hosts: string;
  resolv: string;
  hostnameFile: string;
}

// $1 hosts, $2 resolv.conf, $3 hostname file, $4 hostname to set ('' = keep), $5 the pseudo-terminal ('' = none),
// $6 the working directory ('' = keep), then the command; fd 3: "ready" pipe
const INIT = [
  'set -e',
  'mount --bind "$1" /etc/hosts',
  'if [ -e /etc/resolv.conf ]; then mount --bind "$2" /etc/resolv.conf; fi',
  'if [ -e /etc/hostname ]; then mount --bind "$3" /etc/hostname; fi',
  `if [ -n "$4" ]; then printf '%s' "$4" > /proc/sys/kernel/hostname; fi`,
  // a session leader opening a terminal without O_NOCTTY makes it its controlling terminal (job control, ^C)
  'if [ -n "$5" ]; then exec 0<>"$5" 1>&0 2>&0; fi',
  'if [ -n "$6" ]; then cd "$6" || { echo "cnictl: --workdir $6: no such directory" >&2; exit 127; }; fi',
  'shift 6',
  'printf . >&3', // ready: the supervisor reports the sandbox running only now (an exec right after sees the mounts)
  'exec 3>&-',
  'exec "$@"',
].join('\n');

/**
 * The argv that starts a sandbox's command: into the network namespace (none for host mode), new UTS (unless the
 * hostname is the host's) and mount namespaces, the bind mounts, then exec. No fork along the way: the PID spawned
 * is the command's.
 */
export function sandboxArgv(netns: string | undefined, files: SandboxFiles, hostname: string | undefined, command: readonly string[], opts: { tty?: string; workdir?: string } = {}): string[] {
  const unshare = ['unshare', ...(hostname ? ['--uts'] : []), '--mount', '--propagation', 'slave', '--', '/bin/sh', '-c', INIT, 'cnictl-init', files.hosts, files.resolv, files.hostnameFile, hostname ?? '', opts.tty ?? '', opts.workdir ?? '', ...command];
  return netns ? ['nsenter', `--net=${netns}`, '--', ...unshare] : unshare;
}

/**
 * Enter a running sandbox (its command's namespaces), in `workdir` (-w, through `sh -c cd`: a missing directory is
 * named, exit 126 as Docker). With a terminal, `setsid -c` makes the command a session leader with the terminal (its
 * stdin) as controlling terminal; no fork when cnictl spawns it in its own process group.
 */
export const execArgv = (pid: number, command: readonly string[], opts: { tty?: boolean; workdir?: string } = {}): string[] => [
  'nsenter', '-t', String(pid), '-n', '-u', '-m', '--',
  ...(opts.tty ? ['setsid', '-c'] : []),
  ...(opts.workdir ? ['/bin/sh', '-c', 'cd "$0" 2>/dev/null || { echo "cnictl: --workdir $0: no such directory in the sandbox" >&2; exit 126; }; exec "$@"', opts.workdir] : []),
  ...command,
];

/** Ports something listens on (TCP) or has bound (UDP) in this namespace, from /proc/net. */
export function boundPorts(protocol: 'tcp' | 'udp' | 'sctp'): Set<number> {
  const ports = new Set<number>();
  if (protocol === 'sctp') return ports;
  for (const f of [`/proc/net/${protocol}`, `/proc/net/${protocol}6`]) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      if (protocol === 'tcp' && cols[3] !== '0A') continue; // LISTEN
      ports.add(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

export function ephemeralRange(): [number, number] {
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (a && b) return [a, b];
  } catch {
    /* default */
  }
  return [32768, 60999];
}

/** An executable for the command: a path, or found on PATH. */
export function findExecutable(cmd: string, pathEnv: string | undefined): string | undefined {
  const ok = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return ok(cmd) ? cmd : undefined;
  for (const d of (pathEnv || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) if (d && ok(`${d}/${cmd}`)) return `${d}/${cmd}`;
  return undefined;
}
