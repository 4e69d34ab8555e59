/** `cnictl ps` and `cnictl port`: read-only views (they load no CNI code unless a dead sandbox needs cleaning). */
import { networkId } from '../network/model.js';
import { portLines, portsColumn } from '../sandbox/ports.js';
import { reapDead } from '../sandbox/reap.js';
import { isAlive, StateStore, type SandboxState } from '../sandbox/state.js';
import { bool, JSON_FLAGS, list, parseArgs, str, type FlagSpec } from '../util/args.js';
import { UserError, usageError } from '../util/errors.js';
import { formatList, type ListFormat } from '../util/format.js';
import { humanDuration, json, out } from '../util/output.js';
import { pathsFrom } from '../util/paths.js';

const store = (env: NodeJS.ProcessEnv) => new StateStore(pathsFrom(env).stateDir);

/**
 * Is it really running: recorded so, its supervisor and its command (the sandbox's init) alive. A sandbox whose init
 * died is not running, even while its supervisor is still tearing it down (commands that list wait for that first:
 * see reapDead).
 */
export const liveSandbox = (s: SandboxState): boolean => s.status === 'running' && isAlive(s.supervisor) && isAlive(s.pid);

export const PS_USAGE = `Usage: cnictl ps [OPTIONS]

Lists sandboxes (running ones; -a: all).

  -a, --all             also exited sandboxes
  -q, --quiet           only IDs
  -f, --filter KEY=VAL  name=NAME (a part of it, or a regular expression), status=running|exited|created,
                        network=NAME|ID, id=PREFIX, exited=CODE; the same key again: either; different keys: all
      --format FORMAT   "table" (default), "json" (one object per line, Docker's fields), a Go template per
                        sandbox ('{{.Names}} {{.Status}}') or "table TEMPLATE" with headers
                        (fields: ID Names Command CreatedAt RunningFor Ports State Status Networks)
      --no-trunc        full IDs and commands
  -n, --last N          the N last created (all states); -l, --latest: the last one
      --json            a JSON array of the same objects`;

const FLAGS: FlagSpec[] = [
  ...JSON_FLAGS,
  { name: 'all', short: 'a' },
  { name: 'quiet', short: 'q' },
  { name: 'filter', short: 'f', value: true, multi: true },
  { name: 'no-trunc' },
  { name: 'last', short: 'n', value: true },
  { name: 'latest', short: 'l' },
  { name: 'size', short: 's' },
];

/** Docker's `ps` row (its --format json fields), for a sandbox. */
export interface PsRow {
  ID: string;
  Names: string;
  Command: string;
  CreatedAt: string;
  RunningFor: string;
  Ports: string;
  State: string;
  Status: string;
  Networks: string;
}

const PS_FORMAT: ListFormat = {
  table: 'table {{.ID}}\t{{.Names}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Networks}}',
  headers: { ID: 'SANDBOX ID', Names: 'NAMES', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS', State: 'STATE', Status: 'STATUS', Networks: 'NETWORKS' },
};

/** running / exited / created, as Docker's State. */
export function stateOf(s: SandboxState): 'running' | 'exited' | 'created' {
  if (liveSandbox(s)) return 'running';
  return s.status === 'creating' && isAlive(s.supervisor) ? 'created' : 'exited';
}

export function statusText(s: SandboxState, now: number): string {
  const st = stateOf(s);
  if (st === 'exited' && s.status !== 'exited') return 'Exiting'; // its init is dead; the teardown has not finished yet
  if (st === 'exited') return `Exited (${s.exitCode ?? 0}) ${humanDuration(now - Date.parse(s.finished ?? s.created))} ago`;
  if (st === 'created') return 'Created';
  return `Up ${humanDuration(now - Date.parse(s.started ?? s.created))}`;
}

/** Go's time format Docker prints in CreatedAt: "2024-05-01 10:00:00 +0000 UTC". */
const goTime = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000 UTC`;

const networksOf = (s: SandboxState): string => (s.mode === 'network' ? s.attachments.map((a) => a.network).join(',') : s.mode === 'container' ? `container:${s.target?.slice(0, 12)}` : s.mode);

const ellipsis = (s: string, n: number): string => ([...s].length > n ? `${[...s].slice(0, n - 1).join('')}…` : s);

export function psRow(s: SandboxState, now: number, noTrunc: boolean): PsRow {
  const cmd = s.command.join(' ');
  return {
    ID: noTrunc ? s.id : s.id.slice(0, 12),
    Names: s.name,
    Command: JSON.stringify(noTrunc ? cmd : ellipsis(cmd, 20)),
    CreatedAt: goTime(s.created),
    RunningFor: `${humanDuration(now - Date.parse(s.created))} ago`,
    // an exited sandbox publishes nothing (Docker shows no PORTS for it)
    Ports: stateOf(s) === 'running' ? portsColumn(s.ports) : '',
    State: stateOf(s),
    Status: statusText(s, now),
    Networks: networksOf(s),
  };
}

/** `--filter KEY=VALUE`s: the same key OR'd, different keys AND'd (Docker's rule). */
export function psFilter(specs: readonly string[]): { match: (s: SandboxState) => boolean; hasStatus: boolean } {
  const by = new Map<string, string[]>();
  for (const f of specs) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw usageError(`bad format of filter ${JSON.stringify(f)} (expected KEY=VALUE, e.g. name=web)`);
    const [k, v] = [f.slice(0, eq).toLowerCase(), f.slice(eq + 1)];
    if (!['name', 'status', 'network', 'id', 'exited'].includes(k)) throw new UserError(`invalid filter '${k}': cnictl ps filters by name, status, network, id and exited`);
    if (k === 'status' && !['running', 'exited', 'created', 'paused', 'restarting', 'removing', 'dead'].includes(v)) throw new UserError(`invalid filter 'status=${v}': one of running, exited, created`);
    if (k === 'exited' && !/^\d+$/.test(v)) throw new UserError(`invalid filter 'exited=${v}': an exit code`);
    by.set(k, [...(by.get(k) ?? []), v]);
  }
  const test = (k: string, s: SandboxState, v: string): boolean => {
    switch (k) {
      case 'name': {
        let re: RegExp | undefined;
        try {
          re = new RegExp(v);
        } catch {
          re = undefined;
        }
        return re ? re.test(s.name) || re.test(`/${s.name}`) : s.name.includes(v);
      }
      case 'status':
        return stateOf(s) === v;
      case 'network':
        return s.attachments.some((a) => a.network === v || (/^[0-9a-f]+$/.test(v) && networkId(a.network).startsWith(v))) || s.mode === v;
      case 'id':
        return s.id.startsWith(v);
      case 'exited':
        return stateOf(s) === 'exited' && (s.exitCode ?? 0) === Number(v);
      default:
        return false;
    }
  };
  return { match: (s) => [...by.entries()].every(([k, vs]) => vs.some((v) => test(k, s, v))), hasStatus: by.has('status') || by.has('exited') };
}

export async function psCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, FLAGS);
  if (p.positional.length) throw usageError(`"cnictl ps" takes no arguments (filter with -f name=${p.positional[0]})\n${PS_USAGE}`);
  const st = store(env);
  await reapDead(st, env);
  const now = Date.now();
  const filter = psFilter(list(p, 'filter'));
  const last = bool(p, 'latest') ? 1 : str(p, 'last') !== undefined ? Number(str(p, 'last')) : undefined;
  if (last !== undefined && (!Number.isInteger(last) || last < 0)) throw new UserError(`invalid --last ${JSON.stringify(str(p, 'last'))}: a number`);
  // a status filter, -n and -l look at every sandbox, as Docker's
  let sandboxes = st.list().filter((s) => bool(p, 'all') || filter.hasStatus || last !== undefined || stateOf(s) !== 'exited');
  if (last !== undefined) sandboxes = sandboxes.slice(-last);
  const rows = sandboxes
    .filter(filter.match)
    .reverse() // newest first, as Docker
    .map((s) => psRow(s, now, bool(p, 'no-trunc')));
  const format = str(p, 'format');
  if (bool(p, 'json')) out(json(rows));
  else if (bool(p, 'quiet')) {
    if (rows.length) out(rows.map((r) => r.ID).join('\n'));
  } else process.stdout.write(formatList(format, rows, PS_FORMAT));
  return 0;
}

export async function portCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, JSON_FLAGS);
  if (p.positional.length < 1 || p.positional.length > 2) throw usageError('Usage: cnictl port SANDBOX [PORT[/PROTO]]');
  const st = store(env);
  await reapDead(st, env);
  const s = st.find(p.positional[0]!);
  if (!s) throw new UserError(`no such sandbox: ${p.positional[0]} (see "cnictl ps -a")`);
  if (!liveSandbox(s)) throw new UserError(`sandbox ${s.name} is not running: it publishes nothing`);
  let ports = s.ports;
  const want = p.positional[1];
  if (want) {
    const [port, proto = 'tcp'] = want.split('/');
    ports = ports.filter((x) => String(x.containerPort) === port && x.protocol === proto);
    if (!ports.length) throw new UserError(`no public port '${want}' published for ${s.name}`);
  }
  const v6 = s.attachments.some((a) => a.ips.some((ip) => ip.includes(':')));
  if (str(p, 'format') === 'json' || bool(p, 'json')) out(json(ports));
  else if (want) out(portLines(ports, v6).map((l) => l.split(' -> ')[1]).join('\n'));
  else if (ports.length) out(portLines(ports, v6).join('\n'));
  return 0;
}
