/**
 * firewall, for real: chained after our bridge in a throwaway host netns whose FORWARD policy is DROP, with an
 * "outside" namespace behind the host. Rules are read back with iptables-save; traffic with ping.
 */
import { describe, expect, it } from 'vitest';
import { Chain, ChainError, type ConfList } from '../helpers/chain.js';
import { DIST, GO_PLUGINS, bin, goBin, haveGoPlugins, isRoot, ping, shOk, type PluginRun, type TestNet } from '../helpers/harness.js';
import { testNets } from '../helpers/nets.js';

const OUTSIDE = '192.0.2.2';

const newNet = testNets();

/** The filter table of both families in the host netns, without the comment lines. */
function filterState(net: TestNet): string[] {
  return ['iptables-save', 'ip6tables-save'].flatMap((t) => net.exec(net.host, t, ['-t', 'filter']).stdout.split('\n').filter((l) => l && !l.startsWith('#')));
}

const cniLines = (net: TestNet): string[] => filterState(net).filter((l) => l.includes('CNI'));

function bridgeList(net: TestNet, name: string, br: string, subnet: string, firewall?: Record<string, unknown>): ConfList {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      { type: 'bridge', bridge: br, isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir: net.tempDir(), ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] } },
      ...(firewall ? [{ type: 'firewall', ...firewall }] : []),
    ],
  };
}

const chainOf = (net: TestNet, list: ConfList, plugins: Record<string, string> = {}): Chain =>
  new Chain(list, { hostNetns: net.host, path: `${DIST}:${GO_PLUGINS}`, plugins: { firewall: bin('firewall'), ...plugins } });

const ipOf = (res: any): string => res.ips[0].address.split('/')[0];

function ok(r: PluginRun): any {
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r.json;
}

describe.skipIf(!isRoot)('firewall plugin', () => {
  it('with FORWARD policy DROP a container reaches the outside only with the firewall in its chain; DEL removes only its rules', () => {
    const net = newNet('fw');
    net.addOutside(['192.0.2.1/24'], [`${OUTSIDE}/24`], 'ext0', 'ext1');
    shOk('ip', ['netns', 'exec', net.host, 'iptables', '-P', 'FORWARD', 'DROP']);
    const list = bridgeList(net, 'fwnet', 'cnifw0', '10.91.0.0/24', {});
    const withFw = chainOf(net, list);
    // the same network (same IPAM store) without the firewall
    const without = chainOf(net, { ...list, plugins: list.plugins.slice(0, 1) });
    const a = net.addContainer('a');
    const b = net.addContainer('b');
    const c = net.addContainer('nofw');
    const resA = withFw.add({ containerId: 'fw-a', netns: a.path });
    const resB = withFw.add({ containerId: 'fw-b', netns: b.path });
    without.add({ containerId: 'fw-c', netns: c.path });
    expect(ping(a.name, OUTSIDE)).toBe(true);
    expect(ping(b.name, OUTSIDE)).toBe(true);
    expect(ping(c.name, OUTSIDE)).toBe(false);
    withFw.check({ containerId: 'fw-a', netns: a.path });
    const rules = cniLines(net);
    expect(rules).toContain('-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD');
    expect(rules).toContain(`-A CNI-FORWARD -s ${ipOf(resA)}/32 -j ACCEPT`);
    expect(rules).toContain(`-A CNI-FORWARD -d ${ipOf(resB)}/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);

    withFw.del({ containerId: 'fw-a', netns: a.path });
    const after = cniLines(net);
    expect(after.filter((l) => l.includes(ipOf(resA)))).toEqual([]);
    expect(after.filter((l) => l.includes(ipOf(resB)))).toHaveLength(2);
    expect(after).toContain('-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN');
    expect(ping(b.name, OUTSIDE)).toBe(true);
    withFw.check({ containerId: 'fw-b', netns: b.path });
    // a second DEL (runtimes retry) succeeds and changes nothing
    withFw.del({ containerId: 'fw-a', netns: a.path, capabilityArgs: {} });
    expect(cniLines(net)).toEqual(after);
    withFw.del({ containerId: 'fw-b', netns: b.path });
    expect(cniLines(net).filter((l) => /10\.91\./.test(l))).toEqual([]);
    without.del({ containerId: 'fw-c', netns: c.path });
  });

  it('an admin rule in the admin chain wins over the per-container accepts (iptablesAdminChainName)', () => {
    const net = newNet('fwa');
    net.addOutside(['192.0.2.1/24'], [`${OUTSIDE}/24`], 'ext0', 'ext1');
    shOk('ip', ['netns', 'exec', net.host, 'iptables', '-P', 'FORWARD', 'DROP']);
    const chain = chainOf(net, bridgeList(net, 'fwadm', 'cnifw1', '10.93.0.0/24', { iptablesAdminChainName: 'MY-ADMIN' }));
    const a = net.addContainer('a');
    const res = chain.add({ containerId: 'adm-a', netns: a.path });
    expect(ping(a.name, OUTSIDE)).toBe(true);
    shOk('ip', ['netns', 'exec', net.host, 'iptables', '-A', 'MY-ADMIN', '-s', ipOf(res), '-j', 'DROP']);
    expect(ping(a.name, OUTSIDE)).toBe(false);
    chain.del({ containerId: 'adm-a', netns: a.path });
    // the admin chain is the admin's: DEL leaves it and its rules alone
    expect(cniLines(net).join('\n')).toContain('MY-ADMIN');
  });

  it('ingressPolicy same-bridge: containers on another bridge cannot connect in; the same bridge and the outside can (open: all can)', () => {
    for (const policy of ['same-bridge', 'open']) {
      const net = newNet('fwi');
      net.addOutside(['192.0.2.1/24'], [`${OUTSIDE}/24`], 'ext0', 'ext1');
      const one = chainOf(net, bridgeList(net, 'iso1', 'cniiso1', '10.94.1.0/24', { ingressPolicy: policy }));
      const two = chainOf(net, bridgeList(net, 'iso2', 'cniiso2', '10.94.2.0/24', { ingressPolicy: policy }));
      const a = net.addContainer('a');
      const a2 = net.addContainer('a2');
      const b = net.addContainer('b');
      const resA = one.add({ containerId: 'iso-a', netns: a.path });
      one.add({ containerId: 'iso-a2', netns: a2.path });
      const resB = two.add({ containerId: 'iso-b', netns: b.path });
      expect(ping(a2.name, ipOf(resA)), policy).toBe(true);
      expect(ping(a.name, OUTSIDE), policy).toBe(true);
      expect(ping(b.name, OUTSIDE), policy).toBe(true);
      expect(ping(a.name, ipOf(resB)), policy).toBe(policy === 'open');
      expect(ping(b.name, ipOf(resA)), policy).toBe(policy === 'open');
      one.check({ containerId: 'iso-a', netns: a.path });
      if (policy === 'same-bridge') {
        const lines = cniLines(net);
        expect(lines.filter((l) => l.startsWith('-A FORWARD'))).toEqual([
          '-A FORWARD -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-1',
          '-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
        ]);
        expect(lines.filter((l) => l.startsWith('-A CNI-ISOLATION-STAGE-2'))).toHaveLength(3); // two bridges + RETURN
        // CHECK notices a missing isolation rule
        shOk('ip', ['netns', 'exec', net.host, 'iptables', '-D', 'CNI-ISOLATION-STAGE-2', '-o', 'cniiso1', '-m', 'comment', '--comment', 'CNI firewall plugin rules (ingressPolicy: same-bridge)', '-j', 'DROP']);
        let e: ChainError | undefined;
        try {
          one.check({ containerId: 'iso-a', netns: a.path });
        } catch (x) {
          e = x as ChainError;
        }
        expect(e?.run.json.details).toContain('-I CNI-ISOLATION-STAGE-2 -o cniiso1');
      }
      for (const [ch, id, ns] of [[one, 'iso-a', a], [one, 'iso-a2', a2], [two, 'iso-b', b]] as const) ch.del({ containerId: id, netns: ns.path });
      expect(cniLines(net).filter((l) => /10\.94\./.test(l))).toEqual([]);
    }
  });

  it('ingressPolicy same-bridge: a result naming only the host veth isolates the bridge the veth is on; a veth on no bridge (ptp) is refused, nothing installed', () => {
    const net = newNet('fwb');
    net.addOutside(['192.0.2.1/24'], [`${OUTSIDE}/24`], 'ext0', 'ext1');
    const one = chainOf(net, bridgeList(net, 'vb1', 'cnivb1', '10.93.1.0/24'));
    const two = chainOf(net, bridgeList(net, 'vb2', 'cnivb2', '10.93.2.0/24'));
    const a = net.addContainer('a');
    const a2 = net.addContainer('a2');
    const b = net.addContainer('b');
    const resA = one.add({ containerId: 'vb-a', netns: a.path });
    const resA2 = one.add({ containerId: 'vb-a2', netns: a2.path });
    const resB = two.add({ containerId: 'vb-b', netns: b.path });
    const fw = (prevResult: unknown, command = 'ADD', id = 'vb') =>
      net.run({ plugin: bin('firewall'), command, containerId: id, netns: a.path, ifname: 'eth0', conf: { cniVersion: '1.0.0', name: 'vbfw', type: 'firewall', ingressPolicy: 'same-bridge', prevResult } });
    const hostVethOnly = (res: any) => ({ ...res, interfaces: res.interfaces.slice(1), ips: res.ips.map((i: any) => ({ ...i, interface: 1 })) });
    for (const res of [resA, resA2, resB]) ok(fw(hostVethOnly(res)));
    const iso = cniLines(net).filter((l) => l.startsWith('-A CNI-ISOLATION-STAGE-'));
    expect(iso.filter((l) => l.includes(' -o ') || l.includes(' -i '))).toEqual([
      '-A CNI-ISOLATION-STAGE-1 -i cnivb2 ! -o cnivb2 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-2',
      '-A CNI-ISOLATION-STAGE-1 -i cnivb1 ! -o cnivb1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-2',
      '-A CNI-ISOLATION-STAGE-2 -o cnivb2 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j DROP',
      '-A CNI-ISOLATION-STAGE-2 -o cnivb1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j DROP',
    ]);
    expect(iso.join('\n')).not.toMatch(/veth/);
    expect(ping(a2.name, ipOf(resA))).toBe(true);
    expect(ping(a.name, OUTSIDE)).toBe(true);
    expect(ping(b.name, ipOf(resA))).toBe(false);
    expect(ping(a.name, ipOf(resB))).toBe(false);
    // CHECK resolves the same bridge
    expect(fw(hostVethOnly(resA), 'CHECK').status).toBe(0);

    // ptp's host veth is on no bridge: refused before any rule is written
    const fresh = newNet('fwp');
    const ptp = chainOf(fresh, { cniVersion: '1.0.0', name: 'vbptp', plugins: [{ type: 'ptp', ipMasq: false, ipam: { type: 'host-local', dataDir: fresh.tempDir(), ranges: [[{ subnet: '10.93.3.0/24' }]] } }] });
    const c = fresh.addContainer('c');
    const resP = ptp.add({ containerId: 'vb-p', netns: c.path });
    const before = filterState(fresh);
    const r = fresh.run({ plugin: bin('firewall'), command: 'ADD', containerId: 'vb-p', netns: c.path, ifname: 'eth0', conf: { cniVersion: '1.0.0', name: 'vbptp', type: 'firewall', ingressPolicy: 'same-bridge', prevResult: resP } });
    expect(r.status).toBe(1);
    expect(r.json.code).toBe(7);
    expect(r.json.msg).toMatch(/ingressPolicy "same-bridge" needs a bridge.*"veth[0-9a-f]+" is a veth on no bridge/);
    expect(filterState(fresh)).toEqual(before);
    // a host interface the result names that does not exist: refused as well
    const gone = fresh.run({ plugin: bin('firewall'), command: 'ADD', containerId: 'vb-p', netns: c.path, ifname: 'eth0', conf: { cniVersion: '1.0.0', name: 'vbptp', type: 'firewall', ingressPolicy: 'same-bridge', prevResult: { ...resP, interfaces: [{ name: 'nosuch0' }] } } });
    expect(gone.json.code).toBe(7);
    expect(gone.json.msg).toMatch(/"nosuch0" does not exist on the host/);
    expect(filterState(fresh)).toEqual(before);
    ptp.del({ containerId: 'vb-p', netns: c.path });
  });

  it('DEL without prevResult reads the addresses from the container while it has them; without netns it is a no-op', () => {
    const net = newNet('fwd');
    const c = net.addContainer('c');
    net.addVeth(c.name, 'vh0');
    shOk('ip', ['-n', c.name, 'addr', 'add', '10.95.0.7/24', 'dev', 'eth0']);
    shOk('ip', ['-n', c.name, 'addr', 'add', 'fd95::7/64', 'dev', 'eth0', 'nodad']);
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'vh0' }, { name: 'eth0', sandbox: c.path }], ips: [{ interface: 1, address: '10.95.0.7/24' }, { interface: 1, address: 'fd95::7/64' }] };
    const conf = { cniVersion: '1.0.0', name: 'fwdel', type: 'firewall' };
    const run = (command: string, extra: Record<string, unknown>, netns = c.path) => net.run({ plugin: bin('firewall'), command, conf: { ...conf, ...extra }, containerId: 'del1', netns, ifname: 'eth0' });
    ok(run('ADD', { prevResult: prev }));
    expect(cniLines(net).filter((l) => l.includes('10.95.0.7') || l.includes('fd95::7'))).toHaveLength(4);
    ok(run('DEL', {}, ''));
    expect(cniLines(net).filter((l) => l.includes('10.95.0.7'))).toHaveLength(2);
    ok(run('DEL', {}));
    expect(cniLines(net).filter((l) => l.includes('10.95.0.7') || l.includes('fd95::7'))).toEqual([]);
    ok(run('DEL', { prevResult: prev }));
  });

  it('parallel ADDs in a fresh namespace: the shared chains are set up once, every container gets its rules', async () => {
    const net = newNet('fwp');
    shOk('ip', ['-n', net.host, 'link', 'add', 'br0', 'type', 'bridge']);
    const ids = [...Array(6).keys()];
    const runs = await Promise.all(
      ids.map((i) =>
        net.runAsync({
          plugin: bin('firewall'),
          command: 'ADD',
          conf: { cniVersion: '1.0.0', name: 'par', type: 'firewall', ingressPolicy: 'same-bridge', prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'br0' }], ips: [{ address: `10.96.0.${i + 2}/24` }] } },
          containerId: `par-${i}`,
          netns: `/run/netns/${net.host}`,
          ifname: 'eth0',
          env: { CNI_NETNS_OVERRIDE: '1' },
        }),
      ),
    );
    for (const r of runs) expect(r.status, r.stdout).toBe(0);
    const lines = cniLines(net);
    expect(lines.filter((l) => l.startsWith('-A FORWARD'))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('-A CNI-FORWARD -s 10.96.0.'))).toHaveLength(6);
    expect(lines.filter((l) => l.includes('-j CNI-ADMIN'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('-A CNI-ISOLATION-STAGE-1 -i br0'))).toHaveLength(1);
  });

  describe('bad input: the right error, nothing installed', () => {
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'br0' }], ips: [{ address: '10.97.0.2/24' }] };
    const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
      ['backend firewalld', { backend: 'firewalld' }, 7, /"backend" "firewalld" is not supported by cni-ts/],
      ['an unknown backend', { backend: 'ebpf' }, 7, /"backend" is "ebpf"; allowed: iptables/],
      ['an unknown ingress policy', { ingressPolicy: 'closed' }, 7, /unknown ingress policy: "closed"/],
      ['an admin chain name with a space', { iptablesAdminChainName: 'MY ADMIN' }, 7, /"iptablesAdminChainName" is "MY ADMIN"/],
      ['cniVersion 0.3.1 (the firewall starts at 0.4.0)', { cniVersion: '0.3.1', prevResult: { ...prev, cniVersion: '0.3.1' } }, 1, /incompatible CNI versions/],
      ['no prevResult', { prevResult: undefined }, 999, /missing prevResult from earlier plugin/],
      ['same-bridge without interfaces', { ingressPolicy: 'same-bridge', prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.97.0.2/24' }] } }, 7, /make sure to chain "firewall" plugin with "bridge"/],
    ];
    for (const [what, extra, code, msg] of cases) {
      it(what, () => {
        const net = newNet('fwb');
        const r = net.run({ plugin: bin('firewall'), command: 'ADD', conf: { cniVersion: '1.0.0', name: 'bad', type: 'firewall', prevResult: prev, ...extra }, containerId: 'bad', netns: '/run/netns/none', ifname: 'eth0' });
        expect(r.json?.code, r.stdout).toBe(code);
        expect(r.json.msg).toMatch(msg);
        expect(cniLines(net)).toEqual([]);
      });
    }
  });
});

describe.skipIf(!isRoot || !haveGoPlugins)('firewall vs the Go reference firewall', () => {
  const prevOf = (version: string) => ({
    cniVersion: version,
    interfaces: [{ name: 'cni-d0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
    ips: [
      { ...(version === '0.4.0' ? { version: '4' } : {}), interface: 2, address: '10.98.0.2/24', gateway: '10.98.0.1' },
      { ...(version === '0.4.0' ? { version: '6' } : {}), interface: 2, address: 'fd98::2/64', gateway: 'fd98::1' },
    ],
  });
  const fwRun = (net: TestNet, plugin: string, command: string, conf: unknown, id = 'diff1') =>
    net.run({ plugin, command, conf, containerId: id, netns: '/run/netns/none', ifname: 'eth0' });
  /** A host netns with the bridge and the host veth the results name (ours checks that the bridge is one). */
  const fwNet = (label: string): TestNet => {
    const net = newNet(label);
    shOk('ip', ['-n', net.host, 'link', 'add', 'cni-d0', 'type', 'bridge']);
    shOk('ip', ['-n', net.host, 'link', 'add', 'veth1', 'master', 'cni-d0', 'type', 'veth', 'peer', 'name', 'veth1p']);
    return net;
  };

  for (const version of ['0.4.0', '1.0.0']) {
    it(`same result and the same iptables and ip6tables filter tables as /usr/lib/cni/firewall at ${version} (same-bridge, dual-stack)`, () => {
      const ours = fwNet('fwe');
      const go = fwNet('fwg');
      const conf = { cniVersion: version, name: 'diffnet', type: 'firewall', backend: '', ingressPolicy: 'same-bridge', prevResult: prevOf(version) };
      const a = ok(fwRun(ours, bin('firewall'), 'ADD', conf));
      const b = ok(fwRun(go, goBin('firewall'), 'ADD', conf));
      const noEmptyDns = (j: any) => (j.dns && !Object.keys(j.dns).length ? { ...j, dns: undefined } : j);
      expect(noEmptyDns(a)).toEqual(noEmptyDns(b));
      expect(filterState(ours)).toEqual(filterState(go));
      // a second container: still identical
      const conf2 = { ...conf, prevResult: { ...prevOf(version), ips: [{ address: '10.98.0.3/24' }] } };
      ok(fwRun(ours, bin('firewall'), 'ADD', conf2, 'diff2'));
      ok(fwRun(go, goBin('firewall'), 'ADD', conf2, 'diff2'));
      expect(filterState(ours)).toEqual(filterState(go));
      ok(fwRun(ours, bin('firewall'), 'DEL', conf));
      ok(fwRun(go, goBin('firewall'), 'DEL', conf));
      expect(filterState(ours)).toEqual(filterState(go));
    });
  }

  it('swap: ADD with Go, CHECK and DEL with ours — and ADD with ours, CHECK and DEL with Go — leave none of the container rules', () => {
    const net = fwNet('fws');
    const conf = { cniVersion: '1.0.0', name: 'swapnet', type: 'firewall', ingressPolicy: 'same-bridge', prevResult: prevOf('1.0.0') };
    const mine = () => cniLines(net).filter((l) => l.includes('10.98.0.2') || l.includes('fd98::2'));
    ok(fwRun(net, goBin('firewall'), 'ADD', conf));
    expect(mine()).toHaveLength(4);
    ok(fwRun(net, bin('firewall'), 'CHECK', conf));
    ok(fwRun(net, bin('firewall'), 'DEL', conf));
    expect(mine()).toEqual([]);
    ok(fwRun(net, bin('firewall'), 'ADD', conf));
    expect(mine()).toHaveLength(4);
    ok(fwRun(net, goBin('firewall'), 'CHECK', conf));
    ok(fwRun(net, goBin('firewall'), 'DEL', conf));
    expect(mine()).toEqual([]);
  });
});
