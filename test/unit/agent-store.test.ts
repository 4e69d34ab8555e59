import { describe, expect, it } from 'vitest';
import { AgentConfigError, clusterSettings, envName, loadConfig, settingsDiff } from '../../agent/config.js';
import { isSubnetOf, pickSubnet, subnetAt, subnetCount, subnetNetworkAddress } from '../../agent/subnets.js';
import { b64, decodeKV, prefixEnd, type KeyValue } from '../../agent/store/etcd-client.js';
import { parseRecord, peersFrom, planLease, subnetKey } from '../../agent/store/etcd.js';
import { FatalStoreError } from '../../agent/store/types.js';
import { parseCIDR } from '../../lib/ip.js';
import { LineDecoder } from '../../agent/store/http.js';

const load = (argv: string[], env: NodeJS.ProcessEnv = {}, file?: string) => loadConfig(argv, env, () => 'host-a', () => {
  if (file === undefined) throw new Error('ENOENT');
  return file;
});

describe('agent config', () => {
  it('defaults, flags, env and config file, in that order of strength', () => {
    const c = load(['--cluster-cidr', '10.244.0.0/16']);
    expect(c).toMatchObject({ mode: 'daemon', nodeName: 'host-a', subnetLen: 24, backend: 'vxlan', vxlanVNI: 1, vxlanPort: 8472, store: 'etcd', confDir: '/etc/cni/net.d', cniBinDir: '/opt/cni/bin', etcdEndpoints: ['http://127.0.0.1:2379'] });
    const file = JSON.stringify({ 'cluster-cidr': '10.1.0.0/16', backend: 'host-gw', 'subnet-len': 26, 'etcd-endpoints': ['http://a:2379', 'http://b:2379'] });
    const f = load(['--config', '/x.json'], { [envName('backend')]: 'vxlan', NODE_NAME: 'from-downward-api' }, file);
    expect(f).toMatchObject({ clusterCIDRs: ['10.1.0.0/16'], backend: 'vxlan', subnetLen: 26, nodeName: 'from-downward-api', etcdEndpoints: ['http://a:2379', 'http://b:2379'] });
    expect(load(['--config=/x.json', '--backend=host-gw'], { CNI_TS_AGENT_BACKEND: 'vxlan' }, file).backend).toBe('host-gw');
    expect(envName('cluster-cidr')).toBe('CNI_TS_AGENT_CLUSTER_CIDR');
  });

  it('modes: help, version, install-cni and cleanup need no cluster CIDR except cleanup', () => {
    expect(load(['--help']).mode).toBe('help');
    expect(load(['--version']).mode).toBe('version');
    expect(load(['--install-cni', '/src']).mode).toBe('install-cni');
    expect(() => load(['--cleanup'])).toThrow(/--cluster-cidr is required/);
  });

  it('dual-stack: one CIDR per family, each with its subnet length', () => {
    const c = load(['--cluster-cidr', '10.244.0.0/16, fd00:10:244::/56', '--public-ip', '192.168.1.5,2001:db8::5']);
    expect(c.clusterCIDRs).toEqual(['10.244.0.0/16', 'fd00:10:244::/56']);
    expect(c.publicIPs).toEqual(['192.168.1.5', '2001:db8::5']);
    expect(() => load(['--cluster-cidr', 'fd00::/64'])).toThrow(/--subnet-len-v6 64 must be longer than the prefix of fd00::\/64/);
  });

  it('bad input is refused naming the flag and the value', () => {
    const bad: Array<[string[], RegExp]> = [
      [['--cluster-cidr', '10.244.0.0/16', '--backend', 'udp'], /--backend: "udp" is not one of vxlan, host-gw/],
      [['--cluster-cidr', '10.244.0.0/16', '--vxlan-port', '70000'], /--vxlan-port: 70000 is out of range 1–65535/],
      [['--cluster-cidr', '10.244.0.0/16', '--subnet-len', 'x'], /--subnet-len: "x" is not a whole number/],
      [['--cluster-cidr', '10.244.0.0/16', '--subnet-len', '31'], /--subnet-len 31 leaves no room for pods/],
      [['--cluster-cidr', '10.244.0.0/16', '--public-ip', '10.244.3.3'], /--public-ip: 10\.244\.3\.3 lies inside the cluster CIDR/],
      [['--cluster-cidr', '10.244.0.0/16', '--public-ip', '1.2.3.4,5.6.7.8'], /more than one IPv4 address/],
      [['--cluster-cidr', '10.244.0.0/16,10.244.128.0/17'], /10\.244\.128\.0\/17 overlaps 10\.244\.0\.0\/16/],
      [['--cluster-cidr', '10.244.0.0/16', '--etcd-endpoints', 'localhost:2379'], /must be http:\/\/ or https:\/\//],
      [['--cluster-cidr', '10.244.0.0/16', '--node-name', 'Bad_Name'], /not a valid node name/],
      [['--cluster-cidr', '10.244.0.0/16', '--bogus'], /unknown flag --bogus/],
      [['--cluster-cidr'], /flag --cluster-cidr needs a value/],
      [['stray'], /unexpected argument "stray"/],
    ];
    for (const [argv, re] of bad) {
      expect(() => load(argv), argv.join(' ')).toThrow(AgentConfigError);
      expect(() => load(argv), argv.join(' ')).toThrow(re);
    }
    expect(() => load(['--config', '/x.json'], {}, '{"nope": 1}')).toThrow(/unknown key "nope"/);
    expect(() => load(['--config', '/x.json'], {}, '{')).toThrow(/is not valid JSON/);
    expect(() => load(['--config', '/missing.json'])).toThrow(/cannot read config file \/missing\.json/);
  });

  it('cluster settings differences name the flag and both values', () => {
    const a = clusterSettings(load(['--cluster-cidr', '10.244.0.0/16']));
    const b = clusterSettings(load(['--cluster-cidr', '10.245.0.0/16', '--backend', 'host-gw']));
    expect(settingsDiff(a, a)).toEqual([]);
    expect(settingsDiff(a, b)).toEqual(['--cluster-cidr: the cluster has 10.244.0.0/16, this node 10.245.0.0/16', '--backend: the cluster has vxlan, this node host-gw']);
  });
});

describe('subnets', () => {
  const c16 = parseCIDR('10.244.0.0/16')!;
  it('carves the cluster CIDR', () => {
    expect(subnetCount(c16, 24)).toBe(256n);
    expect(subnetAt(c16, 24, 5n)).toEqual(parseCIDR('10.244.5.0/24'));
    expect(isSubnetOf(c16, 24, '10.244.5.0/24')).toBe(true);
    expect(isSubnetOf(c16, 24, '10.244.5.1/24')).toBe(false);
    expect(isSubnetOf(c16, 24, '10.245.5.0/24')).toBe(false);
    expect(isSubnetOf(c16, 24, '10.244.5.0/25')).toBe(false);
    expect(subnetNetworkAddress('fd00:1:2:3::/64')).toBe('fd00:1:2:3::');
  });

  it('prefers the previous subnet when free, else a random free one, else none', () => {
    const c22 = parseCIDR('10.0.0.0/22')!;
    expect(pickSubnet(c22, 24, new Set(), '10.0.2.0/24')).toBe('10.0.2.0/24');
    expect(pickSubnet(c22, 24, new Set(['10.0.2.0/24']), '10.0.2.0/24', () => 0)).toBe('10.0.0.0/24');
    expect(pickSubnet(c22, 24, new Set(['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24']), undefined, () => 0.99)).toBe('10.0.3.0/24');
    expect(pickSubnet(c22, 24, new Set(['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24']))).toBeUndefined();
    expect(pickSubnet(c22, 24, new Set(), '10.9.0.0/24', () => 0)).toBe('10.0.0.0/24'); // previous outside the cluster: ignored
    const v6 = pickSubnet(parseCIDR('fd00::/48')!, 64, new Set(), undefined, () => 0.5)!;
    expect(isSubnetOf(parseCIDR('fd00::/48')!, 64, v6)).toBe(true);
    const huge = pickSubnet(parseCIDR('fd00::/16')!, 64, new Set(), undefined, () => 0.25)!;
    expect(isSubnetOf(parseCIDR('fd00::/16')!, 64, huge)).toBe(true);
  });
});

const kv = (key: string, value: unknown, modRevision = 7): KeyValue => ({ key, value: JSON.stringify(value), createRevision: 3, modRevision, lease: '42' });

describe('etcd store planning', () => {
  const settings = clusterSettings(load(['--cluster-cidr', '10.0.0.0/22,fd00::/62']));
  const rec = (node: string) => ({ node, publicIPs: ['192.168.1.1'], backend: 'vxlan', vtepMAC: '02:00:00:00:00:01' });

  it('key layout and record parsing (malformed keys and values are ignored)', () => {
    expect(subnetKey('/p', 'fd00::/64')).toBe('/p/subnets/fd00::-64');
    expect(parseRecord(kv('/p/subnets/10.0.1.0-24', rec('a')), '/p')).toMatchObject({ node: 'a', subnet: '10.0.1.0/24', subnets: ['10.0.1.0/24'] });
    expect(parseRecord(kv('/p/subnets/fd00::-64', rec('a')), '/p')?.subnet).toBe('fd00::/64');
    expect(parseRecord(kv('/p/subnets/garbage', rec('a')), '/p')).toBeUndefined();
    expect(parseRecord({ ...kv('/p/subnets/10.0.1.0-24', {}), value: 'not json' }, '/p')).toBeUndefined();
    expect(parseRecord(kv('/p/config', {}), '/p')).toBeUndefined();
    const peers = peersFrom([parseRecord(kv('/p/subnets/10.0.1.0-24', rec('a')), '/p')!, parseRecord(kv('/p/subnets/fd00::-64', rec('a')), '/p')!, parseRecord(kv('/p/subnets/10.0.2.0-24', rec('me')), '/p')!], 'me');
    expect([...peers.keys()]).toEqual(['a']);
    expect(peers.get('a')!.subnets).toEqual(['10.0.1.0/24', 'fd00::/64']);
  });

  it('a new node: one create-if-absent comparison and one put per family, attached to its lease', () => {
    const plan = planLease({ prefix: '/p', nodeName: 'me', settings, kvs: [kv('/p/subnets/10.0.0.0-24', rec('a'))], previous: [], value: (s) => JSON.stringify({ s }), lease: '99', random: () => 0 });
    expect(plan.subnets).toEqual(['10.0.1.0/24', 'fd00::/64']);
    expect(plan.compare).toEqual([
      { key: b64('/p/subnets/10.0.1.0-24'), target: 'CREATE', result: 'EQUAL', create_revision: '0' },
      { key: b64('/p/subnets/fd00::-64'), target: 'CREATE', result: 'EQUAL', create_revision: '0' },
    ]);
    expect(plan.success[0]).toEqual({ request_put: { key: b64('/p/subnets/10.0.1.0-24'), value: b64(JSON.stringify({ s: plan.subnets })), lease: '99' } });
  });

  it('a restarted node takes its own live keys over (if unchanged since read), else its previous subnets', () => {
    const plan = planLease({ prefix: '/p', nodeName: 'me', settings, kvs: [kv('/p/subnets/10.0.3.0-24', rec('me'), 11)], previous: ['fd00:0:0:2::/64'], value: () => 'v', lease: '5' });
    expect(plan.subnets).toEqual(['10.0.3.0/24', 'fd00:0:0:2::/64']);
    expect(plan.compare[0]).toEqual({ key: b64('/p/subnets/10.0.3.0-24'), target: 'MOD', result: 'EQUAL', mod_revision: '11' });
    // A previous subnet someone else holds now is not taken.
    const other = planLease({ prefix: '/p', nodeName: 'me', settings, kvs: [kv('/p/subnets/10.0.3.0-24', rec('b'))], previous: ['10.0.3.0/24'], value: () => 'v', lease: '5', random: () => 0 });
    expect(other.subnets[0]).toBe('10.0.0.0/24');
  });

  it('exhausted space is a fatal error naming the range and the holders', () => {
    const kvs = ['10.0.0.0', '10.0.1.0', '10.0.2.0', '10.0.3.0'].map((s, i) => kv(`/p/subnets/${s}-24`, rec(`n${i}`)));
    expect(() => planLease({ prefix: '/p', nodeName: 'me', settings, kvs, previous: [], value: () => 'v', lease: '5' })).toThrow(FatalStoreError);
    expect(() => planLease({ prefix: '/p', nodeName: 'me', settings, kvs, previous: [], value: () => 'v', lease: '5' })).toThrow(/all 4 \/24 subnets of 10\.0\.0\.0\/22 are leased \(by n0, n1, n2, n3\)/);
  });

  it('gateway JSON details: prefix range end, base64, 64-bit numbers as strings, defaults left out', () => {
    expect(Buffer.from(prefixEnd('/p/'), 'base64').toString()).toBe('/p0');
    expect(decodeKV({ key: b64('k'), create_revision: '3', mod_revision: '4' })).toEqual({ key: 'k', value: '', createRevision: 3, modRevision: 4, lease: '0' });
    const d = new LineDecoder();
    expect(d.push('{"a":1}\n{"b"')).toEqual([{ a: 1 }]);
    expect(d.push(':2}\n')).toEqual([{ b: 2 }]);
  });
});

describe('kubernetes store parsing', () => {
  it('peers from Node objects: podCIDRs (or the older podCIDR), public IP annotation or InternalIP, VTEP MAC from backend-data', async () => {
    const { nodeRecord, ourAnnotations, podCIDRsOf, isGone } = await import('../../agent/store/kubernetes.js');
    const { HttpError } = await import('../../agent/store/http.js');
    const node = {
      metadata: { name: 'n1', annotations: { 'cni-ts.io/backend-data': '{"VtepMAC":"02:00:00:00:00:01"}', 'cni-ts.io/public-ip': '192.168.1.1' } },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:0:0:1::/64'] },
      status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'n1' }] },
    };
    expect(nodeRecord(node)).toEqual({ node: 'n1', publicIPs: ['192.168.1.1'], subnets: ['10.244.1.0/24', 'fd00:0:0:1::/64'], backend: 'vxlan', vtepMAC: '02:00:00:00:00:01' });
    const bare = { metadata: { name: 'n2' }, spec: { podCIDR: '10.244.2.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }] } };
    expect(nodeRecord(bare)).toEqual({ node: 'n2', publicIPs: ['10.0.0.2'], subnets: ['10.244.2.0/24'], backend: 'vxlan', vtepMAC: undefined });
    expect(nodeRecord({ metadata: { name: 'n3', annotations: { 'cni-ts.io/backend-data': '{bad' } }, spec: {} })).toBeUndefined();
    expect(podCIDRsOf({ spec: {} })).toEqual([]);
    expect(ourAnnotations({ publicIPs: ['1.2.3.4'], backend: 'host-gw' })).toEqual({ 'cni-ts.io/public-ip': '1.2.3.4', 'cni-ts.io/backend-type': 'host-gw', 'cni-ts.io/backend-data': '{}' });
    expect(isGone(new HttpError(410, '', 'u'))).toBe(true);
    expect(isGone(Object.assign(new Error('x'), { gone: true }))).toBe(true);
    expect(isGone(new HttpError(500, '', 'u'))).toBe(false);
  });
});
