/**
 * flock(2) on a lock file, the same lock the Go host-local takes (go-filemutex on `<dir>/lock`).
 * The self-contained executable calls flock(2) itself (lib/native.ts); under Node, util-linux `flock` locks an fd we
 * pass it as fd 3 (the lock belongs to the open file description, so it stays ours after the child exits). Either way
 * the lock is released on close, exit or SIGKILL.
 */
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { join } from './paths.js';
import { CniError, ErrorCode } from './cni/errors.js';
import { run, sleepSync } from './exec.js';
import { EINTR, EWOULDBLOCK, LOCK_EX, LOCK_NB, libc, type Libc } from './native.js';
import { traced } from './trace.js';

const timedOut = (lockPath: string, seconds: number): CniError =>
  new CniError(ErrorCode.TryAgainLater, `timed out after ${seconds}s waiting for lock ${lockPath}`);

/** Non-blocking attempts with a short, growing back-off (a lease lock is held for a millisecond or two). */
function flockNative(c: Libc, fd: number, lockPath: string, timeoutSeconds: number): void {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (let wait = 0.25; ; wait = Math.min(wait * 2, 8)) {
    const err = c.flock(fd, LOCK_EX | LOCK_NB);
    if (err === 0) return;
    if (err !== EWOULDBLOCK && err !== EINTR) throw new CniError(ErrorCode.IOFailure, `cannot lock ${lockPath}`, `flock: errno ${err}`);
    if (Date.now() > deadline) throw timedOut(lockPath, timeoutSeconds);
    sleepSync(wait);
  }
}

function flockExec(fd: number, lockPath: string, timeoutSeconds: number): void {
  const r = run('flock', ['-x', '-w', String(timeoutSeconds), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (r.status === 0) return;
  if (r.status === 1) throw timedOut(lockPath, timeoutSeconds);
  throw new CniError(ErrorCode.IOFailure, `cannot lock ${lockPath}`, r.stderr.trim());
}

/**
 * Run `fn` holding an exclusive flock(2) on `lockPath`. `create: false` locks only an existing file (e.g. a netns
 * bind mount, as the reference sbr does) and never makes one: a missing file is an ENOENT I/O error.
 */
export function withFileLock<T>(lockPath: string, fn: () => T, timeoutSeconds = 60, create = true): T {
  let fd: number;
  try {
    fd = openSync(lockPath, create ? constants.O_CREAT | constants.O_RDONLY : constants.O_RDONLY, 0o600);
  } catch (e) {
    throw new CniError(ErrorCode.IOFailure, `cannot open lock file ${lockPath}`, (e as Error).message);
  }
  try {
    const c = libc();
    if (c) traced('flock(2)', () => flockNative(c, fd, lockPath, timeoutSeconds));
    else flockExec(fd, lockPath, timeoutSeconds);
    return fn();
  } finally {
    closeSync(fd);
  }
}

/**
 * A host-wide lock named `name` (under /run/lock, or the temp dir without it), for the rare slow paths that read
 * shared state and then create what is missing — two at once would both create it. Common paths never take it.
 */
export function withHostLock<T>(name: string, fn: () => T): T {
  const dir = existsSync('/run/lock') ? '/run/lock' : process.env.TMPDIR || '/tmp';
  return withFileLock(join(dir, `cni-ts-${name}.lock`), fn);
}
