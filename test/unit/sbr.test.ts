import { describe, expect, it } from 'vitest';
import { ipsOfInterface, parseSbrConf } from '../../plugins/sbr/config.js';
import { nextFreeTable, orphanRules, planAdd, ruleDelLine, rulesToDelete, type RouteEntry, type RuleEntry } from '../../plugins/sbr/plan.js';
import { parseNetConf } from '../../lib/cni/config.js';
import { cniError } from '../helpers/errors.js';

const conf = (extra: object = {}) => parseSbrConf(parseNetConf({ cniVersion: '1.0.0', name: 'net', type: 'sbr', ...extra }));
const base: RuleEntry[] = [
  { family: 4, priority: 0, src: 'all', table: '255' },
  { family: 4, priority: 32766, src: 'all', table: '254' },
  { family: 4, priority: 32767, src: 'all', table: '253' },
  { family: 6, priority: 0, src: 'all', table: '255' },
  { family: 6, priority: 32766, src: 'all', table: '254' },
];
// what `ip -N -j route show table main dev eth0` lists after a bridge ADD (dual-stack, a default route and one more)
const main: RouteEntry[] = [
  { family: 4, dst: 'default', gateway: '10.9.0.1' },
  { family: 4, dst: '10.9.0.0/24', protocol: '2', scope: '253', prefsrc: '10.9.0.2' },
  { family: 4, dst: '10.60.0.0/16', gateway: '10.9.0.254' },
  { family: 6, dst: 'fd09::/64', protocol: '2', metric: 256 },
  { family: 6, dst: 'fe80::/64', protocol: '2', metric: 256 },
  { family: 6, dst: 'default', gateway: 'fd09::1', metric: 1024 },
];
const ips = [
  { address: '10.9.0.2/24', gateway: '10.9.0.1' },
  { address: 'fd09::2/64', gateway: 'fd09::1' },
];

describe('sbr plan', () => {
  it('per IP the next table ≥ 100 no rule uses: rule, default route, the routes that belong to it; then main emptied', () => {
    const plan = planAdd(ips, 'eth0', [...base, { family: 4, priority: 100, src: '10.1.1.1', table: '100' }], main, conf());
    expect(plan.tables).toEqual([101, 102]);
    expect(plan.rules4).toEqual(['rule add from 10.9.0.2/32 table 101']);
    expect(plan.rules6).toEqual(['rule add from fd09::2/128 table 102']);
    expect(plan.routes).toEqual([
      'route add 0.0.0.0/0 via 10.9.0.1 dev eth0 table 101',
      'route replace 0.0.0.0/0 via 10.9.0.1 dev eth0 table 101',
      'route replace 10.9.0.0/24 dev eth0 proto 2 scope 253 src 10.9.0.2 table 101',
      'route replace 10.60.0.0/16 via 10.9.0.254 dev eth0 table 101',
      // generic routes (no source, no gateway) go to every table, as in the reference
      'route replace fd09::/64 dev eth0 proto 2 metric 256 table 101',
      'route replace fe80::/64 dev eth0 proto 2 metric 256 table 101',
      'route add ::/0 via fd09::1 dev eth0 table 102',
      'route replace fd09::/64 dev eth0 proto 2 metric 256 table 102',
      'route replace fe80::/64 dev eth0 proto 2 metric 256 table 102',
      'route replace ::/0 via fd09::1 dev eth0 metric 1024 table 102',
    ]);
    expect(plan.deletes).toEqual([
      'route del 0.0.0.0/0 via 10.9.0.1 dev eth0 table main',
      'route del 10.9.0.0/24 dev eth0 proto 2 scope 253 src 10.9.0.2 table main',
      'route del 10.60.0.0/16 via 10.9.0.254 dev eth0 table main',
      'route del fd09::/64 dev eth0 proto 2 metric 256 table main',
      'route del fe80::/64 dev eth0 proto 2 metric 256 table main',
      'route del ::/0 via fd09::1 dev eth0 metric 1024 table main',
    ]);
    expect(plan.restores[0]).toBe('route replace 0.0.0.0/0 via 10.9.0.1 dev eth0 table main');
    expect(plan.hints).toEqual([]);
  });

  it('tables skip every one a rule refers to (either family)', () => {
    const used = new Set([100, 101, 103]);
    expect(nextFreeTable(used, 100)).toBe(102);
    expect(nextFreeTable(used, 103)).toBe(104);
    const plan = planAdd(ips, 'eth0', [...base, { family: 6, src: 'all', table: '100' }, { family: 4, src: 'all', table: '101' }], [], conf());
    expect(plan.tables).toEqual([102, 103]);
  });

  it('static gateways (one per family) replace the IPs\' own; a fixed table makes rules only', () => {
    const p = planAdd(ips, 'eth0', base, [], conf({ gateways: ['10.9.0.9', 'fd09::9'] }));
    expect(p.routes).toEqual(['route add 0.0.0.0/0 via 10.9.0.9 dev eth0 table 100', 'route add ::/0 via fd09::9 dev eth0 table 101']);
    const t = planAdd(ips, 'eth0', base, main, conf({ table: 500 }));
    expect([t.rules4, t.rules6, t.routes, t.deletes]).toEqual([['rule add from 10.9.0.2/32 table 500'], ['rule add from fd09::2/128 table 500'], [], []]);
  });

  it('addSourceHints: subnet routes with the address as source, only non-subnet routes removed', () => {
    const p = planAdd([ips[0]!], 'eth0', base, main.slice(0, 3), conf({ addSourceHints: true }));
    expect(p.deletes).toEqual([]);
    expect(p.hints).toEqual([
      'route replace 10.9.0.0/24 dev eth0 src 10.9.0.2 scope link table main',
      'route del 0.0.0.0/0 via 10.9.0.1 dev eth0 table main',
      'route del 10.60.0.0/16 via 10.9.0.254 dev eth0 table main',
    ]);
  });

  it('DEL: rules whose source is an address of the interface (any prefix), limited to a fixed table', () => {
    const rules: RuleEntry[] = [...base, { family: 4, priority: 32765, src: '10.9.0.2', table: '100' }, { family: 4, priority: 32764, src: '10.9.0.0', srclen: 24, table: '300' }, { family: 6, priority: 32765, src: 'fd09::2', table: '101' }, { family: 4, priority: 5, src: '10.7.0.7', table: '100' }];
    expect(rulesToDelete(rules, ['10.9.0.2', 'fd09::2']).map(ruleDelLine)).toEqual(['rule del pref 32765 from 10.9.0.2 table 100', 'rule del pref 32765 from fd09::2 table 101']);
    expect(rulesToDelete(rules, ['10.9.0.2'], 300)).toEqual([]);
    expect(rulesToDelete(rules, ['10.9.0.0'], 300).map(ruleDelLine)).toEqual(['rule del pref 32764 from 10.9.0.0/24 table 300']);
    // the interface gone: sbr-shaped rules (host-length source, table >= 100) of prevResult's addresses
    expect(orphanRules(rules, ips).map(ruleDelLine)).toEqual(['rule del pref 32765 from 10.9.0.2 table 100', 'rule del pref 32765 from fd09::2 table 101']);
    expect(orphanRules([{ family: 4, priority: 9, src: '10.9.0.2', table: '254' }], ips)).toEqual([]);
  });
});

describe('sbr config', () => {
  it('the IPs of CNI_IFNAME: no index or an index out of range counts, another interface\'s does not; none at all is an error', () => {
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'br0' }, { name: 'eth0' }], ips: [{ address: '10.0.0.1/24', interface: 0 }, { address: '10.0.0.2/24', interface: 1 }, { address: '10.0.0.3/24' }, { address: '10.0.0.4/24', interface: 7 }] };
    expect(ipsOfInterface(prev, 'eth0').map((i) => i.address)).toEqual(['10.0.0.2/24', '10.0.0.3/24', '10.0.0.4/24']);
    expect(cniError(() => ipsOfInterface({ cniVersion: '1.0.0' }, 'eth0')).msg).toBe('No IP addresses supplied on interface: eth0');
  });

  it('validates table, gateways, addSourceHints (code 7)', () => {
    for (const [extra, msg] of [
      [{ table: 'x' }, /"table" must be an integer/],
      [{ table: 254 }, /"table" is 254, a table of the kernel's own/],
      [{ gateways: ['a'] }, /invalid static gateway IP address "a"/],
      [{ gateways: ['10.0.0.1', '10.0.0.2'] }, /multiple IPv4 addresses: 10.0.0.1 and 10.0.0.2/],
      [{ gateways: ['10.0.0.1', 'fd00::1', '10.0.0.2'] }, /more than 2 entries/],
      [{ addSourceHints: 'yes' }, /"addSourceHints" must be true or false/],
    ] as const) {
      const e = cniError(() => conf(extra));
      expect(e.code).toBe(7);
      expect(e.message).toMatch(msg);
    }
    expect(conf({ Table: 300 }).table).toBe(300);
  });
});

describe('lib/routes', () => {
  it('ip -N -d listings: numeric types by name, "default" per family, exact specs (nexthops, non-unicast without dev)', async () => {
    const { jsonLines, routeDst, routeSpec, routeType } = await import('../../lib/routes.js');
    expect([routeType({}), routeType({ type: '1' }), routeType({ type: '6' }), routeType({ type: 'local' })]).toEqual(['unicast', 'unicast', 'blackhole', 'local']);
    expect([routeDst({ family: 4, dst: 'default' }), routeDst({ family: 6, dst: 'default' }), routeDst({ family: 4, dst: '10.0.0.0/8' })]).toEqual(['0.0.0.0/0', '::/0', '10.0.0.0/8']);
    expect(routeSpec({ family: 4, type: '1', dst: 'default', gateway: '10.0.0.1', protocol: '3', scope: '0' }, 'eth0')).toBe('0.0.0.0/0 via 10.0.0.1 dev eth0 proto 3 scope 0');
    expect(routeSpec({ family: 4, type: '6', dst: '10.9.0.0/16' }, 'eth0')).toBe('blackhole 10.9.0.0/16');
    expect(routeSpec({ family: 4, dst: '10.8.0.0/16', nexthops: [{ gateway: '10.0.0.1', dev: 'eth0', weight: 1 }, { gateway: '10.0.1.1', dev: 'eth1', weight: 2 }] }, 'eth0')).toBe(
      '10.8.0.0/16 nexthop via 10.0.0.1 dev eth0 weight 1 nexthop via 10.0.1.1 dev eth1 weight 2',
    );
    expect(jsonLines('[{"a":1}]\n[]\n')).toEqual([[{ a: 1 }], []]);
  });
});
