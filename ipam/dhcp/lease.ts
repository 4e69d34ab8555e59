/**
 * One DHCP lease kept by the daemon for one container interface: acquired with DISCOVER/OFFER/REQUEST/ACK (retried
 * with the reference's back-off), renewed at T1 (unicast to the server), rebound at T2 (broadcast), acquired again
 * after it expired (asking for the same address), released (DHCPRELEASE) when the container is deleted. Timers and
 * messages only: the network is a Transport, the disk a `persist` callback.
 */
import type { Result } from '../../lib/cni/result.js';
import {
  MessageType,
  Opt,
  type ClientOptions,
  type Message,
  decodeMessage,
  discover,
  isReplyTo,
  leaseFromAck,
  release,
  requestOffer,
  requestRenew,
  resultFromAck,
  serverMessage,
  messageType,
  type LeaseInfo,
} from './dhcp4.js';
import { broadcastTo, type Destination, type Transport } from './link.js';

export interface LeaseSettings {
  /** How long one exchange (DISCOVER→OFFER, REQUEST→ACK) may take: the daemon's -timeout. */
  timeoutMs: number;
  /** The longest pause between acquisition attempts: -resendmax. */
  resendMaxMs: number;
  /** Ask servers to broadcast their answers: -broadcast. */
  broadcast: boolean;
  log: (msg: string) => void;
  /**
   * The container went away without a DEL (its netns unmounted, or the interface deleted): called once, after the
   * lease stopped being kept; the daemon then releases it and forgets it.
   */
  onGone?: (lease: Lease) => void;
}

/** What survives a daemon restart (see store.ts). */
export interface LeaseRecord {
  key: string;
  netns: string;
  ifname: string;
  mac: string;
  clientId: string;
  provide: Array<[number, string]>;
  request: number[];
  /** The last ACK (the DHCP message, base64) and when it was received (ms since the epoch). */
  ack: string;
  boundAt: number;
  /** The server's (or relay's) MAC, for unicast renewals and the release. */
  serverMac: string;
}

export type LeaseState = 'acquiring' | 'bound' | 'renewing' | 'rebinding' | 'expired' | 'stopped';

// The reference's back-off (RFC 2131 §4.1): four quick retries ~2 s apart, then 4 s doubling up to resendMax.
const RESEND_DELAY0 = 4000;
const RESEND_FAST = 2000;
const RESEND_FAST_MAX = 4;
const jitter = (span: number): number => span * (2 * Math.random() - 1);

export class LeaseStopped extends Error {}
class ContainerGone extends Error {}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((res, rej) => {
    if (signal.aborted) return rej(new LeaseStopped('stopped'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      res();
    }, Math.max(0, ms));
    function onAbort(): void {
      clearTimeout(t);
      rej(new LeaseStopped('stopped'));
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });

const xid = (): number => (Math.random() * 0x100000000) >>> 0;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class Lease {
  state: LeaseState = 'acquiring';
  private ack: Message | undefined;
  private info: LeaseInfo | undefined;
  private boundAt = 0;
  private serverMac = 'ff:ff:ff:ff:ff:ff';
  private readonly stopper = new AbortController();
  private maintaining: Promise<void> | undefined;

  constructor(
    readonly key: string,
    readonly netns: string,
    readonly ifname: string,
    private readonly opts: ClientOptions,
    private readonly link: Transport,
    private readonly settings: LeaseSettings,
    private readonly persist: (r: LeaseRecord) => void,
  ) {}

  /** A lease from its record (daemon restart), on a link reopened for it. */
  static restore(r: LeaseRecord, link: Transport, settings: LeaseSettings, persist: (r: LeaseRecord) => void): Lease {
    const provide = new Map(r.provide.map(([c, v]) => [c, Buffer.from(v, 'hex')] as [number, Uint8Array]));
    const l = new Lease(r.key, r.netns, r.ifname, { clientId: Buffer.from(r.clientId, 'hex'), provide, request: r.request }, link, settings, persist);
    const ack = decodeMessage(Buffer.from(r.ack, 'base64'));
    if (!ack) throw new Error(`lease record of ${r.key}: the stored DHCPACK does not parse`);
    l.ack = ack;
    l.ackBytes = Buffer.from(r.ack, 'base64');
    l.info = leaseFromAck(ack);
    l.boundAt = r.boundAt;
    l.serverMac = r.serverMac;
    l.state = Date.now() < l.expireAt ? 'bound' : 'expired';
    return l;
  }

  get renewAt(): number {
    return this.boundAt + (this.info?.renewalTime ?? 0) * 1000;
  }

  get rebindAt(): number {
    return this.boundAt + (this.info?.rebindingTime ?? 0) * 1000;
  }

  get expireAt(): number {
    return this.boundAt + (this.info?.leaseTime ?? 0) * 1000;
  }

  /** Is the lease's interface still there (the same link in a netns still mounted at its path)? */
  attached(): boolean {
    return this.link.present();
  }

  get address(): string | undefined {
    return this.info?.address;
  }

  get record(): LeaseRecord {
    return {
      key: this.key,
      netns: this.netns,
      ifname: this.ifname,
      mac: this.link.mac,
      clientId: hex(this.opts.clientId),
      provide: [...this.opts.provide].map(([c, v]) => [c, hex(v)]),
      request: [...this.opts.request],
      ack: Buffer.from(this.ackBytes ?? new Uint8Array(0)).toString('base64'),
      boundAt: this.boundAt,
      serverMac: this.serverMac,
    };
  }

  private ackBytes: Uint8Array | undefined;

  /** The result for this lease (the reference's: address + router, classless or static routes + default). */
  result(cniVersion: string): Result {
    if (!this.ack) throw new Error(`${this.key}: no lease`);
    return resultFromAck(this.ack, cniVersion);
  }

  private fields(ciaddr?: string): { xid: number; mac: string; broadcast: boolean; ciaddr?: string } {
    const f: { xid: number; mac: string; broadcast: boolean; ciaddr?: string } = { xid: xid(), mac: this.link.mac, broadcast: this.settings.broadcast };
    if (ciaddr) f.ciaddr = ciaddr;
    return f;
  }

  /** One DISCOVER→OFFER→REQUEST→ACK. Throws with the reason when it does not end in an ACK. */
  private async dora(requestIp?: string): Promise<void> {
    const signal = this.stopper.signal;
    const f = this.fields();
    const mine = (types: number[]) => (m: Message): boolean => isReplyTo(m, f.xid, this.link.mac, types);
    const offer = await this.link.exchange(() => discover(f, this.opts, requestIp), broadcastTo, mine([MessageType.OFFER]), this.settings.timeoutMs, signal);
    if (signal.aborted) throw new LeaseStopped('stopped');
    if (!offer) throw new Error(`no DHCPOFFER on ${this.ifname} within ${this.settings.timeoutMs / 1000}s`);
    const ack = await this.link.exchange(() => requestOffer(f, this.opts, offer.msg), broadcastTo, mine([MessageType.ACK, MessageType.NAK]), this.settings.timeoutMs, signal);
    if (signal.aborted) throw new LeaseStopped('stopped');
    if (!ack) throw new Error(`no DHCPACK on ${this.ifname} within ${this.settings.timeoutMs / 1000}s`);
    if (messageType(ack.msg) === MessageType.NAK) throw new Error(`DHCP server NACK'd own offer${serverMessage(ack.msg) ? `: ${serverMessage(ack.msg)}` : ''}`);
    this.commit(ack.msg, ack.frame.payload, ack.frame.srcMac);
  }

  private commit(ack: Message, raw: Uint8Array, serverMac: string): void {
    const info = leaseFromAck(ack); // throws when the ACK lacks a lease time or subnet mask
    this.ack = ack;
    this.ackBytes = raw;
    this.info = info;
    this.boundAt = Date.now();
    this.serverMac = serverMac;
    this.state = 'bound';
    try {
      this.persist(this.record);
    } catch (e) {
      this.settings.log(`${this.key}: cannot save the lease: ${(e as Error).message}`);
    }
  }

  /** Acquire the lease (ADD): the reference's retries; throws the last failure when they run out. */
  async acquire(): Promise<void> {
    await this.withBackoff(() => this.dora(), true);
    this.settings.log(`${this.key}: lease acquired ${this.info!.address}/${this.info!.prefix}, expiration is ${new Date(this.expireAt).toISOString()}`);
  }

  /** Retry `attempt` with the reference's back-off; `giveUp`: stop when it runs out (else keep the last pause). */
  private async withBackoff(attempt: () => Promise<void>, giveUp: boolean): Promise<void> {
    const signal = this.stopper.signal;
    let base = RESEND_DELAY0;
    let fast = RESEND_FAST_MAX;
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (e) {
        if (e instanceof LeaseStopped || signal.aborted) throw new LeaseStopped('stopped');
        let pause: number;
        if (fast === 0) pause = base + jitter(1000);
        else {
          pause = RESEND_FAST + jitter(1000);
          fast--;
        }
        this.settings.log(`${this.key}: ${(e as Error).message}; retrying in ${(pause / 1000).toFixed(1)}s`);
        if (fast === 0 && base >= this.settings.resendMaxMs && giveUp) throw new Error(`${(e as Error).message} (gave up after ${tries} attempts)`);
        await sleep(pause, signal);
        if (fast === 0 && base < this.settings.resendMaxMs) base *= 2;
      }
    }
  }

  /** Keep the lease: renew at T1, rebind at T2, acquire again after it expired, until stop(). */
  start(): void {
    this.maintaining ??= this.maintain().catch((e) => {
      if (e instanceof ContainerGone) {
        this.settings.log(`${this.key}: ${e.message}; releasing the lease`);
        queueMicrotask(() => this.settings.onGone?.(this));
      } else if (!(e instanceof LeaseStopped)) this.settings.log(`${this.key}: lease maintenance ended: ${(e as Error).message}`);
    });
  }

  private async maintain(): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      const now = Date.now();
      if (now < this.renewAt) {
        this.state = 'bound';
        await sleep(this.renewAt - now, signal);
        continue;
      }
      if (!this.link.present()) throw new ContainerGone(`${this.ifname} in ${this.netns} is gone`);
      if (now < this.rebindAt) {
        this.state = 'renewing';
        await this.extend(false, this.rebindAt);
      } else if (now < this.expireAt) {
        this.state = 'rebinding';
        await this.extend(true, this.expireAt);
      } else {
        this.state = 'expired';
        const old = this.info?.address;
        this.settings.log(`${this.key}: lease of ${old} expired; acquiring it again`);
        await this.withBackoff(() => this.dora(old), false);
        if (old && this.info?.address !== old) this.settings.log(`${this.key}: WARNING: the server gave ${this.info?.address} instead of ${old}; ${this.ifname} still has ${old}`);
        else this.settings.log(`${this.key}: lease acquired again, expiration is ${new Date(this.expireAt).toISOString()}`);
      }
    }
  }

  /**
   * RENEWING (unicast to the server) or REBINDING (broadcast): one REQUEST exchange; on silence wait half the time
   * left (at least 1 s, at most 60 s) before the next, as RFC 2131 §4.4.5 says. A NAK ends the lease.
   */
  private async extend(rebind: boolean, until: number): Promise<void> {
    const signal = this.stopper.signal;
    const addr = this.info!.address;
    const f = this.fields(addr);
    const dst: Destination = rebind || !this.info?.serverId
      ? { ...broadcastTo, srcIp: addr }
      : { ip: this.info.serverId, mac: this.serverMac, srcIp: addr };
    const timeout = Math.max(1000, Math.min(this.settings.timeoutMs, until - Date.now()));
    const got = await this.link.exchange(() => requestRenew(f as typeof f & { ciaddr: string }, this.opts), dst, (m) => isReplyTo(m, f.xid, this.link.mac, [MessageType.ACK, MessageType.NAK]), timeout, signal);
    if (signal.aborted) throw new LeaseStopped('stopped');
    if (got && messageType(got.msg) === MessageType.ACK) {
      try {
        this.commit(got.msg, got.frame.payload, rebind ? got.frame.srcMac : this.serverMac);
        this.settings.log(`${this.key}: lease ${rebind ? 'rebound' : 'renewed'}, expiration is ${new Date(this.expireAt).toISOString()}`);
        return;
      } catch (e) {
        this.settings.log(`${this.key}: unusable DHCPACK: ${(e as Error).message}`);
      }
    } else if (got) {
      this.settings.log(`${this.key}: the server refused the lease (DHCPNAK${serverMessage(got.msg) ? `: ${serverMessage(got.msg)}` : ''}); acquiring a new one`);
      this.boundAt = Date.now() - (this.info!.leaseTime + 1) * 1000; // expired now
      return;
    } else {
      this.settings.log(`${this.key}: no answer to the ${rebind ? 'rebinding' : 'renewal'} request`);
    }
    const left = until - Date.now();
    if (left > 0) await sleep(Math.min(60_000, Math.max(1000, left / 2)), signal);
  }

  /** The DHCPRELEASE of this lease (our address, the server id, our client id), or undefined before it was acquired. */
  releaseMessage(): Uint8Array | undefined {
    if (!this.info || !this.ack) return undefined;
    return release({ ...this.fields(this.info.address), broadcast: false, ciaddr: this.info.address }, this.opts.provide.get(Opt.CLIENT_ID) ?? this.opts.clientId, this.info.serverId);
  }

  get serverId(): string | undefined {
    return this.info?.serverId;
  }

  /** Stop keeping the lease and release it (DHCPRELEASE to the server); `fallback` sends it another way. */
  async stop(fallback?: (payload: Uint8Array, serverId: string) => void): Promise<void> {
    if (this.state === 'stopped') return;
    this.stopper.abort();
    this.state = 'stopped';
    await this.maintaining;
    const payload = this.releaseMessage();
    if (payload && this.info) {
      const dst: Destination = this.info.serverId ? { ip: this.info.serverId, mac: this.serverMac, srcIp: this.info.address } : { ...broadcastTo, srcIp: this.info.address };
      try {
        this.link.sendOnly(payload, dst);
        this.settings.log(`${this.key}: released ${this.info.address}`);
      } catch (e) {
        if (fallback && this.info.serverId) {
          fallback(payload, this.info.serverId);
          this.settings.log(`${this.key}: released ${this.info.address} from the host (${(e as Error).message} on ${this.ifname})`);
        } else this.settings.log(`${this.key}: could not release ${this.info.address}: ${(e as Error).message}`);
      }
    }
    this.link.close();
  }

  /** Abort an acquisition or maintenance without releasing (daemon shutdown: the next daemon takes over). */
  async detach(): Promise<void> {
    this.stopper.abort();
    await this.maintaining;
    this.link.close();
  }
}
