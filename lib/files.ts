/** Files that must never be seen half-written (configs, caches, state, backups). */
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Write `content` to `path` atomically: a temp file beside it, then rename over it; the temp file is removed when
 * anything fails. The directory must exist.
 */
export function writeFileAtomic(path: string, content: string, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, content, { mode });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
