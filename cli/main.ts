/**
 * cnictl: Docker's network workflow over plain CNI configs and plugins, with no daemon.
 * Nothing runs at import; each subcommand's module is loaded only when that subcommand runs.
 */
import { UserError, oneLine, usageError } from './util/errors.js';
import { err, out } from './util/output.js';

const HELP = `Usage: cnictl COMMAND [ARG...]

Docker's network workflow over CNI: networks are conflists in NETCONFPATH, sandboxes are host commands in their
own network, UTS and mount namespaces, and every network change is a CNI plugin call.

Sandboxes:
  run [OPTIONS] [--] CMD [ARG...]   run a command in a new sandbox (-d, -it, -p, --network, ...)
  ps [-a] [-f KEY=VAL] [--format F] list sandboxes
  inspect [-f FORMAT] NAME|ID...    sandboxes (Docker's container shape) and networks, as JSON or a Go template
  port SANDBOX [PORT[/PROTO]]       published ports
  exec [-it] [-e K=V] [-w DIR] SANDBOX [--] CMD [ARG...]   run a command inside a running sandbox
  logs [-f] [--tail N] SANDBOX      output of a detached sandbox (stdout and stderr apart)
  stop [-t S] SANDBOX...            stop sandboxes (their networks are detached)
  start SANDBOX... / restart        start exited sandboxes again (same name, networks, ports, addresses)
  rename SANDBOX NEW_NAME           rename a sandbox
  rm [-f] SANDBOX...                remove sandboxes
  system prune [-f]                 remove exited sandboxes and unused networks, clean leaked attachments
  container COMMAND                 Docker's "container inspect|ls|run|exec|..." (the same commands)

Networks:
  network create|ls|inspect|rm|prune|connect|disconnect   (see "cnictl network --help")

cnitool-compatible runtime:
  add|check|del <network> <netns>, gc <network>, status <network>   (see "cnictl add --help")

  info                              plugins on CNI_PATH, paths, sandboxes, host
  version                           cnictl's version and the CNI spec versions it speaks

Every command takes --help. Listings take --json (or --format json); ps, inspect, network inspect, info and
version take Go templates (--format '{{.Names}}', Docker's syntax).`;

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
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand,
  start: async () => (await import('./commands/start.js')).startCommand,
  restart: async () => (await import('./commands/start.js')).restartCommand,
  rename: async () => (await import('./commands/start.js')).renameCommand,
  info: async () => (await import('./commands/info.js')).infoCommand,
  version: async () => (await import('./commands/info.js')).versionCommand,
  container: async () => containerCommand,
};

/** `cnictl container VERB …`: Docker's management-command spelling of the top-level verbs. */
async function containerCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'inspect') return (await import('./commands/inspect.js')).inspectCommand(rest, env, 'sandbox');
  const alias = verb === 'ls' || verb === 'list' ? 'ps' : verb === 'prune' ? 'system' : verb;
  const load = alias && alias !== 'container' && alias !== 'network' && !alias.startsWith('_') ? COMMANDS[alias] : undefined;
  if (!load) throw usageError(`unknown container command ${JSON.stringify(verb ?? '')}: inspect, ls, run, exec, start, stop, restart, rename, rm, logs, port, prune`);
  return (await load())(alias === 'system' ? ['prune', ...rest] : rest, env);
}

/** `--help`/`-h` among the options of a command (run and exec parse theirs: their command's args are not ours). */
function wantsHelp(cmd: string, rest: readonly string[]): boolean {
  if (cmd === 'run' || cmd === 'exec' || (cmd === 'container' && (rest[0] === 'run' || rest[0] === 'exec'))) return false;
  const opts = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  return opts.includes('--help') || (cmd !== 'network' && opts.includes('-h'));
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [cmd, ...rest] = argv;
  // bare `cnictl` shows the help, as bare `docker` does (exit 0); an empty command is an unknown one
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    out(HELP);
    return 0;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    err(`cnictl: unknown command "${cmd}": see "cnictl --help"`);
    return 2;
  }
  if (cmd !== 'network' && wantsHelp(cmd, rest)) {
    const { usageFor } = await import('./help.js');
    const usage = await usageFor(cmd, rest);
    if (usage) return out(usage), 0;
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
