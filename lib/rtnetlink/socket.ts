/**
 * A netlink socket through the executable's FFI (lib/native.ts) — NETLINK_ROUTE for everything rtnetlink, or
 * NETLINK_NETFILTER for the nftables ruleset generation (nftgen.ts) —
 * opened inside a network namespace (a netlink socket stays bound to the namespace it was created in, so the thread
 * enters it only for socket(2) and returns at once), requests answered by ACKs, dumps, and batches of requests sent in
 * one write. Extended ACKs are on (the kernel's error text, as iproute2 prints it); strict dump checking as the caller
 * sets it (iproute2 has it on for single commands, off in `ip -batch`).
 *
 * Undefined under Node, with CNI_TS_NO_FFI=1, or where the FFI cannot load: callers then exec iproute2.
 */
import { closeSync, openSync, statSync } from 'node:fs';
import { libc, inNetns, type Libc } from '../native.js';
import { NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP_INTR, NLM_F_MULTI, parseAck, parseDone, parseMessages, withSeq, type Ack, type Message } from './wire.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const NETLINK_GET_STRICT_CHK = 12;
const EIO = 5;

/** A dump's messages, or the error that ended it (NLMSG_ERROR, or a negative NLMSG_DONE status). */
export interface DumpResult {
  messages: Message[];
  error?: Ack;
  /** NLM_F_DUMP_INTR: the kernel's state changed during the dump. */
  interrupted: boolean;
}

export class RtnlError extends Error {
  constructor(
    readonly errno: number,
    what: string,
  ) {
    super(`${what}: errno ${errno}`);
  }
}

let recvBuf: Uint8Array | undefined;
const sockets = new Map<string, NetlinkSocket>();

export class NetlinkSocket {
  private seq = Math.floor(Date.now() / 1000) & 0xffffff;
  private closed = false;
  /** NETLINK_GET_STRICT_CHK as last set (off when the socket is made) */
  private strict = false;

  private constructor(
    private readonly c: Libc,
    private readonly fd: number,
  ) {}

  /**
   * A socket of `protocol` in the network namespace at `netnsPath` (undefined: the one this thread is in). Undefined
   * when the FFI is not available; throws when the namespace cannot be entered or the socket not made.
   */
  static open(netnsPath?: string, protocol = NETLINK_ROUTE): NetlinkSocket | undefined {
    const c = libc();
    if (!c) return undefined;
    const make = (): number => c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    const fd = netnsPath ? inNetns(c, netnsPath, make) : make();
    if (fd < 0) throw new RtnlError(c.errno(), 'socket(AF_NETLINK)');
    const one = Uint8Array.of(1, 0, 0, 0);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one);
    const timeval = new Uint8Array(new BigInt64Array([5n, 0n]).buffer); // a kernel that never answers cannot hang us
    c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval);
    return new NetlinkSocket(c, fd);
  }

  /**
   * The socket of `protocol` in the netns at `netnsPath` (undefined: this thread's), opened once per process, protocol
   * and namespace: the namespace is identified by its inode, so a path that now names another namespace gets a new
   * socket.
   */
  static forNetns(netnsPath?: string, protocol = NETLINK_ROUTE): NetlinkSocket | undefined {
    let key = 'self';
    if (netnsPath) {
      try {
        const st = statSync(netnsPath);
        key = `${st.dev}:${st.ino}`;
      } catch {
        return NetlinkSocket.open(netnsPath, protocol); // throws the namespace's error
      }
    }
    key += `/${protocol}`;
    let sock = sockets.get(key);
    if (!sock || sock.closed) {
      sock = NetlinkSocket.open(netnsPath, protocol);
      if (sock) sockets.set(key, sock);
    }
    return sock;
  }

  /** Strict checking of dump requests: the kernel applies their filters (and refuses unknown tables). */
  setStrict(on: boolean): void {
    if (this.strict === on) return;
    this.c.setsockopt(this.fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, Uint8Array.of(on ? 1 : 0, 0, 0, 0));
    this.strict = on;
  }

  /** The C library's text for an errno (what iproute2 prints after "RTNETLINK answers: "). */
  strerror(errno: number): string {
    return this.c.strerror(errno);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.c.close(this.fd);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private sendAll(data: Uint8Array): void {
    const n = this.c.send(this.fd, data);
    if (n !== data.length) throw new RtnlError(n < 0 ? this.c.errno() : EIO, 'netlink send');
  }

  private receive(): Message[] {
    recvBuf ??= new Uint8Array(1 << 16); // one for every socket (a dump's datagrams are at most 32 KiB)
    const n = this.c.recv(this.fd, recvBuf);
    if (n <= 0) throw new RtnlError(n < 0 ? this.c.errno() : EIO, 'netlink recv');
    return parseMessages(recvBuf.slice(0, n));
  }

  /**
   * Send one request (NLM_F_ACK set by the caller) and return the kernel's ACK; `onReply` sees any non-ACK message
   * answering it first (a GET without dump answers with one object, then no ACK unless asked).
   */
  request(msg: Uint8Array, onReply?: (m: Message) => void): Ack {
    const seq = this.nextSeq();
    this.sendAll(withSeq(msg, seq));
    for (;;) {
      for (const m of this.receive()) {
        if (m.seq !== seq) continue; // a late answer to an earlier request
        if (m.type === NLMSG_ERROR) return parseAck(m);
        onReply?.(m);
        if (!(m.flags & NLM_F_MULTI) && !onReply) return { error: 0 };
      }
    }
  }

  /** A GET answered by one object (or an error): the object's message, or the ACK that refused it. */
  get(msg: Uint8Array): Message | Ack {
    let reply: Message | undefined;
    const seq = this.nextSeq();
    this.sendAll(withSeq(msg, seq));
    for (;;) {
      for (const m of this.receive()) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          const ack = parseAck(m);
          return ack.error === 0 && reply ? reply : ack;
        }
        reply = m;
        if (!(m.flags & NLM_F_MULTI)) return reply;
      }
    }
  }

  /** A dump: every message until NLMSG_DONE. */
  dump(msg: Uint8Array): DumpResult {
    const seq = this.nextSeq();
    this.sendAll(withSeq(msg, seq));
    const messages: Message[] = [];
    let interrupted = false;
    for (;;) {
      for (const m of this.receive()) {
        if (m.seq !== seq) continue;
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_DONE) {
          const done = parseDone(m);
          return done.error < 0 ? { messages, error: done, interrupted } : { messages, interrupted };
        }
        if (m.type === NLMSG_ERROR) return { messages, error: parseAck(m), interrupted };
        messages.push(m);
      }
    }
  }

  /**
   * Many requests (each with NLM_F_ACK) written at once, in chunks that keep their ACKs within the receive buffer;
   * the kernel handles each on its own (a failure does not stop the rest). One ACK per request, in order.
   */
  batch(msgs: readonly Uint8Array[]): Ack[] {
    const acks: Ack[] = new Array(msgs.length);
    for (let i = 0; i < msgs.length; i += 128) {
      const part = msgs.slice(i, i + 128);
      const first = this.nextSeq();
      for (let j = 1; j < part.length; j++) this.nextSeq();
      const total = part.reduce((s, m) => s + m.length, 0);
      const joined = new Uint8Array(total);
      let off = 0;
      part.forEach((m, j) => {
        joined.set(withSeq(m, first + j), off);
        off += m.length;
      });
      this.sendAll(joined);
      for (let got = 0; got < part.length; ) {
        for (const m of this.receive()) {
          const j = (m.seq - first) >>> 0;
          if (m.type !== NLMSG_ERROR || j >= part.length) continue;
          acks[i + j] = parseAck(m);
          got++;
        }
      }
    }
    return acks;
  }
}

/** Open the namespace file for IFLA_NET_NS_FD / NETNSA_FD; the caller closes it. Throws the open error. */
export const openNetnsFd = (path: string): number => openSync(path, 'r');
export const closeFd = (fd: number): void => closeSync(fd);
