/**
 * libc calls the shipped executable makes in-process instead of exec'ing a program for them: flock(2) (the host-local
 * lease lock, instead of util-linux `flock`), setns(2) (to write a container's sysctls under /proc/sys/net, which
 * resolves to the netns of the calling thread, instead of `nsenter … sysctl`, and to open sockets in a namespace),
 * if_nametoindex(3), and the socket calls of the in-process rtnetlink client (lib/rtnetlink/socket.ts) and of the
 * gratuitous ARP (lib/garp.ts: sendto(2) on a packet socket), plus
 * memfd_create(2) and strerror(3) for the libnftables binding (lib/nftables.ts), open(2) and ioctl(2) for `ip tuntap
 * add` (TUNSETIFF and friends on /dev/net/tun). One dlopen for all of them: each
 * compiles small trampolines at start-up, and the first costs ~2.5 MB of memory.
 *
 * Available only in the self-contained executable (Bun's FFI); under Node (unit tests, scripts) `libc()` is undefined
 * and callers use the exec path, which stays the tested fallback. Everything here is synchronous on the main thread,
 * and setns is always undone before returning (see `inNetns`).
 */
import { closeSync, openSync } from 'node:fs';

export interface Libc {
  /** flock(2); returns 0, or the errno. */
  flock(fd: number, op: number): number;
  /** setns(2) for network namespaces; returns 0, or the errno. */
  setnsNet(fd: number): number;
  /** if_nametoindex(3) in the calling thread's netns; 0 when there is no such interface. */
  ifNameToIndex(name: string): number;
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  /** send(2) of the whole buffer; the byte count, or -1. */
  send(fd: number, data: Uint8Array): number;
  /** sendto(2) of the whole buffer to the socket address `to` (its bytes); the byte count, or -1. */
  sendTo(fd: number, data: Uint8Array, to: Uint8Array): number;
  /** recv(2) into the buffer; the byte count, or -1. */
  recv(fd: number, into: Uint8Array): number;
  close(fd: number): void;
  /** memfd_create(name, MFD_CLOEXEC): an anonymous file's fd, or -1. */
  memfd(name: string): number;
  /** open(2) read-write (a character device: /dev/net/tun); the fd, or -1. */
  openRdwr(path: string): number;
  /** ioctl(2) with a buffer (passed by address) or an integer argument; 0, or -1. */
  ioctl(fd: number, request: number, arg: Uint8Array | number): number;
  errno(): number;
  /** strerror(3): the C library's text for an errno (what iproute2 prints after "RTNETLINK answers: "). */
  strerror(errno: number): string;
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11;
export const EINTR = 4;
const CLONE_NEWNET = 0x40000000;
const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;
const MFD_CLOEXEC = 1;
const EIO = 5;

/** The part of Bun's `bun:ffi` used here and in lib/nftables.ts (no Bun type package needed). */
export interface BunFfi {
  dlopen(lib: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...a: unknown[]) => any>; close(): void };
  read: { i32(ptr: unknown, offset: number): number };
  ptr(buf: Uint8Array): number;
  CString: new (ptr: unknown) => { toString(): string };
}

let cached: Libc | null | undefined;

/** libc through Bun's FFI, or undefined (not running under Bun, FFI unavailable, or CNI_TS_NO_FFI=1). */
export function libc(): Libc | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  if (typeof (globalThis as { Bun?: unknown }).Bun === 'undefined' || process.env.CNI_TS_NO_FFI === '1') return undefined;
  try {
    // Kept out of the bundle by the build (external "bun:*"): only Bun has it.
    const ffi = require('bun:ffi') as BunFfi;
    const { symbols: s } = ffi.dlopen('libc.so.6', {
      flock: { args: ['i32', 'i32'], returns: 'i32' },
      setns: { args: ['i32', 'i32'], returns: 'i32' },
      __errno_location: { args: [], returns: 'ptr' },
      if_nametoindex: { args: ['ptr'], returns: 'u32' },
      socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
      setsockopt: { args: ['i32', 'i32', 'i32', 'ptr', 'u32'], returns: 'i32' },
      send: { args: ['i32', 'ptr', 'u64', 'i32'], returns: 'i64' },
      sendto: { args: ['i32', 'ptr', 'u64', 'i32', 'ptr', 'u32'], returns: 'i64' },
      recv: { args: ['i32', 'ptr', 'u64', 'i32'], returns: 'i64' },
      close: { args: ['i32'], returns: 'i32' },
      memfd_create: { args: ['ptr', 'u32'], returns: 'i32' },
      strerror: { args: ['i32'], returns: 'ptr' },
      open: { args: ['ptr', 'i32'], returns: 'i32' },
      ioctl: { args: ['i32', 'u64', 'u64'], returns: 'i32' },
    });
    const errno = (): number => {
      const p = s.__errno_location!();
      return p ? ffi.read.i32(p, 0) : EIO;
    };
    cached = {
      flock: (fd, op) => (s.flock!(fd, op) === 0 ? 0 : errno()),
      setnsNet: (fd) => (s.setns!(fd, CLONE_NEWNET) === 0 ? 0 : errno()),
      ifNameToIndex: (name) => s.if_nametoindex!(ffi.ptr(Buffer.from(`${name}\0`))),
      socket: (d, t, p) => s.socket!(d, t, p),
      setsockopt: (fd, level, name, value) => s.setsockopt!(fd, level, name, ffi.ptr(value), value.length),
      send: (fd, data) => Number(s.send!(fd, ffi.ptr(data), data.length, 0)),
      sendTo: (fd, data, to) => Number(s.sendto!(fd, ffi.ptr(data), data.length, 0, ffi.ptr(to), to.length)),
      recv: (fd, into) => Number(s.recv!(fd, ffi.ptr(into), into.length, 0)),
      close: (fd) => void s.close!(fd),
      memfd: (name) => s.memfd_create!(ffi.ptr(Buffer.from(`${name}\0`)), MFD_CLOEXEC),
      openRdwr: (path) => s.open!(ffi.ptr(Buffer.from(`${path}\0`)), O_RDWR | O_CLOEXEC),
      ioctl: (fd, request, arg) => s.ioctl!(fd, request, typeof arg === 'number' ? arg : ffi.ptr(arg)),
      errno,
      strerror: (e) => new ffi.CString(s.strerror!(e)).toString(),
    };
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}

/**
 * Run `fn` with the calling thread in the network namespace at `path` (libc required), then return to the original
 * one — also when `fn` throws. Throws when the namespace cannot be entered; if returning fails the process cannot
 * safely continue, so it is ended (the caller's work already happened in the right place).
 */
export function inNetns<T>(c: Libc, path: string, fn: () => T): T {
  const self = openSync('/proc/thread-self/ns/net', 'r');
  let target: number | undefined;
  try {
    target = openSync(path, 'r');
    const err = c.setnsNet(target);
    if (err !== 0) throw new Error(`setns(${path}) failed: errno ${err}`);
    try {
      return fn();
    } finally {
      const back = c.setnsNet(self);
      if (back !== 0) {
        process.stderr.write(`cni-ts: cannot return to the original network namespace (errno ${back}); exiting\n`);
        process.exit(70);
      }
    }
  } finally {
    if (target !== undefined) closeSync(target);
    closeSync(self);
  }
}
