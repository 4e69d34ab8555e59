/**
 * cnictl: Docker's network workflow over plain CNI configs and plugins, with no daemon.
 * Nothing runs at import; each subcommand's module is loaded only when that subcommand runs.
 */
import { UserError, oneLine } from './util/errors.js';
import { err, out } from './util/output.js';

const HELP = `Usage: cnictl COMMAND [ARG...]

Docker's network workflow over CNI: networks are conflists in NETCONFPATH, sandboxes are host commands in their
own network, UTS and mount namespaces, and every network change is a CNI plugin call.

Sandboxes:
  run [OPTIONS] [--] CMD [ARG...]   run a command in a new sandbox (see "cnictl run --help")
  ps [-a]                           list sandboxes
  port SANDBOX [PORT[/PROTO]]       published ports
  exec SANDBOX [--] CMD [ARG...]    run a command inside a running sandbox
  stop SANDBOX...                   stop sandboxes (their networks are detached)
  rm [-f] SANDBOX...                remove sandboxes
  logs SANDBOX                      output of a detached sandbox
  system prune [-f]                 remove exited sandboxes and unused networks, clean leaked attachments

Networks:
  network create|ls|inspect|rm|prune|connect|disconnect   (see "cnictl network --help")

cnitool-compatible runtime:
  add|check|del <network> <netns>, gc <network>, status <network>   (see "cnictl add --help")

Every listing takes --json (or --format json).`;

type Handler = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Handler>> = {
  add: async () => (await import('./commands/cnitool.js')).cnitoolCommand.bind(null, 'add'),
  check: async () => (await import('./commands/cnitool.js')).cnitoolCommand.bind(null, 'check'),
  del: async () => (await import('./commands/cnitool.js')).cnitoolCommand.bind(null, 'del'),
  gc: async () => (await import('./commands/cnitool.js')).cnitoolCommand.bind(null, 'gc'),
  status: async () => (await import('./commands/cnitool.js')).cnitoolCommand.bind(null, 'status'),
  network: async () => (await import('./commands/network.js')).networkCommand,
  run: async () => (await import('./commands/run.js')).runCommand,
  __supervise: async () => (await import('./commands/run.js')).superviseCommand,
  ps: async () => (await import('./commands/ps.js')).psCommand,
  port: async () => (await import('./commands/ps.js')).portCommand,
  exec: async () => (await import('./commands/sandbox.js')).execCommand,
  stop: async () => (await import('./commands/sandbox.js')).stopCommand,
  rm: async () => (await import('./commands/sandbox.js')).rmCommand,
  logs: async () => (await import('./commands/sandbox.js')).logsCommand,
  system: async () => (await import('./commands/sandbox.js')).systemCommand,
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    out(HELP);
    return cmd ? 0 : 2;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    err(`cnictl: unknown command "${cmd}": see "cnictl --help"`);
    return 2;
  }
  try {
    return await (await load())(rest, env);
  } catch (e) {
    if (e instanceof UserError) {
      err(`cnictl: ${e.message.includes('\nUsage') ? e.message : oneLine(e.message)}`);
      return e.status;
    }
    // plugin and runtime failures carry their own explanation; the stack only with CNICTL_DEBUG=1
    err(`cnictl: ${oneLine(String(env.CNICTL_DEBUG ? ((e as Error)?.stack ?? e) : ((e as Error)?.message ?? e)))}`);
    return 1;
  }
}
