/**
 * Both paths give the same results and the same on-host state: every plugin run in-process (the executable's FFI:
 * rtnetlink, libnftables, flock, setns) in one set of namespaces and with CNI_TS_NO_FFI=1 (ip, bridge, nft, flock,
 * sysctl exec'd) in an identical set, the same configs in the same order. Results, links, addresses, routes, rules,
 * neighbours, bridge VLANs (none here: this kernel has no VLAN filtering; the VM tests cover them), sysctls, iptables and nftables, leases and tuning's backups must match (names and MACs the
 * plugins draw at random are mapped to placeholders in order of appearance), after ADD and again after DEL. The
 * in-process side must also have run no program but ip(6)tables-restore.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TestNet, bin, isRoot, sh } from '../helpers/harness.js';

interface Side {
  label: 'ffi' | 'exec';
  net: TestNet;
  ctr: { name: string; path: string };
  dataDir: string;
  trace: string;
}

const withPrev = (conf: Record<string, unknown>, prev: unknown) => ({ ...conf, prevResult: prev });

/** Placeholders for what a plugin draws at random (veth names, MACs, link-locals), in order of first appearance. */
function normalizer(netnsNames: string[]) {
  const seen = new Map<string, string>();
  const sub = (re: RegExp, tag: string) => (s: string) => s.replace(re, (m) => {
    if (!seen.has(m)) seen.set(m, `<${tag}${[...seen.values()].filter((v) => v.startsWith(`<${tag}`)).length}>`);
    return seen.get(m)!;
  });
  const steps = [sub(/veth[0-9a-f]{8}/g, 'veth'), sub(/(?<![0-9a-f:])([0-9a-f]{2}:){5}[0-9a-f]{2}(?![0-9a-f:])/g, 'mac'), sub(/fe80::[0-9a-f:]+(?=[/"])/g, 'll')];
  return (text: string): string => {
    let t = text;
    for (const [i, n] of netnsNames.entries()) t = t.split(n).join(`<ns${i}>`);
    for (const f of steps) t = f(t);
    return t
      .replace(/"(valid_life_time|preferred_life_time|\w+_timer|used|updated|confirmed)":[\d.]+/g, '"$1":0')
      .replace(/"(bridge_id|root_id|designated_root|designated_bridge)":"[^"]*"/g, '"$1":"?"') // the bridge's MAC, unpadded
      .replace(/"operstate":"[A-Z]+"/g, '"operstate":"?"')
      .replace(/"(NO-CARRIER|LOWER_UP|linkdown)",?/g, '')
      .replace(/,\]/g, ']');
  };
}

function state(s: Side): Record<string, string> {
  const out: Record<string, string> = {};
  const cmd = (ns: string, tool: string, args: string[]) => sh('ip', ['netns', 'exec', ns, tool, ...args]).stdout;
  for (const [label, ns] of [['host', s.net.host], ['ctr', s.ctr.name]] as const) {
    out[`${label} links`] = cmd(ns, 'ip', ['-j', '-d', 'addr', 'show']);
    out[`${label} routes`] = cmd(ns, 'ip', ['-j', '-d', 'route', 'show', 'table', 'all']) + cmd(ns, 'ip', ['-j', '-6', '-d', 'route', 'show', 'table', 'all']);
    out[`${label} rules`] = cmd(ns, 'ip', ['-j', 'rule', 'show']) + cmd(ns, 'ip', ['-j', '-6', 'rule', 'show']);
    out[`${label} vlans`] = cmd(ns, 'bridge', ['-j', 'vlan', 'show']);
    out[`${label} nft`] = cmd(ns, 'nft', ['list', 'ruleset']).replace(/# handle \d+/g, '');
    out[`${label} iptables`] = cmd(ns, 'iptables-save', ['-t', 'nat']).split('\n').filter((l) => !l.startsWith('#')).join('\n') + cmd(ns, 'ip6tables-save', ['-t', 'nat']).split('\n').filter((l) => !l.startsWith('#')).join('\n');
    out[`${label} sysctls`] = cmd(ns, 'sh', ['-c', 'grep -H . /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding /proc/sys/net/ipv4/conf/*/arp_notify /proc/sys/net/ipv4/conf/*/route_localnet /proc/sys/net/ipv6/conf/*/accept_dad /proc/sys/net/ipv6/conf/*/disable_ipv6 /proc/sys/net/ipv6/conf/*/keep_addr_on_down /proc/sys/net/ipv4/conf/*/arp_filter 2>/dev/null']);
  }
  // leases and tuning's backups: every file under the data dir (not the trace, locks or last_reserved_ip files)
  const files = existsSync(s.dataDir) ? readdirSync(s.dataDir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()) : [];
  out.store = files
    .map((d) => join(d.parentPath, d.name))
    .filter((f) => !/(^|\/)(trace|lock|last_reserved_ip\.\d+)$/.test(f))
    .map((f) => `${f.slice(s.dataDir.length)}: ${readFileSync(f, 'utf8')}`)
    .sort()
    .join('\n');
  return out;
}

describe.skipIf(!isRoot)('in-process and exec paths: same results, same on-host state', () => {
  const nets: TestNet[] = [];
  afterEach(() => {
    for (const n of nets.splice(0)) n.cleanup();
  });

  function side(label: Side['label']): Side {
    const net = new TestNet(`pth${label[0]}`);
    nets.push(net);
    const ctr = net.addContainer('c');
    // no IPv6 link-local addresses on new links: they appear after DAD, whenever the kernel gets to it
    for (const ns of [net.host, ctr.name]) net.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.default.addr_gen_mode=1']);
    // a macvlan master and a foreign uplink in the host, as on a real node
    sh('ip', ['-n', net.host, '-batch', '-'], 'link add m0 address 02:00:00:00:00:10 type veth peer name m0p address 02:00:00:00:00:11\nlink set m0 up\nlink set m0p up\naddr add 192.0.2.1/24 dev m0\nlink add hd0 address 02:00:00:00:00:20 type veth peer name hd0p address 02:00:00:00:00:21\nlink set hd0p up\n');
    const dataDir = net.tempDir();
    return { label, net, ctr, dataDir, trace: join(dataDir, 'trace') };
  }

  it('bridge (dual-stack with masquerade, L2), ptp, macvlan, loopback, tuning, portmap, sbr, host-device, tap, host-local, static: ADD then DEL (bridge VLANs, vrf: in the VM)', () => {
    const sides = [side('ffi'), side('exec')];
    const results: Record<string, unknown[]> = { ffi: [], exec: [] };
    const run = (s: Side, plugin: string, command: string, conf: Record<string, unknown>, ifname = 'eth0', containerId = 'c1') => {
      const r = s.net.run({ plugin: bin(plugin), command, conf, containerId, netns: s.ctr.path, ifname, env: { CNI_TS_TRACE: s.trace, ...(s.label === 'exec' ? { CNI_TS_NO_FFI: '1' } : {}) } });
      expect(r.status, `${s.label} ${plugin} ${command}: ${r.stdout}${r.stderr}`).toBe(0);
      results[s.label]!.push(r.json ?? null);
      return r.json;
    };
    const confs = (s: Side) => {
      const ipam = (subnet: string, extra: Record<string, unknown> = {}) => ({ type: 'host-local', dataDir: s.dataDir, ranges: [[{ subnet }]], ...extra });
      return {
        bridge: { cniVersion: '1.0.0', name: 'pbr', type: 'bridge', bridge: 'pbr0', isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', dataDir: s.dataDir, ranges: [[{ subnet: '10.61.0.0/24' }], [{ subnet: 'fd61::/64' }]] } },
        bridgeL2: { cniVersion: '1.0.0', name: 'pbl', type: 'bridge', bridge: 'pbl0' },
        ptp: { cniVersion: '1.0.0', name: 'pptp', type: 'ptp', ipMasq: true, ipMasqBackend: 'nftables', ipam: ipam('10.63.0.0/24') },
        macvlan: { cniVersion: '1.0.0', name: 'pmv', type: 'macvlan', master: 'm0', ipam: ipam('10.64.0.0/24', { gateway: '10.64.0.1', routes: [{ dst: '10.99.0.0/16' }] }) },
        loopback: { cniVersion: '1.0.0', name: 'plo', type: 'loopback' },
        tuning: { cniVersion: '1.0.0', name: 'pbr', type: 'tuning', dataDir: join(s.dataDir, 'tuning'), mac: 'c2:11:22:33:44:55', mtu: 1400, promisc: true, allmulti: true, txQLen: 500, sysctl: { 'net.ipv4.conf.eth0.arp_filter': '1' } },
        sbr: { cniVersion: '1.0.0', name: 'pbr', type: 'sbr' },
        tap: { cniVersion: '1.0.0', name: 'ptap', type: 'tap', mac: '02:00:00:00:00:30', mtu: 1400, owner: 0, group: 0, ipam: ipam('10.66.0.0/24') },
        hostDevice: { cniVersion: '1.0.0', name: 'phd', type: 'host-device', device: 'hd0', ipam: { type: 'static', addresses: [{ address: '10.65.0.5/24', gateway: '10.65.0.1' }, { address: 'fd65::5/64' }], routes: [{ dst: '10.98.0.0/16', gw: '10.65.0.1' }] } },
        portmap: { cniVersion: '1.0.0', name: 'pbr', type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 8053, containerPort: 53, protocol: 'udp' }] } },
      };
    };
    const prev: Record<string, Record<string, unknown>> = { ffi: {}, exec: {} };
    for (const s of sides) {
      const c = confs(s);
      const br = run(s, 'bridge', 'ADD', c.bridge, 'eth0', 'c1');
      prev[s.label]!.tuning = run(s, 'tuning', 'ADD', withPrev(c.tuning, br), 'eth0', 'c1');
      prev[s.label]!.portmap = run(s, 'portmap', 'ADD', withPrev(c.portmap, prev[s.label]!.tuning), 'eth0', 'c1');
      prev[s.label]!.sbr = run(s, 'sbr', 'ADD', withPrev(c.sbr, prev[s.label]!.portmap), 'eth0', 'c1');
      prev[s.label]!.bridgeL2 = run(s, 'bridge', 'ADD', c.bridgeL2, 'eth1', 'c2');
      prev[s.label]!.ptp = run(s, 'ptp', 'ADD', c.ptp, 'eth2', 'c3');
      prev[s.label]!.macvlan = run(s, 'macvlan', 'ADD', c.macvlan, 'eth3', 'c4');
      prev[s.label]!.loopback = run(s, 'loopback', 'ADD', c.loopback, 'lo', 'c5');
      prev[s.label]!.hostDevice = run(s, 'host-device', 'ADD', c.hostDevice, 'eth4', 'c6');
      prev[s.label]!.tap = run(s, 'tap', 'ADD', c.tap, 'eth5', 'c7');
      prev[s.label]!.bridge = br;
    }
    const norms = sides.map((s) => normalizer([s.net.host, s.ctr.name, s.dataDir]));
    // normalized; sysctl lines and routes sorted once the random names in them are placeholders (the order of a
    // route dump is not part of the state: routes the kernel adds itself land wherever they come)
    const sortLines = (t: string) => t.split('\n').sort().join('\n');
    const sortJsonLists = (t: string) => t.split('\n').filter(Boolean).map((l) => JSON.stringify((JSON.parse(l) as unknown[]).map((x) => JSON.stringify(x)).sort())).join('\n');
    // DAD of host-device's static IPv6 address runs on the kernel's time: wait until it is over on both sides
    const settle = () => {
      for (let i = 0; i < 50 && sides.some((s) => sh('ip', ['-n', s.ctr.name, '-6', 'addr', 'show', 'tentative']).stdout.trim()); i++) sh('sleep', ['0.1']);
    };
    const snap = () => {
      settle();
      return sides.map((s, i) =>
        Object.fromEntries(Object.entries(state(s)).map(([k, v]) => [k, k.endsWith('sysctls') ? sortLines(norms[i]!(v)) : k.endsWith('routes') ? sortJsonLists(norms[i]!(v).replace(/\]\[/g, ']\n[')) : norms[i]!(v)])),
      );
    };
    const [afterAddFfi, afterAddExec] = snap();
    expect(afterAddFfi).toEqual(afterAddExec);
    expect(norms[0]!(JSON.stringify(results.ffi))).toBe(norms[1]!(JSON.stringify(results.exec)));

    for (const s of sides) {
      const c = confs(s);
      const p = prev[s.label]!;
      run(s, 'tap', 'DEL', withPrev(c.tap, p.tap), 'eth5', 'c7');
      run(s, 'host-device', 'DEL', withPrev(c.hostDevice, p.hostDevice), 'eth4', 'c6');
      run(s, 'loopback', 'DEL', c.loopback, 'lo', 'c5');
      run(s, 'macvlan', 'DEL', withPrev(c.macvlan, p.macvlan), 'eth3', 'c4');
      run(s, 'ptp', 'DEL', withPrev(c.ptp, p.ptp), 'eth2', 'c3');
      run(s, 'bridge', 'DEL', withPrev(c.bridgeL2, p.bridgeL2), 'eth1', 'c2');
      run(s, 'sbr', 'DEL', withPrev(c.sbr, p.sbr), 'eth0', 'c1');
      run(s, 'portmap', 'DEL', withPrev(c.portmap, p.portmap), 'eth0', 'c1');
      run(s, 'tuning', 'DEL', withPrev(c.tuning, p.portmap), 'eth0', 'c1');
      run(s, 'bridge', 'DEL', withPrev(c.bridge, p.portmap), 'eth0', 'c1');
    }
    const [afterDelFfi, afterDelExec] = snap();
    expect(afterDelFfi).toEqual(afterDelExec);

    // what each path ran: in-process, nothing but ip(6)tables-restore (the default masquerade backend); exec, the programs
    const execs = (s: Side) => readFileSync(s.trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what as string).filter((w) => w.startsWith('exec ')).map((w) => w.split(' ')[1]!);
    expect(new Set(execs(sides[0]!))).toEqual(new Set(['iptables-restore', 'ip6tables-restore']));
    expect(new Set(execs(sides[1]!))).toEqual(new Set(['ip', 'nft', 'flock', 'nsenter', 'iptables-restore', 'ip6tables-restore']));
  });
});
