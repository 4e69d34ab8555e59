/**
 * The daemon's way onto a container's interface: the container's netns kept open (so a lease can still be renewed
 * and released when the runtime has already unmounted it, as the reference's per-lease thread keeps it), and for each
 * exchange a packet socket created in that netns and polled from the event loop. Sockets are opened per exchange and
 * closed after it, so an idle lease holds one file descriptor: the netns.
 */
import { fstatSync, statSync } from 'node:fs';
import { decodeMessage, type Message } from './dhcp4.js';
import { BROADCAST_MAC, CLIENT_PORT, SERVER_PORT, decodeFrame, encodeFrame, type Frame } from './frame.js';
import * as sys from './sys.js';

/** Where a client message goes: broadcast (INIT, REBINDING) or to the server (RENEWING, RELEASE). */
export interface Destination {
  ip: string;
  mac: string;
  /** Our source address (0.0.0.0 before we have one). */
  srcIp: string;
}

export const broadcastTo: Destination = { ip: '255.255.255.255', mac: BROADCAST_MAC, srcIp: '0.0.0.0' };

/** A DHCP message received, with the frame it came in (the server's MAC, for unicast later). */
export interface Received {
  msg: Message;
  frame: Frame;
}

/** What a lease needs from the network; the daemon's is PacketLink, tests may bring their own. */
export interface Transport {
  readonly mac: string;
  /**
   * Send `payload()` to `dst` and wait for a message `accept` takes, resending with growing pauses (1 s, 2 s, 4 s…)
   * until `timeoutMs` passed: the message, or undefined on timeout or abort.
   */
  exchange(payload: () => Uint8Array, dst: Destination, accept: (m: Message) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<Received | undefined>;
  /** Send once, expecting nothing (RELEASE). */
  sendOnly(payload: Uint8Array, dst: Destination): void;
  /** Is the container still there: its netns path still that namespace, the interface still in it? */
  present(): boolean;
  close(): void;
}

export class LinkError extends Error {}

/** Packet sockets being waited on, polled together: every ms at first, less often as a wait gets older. */
class Poller {
  private readonly waits = new Set<{ fd: number; since: number; onPacket: (b: Uint8Array) => void }>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly buf = new Uint8Array(2048);

  add(w: { fd: number; since: number; onPacket: (b: Uint8Array) => void }): () => void {
    this.waits.add(w);
    this.schedule();
    return () => {
      this.waits.delete(w);
      if (!this.waits.size && this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    };
  }

  private schedule(): void {
    if (this.timer || !this.waits.size) return;
    const now = Date.now();
    let youngest = Infinity;
    for (const w of this.waits) youngest = Math.min(youngest, now - w.since);
    const delay = youngest < 250 ? 1 : youngest < 3000 ? 10 : 50;
    this.timer = setTimeout(() => this.tick(), delay);
  }

  private tick(): void {
    this.timer = undefined;
    for (const w of [...this.waits]) {
      for (;;) {
        let n: number;
        try {
          n = sys.recvNonBlocking(w.fd, this.buf);
        } catch {
          break; // the socket broke (link gone): the wait times out
        }
        if (n < 0) break;
        w.onPacket(this.buf.slice(0, n));
        if (!this.waits.has(w)) break;
      }
    }
    this.schedule();
  }
}

const poller = new Poller();

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((res) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** The container interface `ifname` in the netns at `netnsPath`, reached through packet sockets. */
export class PacketLink implements Transport {
  private constructor(
    readonly netnsPath: string,
    readonly ifname: string,
    private netnsFd: number,
    private index: number,
    readonly mac: string,
  ) {}

  /**
   * Open the netns and find the interface, raising it if it is down (as the reference does) and giving it up to
   * `readyMs` to come up (a DISCOVER sent on a link that is not running yet is lost).
   */
  static async open(netnsPath: string, ifname: string, readyMs = 2000): Promise<PacketLink> {
    let fd: number;
    try {
      fd = sys.openNetns(netnsPath);
    } catch (e) {
      throw new LinkError(`failed to open netns "${netnsPath}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    try {
      const info = PacketLink.inspect(fd, ifname, true);
      const link = new PacketLink(netnsPath, ifname, fd, info.index, info.mac);
      const deadline = Date.now() + readyMs;
      while (!(PacketLink.inspect(fd, ifname, false).flags & sys.IFF_RUNNING) && Date.now() < deadline) await sleep(5);
      return link;
    } catch (e) {
      sys.closeNetns(fd);
      throw e;
    }
  }

  /** Reopen a link remembered across a daemon restart: same netns path, same interface name and MAC. */
  static async reopen(netnsPath: string, ifname: string, mac: string): Promise<PacketLink> {
    const link = await PacketLink.open(netnsPath, ifname, 0);
    if (link.mac !== mac) {
      link.close();
      throw new LinkError(`${ifname} in ${netnsPath} has MAC ${link.mac}, the lease was for ${mac}`);
    }
    return link;
  }

  private static inspect(nsFd: number, ifname: string, raise: boolean): sys.LinkInfo {
    const ctl = sys.controlSocket(nsFd);
    try {
      const info = sys.linkInfo(ctl, ifname);
      if (!info) throw new LinkError(`error looking up "${ifname}": Link not found`);
      if (raise && !(info.flags & sys.IFF_UP)) {
        sys.setLinkUp(ctl, ifname, info.flags);
        info.flags |= sys.IFF_UP;
      }
      return info;
    } finally {
      sys.close(ctl);
    }
  }

  /** Does the interface still exist (with our index)? */
  alive(): boolean {
    if (this.netnsFd < 0) return false;
    try {
      const ctl = sys.controlSocket(this.netnsFd);
      try {
        return sys.linkInfo(ctl, this.ifname)?.index === this.index;
      } finally {
        sys.close(ctl);
      }
    } catch {
      return false;
    }
  }

  present(): boolean {
    if (this.netnsFd < 0) return false;
    try {
      const a = statSync(this.netnsPath);
      const b = fstatSync(this.netnsFd);
      return a.ino === b.ino && a.dev === b.dev && this.alive();
    } catch {
      return false;
    }
  }

  private socket(): number {
    if (this.netnsFd < 0) throw new LinkError(`${this.ifname}: link closed`);
    return sys.packetSocket(this.netnsFd, this.index);
  }

  private frame(payload: Uint8Array, dst: Destination): Uint8Array {
    return encodeFrame({ srcMac: this.mac, dstMac: dst.mac, srcIp: dst.srcIp, dstIp: dst.ip, srcPort: CLIENT_PORT, dstPort: SERVER_PORT, payload });
  }

  async exchange(payload: () => Uint8Array, dst: Destination, accept: (m: Message) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<Received | undefined> {
    const fd = this.socket();
    const started = Date.now();
    let got: Received | undefined;
    let wake: (() => void) | undefined;
    const stop = poller.add({
      fd,
      since: started,
      onPacket: (b) => {
        const frame = decodeFrame(b);
        if (!frame || frame.dstPort !== CLIENT_PORT || frame.srcMac === this.mac) return;
        const msg = decodeMessage(frame.payload);
        if (!msg || !accept(msg)) return;
        got = { msg, frame };
        wake?.();
      },
    });
    try {
      for (let pause = 1000; !got && !signal?.aborted; pause = Math.min(pause * 2, 8000)) {
        const left = timeoutMs - (Date.now() - started);
        if (left <= 0) break;
        try {
          sys.send(fd, this.frame(payload(), dst));
        } catch (e) {
          // ENETDOWN and the like: the link may still be coming up; try again at the next resend
          if (!(e instanceof sys.SysError)) throw e;
        }
        await new Promise<void>((res) => {
          const t = setTimeout(finish, Math.min(pause, left));
          signal?.addEventListener('abort', finish, { once: true });
          wake = finish;
          function finish(): void {
            clearTimeout(t);
            signal?.removeEventListener('abort', finish);
            wake = undefined;
            res();
          }
        });
      }
      return got;
    } finally {
      stop();
      sys.close(fd);
    }
  }

  sendOnly(payload: Uint8Array, dst: Destination): void {
    const fd = this.socket();
    try {
      sys.send(fd, this.frame(payload, dst));
    } finally {
      sys.close(fd);
    }
  }

  close(): void {
    if (this.netnsFd >= 0) sys.closeNetns(this.netnsFd);
    this.netnsFd = -1;
  }
}
