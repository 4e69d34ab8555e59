/**
 * The commands people copy from Docker's docs, for real (throwaway host netns + private mounts, test/helpers/cnictl):
 * -i/-t/-it/-itd with a real pseudo-terminal, inspect and --format templates, network IDs, aliases and -h FQDN,
 * ps filters/--format/--no-trunc, logs -f/--tail (stdout and stderr apart), start/restart/rename, info/version,
 * --help everywhere, --dns-option, exec -e/-w, --add-host NAME=IP, -p 0:80 and host ranges, resolv.conf with only
 * 127.0.0.53, container: mode outliving its target, config.json, and the messages of connect/disconnect/--ip.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CnictlHost, CNICTL } from '../helpers/cnictl.js';
import { isRoot, sh } from '../helpers/harness.js';
import { NFT_DNAT } from '../helpers/nft.js';

let h: CnictlHost;
afterEach(() => {
  h?.cleanup();
  expect(sh('ip', ['netns', 'list']).stdout).not.toMatch(/cnictl-/);
});

async function start(label: string): Promise<CnictlHost> {
  h = new CnictlHost(label);
  return h.start();
}

/** A TCP server on $2 (default 80) answering "hello from $1"; prints "ready". */
const SERVER = `
const [name, port = '80'] = process.argv.slice(1);
require('net').createServer((s) => s.end('hello from ' + name + '\\n')).listen(Number(port), () => console.log('ready'));
`;
/** "hello from $1" on TCP 80 and 81; prints "ready". */
const SERVER2 = `
const net = require('net'); let up = 0;
for (const p of [80, 81]) net.createServer((s) => s.end('hello from ' + process.argv[1] + ' on ' + p + '\\n')).listen(p, () => ++up === 2 && console.log('ready'));
`;
/** HOST PORT: prints the answer (or ERR/TIMEOUT). */
const CLIENT = `
const [host, port] = process.argv.slice(1);
const done = (s) => { process.stdout.write(s + '\\n'); process.exit(0); };
setTimeout(() => done('TIMEOUT'), 3000);
const s = require('net').connect(Number(port), host); let b = '';
s.on('data', (d) => (b += d)); s.on('end', () => done(b.trim())); s.on('error', (e) => done('ERR ' + e.code));
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const client = (host: string, port: number | string) => h.shOk('node', ['-e', CLIENT, host, String(port)]).trim();
const fmt = (template: string, ...refs: string[]) => h.ctlOk(['inspect', '-f', template, ...refs]).trim();
const leases = (net: string) => h.sh('ls', [`/var/lib/cni/networks/${net}`]).stdout.split('\n').filter((f) => /^\d/.test(f));
const cacheFiles = () => h.sh('ls', ['/var/lib/cni/results']).stdout.split('\n').filter(Boolean);

async function until(what: string, fn: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function server(name: string, args: string[], port = 80): Promise<void> {
  h.ctlOk(['run', '-d', '--name', name, ...args, '--', 'node', '-e', SERVER, name, String(port)]);
  await until(`${name} ready`, () => h.ctlOk(['logs', name]).includes('ready'));
}

function expectNothingLeft(...nets: string[]): void {
  expect(h.netnsList()).toEqual([]);
  for (const n of nets) expect(leases(n)).toEqual([]);
  expect(cacheFiles()).toEqual([]);
  expect(h.sh('nft', ['list', 'ruleset']).stdout).not.toMatch(NFT_DNAT);
}

/** `cnictl ARGS` on a real terminal (util-linux script gives cnictl a pty as stdin/stdout), fed `input`. */
function onTerminal(args: string[], input: string): { status: number; out: string } {
  const cmd = [...CNICTL, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = h.sh('script', ['-qec', cmd, '/dev/null'], { input, env: { TERM: 'xterm' } });
  return { status: r.status, out: r.stdout.replace(/\r/g, '') };
}

describe.skipIf(!isRoot)('cnictl: the commands people copy from Docker', () => {
  it('-i, -t, -it, -itd, exec -it/-e/-w: a real pseudo-terminal, stdin only with -i, "sh" stays up detached', async () => {
    await start('dtty');
    h.ctlOk(['network', 'create', '--subnet', '10.90.0.0/24', 'app']);

    // -t with stdin not a terminal: a pty all the same (Docker's -t); the command has it as controlling terminal
    const t = h.ctl(['run', '--rm', '-t', '--network', 'app', '--', 'sh', '-c', 'tty; ps -o tty= -p $$; stty size']);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^\/dev\/pts\/\d+\r\npts\/\d+\s*\r\n24 80\r\n$/);
    // -it without a terminal: Docker's one-line refusal, nothing created
    const it = h.ctl(['run', '--rm', '-it', '--network', 'app', '--', 'sh']);
    expect(it.status).not.toBe(0);
    expect(it.stderr.trim()).toBe('cnictl: the input device is not a TTY: drop -t (or -i), or run cnictl from a terminal');
    expect(h.netnsList()).toEqual([]);
    // -it on a real terminal: an interactive shell on its own pty, the exit status comes back
    const term = onTerminal(['run', '--rm', '-it', '--network', 'app', '--', 'sh'], 'tty; echo "answer $((6*7))"\nexit 3\n');
    expect(term.status, term.out).toBe(3);
    expect(term.out).toMatch(/\/dev\/pts\/\d+\n/);
    expect(term.out).toContain('answer 42');
    // -i passes stdin; without -i the command's stdin is /dev/null (Docker)
    expect(h.ctlOk(['run', '--rm', '-i', '--network', 'app', '--', 'cat'], { input: 'through stdin\n' })).toBe('through stdin\n');
    expect(h.ctlOk(['run', '--rm', '--network', 'app', '--', 'cat'], { input: 'not passed\n' })).toBe('');

    // -itd: a shell on a pty that nobody types into stays up, as docker run -itd busybox; -d alone ends at once
    h.ctlOk(['run', '-itd', '--name', 'shell', '--network', 'app', '--', 'sh']);
    h.ctlOk(['run', '-id', '--name', 'catter', '--network', 'app', '--', 'cat']);
    h.ctlOk(['run', '-d', '--name', 'quick', '--network', 'app', '--', 'sh']);
    await sleep(1500);
    expect(h.ctlOk(['ps', '-a', '--format', '{{.Names}} {{.State}}']).trim().split('\n').sort()).toEqual(['catter running', 'quick exited', 'shell running']);
    const pid = fmt('{{.State.Pid}}', 'shell');
    expect(h.shOk('readlink', [`/proc/${pid}/fd/0`]).trim()).toMatch(/^\/dev\/pts\/\d+$/);
    expect(fmt('{{.Config.Tty}} {{.Config.OpenStdin}}', 'shell')).toBe('true true');
    expect(h.shOk('readlink', [`/proc/${fmt('{{.State.Pid}}', 'catter')}/fd/0`]).trim()).toMatch(/^(pipe|socket):/); // a pipe (socketpair under Bun) the supervisor holds open
    // exec: -t gets its own pty, -i passes stdin, -e and -w
    expect(h.ctlOk(['exec', '-t', 'shell', 'tty']).trim()).toMatch(/^\/dev\/pts\/\d+$/);
    expect(h.ctlOk(['exec', '-i', 'shell', 'cat'], { input: 'exec stdin\n' })).toBe('exec stdin\n');
    expect(h.ctlOk(['exec', 'shell', 'cat'], { input: 'dropped\n' })).toBe('');
    expect(h.ctlOk(['exec', '-e', 'FOO=bar', '--env', 'EMPTY=', '-w', '/tmp', 'shell', 'sh', '-c', 'echo "$FOO/$EMPTY/$(pwd)/$HOSTNAME"']).trim()).toBe(`bar///tmp/${fmt('{{.Config.Hostname}}', 'shell')}`);
    const badWd = h.ctl(['exec', '-w', '/no/such/dir', 'shell', 'true']);
    expect(badWd.status).toBe(126);
    expect(badWd.stderr).toBe('cnictl: --workdir /no/such/dir: no such directory in the sandbox\n');
    // run -e / -w too
    expect(h.ctlOk(['run', '--rm', '-e', 'A=1', '-w', '/etc', '--network', 'app', '--', 'sh', '-c', 'echo $A $(pwd)']).trim()).toBe('1 /etc');
    h.ctlOk(['rm', '-f', 'shell', 'catter', 'quick']);
    expectNothingLeft('app');
  });

  it('inspect and --format (Go templates) on inspect, container inspect, network inspect, ps; network IDs and prefixes everywhere', async () => {
    await start('dinsp');
    const appId = h.ctlOk(['network', 'create', '--subnet', '10.91.0.0/24', '--ipv6', '--subnet', 'fd00:91::/64', 'app']).trim();
    const otherId = h.ctlOk(['network', 'create', '--subnet', '10.92.0.0/24', 'other']).trim();
    expect(h.ctlOk(['network', 'ls', '--format', 'json'])).toContain(appId.slice(0, 12));
    expect(h.ctlOk(['network', 'ls', '--format', '{{.ID}} {{.Name}}']).trim().split('\n')).toEqual(expect.arrayContaining([`${appId.slice(0, 12)} app`, `${otherId.slice(0, 12)} other`]));
    expect(h.ctlOk(['network', 'ls', '--format', 'table {{.Name}}\\t{{.Driver}}']).split('\n')[0]).toBe('NAME      DRIVER');
    // run --network by ID prefix
    await server('web', ['--network', appId.slice(0, 12), '-p', '8080:80', '--ip', '10.91.0.10']);
    const [ins] = JSON.parse(h.ctlOk(['inspect', 'web']));
    expect(ins).toMatchObject({
      Name: '/web',
      State: { Status: 'running', Running: true, ExitCode: 0 },
      Config: { Cmd: ['node', '-e', SERVER, 'web', '80'] },
      HostConfig: { NetworkMode: 'app', PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] } },
      NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] } },
    });
    expect(ins.Id).toMatch(/^[0-9a-f]{64}$/);
    expect(ins.State.Pid).toBeGreaterThan(1);
    expect(ins.NetworkSettings.Networks.app).toMatchObject({ IPAddress: '10.91.0.10', IPPrefixLen: 24, Gateway: '10.91.0.1', NetworkID: appId, IPv6Gateway: 'fd00:91::1', GlobalIPv6PrefixLen: 64 });
    expect(ins.NetworkSettings.Networks.app.GlobalIPv6Address).toMatch(/^fd00:91::/);
    expect(h.ctlOk(['exec', 'web', 'ip', '-o', 'link', 'show', 'eth0'])).toContain(`link/ether ${ins.NetworkSettings.Networks.app.MacAddress} `);
    expect(h.shOk('readlink', [`/proc/${ins.State.Pid}/ns/net`])).toBe(h.shOk('ip', ['netns', 'exec', `cnictl-${ins.Id.slice(0, 12)}`, 'readlink', '/proc/self/ns/net']));

    // the templates people copy: field paths, range, index, json, with container inspect and prefixes of the ID
    expect(fmt('{{.Name}} {{.State.Running}} {{.HostConfig.NetworkMode}}', 'web')).toBe('/web true app');
    expect(fmt('{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', ins.Id.slice(0, 5))).toBe('10.91.0.10');
    expect(fmt('{{(index .NetworkSettings.Networks "app").IPAddress}}', 'web')).toBe('10.91.0.10');
    expect(fmt('{{range $p, $b := .NetworkSettings.Ports}}{{$p}} -> {{(index $b 0).HostPort}}{{end}}', 'web')).toBe('80/tcp -> 8080');
    expect(JSON.parse(fmt('{{json .NetworkSettings.Networks}}', 'web')).app.IPAddress).toBe('10.91.0.10');
    expect(h.ctlOk(['container', 'inspect', '--format', '{{.Config.Hostname}}', 'web']).trim()).toBe(ins.Id.slice(0, 12));
    const bad = h.ctl(['inspect', '-f', '{{.NoSuchField}}', 'web']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim()).toBe(`cnictl: template: :1:0: executing "" at <.NoSuchField>: can't evaluate field NoSuchField in type struct`);
    const missing = h.ctl(['inspect', '-f', '{{.Name}}', 'web', 'ghost']);
    expect(missing.status).toBe(1);
    expect(missing.stdout.trim()).toBe('/web');
    expect(missing.stderr.trim()).toBe('cnictl: no such object: ghost (see "cnictl ps -a" and "cnictl network ls")');
    // a network through inspect and network inspect, by ID prefix; ps templates and table headers
    expect(fmt('{{.Name}} {{.Driver}} {{(index .IPAM.Config 0).Subnet}}', appId.slice(0, 12))).toBe('app bridge 10.91.0.0/24');
    expect(h.ctlOk(['network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}', appId.slice(0, 7)]).trim()).toBe('web 10.91.0.10/24');
    expect(h.ctlOk(['ps', '--format', 'table {{.Names}}\\t{{.Ports}}'])).toBe('NAMES     PORTS\nweb       0.0.0.0:8080->80/tcp\n');
    expect(h.ctlOk(['ps', '--format', '{{.ID}}|{{.Names}}|{{.State}}|{{.Networks}}']).trim()).toBe(`${ins.Id.slice(0, 12)}|web|running|app`);

    // connect / disconnect / rm by ID and prefix
    h.ctlOk(['network', 'connect', otherId.slice(0, 12), 'web']);
    expect(fmt('{{range $n, $e := .NetworkSettings.Networks}}{{$n}}={{$e.IPAddress}} {{end}}', 'web')).toMatch(/^app=10\.91\.0\.10 other=10\.92\.0\.\d+$/);
    h.ctlOk(['network', 'disconnect', otherId, 'web']);
    expect(fmt('{{len .NetworkSettings.Networks}}', 'web')).toBe('1');
    expect(h.ctlOk(['network', 'rm', otherId.slice(0, 10)]).trim()).toBe(otherId.slice(0, 10));
    expect(h.shOk('ls', ['/etc/cni/net.d']).trim()).toBe('cnictl-app.conflist');
    h.ctlOk(['rm', '-f', 'web']);
    expectNothingLeft('app');
  });

  it('aliases resolve from other sandboxes, a sandbox resolves its own name, -h host.domain; ps filters, --no-trunc, no PORTS once exited, Docker json fields', async () => {
    await start('dalias');
    h.ctlOk(['network', 'create', '--subnet', '10.93.0.0/24', 'app']);
    h.ctlOk(['network', 'create', '--subnet', '10.94.0.0/24', 'back']);
    // --dns 127.0.0.1: a name not in /etc/hosts fails at once
    await server('web', ['--network', 'app', '--network-alias', 'www', '--network-alias', 'frontend', '-h', 'web.example.test', '-p', '8081:80', '--dns', '127.0.0.1']);
    const ip = fmt('{{.NetworkSettings.Networks.app.IPAddress}}', 'web');
    const peer = h.ctl(['run', '--rm', '--network', 'app', '--dns', '127.0.0.1', '--', 'sh', '-c', 'getent hosts www; getent hosts frontend; node -e "$0" www 80', CLIENT]);
    expect(peer.status, peer.stderr).toBe(0);
    expect(peer.stdout).toMatch(new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+web www frontend\\n${ip.replace(/\./g, '\\.')}\\s+web www frontend\\nhello from web\\n$`));
    // its own name and aliases, and -h host.domain as Docker writes it
    const hosts = h.ctlOk(['exec', 'web', 'cat', '/etc/hosts']);
    expect(hosts).toContain(`${ip}\tweb.example.test web\n`);
    expect(hosts).toContain(`${ip}\twww frontend\n`);
    expect(h.ctlOk(['exec', 'web', 'hostname']).trim()).toBe('web.example.test');
    expect(h.ctlOk(['exec', 'web', 'getent', 'hosts', 'web']).trim()).toMatch(new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+web\\.example\\.test web$`));
    expect(h.ctlOk(['exec', 'web', 'sh', '-c', `node -e "$0" web 80`, CLIENT]).trim()).toBe('hello from web');
    expect(fmt('{{json .NetworkSettings.Networks.app.Aliases}} {{json .NetworkSettings.Networks.app.DNSNames}}', 'web')).toBe('["www","frontend"] ["web","www","frontend"]');
    // network connect --alias
    h.ctlOk(['run', '-d', '--name', 'db', '--network', 'back', '--dns', '127.0.0.1', '--', 'sleep', '1000']);
    h.ctlOk(['network', 'connect', '--alias', 'database', 'app', 'db']);
    expect(h.ctlOk(['exec', 'web', 'getent', 'hosts', 'database']).trim()).toMatch(/^10\.93\.0\.\d+\s+db database$/);
    expect(h.ctl(['run', '--rm', '--network-alias', 'x', '--', 'true']).stderr.trim()).toBe('cnictl: --network-alias x: network-scoped aliases are only supported on user-defined networks, not the default network bridge');

    // ps: filters (same key: either; different keys: both), --no-trunc, -a, Docker's --format json fields
    h.ctlOk(['run', '--name', 'done', '--network', 'app', '-p', '8082:80', '--', 'true']);
    const names = (...args: string[]) => h.ctlOk(['ps', ...args, '--format', '{{.Names}}']).trim().split('\n').filter(Boolean).sort();
    expect(names()).toEqual(['db', 'web']);
    expect(names('-a')).toEqual(['db', 'done', 'web']);
    expect(names('-f', 'name=we')).toEqual(['web']);
    expect(names('-f', 'name=web', '-f', 'name=db')).toEqual(['db', 'web']);
    expect(names('-f', 'status=exited')).toEqual(['done']);
    expect(names('-f', 'network=back')).toEqual(['db']);
    expect(names('-a', '-f', 'network=app', '-f', 'status=running')).toEqual(['db', 'web']);
    expect(names('--filter', `network=${fmt('{{.NetworkSettings.Networks.back.NetworkID}}', 'db').slice(0, 12)}`)).toEqual(['db']);
    const id = fmt('{{.Id}}', 'web');
    expect(h.ctlOk(['ps', '--no-trunc', '-q', '-f', 'name=web']).trim()).toBe(id);
    expect(h.ctlOk(['ps', '-q', '-f', 'name=web']).trim()).toBe(id.slice(0, 12));
    const lines = h.ctlOk(['ps', '-a', '--format', 'json']).trim().split('\n').map((l) => JSON.parse(l));
    const done = lines.find((l) => l.Names === 'done');
    const web = lines.find((l) => l.Names === 'web');
    expect(Object.keys(web).sort()).toEqual(['Command', 'CreatedAt', 'ID', 'Names', 'Networks', 'Ports', 'RunningFor', 'State', 'Status']);
    expect(web).toMatchObject({ State: 'running', Ports: '0.0.0.0:8081->80/tcp', Networks: 'app' });
    expect(web.Status).toMatch(/^Up (\d+ (seconds|minutes)|Less than a second|About a minute)$/);
    expect(done).toMatchObject({ State: 'exited', Ports: '' });
    expect(done.Status).toMatch(/^Exited \(0\) .* ago$/);
    expect(h.ctlOk(['ps', '-a', '-f', 'name=done'])).not.toContain('8082');
    h.ctlOk(['rm', '-f', 'web', 'db', 'done']);
    expectNothingLeft('app', 'back');
  });

  it("per-network aliases (--network name=NET,alias=…,ip=…): each resolves on its own network only, in inspect, across stop/start; bad values refused", async () => {
    await start('dnetalias');
    h.ctlOk(['network', 'create', '--subnet', '10.96.0.0/24', 'one']);
    h.ctlOk(['network', 'create', '--subnet', '10.97.0.0/24', 'two']);
    // --dns 127.0.0.1 everywhere: a name not in /etc/hosts fails at once
    h.ctlOk(['run', '-d', '--name', 'multi', '--network', 'name=one,alias=a1,alias=a1b', '--network', 'name=two,alias=b2,ip=10.97.0.50', '--dns', '127.0.0.1', '--', 'sleep', '1000']);
    h.ctlOk(['run', '-d', '--name', 'p1', '--network', 'one', '--dns', '127.0.0.1', '--', 'sleep', '1000']);
    h.ctlOk(['run', '-d', '--name', 'p2', '--network', 'two', '--dns', '127.0.0.1', '--', 'sleep', '1000']);
    const ip1 = fmt('{{.NetworkSettings.Networks.one.IPAddress}}', 'multi');
    expect(ip1).toMatch(/^10\.96\.0\.\d+$/);
    expect(fmt('{{.NetworkSettings.Networks.two.IPAddress}}', 'multi')).toBe('10.97.0.50');
    const resolves = (from: string, name: string) => {
      const r = h.ctl(['exec', from, 'getent', 'hosts', name]);
      return r.status === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
    };
    const check = () => {
      // p1 (on one) resolves multi's aliases on one, not its alias on two; p2 the other way round
      expect([resolves('p1', 'a1'), resolves('p1', 'a1b'), resolves('p1', 'multi'), resolves('p1', 'b2')]).toEqual([ip1, ip1, ip1, undefined]);
      expect([resolves('p2', 'b2'), resolves('p2', 'multi'), resolves('p2', 'a1'), resolves('p2', 'a1b')]).toEqual(['10.97.0.50', '10.97.0.50', undefined, undefined]);
      // and traffic by alias reaches it (from a new sandbox each time: our bridge plugin sends no gratuitous ARP, so
      // p1's and p2's neighbour entries keep the MAC of multi's interfaces from before stop/start for a while)
      expect(h.ctl(['run', '--rm', '--network', 'one', '--', 'ping', '-c1', '-W2', 'a1b']).status).toBe(0);
      expect(h.ctl(['run', '--rm', '--network', 'two', '--', 'ping', '-c1', '-W2', 'b2']).status).toBe(0);
      expect(fmt('{{json .NetworkSettings.Networks.one.Aliases}} {{json .NetworkSettings.Networks.one.DNSNames}} {{json .NetworkSettings.Networks.two.Aliases}} {{json .NetworkSettings.Networks.two.DNSNames}} {{json .NetworkSettings.Networks.two.IPAMConfig}}', 'multi')).toBe(
        '["a1","a1b"] ["multi","a1","a1b"] ["b2"] ["multi","b2"] {"IPv4Address":"10.97.0.50"}',
      );
    };
    check();
    // state on disk: stop and start again, same aliases on the same networks, same asked address
    h.ctlOk(['stop', '-t', '1', 'multi']);
    expect(resolves('p1', 'a1')).toBeUndefined();
    expect(h.ctlOk(['start', 'multi']).trim()).toBe('multi');
    check();
    // the legacy flags still apply to the first network; network connect --alias adds names on the network connected
    h.ctlOk(['run', '-d', '--name', 'legacy', '--network', 'one', '--network', 'name=two,alias=l2', '--network-alias', 'l1', '--dns', '127.0.0.1', '--', 'sleep', '1000']);
    expect([resolves('p1', 'l1'), resolves('p1', 'l2'), resolves('p2', 'l2'), resolves('p2', 'l1')].map((x) => x?.slice(0, 8))).toEqual(['10.96.0.', undefined, '10.97.0.', undefined]);
    h.ctlOk(['network', 'connect', '--alias', 'p1two', 'two', 'p1']);
    expect(resolves('p2', 'p1two')).toMatch(/^10\.97\.0\.\d+$/);
    expect(resolves('multi', 'p1two')).toMatch(/^10\.97\.0\.\d+$/);
    // bad values: one line naming the value, exit ≠ 0, nothing made
    const one = (args: string[]) => {
      const r = h.ctl(args);
      expect(r.status, r.stderr).not.toBe(0);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      return r.stderr.trim();
    };
    expect(one(['run', '--rm', '--network', 'name=one,colour=red', '--', 'true'])).toBe('cnictl: invalid --network "name=one,colour=red": unknown key "colour" (keys: name, alias, ip, ip6, mac-address)');
    expect(one(['run', '--rm', '--network', 'one', '--network', 'name=bridge,alias=x', '--', 'true'])).toBe('cnictl: --network name=bridge,alias=x: network-scoped aliases are only supported on user-defined networks, not the default network bridge');
    expect(one(['run', '--rm', '--network', 'name=one,alias=bad!', '--', 'true'])).toBe('cnictl: invalid --network "name=one,alias=bad!": alias "bad!" is not a valid name: use letters, digits, _ . -');
    expect(one(['run', '--rm', '--network', 'name=one,alias=x', '--network-alias', 'y', '--', 'true'])).toMatch(/^cnictl: conflicting options: --network-alias and alias= in --network name=one/);
    expect(one(['run', '--rm', '--network', 'one', '--network', 'name=two,ip=10.97.0.50', '--', 'true'])).toBe('cnictl: ip=10.97.0.50 is already in use on network two by sandbox multi: choose another address, or leave ip= out for a free one');
    expect(h.ctlOk(['ps', '-a', '--format', '{{.Names}}']).trim().split('\n').sort()).toEqual(['legacy', 'multi', 'p1', 'p2']);
    h.ctlOk(['rm', '-f', 'multi', 'p1', 'p2', 'legacy']);
    expectNothingLeft('one', 'two');
  });

  it('logs --since/--until: RFC 3339 (Z, offset, fraction), Unix and relative times, before --tail; -f stops at --until; bad values refused', async () => {
    await start('dsince');
    h.ctlOk(['network', 'create', '--subnet', '10.98.0.0/24', 'app']);
    h.ctlOk(['run', '-d', '--name', 'ticker', '--network', 'app', '--', 'sh', '-c', 'echo one; sleep 1; echo two; sleep 1; echo three; sleep 4; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo "tick $i"; sleep 0.2; done']);
    const stamped = (args: string[] = []) =>
      h
        .ctlOk(['logs', '-t', ...args, 'ticker'])
        .split('\n')
        .filter(Boolean)
        .map((l) => ({ t: Date.parse(l.slice(0, l.indexOf(' '))), line: l.slice(l.indexOf(' ') + 1) }));
    await until('a tick', () => h.ctlOk(['logs', 'ticker']).includes('tick 1\n'), 60_000);
    const [t1, t2, t3] = stamped().slice(0, 3).map((r) => r.t) as [number, number, number];
    expect(stamped().slice(0, 3).map((r) => r.line)).toEqual(['one', 'two', 'three']);
    // a second at least between them (sleep 1): the midpoints lie strictly between
    const mid12 = Math.floor((t1 + t2) / 2);
    const mid23 = Math.floor((t2 + t3) / 2);
    const iso = (ms: number) => new Date(ms).toISOString();
    const offset = (ms: number, minutes: number) => `${new Date(ms + minutes * 60_000).toISOString().slice(0, -1)}${minutes < 0 ? '-' : '+'}${String(Math.floor(Math.abs(minutes) / 60)).padStart(2, '0')}:${String(Math.abs(minutes) % 60).padStart(2, '0')}`;
    const logs = (...args: string[]) => h.ctlOk(['logs', ...args, 'ticker']);
    expect(logs('--since', iso(mid12), '--until', iso(mid23))).toBe('two\n');
    expect(logs('--until', offset(mid23, 90))).toBe('one\ntwo\n');
    expect(logs('--since', offset(mid12, -330), '--until', offset(mid23, -330))).toBe('two\n');
    expect(logs('--since', (mid12 / 1000).toFixed(3), '--until', (mid23 / 1000).toFixed(3))).toBe('two\n');
    expect(logs('--until', String(Math.floor(t1 / 1000) - 1))).toBe('');
    expect(logs('--since', '0', '--until', iso(mid23))).toBe('one\ntwo\n');
    // the window first, then --tail (Docker's order)
    expect(logs('--until', iso(mid23), '--tail', '1')).toBe('two\n');
    expect(logs('--since', iso(mid12), '--tail', '1')).toMatch(/^tick \d+\n$/);
    // relative: --since 3s (3 s before the command ran) has no "one" (written ≥ 4 s before) and every line of those 3 s
    await until('4 s after "three"', () => Date.now() - t3 > 4500);
    const before = Date.now();
    const recent = stamped(['--since', '3s']);
    const after = Date.now();
    const all = stamped();
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.every((r) => r.t >= before - 3000 && /^tick \d+$/.test(r.line))).toBe(true);
    const expected = all.filter((r) => r.t >= after - 3000 && r.t <= before).map((r) => r.line);
    expect(recent.map((r) => r.line)).toEqual(expect.arrayContaining(expected));
    // --until 3s: everything up to 3 s before now, "one" included
    const older = stamped(['--until', '3s']);
    expect(older.slice(0, 3).map((r) => r.line)).toEqual(['one', 'two', 'three']);
    expect(older.every((r) => r.t <= Date.now() - 3000)).toBe(true);
    expect(logs('--since', '1h30m', '--tail', '3').split('\n').filter(Boolean)).toHaveLength(3);
    expect(logs('--since', '1.5h').startsWith('one\ntwo\nthree\n')).toBe(true);
    // -f with --until in the past ends at once; with --until 2 s ahead it follows until then and ends, the sandbox running on
    const past = h.ctlSpawn(['logs', '-f', '--until', iso(mid23), 'ticker']);
    expect(await past.done).toBe(0);
    expect(past.stdout).toBe('one\ntwo\n');
    const until2 = Date.now() + 2000;
    const ahead = h.ctlSpawn(['logs', '-f', '--since', iso(until2 - 1500), '--until', iso(until2), 'ticker']);
    expect(await ahead.done).toBe(0);
    expect(Date.now()).toBeGreaterThanOrEqual(until2);
    expect(ahead.stdout).toMatch(/^(tick \d+\n)+$/);
    expect(fmt('{{.State.Status}}', 'ticker')).toBe('running');
    // bad values: one line naming the value and the accepted forms
    for (const [flag, v] of [['--since', 'yesterday'], ['--until', '10x'], ['--since', '2026-12-07T08:00:00+0100']]) {
      const r = h.ctl(['logs', flag!, v!, 'ticker']);
      expect(r.status).not.toBe(0);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr.trim()).toBe(`cnictl: invalid ${flag} ${JSON.stringify(v)}: expected an RFC 3339 time (2026-12-07T08:00:00Z, 2026-12-07T09:00:00.5+01:00), a Unix timestamp (1765094400, 1765094400.5) or a duration before now (10m, 1h30m, 1.5h, 250ms)`);
    }
    h.ctlOk(['rm', '-f', 'ticker']);
    expectNothingLeft('app');
  });

  it('logs -f follows, --tail, stdout and stderr apart; start brings the published port and address back; restart; rename', async () => {
    await start('dlogs');
    h.ctlOk(['network', 'create', '--subnet', '10.95.0.0/24', 'app']);
    h.ctlOk(['run', '-d', '--name', 'talker', '--network', 'app', '--', 'sh', '-c', 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; sleep 0.1; done']);
    await until('some output', () => h.ctlOk(['logs', 'talker']).includes('out 3'));
    const logs = h.ctl(['logs', 'talker']);
    expect(logs.stdout).toMatch(/^out 1\nout 2\nout 3\n/);
    expect(logs.stdout).not.toContain('err');
    expect(logs.stderr).toMatch(/^err 1\nerr 2\nerr 3\n/);
    const t2 = h.ctl(['logs', '--tail', '2', 'talker']);
    expect(t2.stdout.split('\n').filter(Boolean).length + t2.stderr.split('\n').filter(Boolean).length).toBe(2);
    expect(h.ctl(['logs', '-n', '0', 'talker'])).toMatchObject({ stdout: '', stderr: '' });
    expect(h.ctlOk(['logs', '-t', '--tail', '1', 'talker'])).toMatch(/^(\d{4}-\d\d-\d\dT\S+Z out \d+\n)?$/);
    // -f: lines written after it started arrive; it ends when the sandbox stops
    const follow = h.ctlSpawn(['logs', '-f', '--tail', '1', 'talker']);
    const seen = Number(/out (\d+)\n$/.exec(h.ctlOk(['logs', 'talker']))![1]);
    await follow.waitFor(new RegExp(`out ${seen + 5}\\n`));
    h.ctlOk(['stop', '-t', '1', 'talker']);
    expect(await follow.done).toBe(0);
    expect(follow.stderr).toMatch(/err \d+\n/);

    // start: same name, network, address, published port; the port answers again
    await server('web', ['--network', 'app', '-p', '8090:80', '-p', '80']);
    const before = fmt('{{.Id}} {{.NetworkSettings.Networks.app.IPAddress}} {{json .NetworkSettings.Ports}}', 'web');
    expect(client('127.0.0.1', 8090)).toBe('hello from web');
    h.ctlOk(['stop', 'web']);
    expect(client('127.0.0.1', 8090)).toMatch(/ERR|TIMEOUT/);
    expect(leases('app')).toEqual([]);
    expect(h.ctlOk(['start', 'web']).trim()).toBe('web');
    await until('web ready again', () => (h.ctlOk(['logs', 'web']).match(/ready/g) ?? []).length === 2);
    expect(fmt('{{.Id}} {{.NetworkSettings.Networks.app.IPAddress}} {{json .NetworkSettings.Ports}}', 'web')).toBe(before);
    expect(client('127.0.0.1', 8090)).toBe('hello from web');
    expect(h.ctlOk(['start', 'web']).trim()).toBe('web'); // running already: nothing to do, as Docker
    // restart and rename: a peer resolves the new name
    const pid = fmt('{{.State.Pid}}', 'web');
    h.ctlOk(['restart', '-t', '1', 'web']);
    expect(fmt('{{.State.Pid}}', 'web')).not.toBe(pid);
    await until('web ready a third time', () => (h.ctlOk(['logs', 'web']).match(/ready/g) ?? []).length === 3);
    expect(client('127.0.0.1', 8090)).toBe('hello from web');
    h.ctlOk(['run', '-d', '--name', 'peer', '--network', 'app', '--dns', '127.0.0.1', '--', 'sleep', '1000']);
    h.ctlOk(['rename', 'web', 'api']);
    expect(h.ctlOk(['exec', 'peer', 'getent', 'hosts', 'api']).trim()).toMatch(/^10\.95\.0\.\d+\s+api$/);
    expect(h.ctl(['exec', 'peer', 'getent', 'hosts', 'web']).status).not.toBe(0);
    expect(h.ctl(['rename', 'api', 'peer']).stderr.trim()).toMatch(/^cnictl: the name peer is already in use by sandbox [0-9a-f]{12}: remove it \(cnictl rm peer\) or choose another name$/);
    expect(h.ctlOk(['ps', '--format', '{{.Names}}', '-f', 'name=api']).trim()).toBe('api');
    h.ctlOk(['rm', '-f', 'api', 'peer', 'talker']);
    expectNothingLeft('app');
  });

  it('-p 0:80 and -p RANGE:80, --add-host NAME=IP, --dns-option, resolv.conf with only 127.0.0.53, info, version, --help everywhere', async () => {
    await start('dmisc');
    h.ctlOk(['network', 'create', '--subnet', '10.96.0.0/24', 'app']);
    h.ctlOk(['network', 'create', '--subnet', '10.97.0.0/24', '--ipv6', 'app6']);
    // -p 0:80 (any free port) and -p 9100-9102:80 with 9100 taken by another sandbox: 9101
    await server('first', ['--network', 'app', '-p', '9100:80']);
    const r = h.ctl(['run', '-d', '--name', 'web', '--network', 'app', '-p', '0:80', '-p', '9100-9102:81', '--add-host', 'db.local=10.9.9.9', '--add-host', 'v6=fd00::9', '--dns-option', 'ndots:3', '--dns-option', 'timeout:1', '--', 'node', '-e', SERVER2, 'web']);
    expect(r.status, r.stderr).toBe(0);
    await until('web ready', () => h.ctlOk(['logs', 'web']).includes('ready'));
    const m = /publishes 0\.0\.0\.0:(\d+)->80\/tcp, 0\.0\.0\.0:9101->81\/tcp/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(32768);
    expect(client('127.0.0.1', m![1]!)).toBe('hello from web on 80');
    expect(client('127.0.0.1', 9101)).toBe('hello from web on 81');
    expect(client('127.0.0.1', 9100)).toBe('hello from first');
    const hosts = h.ctlOk(['exec', 'web', 'cat', '/etc/hosts']);
    expect(hosts).toContain('10.9.9.9\tdb.local\n');
    expect(hosts).toContain('fd00::9\tv6\n');
    expect(h.ctlOk(['exec', 'web', 'grep', '^options', '/etc/resolv.conf']).trim()).toBe('options ndots:3 timeout:1');
    expect(h.ctl(['run', '--rm', '--network', 'app', '-p', '9100-9100:80', '--', 'true']).stderr.trim()).toBe('cnictl: host port 9100/tcp is already published by sandbox first: choose another with -p');
    expect(h.ctl(['run', '--rm', '--network', 'app', '-p', '9100-9101:80', '--', 'true']).stderr.trim()).toBe('cnictl: no free host port in 9100-9101/tcp for container port 80: every one is published or in use; choose another range with -p');

    // systemd-resolved's stub alone: the upstream file when it exists, else Docker's fallback (and IPv6 ones on IPv6)
    h.shOk('sh', ['-c', 'rm -rf /etc/resolv.conf /run/systemd/resolve; printf "nameserver 127.0.0.53\\noptions edns0 trust-ad\\nsearch corp.example\\n" > /etc/resolv.conf']);
    const fb = h.ctl(['run', '--rm', '--network', 'app', '--', 'cat', '/etc/resolv.conf']);
    expect(fb.stdout).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0 trust-ad\nsearch corp.example\n\n# Used default nameservers.\n');
    expect(fb.stderr.trim()).toBe("cnictl: note: the host's resolv.conf lists only loopback nameservers (127.0.0.53), which a sandbox cannot reach, and there is no /run/systemd/resolve/resolv.conf: the sandbox uses 8.8.8.8, 8.8.4.4 (choose with --dns)");
    expect(h.ctlOk(['run', '--rm', '--network', 'app6', '--', 'grep', '-c', '^nameserver', '/etc/resolv.conf']).trim()).toBe('4');
    expect(h.ctlOk(['run', '--rm', '--network', 'app6', '--', 'cat', '/etc/resolv.conf'])).toContain('nameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n');
    h.shOk('sh', ['-c', 'mkdir -p /run/systemd/resolve && printf "nameserver 192.0.2.53\\nsearch corp.example\\n" > /run/systemd/resolve/resolv.conf']);
    const up = h.ctl(['run', '--rm', '--network', 'app', '--', 'cat', '/etc/resolv.conf']);
    expect(up.stdout).toBe("nameserver 192.0.2.53\nsearch corp.example\n\n# Based on host file: '/run/systemd/resolve/resolv.conf'\n");
    expect(up.stderr).toBe('');
    expect(h.ctlOk(['run', '--rm', '--network', 'host', '--', 'cat', '/etc/resolv.conf'])).toMatch(/^nameserver 127\.0\.0\.53\n/); // host mode reaches the stub

    // info: the network plugins on CNI_PATH (Docker's "Plugins: Network:"); version
    const info = h.ctlOk(['info']);
    expect(info).toMatch(/^ {2}Network: .*\bbridge\b.*\bhost-local\b.*\bportmap\b/m);
    expect(info).toMatch(/^ Sandboxes: 2\n {2}Running: 2\n/m);
    expect(JSON.parse(h.ctlOk(['info', '--format', '{{json .Plugins.Network}}']))).toEqual(expect.arrayContaining(['bridge', 'macvlan', 'ipvlan', 'host-local', 'portmap', 'firewall', 'tuning', 'bandwidth', 'ptp', 'loopback']));
    expect(JSON.parse(h.ctlOk(['info', '--format', '{{json .Plugins.Network}}']))).not.toContain('cnictl');
    expect(h.ctlOk(['version', '--format', '{{.Client.Version}}']).trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(h.ctlOk(['version'])).toMatch(/CNI spec versions: .*1\.1\.0/);

    // --help on every command and subcommand: usage on stdout, exit 0, nothing done
    const helps = [
      [], ['run'], ['exec'], ['ps'], ['inspect'], ['container'], ['container', 'inspect'], ['container', 'ls'], ['port'], ['logs'], ['stop'], ['start'], ['restart'], ['rename'], ['rm'],
      ['system'], ['system', 'prune'], ['info'], ['version'], ['network'], ['network', 'create'], ['network', 'ls'], ['network', 'inspect'], ['network', 'rm'], ['network', 'prune'],
      ['network', 'connect'], ['network', 'disconnect'], ['add'], ['check'], ['del'], ['gc'], ['status'],
    ];
    for (const cmd of helps) {
      const x = h.ctl([...cmd, '--help']);
      expect(x.status, cmd.join(' ')).toBe(0);
      expect(x.stdout, cmd.join(' ')).toMatch(/^Usage: cnictl /);
      expect(x.stderr, cmd.join(' ')).toBe('');
    }
    expect(h.ctlOk(['system', 'prune', '--help'])).toContain('system prune');
    expect(h.ctlOk(['ps', '--format', '{{.Names}}']).trim().split('\n').sort()).toEqual(['first', 'web']); // nothing was pruned or stopped
    h.ctlOk(['rm', '-f', 'first', 'web']);
    expectNothingLeft('app', 'app6');
  });

  it('container: mode outlives its target with only lo; config.json mtu without bip, unknown keys refused; connect/disconnect/--ip messages; --ip outside --ip-range', async () => {
    await start('dmode');
    h.ctlOk(['network', 'create', '--subnet', '10.98.0.0/24', '--ip-range', '10.98.0.128/25', 'app']);
    // Docker's tutorial: a container joined to another's network keeps running with only lo when that one stops
    h.ctlOk(['run', '-d', '--name', 'target', '--network', 'app', '--', 'sleep', '1000']);
    h.ctlOk(['run', '-d', '--name', 'joined', '--network', 'container:target', '--', 'sleep', '1000']);
    expect(h.ctlOk(['exec', 'joined', 'ip', '-o', 'link']).trim().split('\n')).toHaveLength(2);
    h.ctlOk(['stop', '-t', '1', 'target']);
    expect(h.ctlOk(['ps', '-a', '--format', '{{.Names}} {{.State}}']).trim().split('\n').sort()).toEqual(['joined running', 'target exited']);
    const links = h.ctlOk(['exec', 'joined', 'ip', '-o', 'link']).trim().split('\n');
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/^1: lo: /);
    expect(leases('app')).toEqual([]);
    h.ctlOk(['rm', '-f', 'joined', 'target']);

    // messages: one line, true, actionable
    h.ctlOk(['run', '-d', '--name', 's', '--network', 'app', '--ip', '10.98.0.5', '--', 'sleep', '1000']); // outside --ip-range, inside the subnet
    expect(fmt('{{.NetworkSettings.Networks.app.IPAddress}}', 's')).toBe('10.98.0.5');
    expect(h.ctlOk(['exec', 's', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toContain('10.98.0.5/24');
    h.ctlOk(['run', '-d', '--name', 'dyn', '--network', 'app', '--', 'sleep', '1000']);
    expect(Number(fmt('{{.NetworkSettings.Networks.app.IPAddress}}', 'dyn').split('.')[3])).toBeGreaterThanOrEqual(128); // dynamic ones stay in the range
    const one = (args: string[]) => {
      const x = h.ctl(args);
      expect(x.status, args.join(' ')).not.toBe(0);
      expect(x.stderr.trim().split('\n'), x.stderr).toHaveLength(1);
      return x.stderr.trim();
    };
    expect(one(['network', 'connect', 'host', 's'])).toBe('cnictl: sandbox s cannot be connected to the host network: host and none are chosen when a sandbox starts (cnictl run --network host ...)');
    expect(one(['network', 'disconnect', 'nosuchnet', 's'])).toBe('cnictl: network nosuchnet not found: see "cnictl network ls"');
    expect(one(['run', '--rm', '--network', 'app', '--ip', '10.98.0.5', '--', 'true'])).toBe('cnictl: --ip 10.98.0.5 is already in use on network app by sandbox s: choose another address, or leave --ip out for a free one');
    expect(one(['run', '--rm', '--network', 'app', '--ip', '10.98.0.1', '--', 'true'])).toBe('cnictl: --ip 10.98.0.1 is the gateway of network app: choose another address');
    expect(one(['network', 'connect', '--ip', '10.98.0.5', 'app', 'dyn'])).toBe('cnictl: sandbox dyn is already attached to network app');
    h.ctlOk(['rm', '-f', 's', 'dyn']);
    expectNothingLeft('app');

    // config.json: mtu applies with bip unchanged (none given); unknown keys are refused naming the key
    h.shOk('sh', ['-c', 'mkdir -p /etc/cnictl && echo \'{"mtu": 1400}\' > /etc/cnictl/config.json']);
    const mtu = (out: string) => /mtu (\d+)/.exec(out)?.[1];
    expect(mtu(h.ctlOk(['run', '--rm', '--', 'ip', '-o', 'link', 'show', 'eth0']))).toBe('1400');
    h.shOk('sh', ['-c', 'rm -f /etc/resolv.conf; echo "nameserver 10.0.0.1" > /etc/resolv.conf; echo \'{"mtu": 1300, "dns": ["192.0.2.99"], "dns-opts": ["ndots:1"]}\' > /etc/cnictl/config.json']);
    const out = h.ctlOk(['run', '--rm', '--', 'sh', '-c', 'ip -o link show eth0; cat /etc/resolv.conf']);
    expect(mtu(out)).toBe('1300');
    expect(out.split('\n').slice(1).join('\n')).toBe('nameserver 192.0.2.99\noptions ndots:1\n');
    h.shOk('sh', ['-c', 'echo \'{"mtu": 1300, "default-gateway": "172.17.0.254"}\' > /etc/cnictl/config.json']);
    expect(one(['run', '--rm', '--', 'true'])).toBe('cnictl: "default-gateway" in /etc/cnictl/config.json is not supported by cnictl (it knows bip, mtu, fixed-cidr, ip-masq, dns, dns-search, dns-opts): remove it');
    h.shOk('sh', ['-c', 'echo \'{"fixed-cidr": "10.99.7.0/24", "bip": "10.99.0.1/16"}\' > /etc/cnictl/config.json']);
    expect(h.ctlOk(['run', '--rm', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toMatch(/inet 10\.99\.7\.\d+\/16/);
    expectNothingLeft('bridge');
  });
});
