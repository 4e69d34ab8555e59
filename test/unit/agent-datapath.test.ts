import { describe, expect, it } from 'vitest';
import { buildConflist } from '../../agent/conflist.js';
import { deviceAddressLines, deviceLines, diffState, vtepMAC, vxlanMTU, wantedState, type VxlanSpec } from '../../agent/datapath.js';
import { masqScript } from '../../agent/masq.js';
import type { NodeRecord } from '../../agent/store/types.js';

const underlay = { iface: 'eth0', publicIPs: ['192.168.0.1'], mtu: 1500 };
const cluster = ['10.244.0.0/16'];
const peer = (node: string, n: number, extra: Partial<NodeRecord> = {}): NodeRecord => ({
  node,
  publicIPs: [`192.168.0.${n}`],
  subnets: [`10.244.${n}.0/24`],
  backend: 'vxlan',
  vtepMAC: `02:00:00:00:00:0${n}`,
  ...extra,
});

describe('data path planning', () => {
  it('vxlan: per peer an FDB entry, a permanent neighbour and an onlink route; host-gw: a route via the peer', () => {
    const w = wantedState({ backend: 'vxlan', device: 'cni-ts.1', underlay, clusterCIDRs: cluster, self: 'me', peers: [peer('a', 2), peer('me', 1), peer('nomac', 3, { vtepMAC: undefined }), peer('far', 4, { subnets: ['10.9.0.0/24'] })] });
    expect(w.fdb).toEqual([{ mac: '02:00:00:00:00:02', dst: '192.168.0.2', node: 'a' }]);
    expect(w.neighs).toEqual([{ dst: '10.244.2.0', lladdr: '02:00:00:00:00:02', node: 'a' }]);
    expect(w.routes).toEqual([{ dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'cni-ts.1', onlink: true, node: 'a' }]);
    expect(w.skipped).toEqual(['nomac: no VTEP MAC published', 'far: no subnet inside the cluster CIDR (10.9.0.0/24)']);
    const h = wantedState({ backend: 'host-gw', device: 'cni-ts.1', underlay, clusterCIDRs: cluster, self: 'me', peers: [peer('a', 2)] });
    expect(h).toEqual({ routes: [{ dst: '10.244.2.0/24', via: '192.168.0.2', dev: 'eth0', onlink: false, node: 'a' }], neighs: [], fdb: [], skipped: [] });
  });

  it('diff: adds what is missing, fixes what differs, removes only our stale entries', () => {
    const want = wantedState({ backend: 'vxlan', device: 'cni-ts.1', underlay, clusterCIDRs: cluster, self: 'me', peers: [peer('a', 2), peer('b', 3)] });
    const ch = diffState(
      want,
      {
        routes: [
          { dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'cni-ts.1', flags: ['onlink'] }, // as wanted
          { dst: '10.244.9.0/24', gateway: '10.244.9.0', dev: 'cni-ts.1', flags: ['onlink'] }, // a peer that left
          { dst: '172.16.0.0/24', gateway: '192.168.0.9', dev: 'eth0', flags: [] }, // proto 177 but outside the cluster: not ours
        ],
        neighs: [
          { dst: '10.244.2.0', lladdr: '02:00:00:00:00:02', state: ['PERMANENT'] },
          { dst: '10.244.3.0', lladdr: '02:00:00:00:00:99', state: ['PERMANENT'] }, // MAC changed (device re-created)
          { dst: '10.244.9.0', lladdr: '02:00:00:00:00:09', state: ['PERMANENT'] },
        ],
        fdb: [
          { mac: '02:00:00:00:00:02', dst: '192.168.0.2', flags: ['self'], state: 'permanent' },
          { mac: '02:00:00:00:00:09', dst: '192.168.0.9', flags: ['self'], state: 'permanent' },
        ],
      },
      { clusterCIDRs: cluster, device: 'cni-ts.1' },
    );
    expect(ch.ip).toEqual([
      'route del 10.244.9.0/24 via 10.244.9.0 dev cni-ts.1 proto 177',
      'route replace 10.244.3.0/24 via 10.244.3.0 dev cni-ts.1 onlink proto 177',
      'neigh del 10.244.9.0 dev cni-ts.1',
      'neigh replace 10.244.3.0 lladdr 02:00:00:00:00:03 dev cni-ts.1 nud permanent',
    ]);
    expect(ch.bridge).toEqual(['fdb del 02:00:00:00:00:09 dev cni-ts.1 dst 192.168.0.9 self', 'fdb append 02:00:00:00:00:03 dev cni-ts.1 dst 192.168.0.3 self permanent']);
    // Converged: nothing to do.
    const done = diffState(want, { routes: want.routes.map((r) => ({ dst: r.dst, gateway: r.via, dev: r.dev, flags: ['onlink'] })), neighs: want.neighs.map((n) => ({ ...n, state: ['PERMANENT'] })), fdb: want.fdb.map((f) => ({ ...f, flags: ['self'] })) }, { clusterCIDRs: cluster, device: 'cni-ts.1' });
    expect(done).toMatchObject({ ip: [], bridge: [], described: [] });
  });

  it('the VXLAN device: created, left alone when right, re-created when it differs, refused when not ours', () => {
    const spec: VxlanSpec = { name: 'cni-ts.1', vni: 1, port: 8472, local: '192.168.0.1', iface: 'eth0', mac: '02:aa:00:00:00:01', mtu: 1450 };
    expect(deviceLines(undefined, spec).lines).toEqual([
      'link add cni-ts.1 address 02:aa:00:00:00:01 mtu 1450 type vxlan id 1 local 192.168.0.1 dev eth0 dstport 8472 nolearning',
      'link set cni-ts.1 up',
    ]);
    const cur = { ifindex: 5, ifname: 'cni-ts.1', mtu: 1450, address: '02:aa:00:00:00:01', flags: ['UP'], linkinfo: { info_kind: 'vxlan', info_data: { id: 1, port: 8472, local: '192.168.0.1', link: 'eth0' } } };
    expect(deviceLines(cur, spec).lines).toEqual([]);
    const moved = deviceLines({ ...cur, linkinfo: { info_kind: 'vxlan', info_data: { id: 1, port: 4789, local: '192.168.0.7', link: 'eth0' } } }, spec);
    expect(moved.lines[0]).toBe('link del cni-ts.1');
    expect(moved.described[0]).toMatch(/re-create VXLAN device cni-ts\.1 \(had port 4789, local 192\.168\.0\.7\)/);
    expect(() => deviceLines({ ...cur, linkinfo: { info_kind: 'bridge' } }, spec)).toThrow(/exists and is a bridge device: not touching it/);
    expect(deviceAddressLines({ ...cur, addr_info: [{ family: 'inet', local: '10.244.7.0', prefixlen: 32 }, { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' }] }, 'cni-ts.1', ['10.244.1.0/24', 'fd00:0:0:1::/64']).lines).toEqual([
      'addr del 10.244.7.0/32 dev cni-ts.1',
      'addr replace 10.244.1.0/32 dev cni-ts.1',
      'addr replace fd00:0:0:1::/128 dev cni-ts.1 nodad',
    ]);
  });

  it('VTEP MAC is stable per node, locally administered and unicast; MTU leaves room for VXLAN', () => {
    const m = vtepMAC('node-1', 1);
    expect(m).toBe(vtepMAC('node-1', 1));
    expect(m).not.toBe(vtepMAC('node-2', 1));
    expect(parseInt(m.slice(0, 2), 16) & 0x03).toBe(0x02);
    expect(vxlanMTU(1500, 4)).toBe(1450);
    expect(vxlanMTU(1500, 6)).toBe(1430);
  });
});

describe('masquerade and conflist', () => {
  it('one transaction that replaces our table: pod→pod returns, pod→outside masquerades', () => {
    const s = masqScript(['10.244.0.0/16', 'fd00::/56']);
    expect(s.split('\n').slice(0, 3)).toEqual(['add table inet cni_ts_agent', 'delete table inet cni_ts_agent', 'table inet cni_ts_agent {']);
    expect(s).toContain('ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 return');
    expect(s).toContain('ip6 saddr fd00::/56 ip6 daddr ff00::/8 return');
    expect(s).toContain('ip6 saddr fd00::/56 masquerade');
    expect(s).toContain('type nat hook postrouting priority srcnat; policy accept;');
  });

  it('conflist: bridge (no ipMasq, default gateway, MTU) + host-local with the node\'s subnets + portmap', () => {
    const c = buildConflist({ networkName: 'cni-ts', bridge: 'cni-ts0', subnets: ['10.244.1.0/24', 'fd00:0:0:1::/64'], mtu: 1450, ipamDataDir: '/tmp/x' }) as any;
    expect(c.cniVersion).toBe('1.0.0');
    expect(c.plugins.map((p: any) => p.type)).toEqual(['cni-ts-bridge', 'cni-ts-portmap']);
    expect(c.plugins[0]).toMatchObject({ bridge: 'cni-ts0', isGateway: true, isDefaultGateway: true, ipMasq: false, mtu: 1450 });
    expect(c.plugins[0].ipam).toEqual({ type: 'cni-ts-host-local', ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:0:0:1::/64' }]], dataDir: '/tmp/x' });
    expect(c.plugins[1].capabilities).toEqual({ portMappings: true });
  });
});
