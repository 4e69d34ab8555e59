/**
 * Docker's isolation of bridge networks, for real, inside a throwaway host netns and a private mount namespace — on a
 * host whose FORWARD policy is ACCEPT and on one where it is DROP (Docker's and ufw's): sandboxes on different
 * networks (the default `bridge` one included) cannot connect (TCP) or ping each other; a sandbox on both reaches
 * both; published ports answer from the host, from outside and by hairpin; an --internal network reaches neither the
 * outside nor other networks. The rules come from the network's conflist (the firewall's ingressPolicy same-bridge),
 * so the cnitool-compatible runtime gets the same isolation; removing the networks removes their rules.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CnictlHost } from '../helpers/cnictl.js';
import { haveGoPlugins, isRoot, sh } from '../helpers/harness.js';

let h: CnictlHost;
afterEach(() => {
  h?.cleanup();
  expect(sh('ip', ['netns', 'list']).stdout).not.toMatch(/cnictl-/);
});

/** A TCP server on :80 answering "hello from NAME"; prints "ready". */
const SERVER = `require('net').createServer((s) => s.end('hello from ' + process.argv[1] + '\\n')).listen(80, () => console.log('ready'))`;
/** HOST PORT: the answer, or ERR <code> / TIMEOUT. */
const CLIENT = `const [host, port] = process.argv.slice(1); const done = (s) => { console.log(s); process.exit(0); };
setTimeout(() => done('TIMEOUT'), 2000);
const s = require('net').connect(Number(port), host); let b = '';
s.on('data', (d) => (b += d)); s.on('end', () => done(b.trim())); s.on('error', (e) => done('ERR ' + e.code));`;

const OUTSIDE_IP = '192.0.2.2';
const HOST_IP = '192.0.2.1';

async function server(name: string, args: string[]): Promise<string> {
  h.ctlOk(['run', '-d', '--name', name, ...args, '--', 'node', '-e', SERVER, name]);
  for (let i = 0; i < 100 && !h.ctlOk(['logs', name]).includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  expect(h.ctlOk(['logs', name])).toContain('ready');
  return ipOf(name);
}
/** A sandbox's IPv4 address on `net` (default: its only network), through inspect's Go templates. */
const ipOf = (name: string, net?: string): string =>
  h.ctlOk(['inspect', '-f', net ? `{{(index .NetworkSettings.Networks "${net}").IPAddress}}` : '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name]).trim();
/** TCP from a sandbox. */
const tcp = (from: string, host: string, port = 80): string => h.ctl(['exec', from, 'node', '-e', CLIENT, host, String(port)]).stdout.trim();
const ping = (from: string, host: string): boolean => h.ctl(['exec', from, 'ping', '-c1', '-W1', host]).status === 0;
const bridgeOf = (net: string): string => JSON.parse(h.shOk('cat', [`/etc/cni/net.d/cnictl-${net}.conflist`])).plugins[0].bridge;
const filter = (): string => h.shOk('iptables-save', ['-t', 'filter']) + h.shOk('ip6tables-save', ['-t', 'filter']);

describe.skipIf(!isRoot).each(['ACCEPT', 'DROP'])('cnictl network isolation (FORWARD policy %s)', (policy) => {
  it('other networks and the default one are unreachable; a sandbox on both reaches both; published ports answer from the host, outside and by hairpin; --internal reaches nothing', async () => {
    h = new CnictlHost('iso');
    await h.start();
    const outside = h.net.addOutside([`${HOST_IP}/24`], [`${OUTSIDE_IP}/24`]);
    h.shOk('ip', ['route', 'add', 'default', 'via', OUTSIDE_IP]);
    h.shOk('iptables', ['-P', 'FORWARD', policy]);
    h.shOk('ip6tables', ['-P', 'FORWARD', policy]);
    h.ctlOk(['network', 'create', '--subnet', '10.91.0.0/24', 'a']);
    h.ctlOk(['network', 'create', '--subnet', '10.92.0.0/24', 'b']);
    h.ctlOk(['network', 'create', '--subnet', '10.93.0.0/24', '--internal', 'in']);
    const ipA = await server('sa', ['--network', 'a', '-p', '8080:80']);
    const ipB = await server('sb', ['--network', 'b']);
    const ipI = await server('si', ['--network', 'in']);
    const ipD = await server('sd', ['-p', '8081:80']); // the default network "bridge"
    h.ctlOk(['run', '-d', '--name', 'both', '--network', 'a', '--network', 'b', '--', 'sleep', '1000']);

    // across networks: neither TCP nor ping, in both directions, the default network included
    for (const [from, to] of [['sb', ipA], ['sa', ipB], ['sd', ipA], ['sd', ipB], ['sa', ipD], ['sb', ipD], ['sa', ipI], ['si', ipA]] as const) {
      expect(tcp(from, to), `${from} -> ${to}`).not.toMatch(/hello/);
      expect(ping(from, to), `${from} ping ${to}`).toBe(false);
    }
    // a sandbox on both networks reaches both
    expect(tcp('both', ipA)).toBe('hello from sa');
    expect(tcp('both', ipB)).toBe('hello from sb');
    expect(ping('both', ipA) && ping('both', ipB)).toBe(true);
    // published ports: from the host, from outside, by hairpin, and (as Docker's userland proxy does) from another network
    expect(h.shOk('node', ['-e', CLIENT, '127.0.0.1', '8080']).trim()).toBe('hello from sa');
    expect(h.net.exec(outside, 'node', ['-e', CLIENT, HOST_IP, '8080']).stdout.trim()).toBe('hello from sa');
    expect(h.net.exec(outside, 'node', ['-e', CLIENT, HOST_IP, '8081']).stdout.trim()).toBe('hello from sd');
    expect(tcp('sa', HOST_IP, 8080)).toBe('hello from sa');
    expect(tcp('sb', HOST_IP, 8080)).toBe('hello from sa');
    // the outside, masqueraded; but not from the internal network, which the host still reaches (as Docker's)
    expect(ping('sa', OUTSIDE_IP)).toBe(true);
    expect(ping('sd', OUTSIDE_IP)).toBe(true);
    expect(ping('si', OUTSIDE_IP)).toBe(false);
    expect(h.shOk('node', ['-e', CLIENT, ipI, '80']).trim()).toBe('hello from si');

    // the rules that do it: the firewall's isolation chains name every bridge
    const rules = filter();
    for (const n of ['a', 'b', 'in']) expect(rules).toContain(`-A CNI-ISOLATION-STAGE-2 -o ${bridgeOf(n)} `);
    expect(rules).toContain('-A CNI-ISOLATION-STAGE-2 -o cnictl0 ');

    // removed: sandboxes, then the networks take their bridges and isolation rules with them
    const bridges = ['a', 'b', 'in'].map(bridgeOf);
    h.ctlOk(['rm', '-f', 'sa', 'sb', 'si', 'sd', 'both']);
    h.ctlOk(['network', 'rm', 'a', 'b', 'in']);
    const after = filter();
    for (const br of bridges) {
      expect(after).not.toContain(br);
      expect(h.sh('ip', ['link', 'show', br]).status).not.toBe(0);
    }
    for (const ip of [ipA, ipB, ipI, ipD]) expect(after).not.toContain(`${ip}/32`);
    expect(h.netnsList()).toEqual([]);
  });
});

describe.skipIf(!isRoot)('the isolation is in the conflist', () => {
  it('the cnitool-compatible runtime (our plugins, and the Go reference plugins) gets it too', async () => {
    h = new CnictlHost('iso');
    await h.start();
    const runs: Array<[string, Record<string, string>]> = [['ours', {}]];
    if (haveGoPlugins) runs.push(['go', { CNI_PATH: '/usr/lib/cni' }]);
    for (const [label, env] of runs) {
      h.ctlOk(['network', 'create', '--subnet', '10.94.0.0/24', `${label}1`], { env });
      h.ctlOk(['network', 'create', '--subnet', '10.95.0.0/24', `${label}2`], { env });
      const conf = JSON.parse(h.shOk('cat', [`/etc/cni/net.d/cnictl-${label}1.conflist`]));
      expect(conf.plugins.find((p: any) => p.type === 'firewall')).toMatchObject({ ingressPolicy: 'same-bridge' });
      for (const ns of ['x1', 'x2', 'y2']) h.shOk('ip', ['netns', 'add', ns]);
      const add = (net: string, ns: string) => JSON.parse(h.ctlOk(['add', net, `/run/netns/${ns}`], { env: { ...env, CNI_CONTAINERID: ns } })).ips[0].address.split('/')[0];
      add(`${label}1`, 'x1');
      const ip2 = add(`${label}2`, 'x2');
      const ipY = add(`${label}2`, 'y2');
      // the isolation rules are what CHECK expects (ours only: Debian's Go bandwidth 1.1.1 panics on CHECK without a limit)
      if (label === 'ours') h.ctlOk(['check', `${label}1`, '/run/netns/x1'], { env: { ...env, CNI_CONTAINERID: 'x1' } });
      const pingFrom = (ns: string, ip: string) => h.sh('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W1', ip]).status === 0;
      expect(pingFrom('x1', ip2), label).toBe(false);
      expect(pingFrom('x2', ipY), label).toBe(true);
      for (const [net, ns] of [[`${label}1`, 'x1'], [`${label}2`, 'x2'], [`${label}2`, 'y2']] as const) h.ctlOk(['del', net, `/run/netns/${ns}`], { env: { ...env, CNI_CONTAINERID: ns } });
      for (const ns of ['x1', 'x2', 'y2']) h.shOk('ip', ['netns', 'del', ns]);
      h.ctlOk(['network', 'rm', `${label}1`, `${label}2`], { env });
    }
    expect(filter()).not.toMatch(/-o br-/);
  });
});
