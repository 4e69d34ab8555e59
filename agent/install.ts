/**
 * --install-cni SRC: copy the plugins the node's conflist needs (and loopback, which runtimes call) from SRC into the
 * CNI bin dir. Names that are links to one multi-call executable (dist/bin/bridge → cni-ts) are installed the same
 * way: the executable copied once, the names as relative symlinks to it. Every file is written to a temp name and
 * renamed into place, so a runtime never runs a half-copied plugin; unchanged files are left alone.
 */
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, chmodSync } from 'node:fs';
import { basename, join } from 'node:path';

export const INSTALLED_PLUGINS = ['bridge', 'host-local', 'portmap', 'loopback'] as const;

function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    if (sa.size !== sb.size) return false;
    return readFileSync(a).equals(readFileSync(b));
  } catch {
    return false;
  }
}

function copyAtomically(src: string, dest: string): boolean {
  if (existsSync(dest) && !lstatSync(dest).isSymbolicLink() && sameFile(src, dest)) return false;
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    copyFileSync(src, tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return true;
}

function linkAtomically(target: string, dest: string): boolean {
  try {
    if (lstatSync(dest).isSymbolicLink() && readlinkSync(dest) === target) return false;
  } catch {
    /* absent */
  }
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, dest);
  return true;
}

/** Install; returns log lines. Throws naming a missing plugin. */
export function installPlugins(from: string, binDir: string, names: readonly string[] = INSTALLED_PLUGINS): string[] {
  const log: string[] = [];
  const real = new Map<string, string[]>();
  for (const n of names) {
    const p = join(from, n);
    if (!existsSync(p)) throw new Error(`--install-cni: ${p} does not exist (the source must hold ${names.join(', ')})`);
    const r = realpathSync(p);
    real.set(r, [...(real.get(r) ?? []), n]);
  }
  mkdirSync(binDir, { recursive: true });
  for (const [file, ns] of real) {
    const shared = ns.length > 1 || !ns.includes(basename(file));
    if (!shared) {
      const dest = join(binDir, ns[0]!);
      log.push(copyAtomically(file, dest) ? `installed ${dest}` : `${dest} is up to date`);
      continue;
    }
    const target = basename(file);
    const dest = join(binDir, target);
    log.push(copyAtomically(file, dest) ? `installed ${dest}` : `${dest} is up to date`);
    for (const n of ns) {
      if (n === target) continue;
      log.push(linkAtomically(target, join(binDir, n)) ? `linked ${join(binDir, n)} → ${target}` : `${join(binDir, n)} → ${target} is up to date`);
    }
  }
  return log;
}
