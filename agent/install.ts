/**
 * --install-cni SRC: install the plugins the node's conflist needs from SRC into the CNI bin dir, under OUR names, so
 * the distribution's plugins (and Multus', podman's, …) stay as they are: the multi-call executable once as `cni-ts`,
 * and `cni-ts-bridge`, `cni-ts-host-local`, `cni-ts-portmap` as relative links to it (the names the conflist uses);
 * `loopback`, which runtimes call by that name, only when the node has none. --install-cni-replace also points the
 * plain names (bridge, host-local, portmap, loopback) at it. Every file is written to a temp name and renamed into
 * place, so a runtime never runs a half-copied plugin; unchanged files are left alone.
 */
import { copyFileSync, existsSync, lstatSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, chmodSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PLUGIN_PREFIX } from './conflist.js';

/** The plugins the agent's conflist needs, and loopback (which runtimes run themselves). */
export const INSTALLED_PLUGINS = ['bridge', 'host-local', 'portmap', 'loopback'] as const;
/** Installed under our prefix; loopback keeps its name (runtimes call it by that name). */
const PREFIXED = ['bridge', 'host-local', 'portmap'] as const;
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
export function installPlugins(from: string, binDir: string, replace = false): string[] {
  const log: string[] = [];
  const real = new Map<string, string>();
  for (const n of INSTALLED_PLUGINS) {
    const p = join(from, n);
    if (!existsSync(p)) throw new Error(`--install-cni: ${p} does not exist (the source must hold ${INSTALLED_PLUGINS.join(', ')})`);
    real.set(n, realpathSync(p));
  }
  mkdirSync(binDir, { recursive: true });
  const present = (n: string): boolean => {
    try {
      lstatSync(join(binDir, n));
      return true;
    } catch {
      return false;
    }
  };
  /** Targets: our name for each plugin, plus the plain names when replacing (loopback: also when there is none). */
  const targets: Array<{ plugin: string; name: string }> = PREFIXED.map((p) => ({ plugin: p, name: `${PLUGIN_PREFIX}${p}` }));
  if (replace) targets.push(...PREFIXED.map((p) => ({ plugin: p, name: p })));
  if (replace || !present('loopback')) targets.push({ plugin: 'loopback', name: 'loopback' });
  else log.push(`${join(binDir, 'loopback')} left as it is (the node's own; --install-cni-replace replaces it)`);
  const files = new Set(real.values());
  const multiCall = files.size === 1;
  if (multiCall) {
    // One executable answering to every name: copied once under its own name, every name a link to it.
    const file = [...files][0]!;
    const target = basename(file);
    const dest = join(binDir, target);
    log.push(copyAtomically(file, dest) ? `installed ${dest}` : `${dest} is up to date`);
    for (const t of targets) {
      if (t.name === target) continue;
      const d = join(binDir, t.name);
      log.push(linkAtomically(target, d) ? `linked ${d} → ${target}` : `${d} → ${target} is up to date`);
    }
    return log;
  }
  for (const t of targets) {
    const d = join(binDir, t.name);
    log.push(copyAtomically(real.get(t.plugin)!, d) ? `installed ${d}` : `${d} is up to date`);
  }
  return log;
}
