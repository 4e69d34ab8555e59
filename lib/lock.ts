/**
 * flock(2) on a lock file, the same lock the Go host-local takes (go-filemutex on `<dir>/lock`).
 * Node has no flock: util-linux `flock` locks an fd we pass it as fd 3; the lock belongs to the open file
 * description, so it stays ours after the child exits and is released on close, exit or SIGKILL.
 */
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniError, ErrorCode } from './cni/errors.js';
import { run } from './exec.js';

export function withFileLock<T>(lockPath: string, fn: () => T, timeoutSeconds = 60): T {
  let fd: number;
  try {
    fd = openSync(lockPath, constants.O_CREAT | constants.O_RDONLY, 0o600);
  } catch (e) {
    throw new CniError(ErrorCode.IOFailure, `cannot open lock file ${lockPath}`, (e as Error).message);
  }
  try {
    const r = run('flock', ['-x', '-w', String(timeoutSeconds), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    if (r.status !== 0) {
      if (r.status === 1) throw new CniError(ErrorCode.TryAgainLater, `timed out after ${timeoutSeconds}s waiting for lock ${lockPath}`);
      throw new CniError(ErrorCode.IOFailure, `cannot lock ${lockPath}`, r.stderr.trim());
    }
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
  const dir = existsSync('/run/lock') ? '/run/lock' : tmpdir();
  return withFileLock(join(dir, `cni-ts-${name}.lock`), fn);
}
