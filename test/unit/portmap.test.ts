import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { CniError } from '../../lib/cni/errors.js';
import { dnatChainName } from '../../lib/hash.js';
import { containerAddresses, parseConf, type PortMapConf } from '../../plugins/portmap/config.js';
import { addRestore, attachmentsInSave, chainRules, delRestore, entryRules, missingSetup, removalRestore, udpPortsInSave } from '../../plugins/portmap/iptables-rules.js';
import { addScript, attachment, containerChain, containerObjects, deleteScript, removalOf, setupScript } from '../../plugins/portmap/nft-rules.js';
import { attachmentIds, inTheWay, isSetUp, parseTable, removalFromState, sharedRules, udpPortsOf } from '../../plugins/portmap/nft-state.js';

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
  const me = attachment('test', 'ctr1');
  const ch = me.chain;

  it('names an attachment by its network and container ID: chain, element comment, owner tag', () => {
    expect(ch).toBe(containerChain('test', 'ctr1'));
    expect(ch).toMatch(/^cnits_dn_[0-9a-f]{24}$/);
    expect(me.comment).toBe('test/ctr1');
    expect(me.tag).toMatch(/^0x[0-9a-f]{8}$/);
    expect(attachment('test', 'ctr2').tag).not.toBe(me.tag);
  });

  it('sets the table up with DNAT maps, verdict maps and the owner map; dispatch hostIP-specific first', () => {
    const s = setupScript(4, [{ chain: 'hostip_hostports', handle: 7 }]);
    expect(s).toContain('add map ip cni_hostport cnits_dnat_hostip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service ; }\n');
    expect(s).toContain('add map ip cni_hostport cnits_dnat { type inet_proto . inet_service : ipv4_addr . inet_service ; }\n');
    expect(s).toContain('add map ip cni_hostport cnits_port_owner { type ipv4_addr . inet_proto . inet_service : mark ; }\n');
    const rules = s.split('\n').filter((l) => / rule /.test(l) && /hostip_hostports|masquerading/.test(l) && !/ (prerouting|output) /.test(l));
    expect(rules).toEqual([
      'delete rule ip cni_hostport hostip_hostports handle 7',
      'insert rule ip cni_hostport hostip_hostports fib daddr type local meta l4proto . th dport vmap @cnits_hostports comment "cni-ts portmap"',
      'insert rule ip cni_hostport hostip_hostports fib daddr type local dnat ip to meta l4proto . th dport map @cnits_dnat comment "cni-ts portmap"',
      'insert rule ip cni_hostport hostip_hostports ip daddr . meta l4proto . th dport vmap @cnits_hostip_ports comment "cni-ts portmap"',
      'insert rule ip cni_hostport hostip_hostports dnat ip to ip daddr . meta l4proto . th dport map @cnits_dnat_hostip comment "cni-ts portmap"',
      'add rule ip cni_hostport masquerading ct status dnat ip saddr . ip daddr @cnits_hairpin masquerade comment "cni-ts portmap"',
      'add rule ip cni_hostport masquerading ct status dnat ip daddr @cnits_masq_all masquerade comment "cni-ts portmap"',
    ]);
    expect(setupScript(6)).toContain('insert rule ip6 cni_hostport hostip_hostports dnat ip6 to ip6 daddr . meta l4proto . th dport map @cnits_dnat_hostip');
  });

  it('ADD without conditions: owner and DNAT map elements, hairpin pairs, no chain; the first mapping of a host port wins', () => {
    const o = containerObjects(c, 'ctr1', v4);
    expect(o.chain).toBeUndefined();
    expect(addScript(o)).toBe(
      [
        `add element ip cni_hostport cnits_port_owner { 0.0.0.0 . tcp . 8080 : ${me.tag}, 192.0.2.1 . udp . 5353 : ${me.tag} }`,
        'add element ip cni_hostport cnits_dnat { tcp . 8080 comment "test/ctr1" : 10.0.0.2 . 80 }',
        'add element ip cni_hostport cnits_dnat_hostip { 192.0.2.1 . udp . 5353 comment "test/ctr1" : 10.0.0.2 . 53 }',
        'add element ip cni_hostport cnits_hairpin { 10.0.0.2 . 10.0.0.2, 127.0.0.1 . 10.0.0.2 }',
        '',
      ].join('\n'),
    );
    // DEL: the owner elements guard (re-added with this attachment's tag, they clash if another holds the port)
    expect(deleteScript(removalOf(o))).toBe(
      [
        `add element ip cni_hostport cnits_port_owner { 0.0.0.0 . tcp . 8080 : ${me.tag}, 192.0.2.1 . udp . 5353 : ${me.tag} }`,
        'delete element ip cni_hostport cnits_port_owner { 0.0.0.0 . tcp . 8080, 192.0.2.1 . udp . 5353 }',
        'delete element ip cni_hostport cnits_dnat { tcp . 8080 }',
        'delete element ip cni_hostport cnits_dnat_hostip { 192.0.2.1 . udp . 5353 }',
        'delete element ip cni_hostport cnits_hairpin { 10.0.0.2 . 10.0.0.2, 127.0.0.1 . 10.0.0.2 }',
        '',
      ].join('\n'),
    );
    const six = containerObjects(c, 'ctr1', v6);
    expect(addScript(six)).toContain('add element ip6 cni_hostport cnits_dnat_hostip { 2001:db8::9 . sctp . 9000 comment "test/ctr1" : 2001:db8::2 . 90 }');
    expect(six.owners.map((e) => e.key)).toEqual([':: . tcp . 8080', '2001:db8::9 . sctp . 9000']);
  });

  it('ADD replacing elements in the way deletes them first', () => {
    const o = containerObjects(conf({}, [{ hostPort: 8080, containerPort: 80 }]), 'ctr1', v4);
    const replace = [{ map: 'cnits_hostports', key: 'tcp . 8080' }, { map: 'cnits_port_owner', key: '0.0.0.0 . tcp . 8080' }];
    expect(addScript(o, replace).split('\n').slice(0, 3)).toEqual([
      'delete element ip cni_hostport cnits_hostports { tcp . 8080 }',
      'delete element ip cni_hostport cnits_port_owner { 0.0.0.0 . tcp . 8080 }',
      `add element ip cni_hostport cnits_port_owner { 0.0.0.0 . tcp . 8080 : ${me.tag} }`,
    ]);
  });

  it('ADD with nftables conditions uses a chain and the verdict maps; masqAll uses the masq_all set; DEL mirrors ADD', () => {
    const c6 = conf({ masqAll: true, conditionsV6: ['iifname', '"eth0"'] }, [{ hostPort: 9000, containerPort: 90, protocol: 'sctp', hostIP: '2001:db8::9' }]);
    const o = containerObjects(c6, 'ctr1', v6);
    expect(addScript(o)).toBe(
      [
        `add element ip6 cni_hostport cnits_port_owner { 2001:db8::9 . sctp . 9000 : ${me.tag} }`,
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
        `add element ip6 cni_hostport cnits_port_owner { 2001:db8::9 . sctp . 9000 : ${me.tag} }`,
        `add element ip6 cni_hostport cnits_hostip_ports { 2001:db8::9 . sctp . 9000 : jump ${ch} }`,
        'delete element ip6 cni_hostport cnits_port_owner { 2001:db8::9 . sctp . 9000 }',
        'delete element ip6 cni_hostport cnits_hostip_ports { 2001:db8::9 . sctp . 9000 }',
        'delete element ip6 cni_hostport cnits_masq_all { 2001:db8::2 }',
        `flush chain ip6 cni_hostport ${ch}`,
        `delete chain ip6 cni_hostport ${ch}`,
        '',
      ].join('\n'),
    );
    // conditions are per family: the same config without IPv4 conditions uses the maps for IPv4
    expect(containerObjects(c6, 'ctr1', v4).chain).toBeUndefined();
  });

  it('uses the chain layout when "<network>/<containerID>" does not fit an nft comment (128 characters)', () => {
    const id = 'c'.repeat(100);
    expect(containerObjects(conf({ name: 'n'.repeat(27) }, [{ hostPort: 1, containerPort: 1 }]), id, v4).chain).toBeUndefined();
    expect(containerObjects(conf({ name: 'n'.repeat(28) }, [{ hostPort: 1, containerPort: 1 }]), id, v4).chain).toBe(containerChain('n'.repeat(28), id));
  });

  // `nft -j list table ip cni_hostport` shapes (nft 1.0.6): elements with comments are wrapped in {elem: {val, comment}}
  const other = attachment('test', 'other');
  const dnatElem = (key: unknown[], comment: string, to: unknown[]) => [{ elem: { val: { concat: key }, comment } }, { concat: to }];
  const tagNum = (t: string) => Number.parseInt(t, 16);
  const items = [
    { chain: { name: 'hostports' } },
    { chain: { name: 'hostip_hostports' } },
    { chain: { name: 'masquerading' } },
    { chain: { name: ch } },
    { map: { name: 'cnits_dnat', elem: [dnatElem(['tcp', 8080], 'test/ctr1', ['10.0.0.2', 80]), dnatElem(['tcp', 9090], 'test/other', ['10.0.0.3', 80])] } },
    { map: { name: 'cnits_dnat_hostip', elem: [dnatElem(['192.0.2.1', 'udp', 5353], 'test/ctr1', ['10.0.0.2', 53])] } },
    { map: { name: 'cnits_hostports', elem: [[{ concat: ['tcp', 7070] }, { jump: { target: ch } }]] } },
    { map: { name: 'cnits_hostip_ports' } },
    {
      map: {
        name: 'cnits_port_owner',
        elem: [
          [{ concat: ['0.0.0.0', 'tcp', 8080] }, tagNum(me.tag)],
          [{ concat: ['192.0.2.1', 'udp', 5353] }, tagNum(me.tag)],
          [{ concat: ['0.0.0.0', 'tcp', 7070] }, tagNum(me.tag)],
          [{ concat: ['0.0.0.0', 'tcp', 9090] }, tagNum(other.tag)],
        ],
      },
    },
    { set: { name: 'cnits_hairpin', elem: [{ concat: ['10.0.0.2', '10.0.0.2'] }, { concat: ['127.0.0.1', '10.0.0.2'] }, { concat: ['10.0.0.3', '10.0.0.3'] }] } },
    { set: { name: 'cnits_masq_all' } },
    { rule: { chain: ch, handle: 7, comment: 'ctr1', expr: [{ dnat: { addr: '10.0.0.2', port: 70 } }] } },
    { rule: { chain: 'hostports', handle: 9, comment: 'ctr1', expr: [] } },
    { rule: { chain: 'hostports', handle: 10, comment: 'other', expr: [] } },
  ];

  it('finds an attachment of both layouts in `nft -j list table` output, with reference-style rules with its ID', () => {
    const st = parseTable(items, 4);
    const r = removalFromState(st, me);
    expect(deleteScript(r)).toBe(
      [
        'delete element ip cni_hostport cnits_port_owner { 0.0.0.0 . tcp . 8080, 192.0.2.1 . udp . 5353, 0.0.0.0 . tcp . 7070 }',
        'delete element ip cni_hostport cnits_dnat { tcp . 8080 }',
        'delete element ip cni_hostport cnits_dnat_hostip { 192.0.2.1 . udp . 5353 }',
        'delete element ip cni_hostport cnits_hostports { tcp . 7070 }',
        'delete element ip cni_hostport cnits_hairpin { 10.0.0.2 . 10.0.0.2, 127.0.0.1 . 10.0.0.2 }',
        'delete rule ip cni_hostport hostports handle 9',
        `flush chain ip cni_hostport ${ch}`,
        `delete chain ip cni_hostport ${ch}`,
        '',
      ].join('\n'),
    );
    expect(udpPortsOf(r)).toEqual([5353]);
    expect(attachmentIds(st, 'test').sort()).toEqual(['ctr1', 'other']);
    expect(attachmentIds(st, 'othernet')).toEqual([]);
  });

  it('keeps hairpin pairs of an address another attachment still forwards to', () => {
    const shared = structuredClone(items);
    (shared[4] as any).map.elem[1] = dnatElem(['tcp', 9090], 'test/other', ['10.0.0.2', 80]);
    const r = removalFromState(parseTable(shared, 4), me);
    expect(r.elems.filter((e) => e.map === 'cnits_hairpin')).toEqual([]);
  });

  it('finds what is in the way of an ADD: another attachment holding the key in either layout, or own stale data', () => {
    const st = parseTable(items, 4);
    // "other" takes tcp 8080 (held by ctr1 in the DNAT map) and tcp 7070 (held by ctr1's chain)
    const o = containerObjects(conf({}, [{ hostPort: 8080, containerPort: 80 }, { hostPort: 7070, containerPort: 70 }]), 'other', { ...v4, ip: '10.0.0.3' });
    const w = inTheWay(st, o);
    expect(w.replace).toEqual([
      { map: 'cnits_dnat', key: 'tcp . 8080' },
      { map: 'cnits_port_owner', key: '0.0.0.0 . tcp . 8080' },
      { map: 'cnits_hostports', key: 'tcp . 7070' },
      { map: 'cnits_port_owner', key: '0.0.0.0 . tcp . 7070' },
    ]);
    expect(w.notes).toEqual(['tcp 8080 (IPv4) taken over from container ctr1', 'tcp 7070 (IPv4) taken over from container ctr1']);
    // "other" again with a new address: its own element is replaced, silently; the same element is left alone
    expect(inTheWay(st, containerObjects(conf({}, [{ hostPort: 9090, containerPort: 80 }]), 'other', { ...v4, ip: '10.0.0.4' }))).toEqual({
      replace: [{ map: 'cnits_dnat', key: 'tcp . 9090' }],
      notes: [],
    });
    expect(inTheWay(st, containerObjects(conf({}, [{ hostPort: 9090, containerPort: 80 }]), 'other', { ...v4, ip: '10.0.0.3' }))).toEqual({ replace: [], notes: [] });
  });

  it('knows a table set up by this version from one of an older layout (vmaps only) or without our rules', () => {
    const rule = (chain: string, handle: number, ref: string) => ({ rule: { chain, handle, comment: 'cni-ts portmap', expr: [{ x: { data: `@${ref}` } }] } });
    const sets = ['cnits_dnat_hostip', 'cnits_dnat', 'cnits_hostip_ports', 'cnits_hostports', 'cnits_port_owner', 'cnits_hairpin', 'cnits_masq_all'].map((name) => ({ map: { name } }));
    const base = [{ chain: { name: 'hostip_hostports' } }, { chain: { name: 'masquerading' } }, ...sets];
    const masq = [rule('masquerading', 5, 'cnits_hairpin'), rule('masquerading', 6, 'cnits_masq_all')];
    const now = ['cnits_dnat_hostip', 'cnits_hostip_ports', 'cnits_dnat', 'cnits_hostports'].map((r, i) => rule('hostip_hostports', 10 + i, r));
    expect(isSetUp(parseTable([...base, ...now, ...masq], 4))).toBe(true);
    expect(isSetUp(parseTable([...base, ...masq, ...now], 4))).toBe(true); // chains listed in another order
    const old = [rule('hostip_hostports', 1, 'cnits_hostip_ports'), rule('hostip_hostports', 2, 'cnits_hostports')];
    const oldTable = parseTable([...base.filter((x) => !/dnat|owner/.test(JSON.stringify(x))), ...old, ...masq], 4);
    expect(isSetUp(oldTable)).toBe(false);
    expect(sharedRules(oldTable).map((r) => r.handle)).toEqual([1, 2, 5, 6]);
    expect(isSetUp(parseTable([...base, ...[...now].reverse(), ...masq], 4))).toBe(false);
    expect(isSetUp(parseTable(base, 4))).toBe(false);
    expect(isSetUp(undefined)).toBe(false);
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
