/**
 * How to run this cnictl again (a detached sandbox's supervisor is `cnictl __supervise ID`):
 * under Node (or `bun script`) the runtime plus the script; as a compiled (multi-call) executable, the path it was
 * invoked by — not /proc/self/exe, whose name would not say "cnictl". CNICTL_SELF overrides it.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export function selfArgv(env: NodeJS.ProcessEnv): string[] {
  if (env.CNICTL_SELF) return [env.CNICTL_SELF];
  const script = process.argv[1];
  if (script && !script.startsWith('/$bunfs') && existsSync(script)) return [process.execPath, resolve(script)];
  const a0 = process.argv0;
  if (a0.includes('/')) return [resolve(a0)];
  for (const d of (env.PATH ?? '').split(':')) {
    const p = join(d || '.', a0);
    try {
      accessSync(p, constants.X_OK);
      return [p];
    } catch {
      /* next */
    }
  }
  return [process.execPath];
}
