/**
 * conf/kind-ptp-portmap.conflist — exactly what kindnetd writes (ptp + host-local + portmap, cniVersion 0.3.1) — run
 * as libcni runs a conflist, with OUR plugins only (CNI_PATH = dist/bin). Only the lease directory differs: the file's
 * /run/cni-ipam-state becomes a temp dir (tests never write to the machine's own state directories).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Chain, type ConfList } from '../helpers/chain.js';
import { DIST, ROOT, TestNet, isRoot, ping } from '../helpers/harness.js';
import { NFT_DNAT, nftDnatTo } from '../helpers/nft.js';
import { Servers, request } from '../helpers/traffic.js';

const HOST_IP = '192.0.2.1';
const OUTSIDE_IP = '192.0.2.2';

let net: TestNet | undefined;
const servers = new Servers();
afterEach(() => {
  servers.stopAll();
  net?.cleanup();
});

function kindConflist(dataDir: string): ConfList {
  const list = JSON.parse(readFileSync(join(ROOT, 'conf', 'kind-ptp-portmap.conflist'), 'utf8')) as ConfList;
  const ptp = list.plugins[0] as Record<string, any>;
  expect(ptp.ipam.dataDir).toBe('/run/cni-ipam-state');
  ptp.ipam.dataDir = dataDir;
  return list;
}

describe.skipIf(!isRoot)('kind conflist (ptp + host-local + portmap) with our plugins only', () => {
  it('pods get addresses, reach each other through the host, a mapped port answers; DEL leaves nothing', async () => {
    net = new TestNet('kind');
    const dataDir = net.tempDir();
    const outside = net.addOutside([`${HOST_IP}/24`], [`${OUTSIDE_IP}/24`]);
    const list = kindConflist(dataDir);
    expect(list).toMatchObject({ cniVersion: '0.3.1', name: 'kindnet', plugins: [{ type: 'ptp', ipMasq: false, mtu: 1500 }, { type: 'portmap' }] });
    const chain = new Chain(list, { hostNetns: net.host, path: DIST });
    for (const type of ['ptp', 'host-local', 'portmap']) expect(chain.find(type)).toBe(join(DIST, type));

    const a = net.addContainer('a');
    const b = net.addContainer('b');
    const ports = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 5353, protocol: 'udp' }] };
    const ra = chain.add({ containerId: 'pod-a', netns: a.path, capabilityArgs: ports });
    const rb = chain.add({ containerId: 'pod-b', netns: b.path });
    expect(ra.cniVersion).toBe('0.3.1');
    expect(ra.ips).toEqual([{ version: '4', interface: 1, address: '10.244.0.2/24', gateway: '10.244.0.1' }]);
    expect(ra.routes).toEqual([{ dst: '0.0.0.0/0' }]);
    expect(rb.ips[0].address).toBe('10.244.0.3/24');
    const ipA = '10.244.0.2';
    expect(net.ipJson(a.name, ['link', 'show', 'eth0'])[0].mtu).toBe(1500);
    expect(net.ipJson(a.name, ['route', 'show', 'default'])[0]).toMatchObject({ gateway: '10.244.0.1', dev: 'eth0' });

    await servers.start(a.name, 'pod-a');
    expect(ping(b.name, ipA)).toBe(true);
    expect(request(b.name, 'tcp', ipA, 80)).toBe('hello from pod-a');
    // The mapped ports: from outside through the host's address, from the host itself (also 127.0.0.1), from the
    // other pod, and from pod-a itself (hairpin).
    expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from pod-a');
    expect(request(outside, 'udp', HOST_IP, 5353)).toBe('pong from pod-a');
    expect(request(net.host, 'tcp', HOST_IP, 8080)).toBe('hello from pod-a');
    expect(request(net.host, 'tcp', '127.0.0.1', 8080)).toBe('hello from pod-a');
    expect(request(b.name, 'tcp', HOST_IP, 8080)).toBe('hello from pod-a');
    expect(request(a.name, 'tcp', HOST_IP, 8080)).toBe('hello from pod-a');
    // ipMasq false: no masquerade rule (kindnetd does that itself).
    const nat = net.exec(net.host, 'iptables-save', ['-t', 'nat']).stdout;
    expect(nat).not.toMatch(/MASQUERADE.*pod-a|CNI-[0-9a-f]{24}/);

    expect(net.exec(net.host, 'nft', ['list', 'ruleset']).stdout).toMatch(nftDnatTo('10.244.0.2', 80));

    chain.del({ containerId: 'pod-a', netns: a.path });
    expect(request(outside, 'tcp', HOST_IP, 8080)).toMatch(/ERR|TIMEOUT/);
    chain.del({ containerId: 'pod-b', netns: b.path });
    const links = (net.ipJson(net.host, ['link', 'show']) as any[]).map((l) => l.ifname).sort();
    expect(links).toEqual(['lo', 'up0']);
    expect(net.ipJson(net.host, ['route', 'show']).filter((r: any) => r.dst.startsWith('10.244.'))).toEqual([]);
    expect(readdirSync(join(dataDir, 'kindnet')).sort()).toEqual(['last_reserved_ip.0', 'lock']);
    const nft = net.exec(net.host, 'nft', ['list', 'ruleset']).stdout;
    expect(nft).not.toMatch(/10\.244\.0\./);
    expect(nft).not.toMatch(NFT_DNAT);
  });
});
