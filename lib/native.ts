/**
 * libc calls the shipped executable makes in-process instead of exec'ing a program for them: flock(2) (the host-local
 * lease lock, instead of util-linux `flock`), setns(2) (to write a container's sysctls under /proc/sys/net, which
 * resolves to the netns of the calling thread, instead of `nsenter … sysctl`), if_nametoindex(3) (a master link's
 * index, so macvlan/ipvlan create and configure their link in one `ip` exec) and a single rtnetlink request (deleting
 * a link, see lib/netlink.ts). Each saves an exec (~1–2 ms) per ADD/DEL.
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
  /**
   * Send one rtnetlink request (a complete message with NLM_F_ACK) on a NETLINK_ROUTE socket opened in the calling
   * thread's netns and return the kernel's answer: 0, or the negative errno of its NLMSG_ERROR.
   */
  rtnetlinkRequest(message: Uint8Array): number;
  /**
   * Send `message` (one request, e.g. a dump) on a netlink socket of `protocol` (NETLINK_ROUTE 0, NETLINK_NETFILTER
   * 12) opened in the calling thread's netns, and return every byte answered until the first NLMSG_DONE or
   * NLMSG_ERROR (see lib/netlink.ts parseMessages). Throws with the errno when the socket fails or the kernel does not
   * answer within 5 s.
   */
  netlinkExchange(protocol: number, message: Uint8Array): Uint8Array;
  /**
   * Send `messages` (each a complete request with NLM_F_ACK) on one netlink socket of `protocol`, in chunks, and
   * return every answer (one NLMSG_ERROR, the ACK or the failure, per message). Throws when the socket fails or the
   * kernel does not answer within 5 s.
   */
  netlinkBatch(protocol: number, messages: readonly Uint8Array[]): Uint8Array;
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11;
export const EINTR = 4;
const CLONE_NEWNET = 0x40000000;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const NLMSG_ERROR = 2;
const EIO = 5;

/** The part of Bun's `bun:ffi` used here (no Bun type package needed). */
interface BunFfi {
  dlopen(lib: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...a: unknown[]) => number> };
  read: { i32(ptr: number, offset: number): number };
  ptr(buf: Uint8Array): number;
}

let cached: Libc | null | undefined;
let recvBuf: Uint8Array | undefined;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const NLMSG_DONE = 3;

/** How many NLMSG_ERROR (answers, ACKs) — and with `done`, NLMSG_DONE (ends of dumps) — this datagram holds. */
function countEnds(buf: Uint8Array, n: number, done: boolean): number {
  const v = new DataView(buf.buffer, buf.byteOffset, n);
  let count = 0;
  for (let off = 0; off + 16 <= n; ) {
    const len = v.getUint32(off, true);
    const type = v.getUint16(off + 4, true);
    if (type === NLMSG_ERROR || (done && type === NLMSG_DONE)) count++;
    if (len < 16) return count + 1;
    off += (len + 3) & ~3;
  }
  return count;
}

/** libc through Bun's FFI, or undefined (not running under Bun, FFI unavailable, or CNI_TS_NO_FFI=1). */
export function libc(): Libc | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  if (typeof (globalThis as { Bun?: unknown }).Bun === 'undefined' || process.env.CNI_TS_NO_FFI === '1') return undefined;
  try {
    // Kept out of the bundle by the build (external "bun:*"): only Bun has it.
    const ffi = require('bun:ffi') as BunFfi;
    const { symbols } = ffi.dlopen('libc.so.6', {
      flock: { args: ['i32', 'i32'], returns: 'i32' },
      setns: { args: ['i32', 'i32'], returns: 'i32' },
      __errno_location: { args: [], returns: 'ptr' },
      if_nametoindex: { args: ['ptr'], returns: 'u32' },
      socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
      send: { args: ['i32', 'ptr', 'u64', 'i32'], returns: 'i64' },
      recv: { args: ['i32', 'ptr', 'u64', 'i32'], returns: 'i64' },
      close: { args: ['i32'], returns: 'i32' },
      setsockopt: { args: ['i32', 'i32', 'i32', 'ptr', 'u32'], returns: 'i32' },
    });
    const errno = (): number => {
      const p = symbols.__errno_location();
      return p ? ffi.read.i32(p, 0) : -1;
    };
    /** A netlink socket of `protocol` with a 5 s receive timeout (a kernel that never answers cannot hang us). */
    const withSocket = <T>(protocol: number, fn: (fd: number) => T): T => {
      const fd = symbols.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
      if (fd < 0) throw new Error(`netlink socket: errno ${errno()}`);
      try {
        const timeout = new BigInt64Array([5n, 0n]); // struct timeval
        symbols.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, ffi.ptr(new Uint8Array(timeout.buffer)), 16);
        return fn(fd);
      } finally {
        symbols.close(fd);
      }
    };
    const send = (fd: number, message: Uint8Array): void => {
      if (Number(symbols.send(fd, ffi.ptr(message), message.length, 0)) !== message.length) throw new Error(`netlink send: errno ${errno()}`);
    };
    /** One datagram into recvBuf; its length. */
    const recv = (fd: number): number => {
      recvBuf ??= new Uint8Array(1 << 18);
      const n = Number(symbols.recv(fd, ffi.ptr(recvBuf), recvBuf.length, 0));
      if (n <= 0) throw new Error(`netlink recv: ${n < 0 ? `errno ${errno()}` : 'closed'}`);
      return n;
    };
    cached = {
      flock: (fd, op) => (symbols.flock(fd, op) === 0 ? 0 : errno()),
      setnsNet: (fd) => (symbols.setns(fd, CLONE_NEWNET) === 0 ? 0 : errno()),
      ifNameToIndex: (name) => symbols.if_nametoindex(ffi.ptr(Buffer.from(`${name}\0`))),
      rtnetlinkRequest: (message) => {
        const fd = symbols.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) return -errno();
        try {
          if (Number(symbols.send(fd, ffi.ptr(message), message.length, 0)) !== message.length) return -errno();
          const answer = new Uint8Array(8192);
          const n = Number(symbols.recv(fd, ffi.ptr(answer), answer.length, 0));
          if (n < 20) return n < 0 ? -errno() : -EIO;
          const view = new DataView(answer.buffer, 0, n);
          return view.getUint16(4, true) === NLMSG_ERROR ? view.getInt32(16, true) : -EIO;
        } finally {
          symbols.close(fd);
        }
      },
      netlinkExchange: (protocol, message) =>
        withSocket(protocol, (fd) => {
          send(fd, message);
          const chunks: Uint8Array[] = [];
          for (;;) {
            const n = recv(fd);
            chunks.push(recvBuf!.slice(0, n));
            if (countEnds(recvBuf!, n, true) > 0) break;
          }
          return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        }),
      netlinkBatch: (protocol, messages) =>
        withSocket(protocol, (fd) => {
          const chunks: Uint8Array[] = [];
          // Chunks of at most 256 requests: their ACKs (36 bytes each) fit the socket's receive buffer.
          for (let i = 0; i < messages.length; i += 256) {
            const part = messages.slice(i, i + 256);
            send(fd, part.length === 1 ? part[0]! : Buffer.concat(part));
            for (let acks = 0; acks < part.length; ) {
              const n = recv(fd);
              chunks.push(recvBuf!.slice(0, n));
              acks += countEnds(recvBuf!, n, false);
            }
          }
          return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        }),
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
