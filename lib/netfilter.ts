/** nftables and iptables through batch interfaces: one `nft -f -` or one `iptables-restore` per operation. */
import { pluginError } from './cni/errors.js';
import { run, type RunResult } from './exec.js';
import type { Netns } from './netns.js';

export type Backend = 'nftables' | 'iptables';

/** Run an nft script atomically (all or nothing). */
export function nftApply(script: string, netns?: Netns): RunResult {
  return netns ? netns.exec('nft', ['-f', '-'], script) : run('nft', ['-f', '-'], { input: script });
}

/** `nft -j ARGS` parsed into its list of objects (the `nftables` array). Undefined when nft fails. */
export function nftJson(args: readonly string[]): Array<Record<string, any>> | undefined {
  const r = run('nft', ['-j', ...args]);
  if (r.status !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout) as { nftables?: Array<Record<string, any>> }).nftables ?? [];
  } catch {
    return undefined;
  }
}

export const iptablesCmd = (family: 4 | 6, tool: '' | '-save' | '-restore'): string => `${family === 4 ? 'iptables' : 'ip6tables'}${tool}`;

export function iptablesUsable(family: 4 | 6): boolean {
  return run(iptablesCmd(family, ''), ['-w', '-t', 'nat', '-S', 'POSTROUTING']).status === 0;
}

/** `iptables-save -t TABLE` text. */
export function iptablesSave(family: 4 | 6, table: string): string {
  const r = run(iptablesCmd(family, '-save'), ['-t', table]);
  if (r.status !== 0) throw pluginError(`${iptablesCmd(family, '-save')} -t ${table} failed`, r.stderr.trim());
  return r.stdout;
}

/** Apply rules with `iptables-restore --noflush` (the input carries its own `*table` and COMMIT lines). */
export function iptablesRestore(family: 4 | 6, input: string): RunResult {
  return run(iptablesCmd(family, '-restore'), ['-w', '--noflush'], { input });
}
