/**
 * In-process `ip` and `bridge`: the command lines cni-ts runs, executed over rtnetlink by the executable itself
 * (lib/rtnetlink/*), with the results, listings and error texts iproute2 gives. Undefined means "run the program":
 * under Node, with CNI_TS_NO_FFI=1, or for a command line outside the subset that is taken over. lib/netns.ts is the
 * only caller; plugins keep writing `ip` lines and never see which path ran them.
 */
import { libc } from '../native.js';
import { traceEvent, tracing } from '../trace.js';
import { parseBridge, parseIp, type Program } from './ipcmd.js';
import { runBatch, runProgram, type ListResult, type RunResult } from './run.js';

export type { ListResult, RunResult };

function runTaken(tool: 'ip' | 'bridge', program: Program | undefined, args: readonly string[], netnsPath: string | undefined, objects = false): RunResult | undefined {
  if (!program) return undefined;
  const t0 = tracing() ? performance.now() : 0;
  const r = objects ? runProgram(program, netnsPath, true) : runProgram(program, netnsPath);
  if (r && tracing()) traceEvent(`netlink ${tool} ${args.join(' ')}`.slice(0, 120), performance.now() - t0);
  return r;
}

/** `ip ARGS` (stdin `input` for -batch) in the netns at `netnsPath` (undefined: this one), or undefined: exec it. */
export function ipInProcess(args: readonly string[], input: string | undefined, netnsPath: string | undefined): RunResult | undefined {
  if (!libc()) return undefined;
  return runTaken('ip', parseIp(args, input), args, netnsPath);
}

/**
 * A `-j` listing (`ip -j …` / `bridge -j …`, one command) in-process, with the objects the program would print kept
 * as objects (`lists[0]`: no JSON text written and parsed back), or undefined: exec it.
 */
export function listInProcess(tool: 'ip' | 'bridge', args: readonly string[], netnsPath: string | undefined): ListResult | undefined {
  if (!libc()) return undefined;
  const program = (tool === 'ip' ? parseIp : parseBridge)(args);
  if (!program?.options.json || program.batch) return undefined;
  return runTaken(tool, program, args, netnsPath, true) as ListResult | undefined;
}

/** `bridge ARGS`, as ipInProcess. */
export function bridgeInProcess(args: readonly string[], input: string | undefined, netnsPath: string | undefined): RunResult | undefined {
  if (!libc()) return undefined;
  return runTaken('bridge', parseBridge(args, input), args, netnsPath);
}

/**
 * Change lines of `ip` and `bridge` as ONE batch of netlink messages in the netns at `netnsPath` (undefined: this
 * one), each tried whatever the others do; per line undefined (done) or iproute2's error text. Undefined: not taken
 * over (run `ip -force -batch` / `bridge -force -batch`).
 */
export function batchInProcess(lines: ReadonlyArray<{ tool: 'ip' | 'bridge'; line: string }>, netnsPath: string | undefined): Array<string | undefined> | undefined {
  if (!libc() || !lines.length) return undefined;
  const t0 = tracing() ? performance.now() : 0;
  const r = runBatch(lines, netnsPath);
  if (r && tracing()) traceEvent(`netlink batch of ${lines.length}`, performance.now() - t0);
  return r;
}
