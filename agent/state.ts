/**
 * The agent's files in --state-dir: subnet.json (this node's subnets, so a restart asks for the same ones) and
 * status.json (what /healthz serves), both written atomically.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomically } from './conflist.js';

export interface SavedSubnets {
  node: string;
  subnets: string[];
}

export const subnetFile = (stateDir: string): string => join(stateDir, 'subnet.json');
export const statusFile = (stateDir: string): string => join(stateDir, 'status.json');

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

export interface Status {
  ok: boolean;
  node: string;
  backend: string;
  store: string;
  storeConnected: boolean;
  storeDetail: string;
  subnets: string[];
  peers: Array<{ node: string; subnets: string[]; publicIPs: string[] }>;
  lastReconcile?: string;
  lastError?: string;
  since: string;
}

export function saveStatus(stateDir: string, s: Status): void {
  writeAtomically(statusFile(stateDir), JSON.stringify(s, null, 2) + '\n');
}

export function removeStateFiles(stateDir: string): void {
  rmSync(subnetFile(stateDir), { force: true });
  rmSync(statusFile(stateDir), { force: true });
}
