/**
 * The node's CNI config: bridge + host-local (this node's subnets) + portmap, written atomically once the node has
 * its subnets. The bridge does not masquerade (the agent's nft table does, for traffic leaving the cluster only);
 * loopback is left to the runtime.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../lib/files.js';
import { join } from 'node:path';

export interface ConflistOptions {
  networkName: string;
  bridge: string;
  subnets: readonly string[];
  mtu: number;
  ipamDataDir?: string;
}

/** The conflist JSON (pure). */
export function buildConflist(o: ConflistOptions): Record<string, unknown> {
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: o.subnets.map((s) => [{ subnet: s }]),
  };
  if (o.ipamDataDir) ipam.dataDir = o.ipamDataDir;
  return {
    cniVersion: '1.0.0',
    name: o.networkName,
    plugins: [
      { type: 'bridge', bridge: o.bridge, isGateway: true, isDefaultGateway: true, ipMasq: false, hairpinMode: true, mtu: o.mtu, ipam },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

export const renderConflist = (o: ConflistOptions): string => JSON.stringify(buildConflist(o), null, 2) + '\n';

/** Write the file when its content differs: temp file in the same directory, then rename. Returns whether it changed. */
export function writeAtomically(path: string, content: string): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return false;
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileAtomic(path, content);
  return true;
}

/** Is this file a conflist the agent wrote (its network name and bridge)? Used before removing it. */
export function isOurConflist(path: string, networkName: string, bridge: string): boolean {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8'));
    return c.name === networkName && Array.isArray(c.plugins) && c.plugins[0]?.type === 'bridge' && c.plugins[0]?.bridge === bridge;
  } catch {
    return false;
  }
}
