/** `cnictl exec|stop|rm|logs|system prune`. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { isRunning, Sandboxes } from '../sandbox/lifecycle.js';
import { deleteNetns, execArgv } from '../sandbox/namespaces.js';
import { isAlive } from '../sandbox/state.js';
import { bool, parseArgs, str } from '../util/args.js';
import { UserError, usageError } from '../util/errors.js';
import { err, out } from '../util/output.js';
import { requireRoot } from '../util/root.js';

export async function execCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, [], { stopAtPositional: true });
  const [ref, ...cmd] = p.rest.length && p.positional.length === 0 ? p.rest : [...p.positional, ...p.rest];
  const command = cmd[0] === '--' ? cmd.slice(1) : cmd;
  if (!ref || command.length === 0) throw usageError('Usage: cnictl exec SANDBOX [--] CMD [ARG...]');
  requireRoot('exec');
  const sb = new Sandboxes(env);
  sb.reap();
  const s = sb.get(ref);
  if (!isRunning(s) || !isAlive(s.pid)) throw new UserError(`sandbox ${s.name} is not running: start a new one with cnictl run`);
  const argvExec = execArgv(s.pid!.pid, command);
  const child = spawn(argvExec[0]!, argvExec.slice(1), { stdio: 'inherit', env: { ...env, HOSTNAME: s.hostname } });
  const ignore = () => {}; // the terminal's signals reach the command directly (same process group)
  for (const sig of ['SIGINT', 'SIGQUIT'] as const) process.on(sig, ignore);
  return new Promise((resolve) => {
    child.on('error', (e) => resolve((err(`cnictl: cannot run nsenter: ${e.message}`), 126)));
    child.on('exit', (code, sig) => resolve(code ?? (sig === 'SIGKILL' ? 137 : 143)));
  });
}

export async function stopCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, [{ name: 'time', short: 't', value: true }, { name: 'timeout', value: true }]);
  if (!p.positional.length) throw usageError('Usage: cnictl stop [-t SECONDS] SANDBOX...');
  requireRoot('stop');
  const t = Number(str(p, 'time') ?? str(p, 'timeout') ?? 10);
  if (!Number.isFinite(t) || t < 0) throw new UserError(`invalid --time ${str(p, 'time')}: seconds, e.g. -t 5`);
  const sb = new Sandboxes(env);
  return eachRef(p.positional, async (ref) => {
    await sb.stop(ref, t);
    out(ref);
  });
}

export async function rmCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, [{ name: 'force', short: 'f' }]);
  if (!p.positional.length) throw usageError('Usage: cnictl rm [-f] SANDBOX...');
  requireRoot('rm');
  const sb = new Sandboxes(env);
  return eachRef(p.positional, async (ref) => {
    await sb.remove(ref, bool(p, 'force'));
    out(ref);
  });
}

async function eachRef(refs: string[], fn: (ref: string) => Promise<void>): Promise<number> {
  let status = 0;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      err(`cnictl: ${e.message}`);
      status = 1;
    }
  }
  return status;
}

export async function logsCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, []);
  if (p.positional.length !== 1) throw usageError('Usage: cnictl logs SANDBOX');
  const sb = new Sandboxes(env);
  const s = sb.get(p.positional[0]!);
  const f = sb.store.file(s.id, 'log');
  if (!existsSync(f)) {
    if (!s.detached) err(`cnictl: ${s.name} ran in the foreground: its output went to the terminal, not to a log`);
    return 0;
  }
  process.stdout.write(readFileSync(f));
  return 0;
}

export async function systemCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'prune') throw usageError('Usage: cnictl system prune [-f]');
  const p = parseArgs(rest, [{ name: 'force', short: 'f' }]);
  requireRoot('system prune');
  const { confirm, pruneNetworks } = await import('./network.js');
  if (
    !bool(p, 'force') &&
    !(await confirm('WARNING! This will remove:\n  - all stopped sandboxes\n  - all networks not used by at least one sandbox\n  - leaked CNI attachments and network namespaces\nAre you sure you want to continue? [y/N] '))
  ) {
    return 0;
  }
  const sb = new Sandboxes(env);
  const reaped = sb.reap();
  const removed: string[] = [];
  for (const s of sb.store.list()) {
    if (s.status !== 'exited') continue;
    sb.store.remove(s.id);
    removed.push(s.name);
  }
  // network namespaces named like ours that no live sandbox owns (e.g. a crash between create and record)
  const live = new Set(sb.store.list().map((s) => s.netns));
  const leakedNs: string[] = [];
  if (existsSync('/run/netns')) {
    for (const n of readdirSync('/run/netns')) {
      if (!n.startsWith('cnictl-') || live.has(`/run/netns/${n}`)) continue;
      deleteNetns(`/run/netns/${n}`);
      leakedNs.push(n);
    }
  }
  const networks = await pruneNetworks(env);
  // CNI GC: cached attachments whose namespace is gone (or a cnictl namespace no live sandbox owns) are DEL'd
  const gcRemoved: string[] = [];
  const errors: string[] = [];
  const liveIds = new Set(sb.store.list().filter((s) => s.status !== 'exited').map((s) => s.id));
  for (const l of sb.networks.load().lists) {
    if (!existsSync(l.file)) continue;
    const r = sb.runtime.gc(l, (e) => (e.netns ? existsSync(e.netns) && (!e.netns.includes('/cnictl-') || liveIds.has(e.containerId)) : true));
    gcRemoved.push(...r.removed.map((e) => `${l.name}: ${e.containerId.slice(0, 12)} ${e.ifName}`));
    errors.push(...r.errors.map((e) => e.message));
  }
  if (reaped.length) out(`Cleaned up dead sandboxes:\n${reaped.join('\n')}`);
  if (removed.length) out(`Deleted Sandboxes:\n${removed.join('\n')}`);
  if (networks.length) out(`Deleted Networks:\n${networks.join('\n')}`);
  if (leakedNs.length) out(`Deleted network namespaces:\n${leakedNs.join('\n')}`);
  if (gcRemoved.length) out(`Removed stale attachments (CNI GC):\n${gcRemoved.join('\n')}`);
  for (const e of errors) err(`cnictl: warning: ${e}`);
  return 0;
}
