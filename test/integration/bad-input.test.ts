/**
 * The bad-input matrix: every case gets the right CNI error code and a message naming the problem,
 * creates nothing, leaks nothing, and loses no existing lease.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestNet, bin, isRoot, pluginEnv } from '../helpers/harness.js';

interface Case {
  name: string;
  code: number;
  msg: RegExp;
  conf?: unknown; // object, or a raw string for malformed input
  env?: Record<string, string | undefined>;
  command?: string;
  plugin?: string;
}

describe.skipIf(!isRoot)('bad input matrix', () => {
  let net: TestNet;
  let dataDir: string;
  const good = () => ({
    cniVersion: '1.0.0',
    name: 'badnet',
    type: 'host-local',
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.50.0.0/30' }]] },
  });
  const withIpam = (ipam: object) => ({ ...good(), ipam: { ...good().ipam, ...ipam } });
  const baseEnv = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'newctr', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };

  beforeAll(() => {
    net = new TestNet('bad');
    dataDir = net.tempDir();
    const r = net.run({ plugin: bin('host-local'), command: 'ADD', conf: good(), containerId: 'existing', netns: '/x', ifname: 'eth0' });
    expect(r.status, r.stdout).toBe(0);
    expect(r.json.ips[0].address).toBe('10.50.0.2/30');
  });
  afterAll(() => net?.cleanup());

  const cases: Case[] = [
    { name: 'malformed JSON', conf: '{"cniVersion": "1.0.0", "name": ', code: 6, msg: /error decoding network config/ },
    { name: 'truncated JSON', conf: '{"cniVersion":"1.0.0","name":"badnet","ipam":{"type":"host-l', code: 6, msg: /error decoding network config/ },
    { name: 'empty stdin', conf: '', code: 6, msg: /error decoding network config/ },
    { name: 'JSON that is not an object', conf: '[1,2]', code: 6, msg: /expected a JSON object/ },
    { name: 'cniVersion of the wrong type', conf: JSON.stringify({ cniVersion: 1, name: 'badnet' }), code: 6, msg: /"cniVersion" must be a string, got 1/ },
    { name: 'unknown version 9.9.9', conf: { cniVersion: '9.9.9', name: 'badnet' }, code: 1, msg: /incompatible CNI versions/ },
    { name: 'unknown version 0.5.0', conf: { cniVersion: '0.5.0', name: 'badnet' }, code: 1, msg: /incompatible CNI versions/ },
    { name: 'missing network name', conf: { cniVersion: '1.0.0', ipam: {} }, code: 7, msg: /missing network name/ },
    { name: 'network name with ../', conf: { ...({} as object), cniVersion: '1.0.0', name: '../etc' }, code: 7, msg: /invalid characters found in network name "..\/etc"/ },
    { name: 'network name with ;', conf: { cniVersion: '1.0.0', name: 'a;b' }, code: 7, msg: /invalid characters found in network name "a;b"/ },
    { name: 'network name not a string', conf: { cniVersion: '1.0.0', name: 42 }, code: 7, msg: /network "name" must be a string, got 42/ },
    { name: 'unknown CNI_COMMAND', env: { CNI_COMMAND: 'FROB' }, code: 4, msg: /unknown CNI_COMMAND: FROB/ },
    { name: 'missing CNI_CONTAINERID', env: { CNI_CONTAINERID: undefined }, code: 4, msg: /required env variables \[CNI_CONTAINERID\] missing/ },
    { name: 'missing CNI_NETNS on ADD', env: { CNI_NETNS: undefined }, code: 4, msg: /\[CNI_NETNS\] missing/ },
    { name: 'missing CNI_IFNAME and CNI_PATH', env: { CNI_IFNAME: undefined, CNI_PATH: undefined }, code: 4, msg: /\[CNI_IFNAME,CNI_PATH\] missing/ },
    { name: 'empty container ID', env: { CNI_CONTAINERID: '' }, code: 3, msg: /missing containerID/ },
    { name: 'container ID with ;', env: { CNI_CONTAINERID: 'abc;rm' }, code: 4, msg: /invalid characters in containerID "abc;rm"/ },
    { name: 'container ID with ../', env: { CNI_CONTAINERID: '../x' }, code: 4, msg: /invalid characters in containerID "..\/x"/ },
    { name: '16-character ifname', env: { CNI_IFNAME: 'abcdefghijklmnop' }, code: 4, msg: /interface name is too long \(16 bytes, at most 15\)/ },
    { name: 'ifname with /', env: { CNI_IFNAME: 'eth/0' }, code: 4, msg: /contains \/ or : or whitespace/ },
    { name: 'ifname ..', env: { CNI_IFNAME: '..' }, code: 4, msg: /interface name is \. or \.\./ },
    { name: 'ifname with a space', env: { CNI_IFNAME: 'eth 0' }, code: 4, msg: /contains \/ or : or whitespace/ },
    { name: 'CHECK at 0.3.1', command: 'CHECK', conf: () => ({ ...good(), cniVersion: '0.3.1' }), code: 1, msg: /config version "0.3.1" does not allow CHECK/ },
    { name: 'GC at 1.0.0', command: 'GC', conf: () => good(), code: 1, msg: /config version "1.0.0" does not allow GC/ },
    { name: 'missing ipam', conf: { cniVersion: '1.0.0', name: 'badnet' }, code: 7, msg: /IPAM config missing 'ipam' key/ },
    { name: 'ipam.ranges of the wrong type', conf: () => withIpam({ ranges: 'lots' }), code: 7, msg: /ipam.ranges must be a list of range sets/ },
    { name: 'subnet not a CIDR', conf: () => withIpam({ ranges: [[{ subnet: '10.50.0.0' }]] }), code: 7, msg: /"subnet" "10.50.0.0" is not a CIDR/ },
    { name: 'subnet with host bits', conf: () => withIpam({ ranges: [[{ subnet: '10.50.0.1/24' }]] }), code: 7, msg: /network address is 10.50.0.0/ },
    { name: 'rangeStart outside the subnet', conf: () => withIpam({ ranges: [[{ subnet: '10.50.0.0/24', rangeStart: '10.99.0.1' }]] }), code: 7, msg: /RangeStart 10.99.0.1 not in network 10.50.0.0\/24/ },
    { name: 'dataDir of the wrong type', conf: () => withIpam({ dataDir: 7 }), code: 7, msg: /"dataDir" must be a string, got 7/ },
    { name: 'route with a bad dst', conf: () => withIpam({ routes: [{ dst: 'everywhere' }] }), code: 7, msg: /ipam.routes\[0\].dst must be a CIDR, got "everywhere"/ },
    { name: 'runtimeConfig.ips not a list', conf: () => ({ ...good(), runtimeConfig: { ips: '10.50.0.2' } }), code: 7, msg: /runtimeConfig.ips must be a list/ },
    { name: 'args.cni.ips with a non-IP', conf: () => ({ ...good(), args: { cni: { ips: ['ten'] } } }), code: 7, msg: /requested IP "ten" is not an IP address/ },
    { name: 'malformed prevResult', conf: () => ({ ...good(), prevResult: { cniVersion: '1.0.0', ips: [{ address: 'x' }] } }), code: 6, msg: /ips\[0\].address must be a CIDR/ },
    { name: 'exhausted pool', conf: () => good(), code: 999, msg: /no IP addresses available in range set: 10.50.0.1-10.50.0.2/ },
    { name: 'requested IP already taken', env: { CNI_ARGS: 'IP=10.50.0.2' }, conf: () => good(), code: 999, msg: /requested IP address 10.50.0.2 is not available in range set 10.50.0.1-10.50.0.2/ },
    { name: 'requested IP out of range', env: { CNI_ARGS: 'IP=10.60.0.9' }, conf: () => good(), code: 999, msg: /10.60.0.9 not in any configured range/ },
    { name: 'requested IP is the gateway', env: { CNI_ARGS: 'IP=10.50.0.1' }, conf: () => good(), code: 999, msg: /requested ip 10.50.0.1 is subnet's gateway/ },
    { name: 'unknown CNI_ARGS key', env: { CNI_ARGS: 'COLOR=blue' }, conf: () => good(), code: 4, msg: /unknown args \["COLOR=blue"\]/ },
    { name: 'malformed CNI_ARGS', env: { CNI_ARGS: 'IP' }, conf: () => good(), code: 4, msg: /invalid pair "IP"/ },
    { name: 'second ADD for the same container and ifname', env: { CNI_CONTAINERID: 'existing' }, conf: () => good(), code: 999, msg: /10.50.0.2 has been allocated to existing, duplicate allocation is not allowed/ },
    // vlan, dummy, tap: refused before any link or lease (this host has no 802.1q or dummy: the config is judged first)
    { name: 'vlan without master', plugin: 'vlan', conf: () => ({ ...good(), type: 'vlan', vlanId: 5 }), code: 7, msg: /"master" field is required/ },
    { name: 'vlan id 5000', plugin: 'vlan', conf: () => ({ ...good(), type: 'vlan', master: 'eth0', vlanId: 5000 }), code: 7, msg: /invalid VLAN ID 5000 \(must be between 0 and 4094 inclusive\)/ },
    { name: 'vlan without ipam', plugin: 'vlan', conf: { cniVersion: '1.0.0', name: 'badnet', type: 'vlan', master: 'eth0' }, code: 7, msg: /vlan: "ipam" with a "type" is required/ },
    { name: 'dummy without ipam', plugin: 'dummy', conf: { cniVersion: '1.0.0', name: 'badnet', type: 'dummy' }, code: 7, msg: /dummy interface requires an IPAM configuration/ },
    { name: 'tap "mtu" of the wrong type', plugin: 'tap', conf: () => ({ ...good(), type: 'tap', mtu: '1500' }), code: 7, msg: /tap config: "mtu" must be an integer, got "1500"/ },
    { name: 'tap multicast MAC from the runtime', plugin: 'tap', conf: () => ({ ...good(), type: 'tap', runtimeConfig: { mac: '01:00:5e:00:00:01' } }), code: 7, msg: /invalid MAC address "01:00:5e:00:00:01" in runtimeConfig.mac: it is a multicast address/ },
    { name: 'tap unknown CNI_ARGS key', plugin: 'tap', env: { CNI_ARGS: 'COLOR=red' }, conf: () => ({ ...good(), type: 'tap' }), code: 4, msg: /unknown args \["COLOR=red"\]/ },
  ];

  it('has at least 30 cases', () => expect(cases.length).toBeGreaterThanOrEqual(30));

  it.each(cases)('$name → code $code', (c) => {
    const conf = typeof c.conf === 'function' ? (c.conf as () => unknown)() : (c.conf ?? good());
    const env: Record<string, string | undefined> = { ...baseEnv, ...(c.command ? { CNI_COMMAND: c.command } : {}), ...c.env };
    const r = net.run({ plugin: bin(c.plugin ?? 'host-local'), command: env.CNI_COMMAND!, conf, env, path: env.CNI_PATH ?? '' });
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.json, r.stdout).toBeDefined();
    expect(r.json.code, r.stdout).toBe(c.code);
    expect(r.json.msg + (r.json.details ? `: ${r.json.details}` : '')).toMatch(c.msg);
    // Nothing created, nothing lost: only the one existing lease is in the store.
    expect(readdirSync(dataDir)).toEqual(['badnet']);
    const leases = readdirSync(join(dataDir, 'badnet')).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
    expect(leases).toEqual(['10.50.0.2']);
    expect(readFileSync(join(dataDir, 'badnet', '10.50.0.2'), 'utf8')).toBe('existing\r\neth0');
  });

  it('read-only dataDir → I/O error naming the directory, nothing written', () => {
    const ro = net.tempDir();
    const conf = { ...good(), ipam: { ...good().ipam, dataDir: ro } };
    // A read-only bind mount in a private mount namespace (root ignores permission bits); the machine's mounts are untouched.
    const r = spawnSync('unshare', ['-m', '--', 'sh', '-c', `mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec ip netns exec "$1" "$2"`, ro, net.host, bin('host-local')], {
      input: JSON.stringify(conf),
      env: pluginEnv(baseEnv),
      encoding: 'utf8',
    });
    expect(r.status, r.stdout + r.stderr).toBe(1);
    const err = JSON.parse(r.stdout);
    expect(err.code).toBe(5);
    expect(`${err.msg}: ${err.details}`).toMatch(new RegExp(`cannot create IPAM data directory ${ro}/badnet: .*read-only file system`));
    expect(readdirSync(ro)).toEqual([]);
  });

  it('full dataDir (ENOSPC) → I/O error, no temp file, no new lease, the existing lease kept', () => {
    const full = net.tempDir();
    const conf = { ...good(), ipam: { ...good().ipam, dataDir: full } };
    // A 64 KiB tmpfs in a private mount namespace, holding one lease and then filled up; listed before it vanishes.
    const script = [
      'set -e',
      'mount -t tmpfs -o size=64k cnits-full "$0"',
      'mkdir "$0/badnet"',
      'printf "existing\\r\\neth0" > "$0/badnet/10.50.0.2"',
      'dd if=/dev/zero of="$0/filler" bs=4k 2>/dev/null || true',
      'set +e',
      'ip netns exec "$1" "$2"; echo "EXIT $?"',
      'echo "FILES $(ls -A "$0/badnet" | tr "\\n" " ")"',
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', '--', 'sh', '-c', script, full, net.host, bin('host-local')], {
      input: JSON.stringify(conf),
      env: pluginEnv(baseEnv),
      encoding: 'utf8',
    });
    expect(r.stdout, r.stderr).toMatch(/EXIT 1/);
    const err = JSON.parse(r.stdout.slice(0, r.stdout.indexOf('EXIT')));
    expect(err.code).toBe(5);
    expect(`${err.msg}: ${err.details}`).toMatch(/no space left on device/i);
    const files = /FILES (.*)/.exec(r.stdout)![1]!.trim().split(' ');
    expect(files.sort()).toEqual(['10.50.0.2', 'lock']);
    expect(readdirSync(full)).toEqual([]); // the tmpfs was private to that mount namespace
  });
});
