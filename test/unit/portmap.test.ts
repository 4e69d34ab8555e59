import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { CniError } from '../../lib/cni/errors.js';
import { dnatChainName } from '../../lib/hash.js';
import { containerAddresses, parseConf, type PortMapConf } from '../../plugins/portmap/config.js';
import { addRestore, attachmentsInSave, chainRules, delRestore, entryRules, missingSetup, removalRestore, udpPortsInSave } from '../../plugins/portmap/iptables-rules.js';
import { addScript, containerChain, containerObjects, deleteScript, removalOf } from '../../plugins/portmap/nft-rules.js';
import { parseTable, removalFromState } from '../../plugins/portmap/nft-state.js';

// The reference's test vectors (plugins/meta/portmap/portmap_iptables_test.go).
const CID = 'icee6giejonei6sohng6ahngee7laquohquee9shiGo7fohferakah3Feiyoolu2pei7ciPhoh7shaoX6vai3vuf0ahfaeng8yohb9ceu0daez5hashee8ooYai5wa3y';
const REF_MAPPINGS = [
  { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
  { hostPort: 8081, containerPort: 80, protocol: 'tcp' },
  { hostPort: 8080, containerPort: 81, protocol: 'udp' },
  { hostPort: 8082, containerPort: 82, protocol: 'udp' },
  { hostPort: 8083, containerPort: 83, protocol: 'tcp', hostIP: '192.168.0.2' },
  { hostPort: 8084, containerPort: 84, protocol: 'tcp', hostIP: '0.0.0.0' },
  { hostPort: 8085, containerPort: 85, protocol: 'tcp', hostIP: '2001:db8:a::1' },
  { hostPort: 8086, containerPort: 86, protocol: 'tcp', hostIP: '::' },
];

function conf(extra: Record<string, unknown>, portMappings: unknown[] = REF_MAPPINGS, backend: 'nftables' | 'iptables' = 'nftables'): PortMapConf {
  const raw = { cniVersion: '1.0.0', name: 'test', type: 'portmap', runtimeConfig: { portMappings }, ...extra };
  return parseConf(parseNetConf(raw), () => backend);
}

function configErr(extra: Record<string, unknown>, portMappings?: unknown[]): string {
  try {
    conf(extra, portMappings);
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    expect((e as CniError).code).toBe(7);
    return (e as CniError).msg;
  }
  throw new Error('expected a config error');
}

const v4 = { family: 4 as const, ip: '10.0.0.2', cidr: '10.0.0.2/24' };
const v6 = { family: 6 as const, ip: '2001:db8::2', cidr: '2001:db8::2/64' };

describe('portmap config', () => {
  it('reads mappings with keys in any case, defaults protocol to tcp, canonicalises hostIP', () => {
    const c = conf({}, [{ HostPort: 8088, ContainerPort: 80, Protocol: 'TCP', HostIP: '' }, { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '2001:DB8:0::1' }, { hostPort: 1, containerPort: 2 }]);
    expect(c.mappings).toEqual([
      { hostPort: 8088, containerPort: 80, protocol: 'tcp' },
      { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '2001:db8::1', hostFamily: 6 },
      { hostPort: 1, containerPort: 2, protocol: 'tcp' },
    ]);
    expect(c).toMatchObject({ snat: true, masqAll: false, markMasqBit: 13, backend: 'nftables', routeLocalnet: true });
  });

  it('rejects bad mappings and options with precise messages', () => {
    expect(configErr({}, [{ hostPort: 0, containerPort: 80 }])).toBe('runtimeConfig.portMappings[0]: invalid host port number 0 ("hostPort" must be an integer from 1 to 65535)');
    expect(configErr({}, [{ hostPort: 80, containerPort: 70000 }])).toMatch(/invalid container port number 70000/);
    expect(configErr({}, [{ hostPort: '80', containerPort: 80 }])).toMatch(/invalid host port number "80"/);
    expect(configErr({}, [{ hostPort: 80, containerPort: 80, protocol: 'icmp' }])).toBe('runtimeConfig.portMappings[0]: unsupported protocol "icmp" (allowed: tcp, udp, sctp)');
    expect(configErr({}, [{ hostPort: 80, containerPort: 80, hostIP: '300.1.1.1' }])).toBe('runtimeConfig.portMappings[0]: "hostIP" is not an IP address: "300.1.1.1"');
    expect(configErr({ markMasqBit: 3, externalSetMarkChain: 'X' })).toBe('Cannot specify externalSetMarkChain and markMasqBit');
    expect(configErr({ markMasqBit: -1 })).toMatch(/"markMasqBit" is -1, below the minimum 0/);
    expect(configErr({ snat: 'yes' })).toMatch(/"snat" must be true or false/);
    expect(configErr({ backend: 'iptables', conditionsV4: ['ip', 'saddr', '1.2.3.4'] })).toBe(
      'iptables backend was requested but configuration contains nftables-specific options [conditionsV4]',
    );
  });

  it('picks the backend from conditions syntax and iptables-only keys, else the default', () => {
    expect(conf({ conditionsV4: ['-s', '1.2.3.4'] }).backend).toBe('iptables');
    expect(conf({ conditionsV6: ['ip6', 'saddr', '::1'] }, undefined, 'iptables').backend).toBe('nftables');
    expect(conf({ externalSetMarkChain: 'KUBE-MARK-MASQ' }).backend).toBe('iptables');
    expect(conf({}, undefined, 'iptables').backend).toBe('iptables');
  });

  it('takes the first v4 and v6 address of the sandboxed CNI_IFNAME from prevResult', () => {
    const prev = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'br0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [
        { address: '10.0.0.1/24', interface: 0 },
        { address: '10.0.0.2/24', interface: 2 },
        { address: '10.0.0.3/24', interface: 2 },
        { address: '2001:db8::2/64', interface: 2 },
      ],
    };
    expect(containerAddresses(parseNetConf({ cniVersion: '1.0.0', name: 'n', prevResult: prev }).prevResult, 'eth0')).toEqual([v4, v6]);
    expect(containerAddresses(parseNetConf({ cniVersion: '1.0.0', name: 'n', prevResult: prev }).prevResult, 'eth1')).toEqual([]);
  });
});

describe('portmap iptables rules (reference vectors)', () => {
  it('names chains as the reference', () => {
    expect(dnatChainName('testNetName', CID)).toBe('CNI-DN-bfd599665540dd91d5d28');
    expect(dnatChainName('test', CID)).toBe('CNI-DN-67e92b96e692a494b6b85');
  });

  it('generates the reference entry rules and per-container rules for IPv4 and IPv6', () => {
    const c = conf({ conditionsV4: ['-a', 'b'], conditionsV6: ['-c', 'd'] }, REF_MAPPINGS, 'iptables');
    const comment = `dnat name: "test" id: "${CID}"`;
    expect(entryRules(c, CID, 4)).toEqual([
      ['-m', 'comment', '--comment', comment, '-m', 'multiport', '-p', 'tcp', '--destination-ports', '8080,8081,8083,8084,8085,8086', '-a', 'b', '-j', 'CNI-DN-67e92b96e692a494b6b85'],
      ['-m', 'comment', '--comment', comment, '-m', 'multiport', '-p', 'udp', '--destination-ports', '8080,8082', '-a', 'b', '-j', 'CNI-DN-67e92b96e692a494b6b85'],
    ]);
    const S = 'CNI-HOSTPORT-SETMARK';
    expect(chainRules(c, v4)).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-s', '10.0.0.2/24', '-j', S],
      ['-p', 'tcp', '--dport', '8080', '-s', '127.0.0.1', '-j', S],
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
      ['-p', 'tcp', '--dport', '8081', '-s', '10.0.0.2/24', '-j', S],
      ['-p', 'tcp', '--dport', '8081', '-s', '127.0.0.1', '-j', S],
      ['-p', 'tcp', '--dport', '8081', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
      ['-p', 'udp', '--dport', '8080', '-s', '10.0.0.2/24', '-j', S],
      ['-p', 'udp', '--dport', '8080', '-s', '127.0.0.1', '-j', S],
      ['-p', 'udp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.2:81'],
      ['-p', 'udp', '--dport', '8082', '-s', '10.0.0.2/24', '-j', S],
      ['-p', 'udp', '--dport', '8082', '-s', '127.0.0.1', '-j', S],
      ['-p', 'udp', '--dport', '8082', '-j', 'DNAT', '--to-destination', '10.0.0.2:82'],
      ['-p', 'tcp', '--dport', '8083', '-d', '192.168.0.2', '-s', '10.0.0.2/24', '-j', S],
      ['-p', 'tcp', '--dport', '8083', '-d', '192.168.0.2', '-s', '127.0.0.1', '-j', S],
      ['-p', 'tcp', '--dport', '8083', '-d', '192.168.0.2', '-j', 'DNAT', '--to-destination', '10.0.0.2:83'],
      ['-p', 'tcp', '--dport', '8084', '-s', '10.0.0.2/24', '-j', S],
      ['-p', 'tcp', '--dport', '8084', '-s', '127.0.0.1', '-j', S],
      ['-p', 'tcp', '--dport', '8084', '-j', 'DNAT', '--to-destination', '10.0.0.2:84'],
    ]);
    expect(chainRules(c, v6)).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-s', '2001:db8::2/64', '-j', S],
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:80'],
      ['-p', 'tcp', '--dport', '8081', '-s', '2001:db8::2/64', '-j', S],
      ['-p', 'tcp', '--dport', '8081', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:80'],
      ['-p', 'udp', '--dport', '8080', '-s', '2001:db8::2/64', '-j', S],
      ['-p', 'udp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:81'],
      ['-p', 'udp', '--dport', '8082', '-s', '2001:db8::2/64', '-j', S],
      ['-p', 'udp', '--dport', '8082', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:82'],
      ['-p', 'tcp', '--dport', '8085', '-d', '2001:db8:a::1', '-s', '2001:db8::2/64', '-j', S],
      ['-p', 'tcp', '--dport', '8085', '-d', '2001:db8:a::1', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:85'],
      ['-p', 'tcp', '--dport', '8086', '-s', '2001:db8::2/64', '-j', S],
      ['-p', 'tcp', '--dport', '8086', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:86'],
    ]);
    const noSnat = conf({ snat: false }, REF_MAPPINGS.slice(0, 2), 'iptables');
    expect(chainRules(noSnat, v4)).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
      ['-p', 'tcp', '--dport', '8081', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
    ]);
    const ext = conf({ externalSetMarkChain: 'PLZ-SET-MARK' }, REF_MAPPINGS.slice(0, 1), 'iptables');
    expect(chainRules(ext, v4).map((r) => r.at(-1))).toEqual(['PLZ-SET-MARK', 'PLZ-SET-MARK', '10.0.0.2:80']);
    const masqAll = conf({ masqAll: true }, REF_MAPPINGS.slice(0, 1), 'iptables');
    expect(chainRules(masqAll, v4)).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-s', '0.0.0.0/0', '-j', S],
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
    ]);
  });

  it('splits multiport lists at 15 ports and trims long comments to 253 + "..."', () => {
    const many = Array.from({ length: 17 }, (_, i) => ({ hostPort: 1000 + i, containerPort: 80 }));
    const c = conf({}, many, 'iptables');
    const rules = entryRules(c, 'x'.repeat(300), 4);
    expect(rules.map((r) => r[9]!.split(',').length)).toEqual([15, 2]);
    expect(rules[0]![3]).toHaveLength(256);
    expect(rules[0]![3]!.endsWith('...')).toBe(true);
  });

  it('writes ADD and DEL as single iptables-restore inputs', () => {
    const c = conf({}, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], 'iptables');
    const ch = dnatChainName('test', 'ctr1');
    expect(addRestore(c, 'ctr1', v4)).toBe(
      [
        '*nat',
        `:${ch} - [0:0]`,
        `-A ${ch} -p tcp --dport 8080 -s 10.0.0.2/24 -j CNI-HOSTPORT-SETMARK`,
        `-A ${ch} -p tcp --dport 8080 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK`,
        `-A ${ch} -p tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80`,
        `-I CNI-HOSTPORT-DNAT -m comment --comment "dnat name: \\"test\\" id: \\"ctr1\\"" -m multiport -p tcp --destination-ports 8080 -j ${ch}`,
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(delRestore(c, 'ctr1', 4)).toBe(
      ['*nat', `-D CNI-HOSTPORT-DNAT -m comment --comment "dnat name: \\"test\\" id: \\"ctr1\\"" -m multiport -p tcp --destination-ports 8080 -j ${ch}`, `-F ${ch}`, `-X ${ch}`, 'COMMIT', ''].join('\n'),
    );
  });

  const SAVE = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':CNI-DN-aaa - [0:0]',
    ':CNI-DN-bbb - [0:0]',
    ':CNI-HOSTPORT-DNAT - [0:0]',
    '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
    '-A CNI-DN-aaa -p udp -m udp --dport 5353 -j DNAT --to-destination 10.0.0.2:53',
    '-A CNI-DN-aaa -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80',
    '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"n\\" id: \\"a\\"" -m multiport --dports 8080 -j CNI-DN-aaa',
    '-A CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \\"n\\" id: \\"a\\"" -m multiport --dports 5353 -j CNI-DN-aaa',
    '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"n\\" id: \\"b\\"" -m multiport --dports 9090 -j CNI-DN-bbb',
    'COMMIT',
  ].join('\n');

  it('finds an attachment in iptables-save output and removes only it', () => {
    expect(removalRestore(SAVE, ['CNI-DN-aaa'])).toBe(
      [
        '*nat',
        '-D CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"n\\" id: \\"a\\"" -m multiport --dports 8080 -j CNI-DN-aaa',
        '-D CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \\"n\\" id: \\"a\\"" -m multiport --dports 5353 -j CNI-DN-aaa',
        '-F CNI-DN-aaa',
        '-X CNI-DN-aaa',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(removalRestore(SAVE, ['CNI-DN-zzz'])).toBe('');
    expect(udpPortsInSave(SAVE, 'CNI-DN-aaa')).toEqual([5353]);
    expect(attachmentsInSave(SAVE)).toEqual([
      { net: 'n', containerId: 'a', chain: 'CNI-DN-aaa' },
      { net: 'n', containerId: 'b', chain: 'CNI-DN-bbb' },
    ]);
  });

  it('adds only the shared chains and rules that are missing', () => {
    const c = conf({}, [{ hostPort: 1, containerPort: 1 }], 'iptables');
    expect(missingSetup(c, SAVE)).toEqual([
      ':CNI-HOSTPORT-SETMARK - [0:0]',
      ':CNI-HOSTPORT-MASQ - [0:0]',
      '-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000',
      '-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE',
      '-I POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      '-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
    ]);
    expect(missingSetup(conf({ markMasqBit: 5 }, [{ hostPort: 1, containerPort: 1 }], 'iptables'), SAVE)[2]).toContain('--set-xmark 0x20/0x20');
  });
});

describe('portmap nftables scripts', () => {
  const c = conf({}, [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8080, containerPort: 81, protocol: 'tcp' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '192.0.2.1' },
    { hostPort: 9000, containerPort: 90, protocol: 'sctp', hostIP: '2001:db8::9' },
  ]);
  const ch = containerChain('test', 'ctr1');

  it('ADD for IPv4: one chain, its rules, map elements and hairpin pairs; the first mapping of a host port wins', () => {
    expect(ch).toMatch(/^cnits_dn_[0-9a-f]{24}$/);
    expect(addScript(containerObjects(c, 'ctr1', v4))).toBe(
      [
        `add chain ip cni_hostport ${ch}`,
        `flush chain ip cni_hostport ${ch}`,
        `add rule ip cni_hostport ${ch} meta l4proto tcp th dport 8080 dnat to 10.0.0.2:80 comment "ctr1"`,
        `add rule ip cni_hostport ${ch} ip daddr 192.0.2.1 meta l4proto udp th dport 5353 dnat to 10.0.0.2:53 comment "ctr1"`,
        `add element ip cni_hostport cnits_hostports { tcp . 8080 : jump ${ch} }`,
        `add element ip cni_hostport cnits_hostip_ports { 192.0.2.1 . udp . 5353 : jump ${ch} }`,
        'add element ip cni_hostport cnits_hairpin { 10.0.0.2 . 10.0.0.2, 127.0.0.1 . 10.0.0.2 }',
        '',
      ].join('\n'),
    );
  });

  it('ADD taking a host port over from another attachment deletes its element first', () => {
    const o = containerObjects(conf({}, [{ hostPort: 8080, containerPort: 80 }]), 'ctr1', v4);
    expect(addScript(o, o.keys).split('\n').slice(0, 2)).toEqual(['delete element ip cni_hostport cnits_hostports { tcp . 8080 }', `add chain ip cni_hostport ${ch}`]);
  });

  it('ADD for IPv6 with nftables conditions; masqAll uses the masq_all set; DEL mirrors ADD', () => {
    const c6 = conf({ masqAll: true, conditionsV6: ['iifname', '"eth0"'] }, [{ hostPort: 9000, containerPort: 90, protocol: 'sctp', hostIP: '2001:db8::9' }]);
    const o = containerObjects(c6, 'ctr1', v6);
    expect(addScript(o)).toBe(
      [
        `add chain ip6 cni_hostport ${ch}`,
        `flush chain ip6 cni_hostport ${ch}`,
        `add rule ip6 cni_hostport ${ch} iifname "eth0" ip6 daddr 2001:db8::9 meta l4proto sctp th dport 9000 dnat to [2001:db8::2]:90 comment "ctr1"`,
        `add element ip6 cni_hostport cnits_hostip_ports { 2001:db8::9 . sctp . 9000 : jump ${ch} }`,
        'add element ip6 cni_hostport cnits_masq_all { 2001:db8::2 }',
        '',
      ].join('\n'),
    );
    expect(deleteScript(removalOf(o))).toBe(
      [
        `add element ip6 cni_hostport cnits_hostip_ports { 2001:db8::9 . sctp . 9000 : jump ${ch} }`,
        'delete element ip6 cni_hostport cnits_hostip_ports { 2001:db8::9 . sctp . 9000 }',
        'delete element ip6 cni_hostport cnits_masq_all { 2001:db8::2 }',
        `flush chain ip6 cni_hostport ${ch}`,
        `delete chain ip6 cni_hostport ${ch}`,
        '',
      ].join('\n'),
    );
  });

  it('finds an attachment in `nft -j list table` output, including reference-style rules with its ID', () => {
    const items = [
      { chain: { name: 'hostports' } },
      { chain: { name: ch } },
      { map: { name: 'cnits_hostports', elem: [[{ concat: ['tcp', 8080] }, { jump: { target: ch } }], [{ concat: ['tcp', 9090] }, { jump: { target: 'cnits_dn_other' } }]] } },
      { map: { name: 'cnits_hostip_ports', elem: [[{ concat: ['192.0.2.1', 'udp', 5353] }, { jump: { target: ch } }]] } },
      { set: { name: 'cnits_hairpin', elem: [{ concat: ['10.0.0.2', '10.0.0.2'] }, { concat: ['127.0.0.1', '10.0.0.2'] }, { concat: ['10.0.0.3', '10.0.0.3'] }] } },
      { rule: { chain: ch, handle: 7, comment: 'ctr1', expr: [{ match: { left: { payload: { protocol: 'udp', field: 'dport' } }, right: 5353 } }, { dnat: { addr: '10.0.0.2', port: 53 } }] } },
      { rule: { chain: 'hostports', handle: 9, comment: 'ctr1', expr: [] } },
      { rule: { chain: 'hostports', handle: 10, comment: 'other', expr: [] } },
    ];
    const st = parseTable(items, 4);
    expect(deleteScript(removalFromState(st, ch, 'ctr1'))).toBe(
      [
        `add element ip cni_hostport cnits_hostports { tcp . 8080 : jump ${ch} }`,
        `add element ip cni_hostport cnits_hostip_ports { 192.0.2.1 . udp . 5353 : jump ${ch} }`,
        'delete element ip cni_hostport cnits_hostports { tcp . 8080 }',
        'delete element ip cni_hostport cnits_hostip_ports { 192.0.2.1 . udp . 5353 }',
        'delete element ip cni_hostport cnits_hairpin { 10.0.0.2 . 10.0.0.2, 127.0.0.1 . 10.0.0.2 }',
        'delete rule ip cni_hostport hostports handle 9',
        `flush chain ip cni_hostport ${ch}`,
        `delete chain ip cni_hostport ${ch}`,
        '',
      ].join('\n'),
    );
  });
});

describe('portmap host helpers', () => {
  it('finds the interface towards an address in /proc/net/route (longest prefix, up routes only)', async () => {
    const { routeInterfaceV4 } = await import('../../plugins/portmap/host.js');
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'cni0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
      'down0\t0200580A\t00000000\t0000\t0\t0\t0\tFFFFFFFF\t0\t0\t0',
    ].join('\n');
    expect(routeInterfaceV4(table, '10.88.0.2')).toBe('cni0');
    expect(routeInterfaceV4(table, '192.0.2.9')).toBe('eth0');
    expect(routeInterfaceV4(table.split('\n').slice(2).join('\n'), '8.8.8.8')).toBeUndefined();
  });

  it('lists original destination ports with conntrack entries per family and protocol', async () => {
    const { dstPortsWithEntries } = await import('../../lib/conntrack.js');
    const text = [
      'ipv4     2 udp      17 29 src=192.0.2.2 dst=192.0.2.1 sport=40000 dport=5353 [UNREPLIED] src=10.88.0.2 dst=192.0.2.2 sport=5353 dport=40000 mark=0 zone=0 use=2',
      'ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.2 dst=192.0.2.1 sport=40001 dport=8080 src=10.88.0.2 dst=192.0.2.2 sport=80 dport=40001 [ASSURED] mark=0 zone=0 use=2',
      'ipv6     10 udp      17 29 src=2001:db8::2 dst=2001:db8::1 sport=1 dport=53 src=2001:db8::1 dst=2001:db8::2 sport=53 dport=1 mark=0 zone=0 use=2',
    ].join('\n');
    expect([...dstPortsWithEntries(text, 4, 'udp')]).toEqual([5353]);
    expect([...dstPortsWithEntries(text, 6, 'udp')]).toEqual([53]);
    expect([...dstPortsWithEntries(text, 4, 'tcp')]).toEqual([8080]);
  });
});
