/**
 * `cnictl run` and friends for real, inside a throwaway host netns and a private mount namespace: traffic by IP, by
 * name and through every -p form; host / none / container: modes; files inside the sandbox; connect/disconnect;
 * foreground exit status and signals; kill -9 of a detached sandbox cleaned up by the next command; bad input
 * leaving nothing half-created; concurrent runs; system prune; the default network's bip.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CnictlHost } from '../helpers/cnictl.js';
import { isRoot, sh } from '../helpers/harness.js';
import { NFT_DNAT } from '../helpers/nft.js';

let h: CnictlHost;
afterEach(() => {
  h?.cleanup();
  expect(sh('ip', ['netns', 'list']).stdout).not.toMatch(/cnictl-/);
});

/** A TCP server on $2 (default 80) at $3 (default all) answering "hello from $1", a UDP echo on 5353; prints "ready". */
const SERVER = `
const net = require('net'), dgram = require('dgram');
const [name, port = '80', host = '0.0.0.0'] = process.argv.slice(1);
let up = 0; const ready = () => { if (++up === 2) console.log('ready'); };
net.createServer((s) => s.end('hello from ' + name + '\\n')).listen(Number(port), host, ready);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send('pong from ' + name, r.port, r.address));
u.bind(5353, ready);
`;
/** tcp|udp HOST PORT: prints the answer (or ERR/TIMEOUT). */
const CLIENT = `
const [proto, host, port] = process.argv.slice(1);
const done = (s) => { process.stdout.write(s + '\\n'); process.exit(0); };
setTimeout(() => done('TIMEOUT'), 3000);
if (proto === 'tcp') {
  const s = require('net').connect(Number(port), host); let b = '';
  s.on('data', (d) => (b += d)); s.on('end', () => done(b.trim())); s.on('error', (e) => done('ERR ' + e.code));
} else {
  const u = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  u.on('message', (m) => done(String(m))); u.send('ping', Number(port), host);
}
`;

async function start(): Promise<CnictlHost> {
  h = new CnictlHost('sbx');
  return h.start();
}

const client = (proto: 'tcp' | 'udp', host: string, port: number | string) => h.shOk('node', ['-e', CLIENT, proto, host, String(port)]).trim();
const state = (name: string) => JSON.parse(h.ctlOk(['ps', '-a', '--json'])).find((s: any) => s.Names === name);
/** A sandbox's first address and first published host port, through inspect's Go templates. */
const addr = (name: string) => h.ctlOk(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name]).trim();
const hostPort = (name: string) => h.ctlOk(['inspect', '-f', '{{range .NetworkSettings.Ports}}{{(index . 0).HostPort}}{{end}}', name]).trim();
const leases = (net: string) => h.sh('ls', [`/var/lib/cni/networks/${net}`]).stdout.split('\n').filter((f) => /^\d/.test(f));
const cacheFiles = () => h.sh('ls', ['/var/lib/cni/results']).stdout.split('\n').filter(Boolean);
const rules = () => h.sh('nft', ['list', 'ruleset']).stdout;

async function runServer(name: string, args: string[], serverArgs: string[] = []): Promise<{ id: string; stderr: string }> {
  const r = h.ctl(['run', '-d', '--name', name, ...args, '--', 'node', '-e', SERVER, name, ...serverArgs]);
  expect(r.status, r.stderr).toBe(0);
  for (let i = 0; i < 100 && !h.ctlOk(['logs', name]).includes('ready'); i++) await new Promise((res) => setTimeout(res, 50));
  expect(h.ctlOk(['logs', name])).toContain('ready');
  return { id: r.stdout.trim(), stderr: r.stderr };
}

/** Nothing left of any sandbox: namespaces, leases, cache entries, DNAT rules, state. */
function expectNothingLeft(net: string): void {
  expect(h.netnsList()).toEqual([]);
  expect(leases(net)).toEqual([]);
  expect(cacheFiles()).toEqual([]);
  expect(rules()).not.toMatch(NFT_DNAT);
  expect(rules()).not.toMatch(/DNAT/);
}

describe.skipIf(!isRoot)('cnictl run', () => {
  it('traffic by IP, by name and through every -p form; port, ps, inspect, logs, exec', async () => {
    await start();
    h.net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24']);
    h.ctlOk(['network', 'create', '--subnet', '10.80.0.0/24', 'app']);
    const hostsBefore = h.shOk('cat', ['/etc/hosts']);
    const web = await runServer('web', ['--network', 'app', '-p', '8080:80', '-p', '127.0.0.1:8081:80', '-p', '127.0.0.1::80', '-p', '80', '-p', '5353:5353/udp']);
    expect(web.id).toMatch(/^[0-9a-f]{64}$/);
    expect(web.stderr).toMatch(/cnictl: web publishes 0\.0\.0\.0:8080->80\/tcp, 127\.0\.0\.1:8081->80\/tcp, 127\.0\.0\.1:\d+->80\/tcp, 0\.0\.0\.0:\d+->80\/tcp, 0\.0\.0\.0:5353->5353\/udp/);
    const ports = JSON.parse(h.ctlOk(['port', 'web', '--json']));
    const [p3, p4] = [ports[2].hostPort, ports[3].hostPort];
    expect(p3).toBeGreaterThanOrEqual(32768);
    expect(p4).not.toBe(p3);
    expect(h.ctlOk(['port', 'web']).trim().split('\n')).toEqual([
      '80/tcp -> 0.0.0.0:8080',
      '80/tcp -> 127.0.0.1:8081',
      `80/tcp -> 127.0.0.1:${p3}`,
      `80/tcp -> 0.0.0.0:${p4}`,
      '5353/udp -> 0.0.0.0:5353',
    ]);
    expect(h.ctlOk(['port', 'web', '5353/udp']).trim()).toBe('0.0.0.0:5353');
    const ps = h.ctlOk(['ps']);
    expect(ps).toMatch(/^SANDBOX ID\s+NAMES\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NETWORKS$/m);
    expect(ps).toMatch(/\bweb\b.*Up .*0\.0\.0\.0:8080->80\/tcp.*\bapp$/m);
    const ip = addr('web');
    expect(ip).toMatch(/^10\.80\.0\./);

    // every -p form, from the host (loopback) and from outside through the host's address
    expect(client('tcp', '127.0.0.1', 8080)).toBe('hello from web');
    expect(client('tcp', '127.0.0.1', 8081)).toBe('hello from web');
    expect(client('tcp', '127.0.0.1', p3)).toBe('hello from web');
    expect(client('tcp', '127.0.0.1', p4)).toBe('hello from web');
    expect(client('udp', '127.0.0.1', 5353)).toBe('pong from web');
    const outside = (port: number) => h.net.exec(`${h.net.host.replace(/-h$/, '-out')}`, 'node', ['-e', CLIENT, 'tcp', '192.0.2.1', String(port)]).stdout.trim();
    expect(outside(8080)).toBe('hello from web');
    expect(outside(p4)).toBe('hello from web');
    expect(outside(8081)).not.toBe('hello from web'); // published on 127.0.0.1 only
    expect(client('tcp', ip, 80)).toBe('hello from web'); // by IP from the host

    // another sandbox: by name (hosts file, NSS: getent and ping) and by IP
    const db = h.ctl(['run', '--rm', '--name', 'db', '--network', 'app', '--', 'sh', '-c', `getent hosts web && ping -c1 -W2 web && node -e "$0" tcp web 80 && node -e "$0" tcp ${ip} 80`, CLIENT]);
    expect(db.status, db.stderr).toBe(0);
    expect(db.stdout).toMatch(new RegExp(`^${ip.replace(/\./g, "\\.")}\\s+web$`, "m"));
    expect(db.stdout).toMatch(/1 packets transmitted, 1 received/);
    expect(db.stdout.match(/hello from web/g)).toHaveLength(2);

    const [ins] = JSON.parse(h.ctlOk(['network', 'inspect', 'app']));
    const ep = Object.values(ins.Containers) as any[];
    expect(ep).toHaveLength(1);
    expect(ep[0]).toMatchObject({ Name: 'web', Interface: 'eth0', IPv4Address: `${ip}/24` });
    expect(ep[0].MacAddress).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(h.ctlOk(['exec', 'web', '--', 'hostname']).trim()).toBe(web.id.slice(0, 12));
    expect(h.ctlOk(['exec', 'web', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toContain(`${ip}/24`);
    expect(h.ctlOk(['exec', 'web', 'cat', '/etc/hosts'])).toContain(`${ip}\t${web.id.slice(0, 12)}`);
    expect(h.ctl(['exec', 'web', '--', 'sh', '-c', 'exit 3']).status).toBe(3);
    expect(h.shOk('cat', ['/etc/hosts'])).toBe(hostsBefore); // the bind mounts live in the sandbox only

    expect(h.ctlOk(['stop', 'web']).trim()).toBe('web');
    expect(state('web').Status).toMatch(/^Exited \(143\)/);
    expect(h.ctl(['port', 'web']).stderr).toMatch(/sandbox web is not running/);
    expectNothingLeft('app');
    expect(h.ctlOk(['rm', 'web']).trim()).toBe('web');
    expect(h.ctlOk(['ps', '-a', '-q'])).toBe('');
  });

  it('container: shares 127.0.0.1 and the IP; host sees the host; none has only lo; --ip --mac-address -h --dns --dns-search --add-host', async () => {
    await start();
    h.net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24'], 'hostmark0');
    h.ctlOk(['network', 'create', '--subnet', '10.81.0.0/24', 'app']);
    await runServer('svc', ['--network', 'app', '--ip', '10.81.0.50', '--mac-address', '02:42:0a:51:00:32', '-h', 'svc-host', '--dns', '10.81.0.1', '--dns-search', 'example.test', '--add-host', 'gw:host-gateway', '--add-host', 'db.local:10.9.9.9'], ['9000', '127.0.0.1']);
    const joined = h.ctl(['run', '--rm', '--network', 'container:svc', '--', 'sh', '-c', 'ip -4 -o addr show eth0; hostname; node -e "$0" tcp 127.0.0.1 9000', CLIENT]);
    expect(joined.status, joined.stderr).toBe(0);
    expect(joined.stdout).toContain('10.81.0.50/24');
    expect(joined.stdout).toContain('svc-host');
    expect(joined.stdout).toContain('hello from svc');
    expect(client('tcp', '10.81.0.50', 9000)).toMatch(/ERR|TIMEOUT/); // 127.0.0.1 only: not reachable from outside

    expect(h.ctlOk(['exec', 'svc', 'hostname']).trim()).toBe('svc-host');
    expect(h.ctlOk(['exec', 'svc', 'cat', '/etc/hostname']).trim()).toBe('svc-host');
    expect(h.ctlOk(['exec', 'svc', 'cat', '/etc/resolv.conf'])).toMatch(/^search example\.test\nnameserver 10\.81\.0\.1\n/);
    const hosts = h.ctlOk(['exec', 'svc', 'cat', '/etc/hosts']);
    expect(hosts).toContain('10.81.0.1\tgw');
    expect(hosts).toContain('10.9.9.9\tdb.local');
    expect(hosts).toContain('10.81.0.50\tsvc-host');
    expect(h.ctlOk(['exec', 'svc', 'ip', 'link', 'show', 'eth0'])).toContain('link/ether 02:42:0a:51:00:32');

    const host = h.ctl(['run', '--rm', '--network', 'host', '--', 'ip', '-o', 'link']);
    expect(host.status, host.stderr).toBe(0);
    expect(host.stdout).toMatch(/\bhostmark0\b/);
    const none = h.ctl(['run', '--rm', '--network', 'none', '--', 'ip', '-o', 'link']);
    expect(none.status, none.stderr).toBe(0);
    expect(none.stdout.trim().split('\n')).toHaveLength(1);
    expect(none.stdout).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    h.ctlOk(['rm', '-f', 'svc']);
    expectNothingLeft('app');
  });

  it('network connect adds eth1 (names resolve on it), disconnect removes it; rm of a network refused while attached', async () => {
    await start();
    h.ctlOk(['network', 'create', '--subnet', '10.82.0.0/24', 'a']);
    h.ctlOk(['network', 'create', '--subnet', '10.83.0.0/24', 'b']);
    // --dns 127.0.0.1: a name not in /etc/hosts fails at once (no DNS server to wait for)
    h.ctlOk(['run', '-d', '--name', 's', '--network', 'a', '--dns', '127.0.0.1', '--', 'sleep', '1000']);
    h.ctlOk(['run', '-d', '--name', 't', '--network', 'b', '--dns', '127.0.0.1', '--', 'sleep', '1000']);
    expect(h.ctl(['exec', 's', 'getent', 'hosts', 't']).status).not.toBe(0);
    expect(h.ctlOk(['network', 'connect', '--ip', '10.83.0.77', 'b', 's']).trim()).toBe('eth1 10.83.0.77/24');
    expect(h.ctlOk(['exec', 's', 'ip', '-4', '-o', 'addr', 'show', 'eth1'])).toContain('10.83.0.77/24');
    expect(h.ctlOk(['exec', 's', 'getent', 'hosts', 't'])).toMatch(/^10\.83\.0\.\d+\s+t$/m);
    expect(h.ctlOk(['exec', 't', 'getent', 'hosts', 's'])).toMatch(/^10\.83\.0\.77\s+s$/m); // t's hosts file updated in place
    expect(h.ctl(['exec', 's', 'ping', '-c1', '-W2', 't']).status).toBe(0);
    const names = (net: string) => (Object.values(JSON.parse(h.ctlOk(['network', 'inspect', net]))[0].Containers) as any[]).map((c) => `${c.Name} ${c.Interface} ${c.IPv4Address}`).sort();
    expect(names('b')).toEqual(['s eth1 10.83.0.77/24', expect.stringMatching(/^t eth0 10\.83\.0\.\d+\/24$/)]);
    expect(h.ctl(['network', 'connect', 'b', 's']).stderr).toMatch(/sandbox s is already attached to network b/);
    const rm = h.ctl(['network', 'rm', 'b']);
    expect(rm.stderr).toMatch(/network b has attached sandboxes: (s, t|t, s): stop or disconnect them first/);

    h.ctlOk(['network', 'disconnect', 'b', 's']);
    expect(h.ctl(['exec', 's', 'ip', 'link', 'show', 'eth1']).status).not.toBe(0);
    expect(h.ctl(['exec', 's', 'getent', 'hosts', 't']).status).not.toBe(0);
    expect(names('b')).toEqual([expect.stringMatching(/^t eth0/)]);
    expect(leases('b')).toHaveLength(1);
    expect(h.ctl(['network', 'disconnect', 'b', 's']).stderr).toMatch(/sandbox s is not attached to network b/);
    h.ctlOk(['rm', '-f', 's', 't']);
    expect(h.ctlOk(['network', 'rm', 'a', 'b']).trim()).toBe('a\nb');
    expect(h.netnsList()).toEqual([]);
    expect(cacheFiles()).toEqual([]);
  });

  it('foreground: exit status is kept, SIGTERM is passed on, networks are detached when it ends; --rm removes it', async () => {
    await start();
    h.ctlOk(['network', 'create', '--subnet', '10.84.0.0/24', 'app']);
    const r = h.ctl(['run', '--name', 'seven', '--network', 'app', '--', 'sh', '-c', 'ip -4 -o addr show eth0; exit 7']);
    expect(r.status).toBe(7);
    expect(r.stdout).toMatch(/10\.84\.0\.\d+\/24/);
    expect(state('seven').Status).toMatch(/^Exited \(7\)/);
    expectNothingLeft('app');
    expect(h.ctl(['run', '--rm', '--name', 'gone', '--network', 'app', '--', 'true']).status).toBe(0);
    expect(state('gone')).toBeUndefined();
    const sig = h.ctlSpawn(['run', '--name', 'sig', '--network', 'app', '--', 'sh', '-c', 'trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done']);
    await sig.waitFor(/ready/);
    expect(leases('app')).toHaveLength(1);
    sig.proc.kill('SIGTERM');
    expect(await sig.done).toBe(42);
    expect(sig.stdout).toContain('got TERM');
    expect(state('sig').Status).toMatch(/^Exited \(42\)/);
    expectNothingLeft('app');
    expect(h.ctl(['logs', 'seven']).stderr).toMatch(/ran in the foreground/);
  });

  it('kill -9 of a detached sandbox (supervisor and command) is cleaned up by the next command; killing the command alone by its supervisor', async () => {
    await start();
    h.ctlOk(['network', 'create', '--subnet', '10.85.0.0/24', 'app']);
    const { id } = await runServer('victim', ['--network', 'app', '-p', '8090:80']);
    const st = JSON.parse(h.shOk('cat', [`/run/cnictl/sandboxes/${id}/state.json`]));
    expect(h.netnsList()).toEqual([`cnictl-${id.slice(0, 12)}`]);
    expect(leases('app')).toHaveLength(1);
    expect(rules()).toMatch(NFT_DNAT);
    h.shOk('kill', ['-9', String(st.supervisor.pid), String(st.pid.pid)]);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.netnsList()).toHaveLength(1); // nobody cleaned up yet
    const ps = h.ctlOk(['ps']); // the next command notices
    expect(ps).not.toContain('victim');
    expect(state('victim').Status).toMatch(/^Exited \(137\)/);
    expectNothingLeft('app');

    // the command alone killed: its supervisor tears the sandbox down right away
    const second = await runServer('victim2', ['--network', 'app', '-p', '8090:80']);
    const st2 = JSON.parse(h.shOk('cat', [`/run/cnictl/sandboxes/${second.id}/state.json`]));
    h.shOk('kill', ['-9', String(st2.pid.pid)]);
    for (let i = 0; i < 100 && h.netnsList().length; i++) await new Promise((r) => setTimeout(r, 50));
    expectNothingLeft('app');
    expect(JSON.parse(h.shOk('cat', [`/run/cnictl/sandboxes/${second.id}/state.json`])).exitCode).toBe(137);
  });

  it('bad input: one line naming the value, exit ≠ 0, nothing half-created', async () => {
    await start();
    h.net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24']);
    h.ctlOk(['network', 'create', '--subnet', '10.86.0.0/24', 'app']);
    h.ctlOk(['network', 'create', '-d', 'ipvlan', '-o', 'parent=up0', '--subnet', '192.0.2.0/24', 'iv']);
    h.ctlOk(['run', '-d', '--name', 'dup', '--network', 'app', '-p', '8080:80', '--', 'sleep', '1000']);
    const snapshot = () => ({ ns: h.netnsList(), leases: leases('app'), cache: cacheFiles(), sandboxes: h.shOk('ls', ['/run/cnictl/sandboxes']), rules: rules() });
    const before = snapshot();
    const cases: Array<[string[], RegExp, Record<string, string>?]> = [
      [['--network', 'nope', '--', 'true'], /network nope not found in \/etc\/cni\/net\.d.*cnictl network create nope/],
      [['--name', 'dup', '--network', 'app', '--', 'true'], /the name dup is already in use by sandbox [0-9a-f]{12}: remove it \(cnictl rm dup\) or choose another --name/],
      [['--network', 'app', '-p', '8080:81', '--', 'true'], /host port 8080\/tcp is already published by sandbox dup: choose another with -p/],
      [['--network', 'container:ghost', '--', 'true'], /--network container:ghost: sandbox ghost is not found: start it first/],
      [['--network', 'app', '--', 'true'], /network app needs plugin "bridge" not found in CNI_PATH \/nonexistent/, { CNI_PATH: '/nonexistent' }],
      [['--network', 'iv', '--', 'true'], /network "iv": plugin ipvlan failed \(ADD\): .*ipvlan/i],
      [['--network', 'app', '--', 'no-such-command'], /executable "no-such-command" not found in PATH/],
      [['--network', 'app', '--ip', '10.99.0.5', '--', 'true'], /--ip 10\.99\.0\.5 is not in network app's subnets \(10\.86\.0\.0\/24\)/],
      [['--network', 'app', '-p', '99999', '--', 'true'], /invalid -p 99999: container port "99999" is not a port number/],
      [['--network', 'host', '-p', '80', '--', 'true'], /ports cannot be published with --network host/],
    ];
    for (const [args, re, env] of cases) {
      const r = h.ctl(['run', ...args], { env });
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    }
    expect(snapshot()).toEqual(before);
    const nobody = h.sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', `${process.cwd()}/dist/bin/cnictl`, 'run', '--', 'true']);
    expect(nobody.stderr).toMatch(/cnictl run must run as root/);
    expect(h.ctl(['rm', 'dup']).stderr).toMatch(/sandbox dup is running: stop it first \(cnictl stop dup\) or use rm -f/);
    h.ctlOk(['rm', '-f', 'dup']);
    expectNothingLeft('app');
  });

  it('concurrent runs on one network get distinct IPs and host ports', async () => {
    await start();
    h.ctlOk(['network', 'create', '--subnet', '10.87.0.0/24', 'app']);
    const runs = Array.from({ length: 4 }, (_, i) => h.ctlSpawn(['run', '-d', '--name', `c${i}`, '--network', 'app', '-p', '80', '-p', `${9000 + (i % 2)}:81/udp`, '--', 'sleep', '1000']));
    const codes = await Promise.all(runs.map((r) => r.done));
    // two of them asked for the same UDP host ports: exactly one of each pair wins
    expect(codes.filter((c) => c === 0)).toHaveLength(2);
    expect(runs.filter((r) => /host port 900[01]\/udp is already published/.test(r.stderr))).toHaveLength(2);
    const up = JSON.parse(h.ctlOk(['ps', '--json']));
    expect(up).toHaveLength(2);
    const ips = up.map((s: any) => addr(s.Names));
    const ports = up.map((s: any) => hostPort(s.Names));
    expect(new Set(ips).size).toBe(2);
    expect(new Set(ports).size).toBe(2);
    const more = await Promise.all(Array.from({ length: 3 }, (_, i) => h.ctlSpawn(['run', '-d', '--name', `m${i}`, '--network', 'app', '-p', '80', '--', 'sleep', '1000'])).map(async (r) => [await r.done, r.stderr] as const));
    expect(more.map(([c]) => c)).toEqual([0, 0, 0]);
    const all = JSON.parse(h.ctlOk(['ps', '--json']));
    expect(new Set(all.map((s: any) => addr(s.Names))).size).toBe(5);
    expect(new Set(all.map((s: any) => hostPort(s.Names))).size).toBe(5);
    h.ctlOk(['rm', '-f', ...all.map((s: any) => s.Names)]);
    expectNothingLeft('app');
  });

  it('the default network (bip from the config file) is written on first use; system prune cleans exited sandboxes, unused networks and leaks', async () => {
    await start();
    h.shOk('bash', ['-c', 'mkdir -p /etc/cnictl && echo \'{"bip": "10.99.0.1/24"}\' > /etc/cnictl/config.json']);
    const r = h.ctl(['run', '--name', 'first', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/10\.99\.0\.\d+\/24/);
    const def = JSON.parse(h.shOk('cat', ['/etc/cni/net.d/cnictl-bridge.conflist']));
    expect(def.plugins[0]).toMatchObject({ type: 'bridge', bridge: 'cnictl0', ipam: { ranges: [[{ subnet: '10.99.0.0/24', gateway: '10.99.0.1' }]] } });
    expect(h.shOk('ip', ['-4', '-o', 'addr', 'show', 'cnictl0'])).toContain('10.99.0.1/24');

    h.ctlOk(['network', 'create', '--subnet', '10.88.0.0/24', 'spare']);
    h.ctlOk(['network', 'create', '--subnet', '10.89.0.0/24', 'kept']);
    h.ctlOk(['run', '-d', '--name', 'keeper', '--network', 'kept', '--', 'sleep', '1000']);
    // leaks: a namespace named like ours that nobody owns, and an attachment whose namespace is gone
    h.shOk('ip', ['netns', 'add', 'cnictl-0123456789ab']);
    h.shOk('ip', ['netns', 'add', 'lost']);
    h.ctlOk(['add', 'kept', '/run/netns/lost'], { env: { CNI_CONTAINERID: 'lostctr' } });
    h.shOk('ip', ['netns', 'del', 'lost']);
    expect(leases('kept')).toHaveLength(2);
    const p = h.ctl(['system', 'prune', '-f']);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/Deleted Sandboxes:\nfirst/);
    expect(p.stdout).toMatch(/Deleted Networks:\nspare/);
    expect(p.stdout).toMatch(/Deleted network namespaces:\ncnictl-0123456789ab/);
    expect(p.stdout).toMatch(/Removed stale attachments \(CNI GC\):\nkept: lostctr eth0/);
    expect(h.ctlOk(['ps', '-a', '--format', 'json'])).toMatch(/keeper/);
    expect(leases('kept')).toHaveLength(1);
    expect(h.shOk('ls', ['/etc/cni/net.d']).split('\n').filter(Boolean).sort()).toEqual(['cnictl-bridge.conflist', 'cnictl-kept.conflist']);
    h.ctlOk(['rm', '-f', 'keeper']);
    expect(h.netnsList()).toEqual([]);
    expect(cacheFiles()).toEqual([]);
  });
});
