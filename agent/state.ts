/**
 * The agent's files. In --state-dir (survives a reboot; /var/lib/cni-ts-agent): subnet.json, this node's subnets, so a
 * restart or a reboot asks for the same ones — written with fsync before the rename. In --run-dir (a reboot clears it;
 * /run/cni-ts-agent): status.json, what /healthz and /readyz serve, and the conflist (conflist.ts).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/files.js';
import { writeAtomically } from './conflist.js';

export interface SavedSubnets {
  node: string;
  subnets: string[];
}

export const subnetFile = (stateDir: string): string => join(stateDir, 'subnet.json');
export const statusFile = (runDir: string): string => join(runDir, 'status.json');

export function loadSubnets(stateDir: string, node: string): string[] {
  try {
    const s = JSON.parse(readFileSync(subnetFile(stateDir), 'utf8')) as SavedSubnets;
    return s.node === node && Array.isArray(s.subnets) ? s.subnets.map(String) : [];
  } catch {
    return [];
  }
}

export function saveSubnets(stateDir: string, node: string, subnets: readonly string[]): void {
  writeAtomically(subnetFile(stateDir), JSON.stringify({ node, subnets }) + '\n');
}

export interface PeerStatus {
  node: string;
  subnets: string[];
  publicIPs: string[];
  /** Why this peer is not routed to (no VTEP MAC, not on the L2 segment, …). */
  skipped?: string;
  /** The last change for this peer that failed (the others are unaffected). */
  error?: string;
}

export interface Status {
  /** Ready: the same as `ready` (kept for older readers). */
  ok: boolean;
  /** /readyz: subnet held, data path, forwarding and masquerade in place, the store's watch fresh. */
  ready: boolean;
  /** Why not ready, one line each. */
  notReady: string[];
  /** Conditions the admin should know about (br_netfilter, duplicate peer IPs, …). */
  warnings: string[];
  node: string;
  backend: string;
  store: string;
  storeConnected: boolean;
  storeDetail: string;
  subnets: string[];
  publicIPs?: string[];
  mtu?: number;
  peers: PeerStatus[];
  lastReconcile?: string;
  lastError?: string;
  since: string;
}

/** status.json's text: indented, one line per peer (a thousand peers make ~100 KB, not ~200 KB). Pure. */
export function renderStatus(s: Status): string {
  const { peers, ...rest } = s;
  const head = JSON.stringify(rest, null, 2);
  const list = peers.length ? `[\n${peers.map((p) => `    ${JSON.stringify(p)}`).join(',\n')}\n  ]` : '[]';
  return `${head.slice(0, -2)},\n  "peers": ${list}\n}\n`;
}

/**
 * Write status.json (temp file + rename). The daemon calls this only when the status changed, so the old content is
 * not read back to compare (with many peers that was a second large string per change); a tmpfs needs no fsync.
 */
export function saveStatus(runDir: string, s: Status): void {
  mkdirSync(runDir, { recursive: true });
  writeFileAtomic(statusFile(runDir), renderStatus(s));
}

export function removeStateFiles(stateDir: string, runDir: string): void {
  rmSync(subnetFile(stateDir), { force: true });
  rmSync(statusFile(runDir), { force: true });
}
