/**
 * The system calls dhcp makes through Bun's FFI (the shipped executable only; there is no exec fallback for these):
 *   - the plugin: a blocking unix stream socket to the daemon, with a deadline (poll(2));
 *   - the daemon: sockets created inside a container's netns — an AF_INET socket for interface ioctls (read the
 *     interface, raise it) and an AF_PACKET socket on the interface for DHCP — and non-blocking send/recv on them.
 *     A socket belongs to the netns it was created in, whatever thread uses it later, so only socket(2) itself runs
 *     in the container's netns (setns(2) there and back, see socketIn); everything else runs in the daemon's own.
 * Every call returns a value or throws a SysError carrying the errno.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface BunFfi {
  dlopen(lib: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...a: unknown[]) => number | bigint> };
  read: { i32(ptr: number, offset: number): number };
  ptr(buf: Uint8Array): number;
}

const AF_UNIX = 1;
const AF_INET = 2;
const AF_PACKET = 17;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_IP = 0x0800;
const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const POLLIN = 1;
const CLONE_NEWNET = 0x40000000;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const SIOCGIFHWADDR = 0x8927;
const SIOCGIFINDEX = 0x8933;
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;

export const EAGAIN = 11;
export const EINTR = 4;
export const ENODEV = 19;

const ERRNO_TEXT: Record<number, string> = {
  1: 'operation not permitted',
  2: 'no such file or directory',
  4: 'interrupted system call',
  6: 'no such device or address',
  9: 'bad file descriptor',
  11: 'resource temporarily unavailable',
  13: 'permission denied',
  19: 'no such device',
  22: 'invalid argument',
  32: 'broken pipe',
  36: 'file name too long',
  88: 'socket operation on non-socket',
  90: 'message too long',
  100: 'network is down',
  101: 'network is unreachable',
  104: 'connection reset by peer',
  110: 'connection timed out',
  111: 'connection refused',
};

export const errnoText = (errno: number): string => ERRNO_TEXT[errno] ?? `errno ${errno}`;

export class SysError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${errnoText(errno)}`);
  }
}

type Symbols = Record<string, (...a: unknown[]) => number | bigint>;
let loaded: { s: Symbols; ffi: BunFfi } | null | undefined;

function load(): { s: Symbols; ffi: BunFfi } {
  if (loaded) return loaded;
  if (loaded === null || typeof (globalThis as { Bun?: unknown }).Bun === 'undefined') {
    loaded = null;
    throw new Error('dhcp needs the cni-ts executable (its in-process system calls are not available under Node)');
  }
  const ffi = require('bun:ffi') as BunFfi;
  const { symbols } = ffi.dlopen('libc.so.6', {
    socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
    connect: { args: ['i32', 'ptr', 'u32'], returns: 'i32' },
    bind: { args: ['i32', 'ptr', 'u32'], returns: 'i32' },
    setsockopt: { args: ['i32', 'i32', 'i32', 'ptr', 'u32'], returns: 'i32' },
    send: { args: ['i32', 'ptr', 'u64', 'i32'], returns: 'i64' },
    recv: { args: ['i32', 'ptr', 'u64', 'i32'], returns: 'i64' },
    poll: { args: ['ptr', 'u64', 'i32'], returns: 'i32' },
    ioctl: { args: ['i32', 'u64', 'ptr'], returns: 'i32' },
    setns: { args: ['i32', 'i32'], returns: 'i32' },
    close: { args: ['i32'], returns: 'i32' },
    __errno_location: { args: [], returns: 'ptr' },
  });
  loaded = { s: symbols, ffi };
  return loaded;
}

const errno = (): number => {
  const { s, ffi } = load();
  const p = s.__errno_location!() as number;
  return p ? ffi.read.i32(p, 0) : -1;
};

/** Call `fn`; a negative return becomes a SysError (EINTR is retried). */
function check(call: string, fn: () => number | bigint): number {
  for (;;) {
    const r = Number(fn());
    if (r >= 0) return r;
    const e = errno();
    if (e !== EINTR) throw new SysError(call, e);
  }
}

export const available = (): boolean => {
  try {
    load();
    return true;
  } catch {
    return false;
  }
};

export function close(fd: number): void {
  load().s.close!(fd);
}

// --- network namespaces ---------------------------------------------------------------------------------------------

/** The calling thread's own netns, opened once (the daemon's main thread only leaves it inside socketIn). */
let selfNetns: number | undefined;

/**
 * socket_in(): setns(2) into the container's netns, socket(2), setns(2) back — in C, compiled at start by Bun's built-in
 * TinyCC (`cc` of bun:ffi). No JavaScript runs while the thread is in the container's netns, so nothing can start a
 * thread there meanwhile: a thread inherits the netns of the thread that creates it, and a JIT or GC helper thread
 * born in that window would stay in the container's namespace — keeping it alive after the container is gone.
 */
const SOCKET_IN_C = `
int setns(int fd, int nstype);
int socket(int domain, int type, int protocol);
int close(int fd);
int *__errno_location(void);
int socket_in(int nsfd, int selffd, int domain, int type, int protocol) {
  if (setns(nsfd, 0x40000000) != 0) return -*__errno_location();
  int fd = socket(domain, type, protocol);
  int err = fd < 0 ? *__errno_location() : 0;
  if (setns(selffd, 0x40000000) != 0) { if (fd >= 0) close(fd); return -100000; }
  return fd < 0 ? -err : fd;
}
`;

type SocketIn = (nsFd: number, selfFd: number, domain: number, type: number, protocol: number) => number;
let compiled: SocketIn | null | undefined;

/** The C socket_in, or undefined when it cannot be compiled here (then the JavaScript fallback below is used). */
function cSocketIn(): SocketIn | undefined {
  if (compiled !== undefined) return compiled ?? undefined;
  compiled = null;
  if (process.env.CNI_TS_DHCP_NO_CC === '1') return undefined; // tests: the fallback
  let dir: string | undefined;
  try {
    const { cc } = require('bun:ffi') as { cc?: (o: { source: string; symbols: Record<string, { args: string[]; returns: string }> }) => { symbols: Record<string, SocketIn> } };
    if (!cc) return undefined;
    dir = mkdtempSync(join(tmpdir(), 'cni-ts-dhcp-'));
    const source = join(dir, 'socket_in.c');
    writeFileSync(source, SOCKET_IN_C);
    compiled = cc({ source, symbols: { socket_in: { args: ['i32', 'i32', 'i32', 'i32', 'i32'], returns: 'i32' } } }).symbols.socket_in!;
  } catch {
    compiled = null;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  return compiled ?? undefined;
}

/** How sockets are made in other namespaces here: "c" (socket_in) or "js" (setns from JavaScript). */
export const socketInMode = (): 'c' | 'js' => (cSocketIn() ? 'c' : 'js');

/** A socket created in the netns open at `nsFd` (the calling thread stays in its own). */
export function socketIn(nsFd: number, domain: number, type: number, protocol: number): number {
  const { s } = load();
  selfNetns ??= openSync('/proc/thread-self/ns/net', 'r');
  const c = cSocketIn();
  if (c) {
    const r = c(nsFd, selfNetns, domain, type, protocol);
    if (r === -100000) exitStranded();
    if (r < 0) throw new SysError('socket (in the container netns)', -r);
    return r;
  }
  // Fallback: the same three calls from JavaScript (a shorter window, without the guarantee above).
  check('setns', () => s.setns!(nsFd, CLONE_NEWNET));
  const fd = Number(s.socket!(domain, type, protocol));
  const err = fd < 0 ? errno() : 0;
  if (Number(s.setns!(selfNetns, CLONE_NEWNET)) !== 0) exitStranded();
  if (fd < 0) throw new SysError('socket (in the container netns)', err);
  return fd;
}

function exitStranded(): never {
  process.stderr.write(`dhcp: cannot return to the daemon's network namespace (${errnoText(errno())}); exiting\n`);
  process.exit(70);
}

/** Open a netns file (e.g. /run/netns/x or /proc/<pid>/ns/net) and keep it: the namespace lives while it is open. */
export const openNetns = (path: string): number => openSync(path, 'r');
export const closeNetns = (fd: number): void => closeSync(fd);

// --- interfaces (ioctl on an AF_INET socket of the interface's netns) ------------------------------------------------

export interface LinkInfo {
  index: number;
  mac: string;
  flags: number;
}

function ifreq(name: string): Uint8Array {
  const b = new Uint8Array(40);
  b.set(Buffer.from(name).subarray(0, 15), 0);
  return b;
}

/** A socket to issue interface ioctls on, in the netns open at `nsFd`. */
export const controlSocket = (nsFd: number): number => socketIn(nsFd, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

/** The interface `name` as seen through `ctl`'s netns; undefined when there is none. */
export function linkInfo(ctl: number, name: string): LinkInfo | undefined {
  const { s, ffi } = load();
  const req = ifreq(name);
  const call = (op: number): boolean => {
    if (Number(s.ioctl!(ctl, op, ffi.ptr(req))) === 0) return true;
    const e = errno();
    if (e === ENODEV) return false;
    throw new SysError('ioctl', e);
  };
  if (!call(SIOCGIFINDEX)) return undefined;
  const index = new DataView(req.buffer).getInt32(16, true);
  if (!call(SIOCGIFHWADDR)) return undefined;
  const mac = [...req.subarray(18, 24)].map((x) => x.toString(16).padStart(2, '0')).join(':');
  if (!call(SIOCGIFFLAGS)) return undefined;
  const flags = new DataView(req.buffer).getUint16(16, true);
  return { index, mac, flags };
}

/** Set IFF_UP on `name` (as `ip link set NAME up`). */
export function setLinkUp(ctl: number, name: string, flags: number): void {
  const { s, ffi } = load();
  const req = ifreq(name);
  new DataView(req.buffer).setUint16(16, (flags | IFF_UP) & 0xffff, true);
  check('ioctl(SIOCSIFFLAGS)', () => s.ioctl!(ctl, SIOCSIFFLAGS, ffi.ptr(req)));
}

// --- packet sockets -------------------------------------------------------------------------------------------------

/** Classic BPF: accept IPv4 UDP to port 68 that is not a fragment, drop everything else (in the kernel). */
const DHCP_CLIENT_FILTER: ReadonlyArray<[number, number, number, number]> = [
  [0x28, 0, 0, 12], // ldh [12]          ethertype
  [0x15, 0, 8, 0x0800], // jeq IPv4 else drop
  [0x30, 0, 0, 23], // ldb [23]          IP protocol
  [0x15, 0, 6, 17], // jeq UDP else drop
  [0x28, 0, 0, 20], // ldh [20]          flags + fragment offset
  [0x45, 4, 0, 0x1fff], // jset offset → drop
  [0xb1, 0, 0, 14], // ldxb 4*([14]&0xf) IP header length
  [0x48, 0, 0, 16], // ldh [x+16]        UDP destination port
  [0x15, 0, 1, 68], // jeq 68 else drop
  [0x06, 0, 0, 0x40000], // ret accept
  [0x06, 0, 0, 0], // ret drop
];

/**
 * A non-blocking AF_PACKET socket on interface `index` of the netns open at `nsFd`, seeing only DHCP client traffic.
 * Anything queued before the filter took effect is drained.
 */
export function packetSocket(nsFd: number, index: number): number {
  const { s, ffi } = load();
  const proto = ((ETH_P_IP & 0xff) << 8) | (ETH_P_IP >> 8); // htons
  const fd = socketIn(nsFd, AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  try {
    const prog = new Uint8Array(DHCP_CLIENT_FILTER.length * 8);
    const pv = new DataView(prog.buffer);
    DHCP_CLIENT_FILTER.forEach(([code, jt, jf, k], i) => {
      pv.setUint16(i * 8, code, true);
      prog[i * 8 + 2] = jt;
      prog[i * 8 + 3] = jf;
      pv.setUint32(i * 8 + 4, k, true);
    });
    const fprog = new Uint8Array(16);
    const fv = new DataView(fprog.buffer);
    fv.setUint16(0, DHCP_CLIENT_FILTER.length, true);
    fv.setBigUint64(8, BigInt(ffi.ptr(prog)), true);
    check('setsockopt(SO_ATTACH_FILTER)', () => s.setsockopt!(fd, SOL_SOCKET, SO_ATTACH_FILTER, ffi.ptr(fprog), 16));
    const sll = new Uint8Array(20);
    const lv = new DataView(sll.buffer);
    lv.setUint16(0, AF_PACKET, true);
    lv.setUint16(2, proto, true);
    lv.setInt32(4, index, true);
    check('bind(AF_PACKET)', () => s.bind!(fd, ffi.ptr(sll), sll.length));
    const scratch = new Uint8Array(2048);
    while (recvNonBlocking(fd, scratch) >= 0);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** Send one whole frame (or stream chunk); throws on failure. */
export function send(fd: number, data: Uint8Array): void {
  const { s, ffi } = load();
  for (let off = 0; off < data.length; ) {
    const part = off ? data.subarray(off) : data;
    off += check('send', () => s.send!(fd, ffi.ptr(part), part.length, MSG_NOSIGNAL));
  }
}

/** One packet (or what a stream has) into `buf` without waiting: its length, or -1 when nothing is there. */
export function recvNonBlocking(fd: number, buf: Uint8Array): number {
  const { s, ffi } = load();
  for (;;) {
    const n = Number(s.recv!(fd, ffi.ptr(buf), buf.length, MSG_DONTWAIT));
    if (n >= 0) return n;
    const e = errno();
    if (e === EAGAIN) return -1;
    if (e !== EINTR) throw new SysError('recv', e);
  }
}

// --- the plugin's connection to the daemon --------------------------------------------------------------------------

/** A blocking unix stream connection to `path`. */
export function connectUnix(path: string): number {
  const { s, ffi } = load();
  const name = Buffer.from(path);
  if (name.length > 107) throw new SysError(`dial unix ${path}`, 36);
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  const fd = check('socket(AF_UNIX)', () => s.socket!(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  try {
    check(`dial unix ${path}: connect`, () => s.connect!(fd, ffi.ptr(addr), 2 + name.length + 1));
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** Wait until `fd` is readable or `ms` passed: true when readable (or at EOF/error: a recv will tell). */
export function waitReadable(fd: number, ms: number): boolean {
  const { s, ffi } = load();
  const pfd = new Uint8Array(8);
  const v = new DataView(pfd.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, POLLIN, true);
  return check('poll', () => s.poll!(ffi.ptr(pfd), 1, Math.max(0, Math.min(ms, 0x7fffffff)))) > 0;
}

/** Blocking recv on a stream: bytes read (0 at EOF). */
export function recvBlocking(fd: number, buf: Uint8Array): number {
  const { s, ffi } = load();
  return check('recv', () => s.recv!(fd, ffi.ptr(buf), buf.length, 0));
}
