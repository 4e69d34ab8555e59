import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { LINK_FIRST_IPAM, needsLinkFirst, refuseLinkFirstIpam } from '../../lib/cni/linkfirst.js';
import type { CniContext } from '../../lib/cni/skel.js';
import { gatewayDeviceLines, hostLinkLines, type HostPlan } from '../../plugins/bridge/plan.js';
import { parseBridgeConf } from '../../plugins/bridge/config.js';

const ctx = (ipam?: Record<string, unknown>): CniContext => {
  const raw = { cniVersion: '1.0.0', name: 'n', type: 'bridge', ...(ipam ? { ipam } : {}) };
  return { command: 'ADD', containerId: 'c', netns: '/run/netns/x', ifname: 'eth0', args: '', path: [], stdin: Buffer.from(JSON.stringify(raw)), conf: parseNetConf(raw) };
};

describe('the order of ADD: IPAM first, or the link first for an IPAM that works on it', () => {
  it('dhcp (only) needs the link first; no IPAM, host-local, static do not', () => {
    expect([...LINK_FIRST_IPAM]).toEqual(['dhcp']);
    expect(needsLinkFirst(ctx({ type: 'dhcp' }))).toBe(true);
    for (const i of [undefined, {}, { type: '' }, { type: 'host-local' }, { type: 'static' }]) expect(needsLinkFirst(ctx(i))).toBe(false);
  });

  it('a plugin that can never reach a DHCP server refuses it with code 7 naming why; anything else passes', () => {
    const err = (() => {
      try {
        refuseLinkFirstIpam(ctx({ type: 'dhcp' }), 'ptp', 'no server', 'use bridge');
      } catch (e) {
        return e as { code: number; msg: string; details?: string };
      }
      throw new Error('did not throw');
    })();
    expect(err).toMatchObject({ code: 7, msg: 'ptp cannot get its addresses from "ipam" type "dhcp": no server', details: 'use bridge' });
    expect(() => refuseLinkFirstIpam(ctx({ type: 'host-local' }), 'ptp', 'x', 'y')).not.toThrow();
  });

  it('bridge: the host batch without gateways, then the gateway part, is the one batch of the IPAM-first order', () => {
    const conf = parseBridgeConf(parseNetConf({ cniVersion: '1.0.0', name: 'n', type: 'bridge', bridge: 'br0', isGateway: true, vlan: 10, ipam: { type: 'dhcp' } }));
    const plan: HostPlan = {
      conf,
      bridgeMac: '02:00:00:00:00:01',
      hostVeth: 'veth01234567',
      hostMac: '02:00:00:00:00:02',
      containerIfname: 'eth0',
      containerMac: '02:00:00:00:00:03',
      netnsPath: '/run/netns/x',
      gatewayLines: ['addr replace 10.1.0.1/24 brd + dev br0.10'],
      vlanGateway: { name: 'br0.10', peer: 'veth89abcdef', mac: '02:00:00:00:00:04', exists: false },
    };
    const { gatewayLines: _g, vlanGateway: _v, ...before } = plan;
    const first = hostLinkLines({ ...before, gatewayLines: [] });
    expect(first.some((l) => l.includes('br0.10'))).toBe(false);
    expect(gatewayDeviceLines(plan)).toEqual([
      'link add br0.10 address 02:00:00:00:00:04 type veth peer name veth89abcdef',
      'link set dev veth89abcdef master br0 up',
      'link set dev br0.10 up',
      'addr replace 10.1.0.1/24 brd + dev br0.10',
    ]);
    expect([...first, ...gatewayDeviceLines(plan)]).toEqual(hostLinkLines(plan));
    expect(gatewayDeviceLines({ ...plan, vlanGateway: { ...plan.vlanGateway!, exists: true } })).toEqual(['addr replace 10.1.0.1/24 brd + dev br0.10']);
  });
});
