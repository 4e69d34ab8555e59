/** `--help` (and `-h`, where it is not a flag of the command) for every command and subcommand: usage, exit 0. */

const SIMPLE: Record<string, string> = {
  stop: `Usage: cnictl stop [-t SECONDS] SANDBOX...

Stops sandboxes: SIGTERM, then SIGKILL after -t seconds (default 10); their networks are detached (CNI DEL).`,
  rm: `Usage: cnictl rm [-f] SANDBOX...

Removes exited sandboxes (-f: running ones too, killed first).`,
  port: `Usage: cnictl port SANDBOX [PORT[/PROTO]]

The published ports of a running sandbox, as "80/tcp -> 0.0.0.0:8080" (--json: JSON).`,
  system: `Usage: cnictl system prune [-f]

Removes exited sandboxes and unused networks cnictl created, leftover cnictl-* network namespaces, and (CNI GC)
cached attachments whose namespace is gone. Asks first unless -f.`,
  container: `Usage: cnictl container COMMAND

Docker's "container" verbs, the same as the top-level ones: inspect, ls (ps), ps, run, exec, start, stop, restart,
rename, rm, logs, port, prune (system prune).`,
};

/** The usage for `cnictl CMD [SUB]`. */
export async function usageFor(cmd: string, rest: readonly string[]): Promise<string | undefined> {
  const sub = rest.find((a) => !a.startsWith('-'));
  switch (cmd) {
    case 'run':
      return (await import('./commands/run.js')).RUN_USAGE;
    case 'exec':
      return (await import('./commands/sandbox.js')).EXEC_USAGE;
    case 'logs':
      return (await import('./commands/sandbox.js')).LOGS_USAGE;
    case 'ps':
      return (await import('./commands/ps.js')).PS_USAGE;
    case 'inspect':
      return (await import('./commands/inspect.js')).INSPECT_USAGE;
    case 'start':
      return (await import('./commands/start.js')).START_USAGE;
    case 'restart':
      return (await import('./commands/start.js')).RESTART_USAGE;
    case 'rename':
      return (await import('./commands/start.js')).RENAME_USAGE;
    case 'info':
      return (await import('./commands/info.js')).INFO_USAGE;
    case 'version':
      return (await import('./commands/info.js')).VERSION_USAGE;
    case 'add':
    case 'check':
    case 'del':
    case 'gc':
    case 'status':
      return (await import('./commands/cnitool.js')).USAGE;
    case 'container': {
      const alias = sub === 'ls' ? 'ps' : sub === 'prune' ? 'system' : sub;
      return alias && alias !== 'container' && alias !== 'network' ? ((await usageFor(alias, [])) ?? SIMPLE.container) : SIMPLE.container;
    }
    default:
      return SIMPLE[cmd];
  }
}
