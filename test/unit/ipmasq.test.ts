import { describe, expect, it } from 'vitest';
import {
  hashForInstance,
  hashForNetwork,
  iptablesComment,
  iptablesBlindTeardownRestore,
  iptablesSetupRestore,
  iptablesStaleChains,
  iptablesTeardownRestore,
  masqChain,
  nftComment,
  nftDeleteScript,
  nftRulesFor,
  nftRulesOf,
  nftSetupScript,
  nftStaleRules,
} from '../../lib/ipmasq.js';

describe('ipmasq names (reference vectors)', () => {
  it('iptables chain CNI-<sha512(name+cid)[:24]> and comment', () => {
    expect(masqChain('brnet', 'brc1')).toBe('CNI-23fe902f3bee7c249552a0dd');
    expect(iptablesComment('brnet', 'brc1')).toBe('name: "brnet" id: "brc1"');
  });

  it('nft comment hashes (cni-reference.md §5 and ipmasq_nftables_linux_test.go)', () => {
    expect(hashForInstance({ network: 'brnet', ifname: 'eth0', containerId: 'brc1' })).toBe('bb82bb83e4c2720d-333bc238704be6e7');
    expect(hashForNetwork('unit-test')).toBe('6fd94d501e58f0aa');
    expect(nftComment({ network: 'unit-test', ifname: 'eth0', containerId: 'one' })).toBe('6fd94d501e58f0aa-287fc69eff0574a2, net: unit-test, if: eth0, id: one');
    expect(nftComment({ network: 'alternate', ifname: 'net1', containerId: 'three' })).toBe('82783ef24bdc7036-acb19d111858e348, net: alternate, if: net1, id: three');
  });

  it('nft comments are cut at 128 characters and lose double quotes', () => {
    const c = nftComment({ network: 'n', ifname: 'eth0', containerId: 'x'.repeat(200) });
    expect(c.length).toBe(128);
    expect(nftComment({ network: 'a"b', ifname: 'eth0', containerId: 'c' })).toContain('net: ab,');
  });
});

describe('nft scripts', () => {
  const id = { network: 'unit-test', ifname: 'eth0', containerId: 'one' };
  it('one transaction: table, chains, postrouting refilled, one rule per address', () => {
    const s = nftSetupScript(['192.168.1.1/24', 'fd00::5/64'], id);
    expect(s).toContain('add table inet cni_plugins_masquerade { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }');
    expect(s).toContain('add chain inet cni_plugins_masquerade postrouting { type nat hook postrouting priority 100 ; }\nflush chain inet cni_plugins_masquerade postrouting');
    expect(s).toContain(
      'add rule inet cni_plugins_masquerade masq_checks ip saddr == 192.168.1.1 ip daddr != 192.168.1.0/24 masquerade comment "6fd94d501e58f0aa-287fc69eff0574a2, net: unit-test, if: eth0, id: one"',
    );
    expect(s).toContain('ip6 saddr == fd00::5 ip6 daddr != fd00::/64 masquerade');
    expect(s).toContain('add rule inet cni_plugins_masquerade postrouting goto masq_checks');
  });

  it('finds rules by instance (teardown) and by network minus valid attachments (GC)', () => {
    const listing = JSON.stringify({
      nftables: [
        { metainfo: {} },
        { chain: { name: 'masq_checks' } },
        { rule: { chain: 'masq_checks', handle: 4, comment: nftComment(id), expr: [{ match: { left: { payload: { protocol: 'ip6', field: 'saddr' } } } }] } },
        { rule: { chain: 'masq_checks', handle: 5, comment: nftComment({ ...id, containerId: 'two' }) } },
        { rule: { chain: 'masq_checks', handle: 6, comment: nftComment({ network: 'other', ifname: 'eth0', containerId: 'x' }) } },
        { rule: { chain: 'postrouting', handle: 7 } },
      ],
    });
    const rules = nftRulesOf(listing);
    expect(rules.map((r) => r.handle)).toEqual([4, 5, 6]);
    expect(rules.map((r) => r.family)).toEqual([6, 4, 4]);
    expect(nftRulesFor(rules, id).map((r) => r.handle)).toEqual([4]);
    expect(nftStaleRules(rules, 'unit-test', [{ containerID: 'two', ifname: 'eth0' }]).map((r) => r.handle)).toEqual([4]);
    expect(nftStaleRules(rules, 'unit-test', []).map((r) => r.handle)).toEqual([4, 5]);
    expect(nftDeleteScript([4, 5])).toBe('delete rule inet cni_plugins_masquerade masq_checks handle 4\ndelete rule inet cni_plugins_masquerade masq_checks handle 5\n');
    expect(nftDeleteScript([])).toBeUndefined();
  });
});

describe('iptables restore input', () => {
  it('chain with ACCEPT to the subnet and MASQUERADE except multicast, then the POSTROUTING jump', () => {
    const s = iptablesSetupRestore(4, ['10.1.0.2/24', 'fd00::2/64'], 'brnet', 'brc1');
    const c = 'CNI-23fe902f3bee7c249552a0dd';
    const cm = '-m comment --comment "name: \\"brnet\\" id: \\"brc1\\""';
    expect(s).toBe(
      ['*nat', `:${c} - [0:0]`, `-A ${c} -d 10.1.0.0/24 -j ACCEPT ${cm}`, `-A ${c} ! -d 224.0.0.0/4 -j MASQUERADE ${cm}`, `-A POSTROUTING -s 10.1.0.2 -j ${c} ${cm}`, 'COMMIT', ''].join('\n'),
    );
    expect(iptablesSetupRestore(6, ['10.1.0.2/24', 'fd00::2/64'], 'brnet', 'brc1')).toContain('! -d ff00::/8 -j MASQUERADE');
  });

  const save = [
    '*nat',
    ':POSTROUTING ACCEPT [0:0]',
    ':CNI-23fe902f3bee7c249552a0dd - [0:0]',
    ':CNI-aaaaaaaaaaaaaaaaaaaaaaaa - [0:0]',
    '-A POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \\"brnet\\" id: \\"brc1\\"" -j CNI-23fe902f3bee7c249552a0dd',
    '-A POSTROUTING -s 10.1.0.2/24 -m comment --comment "name: \\"brnet\\" id: \\"brc1\\"" -j CNI-23fe902f3bee7c249552a0dd',
    '-A POSTROUTING -s 10.1.0.9/32 -m comment --comment "name: \\"other\\" id: \\"x\\"" -j CNI-aaaaaaaaaaaaaaaaaaaaaaaa',
    '-A CNI-23fe902f3bee7c249552a0dd -d 10.1.0.0/24 -j ACCEPT',
    'COMMIT',
  ].join('\n');

  it('teardown deletes every jump to the chain (both source forms), then flushes and deletes it', () => {
    expect(iptablesTeardownRestore(save, ['CNI-23fe902f3bee7c249552a0dd'])).toBe(
      [
        '*nat',
        '-D POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \\"brnet\\" id: \\"brc1\\"" -j CNI-23fe902f3bee7c249552a0dd',
        '-D POSTROUTING -s 10.1.0.2/24 -m comment --comment "name: \\"brnet\\" id: \\"brc1\\"" -j CNI-23fe902f3bee7c249552a0dd',
        '-F CNI-23fe902f3bee7c249552a0dd',
        '-X CNI-23fe902f3bee7c249552a0dd',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(iptablesTeardownRestore(save, ['CNI-000000000000000000000000'])).toBeUndefined();
  });

  it('teardown without reading the table (addresses known): exactly the jumps ADD made, then the chain; per family', () => {
    const c = 'CNI-23fe902f3bee7c249552a0dd';
    const cm = '-m comment --comment "name: \\"brnet\\" id: \\"brc1\\""';
    expect(iptablesBlindTeardownRestore(4, ['10.1.0.2/24', 'fd00::2/64'], 'brnet', 'brc1')).toBe(['*nat', `-D POSTROUTING -s 10.1.0.2 -j ${c} ${cm}`, `-F ${c}`, `-X ${c}`, 'COMMIT', ''].join('\n'));
    expect(iptablesBlindTeardownRestore(6, ['10.1.0.2/24', 'fd00::2/64'], 'brnet', 'brc1')).toContain(`-D POSTROUTING -s fd00::2 -j ${c}`);
    expect(iptablesBlindTeardownRestore(6, ['10.1.0.2/24'], 'brnet', 'brc1')).toBeUndefined();
  });

  it('GC finds the chains of the network whose container is not kept, checked against the computed name', () => {
    expect(iptablesStaleChains(save, 'brnet', new Set())).toEqual(['CNI-23fe902f3bee7c249552a0dd']);
    expect(iptablesStaleChains(save, 'brnet', new Set(['brc1']))).toEqual([]);
    // "other"/"x" does not hash to CNI-aaaa…: never touched
    expect(iptablesStaleChains(save, 'other', new Set())).toEqual([]);
  });
});
