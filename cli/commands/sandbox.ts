/** `cnictl exec|stop|rm|logs|system prune`. */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, writeSync } from 'node:fs';
import { commandEnv, isRunning, Sandboxes } from '../sandbox/lifecycle.js';
import { betweenTimes, LOG_TIME_FORMS, parseLog, parseLogTime, parseTail, tail, type LogRecord } from '../sandbox/logs.js';
import { deleteNetns, execArgv } from '../sandbox/namespaces.js';
import { isAlive, StateStore } from '../sandbox/state.js';
import { bool, list, parseArgs, str, type FlagSpec } from '../util/args.js';
import { pathsFrom } from '../util/paths.js';
import { UserError, usageError } from '../util/errors.js';
import { err, out } from '../util/output.js';
import { requireRoot } from '../util/root.js';

export const EXEC_USAGE = `Usage: cnictl exec [OPTIONS] SANDBOX [--] CMD [ARG...]

Runs CMD inside a running sandbox (its network, UTS and mount namespaces), with the sandbox's hostname.

  -d, --detach          run CMD in the background
  -i, --interactive     keep stdin open (without -i, CMD's stdin is /dev/null, as Docker)
  -t, --tty             run CMD on a pseudo-terminal (-it needs a terminal as stdin)
  -e, --env KEY=VALUE   environment variable (KEY alone: cnictl's value)
  -w, --workdir DIR     working directory (an absolute path inside the sandbox)`;

const EXEC_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd' },
  { name: 'interactive', short: 'i' },
  { name: 'tty', short: 't' },
  { name: 'env', short: 'e', value: true, multi: true },
  { name: 'workdir', short: 'w', value: true },
  { name: 'help', short: 'h' },
];

export async function execCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, EXEC_FLAGS, { stopAtPositional: true });
  if (bool(p, 'help')) return out(EXEC_USAGE), 0;
  const [ref, ...cmd] = p.rest.length && p.positional.length === 0 ? p.rest : [...p.positional, ...p.rest];
  const command = cmd[0] === '--' ? cmd.slice(1) : cmd;
  if (!ref || command.length === 0) throw usageError(EXEC_USAGE);
  const [interactive, tty, detach] = [bool(p, 'interactive'), bool(p, 'tty'), bool(p, 'detach')];
  const workdir = str(p, 'workdir');
  if (workdir !== undefined && !workdir.startsWith('/')) throw new UserError(`invalid --workdir ${JSON.stringify(workdir)}: the working directory must be an absolute path`);
  if (detach && (tty || interactive)) throw new UserError('exec -d runs CMD in the background: -i and -t need cnictl attached to it (drop -d)');
  if (interactive && tty && !process.stdin.isTTY) throw new UserError('the input device is not a TTY: drop -t (or -i), or run cnictl from a terminal');
  requireRoot('exec');
  const sb = new Sandboxes(env);
  sb.reap();
  const s = sb.get(ref);
  if (!isRunning(s) || !isAlive(s.pid)) throw new UserError(`sandbox ${s.name} is not running: start it (cnictl start ${s.name})`);
  const ptys = tty ? await import('../sandbox/pty.js') : undefined;
  const pty = ptys?.openPty(...ptys.terminalSize());
  const argvExec = execArgv(s.pid!.pid, command, { tty: !!pty, ...(workdir ? { workdir } : {}) });
  const stdio = pty ? [pty.slave, pty.slave, pty.slave] : detach ? (['ignore', 'ignore', 'ignore'] as const) : ([interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'] as const);
  const child = spawn(argvExec[0]!, argvExec.slice(1), { stdio: [...stdio], detached: detach, env: commandEnv(env, s.hostname, list(p, 'env'), !!pty) });
  if (pty) closeSync(pty.slave);
  if (detach) {
    child.on('error', () => {});
    child.unref();
    return 0;
  }
  const relay = pty ? ptys!.relayPty(pty, { input: interactive }) : undefined;
  const ignore = () => {}; // the terminal's signals reach the command directly (same process group, or its own terminal)
  for (const sig of ['SIGINT', 'SIGQUIT'] as const) process.on(sig, ignore);
  const code = await new Promise<number>((resolve) => {
    child.on('error', (e) => resolve((err(`cnictl: cannot run nsenter: ${e.message}`), 126)));
    child.on('exit', (c, sig) => resolve(c ?? 128 + (sig === 'SIGKILL' ? 9 : sig === 'SIGINT' ? 2 : 15)));
  });
  await relay?.finish();
  for (const sig of ['SIGINT', 'SIGQUIT'] as const) process.off(sig, ignore);
  return code;
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

export const LOGS_USAGE = `Usage: cnictl logs [OPTIONS] SANDBOX

The output of a detached (or started) sandbox: its stdout on stdout, its stderr on stderr.

  -f, --follow        keep printing new output until the sandbox stops (or --until is reached)
  -n, --tail N        only the last N lines ("all": everything), counted after --since/--until
      --since TIME    only lines written at or after TIME
      --until TIME    only lines written at or before TIME
  -t, --timestamps    prefix each line with the time it was written

TIME is an RFC 3339 time (2026-12-07T08:00:00Z, 2026-12-07T09:00:00.5+01:00; no zone: local time), a Unix
timestamp (1765094400, 1765094400.5) or a duration before now (10m, 1h30m, 1.5h, 42s, 250ms), as docker logs.`;

export async function logsCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, [{ name: 'follow', short: 'f' }, { name: 'tail', short: 'n', value: true }, { name: 'since', value: true }, { name: 'until', value: true }, { name: 'timestamps', short: 't' }, { name: 'help' }]);
  if (bool(p, 'help')) return out(LOGS_USAGE), 0;
  if (p.positional.length !== 1) throw usageError(LOGS_USAGE);
  const n = parseTail(str(p, 'tail'));
  if (Number.isNaN(n)) throw new UserError(`invalid --tail ${JSON.stringify(str(p, 'tail'))}: a number of lines or "all"`);
  const now = Date.now();
  const [since, until] = (['since', 'until'] as const).map((flag) => {
    const v = str(p, flag);
    if (v === undefined) return undefined;
    const t = parseLogTime(v, now);
    if (t === undefined) throw new UserError(`invalid --${flag} ${JSON.stringify(v)}: expected ${LOG_TIME_FORMS}`);
    return t;
  }) as [number | undefined, number | undefined];
  const st = new StateStore(pathsFrom(env).stateDir);
  const s = st.find(p.positional[0]!);
  if (!s) throw new UserError(`no such sandbox: ${p.positional[0]} (see "cnictl ps -a")`);
  const f = st.file(s.id, 'log');
  if (!existsSync(f)) {
    if (!s.detached) err(`cnictl: ${s.name} ran in the foreground: its output went to the terminal, not to a log`);
    return 0;
  }
  const stamp = bool(p, 'timestamps');
  const print = (records: LogRecord[]) => {
    for (const r of records) {
      const text = stamp ? `${r.time || '-'} ${r.log}` : r.log;
      writeSync(r.stream === 'stdout' ? 1 : 2, text);
    }
  };
  let offset = 0;
  let rest = '';
  const readMore = (): LogRecord[] => {
    const fd = openSync(f, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= offset) return [];
      const buf = Buffer.alloc(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      offset = size;
      const parsed = parseLog(rest + buf.toString('utf8'));
      rest = parsed.rest;
      return parsed.records;
    } finally {
      closeSync(fd);
    }
  };
  const within = (records: LogRecord[]) => betweenTimes(records, since, until);
  print(tail(within(readMore()), n));
  if (!bool(p, 'follow')) return 0;
  // -f: until the sandbox stops (or is removed), or --until is past, as Docker's logs -f
  const running = () => {
    const x = st.read(s.id);
    return !!x && x.status !== 'exited' && isAlive(x.supervisor);
  };
  for (;;) {
    const alive = running();
    const past = until !== undefined && Date.now() > until;
    print(within(readMore()));
    if (!alive || past) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (rest && since === undefined && until === undefined) print([{ log: rest, stream: 'stdout', time: '' }]);
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
