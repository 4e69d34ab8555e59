import { describe, expect, it } from 'vitest';
import { parseVrfConf } from '../../plugins/vrf/config.js';
import { checkVrf, delLines as del, freeTable, planVrfAdd, planVrfDel as planDel, routesToMove, type RouteEntry } from '../../plugins/vrf/plan.js';

const planVrfDel = (...a: Parameters<typeof planDel>) => del(planDel(...a));
import { parseNetConf } from '../../lib/cni/config.js';
import type { IpLink } from '../../lib/iface.js';
import { cniError } from '../helpers/errors.js';

const conf = (extra: object) => parseVrfConf(parseNetConf({ cniVersion: '1.0.0', name: 'net', type: 'vrf', ...extra }));
const link = (ifname: string, more: Partial<IpLink> = {}): IpLink => ({ ifindex: 1, ifname, ...more });
const vrf = (ifname: string, table: number): IpLink => link(ifname, { linkinfo: { info_kind: 'vrf', info_data: { table } } });
const routes: RouteEntry[] = [
  { family: 4, dst: 'default', gateway: '10.9.0.1' },
  { family: 4, dst: '10.9.0.0/24', protocol: '2', scope: '253', prefsrc: '10.9.0.2' },
  { family: 4, dst: '10.60.0.0/16', gateway: '10.9.0.254', metric: 5 },
  { family: 6, dst: 'fd09::/64', protocol: '2', metric: 256 },
  { family: 6, dst: 'fe80::/64', protocol: '2', metric: 256 },
  { family: 6, dst: 'default', gateway: 'fd09::1', metric: 1024 },
];

describe('vrf', () => {
  it('config: vrfname required (also spelled vrfName), table optional', () => {
    expect(conf({ vrfname: 'red' })).toEqual({ vrfName: 'red', table: 0 });
    expect(conf({ vrfName: 'red', table: 1001 })).toEqual({ vrfName: 'red', table: 1001 });
    expect(cniError(() => conf({})).msg).toBe('configuration is expected to have a valid vrf name');
    expect(cniError(() => conf({ vrfname: 'a b' })).message).toMatch(/"vrfname" is not an interface name/);
    expect(cniError(() => conf({ vrfname: 'red', table: -1 })).message).toMatch(/"table" is -1, below the minimum 0/);
    expect(cniError(() => conf({ vrfname: 'red', table: 255 })).code).toBe(7);
  });

  it('a new VRF gets the first table no VRF uses; the routes the kernel does not recreate are moved', () => {
    expect(freeTable([vrf('a', 1), vrf('b', 2), link('eth0'), vrf('c', 4)])).toBe(3);
    expect(freeTable([])).toBe(1);
    expect(routesToMove(routes).map((r) => r.dst)).toEqual(['default', '10.60.0.0/16', 'default']);
    const plan = planVrfAdd(conf({ vrfname: 'red' }), 'eth0', [link('lo'), link('eth0'), vrf('blue', 1)], [{ local: 'fd09::2', prefixlen: 64 }], routes);
    expect(plan).toEqual({
      create: true,
      table: 2,
      enslaveAt: 2,
      lines: [
        'link add red type vrf table 2',
        'link set dev red up',
        'link set dev eth0 master red',
        'addr replace fd09::2/64 dev eth0 nodad',
        'route replace 0.0.0.0/0 via 10.9.0.1 dev eth0 table 2',
        'route replace 10.60.0.0/16 via 10.9.0.254 dev eth0 metric 5 table 2',
        'route replace ::/0 via fd09::1 dev eth0 metric 1024 table 2',
      ],
    });
  });

  it('an existing VRF is reused (its table must match a configured one); refusals before anything changes', () => {
    const links = [link('eth0'), vrf('red', 1001), link('e1', { master: 'br0' }), link('notvrf')];
    expect(planVrfAdd(conf({ vrfname: 'red', table: 1001 }), 'eth0', links, [], []).lines).toEqual(['link set dev eth0 master red']);
    expect(planVrfAdd(conf({ vrfname: 'red' }), 'eth0', links, [], []).create).toBe(false);
    expect(cniError(() => planVrfAdd(conf({ vrfname: 'red', table: 1002 }), 'eth0', links, [], [])).msg).toBe('VRF red already exist with different routing table 1001');
    expect(cniError(() => planVrfAdd(conf({ vrfname: 'red' }), 'e1', links, [], [])).msg).toBe('interface e1 has already a master set: br0');
    expect(cniError(() => planVrfAdd(conf({ vrfname: 'red' }), 'e9', links, [], [])).msg).toBe('could not get link by name e9');
    expect(cniError(() => planVrfAdd(conf({ vrfname: 'notvrf' }), 'eth0', links, [], [])).msg).toBe('Netlink notvrf is not a VRF');
  });

  it('DEL: nomaster when in the VRF, the VRF removed with its last member; nothing to do otherwise', () => {
    const c = conf({ vrfname: 'red' });
    expect(planVrfDel(c, 'eth0', [vrf('red', 1), link('eth0', { master: 'red' })])).toEqual(['link set dev eth0 nomaster', 'link del red']);
    expect(planVrfDel(c, 'eth0', [vrf('red', 1), link('eth0', { master: 'red' }), link('eth1', { master: 'red' })])).toEqual(['link set dev eth0 nomaster']);
    expect(planVrfDel(c, 'eth0', [vrf('red', 1), link('eth0', { master: 'br0' }), link('eth1', { master: 'red' })])).toEqual([]);
    expect(planVrfDel(c, 'eth0', [vrf('red', 1)])).toEqual(['link del red']);
    expect(planVrfDel(c, 'eth0', [link('red'), link('eth0', { master: 'red' })])).toEqual([]);
    expect(planVrfDel(c, 'eth0', [link('eth0')])).toEqual([]);
  });

  it('CHECK: the VRF exists (with the configured table) and the interface is in it', () => {
    const c = conf({ vrfname: 'red' });
    expect(() => checkVrf(c, 'eth0', [vrf('red', 1), link('eth0', { master: 'red' })])).not.toThrow();
    expect(cniError(() => checkVrf(c, 'eth0', [vrf('red', 1), link('eth0')])).msg).toBe('Failed to find eth0 associated to vrf red');
    expect(cniError(() => checkVrf(c, 'eth0', [link('eth0')])).msg).toBe('VRF red not found');
    expect(cniError(() => checkVrf(conf({ vrfname: 'red', table: 5 }), 'eth0', [vrf('red', 1), link('eth0', { master: 'red' })])).msg).toBe('VRF red has routing table 1, not 5');
  });
});
