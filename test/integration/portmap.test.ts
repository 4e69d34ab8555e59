import { afterEach, describe, expect, it } from 'vitest';
import { Chain, ChainError, type ConfList } from '../helpers/chain.js';
import { DIST, GO_PLUGINS, TestNet, bin, goBin, haveGoPlugins, isRoot, shOk } from '../helpers/harness.js';
import { Servers, request } from '../helpers/traffic.js';
import { existsSync } from 'node:fs';
import { containerChain } from '../../plugins/portmap/nft-rules.js';
import { hostPortRe, nftDnatTo } from '../helpers/nft.js';

/**
 * portmap chained after a bridge, for real: TCP/UDP servers in containers, clients in an "outside" netns (through
 * the host's address), in the host netns (127.0.0.1), in another container and in the container itself.
 */

const HOST_IP = '192.0.2.1';
const OUTSIDE_IP = '192.0.2.2';
const HOST_IP6 = '2001:db8:1::1';
const OUTSIDE_IP6 = '2001:db8:1::2';
const ourBridge = existsSync(`${DIST}/bridge`);

function hostState(net: TestNet): { nft: string; ipt: string } {
  return {
    nft: net.exec(net.host, 'nft', ['list', 'ruleset']).stdout,
    ipt: (net.exec(net.host, 'iptables-save', ['-t', 'nat']).stdout + net.exec(net.host, 'ip6tables-save', ['-t', 'nat']).stdout)
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n'),
  };
}

interface Env {
  net: TestNet;
  outside: string;
  chain: Chain;
  list: ConfList;
}

function setup(label: string, portmap: Record<string, unknown>, opts: { goBridge?: boolean; goPortmap?: boolean; v6?: boolean } = {}): Env {
  const net = new TestNet(label);
  const outside = net.addOutside(
    [`${HOST_IP}/24`, ...(opts.v6 ? [`${HOST_IP6}/64`] : [])],
    [`${OUTSIDE_IP}/24`, ...(opts.v6 ? [`${OUTSIDE_IP6}/64`] : [])],
    'ext0',
    'ext1',
  );
  const list: ConfList = {
    cniVersion: '1.0.0',
    name: `pm${net.id}`,
    plugins: [
      {
        type: 'bridge',
        bridge: `br${net.id}`,
        isGateway: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: net.tempDir(),
          ranges: [[{ subnet: '10.88.0.0/24' }], ...(opts.v6 ? [[{ subnet: 'fd00:88::/64' }]] : [])],
          routes: [{ dst: '0.0.0.0/0' }, ...(opts.v6 ? [{ dst: '::/0' }] : [])],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, ...portmap },
    ],
  };
  const plugins: Record<string, string> = {};
  if (opts.goBridge || !ourBridge) plugins.bridge = goBin('bridge');
  plugins.portmap = opts.goPortmap ? goBin('portmap') : bin('portmap');
  const chain = new Chain(list, { hostNetns: net.host, plugins, path: `${DIST}:${GO_PLUGINS}` });
  return { net, outside, chain, list };
}

const containerIP = (result: any): string => result.ips.find((i: any) => !i.address.includes(':')).address.split('/')[0];
describe.skipIf(!isRoot || !haveGoPlugins)('portmap', () => {
  let env: Env | undefined;
  const servers = new Servers();
  afterEach(() => {
    servers.stopAll();
    env?.net.cleanup();
    env = undefined;
  });

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: reachable via the host address, 127.0.0.1, another container and hairpin; CHECK; DEL removes it (twice)`, async () => {
      env = setup(`pm${backend[0]}`, { backend });
      const { net, outside, chain } = env;
      const before = hostState(net);
      const a = net.addContainer('a');
      const b = net.addContainer('b');
      const portMappings = [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { HostPort: 5353, ContainerPort: 5353, Protocol: 'udp', HostIP: '' },
      ];
      const resA = chain.add({ containerId: 'ctr-a', netns: a.path, capabilityArgs: { portMappings } });
      chain.add({ containerId: 'ctr-b', netns: b.path, capabilityArgs: { portMappings: [] } });
      expect(resA.cniVersion).toBe('1.0.0');
      await servers.start(a.name, 'a');
      expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from a');
      expect(request(outside, 'udp', HOST_IP, 5353)).toBe('pong from a');
      expect(request(net.host, 'tcp', '127.0.0.1', 8080)).toBe('hello from a');
      expect(request(net.host, 'tcp', HOST_IP, 8080)).toBe('hello from a');
      expect(request(b.name, 'tcp', HOST_IP, 8080)).toBe('hello from a');
      expect(request(a.name, 'tcp', HOST_IP, 8080)).toBe('hello from a');
      // a port nobody published stays closed
      expect(request(outside, 'tcp', HOST_IP, 8081)).toMatch(/ERR|TIMEOUT/);
      chain.check({ containerId: 'ctr-a', netns: a.path });
      const during = hostState(net);
      if (backend === 'nftables') expect(during.nft).toMatch(nftDnatTo(containerIP(resA), 80));
      else expect(during.ipt).toContain(`--to-destination ${containerIP(resA)}:80`);

      chain.del({ containerId: 'ctr-a', netns: a.path });
      expect(request(outside, 'tcp', HOST_IP, 8080)).toMatch(/ERR|TIMEOUT/);
      const after = hostState(net);
      expect(after.nft).not.toContain(containerIP(resA));
      expect(after.ipt).not.toContain(containerIP(resA));
      expect(after.ipt).not.toContain('CNI-DN-');
      // a second DEL (runtimes retry) succeeds and changes nothing
      chain.del({ containerId: 'ctr-a', netns: a.path, capabilityArgs: { portMappings } });
      expect(hostState(net)).toEqual(after);
      chain.del({ containerId: 'ctr-b', netns: b.path });
      expect(before.nft).toBe('');
    });
  }

  it('iptables: swapping with the Go portmap in both directions leaves no rule behind', async () => {
    env = setup('pms', { backend: 'iptables' }, { goBridge: true });
    const { net, outside, chain: ours, list } = env;
    const go = new Chain(list, { hostNetns: net.host, plugins: { ...ours.opts.plugins, portmap: goBin('portmap') }, path: `${DIST}:${GO_PLUGINS}` });
    const share = (from: Chain, to: Chain) => from.cache.forEach((v, k) => to.cache.set(k, v));
    const leftovers = (ip: string) => hostState(net).ipt.split('\n').filter((l) => l.includes('CNI-DN-') || l.includes(ip) || l.includes('dnat name'));
    const portMappings = [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 8081, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 5353, protocol: 'udp' },
    ];
    // Go ADD -> our DEL
    const a = net.addContainer('a');
    const resA = go.add({ containerId: 'swap-a', netns: a.path, capabilityArgs: { portMappings } });
    await servers.start(a.name, 'a');
    expect(request(outside, 'tcp', HOST_IP, 8081)).toBe('hello from a');
    share(go, ours);
    ours.check({ containerId: 'swap-a', netns: a.path });
    ours.del({ containerId: 'swap-a', netns: a.path });
    expect(leftovers(containerIP(resA))).toEqual([]);
    expect(request(outside, 'tcp', HOST_IP, 8081)).toMatch(/ERR|TIMEOUT/);
    servers.stopAll();
    // our ADD (next to the shared chains the Go plugin made) -> Go DEL
    const b = net.addContainer('b');
    const resB = ours.add({ containerId: 'swap-b', netns: b.path, capabilityArgs: { portMappings } });
    await servers.start(b.name, 'b');
    expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from b');
    expect(request(net.host, 'tcp', '127.0.0.1', 8081)).toBe('hello from b');
    share(ours, go);
    go.del({ containerId: 'swap-b', netns: b.path });
    expect(leftovers(containerIP(resB))).toEqual([]);
    expect(request(outside, 'tcp', HOST_IP, 8080)).toMatch(/ERR|TIMEOUT/);
    // a single mapping (one multiport entry rule) the same way
    const c = net.addContainer('c');
    const resC = ours.add({ containerId: 'swap-c', netns: c.path, capabilityArgs: { portMappings: portMappings.slice(0, 1) } });
    share(ours, go);
    go.del({ containerId: 'swap-c', netns: c.path });
    expect(leftovers(containerIP(resC))).toEqual([]);
  });

  for (const backend of ['nftables', 'iptables'] as const) it(`dual-stack (${backend}): IPv6 mapping via the host IPv6 address, hostIP restricted to its family, CHECK, DEL`, async () => {
    env = setup('pm6', { backend }, { v6: true });
    const { net, outside, chain } = env;
    const a = net.addContainer('a');
    const portMappings = [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 8086, containerPort: 80, protocol: 'tcp', hostIP: HOST_IP6 },
      { hostPort: 8084, containerPort: 80, protocol: 'tcp', hostIP: HOST_IP },
    ];
    const res = chain.add({ containerId: 'ds-a', netns: a.path, capabilityArgs: { portMappings } });
    const ip6 = res.ips.find((i: any) => i.address.includes(':')).address.split('/')[0];
    await servers.start(a.name, 'a');
    const tcp6 = (host: string, port: number) => request(outside, 'tcp', host, port);
    // DAD on the container address may still be running: bounded retry
    let r = '';
    for (let i = 0; i < 30 && r !== 'hello from a'; i++) {
      r = tcp6(HOST_IP6, 8080);
      if (r !== 'hello from a') await new Promise((ok) => setTimeout(ok, 200));
    }
    expect(r).toBe('hello from a');
    expect(tcp6(HOST_IP6, 8086)).toBe('hello from a');
    expect(tcp6(HOST_IP, 8080)).toBe('hello from a');
    expect(tcp6(HOST_IP, 8084)).toBe('hello from a');
    expect(tcp6(HOST_IP, 8086)).toMatch(/ERR|TIMEOUT/);
    expect(tcp6(HOST_IP6, 8084)).toMatch(/ERR|TIMEOUT/);
    chain.check({ containerId: 'ds-a', netns: a.path });
    chain.del({ containerId: 'ds-a', netns: a.path });
    expect(tcp6(HOST_IP6, 8080)).toMatch(/ERR|TIMEOUT/);
    expect(hostState(net).nft).not.toContain(ip6);
    expect(hostState(net).ipt).not.toContain(ip6);
    expect(hostState(net).ipt).not.toContain('CNI-DN-');
  });

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: CHECK fails when a rule of the attachment is gone`, () => {
      env = setup('pmk', { backend });
      const { net, chain } = env;
      const a = net.addContainer('a');
      chain.add({ containerId: 'chk-a', netns: a.path, capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
      chain.check({ containerId: 'chk-a', netns: a.path });
      if (backend === 'nftables') shOk('ip', ['netns', 'exec', net.host, 'nft', 'flush', 'map', 'ip', 'cni_hostport', 'cnits_dnat']);
      else {
        const dn = hostState(net).ipt.match(/:(CNI-DN-[0-9a-f]+)/)![1]!;
        shOk('ip', ['netns', 'exec', net.host, 'iptables', '-t', 'nat', '-F', dn]);
      }
      let err: ChainError | undefined;
      try {
        chain.check({ containerId: 'chk-a', netns: a.path });
      } catch (e) {
        err = e as ChainError;
      }
      expect(err?.type).toBe('portmap');
      expect(err?.run.json.msg).toMatch(backend === 'nftables' ? /host port tcp 8080 is not forwarded to container chk-a/ : /chain CNI-DN-\w+ has 0 rules, expected 3/);
      chain.del({ containerId: 'chk-a', netns: a.path });
    });
  }

  it('routeLocalnet: false leaves route_localnet alone (127.0.0.1 not forwarded), the host address still works', async () => {
    env = setup('pml', { routeLocalnet: false });
    const { net, outside, chain, list } = env;
    const a = net.addContainer('a');
    chain.add({ containerId: 'rl-a', netns: a.path, capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
    await servers.start(a.name, 'a');
    const br = String(list.plugins[0]!.bridge);
    expect(net.exec(net.host, 'cat', [`/proc/sys/net/ipv4/conf/${br}/route_localnet`]).stdout.trim()).toBe('0');
    expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from a');
    expect(request(net.host, 'tcp', '127.0.0.1', 8080)).toMatch(/ERR|TIMEOUT/);
    chain.del({ containerId: 'rl-a', netns: a.path });
  });

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: parallel ADDs in a fresh namespace all succeed and set the shared rules up once; parallel DELs remove all`, async () => {
      env = setup('pmx', {});
      const { net } = env;
      const c = net.addContainer('c');
      shOk('ip', ['-n', net.host, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
      shOk('ip', ['-n', net.host, 'addr', 'add', '10.99.0.1/16', 'dev', 'p0']);
      shOk('ip', ['-n', net.host, 'link', 'set', 'p0', 'up']);
      const conf = (i: number) => ({
        cniVersion: '1.0.0',
        name: 'par',
        type: 'portmap',
        backend,
        prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: c.path }], ips: [{ address: `10.99.1.${i + 2}/16`, interface: 0 }] },
        runtimeConfig: { portMappings: [{ hostPort: 20000 + i, containerPort: 80, protocol: 'tcp' }] },
      });
      const run = (command: string, i: number) =>
        net.runAsync({ plugin: bin('portmap'), command, conf: conf(i), containerId: `par-${i}`, netns: c.path, ifname: 'eth0' });
      const adds = await Promise.all(Array.from({ length: 6 }, (_, i) => run('ADD', i)));
      for (const r of adds) expect(r.status, r.stdout).toBe(0);
      const st = hostState(net);
      if (backend === 'nftables') {
        expect(st.nft.match(/map @cnits_dnat comment/g)).toHaveLength(1);
        expect(st.nft.match(/vmap @cnits_hostports/g)).toHaveLength(1);
        expect(st.nft.match(/: 10\.99\.1\.\d+ \. 80\b/g)).toHaveLength(6);
      } else {
        expect(st.ipt.match(/-A PREROUTING .*CNI-HOSTPORT-DNAT/g)).toHaveLength(1);
        expect(st.ipt.match(/-A POSTROUTING .*CNI-HOSTPORT-MASQ/g)).toHaveLength(1);
        expect(st.ipt.match(/--to-destination 10\.99\.1\.\d+:80/g)).toHaveLength(6);
      }
      const dels = await Promise.all(Array.from({ length: 6 }, (_, i) => run('DEL', i)));
      for (const r of dels) expect(r.status, r.stdout).toBe(0);
      const after = hostState(net);
      expect(after.nft).not.toContain('10.99.1.');
      expect(after.ipt).not.toContain('10.99.1.');
    });
  }

  it('UDP keeps working after the container is deleted and re-added with a new IP (conntrack flushed)', async () => {
    env = setup('pmu', {});
    const { net, outside, chain } = env;
    const portMappings = [{ hostPort: 5353, containerPort: 5353, protocol: 'udp' }];
    const c1 = net.addContainer('u1');
    const r1 = chain.add({ containerId: 'udp-1', netns: c1.path, capabilityArgs: { portMappings } });
    await servers.start(c1.name, 'one');
    // the same client source port each time: without a conntrack flush the second flow would follow the old entry
    expect(request(outside, 'udp', HOST_IP, 5353, 40000)).toBe('pong from one');
    chain.del({ containerId: 'udp-1', netns: c1.path });
    servers.stopAll();
    const c2 = net.addContainer('u2');
    const r2 = chain.add({ containerId: 'udp-2', netns: c2.path, capabilityArgs: { portMappings } });
    expect(containerIP(r2)).not.toBe(containerIP(r1));
    await servers.start(c2.name, 'two');
    expect(request(outside, 'udp', HOST_IP, 5353, 40000)).toBe('pong from two');
    chain.del({ containerId: 'udp-2', netns: c2.path });
  });

  it('two containers with different mappings: deleting one leaves the other fully working', async () => {
    env = setup('pm2', {});
    const { net, outside, chain } = env;
    const a = net.addContainer('a');
    const b = net.addContainer('b');
    chain.add({ containerId: 'two-a', netns: a.path, capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
    chain.add({
      containerId: 'two-b',
      netns: b.path,
      capabilityArgs: { portMappings: [{ hostPort: 9090, containerPort: 80, protocol: 'tcp' }, { hostPort: 9053, containerPort: 5353, protocol: 'udp' }] },
    });
    await servers.start(a.name, 'a');
    await servers.start(b.name, 'b');
    expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from a');
    expect(request(outside, 'tcp', HOST_IP, 9090)).toBe('hello from b');
    chain.del({ containerId: 'two-a', netns: a.path });
    expect(request(outside, 'tcp', HOST_IP, 8080)).toMatch(/ERR|TIMEOUT/);
    expect(request(outside, 'tcp', HOST_IP, 9090)).toBe('hello from b');
    expect(request(outside, 'udp', HOST_IP, 9053)).toBe('pong from b');
    expect(request(net.host, 'tcp', '127.0.0.1', 9090)).toBe('hello from b');
    expect(request(b.name, 'tcp', HOST_IP, 9090)).toBe('hello from b');
    chain.check({ containerId: 'two-b', netns: b.path });
    chain.del({ containerId: 'two-b', netns: b.path });
  });

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: the newest container gets a host port another one holds; the older one's DEL leaves it alone`, async () => {
      env = setup('pmc', { backend });
      const { net, outside, chain } = env;
      const a = net.addContainer('a');
      const b = net.addContainer('b');
      const portMappings = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
      chain.add({ containerId: 'own-a', netns: a.path, capabilityArgs: { portMappings } });
      await servers.start(a.name, 'a');
      await servers.start(b.name, 'b');
      expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from a');
      chain.add({ containerId: 'own-b', netns: b.path, capabilityArgs: { portMappings } });
      expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from b');
      chain.del({ containerId: 'own-a', netns: a.path });
      expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from b');
      chain.check({ containerId: 'own-b', netns: b.path });
      chain.del({ containerId: 'own-b', netns: b.path });
      expect(request(outside, 'tcp', HOST_IP, 8080)).toMatch(/ERR|TIMEOUT/);
      const st = hostState(net);
      expect(st.nft).not.toContain('cnits_dn_');
      expect(st.ipt).not.toContain('CNI-DN-');
      expect(st.nft + st.ipt).not.toMatch(/10\.88\./);
    });
  }

  it('nftables: plain attachments (DNAT maps) and ones with conditions (chains) share the table; ports move across them; DEL, CHECK and GC handle both', async () => {
    env = setup('pmm', {});
    const { net, outside, chain: plain, list } = env;
    // a second network whose portmap has nftables conditions (its attachments use chains): own bridge and subnet
    const condList: ConfList = structuredClone(list);
    condList.name = `pmc${net.id}`;
    condList.cniVersion = '1.1.0';
    Object.assign(condList.plugins[0]!, { bridge: `bc${net.id}` });
    Object.assign(condList.plugins[0]!.ipam as object, { dataDir: net.tempDir(), ranges: [[{ subnet: '10.89.0.0/24' }]] });
    Object.assign(condList.plugins[1]!, { conditionsV4: ['ip', 'saddr', '192.0.2.0/24'] });
    const cond = new Chain(condList, plain.opts);
    list.cniVersion = '1.1.0';
    const [a, b, c] = ['a', 'b', 'c'].map((n) => net.addContainer(n)) as [ReturnType<TestNet['addContainer']>, ReturnType<TestNet['addContainer']>, ReturnType<TestNet['addContainer']>];
    const pm = (...ports: number[]) => ({ portMappings: ports.map((hostPort) => ({ hostPort, containerPort: 80, protocol: 'tcp' })) });
    const resA = plain.add({ containerId: 'mix-a', netns: a.path, capabilityArgs: pm(8080) });
    const resB = cond.add({ containerId: 'mix-b', netns: b.path, capabilityArgs: pm(9090, 9091) });
    for (const [x, name] of [[a, 'a'], [b, 'b'], [c, 'c']] as const) await servers.start(x.name, name);
    const get = (port: number, from = outside, host = HOST_IP) => request(from, 'tcp', host, port);
    expect(get(8080)).toBe('hello from a');
    expect(get(9090)).toBe('hello from b');
    expect(get(9091)).toBe('hello from b');
    expect(get(8080, net.host, '127.0.0.1')).toBe('hello from a');
    expect(get(9090, net.host, '127.0.0.1')).toMatch(/ERR|TIMEOUT/); // saddr 127.0.0.1 fails b's condition
    let nft = hostState(net).nft;
    expect(nft).toMatch(new RegExp(`tcp \\. 8080 comment "${list.name}/mix-a" : ${containerIP(resA).replace(/\./g, '\\.')} \\. 80`));
    expect(nft).toMatch(/chain cnits_dn_[0-9a-f]{24} \{[^}]*ip saddr 192\.0\.2\.0\/24 tcp dport 9090 dnat to 10\.89\.0\.\d+:80 comment "mix-b"/);
    plain.check({ containerId: 'mix-a', netns: a.path });
    cond.check({ containerId: 'mix-b', netns: b.path });

    // a plain attachment takes 9090 from b's chain; b's DEL leaves it alone
    plain.add({ containerId: 'mix-c', netns: c.path, capabilityArgs: pm(9090) });
    expect(get(9090)).toBe('hello from c');
    cond.del({ containerId: 'mix-b', netns: b.path });
    expect(get(9090)).toBe('hello from c');
    expect(get(9091)).toMatch(/ERR|TIMEOUT/);
    expect(hostState(net).nft).not.toContain(containerIP(resB));
    plain.check({ containerId: 'mix-c', netns: c.path });

    // an attachment with conditions takes 8080 from a's DNAT map element; a's DEL leaves it alone
    const resB2 = cond.add({ containerId: 'mix-b2', netns: b.path, capabilityArgs: pm(8080) });
    expect(get(8080)).toBe('hello from b');
    plain.del({ containerId: 'mix-a', netns: a.path });
    expect(get(8080)).toBe('hello from b');
    cond.check({ containerId: 'mix-b2', netns: b.path });

    // GC of each network removes only its own stale attachments
    cond.gc([]);
    expect(get(8080)).toMatch(/ERR|TIMEOUT/);
    plain.gc([{ containerID: 'mix-c', ifname: 'eth0' }]);
    expect(get(9090)).toBe('hello from c');
    nft = hostState(net).nft;
    expect(nft).not.toContain(containerIP(resB2));
    expect(nft).not.toContain('cnits_dn_');
    plain.del({ containerId: 'mix-c', netns: c.path });
    expect(get(9090)).toMatch(/ERR|TIMEOUT/);
    nft = hostState(net).nft;
    expect(nft).not.toContain('elements =');
    expect(nft).not.toMatch(/10\.8[89]\./);
  });

  it('nftables: a stale attachment with the same address and port as the newest one: ADD takes the port, the stale DEL leaves it', () => {
    // e.g. an attachment whose DEL never ran, its address since given to a new container: the DNAT map elements are
    // identical, only the owner map tells them apart
    const net = new TestNet('pmsa');
    env = { net, outside: '', chain: undefined as unknown as Chain, list: undefined as unknown as ConfList };
    const c = net.addContainer('c');
    const conf = {
      cniVersion: '1.0.0', name: 'same', type: 'portmap',
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
      prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: c.path }], ips: [{ address: '10.213.0.5/24', interface: 0 }] },
    };
    const run = (command: string, containerId: string) => net.run({ plugin: bin('portmap'), command, conf, containerId, netns: c.path, ifname: 'eth0' });
    expect(run('ADD', 'stale').status).toBe(0);
    const add = run('ADD', 'newest');
    expect(add.status, add.stdout).toBe(0);
    expect(add.stderr).toMatch(/tcp 8080 \(IPv4\) taken over from container stale/);
    const del = run('DEL', 'stale');
    expect(del.status, del.stdout).toBe(0);
    const nft = hostState(net).nft;
    expect(nft).toContain('tcp . 8080 comment "same/newest" : 10.213.0.5 . 80');
    expect(nft).toContain('10.213.0.5 . 10.213.0.5'); // its hairpin pair too
    expect(run('CHECK', 'newest').status).toBe(0);
    expect(run('DEL', 'newest').status).toBe(0);
    expect(hostState(net).nft).not.toContain('elements =');
  });

  it('nftables: a table of the previous layout (verdict maps only) is upgraded by the next ADD; its attachments keep working and are removed', async () => {
    env = setup('pmo', {});
    const { net, outside, chain, list } = env;
    const a = net.addContainer('a');
    const b = net.addContainer('b');
    const ipA = containerIP(chain.add({ containerId: 'old-a', netns: a.path, capabilityArgs: { portMappings: [] } }));
    // what cni-ts before the DNAT maps wrote for old-a (tcp 8080 -> 80)
    const t = 'ip cni_hostport';
    const ch = containerChain(list.name, 'old-a');
    shOk('ip', ['netns', 'exec', net.host, 'nft', '-f', '-'], [
      `add table ${t} { comment "CNI portmap plugin" ; }`,
      `add chain ${t} hostports`,
      `add chain ${t} hostip_hostports`,
      `add chain ${t} prerouting { type nat hook prerouting priority -100 ; }`,
      `add rule ${t} prerouting jump hostip_hostports`,
      `add rule ${t} prerouting jump hostports`,
      `add chain ${t} output { type nat hook output priority -100 ; }`,
      `add rule ${t} output jump hostip_hostports`,
      `add rule ${t} output fib daddr type local jump hostports`,
      `add chain ${t} masquerading { type nat hook postrouting priority 100 ; }`,
      `add map ${t} cnits_hostip_ports { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
      `add map ${t} cnits_hostports { type inet_proto . inet_service : verdict ; }`,
      `add set ${t} cnits_hairpin { type ipv4_addr . ipv4_addr ; }`,
      `add set ${t} cnits_masq_all { type ipv4_addr ; }`,
      `insert rule ${t} hostip_hostports fib daddr type local meta l4proto . th dport vmap @cnits_hostports comment "cni-ts portmap"`,
      `insert rule ${t} hostip_hostports ip daddr . meta l4proto . th dport vmap @cnits_hostip_ports comment "cni-ts portmap"`,
      `add rule ${t} masquerading ct status dnat ip saddr . ip daddr @cnits_hairpin masquerade comment "cni-ts portmap"`,
      `add rule ${t} masquerading ct status dnat ip daddr @cnits_masq_all masquerade comment "cni-ts portmap"`,
      `add chain ${t} ${ch}`,
      `add rule ${t} ${ch} meta l4proto tcp th dport 8080 dnat to ${ipA}:80 comment "old-a"`,
      `add element ${t} cnits_hostports { tcp . 8080 : jump ${ch} }`,
      `add element ${t} cnits_hairpin { ${ipA} . ${ipA}, 127.0.0.1 . ${ipA} }`,
      '',
    ].join('\n'));
    await servers.start(a.name, 'a');
    await servers.start(b.name, 'b');
    expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from a');
    chain.add({ containerId: 'new-b', netns: b.path, capabilityArgs: { portMappings: [{ hostPort: 9090, containerPort: 80, protocol: 'tcp' }] } });
    expect(request(outside, 'tcp', HOST_IP, 9090)).toBe('hello from b');
    expect(request(outside, 'tcp', HOST_IP, 8080)).toBe('hello from a');
    expect(request(a.name, 'tcp', HOST_IP, 8080)).toBe('hello from a'); // hairpin
    const dispatch = hostState(net).nft.split('chain hostip_hostports {')[1]!.split('}')[0]!.trim().split('\n').map((l) => l.trim().replace(/ comment .*/, ''));
    expect(dispatch).toEqual([
      'dnat ip to ip daddr . meta l4proto . th dport map @cnits_dnat_hostip',
      'ip daddr . meta l4proto . th dport vmap @cnits_hostip_ports',
      'fib daddr type local dnat ip to meta l4proto . th dport map @cnits_dnat',
      'fib daddr type local meta l4proto . th dport vmap @cnits_hostports',
    ]);
    // DEL of the old attachment with its config: the fast path does not match its layout, the table is read
    chain.del({ containerId: 'old-a', netns: a.path, capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
    expect(request(outside, 'tcp', HOST_IP, 8080)).toMatch(/ERR|TIMEOUT/);
    expect(request(outside, 'tcp', HOST_IP, 9090)).toBe('hello from b');
    const nft = hostState(net).nft;
    expect(nft).not.toContain(ch);
    expect(nft).not.toContain(ipA);
    chain.del({ containerId: 'new-b', netns: b.path });
    expect(hostState(net).nft).not.toContain('elements =');
  });

  it('DEL without prevResult and runtimeConfig, and after the netns is gone, still removes everything', () => {
    env = setup('pmd', {});
    const { net, chain, list } = env;
    const a = net.addContainer('a');
    const b = net.addContainer('b');
    const portMappings = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }];
    const resA = chain.add({ containerId: 'lost-a', netns: a.path, capabilityArgs: { portMappings } });
    const resB = chain.add({ containerId: 'lost-b', netns: b.path, capabilityArgs: { portMappings: [{ hostPort: 9090, containerPort: 80, protocol: 'tcp' }] } });
    const pm = chain.pluginConf(1, {});
    const del = (id: string, netns: string) =>
      net.run({ plugin: bin('portmap'), command: 'DEL', conf: pm, containerId: id, netns, ifname: 'eth0', path: `${DIST}:${GO_PLUGINS}` });
    net.removeNetns(a.name);
    const r = del('lost-a', a.path);
    expect(r.status, r.stdout).toBe(0);
    const nft = hostState(net).nft;
    expect(nft).not.toContain(containerIP(resA));
    expect(nft).toMatch(nftDnatTo(containerIP(resB), 80));
    expect(del('lost-a', '').status).toBe(0);
    chain.del({ containerId: 'lost-b', netns: b.path });
    expect(hostState(net).nft).not.toContain(containerIP(resB));
    void list;
  });

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: DEL with a config edited into something invalid since ADD still removes everything of the attachment`, () => {
      env = setup('pmx', { backend });
      const { net, chain } = env;
      const a = net.addContainer('a');
      const resA = chain.add({ containerId: 'inv-a', netns: a.path, capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
      const before = hostState(net);
      expect(backend === 'nftables' ? before.nft : before.ipt).toContain(containerIP(resA));
      const broken = { ...chain.pluginConf(1, {}), backend: 'carrier-pigeon', prevResult: resA, runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } };
      const bad = net.run({ plugin: bin('portmap'), command: 'ADD', conf: broken, containerId: 'inv-b', netns: a.path, ifname: 'eth0' });
      expect(bad.json.code).toBe(7);
      const r = net.run({ plugin: bin('portmap'), command: 'DEL', conf: broken, containerId: 'inv-a', netns: a.path, ifname: 'eth0' });
      expect(r.status, r.stdout).toBe(0);
      const after = hostState(net);
      expect(after.nft).not.toContain(containerIP(resA));
      expect(after.ipt).not.toContain(containerIP(resA));
    });
  }

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: GC removes the mappings of containers not in cni.dev/valid-attachments, keeps the others`, () => {
      env = setup('pmg', { backend });
      const { net, chain, list } = env;
      list.cniVersion = '1.1.0';
      const a = net.addContainer('a');
      const b = net.addContainer('b');
      const resA = chain.add({ containerId: 'gc-a', netns: a.path, capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
      const resB = chain.add({ containerId: 'gc-b', netns: b.path, capabilityArgs: { portMappings: [{ hostPort: 9090, containerPort: 80, protocol: 'tcp' }] } });
      const pm = { ...chain.pluginConf(1, {}), 'cni.dev/valid-attachments': [{ containerID: 'gc-b', ifname: 'eth0' }] };
      // another network's attachment with the same container ID must survive this network's GC
      const other = { ...pm, name: 'othernet', prevResult: resA, runtimeConfig: { portMappings: [{ hostPort: 7070, containerPort: 80, protocol: 'tcp' }] } };
      const o = net.run({ plugin: bin('portmap'), command: 'ADD', conf: other, containerId: 'gc-a', netns: a.path, ifname: 'eth0' });
      expect(o.status, o.stdout).toBe(0);
      const r = net.run({ plugin: bin('portmap'), command: 'GC', conf: pm, path: DIST });
      expect(r.status, r.stdout).toBe(0);
      const st = hostState(net);
      const text = backend === 'nftables' ? st.nft : st.ipt;
      expect(text).not.toMatch(hostPortRe(8080));
      expect(text).toMatch(hostPortRe(9090));
      expect(text).toMatch(hostPortRe(7070));
      expect(text).toContain(containerIP(resB));
    });
  }

  it('nftables: DEL also removes reference-style rules (commented with the container ID) in table cni_hostport', () => {
    env = setup('pmr', {});
    const { net, chain } = env;
    const a = net.addContainer('a');
    const b = net.addContainer('b');
    const portMappings = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
    chain.add({ containerId: 'mine', netns: b.path, capabilityArgs: { portMappings: [{ hostPort: 9090, containerPort: 80, protocol: 'tcp' }] } });
    // what the Go nftables portmap (plugins HEAD) leaves for container "theirs"
    const t = 'ip cni_hostport';
    shOk('ip', ['netns', 'exec', net.host, 'nft', '-f', '-'], [
      `add rule ${t} hostports tcp dport 8080 dnat to 10.88.0.77:80 comment "theirs"`,
      `add rule ${t} hostip_hostports ip daddr ${HOST_IP} tcp dport 8081 dnat to 10.88.0.77:80 comment "theirs"`,
      `add rule ${t} masquerading ip saddr 10.88.0.77 ip daddr 10.88.0.77 masquerade comment "theirs"`,
      `add rule ${t} masquerading ip saddr 127.0.0.1 ip daddr 10.88.0.77 masquerade comment "theirs"`,
      '',
    ].join('\n'));
    expect(hostState(net).nft).toContain('10.88.0.77');
    const r = net.run({ plugin: bin('portmap'), command: 'DEL', conf: chain.pluginConf(1, { portMappings }), containerId: 'theirs', netns: a.path, ifname: 'eth0' });
    expect(r.status, r.stdout).toBe(0);
    const nft = hostState(net).nft;
    expect(nft).not.toContain('10.88.0.77');
    expect(nft).toMatch(hostPortRe(9090));
    chain.del({ containerId: 'mine', netns: b.path });
  });

  it('with no mappings ADD prints prevResult in the config version and touches no netfilter', () => {
    env = setup('pmn', {});
    const { net, chain } = env;
    chain.list.cniVersion = '0.4.0';
    const a = net.addContainer('a');
    const res = chain.add({ containerId: 'none', netns: a.path });
    expect(res.cniVersion).toBe('0.4.0');
    expect(res.ips[0].version).toBe('4');
    expect(hostState(net).nft).toBe('');
    chain.del({ containerId: 'none', netns: a.path });
  });

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: ADD succeeds when the host has no route to the container (route_localnet skipped), DEL removes the rules`, () => {
      // e.g. a macvlan/ipvlan container, or a host without a default route: only the 127.0.0.1 path needs the route
      const net = new TestNet('pmnr');
      env = { net, outside: '', chain: undefined as unknown as Chain, list: undefined as unknown as ConfList };
      const conf = {
        cniVersion: '1.0.0', name: 'pmnoroute', type: 'portmap', backend,
        runtimeConfig: { portMappings: [{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }] },
        prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }], ips: [{ address: '10.213.0.5/24', interface: 0 }] },
      };
      expect(net.exec(net.host, 'ip', ['route', 'get', '10.213.0.5']).status).not.toBe(0);
      const base = { plugin: bin('portmap'), conf, containerId: 'noroute', netns: '/run/netns/x', ifname: 'eth0' };
      const add = net.run({ ...base, command: 'ADD' });
      expect(add.status, add.stdout + add.stderr).toBe(0);
      expect(add.stderr).toMatch(/no route to 10\.213\.0\.5/);
      expect(add.json.ips[0].address).toBe('10.213.0.5/24');
      const state = hostState(net);
      expect(state.nft + state.ipt).toMatch(backend === 'nftables' ? nftDnatTo('10.213.0.5', 80) : /10\.213\.0\.5:80/);
      const del = net.run({ ...base, command: 'DEL' });
      expect(del.status, del.stdout).toBe(0);
      const after = hostState(net);
      expect(after.nft + after.ipt).not.toMatch(/10\.213\.0\.5/);
    });
  }

  it('refuses to run unchained', () => {
    env = setup('pmp', {});
    const { net } = env;
    const a = net.addContainer('a');
    const r = net.run({
      plugin: bin('portmap'),
      command: 'ADD',
      conf: { cniVersion: '1.0.0', name: 'x', type: 'portmap', runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 1, protocol: 'tcp' }] } },
      containerId: 'x',
      netns: a.path,
      ifname: 'eth0',
    });
    expect(r.status).toBe(1);
    expect(r.json.msg).toBe('must be called as chained plugin');
  });

  describe('bad inputs: precise error, nothing installed', () => {
    const cases: Array<[string, Record<string, unknown>, unknown[], RegExp]> = [
      ['host port 0', {}, [{ hostPort: 0, containerPort: 80, protocol: 'tcp' }], /invalid host port number 0 \("hostPort" must be an integer from 1 to 65535\)/],
      ['host port 70000', {}, [{ hostPort: 70000, containerPort: 80, protocol: 'tcp' }], /invalid host port number 70000/],
      ['container port 0', {}, [{ hostPort: 80, containerPort: 0, protocol: 'tcp' }], /invalid container port number 0/],
      ['protocol icmp', {}, [{ hostPort: 80, containerPort: 80, protocol: 'icmp' }], /unsupported protocol "icmp" \(allowed: tcp, udp, sctp\)/],
      ['hostIP not an IP', {}, [{ hostPort: 80, containerPort: 80, protocol: 'tcp', hostIP: 'localhost' }], /"hostIP" is not an IP address: "localhost"/],
      ['markMasqBit with externalSetMarkChain', { markMasqBit: 5, externalSetMarkChain: 'KUBE-MARK-MASQ' }, [{ hostPort: 80, containerPort: 80 }], /Cannot specify externalSetMarkChain and markMasqBit/],
      ['markMasqBit 32', { markMasqBit: 32 }, [{ hostPort: 80, containerPort: 80 }], /"markMasqBit" is 32, above the maximum 31/],
      ['unknown backend', { backend: 'ebpf' }, [{ hostPort: 80, containerPort: 80 }], /"backend" is "ebpf"; allowed: nftables, iptables/],
      ['nft backend with iptables conditions', { backend: 'nftables', conditionsV4: ['-s', '1.2.3.4'] }, [{ hostPort: 80, containerPort: 80 }], /nftables backend was requested but configuration contains iptables-specific options \[conditionsV4\]/],
    ];
    for (const [what, extra, portMappings, msg] of cases) {
      it(what, () => {
        env = setup('pmb', extra);
        const { net, chain } = env;
        const a = net.addContainer('a');
        let err: ChainError | undefined;
        try {
          chain.add({ containerId: 'bad', netns: a.path, capabilityArgs: { portMappings } });
        } catch (e) {
          err = e as ChainError;
        }
        expect(err?.type).toBe('portmap');
        expect(err?.run.json.code).toBe(7);
        expect(err?.run.json.msg).toMatch(msg);
        const st = hostState(net);
        expect(st.nft).not.toContain('cni_hostport');
        expect(st.ipt).not.toContain('CNI-');
      });
    }
  });
});
