/**
 * Sandbox records under the state dir (default /run/cnictl, gone with a reboot like the namespaces):
 * sandboxes/<id>/state.json plus the files bind-mounted into the sandbox (hosts, resolv.conf, hostname) and the
 * log of a detached one (JSON lines, see logs.ts). One lock file serialises the decisions that must not race (names, host ports, hosts files).
 */
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/files.js';
import { join } from 'node:path';
import { withFileLock } from '../../lib/lock.js';
import type { PortMapping } from './ports.js';

export type Mode = 'network' | 'host' | 'none' | 'container';
export type Status = 'creating' | 'running' | 'exited';

export interface Attachment {
  network: string;
  ifname: string;
  /** CIDRs. */
  ips: string[];
  mac?: string;
  /** Requested with --ip / network connect --ip. */
  requestedIp?: string;
  /** Requested with --network name=…,ip6=… (or an IPv6 --ip). */
  requestedIp6?: string;
  /** Requested with --mac-address (first network) or --network name=…,mac-address=…. */
  requestedMac?: string;
  /** --network-alias (first network), --network name=…,alias=… / network connect --alias: more names it has on this network. */
  aliases?: string[];
}

export interface SandboxState {
  id: string;
  name: string;
  command: string[];
  created: string;
  /** When the command last started (run, start, restart). */
  started?: string;
  finished?: string;
  status: Status;
  exitCode?: number;
  mode: Mode;
  /** container:<target>: the target's ID. */
  target?: string;
  /** The network namespace the command runs in (own: /run/netns/cnictl-<id12>; container mode: the target's). */
  netns?: string;
  ownNetns: boolean;
  hostname: string;
  attachments: Attachment[];
  ports: PortMapping[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions?: string[];
  addHosts: string[];
  mac?: string;
  /** -p as given (a chosen host port is chosen again, the same one when free, by `start`). */
  publish?: string[];
  /** -e KEY=VALUE for the command. */
  env?: string[];
  /** -w DIR: the command's working directory. */
  workdir?: string;
  /** -i: stdin kept open (passed through in the foreground; an open pipe when detached). */
  interactive?: boolean;
  /** -t: the command runs on a pseudo-terminal. */
  tty?: boolean;
  detached: boolean;
  autoRemove: boolean;
  /** The process that tears the sandbox down when the command ends (cnictl itself in the foreground). */
  supervisor?: ProcRef;
  /** The command. */
  pid?: ProcRef;
}

/** A process, and its start time so a reused PID is not mistaken for it. */
export interface ProcRef {
  pid: number;
  start: number;
}

export function procStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined; // a zombie is dead (its parent may never reap it)
    return Number(fields[19]); // field 22: starttime
  } catch {
    return undefined;
  }
}

export const procRef = (pid: number): ProcRef => ({ pid, start: procStart(pid) ?? 0 });
export const isAlive = (p: ProcRef | undefined): boolean => !!p && procStart(p.pid) === p.start;

export class StateStore {
  constructor(readonly dir: string) {}

  get sandboxes(): string {
    return join(this.dir, 'sandboxes');
  }

  sandboxDir(id: string): string {
    return join(this.sandboxes, id);
  }

  file(id: string, name: 'state.json' | 'hosts' | 'resolv.conf' | 'hostname' | 'log'): string {
    return join(this.sandboxDir(id), name);
  }

  /** Run `fn` holding the state lock. */
  locked<T>(fn: () => T): T {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    return withFileLock(join(this.dir, 'lock'), fn);
  }

  list(): SandboxState[] {
    let ids: string[];
    try {
      ids = readdirSync(this.sandboxes);
    } catch {
      return [];
    }
    const out: SandboxState[] = [];
    for (const id of ids) {
      const s = this.read(id);
      if (s) out.push(s);
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  read(id: string): SandboxState | undefined {
    try {
      return JSON.parse(readFileSync(this.file(id, 'state.json'), 'utf8')) as SandboxState;
    } catch {
      return undefined;
    }
  }

  save(s: SandboxState): void {
    mkdirSync(this.sandboxDir(s.id), { recursive: true, mode: 0o755 });
    const f = this.file(s.id, 'state.json');
    writeFileAtomic(f, JSON.stringify(s, null, 2) + '\n');
  }

  /** Re-read, change and save one sandbox. */
  update(id: string, fn: (s: SandboxState) => void): SandboxState | undefined {
    const s = this.read(id);
    if (!s) return undefined;
    fn(s);
    this.save(s);
    return s;
  }

  remove(id: string): void {
    rmSync(this.sandboxDir(id), { recursive: true, force: true });
  }

  /** By name, full ID or unique ID prefix (as Docker resolves). */
  find(ref: string): SandboxState | undefined {
    const all = this.list();
    const byName = all.find((s) => s.name === ref);
    if (byName) return byName;
    const exact = all.find((s) => s.id === ref);
    if (exact) return exact;
    const prefixed = ref.length >= 1 && /^[0-9a-f]+$/.test(ref) ? all.filter((s) => s.id.startsWith(ref)) : [];
    return prefixed.length === 1 ? prefixed[0] : undefined;
  }
}
