/**
 * The node's CNI config: bridge + host-local (this node's subnets) + portmap, under our own plugin names
 * (cni-ts-bridge, cni-ts-host-local, cni-ts-portmap: --install-cni puts them beside the distribution's plugins, never
 * over them) when they are in the CNI bin dir, else the plain names (a node set up with scripts/install.sh). The bridge
 * does not masquerade (the agent's nft table does, for traffic leaving the cluster only); loopback is left to the
 * runtime.
 *
 * Where it lives: the content is written to <run-dir> (a tmpfs, cleared by a reboot) and <conf-dir>/<conf-name> is a
 * symbolic link to it. After a reboot the link dangles until the agent has confirmed the node's subnet with the store
 * and written the file again, so no runtime can create a pod with a subnet the node may no longer hold; a restart of
 * the agent alone keeps the file (pods keep being created meanwhile). Every change re-creates the link too, so runtimes
 * watching <conf-dir> (containerd's inotify) see it.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { syncDir, writeFileAtomic } from '../lib/files.js';

/** Our plugin names in the conflist: the executable's names with this prefix (scripts/build.mjs dispatches them). */
export const PLUGIN_PREFIX = 'cni-ts-';

export interface ConflistOptions {
  networkName: string;
  bridge: string;
  subnets: readonly string[];
  mtu: number;
  ipamDataDir?: string;
  /** Prefix of the plugin types (default PLUGIN_PREFIX; '' for the plain names). */
  pluginPrefix?: string;
}

/** The prefix the conflist uses: ours when cni-ts-bridge is in the bin dir, else none. */
export const pluginPrefixFor = (cniBinDir: string): string => (existsSync(join(cniBinDir, `${PLUGIN_PREFIX}bridge`)) ? PLUGIN_PREFIX : '');

/** The conflist JSON (pure). */
export function buildConflist(o: ConflistOptions): Record<string, unknown> {
  const prefix = o.pluginPrefix ?? PLUGIN_PREFIX;
  const ipam: Record<string, unknown> = {
    type: `${prefix}host-local`,
    ranges: o.subnets.map((s) => [{ subnet: s }]),
  };
  if (o.ipamDataDir) ipam.dataDir = o.ipamDataDir;
  return {
    cniVersion: '1.0.0',
    name: o.networkName,
    plugins: [
      { type: `${prefix}bridge`, bridge: o.bridge, isGateway: true, isDefaultGateway: true, ipMasq: false, hairpinMode: true, mtu: o.mtu, ipam },
      { type: `${prefix}portmap`, capabilities: { portMappings: true }, snat: true },
    ],
  };
}

export const renderConflist = (o: ConflistOptions): string => JSON.stringify(buildConflist(o), null, 2) + '\n';

/** Write the file when its content differs: temp file in the same directory, fsync, then rename. Returns whether it changed. */
export function writeAtomically(path: string, content: string): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return false;
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, content, 0o644, true);
  return true;
}

/** Is `path` a symlink to `target`? */
function linksTo(path: string, target: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink() && readlinkSync(path) === target;
  } catch {
    return false;
  }
}

/** Point `path` at `target` with a new symlink renamed over it (atomic; an inotify watcher sees it). */
function relink(path: string, target: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(dirname(path));
}

export interface ConflistPlace {
  /** <conf-dir>/<conf-name>: what runtimes read (a link). */
  confPath: string;
  /** <run-dir>/<conf-name>: the content. */
  runPath: string;
}

export const conflistPlace = (confDir: string, confName: string, runDir: string): ConflistPlace => ({ confPath: join(confDir, confName), runPath: join(runDir, confName) });

/** Install the conflist (content in the run dir, link in the conf dir). Returns whether anything changed. */
export function installConflist(p: ConflistPlace, content: string): boolean {
  const changed = writeAtomically(p.runPath, content);
  if (changed || !linksTo(p.confPath, p.runPath)) {
    relink(p.confPath, p.runPath);
    return true;
  }
  return false;
}

/** Is this file a conflist the agent wrote (its network name and bridge)? Used before removing it. */
export function isOurConflist(path: string, networkName: string, bridge: string): boolean {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8'));
    const type = c.plugins?.[0]?.type;
    return c.name === networkName && Array.isArray(c.plugins) && (type === 'bridge' || type === `${PLUGIN_PREFIX}bridge`) && c.plugins[0]?.bridge === bridge;
  } catch {
    return false;
  }
}

/**
 * Remove the conflist: the link (when it is ours: pointing at our file, or a file we wrote before links) and our file.
 * Returns what was removed, or why the conf-dir entry was left.
 */
export function removeConflist(p: ConflistPlace, networkName: string, bridge: string): { removed: string[]; left?: string } {
  const removed: string[] = [];
  let left: string | undefined;
  let isLink = false;
  try {
    isLink = lstatSync(p.confPath).isSymbolicLink();
  } catch {
    /* absent */
  }
  if (linksTo(p.confPath, p.runPath) || (!isLink && existsSync(p.confPath) && isOurConflist(p.confPath, networkName, bridge))) {
    rmSync(p.confPath, { force: true });
    syncDir(dirname(p.confPath));
    removed.push(p.confPath);
  } else if (isLink || existsSync(p.confPath)) left = `${p.confPath} was not written by this agent (network ${networkName}, bridge ${bridge}): left alone`;
  if (existsSync(p.runPath) && isOurConflist(p.runPath, networkName, bridge)) {
    rmSync(p.runPath, { force: true });
    removed.push(p.runPath);
  }
  return { removed, left };
}
