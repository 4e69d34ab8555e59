/**
 * The agent's files. In --state-dir (survives a reboot; /var/lib/cni-ts-agent): subnet.json, this node's subnets, so a
 * restart or a reboot asks for the same ones — written with fsync before the rename. In --run-dir (a reboot clears it;
 * /run/cni-ts-agent): status.json, what /healthz and /readyz serve, and the conflist (conflist.ts).
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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

export function saveStatus(runDir: string, s: Status): void {
  writeAtomically(statusFile(runDir), JSON.stringify(s, null, 2) + '\n');
}

export function removeStateFiles(stateDir: string, runDir: string): void {
  rmSync(subnetFile(stateDir), { force: true });
  rmSync(statusFile(runDir), { force: true });
}
