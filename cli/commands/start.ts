/** `cnictl start|restart|rename`: an exited sandbox again (detached, as Docker's start), and a new name. */
import { Sandboxes } from '../sandbox/lifecycle.js';
import { parseArgs, str } from '../util/args.js';
import { UserError, usageError } from '../util/errors.js';
import { err, out } from '../util/output.js';
import { requireRoot } from '../util/root.js';
import { startSupervisor } from './run.js';

export const START_USAGE = `Usage: cnictl start SANDBOX...

Starts exited sandboxes again, in the background (output: cnictl logs): the same ID, name, command and options,
the networks they were on (with their aliases), their published ports (a host port cnictl chose is kept when it is
still free) and their addresses where nobody took them meanwhile. A running sandbox is left as it is.`;

export const RESTART_USAGE = `Usage: cnictl restart [-t SECONDS] SANDBOX...

Stops (SIGTERM, then SIGKILL after -t seconds, default 10) and starts sandboxes again, as cnictl stop + start.`;

export const RENAME_USAGE = `Usage: cnictl rename SANDBOX NEW_NAME

Renames a sandbox; the sandboxes sharing a network with it resolve the new name.`;

async function startOne(sb: Sandboxes, ref: string): Promise<void> {
  const s = sb.prepareStart(ref);
  if (s) await startSupervisor(sb, s, sb.env);
}

async function each(refs: string[], fn: (ref: string) => Promise<void>): Promise<number> {
  let status = 0;
  for (const ref of refs) {
    try {
      await fn(ref);
      out(ref);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      err(`cnictl: ${e.message}`);
      status = 1;
    }
  }
  return status;
}

export async function startCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, []);
  if (!p.positional.length) throw usageError(START_USAGE);
  requireRoot('start');
  const sb = new Sandboxes(env);
  return each(p.positional, (ref) => startOne(sb, ref));
}

export async function restartCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, [{ name: 'time', short: 't', value: true }, { name: 'timeout', value: true }]);
  if (!p.positional.length) throw usageError(RESTART_USAGE);
  const t = Number(str(p, 'time') ?? str(p, 'timeout') ?? 10);
  if (!Number.isFinite(t) || t < 0) throw new UserError(`invalid --time ${str(p, 'time') ?? str(p, 'timeout')}: seconds, e.g. -t 5`);
  requireRoot('restart');
  const sb = new Sandboxes(env);
  return each(p.positional, async (ref) => {
    await sb.stop(ref, t);
    await startOne(sb, ref);
  });
}

export async function renameCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, []);
  if (p.positional.length !== 2) throw usageError(RENAME_USAGE);
  requireRoot('rename');
  new Sandboxes(env).rename(p.positional[0]!, p.positional[1]!);
  return 0;
}
