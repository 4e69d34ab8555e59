/**
 * cnictl on a host that is not empty, for real, inside a throwaway host netns and a private mount namespace: links
 * that are not its own (an uplink carrying the default route, a veth, an ifb, bridges someone else made — one up
 * with an address, one down) are never deleted or changed; a bridge cnictl made goes with its network; two networks
 * never share a bridge; a bip overlapping a network, or a -p address the host does not have, is refused before
 * anything is made; ps never shows a sandbox whose init is dead as Up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CnictlHost } from '../helpers/cnictl.js';
import { isRoot, sh } from '../helpers/harness.js';

let h: CnictlHost;
afterEach(() => {
  h?.cleanup();
  expect(sh('ip', ['netns', 'list']).stdout).not.toMatch(/cnictl-/);
});

const one = (r: { stderr: string }) => r.stderr.trim().split('\n').length === 1;
const files = () => h.shOk('ls', ['/etc/cni/net.d']).split('\n').filter(Boolean);
const records = () => h.sh('ls', ['/var/lib/cnictl/networks']).stdout.split('\n').filter(Boolean);
/** A link as `ip` sees it: kind, up or down, and every address. */
const linkState = (name: string) => {
  const [l] = JSON.parse(h.shOk('ip', ['-j', '-d', 'addr', 'show', 'dev', name]));
  return { kind: l.linkinfo?.info_kind, up: l.flags.includes('UP'), addrs: l.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`).sort() };
};
const links = () => JSON.parse(h.shOk('ip', ['-j', 'link', 'show'])).map((l: any) => l.ifname).sort();

describe.skipIf(!isRoot)('cnictl never harms the host', () => {
  it('network create over a link that is not a bridge is refused naming it; rm deletes only bridges cnictl made; found bridges are left as found', async () => {
    h = new CnictlHost('safe');
    await h.start();
    h.net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24']);
    h.shOk('ip', ['route', 'add', 'default', 'via', '192.0.2.2']);
    h.shOk('ip', ['link', 'add', 'vx0', 'type', 'veth', 'peer', 'name', 'vx1']);
    h.shOk('ip', ['link', 'add', 'ifb7', 'type', 'ifb']);
    // two bridges someone else made: one up with an address of its own, one down and bare
    h.shOk('ip', ['link', 'add', 'hostbr0', 'type', 'bridge']);
    h.shOk('ip', ['addr', 'add', '198.51.100.1/24', 'dev', 'hostbr0']);
    h.shOk('ip', ['link', 'set', 'hostbr0', 'up']);
    h.shOk('ip', ['link', 'add', 'hostbr1', 'type', 'bridge']);
    const before = { up0: linkState('up0'), vx0: linkState('vx0'), ifb7: linkState('ifb7'), hostbr0: linkState('hostbr0'), hostbr1: linkState('hostbr1') };
    const linksBefore = links();

    // not a bridge: refused at create, naming the link and its type; nothing written
    for (const [link, type] of [['up0', 'veth'], ['vx0', 'veth'], ['ifb7', 'ifb']]) {
      const r = h.ctl(['network', 'create', '-o', `com.docker.network.bridge.name=${link}`, 'bad']);
      expect(r.status, link).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`bridge ${link} already exists as a ${type} link, not a bridge: choose another name`));
      expect(one(r), r.stderr).toBe(true);
    }
    expect(files()).toEqual([]);
    expect(records()).toEqual([]);

    // a found bridge with an IPv4 address of its own: the gateway cannot go beside it (the bridge plugin would have to
    // delete the owner's address): refused at create, with the way that works
    const clash = h.ctl(['network', 'create', '--subnet', '10.61.0.0/24', '-o', 'com.docker.network.bridge.name=hostbr0', 'onbr0']);
    expect(clash.stderr).toMatch(/bridge hostbr0 already has the address 198\.51\.100\.1\/24, and the gateway 10\.61\.0\.1\/24 cannot go beside it without removing it: use its subnet \(--subnet 198\.51\.100\.0\/24 --gateway 198\.51\.100\.1\) or another bridge/);
    expect(one(clash), clash.stderr).toBe(true);
    expect(files()).toEqual([]);
    // bridges that were there: used, then left exactly as found (addresses, up/down) by network rm
    h.ctlOk(['network', 'create', '--subnet', '198.51.100.0/24', '--gateway', '198.51.100.1', '-o', 'com.docker.network.bridge.name=hostbr0', 'onbr0']);
    h.ctlOk(['network', 'create', '--subnet', '10.62.0.0/24', '-o', 'com.docker.network.bridge.name=hostbr1', 'onbr1']);
    // a third network on the same bridge: refused, naming the network that has it
    const dup = h.ctl(['network', 'create', '--subnet', '10.63.0.0/24', '-o', 'com.docker.network.bridge.name=hostbr1', 'again']);
    expect(dup.stderr).toMatch(/bridge hostbr1 is already used by network onbr1: two networks cannot share a bridge/);
    expect(one(dup), dup.stderr).toBe(true);
    expect(h.ctl(['network', 'create', '-o', 'com.docker.network.bridge.name=cnictl0', 'again']).stderr).toMatch(/bridge cnictl0 is already used by network bridge/);
    // a network of cnictl's own: its bridge exists from create on (as Docker's), and goes with it
    const id = h.ctlOk(['network', 'create', '--subnet', '10.64.0.0/24', 'own']).trim();
    const own = `br-${id.slice(0, 12)}`;
    expect(linkState(own).kind).toBe('bridge');
    // its Docker-style bridge name (from its ID) is taken too
    expect(h.ctl(['network', 'create', '--subnet', '10.66.0.0/24', '-o', `com.docker.network.bridge.name=${own}`, 'again']).stderr).toMatch(new RegExp(`bridge ${own} is already used by network own`));

    for (const net of ['onbr0', 'onbr1', 'own']) {
      const r = h.ctl(['run', '--rm', '--network', net, '--', 'ping', '-c1', '-W2', net === 'onbr0' ? '198.51.100.1' : net === 'onbr1' ? '10.62.0.1' : '10.64.0.1']);
      expect(r.status, `${net}: ${r.stderr}`).toBe(0);
    }
    expect(linkState('hostbr1')).toMatchObject({ up: true, addrs: expect.arrayContaining(['10.62.0.1/24']) }); // the gateway, while the network exists
    expect(h.ctlOk(['network', 'rm', 'onbr0', 'onbr1', 'own']).trim()).toBe('onbr0\nonbr1\nown');
    expect(linkState('hostbr0')).toEqual(before.hostbr0);
    expect(linkState('hostbr1')).toEqual(before.hostbr1);
    expect(h.sh('ip', ['link', 'show', own]).status).not.toBe(0);
    for (const l of ['up0', 'vx0', 'ifb7'] as const) expect(linkState(l)).toEqual(before[l]);
    expect(links()).toEqual(linksBefore);
    expect(h.shOk('ip', ['route', 'show', 'default'])).toMatch(/^default via 192\.0\.2\.2 dev up0/);
    expect(files()).toEqual([]);
    expect(records()).toEqual([]);
    const rules = h.shOk('iptables-save', ['-t', 'filter']);
    for (const br of ['hostbr0', 'hostbr1', own]) expect(rules).not.toContain(br);

    // a network cnictl has no record of (written by an older cnictl): its bridge is left, and it says so
    // (removed by an ID prefix, as "network ls" shows IDs: the same rules and warnings)
    const legacyId = h.ctlOk(['network', 'create', '--subnet', '10.65.0.0/24', 'legacy']).trim();
    const legacyBr = JSON.parse(h.shOk('cat', ['/etc/cni/net.d/cnictl-legacy.conflist'])).plugins[0].bridge;
    h.shOk('rm', ['/var/lib/cnictl/networks/legacy.json']);
    const rm = h.ctl(['network', 'rm', legacyId.slice(0, 8)]);
    expect(rm.status, rm.stderr).toBe(0);
    expect(rm.stdout.trim()).toBe(legacyId.slice(0, 8));
    expect(files()).toEqual([]);
    expect(rm.stderr).toMatch(new RegExp(`cnictl: legacy: left bridge ${legacyBr} in place: cnictl has no record of creating it`));
    expect(linkState(legacyBr).kind).toBe('bridge');
  });

  it('the default network: cnictl0 is made at first use and kept; a bip overlapping a network is refused at first use, naming it', async () => {
    h = new CnictlHost('safe');
    await h.start();
    h.ctlOk(['network', 'create', '--subnet', '10.70.0.0/24', 'used']);
    h.shOk('bash', ['-c', 'mkdir -p /etc/cnictl && echo \'{"bip": "10.70.0.1/16"}\' > /etc/cnictl/config.json']);
    const r = h.ctl(['run', '--rm', '--', 'true']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/bip 10\.70\.0\.1\/16 \(\/etc\/cnictl\/config\.json\) overlaps network "used" \(10\.70\.0\.0\/24\): choose a bip outside it, or remove that network/);
    expect(one(r), r.stderr).toBe(true);
    const env = h.ctl(['run', '--rm', '--', 'true'], { env: { CNICTL_BIP: '10.70.0.129/25' } });
    expect(env.stderr).toMatch(/bip 10\.70\.0\.129\/25 \(CNICTL_BIP\) overlaps network "used"/);
    // nothing made: no default network file, no cnictl0, no sandbox
    expect(files()).toEqual(['cnictl-used.conflist']);
    expect(h.sh('ip', ['link', 'show', 'cnictl0']).status).not.toBe(0);
    expect(h.ctlOk(['ps', '-a', '-q'])).toBe('');

    h.shOk('bash', ['-c', 'echo \'{"bip": "10.71.0.1/24"}\' > /etc/cnictl/config.json']);
    const ok = h.ctl(['run', '--rm', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/10\.71\.0\.\d+\/24/);
    expect(JSON.parse(h.shOk('cat', ['/var/lib/cnictl/networks/bridge.json'])).bridge).toEqual({ name: 'cnictl0', created: true });
    // a new bip with nothing attached: rewritten; cnictl's own cnictl0 is remade on the new subnet
    h.shOk('bash', ['-c', 'echo \'{"bip": "10.72.0.1/24"}\' > /etc/cnictl/config.json']);
    expect(h.ctlOk(['run', '--rm', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toMatch(/10\.72\.0\.\d+\/24/);
    expect(linkState('cnictl0').addrs.filter((a: string) => !a.startsWith('fe80'))).toEqual(['10.72.0.1/24']);
  });

  it('the default network rewritten for new settings (mtu) releases a found cnictl0 as found, never deletes it; a fixed-cidr overlapping a network is refused', async () => {
    h = new CnictlHost('safe');
    await h.start();
    h.ctlOk(['network', 'create', '--subnet', '10.76.0.0/24', 'used']);
    // fixed-cidr without bip puts the default network on it (Docker): overlapping a network, refused at first use
    h.shOk('bash', ['-c', 'mkdir -p /etc/cnictl && echo \'{"fixed-cidr": "10.76.0.0/25"}\' > /etc/cnictl/config.json']);
    const r = h.ctl(['run', '--rm', '--', 'true']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/fixed-cidr 10\.76\.0\.0\/25 \(\/etc\/cnictl\/config\.json\) overlaps network "used" \(10\.76\.0\.0\/24\): choose a fixed-cidr outside it, or remove that network/);
    expect(one(r), r.stderr).toBe(true);
    expect(files()).toEqual(['cnictl-used.conflist']);
    expect(h.sh('ip', ['link', 'show', 'cnictl0']).status).not.toBe(0);

    // a cnictl0 someone else made (down, bare): used as found; an mtu change rewrites the network and keeps that link
    h.shOk('ip', ['link', 'add', 'cnictl0', 'type', 'bridge']);
    const ifindex = () => JSON.parse(h.shOk('ip', ['-j', 'link', 'show', 'cnictl0']))[0].ifindex;
    const index = ifindex();
    const mtu = (out: string) => /mtu (\d+)/.exec(out)?.[1];
    h.shOk('bash', ['-c', 'echo \'{"bip": "10.77.0.1/24", "mtu": 1400}\' > /etc/cnictl/config.json']);
    expect(mtu(h.ctlOk(['run', '--rm', '--', 'ip', '-o', 'link', 'show', 'eth0']))).toBe('1400');
    expect(JSON.parse(h.shOk('cat', ['/var/lib/cnictl/networks/bridge.json'])).bridge).toEqual({ name: 'cnictl0', created: false, addresses: [], up: false });
    h.shOk('bash', ['-c', 'echo \'{"bip": "10.77.0.1/24", "mtu": 1300}\' > /etc/cnictl/config.json']);
    expect(mtu(h.ctlOk(['run', '--rm', '--', 'ip', '-o', 'link', 'show', 'eth0']))).toBe('1300');
    expect(JSON.parse(h.shOk('cat', ['/etc/cni/net.d/cnictl-bridge.conflist'])).plugins[0].mtu).toBe(1300);
    expect(ifindex()).toBe(index); // the same link: released as found, not deleted and remade
    expect(JSON.parse(h.shOk('cat', ['/var/lib/cnictl/networks/bridge.json'])).bridge).toEqual({ name: 'cnictl0', created: false, addresses: [], up: false });
  });

  it('-p with an address the host does not have, or IPv6 on an IPv4-only network, is refused naming it; a host address works', async () => {
    h = new CnictlHost('safe');
    await h.start();
    const outside = h.net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24']);
    h.ctlOk(['network', 'create', '--subnet', '10.73.0.0/24', 'app']);
    const snapshot = () => ({ ns: h.netnsList(), leases: h.sh('ls', ['/var/lib/cni/networks/app']).stdout, sandboxes: h.sh('ls', ['/run/cnictl/sandboxes']).stdout, nft: h.shOk('nft', ['list', 'ruleset']) });
    const before = snapshot();
    const cases: Array<[string, RegExp]> = [
      ['10.9.9.9:8085:80', /-p 10\.9\.9\.9:8085:80\/tcp: 10\.9\.9\.9 is not an address of this host \(cannot assign requested address\)/],
      ['[::]:8085:80', /-p \[::\]:8085:80\/tcp: network app has no IPv6 subnet, so nothing can be published on the IPv6 address ::/],
      ['[::1]:8085:80', /-p \[::1\]:8085:80\/tcp: network app has no IPv6 subnet/],
    ];
    for (const [spec, re] of cases) {
      const r = h.ctl(['run', '--rm', '--network', 'app', '-p', spec, '--', 'true']);
      expect(r.status, spec).not.toBe(0);
      expect(r.stderr, spec).toMatch(re);
      expect(one(r), r.stderr).toBe(true);
    }
    expect(snapshot()).toEqual(before);
    const SERVER = `require('net').createServer((s) => s.end('hello\\n')).listen(80, () => console.log('ready'))`;
    h.ctlOk(['run', '-d', '--name', 'web', '--network', 'app', '-p', '192.0.2.1:8085:80', '--', 'node', '-e', SERVER]);
    for (let i = 0; i < 100 && !h.ctlOk(['logs', 'web']).includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    const CLIENT = `const s = require('net').connect(8085, '192.0.2.1'); let b = ''; s.on('data', (d) => (b += d)); s.on('end', () => console.log(b.trim())); s.on('error', (e) => console.log('ERR ' + e.code)); setTimeout(() => (console.log('TIMEOUT'), process.exit(0)), 3000).unref();`;
    expect(h.net.exec(outside, 'node', ['-e', CLIENT]).stdout.trim()).toBe('hello');
    // start and restart publish again: the address is checked again (the host may have lost it meanwhile)
    h.ctlOk(['stop', '-t', '1', 'web']);
    h.shOk('ip', ['addr', 'del', '192.0.2.1/24', 'dev', 'up0']);
    const gone = h.ctl(['start', 'web']);
    expect(gone.status).not.toBe(0);
    expect(gone.stderr).toMatch(/-p 192\.0\.2\.1:8085:80\/tcp: 192\.0\.2\.1 is not an address of this host \(cannot assign requested address\)/);
    expect(one(gone), gone.stderr).toBe(true);
    expect(h.netnsList()).toEqual([]);
    expect(h.ctlOk(['ps', '-q'])).toBe('');
    h.shOk('ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'up0']);
    h.ctlOk(['start', 'web']);
    for (let i = 0; i < 100 && h.ctlOk(['logs', 'web']).split('ready').length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    expect(h.net.exec(outside, 'node', ['-e', CLIENT]).stdout.trim()).toBe('hello');
    h.shOk('ip', ['addr', 'del', '192.0.2.1/24', 'dev', 'up0']);
    const restart = h.ctl(['restart', '-t', '1', 'web']);
    expect(restart.status).not.toBe(0);
    expect(restart.stderr).toMatch(/192\.0\.2\.1 is not an address of this host/);
    expect(h.ctlOk(['ps', '-a'])).toMatch(/\bweb\b.*Exited/);
    h.ctlOk(['rm', '-f', 'web']);
    expect(h.netnsList()).toEqual([]);
  });

  it('ps checks that the sandbox init is alive: killed with kill -9, it is never listed as Up', async () => {
    h = new CnictlHost('safe');
    await h.start();
    h.ctlOk(['network', 'create', '--subnet', '10.74.0.0/24', 'app']);
    for (let i = 0; i < 3; i++) {
      const id = h.ctlOk(['run', '-d', '--name', `v${i}`, '--network', 'app', '--', 'sleep', '1000']).trim();
      const st = JSON.parse(h.shOk('cat', [`/run/cnictl/sandboxes/${id}/state.json`]));
      h.shOk('kill', ['-9', String(st.pid.pid)]);
      // right away, while its supervisor is still tearing it down
      const ps = h.ctlOk(['ps']);
      expect(ps, ps).not.toMatch(new RegExp(`\\bv${i}\\b`));
      expect(h.ctlOk(['ps', '-a'])).toMatch(new RegExp(`\\bv${i}\\b.*Exited \\(137\\)`));
      expect(h.netnsList()).toEqual([]);
    }
  });
});
