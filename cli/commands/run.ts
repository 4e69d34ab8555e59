/** `cnictl run`: Docker's run without images — a host command in a sandbox of its own. */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { SandboxState } from '../sandbox/state.js';
import { Sandboxes } from '../sandbox/lifecycle.js';
import { parsePublish, portsColumn } from '../sandbox/ports.js';
import { bool, list, parseArgs, str, type FlagSpec } from '../util/args.js';
import { UserError, usageError } from '../util/errors.js';
import { err, out } from '../util/output.js';
import { requireRoot } from '../util/root.js';
import { selfArgv } from '../util/self.js';

export const RUN_USAGE = `Usage: cnictl run [OPTIONS] [--] CMD [ARG...]

Runs CMD in a sandbox: its own network, UTS and mount namespaces (no image: the host's files), attached to CNI
networks. In the foreground the command's exit status is cnictl's and its networks are detached when it ends.

  -d, --detach                 run in the background, print the sandbox ID (output: cnictl logs)
  -i, --interactive            keep stdin open: the terminal's in the foreground; when detached, a pipe kept open
                               (so "run -id ... -- sh" waits for input); without -i stdin is /dev/null, as Docker
  -t, --tty                    run CMD on a pseudo-terminal (-it in the foreground needs a terminal as stdin)
      --rm                     remove the sandbox when the command ends
      --name NAME              name (default: generated)
      --network NET            bridge (default), a network from "cnictl network ls" (name or ID), host, none or
                               container:NAME (join that sandbox's network namespace); repeat for eth1, eth2...
      --network name=NET,alias=NAME,ip=IPv4,ip6=IPv6,mac-address=MAC
                               a network with its own settings (Docker's advanced syntax; alias may repeat)
      --network-alias NAME     another name of the sandbox on its first (user-defined) network
  -p, --publish SPEC           [IP:][HOSTPORT:]CPORT[/tcp|udp|sctp], IP::CPORT, ranges (8080-8081:80-81);
                               no host port or 0: a free one is chosen and reported; 9100-9102:80: the first free
      --ip IP                  address on the first network (anywhere in its subnet, also outside --ip-range)
      --mac-address MAC        MAC address on the first network
  -h, --hostname NAME          hostname (default: the short sandbox ID); host.domain is the FQDN
      --dns IP                 nameserver for /etc/resolv.conf (default: the host's, see docs/cnictl.md)
      --dns-search DOMAIN      search domain
      --dns-option OPT         resolv.conf option (e.g. ndots:2)
      --add-host HOST:IP       extra /etc/hosts line (also HOST=IP; IP may be host-gateway)
  -e, --env KEY=VALUE          environment variable for CMD (KEY alone: cnictl's value)
  -w, --workdir DIR            working directory of CMD`;

const FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd' },
  { name: 'interactive', short: 'i' },
  { name: 'tty', short: 't' },
  { name: 'rm' },
  { name: 'name', value: true },
  { name: 'network', value: true, multi: true },
  { name: 'net', value: true, multi: true },
  { name: 'network-alias', value: true, multi: true },
  { name: 'net-alias', value: true, multi: true },
  { name: 'publish', short: 'p', value: true, multi: true },
  { name: 'ip', value: true },
  { name: 'hostname', short: 'h', value: true },
  { name: 'dns', value: true, multi: true },
  { name: 'dns-search', value: true, multi: true },
  { name: 'dns-option', value: true, multi: true },
  { name: 'dns-opt', value: true, multi: true },
  { name: 'add-host', value: true, multi: true },
  { name: 'mac-address', value: true },
  { name: 'env', short: 'e', value: true, multi: true },
  { name: 'workdir', short: 'w', value: true },
  { name: 'help' },
];

export async function runCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, FLAGS, { stopAtPositional: true });
  if (bool(p, 'help')) return out(RUN_USAGE), 0;
  if (p.rest.length === 0) throw usageError(`"cnictl run" needs a command\n${RUN_USAGE}`);
  const flags = {
    detach: bool(p, 'detach'),
    interactive: bool(p, 'interactive'),
    tty: bool(p, 'tty'),
    autoRemove: bool(p, 'rm'),
    networks: [...list(p, 'network'), ...list(p, 'net')],
    aliases: [...list(p, 'network-alias'), ...list(p, 'net-alias')],
    publish: list(p, 'publish'),
    dns: list(p, 'dns'),
    dnsSearch: list(p, 'dns-search'),
    dnsOptions: [...list(p, 'dns-option'), ...list(p, 'dns-opt')],
    addHosts: list(p, 'add-host'),
    env: list(p, 'env'),
    command: p.rest,
    ...(str(p, 'name') !== undefined ? { name: str(p, 'name')! } : {}),
    ...(str(p, 'ip') !== undefined ? { ip: str(p, 'ip')! } : {}),
    ...(str(p, 'hostname') !== undefined ? { hostname: str(p, 'hostname')! } : {}),
    ...(str(p, 'mac-address') !== undefined ? { mac: str(p, 'mac-address')! } : {}),
    ...(str(p, 'workdir') !== undefined ? { workdir: str(p, 'workdir')! } : {}),
  };
  // Docker's check: an interactive terminal session needs a terminal to read from
  if (flags.interactive && flags.tty && !flags.detach && !process.stdin.isTTY) throw new UserError('the input device is not a TTY: drop -t (or -i), or run cnictl from a terminal');
  requireRoot('run');
  const sandboxes = new Sandboxes(env);
  const s = sandboxes.create(flags);
  // host ports chosen for -p CPORT / -p IP::CPORT / -p 0:CPORT / ranges are reported, as Docker's `docker port` would show them
  if (flags.publish.flatMap(parsePublish).some((m) => m.hostPort === 0)) err(`cnictl: ${s.name} publishes ${portsColumn(s.ports)}`);
  if (!flags.detach) return sandboxes.supervise(s);
  await startSupervisor(sandboxes, s, env);
  out(s.id);
  return 0;
}

/** A detached sandbox's supervisor (`cnictl __supervise ID`, a session of its own); resolves once the command runs. */
export async function startSupervisor(sandboxes: Sandboxes, s: SandboxState, env: NodeJS.ProcessEnv): Promise<void> {
  const log = openSync(sandboxes.store.file(s.id, 'log'), 'a');
  const self = selfArgv(env);
  const sup = spawn(self[0]!, [...self.slice(1), '__supervise', s.id], { detached: true, stdio: ['ignore', 'pipe', log], env });
  closeSync(log);
  const reply = await new Promise<string>((resolve) => {
    let buf = '';
    sup.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf);
    });
    sup.on('exit', () => resolve(buf || 'error: the supervisor exited before starting the command'));
    sup.on('error', (e) => resolve(`error: cannot start the supervisor (${e.message})`));
  });
  sup.stdout!.destroy();
  sup.unref();
  if (!reply.startsWith('ok')) {
    await sandboxes.waitExited(s.id, 5000);
    if (sandboxes.store.read(s.id)?.status !== 'exited') sandboxes.teardown(s.id, 127, { remove: !s.started });
    throw new UserError(reply.replace(/^error: /, '').trim());
  }
}

/** `cnictl __supervise ID` (internal): the background process of a detached sandbox. */
export async function superviseCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sandboxes = new Sandboxes(env);
  const s = sandboxes.store.read(argv[0] ?? '');
  if (!s) {
    writeSync(1, `error: no sandbox ${argv[0]}\n`);
    return 1;
  }
  return sandboxes.supervise({ ...s, detached: true }, (e) => {
    try {
      writeSync(1, e ? `error: ${e.message}\n` : 'ok\n'); // (fd 1 stays open: libuv owns it; nothing else is written to it)
    } catch {
      /* the caller is gone */
    }
  });
}
