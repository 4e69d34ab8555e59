// dhcp IPAM without root: DHCP messages, frames, the config, the daemon's flags, and a lease's life (acquire, renew at
// T1, rebind at T2, acquire again after expiry, release) against an in-memory DHCP server on fake timers.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { clientOptions, cniArgsMap, parseDhcpConf } from '../../ipam/dhcp/config.js';
import { parseDuration, parseFlags } from '../../ipam/dhcp/daemon.js';
import {
  MessageType,
  Opt,
  classlessRoutes,
  clientIdFor,
  decodeMessage,
  discover,
  leaseFromAck,
  release,
  requestOffer,
  requestRenew,
  resultFromAck,
  staticRoutes,
  type Message,
} from '../../ipam/dhcp/dhcp4.js';
import { checksum, decodeFrame, encodeFrame } from '../../ipam/dhcp/frame.js';
import { Lease, type LeaseRecord, type LeaseSettings } from '../../ipam/dhcp/lease.js';
import type { Destination, Received, Transport } from '../../ipam/dhcp/link.js';

const MAC = '02:00:0a:00:00:05';
const SERVER_MAC = '02:00:0a:00:00:01';

/** A BOOTREPLY to `req` (what a server sends): type, yiaddr, options. */
function reply(req: Message, msgType: number, yiaddr: string, options: Array<[number, number[]]>): Uint8Array {
  const opts = [53, 1, msgType, ...options.flatMap(([c, d]) => [c, d.length, ...d]), 255];
  const b = new Uint8Array(Math.max(300, 240 + opts.length));
  const v = new DataView(b.buffer);
  b[0] = 2;
  b[1] = 1;
  b[2] = 6;
  v.setUint32(4, req.xid);
  b.set(yiaddr.split('.').map(Number), 16);
  b.set(req.chaddr.split(':').map((x) => parseInt(x, 16)), 28);
  b.set([99, 130, 83, 99], 236);
  b.set(opts, 240);
  return b;
}

const u32 = (n: number): number[] => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const LEASE_OPTS = (lease = 100, t1 = 50, t2 = 80): Array<[number, number[]]> => [
  [Opt.SUBNET_MASK, [255, 255, 255, 0]],
  [Opt.ROUTER, [10, 0, 0, 1]],
  [Opt.SERVER_ID, [10, 0, 0, 1]],
  [Opt.LEASE_TIME, u32(lease)],
  [Opt.RENEWAL_TIME, u32(t1)],
  [Opt.REBINDING_TIME, u32(t2)],
];

const opts = (): ReturnType<typeof clientOptions> => clientOptions({ socketPath: '', provide: [], request: [], skipDefault: false }, '', clientIdFor('c1', 'net', 'eth0').bytes);

describe('DHCP messages', () => {
  it('DISCOVER: BOOTREQUEST, our MAC and xid, client id 0x00+"<id>/<net>/<if>", the parameter request list; 300 bytes', () => {
    const o = clientOptions(parseDhcpConf({ ipam: { request: [{ option: '121' }, { option: 'routers' }], provide: [{ option: 'host-name', value: 'pod-a' }] } }), '', clientIdFor('c1', 'net', 'eth0').bytes);
    const b = discover({ xid: 0xdeadbeef, mac: MAC }, o);
    expect(b.length).toBe(300);
    const m = decodeMessage(b)!;
    expect(m).toMatchObject({ op: 1, xid: 0xdeadbeef, chaddr: MAC, ciaddr: '0.0.0.0', broadcast: false });
    expect([...m.options.get(Opt.MESSAGE_TYPE)!]).toEqual([MessageType.DISCOVER]);
    expect(Buffer.from(m.options.get(Opt.CLIENT_ID)!).toString('latin1')).toBe('\0c1/net/eth0');
    expect([...m.options.get(Opt.PARAMETER_REQUEST_LIST)!]).toEqual([1, 3, 121]);
    expect(Buffer.from(m.options.get(Opt.HOST_NAME)!).toString()).toBe('pod-a');
  });

  it('REQUEST after an OFFER names the address and the server; RENEW/REBIND carry ciaddr only; RELEASE the server id', () => {
    const d = decodeMessage(discover({ xid: 7, mac: MAC }, opts()))!;
    const offer = decodeMessage(reply(d, MessageType.OFFER, '10.0.0.5', LEASE_OPTS()))!;
    const req = decodeMessage(requestOffer({ xid: 7, mac: MAC, broadcast: true }, opts(), offer))!;
    expect([...req.options.get(Opt.REQUESTED_IP)!]).toEqual([10, 0, 0, 5]);
    expect([...req.options.get(Opt.SERVER_ID)!]).toEqual([10, 0, 0, 1]);
    expect(req.broadcast).toBe(true);
    const renew = decodeMessage(requestRenew({ xid: 8, mac: MAC, ciaddr: '10.0.0.5' }, opts()))!;
    expect(renew.ciaddr).toBe('10.0.0.5');
    expect(renew.options.has(Opt.REQUESTED_IP) || renew.options.has(Opt.SERVER_ID)).toBe(false);
    const rel = decodeMessage(release({ xid: 9, mac: MAC, ciaddr: '10.0.0.5' }, clientIdFor('c1', 'net', 'eth0').bytes, '10.0.0.1'))!;
    expect([...rel.options.get(Opt.MESSAGE_TYPE)!]).toEqual([MessageType.RELEASE]);
    expect([...rel.options.get(Opt.SERVER_ID)!]).toEqual([10, 0, 0, 1]);
    expect(rel.ciaddr).toBe('10.0.0.5');
  });

  it('the client id is cut at 254 bytes (+ the type byte), as the reference cuts it', () => {
    const id = clientIdFor('x'.repeat(300), 'net', 'eth0');
    expect(id.bytes.length).toBe(255);
    expect(id.key.length).toBe(254);
  });

  it('options: repeated codes concatenated (RFC 3396), the file/sname overload read, garbage refused', () => {
    const d = decodeMessage(discover({ xid: 1, mac: MAC }, opts()))!;
    const b = reply(d, MessageType.ACK, '10.0.0.5', [[121, [24, 192, 168]], [121, [1, 10, 0, 0, 1]], [Opt.OVERLOAD, [1]]]);
    b.set([Opt.HOST_NAME, 2, 104, 105, 255], 108); // in `file`
    const m = decodeMessage(b)!;
    expect(classlessRoutes(m.options.get(121))).toEqual([{ dst: '192.168.1.0/24', gw: '10.0.0.1' }]);
    expect(Buffer.from(m.options.get(Opt.HOST_NAME)!).toString()).toBe('hi');
    expect(decodeMessage(new Uint8Array(100))).toBeUndefined();
    expect(decodeMessage(new Uint8Array(300))).toBeUndefined(); // no magic cookie
  });

  it('the result: gateway = router; option 121 routes when offered (on-link without gw), else option 33 + default via the router', () => {
    const d = decodeMessage(discover({ xid: 1, mac: MAC }, opts()))!;
    const plain = decodeMessage(reply(d, MessageType.ACK, '10.0.0.5', [...LEASE_OPTS(), [Opt.STATIC_ROUTES, [172, 16, 0, 0, 10, 0, 0, 254, 10, 9, 0, 0, 10, 0, 0, 253, 230, 0, 0, 0, 10, 0, 0, 1]]]))!;
    expect(resultFromAck(plain, '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.0.0.5/24', gateway: '10.0.0.1' }],
      routes: [{ dst: '172.16.0.0/16', gw: '10.0.0.254' }, { dst: '10.0.0.0/8', gw: '10.0.0.253' }, { dst: '0.0.0.0/0', gw: '10.0.0.1' }],
    });
    const cl = decodeMessage(reply(d, MessageType.ACK, '10.0.0.5', [...LEASE_OPTS(), [Opt.CLASSLESS_ROUTES, [0, 10, 0, 0, 254, 16, 192, 168, 0, 0, 0, 0, 32, 10, 1, 2, 3, 10, 0, 0, 9]], [Opt.STATIC_ROUTES, [172, 16, 0, 0, 10, 0, 0, 254]]]))!;
    expect(resultFromAck(cl, '1.0.0').routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.0.0.254' }, { dst: '192.168.0.0/16' }, { dst: '10.1.2.3/32', gw: '10.0.0.9' }]);
    expect(classlessRoutes(Uint8Array.from([20, 10, 1, 255, 10, 0, 0, 1]))).toEqual([{ dst: '10.1.240.0/20', gw: '10.0.0.1' }]); // host bits cleared
    expect(classlessRoutes(Uint8Array.from([33, 1, 2, 3, 4, 5, 6, 7, 8]))).toEqual([]); // width > 32: whole option ignored
    expect(classlessRoutes(Uint8Array.from([24, 10, 0]))).toEqual([]); // cut short
    expect(staticRoutes(Uint8Array.from([1, 2, 3]))).toEqual([]);
  });

  it('lease times: T1/T2 from the ACK, else 50% and 85% of the lease (T2 > lease or T1 > T2 fall back); no lease time or mask is an error', () => {
    const d = decodeMessage(discover({ xid: 1, mac: MAC }, opts()))!;
    const ack = (o: Array<[number, number[]]>) => decodeMessage(reply(d, MessageType.ACK, '10.0.0.5', o))!;
    expect(leaseFromAck(ack(LEASE_OPTS(120, 30, 60)))).toMatchObject({ leaseTime: 120, renewalTime: 30, rebindingTime: 60, router: '10.0.0.1', serverId: '10.0.0.1', prefix: 24 });
    expect(leaseFromAck(ack([[Opt.SUBNET_MASK, [255, 255, 0, 0]], [Opt.LEASE_TIME, u32(100)]]))).toMatchObject({ renewalTime: 50, rebindingTime: 85, prefix: 16 });
    expect(leaseFromAck(ack([[Opt.SUBNET_MASK, [255, 255, 0, 0]], [Opt.LEASE_TIME, u32(100)], [Opt.REBINDING_TIME, u32(200)], [Opt.RENEWAL_TIME, u32(90)]]))).toMatchObject({ renewalTime: 50, rebindingTime: 85 });
    expect(() => leaseFromAck(ack([[Opt.SUBNET_MASK, [255, 0, 0, 0]]]))).toThrow(/Lease Time not found/);
    expect(() => leaseFromAck(ack([[Opt.LEASE_TIME, u32(100)]]))).toThrow(/Subnet Mask not found in DHCPACK/);
    expect(() => leaseFromAck(ack([[Opt.LEASE_TIME, u32(100)], [Opt.SUBNET_MASK, [255, 0, 255, 0]]]))).toThrow(/not a netmask/);
  });
});

describe('frames', () => {
  it('Ethernet + IPv4 + UDP round-trip with valid checksums; fragments and other protocols are not DHCP', () => {
    const payload = discover({ xid: 1, mac: MAC }, opts());
    const f = encodeFrame({ srcMac: MAC, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: '0.0.0.0', dstIp: '255.255.255.255', srcPort: 68, dstPort: 67, payload });
    expect(checksum(f.subarray(14, 34))).toBe(0); // the IP header sums to zero with its checksum
    const back = decodeFrame(f)!;
    expect(back).toMatchObject({ srcMac: MAC, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: '0.0.0.0', dstIp: '255.255.255.255', srcPort: 68, dstPort: 67 });
    expect(Buffer.from(back.payload).equals(Buffer.from(payload))).toBe(true);
    const frag = f.slice();
    frag[20] = 0x20; // more fragments
    expect(decodeFrame(frag)).toBeUndefined();
    const tcp = f.slice();
    tcp[23] = 6;
    expect(decodeFrame(tcp)).toBeUndefined();
    expect(decodeFrame(f.subarray(0, 40))).toBeUndefined();
  });
});

describe('dhcp config', () => {
  it('socket path default, provide (value, fromArg from CNI_ARGS wins), request (names or numbers, skipDefault)', () => {
    expect(parseDhcpConf({ ipam: { type: 'dhcp' } })).toEqual({ socketPath: '/run/cni/dhcp.sock', provide: [], request: [], skipDefault: false });
    const c = parseDhcpConf({ ipam: { daemonSocketPath: '/x.sock', provide: [{ option: 'host-name', value: 'a', fromArg: 'K8S_POD_NAME' }, { option: '60', value: 'v' }], request: [{ option: '121', skipDefault: true }] } });
    const o = clientOptions(c, 'IgnoreUnknown=1;K8S_POD_NAME=web-0', Uint8Array.from([0, 1]));
    expect(Buffer.from(o.provide.get(12)!).toString()).toBe('web-0');
    expect(Buffer.from(o.provide.get(60)!).toString()).toBe('v');
    expect(o.request).toEqual([121]);
    expect(clientOptions(c, '', Uint8Array.from([0])).provide.get(12)).toEqual(Buffer.from('a'));
    expect(cniArgsMap('A=1;B=x=y;;C')).toEqual(new Map([['A', '1'], ['B', 'x=y']]));
  });

  it('bad values name the key (code 7)', () => {
    const err = (ipam: unknown): unknown => {
      try {
        parseDhcpConf({ ipam } as never);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    expect(err({ provide: [{ option: 'nonsense', value: 'x' }] })).toMatchObject({ code: 7, message: expect.stringMatching(/"provide"\[0\]\.option "nonsense" is not a DHCP option/) });
    expect(err({ request: [{ option: '256' }] })).toMatchObject({ code: 7, message: expect.stringMatching(/"request"\[0\]\.option "256"/) });
    expect(err({ provide: [{ option: '12', value: 'x'.repeat(256) }] })).toMatchObject({ code: 7, message: expect.stringMatching(/256 bytes long, at most 255/) });
    expect(err({ daemonSocketPath: 5 })).toMatchObject({ code: 7, message: expect.stringMatching(/"daemonSocketPath" must be a string/) });
    expect(err({ provide: 'x' })).toMatchObject({ code: 7 });
    expect(err({ request: [{ option: '3', skipDefault: 'yes' }] })).toMatchObject({ code: 7 });
    expect(err(undefined)).toMatchObject({ code: 7 });
    expect(() => clientOptions(parseDhcpConf({ ipam: { provide: [{ option: '12', fromArg: 'N' }] } }), `N=${'y'.repeat(300)}`, new Uint8Array(1))).toThrow(/at most 255/);
    expect(parseNetConf({ cniVersion: '1.0.0', name: 'n', type: 'macvlan', ipam: { type: 'dhcp' } }).ipam).toEqual({ type: 'dhcp' });
  });
});

describe('daemon flags (Go flag syntax)', () => {
  it('-name value, -name=value, --name; -broadcast; durations; defaults', () => {
    expect(parseFlags([])).toMatchObject({ socketpath: '/run/cni/dhcp.sock', timeoutMs: 10_000, resendMaxMs: 62_000, broadcast: false, pidfile: '', hostprefix: '' });
    expect(parseFlags(['-socketpath', '/a.sock', '--pidfile=/p', '-broadcast', '-timeout', '1.5s', '-resendmax=2m3s', '-hostprefix', '/host', '-statedir', '/s'])).toEqual({
      socketpath: '/a.sock', pidfile: '/p', broadcast: true, timeoutMs: 1500, resendMaxMs: 123_000, hostprefix: '/host', statedir: '/s',
    });
    expect(parseFlags(['-broadcast=false']).broadcast).toBe(false);
    expect(parseDuration('300ms')).toBe(300);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(() => parseDuration('10')).toThrow(/invalid duration/);
    expect(() => parseFlags(['-nope'])).toThrow(/flag provided but not defined: -nope/);
    expect(() => parseFlags(['-timeout'])).toThrow(/flag needs an argument/);
  });
});

// --- a lease's life against an in-memory server ---------------------------------------------------------------------

interface Sent {
  type: number;
  msg: Message;
  dst: Destination;
}

class FakeServer implements Transport {
  readonly mac = MAC;
  sent: Sent[] = [];
  up = true;
  nak = false;
  address = '10.0.0.5';
  times: [number, number, number] = [100, 50, 80];
  gone = false;
  closed = false;

  async exchange(payload: () => Uint8Array, dst: Destination, accept: (m: Message) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<Received | undefined> {
    const msg = decodeMessage(payload())!;
    const t = msg.options.get(Opt.MESSAGE_TYPE)![0]!;
    this.sent.push({ type: t, msg, dst });
    if (this.up) {
      const [lease, t1, t2] = this.times;
      const answer =
        t === MessageType.DISCOVER ? reply(msg, MessageType.OFFER, this.address, LEASE_OPTS(lease, t1, t2))
        : this.nak ? reply(msg, MessageType.NAK, '0.0.0.0', [[Opt.SERVER_ID, [10, 0, 0, 1]]])
        : reply(msg, MessageType.ACK, msg.ciaddr !== '0.0.0.0' ? msg.ciaddr : this.address, LEASE_OPTS(lease, t1, t2));
      const m = decodeMessage(answer)!;
      if (accept(m)) return { msg: m, frame: { srcMac: SERVER_MAC, dstMac: MAC, srcIp: '10.0.0.1', dstIp: '255.255.255.255', srcPort: 67, dstPort: 68, payload: answer } };
    }
    await new Promise<void>((res) => {
      const t = setTimeout(res, timeoutMs);
      signal?.addEventListener('abort', () => (clearTimeout(t), res()), { once: true });
    });
    return undefined;
  }

  sendOnly(payload: Uint8Array, dst: Destination): void {
    const msg = decodeMessage(payload)!;
    this.sent.push({ type: msg.options.get(Opt.MESSAGE_TYPE)![0]!, msg, dst });
  }

  present(): boolean {
    return !this.gone;
  }

  close(): void {
    this.closed = true;
  }

  types(): number[] {
    return this.sent.map((s) => s.type);
  }
}

describe('a lease', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
  });
  afterEach(() => vi.useRealTimers());

  const logs: string[] = [];
  const settings = (extra: Partial<LeaseSettings> = {}): LeaseSettings => ({ timeoutMs: 2000, resendMaxMs: 62_000, broadcast: false, log: (m) => logs.push(m), ...extra });
  const make = (srv: FakeServer, saved: LeaseRecord[] = [], extra: Partial<LeaseSettings> = {}) =>
    new Lease('c1/net/eth0', '/run/netns/x', 'eth0', opts(), srv, settings(extra), (r) => saved.push(r));

  it('acquires (DORA), renews at T1 by unicast to the server, and saves every ACK', async () => {
    const srv = new FakeServer();
    const saved: LeaseRecord[] = [];
    const lease = make(srv, saved);
    await lease.acquire();
    expect(srv.types()).toEqual([MessageType.DISCOVER, MessageType.REQUEST]);
    expect(srv.sent.every((s) => s.dst.ip === '255.255.255.255')).toBe(true);
    expect(lease.result('1.0.0')).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/24', gateway: '10.0.0.1' }], routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] });
    expect(saved).toHaveLength(1);
    lease.start();
    await vi.advanceTimersByTimeAsync(49_000);
    expect(srv.sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2000);
    expect(srv.sent).toHaveLength(3);
    expect(srv.sent[2]!.dst).toEqual({ ip: '10.0.0.1', mac: SERVER_MAC, srcIp: '10.0.0.5' });
    expect(srv.sent[2]!.msg.ciaddr).toBe('10.0.0.5');
    expect(saved).toHaveLength(2);
    expect(lease.state).toBe('bound');
    await vi.advanceTimersByTimeAsync(50_000);
    expect(srv.sent).toHaveLength(4); // renewed again at the new T1
    await lease.stop();
  });

  it('no answer to renewals: rebinds (broadcast) after T2; still none: acquires again after expiry, asking for the same address', async () => {
    const srv = new FakeServer();
    const lease = make(srv);
    await lease.acquire();
    lease.start();
    srv.up = false;
    await vi.advanceTimersByTimeAsync(79_000);
    const renewals = srv.sent.slice(2);
    expect(renewals.length).toBeGreaterThan(1);
    expect(renewals.every((s) => s.dst.ip === '10.0.0.1' && s.type === MessageType.REQUEST)).toBe(true);
    expect(lease.state).toBe('renewing');
    await vi.advanceTimersByTimeAsync(2000);
    expect(lease.state).toBe('rebinding');
    expect(srv.sent.at(-1)!.dst.ip).toBe('255.255.255.255');
    expect(srv.sent.at(-1)!.msg.ciaddr).toBe('10.0.0.5');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(lease.state).toBe('expired');
    const discover = srv.sent.at(-1)!;
    expect(discover.type).toBe(MessageType.DISCOVER);
    expect([...discover.msg.options.get(Opt.REQUESTED_IP)!]).toEqual([10, 0, 0, 5]);
    srv.up = true;
    await vi.advanceTimersByTimeAsync(70_000);
    expect(lease.state).toBe('bound');
    expect(logs.some((l) => /acquired again/.test(l))).toBe(true);
    await lease.stop();
  });

  it('a NAK to a renewal ends the lease: acquired anew', async () => {
    const srv = new FakeServer();
    const lease = make(srv);
    await lease.acquire();
    lease.start();
    srv.nak = true;
    await vi.advanceTimersByTimeAsync(50_500);
    srv.nak = false;
    await vi.advanceTimersByTimeAsync(3000);
    expect(srv.types().slice(2, 5)).toEqual([MessageType.REQUEST, MessageType.DISCOVER, MessageType.REQUEST]);
    expect(lease.state).toBe('bound');
    await lease.stop();
  });

  it('stop releases (unicast to the server, our client id, the server id) and closes the link; stop during acquisition aborts it', async () => {
    const srv = new FakeServer();
    const lease = make(srv);
    await lease.acquire();
    lease.start();
    await lease.stop();
    const rel = srv.sent.at(-1)!;
    expect(rel.type).toBe(MessageType.RELEASE);
    expect(rel.dst).toEqual({ ip: '10.0.0.1', mac: SERVER_MAC, srcIp: '10.0.0.5' });
    expect(Buffer.from(rel.msg.options.get(Opt.CLIENT_ID)!).toString('latin1')).toBe('\0c1/net/eth0');
    expect(srv.closed).toBe(true);

    const silent = new FakeServer();
    silent.up = false;
    const pending = make(silent);
    const acquiring = pending.acquire();
    const outcome = acquiring.then(() => 'acquired', (e: Error) => e.constructor.name);
    await vi.advanceTimersByTimeAsync(3000);
    await pending.stop();
    expect(await outcome).toBe('LeaseStopped');
    expect(silent.types()).not.toContain(MessageType.RELEASE); // nothing was leased
  });

  it('gives up acquiring after the reference back-off (4 quick retries, then doubling to -resendmax)', async () => {
    const srv = new FakeServer();
    srv.up = false;
    const lease = make(srv, [], { resendMaxMs: 10_000 });
    const outcome = lease.acquire().then(() => 'ok', (e: Error) => e.message);
    await vi.advanceTimersByTimeAsync(200_000);
    expect(await outcome).toMatch(/no DHCPOFFER on eth0 within 2s \(gave up after \d+ attempts\)/);
  });

  it('a restored record resumes where the lease is: renews at once past T1, re-acquires when expired', async () => {
    const srv = new FakeServer();
    const saved: LeaseRecord[] = [];
    const first = make(srv, saved);
    await first.acquire();
    await first.detach();
    vi.setSystemTime(Date.now() + 60_000); // the daemon was down past T1
    const srv2 = new FakeServer();
    const again = Lease.restore(saved[0]!, srv2, settings(), (r) => saved.push(r));
    expect(again.state).toBe('bound');
    expect(again.address).toBe('10.0.0.5');
    again.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(srv2.types()).toEqual([MessageType.REQUEST]);
    expect(srv2.sent[0]!.dst.mac).toBe(SERVER_MAC);
    await again.stop();
    vi.setSystemTime(Date.now() + 500_000);
    const expired = Lease.restore(saved.at(-1)!, new FakeServer(), settings(), () => undefined);
    expect(expired.state).toBe('expired');
  });

  it('the container gone without a DEL (netns unmounted, interface deleted): reported once at the next renewal', async () => {
    const srv = new FakeServer();
    const gone: string[] = [];
    const lease = make(srv, [], { onGone: (l) => gone.push(l.key) });
    await lease.acquire();
    lease.start();
    srv.gone = true;
    await vi.advanceTimersByTimeAsync(51_000);
    expect(gone).toEqual(['c1/net/eth0']);
    expect(srv.types()).toEqual([MessageType.DISCOVER, MessageType.REQUEST]); // no renewal for a container that is gone
    await lease.stop();
    expect(srv.types().at(-1)).toBe(MessageType.RELEASE);
  });
});
