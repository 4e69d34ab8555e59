/** Multi-step operations: undo on failure (ADD), or run every step regardless and report the first error (DEL, GC). */
import { CniError, pluginError } from './cni/errors.js';

/** Run `fn`; on failure run what `undo` lists by then, newest first (each best-effort), and rethrow. */
export function withRollback<T>(undo: Array<() => void>, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    for (const u of [...undo].reverse()) {
      try {
        u();
      } catch {
        /* keep undoing */
      }
    }
    throw e;
  }
}

/** Run every step even when earlier ones fail; then throw the first error (as a CniError), if any. */
export function runAll(steps: ReadonlyArray<(() => void) | undefined | false>): void {
  let first: CniError | undefined;
  for (const step of steps) {
    if (!step) continue;
    try {
      step();
    } catch (e) {
      first ??= e instanceof CniError ? e : pluginError((e as Error).message);
    }
  }
  if (first) throw first;
}
