/** Files that must never be seen half-written (configs, caches, state, backups). */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from './paths.js';

/**
 * Write `content` to `path` atomically: a temp file beside it, then rename over it; the temp file is removed when
 * anything fails. The directory must exist. `durable`: the file's data is fsync'ed before the rename and the directory
 * after it, so a power loss leaves the old or the new content, never an empty file (for state that must survive a
 * reboot; costs a disk flush).
 */
export function writeFileAtomic(path: string, content: string, mode = 0o644, durable = false): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    if (durable) {
      const fd = openSync(tmp, 'w', mode);
      try {
        writeFileSync(fd, content);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } else writeFileSync(tmp, content, { mode });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (durable) syncDir(dirname(path));
}

/** fsync a directory (after a rename or a new link in it); best effort. */
export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* some filesystems refuse fsync on a directory: the rename is still atomic */
  }
}
