/** `cnictl ps [-a]` and `cnictl port`: read-only views (they load no CNI code unless a dead sandbox needs cleaning). */
import { portLines, portsColumn } from '../sandbox/ports.js';
import { reapDead } from '../sandbox/reap.js';
import { isAlive, StateStore, type SandboxState } from '../sandbox/state.js';
import { bool, JSON_FLAGS, parseArgs, wantsJson } from '../util/args.js';
import { UserError, usageError } from '../util/errors.js';
import { humanDuration, json, out, table } from '../util/output.js';
import { pathsFrom } from '../util/paths.js';

const store = (env: NodeJS.ProcessEnv) => new StateStore(pathsFrom(env).stateDir);

function statusText(s: SandboxState, now: number): string {
  if (s.status === 'exited') return `Exited (${s.exitCode ?? 0}) ${humanDuration(now - Date.parse(s.finished ?? s.created))} ago`;
  if (s.status === 'creating') return 'Created';
  if (!isAlive(s.pid)) return 'Exiting'; // its init is dead; the supervisor has not finished the teardown yet
  return `Up ${humanDuration(now - Date.parse(s.created))}`;
}

const networksOf = (s: SandboxState): string => (s.mode === 'network' ? s.attachments.map((a) => a.network).join(',') : s.mode === 'container' ? `container:${s.target?.slice(0, 12)}` : s.mode);

export async function psCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, [...JSON_FLAGS, { name: 'all', short: 'a' }, { name: 'quiet', short: 'q' }]);
  const st = store(env);
  await reapDead(st, env);
  const now = Date.now();
  const rows = st.list().filter((s) => bool(p, 'all') || s.status !== 'exited');
  if (wantsJson(p)) {
    out(json(rows.map((s) => ({ ID: s.id, Name: s.name, Command: s.command, Created: s.created, Status: s.status, ExitCode: s.exitCode, State: statusText(s, now), Ports: s.ports, Networks: s.attachments, Mode: s.mode, Hostname: s.hostname, Pid: s.pid?.pid }))));
  } else if (bool(p, 'quiet')) {
    if (rows.length) out(rows.map((s) => s.id.slice(0, 12)).join('\n'));
  } else {
    out(table(['SANDBOX ID', 'NAME', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NETWORKS'], rows.map((s) => [s.id.slice(0, 12), s.name, JSON.stringify(s.command.join(' ').slice(0, 30)), `${humanDuration(now - Date.parse(s.created))} ago`, statusText(s, now), portsColumn(s.ports), networksOf(s)])));
  }
  return 0;
}

export async function portCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, JSON_FLAGS);
  if (p.positional.length < 1 || p.positional.length > 2) throw usageError('Usage: cnictl port SANDBOX [PORT[/PROTO]]');
  const st = store(env);
  await reapDead(st, env);
  const s = st.find(p.positional[0]!);
  if (!s) throw new UserError(`no such sandbox: ${p.positional[0]} (see "cnictl ps -a")`);
  if (s.status === 'exited' || !isAlive(s.supervisor)) throw new UserError(`sandbox ${s.name} is not running: it publishes nothing`);
  let ports = s.ports;
  const want = p.positional[1];
  if (want) {
    const [port, proto = 'tcp'] = want.split('/');
    ports = ports.filter((x) => String(x.containerPort) === port && x.protocol === proto);
    if (!ports.length) throw new UserError(`no public port '${want}' published for ${s.name}`);
  }
  const v6 = s.attachments.some((a) => a.ips.some((ip) => ip.includes(':')));
  if (wantsJson(p)) out(json(ports));
  else if (want) out(portLines(ports, v6).map((l) => l.split(' -> ')[1]).join('\n'));
  else if (ports.length) out(portLines(ports, v6).join('\n'));
  return 0;
}
