/**
 * Deleting conntrack entries with the conntrack(8) tool (best effort: failures are reported, never thrown).
 * /proc/net/nf_conntrack (this netns's table) is read first, so the tool only runs when there is something to delete.
 */
import { readFileSync } from 'node:fs';
import { run } from './exec.js';

export type L4 = 'tcp' | 'udp' | 'sctp';

/**
 * Original-direction destination ports that have entries, per `family`/`proto`, parsed from nf_conntrack text
 * (`ipv4 2 udp 17 29 src=.. dst=.. sport=.. dport=5353 ...`). Pure.
 */
export function dstPortsWithEntries(text: string, family: 4 | 6, proto: L4): Set<number> {
  const fam = family === 4 ? 'ipv4' : 'ipv6';
  const out = new Set<number>();
  for (const line of text.split('\n')) {
    const f = line.split(/\s+/, 3);
    if (f[0] !== fam || f[2] !== proto) continue;
    const m = / dport=(\d+)/.exec(line);
    if (m) out.add(Number(m[1]));
  }
  return out;
}

function readTable(): string | undefined {
  try {
    return readFileSync('/proc/net/nf_conntrack', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Delete the entries of `proto` whose original destination port is one of `ports` (what the reference's
 * DeleteConntrackEntriesForDstPort does), in the current network namespace. Returns the errors, if any.
 */
export function deleteEntriesForDstPorts(family: 4 | 6, proto: L4, ports: readonly number[]): string[] {
  const errors: string[] = [];
  const table = readTable();
  const present = table === undefined ? undefined : dstPortsWithEntries(table, family, proto);
  for (const port of new Set(ports)) {
    if (present && !present.has(port)) continue;
    const r = run('conntrack', ['-D', '-f', family === 4 ? 'ipv4' : 'ipv6', '-p', proto, '--orig-port-dst', String(port)]);
    // Exit 1 with "0 flow entries have been deleted" just means there was nothing to delete.
    if (r.status !== 0 && !/0 flow entries/.test(r.stderr)) errors.push(r.stderr.trim() || `conntrack exited ${r.status}`);
  }
  return errors;
}
