import { describe, expect, it } from 'vitest';
import { allocate, candidates, releaseByID, staleLeases } from '../../ipam/host-local/allocator.js';
import { parseHostLocalConfig, parseRange } from '../../ipam/host-local/config.js';
import { parseResolvConfText } from '../../ipam/host-local/resolvconf.js';
import { parseLease, type Lease, type LeaseStore } from '../../ipam/host-local/store.js';
import { parseNetConf } from '../../lib/cni/config.js';
import { formatIP, parseIP, type IP } from '../../lib/ip.js';

class MemoryStore implements LeaseStore {
  files = new Map<string, string>();
  last = new Map<number, string>();
  reserve(ip: IP, id: string, ifname: string, set: number): boolean {
    const k = formatIP(ip);
    if (this.files.has(k)) return false;
    this.files.set(k, `${id}\r\n${ifname}`);
    this.last.set(set, k);
    return true;
  }
  lastReserved(set: number) {
    const s = this.last.get(set);
    return s ? parseIP(s) : undefined;
  }
  leases(): Lease[] {
    return [...this.files].map(([f, c]) => parseLease(f, c)!);
  }
  remove(l: Lease) {
    this.files.delete(l.file);
  }
}

const conf = (ipam: object, extra: object = {}) => parseNetConf({ cniVersion: '1.0.0', name: 'net', ipam: { type: 'host-local', ...ipam }, ...extra });
const set = (subnet: string, more: object = {}) => [parseRange({ subnet, ...more }, 'r')];

describe('host-local config', () => {
  it('defaults rangeStart, rangeEnd and gateway as the reference does', () => {
    const r = parseRange({ subnet: '10.0.0.0/24' }, 'r');
    expect([formatIP(r.rangeStart), formatIP(r.rangeEnd), formatIP(r.gateway)]).toEqual(['10.0.0.1', '10.0.0.254', '10.0.0.1']);
    const r6 = parseRange({ subnet: 'fd00::/120' }, 'r');
    expect(formatIP(r6.rangeEnd)).toBe('fd00::ff');
  });

  it.each([
    [{ subnet: '10.0.0.1/24' }, /Network has host bits set. For a subnet mask of length 24 the network address is 10.0.0.0/],
    [{ subnet: '10.0.0.0/31' }, /too small to allocate from/],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.1.5' }, /RangeStart 10.0.1.5 not in network/],
    [{ subnet: '10.0.0.0/24', rangeEnd: 'x' }, /"rangeEnd" "x" is not an IP address/],
    [{ subnet: 'banana' }, /"subnet" "banana" is not a CIDR/],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.9', rangeEnd: '10.0.0.3' }, /is after RangeEnd/],
  ])('rejects range %j', (r, msg) => {
    expect(() => parseRange(r, 'r')).toThrow(msg);
  });

  it('prepends runtimeConfig.ipRanges and the legacy subnet, and detects overlaps', () => {
    const c = parseHostLocalConfig(
      conf({ subnet: '10.1.0.0/16', ranges: [[{ subnet: 'fd00::/64' }]] }, { runtimeConfig: { ipRanges: [[{ subnet: '10.2.0.0/16' }]] } }),
      {},
    );
    expect(c.rangeSets.map((s) => formatIP(s[0]!.subnet.ip))).toEqual(['10.2.0.0', '10.1.0.0', 'fd00::']);
    expect(() => parseHostLocalConfig(conf({ ranges: [[{ subnet: '10.0.0.0/16' }], [{ subnet: '10.0.1.0/24' }]] }), {})).toThrow(/range set 0 overlaps with 1/);
    expect(() => parseHostLocalConfig(conf({ ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] }), {})).toThrow(/mixed address families/);
    expect(() => parseHostLocalConfig(conf({}), {})).toThrow(/no IP ranges specified/);
  });

  it('merges requested IPs from CNI_ARGS, args.cni.ips and runtimeConfig.ips', () => {
    const c = parseHostLocalConfig(conf({ subnet: '10.1.0.0/16' }, { args: { cni: { ips: ['10.1.0.9/16'] } }, runtimeConfig: { ips: ['10.1.0.10'] } }), { IP: '10.1.0.8' });
    expect(c.requestedIPs.map(formatIP)).toEqual(['10.1.0.8', '10.1.0.9', '10.1.0.10']);
  });
});

describe('host-local allocator', () => {
  it('skips the gateway, goes round-robin and wraps', () => {
    const s = set('10.0.0.0/29'); // .1 gateway, .2-.6
    expect([...candidates(s, undefined)].map((c) => formatIP(c.ip))).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    expect([...candidates(s, parseIP('10.0.0.4'))].map((c) => formatIP(c.ip))).toEqual(['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  });

  it('allocates distinct IPs, refuses duplicates, honours requests, and says which range is full', () => {
    const st = new MemoryStore();
    const s = set('10.0.0.0/30'); // only .2
    expect(allocate(st, s, 0, 'a', 'eth0', []).address).toBe('10.0.0.2/30');
    expect(() => allocate(st, s, 0, 'a', 'eth0', [])).toThrow(/10.0.0.2 has been allocated to a, duplicate allocation is not allowed/);
    expect(() => allocate(st, s, 0, 'b', 'eth0', [])).toThrow(/no IP addresses available in range set: 10.0.0.1-10.0.0.2/);
    const big = set('10.1.0.0/24');
    expect(allocate(st, big, 1, 'c', 'eth0', [parseIP('10.1.0.50')!]).address).toBe('10.1.0.50/24');
    expect(() => allocate(st, big, 1, 'd', 'eth0', [parseIP('10.1.0.50')!])).toThrow(/requested IP address 10.1.0.50 is not available/);
    expect(() => allocate(st, big, 1, 'd', 'eth0', [parseIP('10.1.0.1')!])).toThrow(/requested ip 10.1.0.1 is subnet's gateway/);
    expect(allocate(st, big, 1, 'e', 'eth0', []).address).toBe('10.1.0.51/24'); // round-robin after the requested one
  });

  it('releases by (id, ifname), falls back to legacy ID-only leases, and finds stale leases for GC', () => {
    const st = new MemoryStore();
    st.files.set('10.0.0.2', 'a\r\neth0');
    st.files.set('10.0.0.3', 'a\r\neth1');
    st.files.set('10.0.0.4', 'legacy');
    expect(releaseByID(st, 'a', 'eth0').map((l) => l.file)).toEqual(['10.0.0.2']);
    expect(releaseByID(st, 'legacy', 'eth0').map((l) => l.file)).toEqual(['10.0.0.4']);
    st.files.set('10.0.0.5', 'b\r\neth0');
    st.files.set('10.0.0.6', 'old');
    expect(staleLeases(st.leases(), [{ containerID: 'b', ifname: 'eth0' }]).map((l) => l.file).sort()).toEqual(['10.0.0.3', '10.0.0.6']);
    expect(staleLeases(st.leases(), []).length).toBe(3); // an empty valid list releases everything
  });

  it('parses resolv.conf', () => {
    expect(parseResolvConfText('# c\nnameserver 1.1.1.1\nnameserver 8.8.8.8\ndomain ex.com\nsearch a.com b.com\noptions ndots:2\n; x\n')).toEqual({
      nameservers: ['1.1.1.1', '8.8.8.8'],
      domain: 'ex.com',
      search: ['a.com', 'b.com'],
      options: ['ndots:2'],
    });
  });
});
