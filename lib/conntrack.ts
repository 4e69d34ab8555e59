/** Deleting conntrack entries with the conntrack(8) tool (best effort: failures are reported, never thrown). */
import { run } from './exec.js';

export type L4 = 'tcp' | 'udp' | 'sctp';

/**
 * Delete the entries of `proto` whose original destination port is one of `ports` (what the reference's
 * DeleteConntrackEntriesForDstPort does), in the current network namespace. Returns the errors, if any.
 */
export function deleteEntriesForDstPorts(family: 4 | 6, proto: L4, ports: readonly number[]): string[] {
  const errors: string[] = [];
  for (const port of new Set(ports)) {
    const r = run('conntrack', ['-D', '-f', family === 4 ? 'ipv4' : 'ipv6', '-p', proto, '--orig-port-dst', String(port)]);
    // Exit 1 with "0 flow entries have been deleted" just means there was nothing to delete.
    if (r.status !== 0 && !/0 flow entries/.test(r.stderr)) errors.push(r.stderr.trim() || `conntrack exited ${r.status}`);
  }
  return errors;
}
