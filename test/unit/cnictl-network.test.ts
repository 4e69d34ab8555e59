import { describe, expect, it } from 'vitest';
import { parseCIDR } from '../../lib/ip.js';
import { buildConflist, parseDriverOptions, planSubnets } from '../../cli/network/create.js';
import { chooseSubnet, planRange, ula64, type Taken } from '../../cli/network/subnet.js';
import { describe as describeNet } from '../../cli/network/model.js';
import { confListFromBytes } from '../../cli/runtime/conffiles.js';
import { hostsFile, parseAddHost, resolvConf } from '../../cli/sandbox/hosts.js';
import { checkRun, parseNetworkMode, parseNetworkValue, type RunFlags } from '../../cli/sandbox/options.js';
import { conflicts, parsePublish, portLines, portsColumn } from '../../cli/sandbox/ports.js';

const taken = (...cidrs: string[]): Taken[] => cidrs.map((c) => ({ cidr: parseCIDR(c)!, by: `network "${c}"` }));

describe('subnet choice (Docker default pools)', () => {
  it('takes the first 172.x/16 that overlaps nothing, then 192.168.x.0/20', () => {
    expect(chooseSubnet([])).toEqual(parseCIDR('172.17.0.0/16'));
    expect(chooseSubnet(taken('172.17.0.0/16', '172.18.5.0/24'))).toEqual(parseCIDR('172.19.0.0/16'));
    expect(chooseSubnet(taken('172.16.0.0/12'))).toEqual(parseCIDR('192.168.0.0/20'));
    expect(chooseSubnet(taken('172.16.0.0/12', '192.168.0.0/19'))).toEqual(parseCIDR('192.168.32.0/20'));
    expect(() => chooseSubnet(taken('172.16.0.0/12', '192.168.0.0/16'))).toThrow(/no free subnet/);
  });

  it('plans one IPv4 (and with --ipv6 one IPv6) range; explicit subnets must not overlap networks', () => {
    const [v4, v6] = planSubnets({ name: 'n', subnets: [], gateways: [], ipRanges: [], ipv6: true }, taken('172.17.0.0/16'), []);
    expect(v4!.subnet).toEqual(parseCIDR('172.18.0.0/16'));
    expect(v6!.subnet).toEqual(ula64('n'));
    expect(ula64('n').prefix).toBe(64);
    expect(() => planSubnets({ name: 'n', subnets: ['172.17.5.0/24'], gateways: [], ipRanges: [], ipv6: false }, taken('172.17.0.0/16'), [])).toThrow(
      /subnet 172.17.5.0\/24 overlaps network "172.17.0.0\/16" \(172.17.0.0\/16\): choose another with --subnet/,
    );
    const r = planSubnets({ name: 'n', subnets: ['10.5.0.0/24', 'fd00:5::/64'], gateways: ['10.5.0.254'], ipRanges: ['10.5.0.128/25'], ipv6: false }, [], []);
    expect(r.map((x) => [x.subnet.ip.family, x.gateway.value])).toEqual([
      [4, parseCIDR('10.5.0.254/32')!.ip.value],
      [6, parseCIDR('fd00:5::1/128')!.ip.value],
    ]);
    expect(r[0]!.rangeStart).toEqual(parseCIDR('10.5.0.128/32')!.ip);
    expect(r[0]!.rangeEnd).toEqual(parseCIDR('10.5.0.254/32')!.ip);
  });

  it('names the bad value: not a CIDR, host bits, gateway outside, ip-range outside, too small', () => {
    const plan = (subnets: string[], gateways: string[] = [], ipRanges: string[] = []) => () => planSubnets({ name: 'n', subnets, gateways, ipRanges, ipv6: false }, [], []);
    expect(plan(['10.0.0.0'])).toThrow('invalid --subnet "10.0.0.0": not a CIDR (e.g. 10.10.0.0/24 or fd00:10::/64)');
    expect(plan(['10.0.0.1/24'])).toThrow('did you mean 10.0.0.0/24?');
    expect(plan(['10.0.0.0/24'], ['10.0.1.1'])).toThrow('--gateway 10.0.1.1 is not in subnet 10.0.0.0/24');
    expect(plan(['10.0.0.0/24'], [], ['10.0.1.0/25'])).toThrow('--ip-range 10.0.1.0/25 is not inside subnet 10.0.0.0/24');
    expect(plan(['10.0.0.0/31'])).toThrow('too small');
    expect(plan([], ['10.0.0.1'])).toThrow('--gateway 10.0.0.1 needs a --subnet of the same family');
    expect(() => planRange(parseCIDR('10.0.0.0/24')!, '10.0.0.255', undefined)).toThrow(/broadcast/);
  });
});

describe('conflist generation', () => {
  const ranges = planSubnets({ name: 'n', subnets: ['10.5.0.0/24'], gateways: [], ipRanges: [], ipv6: false }, [], []);

  it('bridge: gateway, masquerade, hairpin, default route, portmap, and extras only when present', () => {
    const c = buildConflist({ name: 'n', driver: 'bridge', cniVersion: '1.1.0', ranges, internal: false, options: parseDriverOptions('bridge', ['mtu=1400']), bridgeName: 'br-abc', extras: ['tuning'] });
    expect(c).toEqual({
      cniVersion: '1.1.0',
      name: 'n',
      plugins: [
        { type: 'bridge', bridge: 'br-abc', isGateway: true, ipMasq: true, hairpinMode: true, mtu: 1400, ipam: { type: 'host-local', ranges: [[{ subnet: '10.5.0.0/24', gateway: '10.5.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] }, capabilities: { ips: true, mac: true } },
        { type: 'portmap', capabilities: { portMappings: true } },
        { type: 'tuning' },
      ],
    });
    const info = describeNet(confListFromBytes(JSON.stringify(c), '/x/cnictl-n.conflist'));
    expect(info).toMatchObject({ driver: 'bridge', bridge: 'br-abc', internal: false, managed: true, hasPortMappings: true, mtu: 1400 });
  });

  it('--internal: no masquerade, no default route; macvlan/ipvlan: master, mode, no bridge', () => {
    const i = buildConflist({ name: 'n', driver: 'bridge', cniVersion: '1.0.0', ranges, internal: true, options: parseDriverOptions('bridge', []), bridgeName: 'br-x', extras: [] }) as any;
    expect(i.plugins[0].ipMasq).toBe(false);
    expect(i.plugins[0].ipam.routes).toBeUndefined();
    expect(describeNet(confListFromBytes(JSON.stringify(i), 'f')).internal).toBe(true);
    const m = buildConflist({ name: 'n', driver: 'macvlan', cniVersion: '1.0.0', ranges, internal: false, options: parseDriverOptions('macvlan', ['parent=eth9', 'macvlan_mode=vepa']), bridgeName: 'x', extras: ['bandwidth'] }) as any;
    expect(m.plugins[0]).toMatchObject({ type: 'macvlan', master: 'eth9', mode: 'vepa' });
    expect(m.plugins[2]).toEqual({ type: 'bandwidth', capabilities: { bandwidth: true } });
    const v = buildConflist({ name: 'n', driver: 'ipvlan', cniVersion: '1.0.0', ranges, internal: false, options: parseDriverOptions('ipvlan', []), bridgeName: 'x', extras: [] }) as any;
    expect(v.plugins[0]).toMatchObject({ type: 'ipvlan', mode: 'l2', capabilities: { ips: true } });
  });

  it('refuses unknown or bad -o options, naming them', () => {
    expect(() => parseDriverOptions('bridge', ['parent=eth0'])).toThrow(/unknown --opt parent for driver bridge/);
    expect(() => parseDriverOptions('bridge', ['mtu=9'])).toThrow('the MTU is a number from 68 to 65535');
    expect(() => parseDriverOptions('macvlan', ['macvlan_mode=l2'])).toThrow('one of bridge, private, vepa, passthru');
    expect(() => parseDriverOptions('bridge', ['com.docker.network.bridge.name=this-name-is-too-long'])).toThrow(/1-15 characters/);
    expect(() => parseDriverOptions('bridge', ['novalue'])).toThrow('expected KEY=VALUE');
  });
});

describe('-p in all of Docker forms', () => {
  it('parses hostPort:containerPort, ip:hostPort:containerPort, ip::containerPort, containerPort, /proto, ranges, [v6]', () => {
    expect(parsePublish('8080:80')).toEqual([{ hostIP: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('127.0.0.1:8080:80/udp')).toEqual([{ hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' }]);
    expect(parsePublish('127.0.0.1::80')).toEqual([{ hostIP: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('53/sctp')).toEqual([{ hostIP: '', hostPort: 0, containerPort: 53, protocol: 'sctp' }]);
    expect(parsePublish('8080-8081:80-81').map((m) => [m.hostPort, m.containerPort])).toEqual([[8080, 80], [8081, 81]]);
    expect(parsePublish('[::1]:8080:80')).toEqual([{ hostIP: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  });

  it('names what is wrong', () => {
    expect(() => parsePublish('8080:80/icmp')).toThrow('invalid -p 8080:80/icmp: protocol "icmp" is not tcp, udp or sctp');
    expect(() => parsePublish('70000:80')).toThrow('host port "70000" is not a port number');
    expect(() => parsePublish('x.y:1:2')).toThrow('host IP "x.y" is not an IP address');
    expect(() => parsePublish('8080-8082:80-81')).toThrow('differ in length');
    expect(() => parsePublish('::1:8080:80')).toThrow(/brackets/);
  });

  it('conflicts by protocol, port and address; Docker output formats', () => {
    const a = parsePublish('8080:80')[0]!;
    expect(conflicts(a, parsePublish('127.0.0.1:8080:81')[0]!)).toBe(true);
    expect(conflicts(a, parsePublish('8080:80/udp')[0]!)).toBe(false);
    expect(conflicts(parsePublish('127.0.0.1:8080:80')[0]!, parsePublish('127.0.0.2:8080:80')[0]!)).toBe(false);
    expect(portLines([a], true)).toEqual(['80/tcp -> 0.0.0.0:8080', '80/tcp -> [::]:8080']);
    expect(portsColumn(parsePublish('127.0.0.1:53:53/udp'))).toBe('127.0.0.1:53->53/udp');
  });
});

describe('run options', () => {
  const base = { networks: [], publish: [], dns: [], dnsSearch: [], addHosts: [], command: ['true'] };

  it('network modes: named (repeatable), host, none, container:NAME, not mixed', () => {
    expect(parseNetworkMode([], 'bridge')).toEqual({ kind: 'networks', names: ['bridge'], endpoints: [{ name: 'bridge', aliases: [] }] });
    expect(parseNetworkMode(['a', 'b'], 'bridge')).toMatchObject({ kind: 'networks', names: ['a', 'b'] });
    expect(parseNetworkMode(['container:web'], 'bridge')).toEqual({ kind: 'container', target: 'web' });
    expect(() => parseNetworkMode(['host', 'a'], 'bridge')).toThrow('--network host cannot be combined with other networks');
  });

  it("--network's advanced syntax (Docker's name=NET,alias=A,ip=…,ip6=…,mac-address=…)", () => {
    expect(parseNetworkValue('app')).toEqual({ name: 'app', aliases: [] });
    expect(parseNetworkValue('name=app,alias=a1,alias=a2')).toEqual({ name: 'app', aliases: ['a1', 'a2'] });
    expect(parseNetworkValue('Alias=web, name=App ,IP=10.1.0.5,ip6=fd00::5,mac-address=02:42:0a:01:00:05')).toEqual({ name: 'App', aliases: ['web'], ip: '10.1.0.5', ip6: 'fd00::5', mac: '02:42:0a:01:00:05' });
    expect(() => parseNetworkValue('name=app,color=red')).toThrow('invalid --network "name=app,color=red": unknown key "color" (keys: name, alias, ip, ip6, mac-address)');
    expect(() => parseNetworkValue('alias=a')).toThrow('invalid --network "alias=a": name=NET is missing');
    expect(() => parseNetworkValue('name=')).toThrow('name= is empty');
    expect(() => parseNetworkValue('name=a,name=b')).toThrow('name given twice');
    expect(() => parseNetworkValue('name=app,alias')).toThrow('invalid --network "name=app,alias": "alias" is not KEY=VALUE');
    expect(() => parseNetworkValue('name=app,alias=bad!')).toThrow('invalid --network "name=app,alias=bad!": alias "bad!" is not a valid name');
    expect(() => parseNetworkValue('name=app,alias=')).toThrow('alias "" is not a valid name');
    expect(() => parseNetworkValue('name=app,ip=fd00::5')).toThrow('ip "fd00::5" is not an IPv4 address');
    expect(() => parseNetworkValue('name=app,ip6=10.0.0.1')).toThrow('ip6 "10.0.0.1" is not an IPv6 address');
    expect(() => parseNetworkValue('name=app,ip=10.0.0.1,ip=10.0.0.2')).toThrow('ip given twice');
    expect(() => parseNetworkValue('name=app,mac-address=01:00:00:00:00:01')).toThrow('multicast');
    expect(() => parseNetworkValue('name=app,driver-opt=x=y')).toThrow('driver-opt is not supported by cnictl');
    // each network its own aliases; names resolved (ID -> name); the default network takes none
    const ids: Record<string, string> = { abc123: 'one' };
    const m = parseNetworkMode(['name=abc123,alias=a', 'name=two,alias=b,alias=c', 'three'], 'bridge', (r) => ids[r] ?? r);
    expect(m).toEqual({ kind: 'networks', names: ['one', 'two', 'three'], endpoints: [{ name: 'one', aliases: ['a'] }, { name: 'two', aliases: ['b', 'c'] }, { name: 'three', aliases: [] }] });
    expect(() => parseNetworkMode(['name=one', 'abc123'], 'bridge', (r) => ids[r] ?? r)).toThrow('--network one given twice');
    expect(() => parseNetworkMode(['app', 'name=bridge,alias=x'], 'bridge')).toThrow('--network name=bridge,alias=x: network-scoped aliases are only supported on user-defined networks, not the default network bridge');
    expect(() => parseNetworkMode(['name=host,alias=x'], 'bridge')).toThrow('need a user-defined network, not host');
    expect(parseNetworkMode(['name=none'], 'bridge')).toEqual({ kind: 'none' });
  });

  it('--network-alias, --ip and --mac-address go to the first network, not twice', () => {
    const eps = (f: Partial<RunFlags>) => {
      const m = checkRun({ ...base, ...f }, 'bridge').mode;
      return m.kind === 'networks' ? m.endpoints : [];
    };
    expect(eps({ networks: ['a', 'name=b,alias=y'], aliases: ['x'], ip: '10.0.0.9', mac: '02:00:00:00:00:09' })).toEqual([
      { name: 'a', aliases: ['x'], ip: '10.0.0.9', mac: '02:00:00:00:00:09' },
      { name: 'b', aliases: ['y'] },
    ]);
    expect(eps({ networks: ['a'], ip: 'fd00::9' })).toEqual([{ name: 'a', aliases: [], ip6: 'fd00::9' }]);
    expect(() => eps({ networks: ['name=a,alias=y'], aliases: ['x'] })).toThrow('conflicting options: --network-alias and alias= in --network name=a');
    expect(() => eps({ networks: ['name=a,ip=10.0.0.2'], ip: '10.0.0.3' })).toThrow('conflicting options: --ip and ip=');
    expect(() => eps({ networks: ['name=a,mac-address=02:00:00:00:00:01'], mac: '02:00:00:00:00:02' })).toThrow('conflicting options: --mac-address and mac-address=');
    expect(() => eps({ networks: ['bridge', 'b'], aliases: ['x'] })).toThrow('--network-alias x: network-scoped aliases are only supported on user-defined networks, not the default network bridge');
  });

  it("Docker's conflicting options, each naming the flag", () => {
    expect(() => checkRun({ ...base, networks: ['host'], publish: ['80'] }, 'bridge')).toThrow('-p 80: ports cannot be published with --network host');
    expect(() => checkRun({ ...base, networks: ['container:x'], hostname: 'h' }, 'bridge')).toThrow('--hostname h conflicts with --network container:x');
    expect(() => checkRun({ ...base, networks: ['none'], ip: '10.0.0.2' }, 'bridge')).toThrow('--ip 10.0.0.2 needs a named network');
    expect(() => checkRun({ ...base, mac: '01:00:00:00:00:01' }, 'bridge')).toThrow('multicast');
    expect(() => checkRun({ ...base, name: '-x' }, 'bridge')).toThrow('invalid --name "-x"');
    expect(() => checkRun({ ...base, command: [] }, 'bridge')).toThrow('needs a command');
  });

  it('--add-host, --dns and --dns-search are checked with the rest, before anything is written (found by npm run fuzz)', () => {
    expect(() => checkRun({ ...base, addHosts: ['h:1.2.3'] }, 'bridge')).toThrow('invalid --add-host "h:1.2.3": "1.2.3" is not an IP address');
    expect(() => checkRun({ ...base, dns: ['x'] }, 'bridge')).toThrow('invalid --dns "x"');
    expect(() => checkRun({ ...base, dnsSearch: ['a b'] }, 'bridge')).toThrow('invalid --dns-search "a b"');
    expect(checkRun({ ...base, addHosts: ['h:host-gateway', 'db:10.0.0.9'], dns: ['10.0.0.1'] }, 'bridge').mode).toMatchObject({ kind: 'networks', names: ['bridge'] });
  });
});

describe('/etc/hosts and resolv.conf of a sandbox', () => {
  it('-h host.domain is written "IP host.domain host"; its own name and aliases resolve to its address on that network', () => {
    const t = hostsFile({ hostname: 'web.example.test', ownIps: ['10.0.0.2'], ownNames: [{ names: ['web', 'www'], ip: '10.0.0.2' }, { names: ['web'], ip: '10.1.0.2' }], extra: [], peers: [] });
    expect(t.split('\n').slice(6)).toEqual(['10.0.0.2\tweb.example.test web', '10.0.0.2\twww', '10.1.0.2\tweb', '']);
  });

  it('localhost lines, --add-host, own hostname, peers by name', () => {
    const t = hostsFile({ hostname: 'abc', ownIps: ['10.0.0.2'], extra: [parseAddHost('db.local:10.9.9.9')], peers: [{ names: ['web'], ip: '10.0.0.3' }] });
    expect(t.split('\n')).toEqual(expect.arrayContaining(['127.0.0.1\tlocalhost', '10.9.9.9\tdb.local', '10.0.0.2\tabc', '10.0.0.3\tweb']));
    expect(parseAddHost('gw:host-gateway', '10.0.0.1')).toEqual(['gw', '10.0.0.1']);
    expect(parseAddHost('v6:[fd00::1]')).toEqual(['v6', 'fd00::1']);
    expect(parseAddHost('db=10.9.9.8')).toEqual(['db', '10.9.9.8']);
    expect(parseAddHost('v6=::1')).toEqual(['v6', '::1']);
    expect(() => parseAddHost('nohost')).toThrow('invalid --add-host "nohost": expected HOST:IP or HOST=IP');
    expect(() => parseAddHost('h:1.2.3')).toThrow('"1.2.3" is not an IP address');
  });

  it("--dns/--dns-search/--dns-option replace the host's; loopback nameservers are dropped in an own netns", () => {
    const host = 'nameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch corp\noptions edns0\n';
    const rc = (dns: string[] = [], search: string[] = [], options: string[] = [], ownNetns = true) => resolvConf({ host, dns, search, options, ownNetns }).text;
    expect(rc()).toBe('nameserver 10.0.0.1\nsearch corp\noptions edns0\n');
    expect(rc([], [], [], false)).toBe(host);
    expect(rc(['1.1.1.1'], ['a.b'])).toBe('search a.b\nnameserver 1.1.1.1\noptions edns0\n');
    expect(rc([], [], ['ndots:2', 'timeout:1'])).toBe('nameserver 10.0.0.1\nsearch corp\noptions ndots:2 timeout:1\n');
    expect(() => rc(['x'])).toThrow('invalid --dns "x"');
    expect(() => rc([], [], ['nd ots'])).toThrow('invalid --dns-option "nd ots"');
  });

  it("systemd-resolved's 127.0.0.53 alone: the upstream file when it exists, else Docker's fallback (IPv6 servers on IPv6 networks)", () => {
    const host = '# stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n';
    const upstream = '# upstream\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch lan\n';
    expect(resolvConf({ host, upstream, dns: [], search: [], options: [], ownNetns: true })).toEqual({ text: "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch lan\n\n# Based on host file: '/run/systemd/resolve/resolv.conf'\n" });
    const fb = resolvConf({ host, dns: [], search: [], options: [], ownNetns: true });
    expect(fb.text).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0 trust-ad\nsearch lan\n\n# Used default nameservers.\n');
    expect(fb.fallback).toBe("the host's resolv.conf lists only loopback nameservers (127.0.0.53), which a sandbox cannot reach, and there is no /run/systemd/resolve/resolv.conf: the sandbox uses 8.8.8.8, 8.8.4.4 (choose with --dns)");
    expect(resolvConf({ host, dns: [], search: [], options: [], ownNetns: true, ipv6: true }).text).toMatch(/^nameserver 8\.8\.8\.8\nnameserver 8\.8\.4\.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n/);
    expect(resolvConf({ host, upstream, dns: ['10.0.0.1'], search: [], options: [], ownNetns: true }).text).toBe('nameserver 10.0.0.1\noptions edns0 trust-ad\nsearch lan\n');
    expect(resolvConf({ host, upstream, dns: [], search: [], options: [], ownNetns: false }).text).toBe(host); // host mode reaches 127.0.0.53
  });
});
