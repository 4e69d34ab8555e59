/**
 * cnictl's cnitool-compatible runtime (add/check/del/gc/status), run for real inside a throwaway host netns and a
 * private mount namespace (so /etc/cni/net.d, /var/lib/cni and /run/netns are private): libcni's config loading,
 * chaining, result cache, CHECK/DEL with the cached result, GC, STATUS, rollback of a failed ADD, and interop with
 * the Go cnitool (Debian's libcni) both ways on the same attachment.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CnictlHost, cnitoolPath } from '../helpers/cnictl.js';
import { isRoot } from '../helpers/harness.js';

let h: CnictlHost;
afterEach(() => h?.cleanup());

const LIST = (over: Record<string, unknown> = {}, version = '1.0.0') => ({
  cniVersion: version,
  name: 'rt',
  plugins: [
    {
      type: 'bridge',
      bridge: 'cnirt0',
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.123.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] },
    },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
  ...over,
});

const cid = (netns: string) => `cnitool-${createHash('sha512').update(netns).digest('hex').slice(0, 20)}`;

async function start(): Promise<CnictlHost> {
  h = new CnictlHost('rt');
  return h.start();
}

function writeConf(file: string, conf: unknown): string {
  const text = JSON.stringify(conf, null, 2);
  h.shOk('bash', ['-c', 'cat > "$1"', 'sh', `/etc/cni/net.d/${file}`], { input: text });
  return text;
}

function netns(name: string): string {
  h.shOk('ip', ['netns', 'add', name]);
  return `/run/netns/${name}`;
}

const leases = (net = 'rt') => h.sh('ls', [`/var/lib/cni/networks/${net}`]).stdout.split('\n').filter((f) => /^\d/.test(f));
const cacheFiles = () => h.sh('ls', ['/var/lib/cni/results']).stdout.split('\n').filter(Boolean);
const nft = () => h.sh('nft', ['list', 'ruleset']).stdout;
const inNs = (ns: string, cmd: string, args: string[]) => h.sh('ip', ['netns', 'exec', ns, cmd, ...args]);
const PORTS = JSON.stringify({ portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });

describe.skipIf(!isRoot)('cnictl add/check/del (cnitool-compatible)', () => {
  it('ADD chains the list, caches the result in libcni format, CHECK passes then catches a removed address, DEL cleans up', async () => {
    await start();
    const bytes = writeConf('10-rt.conflist', LIST());
    const p = netns('c1');
    const add = h.ctl(['add', 'rt', p], { env: { CAP_ARGS: PORTS } });
    expect(add.status, add.stderr).toBe(0);
    const res = JSON.parse(add.stdout);
    expect(res.cniVersion).toBe('1.0.0');
    const ip = res.ips[0].address.split('/')[0];
    expect(ip).toMatch(/^10\.123\.0\./);
    expect(inNs('c1', 'ping', ['-c1', '-W2', '10.123.0.1']).status).toBe(0);
    expect(nft()).toContain(`${ip}`); // portmap's DNAT to the container
    // the cache: <net>-<cnitool id>-eth0, cniCacheV1, config = the file's bytes (base64), capability args, result
    expect(cacheFiles()).toEqual([`rt-${cid(p)}-eth0`]);
    const cache = JSON.parse(h.shOk('cat', [`/var/lib/cni/results/rt-${cid(p)}-eth0`]));
    expect(cache.kind).toBe('cniCacheV1');
    expect(cache.containerId).toBe(cid(p));
    expect(cache.ifName).toBe('eth0');
    expect(cache.networkName).toBe('rt');
    expect(Buffer.from(cache.config, 'base64').toString()).toBe(bytes);
    expect(cache.capabilityArgs).toEqual(JSON.parse(PORTS));
    expect(cache.result.ips[0].address).toBe(res.ips[0].address);
    expect(h.shOk('stat', ['-c', '%a', `/var/lib/cni/results/rt-${cid(p)}-eth0`]).trim()).toBe('600');

    expect(h.ctl(['check', 'rt', p]).status).toBe(0);
    inNs('c1', 'ip', ['addr', 'flush', 'dev', 'eth0']);
    const bad = h.ctl(['check', 'rt', p]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/cnictl: network "rt": plugin bridge failed \(CHECK\)/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);

    // DEL without CAP_ARGS reuses the cached ones, so portmap's DNAT goes too (cnitool would leak it)
    const del = h.ctl(['del', 'rt', p]);
    expect(del.status, del.stderr).toBe(0);
    expect(cacheFiles()).toEqual([]);
    expect(leases()).toEqual([]);
    expect(nft()).not.toContain(ip);
    expect(inNs('c1', 'ip', ['link', 'show', 'eth0']).status).not.toBe(0);
    expect(h.ctl(['del', 'rt', p]).status).toBe(0); // idempotent
  });

  it('loads .conf files as one-plugin lists, conflists first, sorted by file name; CNI_IFNAME, CNI_ARGS, CNI_CONTAINERID', async () => {
    await start();
    writeConf('20-single.conf', { cniVersion: '0.4.0', name: 'single', type: 'bridge', bridge: 'cnisg0', isGateway: true, ipam: { type: 'host-local', subnet: '10.124.0.0/24' } });
    writeConf('30-dup.conflist', LIST({ name: 'single' })); // a conflist of the same name wins over the .conf
    writeConf('10-first.conflist', LIST({ name: 'dup' }));
    writeConf('11-second.conflist', { ...LIST({ name: 'dup' }), plugins: [{ type: 'no-such-plugin' }] });
    const p = netns('c2');
    const r = h.ctl(['add', 'single', p], { env: { CNI_IFNAME: 'net1', CNI_CONTAINERID: 'myctr', CNI_ARGS: 'IgnoreUnknown=1;IP=10.123.0.77' } });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ips[0].address).toBe('10.123.0.77/24'); // the conflist (10.123/24), not the .conf
    expect(inNs('c2', 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'net1']).stdout).toContain('10.123.0.77/24');
    expect(cacheFiles()).toEqual(['single-myctr-net1']);
    const cache = JSON.parse(h.shOk('cat', ['/var/lib/cni/results/single-myctr-net1']));
    expect(cache.cniArgs).toEqual([['IgnoreUnknown', '1'], ['IP', '10.123.0.77']]);
    expect(h.ctl(['del', 'single', p], { env: { CNI_IFNAME: 'net1', CNI_CONTAINERID: 'myctr' } }).status).toBe(0);
    expect(leases('single')).toEqual([]);
    // a .conf alone: up-converted; the first file of a name wins ("dup": 10-first)
    h.shOk('rm', ['/etc/cni/net.d/30-dup.conflist']);
    const s = h.ctl(['add', 'single', p]);
    expect(s.status, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).cniVersion).toBe('0.4.0');
    expect(JSON.parse(s.stdout).ips[0].address).toMatch(/^10\.124\.0\./);
    const cached = JSON.parse(h.shOk('cat', [`/var/lib/cni/results/single-${cid(p)}-eth0`]));
    expect(JSON.parse(Buffer.from(cached.config, 'base64').toString())).toMatchObject({ cniVersion: '0.4.0', name: 'single', plugins: [{ type: 'bridge' }] });
    expect(h.ctl(['del', 'single', p]).status).toBe(0);
    const d = h.ctl(['add', 'dup', netns('c3')]);
    expect(d.status, d.stderr).toBe(0);
  });

  it('a failed ADD is rolled back; unknown network, missing plugin, bad CAP_ARGS: one line, nothing left', async () => {
    await start();
    writeConf('10-rt.conflist', LIST());
    writeConf('20-broken.conflist', { ...LIST({ name: 'broken' }), plugins: [LIST().plugins[0], { type: 'portmap', capabilities: { portMappings: true } }] });
    const p = netns('c1');
    // portmap fails on a bad mapping after bridge succeeded: bridge's veth, lease and rules are rolled back
    const r = h.ctl(['add', 'broken', p], { env: { CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: 70000, containerPort: 80, protocol: 'tcp' }] }) } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^cnictl: network "broken": plugin portmap failed \(ADD\): .*70000/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(leases('broken')).toEqual([]);
    expect(cacheFiles()).toEqual([]);
    expect(inNs('c1', 'ip', ['link', 'show', 'eth0']).status).not.toBe(0);

    const u = h.ctl(['add', 'nope', p]);
    expect(u.status).not.toBe(0);
    expect(u.stderr).toMatch(/no network named "nope" in \/etc\/cni\/net.d/);

    const m = h.ctl(['add', 'rt', p], { env: { CNI_PATH: '/nonexistent' } });
    expect(m.stderr).toMatch(/plugin "bridge" not found in CNI_PATH \/nonexistent/);
    expect(leases()).toEqual([]);

    const c = h.ctl(['add', 'rt', p], { env: { CAP_ARGS: '{nope' } });
    expect(c.stderr).toMatch(/CAP_ARGS is not JSON/);
    const g = h.ctl(['add', 'rt', '/run/netns/missing']);
    expect(g.stderr).toMatch(/netns \/run\/netns\/missing does not exist/);
    expect(cacheFiles()).toEqual([]);
  });

  it('disableCheck skips CHECK; CHECK on a 0.3.1 list is refused as libcni does', async () => {
    await start();
    writeConf('10-rt.conflist', LIST({ disableCheck: true }));
    writeConf('20-old.conflist', LIST({ name: 'old' }, '0.3.1'));
    const p = netns('c1');
    expect(h.ctl(['add', 'rt', p]).status).toBe(0);
    inNs('c1', 'ip', ['link', 'del', 'eth0']);
    expect(h.ctl(['check', 'rt', p]).status).toBe(0);
    expect(h.ctl(['del', 'rt', p]).status).toBe(0);
    const q = netns('c2');
    expect(h.ctl(['add', 'old', q]).status).toBe(0);
    expect(h.ctl(['check', 'old', q]).stderr).toMatch(/configuration version "0.3.1" does not support the CHECK command/);
    expect(h.ctl(['del', 'old', q]).status).toBe(0);
  });

  it('gc DELs cached attachments whose netns is gone, then GC releases leaked leases; status asks every plugin', async () => {
    await start();
    writeConf('10-rt.conflist', LIST({}, '1.1.0'));
    const a = netns('ca');
    const b = netns('cb');
    const ra = JSON.parse(h.ctlOk(['add', 'rt', a]));
    const rb = JSON.parse(h.ctlOk(['add', 'rt', b]));
    // a lease nobody holds (a crashed runtime): only GC can free it
    h.shOk('bash', ['-c', 'printf "leaked\\r\\neth0" > /var/lib/cni/networks/rt/10.123.0.200']);
    h.shOk('ip', ['netns', 'del', 'cb']);
    const g = h.ctl(['gc', 'rt']);
    expect(g.status, g.stderr).toBe(0);
    expect(g.stdout).toContain(`removed stale attachment ${cid(b)} eth0`);
    expect(leases().sort()).toEqual([ra.ips[0].address.split('/')[0]]);
    expect(leases()).not.toContain(rb.ips[0].address.split('/')[0]);
    expect(cacheFiles()).toEqual([`rt-${cid(a)}-eth0`]);
    expect(h.ctl(['check', 'rt', a]).status).toBe(0);
    const s = h.ctl(['status', 'rt']);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/ready/);
    const sm = h.ctl(['status', 'rt'], { env: { CNI_PATH: '/nonexistent' } });
    expect(sm.status).not.toBe(0);
    expect(sm.stderr).toMatch(/plugin "bridge" not found/);
    expect(h.ctl(['del', 'rt', a]).status).toBe(0);
  });
});

describe.skipIf(!isRoot)('cnictl <-> Go cnitool (Debian libcni 1.1.2) on one attachment', () => {
  let cnitool: string | undefined;
  beforeAll(() => {
    cnitool = cnitoolPath();
  }, 300_000);

  it.each([
    ['cnitool', 'cnictl'],
    ['cnictl', 'cnitool'],
  ])('ADD with %s, CHECK and DEL with %s', async (adder) => {
    expect(cnitool, 'scripts/e2e/build-cnitool.sh failed (needs golang-go, golang-github-appc-cni-dev)').toBeDefined();
    await start();
    writeConf('10-rt.conflist', LIST());
    const p = netns('c1');
    const tool = (verb: string, caps = false) =>
      adder === 'cnitool'
        ? h.ctl([verb, 'rt', p], { env: caps ? { CAP_ARGS: PORTS } : {} })
        : h.sh(cnitool!, [verb, 'rt', p], { env: { CNI_PATH: '/opt/cni/bin', ...(caps ? { CAP_ARGS: PORTS } : {}) } });
    const add =
      adder === 'cnitool'
        ? h.sh(cnitool!, ['add', 'rt', p], { env: { CNI_PATH: '/opt/cni/bin', CAP_ARGS: PORTS } })
        : h.ctl(['add', 'rt', p], { env: { CAP_ARGS: PORTS } });
    expect(add.status, add.stderr).toBe(0);
    const ip = JSON.parse(add.stdout).ips[0].address.split('/')[0];
    expect(cacheFiles()).toEqual([`rt-${cid(p)}-eth0`]);
    expect(nft()).toContain(ip);
    const check = tool('check', true);
    expect(check.status, check.stderr).toBe(0);
    const del = tool('del', true);
    expect(del.status, del.stderr).toBe(0);
    expect(cacheFiles()).toEqual([]);
    expect(leases()).toEqual([]);
    expect(nft()).not.toContain(ip);
    expect(inNs('c1', 'ip', ['link', 'show', 'eth0']).status).not.toBe(0);
  });
});
