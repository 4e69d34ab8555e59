import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { cniError as err } from '../helpers/errors.js';
import { backupOf, formatBackup, parseBackup, restoreSettings } from '../../plugins/tuning/backup.js';
import { checkAllowlist, dataDirOf, parseAllowlist, parseTuningConf, sysctlPath, wantsLinkChange } from '../../plugins/tuning/config.js';
import { checkNoDuplicateSysctls, topLevelObjectKeys } from '../../plugins/tuning/duplicates.js';
import { linkMismatch, linkSetLine, linkState, sameSysctlValue } from '../../plugins/tuning/link.js';
import { parseProcValues } from '../../lib/netns.js';

const conf = (extra: Record<string, unknown>, ifname = 'eth0', mac?: string) =>
  parseTuningConf(parseNetConf({ cniVersion: '1.0.0', name: 'n', type: 'tuning', ...extra }), ifname, mac);


describe('tuning sysctl keys', () => {
  it('maps dotted keys to /proc/sys paths, substituting the first IFNAME', () => {
    expect(sysctlPath('net.core.somaxconn', 'eth0')).toBe('net/core/somaxconn');
    expect(sysctlPath('net.ipv4.conf.IFNAME.arp_filter', 'eth0')).toBe('net/ipv4/conf/eth0/arp_filter');
    // an interface name with a dot survives: IFNAME is substituted after the dots became slashes
    expect(sysctlPath('net.ipv4.conf.IFNAME.rp_filter', 'eth0.100')).toBe('net/ipv4/conf/eth0.100/rp_filter');
    // a key already in path form keeps its dots (sysctl(8) convention)
    expect(sysctlPath('net/ipv4/conf/eth0.100/rp_filter', 'x')).toBe('net/ipv4/conf/eth0.100/rp_filter');
    expect(sysctlPath('net/ipv6/conf/IFNAME/accept_ra', 'net1')).toBe('net/ipv6/conf/net1/accept_ra');
  });

  it('refuses anything outside net/ and every path trick, with code 7 naming the key', () => {
    for (const key of [
      'kernel.shmmax',
      'vm.swappiness',
      'net',
      'net/../kernel/shmmax',
      'net.ipv4.conf.eth0/../../../kernel/x',
      'net/ipv4/../../kernel/x',
      'net..ipv4.ip_forward',
      'net/ipv4//ip_forward',
      'net/./ipv4/ip_forward',
      '/net/ipv4/ip_forward',
      'net.ipv4.conf.*.rp_filter',
      'net.ipv4.ip_forward=1',
      'net.ipv4.tcp rmem',
      'netx.core.somaxconn',
    ]) {
      const e = err(() => sysctlPath(key, 'eth0'));
      expect(e.code, key).toBe(7);
      expect(e.msg).toContain(JSON.stringify(key));
    }
    // an interface name cannot smuggle a path in either
    expect(err(() => sysctlPath('net.ipv4.conf.IFNAME.x', '..')).code).toBe(7);
  });
});

describe('tuning config', () => {
  it('reads every key and the precedence of the MAC sources (args.cni > runtimeConfig > CNI_ARGS > config)', () => {
    const c = conf({ mac: 'C2:11:22:33:44:55', mtu: 1400, promisc: true, allmulti: false, txQLen: 0, dataDir: '/tmp/x', sysctl: { 'net.core.somaxconn': '500' } });
    expect(c).toEqual({
      dataDir: '/tmp/x',
      sysctls: [{ key: 'net.core.somaxconn', path: 'net/core/somaxconn', value: '500' }],
      mac: 'c2:11:22:33:44:55',
      mtu: 1400,
      promisc: true,
      allmulti: false,
      txQLen: 0,
    });
    expect(conf({ mac: 'c2:00:00:00:00:01' }, 'eth0', 'c2:00:00:00:00:02').mac).toBe('c2:00:00:00:00:02');
    expect(conf({ mac: 'c2:00:00:00:00:01', runtimeConfig: { mac: 'c2:00:00:00:00:03' } }, 'eth0', 'c2:00:00:00:00:02').mac).toBe('c2:00:00:00:00:03');
    expect(conf({ runtimeConfig: { mac: 'c2:00:00:00:00:03' }, args: { cni: { mac: 'c2-00-00-00-00-04' } } }).mac).toBe('c2:00:00:00:00:04');
  });

  it('args.cni overrides the config; its sysctls add to the config ones; promisc false and mtu 0 mean "not set"', () => {
    const c = conf({ mtu: 1400, promisc: true, sysctl: { 'net.core.somaxconn': '500' }, args: { cni: { mtu: 9000, promisc: false, allmulti: true, txQLen: 5, sysctl: { 'net.ipv4.ip_forward': '1' } } } });
    expect(c.mtu).toBe(9000);
    expect(c.promisc).toBeUndefined();
    expect(c.allmulti).toBe(true);
    expect(c.txQLen).toBe(5);
    expect(c.sysctls.map((s) => s.key)).toEqual(['net.core.somaxconn', 'net.ipv4.ip_forward']);
    expect(conf({ mtu: 0 }).mtu).toBeUndefined();
    expect(wantsLinkChange(conf({ promisc: false, mtu: 0 }))).toBe(false);
    expect(wantsLinkChange(conf({ allmulti: false }))).toBe(true);
    expect(conf({}).dataDir).toBe('/run/cni/tuning');
  });

  it('bad values are code 7 errors naming the key', () => {
    expect(err(() => conf({ mac: 'not-a-mac' })).msg).toMatch(/tuning: "mac": invalid MAC address "not-a-mac"/);
    expect(err(() => conf({}, 'eth0', 'zz:11:22:33:44:55')).msg).toMatch(/CNI_ARGS MAC: invalid MAC/);
    expect(err(() => conf({ mtu: -1 })).msg).toMatch(/"mtu" is -1, below the minimum 0/);
    expect(err(() => conf({ mtu: 1500.5 })).msg).toMatch(/"mtu" must be an integer/);
    expect(err(() => conf({ txQLen: '100' })).msg).toMatch(/"txQLen" must be an integer, got "100"/);
    expect(err(() => conf({ promisc: 'yes' })).msg).toMatch(/"promisc" must be true or false/);
    expect(err(() => conf({ sysctl: ['net.core.somaxconn'] })).msg).toMatch(/"sysctl" must be an object/);
    expect(err(() => conf({ sysctl: { 'net.core.somaxconn': 500 } })).msg).toMatch(/the value of "net.core.somaxconn" must be a string, got 500/);
    expect(err(() => conf({ sysctl: { 'kernel.pid_max': '1' } })).msg).toMatch(/invalid net sysctl key "kernel.pid_max"/);
    expect(err(() => conf({ args: { cni: { sysctl: { 'fs.file-max': '1' } } } })).code).toBe(7);
  });

  it('dataDirOf reads the dataDir of a config that no longer validates', () => {
    expect(dataDirOf({ dataDir: '/d', mtu: 'x' })).toBe('/d');
    expect(dataDirOf({ dataDir: 7 })).toBe('/run/cni/tuning');
  });

  it('the allowlist: every key must match one expression (unanchored), else the reference message', () => {
    const allow = parseAllowlist('\n^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]*$\n  net\\.core\\.somaxconn  \n');
    expect(allow).toHaveLength(2);
    checkAllowlist(conf({ sysctl: { 'net.ipv4.conf.IFNAME.arp_filter': '1', 'net.core.somaxconn': '5' } }).sysctls, allow);
    const e = err(() => checkAllowlist(conf({ sysctl: { 'net.ipv4.ip_forward': '1' } }).sysctls, allow));
    expect(e.msg).toMatch(/^Sysctl net.ipv4.ip_forward is not allowed. Only the following sysctls are allowed: \[/);
    expect(err(() => parseAllowlist('net(')).msg).toMatch(/invalid regular expression "net\("/);
  });
});

describe('tuning duplicate sysctl keys', () => {
  it('finds the keys of the top-level "sysctl" object only, decoded, duplicates kept', () => {
    const text = '{"a":{"sysctl":{"x":"1"}},"list":[{"sysctl":1},"sysctl"],"sysctl":{"k":"1","n\\u0065t":{"q":"2"},"k":"2","l":[1,{"z":1}],"s":"}\\"{"},"b":"sysctl"}';
    expect(topLevelObjectKeys(text, 'sysctl')).toEqual(['k', 'net', 'k', 'l', 's']);
    expect(topLevelObjectKeys('{"sysctl": "x"}', 'sysctl')).toEqual([]);
  });

  it('refuses duplicates as the reference does', () => {
    expect(() => checkNoDuplicateSysctls('{"sysctl":{"net.a":"1","net.b":"1"}}')).not.toThrow();
    const e = err(() => checkNoDuplicateSysctls('{"name":"n", "sysctl": { "net.a": "1", "net.a" : "2" }}'));
    expect(e.code).toBe(7);
    expect(e.msg).toMatch(/duplicated sysctl keys are not allowed: "net.a"/);
  });
});

describe('tuning backup and link commands', () => {
  const now = { mac: '32:df:db:2d:30:21', mtu: 1500, promisc: false, allmulti: false, txQLen: 0 };

  it('saves only what changes, byte for byte as the Go tuning writes it', () => {
    const b = backupOf(conf({ mac: 'c2:11:22:33:44:55', mtu: 1400, promisc: true, allmulti: true }), now);
    // exactly the file /usr/lib/cni/tuning 1.1.1 wrote for this case
    expect(formatBackup(b)).toBe('{\n "mac": "32:df:db:2d:30:21",\n "promisc": false,\n "mtu": 1500,\n "allmulti": false\n}');
    expect(formatBackup(backupOf(conf({ txQLen: 9 }), now))).toBe('{\n "txQLen": 0\n}');
    expect(formatBackup(backupOf(conf({ mtu: 9000 }), now))).toBe('{\n "mtu": 1500\n}');
  });

  it('restores what was saved; undecodable files restore nothing', () => {
    const b = parseBackup('{\n "mac": "32:df:db:2d:30:21",\n "promisc": false,\n "mtu": 1500,\n "allmulti": true,\n "txQLen": 0\n}');
    expect(linkSetLine('eth0', restoreSettings(b))).toBe('link set dev eth0 mtu 1500 address 32:df:db:2d:30:21 promisc off allmulticast on txqueuelen 0');
    expect(parseBackup('garbage')).toEqual({});
    expect(linkSetLine('eth0', restoreSettings(parseBackup('{}')))).toBeUndefined();
  });

  it('reads ip -j link output and names the first mismatch as the reference words it', () => {
    const s = linkState({ ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'PROMISC', 'UP'], mtu: 1400, txqlen: 7, address: 'C2:11:22:33:44:55' });
    expect(s).toEqual({ mac: 'c2:11:22:33:44:55', mtu: 1400, promisc: true, allmulti: false, txQLen: 7 });
    expect(linkMismatch('eth0', { mac: 'c2:11:22:33:44:55', mtu: 1400, promisc: true, txQLen: 7 }, s)).toBeUndefined();
    expect(linkMismatch('eth0', { mtu: 1500, promisc: true }, s)).toBe('Error: Tuning configured MTU of eth0 is 1500, current value is 1400');
    // promisc not configured: CHECK expects it off (as the reference)
    expect(linkMismatch('eth0', {}, s)).toBe('Error: Tuning link eth0 configured promisc is false, current value is 1');
    expect(linkMismatch('eth0', { promisc: true, allmulti: true }, s)).toMatch(/all-multicast mode of eth0 is true, current value is false/);
    expect(linkMismatch('eth0', { promisc: true, mac: 'c2:00:00:00:00:00' }, s)).toMatch(/Ethernet of eth0 is c2:00:00:00:00:00, current value is c2:11:22:33:44:55/);
  });

  it('parses sysctl values read with grep -H and compares them whitespace-insensitively', () => {
    const m = parseProcValues('/proc/sys/net/ipv4/tcp_rmem:4096\t87380\t6291456\n/proc/sys/net/core/somaxconn:500\n');
    expect(m.get('net/core/somaxconn')).toBe('500');
    expect(sameSysctlValue(m.get('net/ipv4/tcp_rmem')!, '4096 87380 6291456')).toBe(true);
    expect(sameSysctlValue('1', '0')).toBe(false);
  });
});
