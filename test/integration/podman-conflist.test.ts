/**
 * conf/87-podman-bridge.conflist — what podman 4's CNI backend writes (bridge + portmap + firewall + tuning,
 * cniVersion 0.4.0) — run through the libcni-like chain runner with cni-ts plugins only (CNI_PATH = dist/bin), with
 * podman's CNI_ARGS, a static IP and a port mapping, in a throwaway host netns.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Chain, type ConfList } from '../helpers/chain.js';
import { DIST, ROOT, TestNet, isRoot, ping } from '../helpers/harness.js';
import { NFT_DNAT } from '../helpers/nft.js';
import { Servers, request } from '../helpers/traffic.js';

const HOST_IP = '192.0.2.1';
const OUTSIDE_IP = '192.0.2.2';

describe.skipIf(!isRoot)('podman-style conflist (bridge + portmap + firewall + tuning) on cni-ts plugins only', () => {
  let net: TestNet | undefined;
  const servers = new Servers();
  afterEach(() => {
    servers.stopAll();
    net?.cleanup();
    net = undefined;
  });

  it('ADD with a port mapping and a static IP: reachable from outside through the host port; CHECK; DEL leaves nothing', async () => {
    net = new TestNet('pod');
    const outside = net.addOutside([`${HOST_IP}/24`], [`${OUTSIDE_IP}/24`], 'ext0', 'ext1');
    const list = JSON.parse(readFileSync(join(ROOT, 'conf', '87-podman-bridge.conflist'), 'utf8')) as ConfList;
    expect(list.cniVersion).toBe('0.4.0');
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'firewall', 'tuning']);
    // the one change: host-local state in a temp dir instead of /var/lib/cni/networks
    (list.plugins[0]!.ipam as Record<string, unknown>).dataDir = net.tempDir();
    const chain = new Chain(list, { hostNetns: net.host, path: DIST });
    const web = net.addContainer('web');
    const other = net.addContainer('other');
    const portMappings = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
    // podman passes --ip as CNI_ARGS IP=, with IgnoreUnknown and the container name
    const res = chain.add({ containerId: 'a'.repeat(64), netns: web.path, cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.88.0.77', capabilityArgs: { portMappings } });
    const res2 = chain.add({ containerId: 'b'.repeat(64), netns: other.path, cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=other' });
    expect(res.cniVersion).toBe('0.4.0');
    expect(res.ips).toEqual([{ version: '4', interface: 2, address: '10.88.0.77/16', gateway: '10.88.0.1' }]);
    expect(res.interfaces.map((i: any) => i.name)).toEqual(['cni-podman0', expect.stringMatching(/^veth/), 'eth0']);
    expect(chain.log.map((l) => `${l.command} ${l.type}`).slice(0, 4)).toEqual(['ADD bridge', 'ADD portmap', 'ADD firewall', 'ADD tuning']);

    await servers.start(web.name, 'web');
    expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from web');
    expect(request(other.name, 'tcp', HOST_IP, 8080)).toBe('hello from web');
    expect(ping(other.name, '10.88.0.77')).toBe(true);
    expect(ping(web.name, OUTSIDE_IP)).toBe(true);
    const filter = net.exec(net.host, 'iptables-save', ['-t', 'filter']).stdout;
    expect(filter).toContain('-A CNI-FORWARD -s 10.88.0.77/32 -j ACCEPT');
    chain.check({ containerId: 'a'.repeat(64), netns: web.path, cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.88.0.77' });

    chain.del({ containerId: 'a'.repeat(64), netns: web.path, cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.88.0.77' });
    expect(request(outside, 'tcp', HOST_IP, 8080)).toMatch(/ERR|TIMEOUT/);
    chain.del({ containerId: 'b'.repeat(64), netns: other.path, cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=other' });
    const veths = (net.ipJson(net.host, ['link', 'show', 'type', 'veth']) as any[]).map((l) => l.ifname).filter((n) => n.startsWith('veth'));
    expect(veths).toEqual([]);
    const state = ['iptables-save', 'ip6tables-save'].map((t) => net!.exec(net!.host, t, []).stdout).join('') + net.exec(net.host, 'nft', ['list', 'ruleset']).stdout;
    for (const ip of ['10.88.0.77', res2.ips[0].address.split('/')[0]]) expect(state).not.toContain(ip);
    expect(state).not.toMatch(/CNI-DN-/);
    expect(state).not.toMatch(NFT_DNAT);
    expect(readFileSync(join(ROOT, 'conf', '87-podman-bridge.conflist'), 'utf8')).not.toContain('dataDir');
  });
});
