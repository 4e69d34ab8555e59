/** Executing a delegated plugin (IPAM) from CNI_PATH, as the spec and libcni's invoke package do. */
import { existsSync, statSync } from 'node:fs';
import { join } from '../paths.js';
import { CniError, ErrorCode, pluginError } from './errors.js';
import { NAME_PATTERN } from './config.js';
import { parseResult, type Result } from './result.js';
import { run } from '../exec.js';
import { traced } from '../trace.js';
import { invokePlugin, type CniContext } from './skel.js';
import { checkDelegation, DEPTH_ENV } from './delegation.js';

/**
 * Is the executable at `path` this very program (the same file as the running executable, or a link to it)? Then the
 * bundled copy of `type` run in-process is the same program with the same input, minus a process start.
 * Only a self-contained build can be that: under Node (unit tests, source) the running executable is node itself.
 */
export function isThisExecutable(path: string): boolean {
  try {
    const a = statSync(path);
    const b = statSync(process.execPath);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';

export function findInPath(type: string, dirs: readonly string[]): string {
  if (!NAME_PATTERN.test(type) || type.includes('/')) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid plugin type ${JSON.stringify(type)}: it must be a plain file name`);
  }
  for (const d of dirs) {
    const p = join(d, type);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  throw pluginError(`failed to find plugin ${JSON.stringify(type)} in path ${JSON.stringify(dirs)}`);
}

function parseErrorOutput(stdout: string, stderr: string, type: string): CniError {
  try {
    const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.code === 'number' && typeof e.msg === 'string') {
      return new CniError(e.code, e.msg, typeof e.details === 'string' ? e.details : undefined);
    }
  } catch {
    /* not JSON: fall through */
  }
  return pluginError(`plugin ${type} failed`, (stderr || stdout).trim() || 'no output');
}

/** Run `type` with `command`, the same stdin and environment. Returns the parsed result for ADD. */
export function delegate(type: string, command: Command, ctx: CniContext, stdin?: Buffer | string): Result | undefined {
  const self = ctx.self ? [ctx.self, ctx.conf.type] : [ctx.conf.type];
  const depth = ctx.depth ?? 0;
  checkDelegation(type, self, depth);
  const path = findInPath(type, ctx.path);
  const input = stdin ?? ctx.stdin;
  const env = { ...process.env, CNI_COMMAND: command, [DEPTH_ENV]: String(depth + 1) };
  const bundled = ctx.inProcess?.[type];
  const r = bundled && isThisExecutable(path)
    ? traced(`in-process ${type} ${command}`, () => ({ ...invokePlugin(bundled, env, () => Buffer.from(input)), stderr: '' }))
    : run(path, [], { input: input.toString(), env });
  if (r.status !== 0) throw parseErrorOutput(r.stdout, r.stderr, type);
  if (command !== 'ADD') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(r.stdout);
  } catch {
    throw new CniError(ErrorCode.DecodingFailure, `plugin ${type} printed a result that is not JSON`, r.stdout.slice(0, 200));
  }
  return parseResult(raw, ctx.conf.cniVersion);
}

/** Convenience wrappers for the IPAM named in the config. */
export function ipamType(ctx: CniContext): string | undefined {
  const t = ctx.conf.ipam?.type;
  return typeof t === 'string' && t !== '' ? t : undefined;
}

export function ipamAdd(ctx: CniContext): Result {
  const type = ipamType(ctx);
  if (!type) throw new CniError(ErrorCode.InvalidNetworkConfig, 'ipam "type" is required');
  const res = delegate(type, 'ADD', ctx)!;
  if (!res.ips?.length) throw pluginError('IPAM plugin returned missing IP config');
  return res;
}

/** IPAM DEL; never throws when there is no IPAM configured. */
export function ipamDel(ctx: CniContext): void {
  const type = ipamType(ctx);
  if (type) delegate(type, 'DEL', ctx);
}

/** STATUS and GC of a plugin that keeps no state of its own: the configured IPAM's (nothing without one). */
export function ipamStatus(ctx: CniContext): void {
  const type = ipamType(ctx);
  if (type) delegate(type, 'STATUS', ctx);
}

export function ipamGc(ctx: CniContext): void {
  const type = ipamType(ctx);
  if (type) delegate(type, 'GC', ctx);
}
