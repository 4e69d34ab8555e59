/**
 * libc calls beyond lib/native.ts's, through the executable's FFI (Bun's `bun:ffi`), for the in-process rtnetlink
 * client (lib/rtnetlink/socket.ts) and the libnftables binding (lib/nftables.ts): sockets, strerror, memfd_create.
 * Undefined where lib/native.ts's libc() is (Node, CNI_TS_NO_FFI=1, no FFI).
 */
import { libc } from './native.js';

export interface LibcExtra {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  send(fd: number, data: Uint8Array): number;
  recv(fd: number, into: Uint8Array): number;
  close(fd: number): void;
  /** memfd_create(name, MFD_CLOEXEC): an anonymous file's fd, or -1. */
  memfd(name: string): number;
  errno(): number;
  strerror(errno: number): string;
}

/** The part of Bun's `bun:ffi` used here (no Bun type package needed). */
export interface BunFfi {
  dlopen(lib: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...a: unknown[]) => any>; close(): void };
  read: { i32(ptr: unknown, offset: number): number };
  ptr(buf: Uint8Array): number;
  CString: new (ptr: unknown) => { toString(): string };
}

const EIO = 5;
const MFD_CLOEXEC = 1;
let cached: LibcExtra | null | undefined;

export function libcExtra(): LibcExtra | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  if (!libc()) return undefined;
  try {
    const ffi = require('bun:ffi') as BunFfi;
    const { symbols: s } = ffi.dlopen('libc.so.6', {
      socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
      setsockopt: { args: ['i32', 'i32', 'i32', 'ptr', 'u32'], returns: 'i32' },
      send: { args: ['i32', 'ptr', 'u64', 'i32'], returns: 'i64' },
      recv: { args: ['i32', 'ptr', 'u64', 'i32'], returns: 'i64' },
      close: { args: ['i32'], returns: 'i32' },
      memfd_create: { args: ['ptr', 'u32'], returns: 'i32' },
      __errno_location: { args: [], returns: 'ptr' },
      strerror: { args: ['i32'], returns: 'ptr' },
    });
    cached = {
      socket: (d, t, p) => s.socket!(d, t, p),
      setsockopt: (fd, level, name, value) => s.setsockopt!(fd, level, name, ffi.ptr(value), value.length),
      send: (fd, data) => Number(s.send!(fd, ffi.ptr(data), data.length, 0)),
      recv: (fd, into) => Number(s.recv!(fd, ffi.ptr(into), into.length, 0)),
      close: (fd) => void s.close!(fd),
      memfd: (name) => s.memfd_create!(ffi.ptr(Buffer.from(`${name}\0`)), MFD_CLOEXEC),
      errno: () => {
        const p = s.__errno_location!();
        return p ? ffi.read.i32(p, 0) : EIO;
      },
      strerror: (e) => new ffi.CString(s.strerror!(e)).toString(),
    };
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}
