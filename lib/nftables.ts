/**
 * `nft` in-process: the executable calls libnftables (present wherever `nft` is; the same library the `nft` program
 * runs) through its FFI instead of exec'ing `nft`. The same script text, the same result: output and errors are
 * buffered (nft_ctx_buffer_output/error) and returned as the program would print them; `nft -f -` reads the script as
 * a file (a memfd) so error locations read "/dev/stdin:LINE:COL" as they do from the program.
 *
 * Taken over: `nft [-j] COMMAND…` and `nft [-j] -f -`. Anything else, Node, CNI_TS_NO_FFI=1, or no libnftables:
 * undefined, and the caller execs `nft`. lib/netfilter.ts is the caller.
 */
import { writeSync, closeSync } from 'node:fs';
import { inNetns, libc, type BunFfi } from './native.js';

export interface NftResult {
  status: number;
  stdout: string;
  stderr: string;
}

const NFT_CTX_OUTPUT_JSON = 1 << 4;

interface Lib {
  ctxNew(): unknown;
  free(ctx: unknown): void;
  run(ctx: unknown, text: string, fromFile: boolean): number;
  output(ctx: unknown): string;
  error(ctx: unknown): string;
  setFlags(ctx: unknown, flags: number): void;
}

let lib: Lib | null | undefined;

function load(): Lib | undefined {
  if (lib !== undefined) return lib ?? undefined;
  lib = null;
  if (!libc()) return undefined;
  try {
    const ffi = require('bun:ffi') as BunFfi;
    const { symbols: s } = ffi.dlopen('libnftables.so.1', {
      nft_ctx_new: { args: ['u32'], returns: 'ptr' },
      nft_ctx_free: { args: ['ptr'], returns: 'void' },
      nft_ctx_buffer_output: { args: ['ptr'], returns: 'i32' },
      nft_ctx_buffer_error: { args: ['ptr'], returns: 'i32' },
      nft_ctx_get_output_buffer: { args: ['ptr'], returns: 'ptr' },
      nft_ctx_get_error_buffer: { args: ['ptr'], returns: 'ptr' },
      nft_ctx_output_set_flags: { args: ['ptr', 'u32'], returns: 'void' },
      nft_run_cmd_from_buffer: { args: ['ptr', 'ptr'], returns: 'i32' },
      nft_run_cmd_from_filename: { args: ['ptr', 'ptr'], returns: 'i32' },
    });
    const cstr = (p: unknown): string => (p ? new ffi.CString(p).toString() : '');
    lib = {
      ctxNew: () => {
        const ctx = s.nft_ctx_new!(0);
        if (!ctx) return undefined;
        s.nft_ctx_buffer_output!(ctx);
        s.nft_ctx_buffer_error!(ctx);
        return ctx;
      },
      free: (ctx) => s.nft_ctx_free!(ctx),
      run: (ctx, text, fromFile) => (fromFile ? s.nft_run_cmd_from_filename! : s.nft_run_cmd_from_buffer!)(ctx, ffi.ptr(Buffer.from(`${text}\0`))),
      // each get_*_buffer returns what was written since the last call, and resets it
      output: (ctx) => cstr(s.nft_ctx_get_output_buffer!(ctx)),
      error: (ctx) => cstr(s.nft_ctx_get_error_buffer!(ctx)),
      setFlags: (ctx, flags) => s.nft_ctx_output_set_flags!(ctx, flags),
    };
  } catch {
    lib = null;
  }
  return lib ?? undefined;
}

/** The command line taken over: options -j and `-f -`, then the command words. Pure. */
export function parseNftArgs(args: readonly string[]): { json: boolean; stdin: boolean; words: string[] } | undefined {
  let json = false;
  let stdin = false;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-j' || a === '--json') json = true;
    else if (a === '-f' || a === '--file') {
      if (args[++i] !== '-') return undefined;
      stdin = true;
    } else if (a.startsWith('-')) return undefined;
    else break;
  }
  const words = args.slice(i);
  if (stdin ? words.length > 0 : words.length === 0) return undefined;
  return { json, stdin, words: [...words] };
}

/** nft reads `-f -` as the file /dev/stdin; here it reads /proc/self/fd/N: name it as nft would. Pure. */
export const asStdinErrors = (text: string, fdPath: string): string => text.split(`${fdPath}:`).join('/dev/stdin:');

/** A context for the host netns, kept for the process (libnftables keeps its netlink socket and cache in it). */
let hostCtx: unknown;

/**
 * `nft ARGS` (stdin `input` for `-f -`) in the netns at `netnsPath` (undefined: this one), or undefined when it is
 * not taken over (then exec `nft`).
 */
export function nftInProcess(args: readonly string[], input: string | undefined, netnsPath?: string): NftResult | undefined {
  const cmd = parseNftArgs(args);
  if (!cmd || (cmd.stdin && input === undefined)) return undefined;
  const l = load();
  const x = libc();
  if (!l || !x) return undefined;
  const exec = (ctx: unknown): NftResult => {
    l.setFlags(ctx, cmd.json ? NFT_CTX_OUTPUT_JSON : 0);
    let rc: number;
    let errors: string;
    if (cmd.stdin) {
      const fd = x.memfd('nft-script');
      if (fd < 0) throw new Error(`memfd_create: errno ${x.errno()}`);
      const path = `/proc/self/fd/${fd}`;
      try {
        writeSync(fd, input!);
        rc = l.run(ctx, path, true);
        errors = asStdinErrors(l.error(ctx), path);
      } finally {
        closeSync(fd);
      }
    } else {
      rc = l.run(ctx, cmd.words.join(' '), false);
      errors = l.error(ctx);
    }
    return { status: rc === 0 ? 0 : 1, stdout: l.output(ctx), stderr: errors };
  };
  try {
    if (!netnsPath) {
      hostCtx ??= l.ctxNew();
      if (!hostCtx) return undefined;
      return exec(hostCtx);
    }
    // the context's netlink socket belongs to the netns it is opened in: make and use it there
    return inNetns(libc()!, netnsPath, () => {
      const ctx = l.ctxNew();
      if (!ctx) return undefined;
      try {
        return exec(ctx);
      } finally {
        l.free(ctx);
      }
    });
  } catch {
    return undefined;
  }
}
