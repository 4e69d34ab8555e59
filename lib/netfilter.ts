/**
 * nftables and iptables through batch interfaces: one `nft -f -` or one `iptables-restore` per operation. In the
 * executable, `nft` runs in-process through libnftables (lib/nftables.ts: the same script text, results and errors);
 * iptables always execs (it has no library interface).
 */
import { existsSync } from 'node:fs';
import { join } from './paths.js';
import { pluginError } from './cni/errors.js';
import { run, type RunResult } from './exec.js';
import type { Netns } from './netns.js';
import { nftInProcess } from './nftables.js';
import { traceEvent, tracing } from './trace.js';

export type Backend = 'nftables' | 'iptables';

let nftInstalled: boolean | undefined;
/** Is the `nft` program on PATH? nftables counts as available only then, whichever path runs it. */
function nftOnPath(): boolean {
  nftInstalled ??= (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, 'nft')));
  return nftInstalled;
}

/**
 * `nft ARGS` (stdin `input`) in `netns` (default: this one): libnftables in-process when available, else the program.
 * Either way only where `nft` is installed (on PATH), so both paths agree on whether nftables is there.
 */
export function nft(args: readonly string[], input?: string, netns?: Netns): RunResult {
  const t0 = tracing() ? performance.now() : 0;
  const r = nftOnPath() ? nftInProcess(args, input, netns?.isHost ? undefined : netns?.path) : undefined;
  if (r) {
    if (tracing()) traceEvent(`libnftables nft ${args.join(' ')}`.slice(0, 120), performance.now() - t0);
    return r;
  }
  if (netns && !netns.isHost) return netns.exec('nft', args, input);
  return run('nft', args, { input });
}

/** Run an nft script atomically (all or nothing). */
export function nftApply(script: string, netns?: Netns): RunResult {
  return nft(['-f', '-'], script, netns);
}

/** `nft -j ARGS` parsed into its list of objects (the `nftables` array). Undefined when nft fails. */
export function nftJson(args: readonly string[]): Array<Record<string, any>> | undefined {
  const r = nft(['-j', ...args]);
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

// ---------- iptables-restore text (pure) ----------

/** Quote one argument for an iptables-restore line (double quotes, backslash escapes). */
export function quoteArg(a: string): string {
  return /^[^\s"'\\]+$/.test(a) ? a : `"${a.replace(/(["\\])/g, '\\$1')}"`;
}

/** One rule's arguments as an iptables-restore line fragment. */
export const ruleLine = (args: readonly string[]): string => args.map(quoteArg).join(' ');

/** Chains declared in an iptables-save dump. */
export const declaredChains = (save: string): Set<string> =>
  new Set(save.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!));

/** The `-A CHAIN RULE` lines of a dump (RULE as iptables-save prints it). */
export const ruleLines = (save: string): Set<string> => new Set(save.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('-A ')));

/** A rule that must exist, written as iptables-save prints it, and how to add it when it does not (-I = first). */
export interface WantedRule {
  verb: '-A' | '-I';
  chain: string;
  rule: string;
}

/**
 * iptables-restore lines creating what `save` lacks: chain declarations first (declaring an existing chain would
 * flush it, so only missing ones), then the missing rules in the given order.
 */
export function missingSetup(save: string, chains: readonly string[], rules: readonly WantedRule[]): string[] {
  const declared = declaredChains(save);
  const have = ruleLines(save);
  return [
    ...chains.filter((c) => !declared.has(c)).map((c) => `:${c} - [0:0]`),
    ...rules.filter((r) => !have.has(`-A ${r.chain} ${r.rule}`)).map((r) => `${r.verb} ${r.chain} ${r.rule}`),
  ];
}
