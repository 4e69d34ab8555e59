/**
 * A pseudo-terminal for `run -t` / `exec -t`, made in-process through Bun's FFI (posix_openpt, grantpt, unlockpt,
 * ptsname_r, ioctl TIOCSWINSZ from libc): no native addon and no helper process (util-linux `script` would add a
 * fork and a process between cnictl and the command, and ends the session on stdin EOF). Setup is paid only when
 * -t is given (measured 1.6–2 ms with the dlopen on a quiet machine). The command gets the slave as its stdin,
 * stdout and stderr and makes it its controlling terminal (it opens it again as a session leader, or `setsid -c`);
 * cnictl keeps the master and relays.
 */
import { closeSync, constants, openSync, write, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { UserError } from '../util/errors.js';

interface BunFfi {
  dlopen(lib: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...a: unknown[]) => number> };
  ptr(buf: Uint8Array): number;
}

export interface Pty {
  /** The master side (cnictl reads the command's output from it and writes its input to it). */
  master: number;
  /** The slave side, opened O_NOCTTY (for the child's stdio; close it in cnictl once the child has it). */
  slave: number;
  /** /dev/pts/N */
  path: string;
  resize(cols: number, rows: number): void;
}

const TIOCSWINSZ = 0x5414;

export function openPty(cols = 80, rows = 24): Pty {
  if (typeof (globalThis as { Bun?: unknown }).Bun === 'undefined') {
    throw new UserError('-t needs the compiled cnictl (a pseudo-terminal is made through its libc FFI): run dist/bin/cnictl');
  }
  const ffi = require('bun:ffi') as BunFfi;
  const { symbols } = ffi.dlopen('libc.so.6', {
    posix_openpt: { args: ['i32'], returns: 'i32' },
    grantpt: { args: ['i32'], returns: 'i32' },
    unlockpt: { args: ['i32'], returns: 'i32' },
    ptsname_r: { args: ['i32', 'ptr', 'u64'], returns: 'i32' },
    ioctl: { args: ['i32', 'u64', 'ptr'], returns: 'i32' },
  });
  const master = symbols.posix_openpt!(constants.O_RDWR | constants.O_NOCTTY | 0o2000000 /* O_CLOEXEC */);
  if (master < 0) throw new UserError('cannot allocate a pseudo-terminal (posix_openpt failed): is /dev/pts mounted?');
  const name = new Uint8Array(128);
  if (symbols.grantpt!(master) !== 0 || symbols.unlockpt!(master) !== 0 || symbols.ptsname_r!(master, ffi.ptr(name), name.length) !== 0) {
    closeSync(master);
    throw new UserError('cannot set up a pseudo-terminal (grantpt/unlockpt/ptsname failed)');
  }
  const path = Buffer.from(name).toString('utf8').replace(/\0.*$/s, '');
  const resize = (c: number, r: number) => {
    const ws = new Uint16Array([r, c, 0, 0]);
    symbols.ioctl!(master, TIOCSWINSZ, ffi.ptr(new Uint8Array(ws.buffer)));
  };
  resize(cols, rows);
  const slave = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  return { master, slave, path, resize };
}

/** Write all of `data` to a blocking fd (the terminal). */
function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

/** Write to the master (non-blocking once a stream reads it): retried on EAGAIN, in order. */
function writeFd(fd: number, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const go = (off: number) => {
      if (off >= data.length) return resolve();
      write(fd, data, off, data.length - off, null, (err, n) => {
        if (err) return (err as NodeJS.ErrnoException).code === 'EAGAIN' ? setTimeout(() => go(off), 10) : resolve();
        go(off + n);
      });
    };
    go(0);
  });
}

/**
 * Relay a pty: its output to `output` (default: cnictl's stdout); with `input`, cnictl's stdin to it (the terminal
 * in raw mode, so ^C and friends reach the command's terminal, as `docker run -it`); the window size follows
 * cnictl's terminal. `finish()` waits (at most 2 s) for the last output, restores the terminal and closes the master.
 */
export function relayPty(pty: Pty, opts: { input: boolean; output?: (d: Buffer) => void }): { finish(): Promise<void> } {
  const cleanups: Array<() => void> = [];
  const master = new ReadStream(pty.master);
  const output = opts.output ?? ((d: Buffer) => writeAll(1, d));
  master.on('data', (d: Buffer) => output(d));
  const drained = new Promise<void>((resolve) => (master.once('end', resolve), master.once('close', resolve), master.once('error', () => resolve()))); // EIO: the slave is closed
  const stdin = process.stdin;
  if (opts.input) {
    if (stdin.isTTY) stdin.setRawMode(true);
    let queue = Promise.resolve();
    const onData = (d: Buffer) => (queue = queue.then(() => writeFd(pty.master, d)));
    stdin.on('data', onData);
    stdin.resume();
    cleanups.push(() => {
      stdin.off('data', onData);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      (stdin as unknown as { unref?: () => void }).unref?.();
    });
  }
  if (!opts.output && process.stdout.isTTY) {
    const resize = () => pty.resize(process.stdout.columns || 80, process.stdout.rows || 24);
    process.on('SIGWINCH', resize);
    cleanups.push(() => process.off('SIGWINCH', resize));
  }
  return {
    finish: async () => {
      await Promise.race([drained, new Promise((r) => setTimeout(r, 2000))]);
      for (const c of cleanups) c();
      master.destroy();
      try {
        closeSync(pty.master);
      } catch {
        /* closed with its stream */
      }
    },
  };
}

/** The size to give a new pty: cnictl's terminal's, else 80x24. */
export const terminalSize = (): [number, number] => (process.stdout.isTTY ? [process.stdout.columns || 80, process.stdout.rows || 24] : [80, 24]);
