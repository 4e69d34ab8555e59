// vlan + dhcp in the VM (the host kernel has no 8021q or dummy): the vlan link is created in the container before
// the IPAM ADD (lib/parentlink, LINK_FIRST_IPAM in lib/cni/linkfirst.ts), so the dhcp daemon's client runs on it and
// dnsmasq — on vlan 100 at the far end of the trunk — leases it an address; DEL releases it over the link. A failed
// ADD (daemon not running) leaves no vlan link. The Go vlan + our daemon does the same (it too makes the link
// first). dummy + dhcp is refused before anything is made (a dummy drops what it sends: no server can answer).
// Each test: a "host" netns whose master m0 is a veth to a "lan" netns, where p0.100 carries dnsmasq; our dhcp daemon
// in the host netns, its socket and state in a temp dir.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test, requirePlugins, skipFile, assert, bin, goBin, cniAdd, cniDel, cniCheck, runPlugin, ip, ipJson, addrs, linkInfo, ping, sleep } from './lib.mjs';

requirePlugins('vlan', 'dummy', 'dhcp');
if (!existsSync('/usr/sbin/dnsmasq')) skipFile('no /usr/sbin/dnsmasq in the VM image (scripts/vm/build-base.sh copies it from dnsmasq-base)');

const NET = 'vdh';
const SERVER = '10.96.0.1';

async function waitFor(what, ok, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const answers = (path) =>
  new Promise((res) => {
    const c = connect(path);
    c.on('connect', () => (c.destroy(), res(true)));
    c.on('error', () => res(false));
  });

/** host + lan netns, the trunk m0 <-> p0, dnsmasq on p0.100, our daemon in the host netns. */
async function lab(t) {
  const host = t.netns('h');
  const lan = t.netns('lan');
  const dir = t.tempDir();
  ip(['link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'p0', 'netns', lan.name], host.name);
  ip(['link', 'set', 'm0', 'up'], host.name);
  ip(['link', 'set', 'p0', 'up'], lan.name);
  ip(['link', 'add', 'link', 'p0', 'name', 'p0.100', 'type', 'vlan', 'id', '100'], lan.name);
  ip(['addr', 'add', `${SERVER}/24`, 'dev', 'p0.100'], lan.name);
  ip(['link', 'set', 'p0.100', 'up'], lan.name);
  const log = join(dir, 'dnsmasq.log');
  const leaseFile = join(dir, 'dnsmasq.leases');
  const dnsmasq = spawn('ip', ['netns', 'exec', lan.name, '/usr/sbin/dnsmasq', '--keep-in-foreground', '--port=0', '--interface=p0.100', '--bind-interfaces',
    '--no-ping', '--no-hosts', '--no-resolv', '--dhcp-range=10.96.0.50,10.96.0.150,255.255.255.0,2m', `--dhcp-leasefile=${leaseFile}`, '--log-dhcp',
    `--log-facility=${log}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--conf-file=/dev/null', '--user=root', '--group=root'], { stdio: 'ignore' });
  t.defer(() => dnsmasq.kill('SIGKILL'));
  const dnsLog = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  await waitFor('dnsmasq', () => /DHCP, sockets bound/.test(dnsLog()));
  const socket = join(dir, 'dhcp.sock');
  const daemonLog = join(dir, 'daemon.log');
  const out = [];
  const daemon = spawn('ip', ['netns', 'exec', host.name, bin('dhcp'), 'daemon', '-socketpath', socket, '-pidfile', join(dir, 'dhcp.pid'), '-statedir', join(dir, 'state')], { stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout.on('data', (d) => out.push(d));
  daemon.stderr.on('data', (d) => out.push(d));
  t.defer(() => daemon.kill('SIGKILL'));
  await waitFor('the dhcp daemon', async () => existsSync(socket) && (await answers(socket)));
  const leases = () => (existsSync(leaseFile) ? readFileSync(leaseFile, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')) : []);
  const count = (kind) => dnsLog().split('\n').filter((l) => l.includes(`${kind}(p0.100)`)).length;
  return { host, lan, dir, socket, leases, count, logs: () => `dnsmasq:\n${dnsLog()}\ndaemon:\n${Buffer.concat(out)}`, daemonLog };
}

const conf = (socket, over = {}) => ({ cniVersion: '1.0.0', name: NET, type: 'vlan', master: 'm0', vlanId: 100, ipam: { type: 'dhcp', daemonSocketPath: socket }, ...over });
const links = (ns) => ipJson(['link', 'show'], ns).map((l) => l.ifname);
const clientId = (id) => ['00', ...Buffer.from(id).toString('hex').match(/../g)].join(':');

test('vlan + dhcp: the link exists (vlan 100, master MAC) before the IPAM ADD; dnsmasq leases it (client id), CHECK, DEL releases it over the link; DEL again', async (t) => {
  const l = await lab(t);
  const a = t.netns('a');
  const cfg = conf(l.socket);
  const opts = { netns: a.path, hostNetns: l.host.name, containerId: 'c1' };
  const add = runPlugin({ plugin: bin('vlan'), command: 'ADD', conf: cfg, ifname: 'eth0', ...opts });
  assert.equal(add.status, 0, `${add.stdout}\n${l.logs()}`);
  const lease = l.leases().find((x) => x[4] === clientId(`c1/${NET}/eth0`));
  assert.ok(lease, `no lease for c1: ${JSON.stringify(l.leases())}`);
  const li = linkInfo('eth0', a.name);
  assert.equal(li.linkinfo.info_kind, 'vlan');
  assert.equal(li.linkinfo.info_data.id, 100);
  assert.equal(lease[1], li.address);
  assert.equal(li.address, linkInfo('m0', l.host.name).address, 'not the master MAC');
  assert.deepEqual(add.json, {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: li.address, sandbox: a.path }],
    ips: [{ interface: 0, address: `${lease[2]}/24`, gateway: SERVER }],
    routes: [{ dst: '0.0.0.0/0', gw: SERVER }],
  });
  assert.deepEqual(addrs('eth0', a.name), [`${lease[2]}/24`]);
  assert.ok(ping(a.name, SERVER), 'the container cannot reach the DHCP server on vlan 100');
  cniCheck(bin('vlan'), { ...cfg, prevResult: add.json }, opts);
  cniDel(bin('vlan'), cfg, opts);
  await waitFor('the DHCPRELEASE', () => l.count('DHCPRELEASE') === 1).catch((e) => {
    throw new Error(`${e.message}\n${l.logs()}`);
  });
  assert.deepEqual(l.leases(), []);
  assert.deepEqual(links(a.name), ['lo']);
  cniDel(bin('vlan'), cfg, opts);
});

test('vlan + dhcp fails cleanly: the daemon not running — no vlan link left, nothing asked of the server', async (t) => {
  const l = await lab(t);
  const a = t.netns('a');
  const r = runPlugin({ plugin: bin('vlan'), command: 'ADD', conf: conf(join(l.dir, 'nothing.sock')), ifname: 'eth0', netns: a.path, hostNetns: l.host.name, containerId: 'c1' });
  assert.equal(r.status, 1);
  assert.match(r.json.msg, /^error dialing DHCP daemon/);
  assert.deepEqual(links(a.name), ['lo']);
  assert.deepEqual(links(l.host.name).sort(), ['lo', 'm0']);
  assert.equal(l.count('DHCPDISCOVER'), 0);
});

test('the Go vlan + our daemon gets the lease too (the reference makes the link first); ADD with Go, DEL with ours releases it', async (t) => {
  const l = await lab(t);
  const a = t.netns('a');
  const cfg = conf(l.socket);
  const opts = { netns: a.path, hostNetns: l.host.name, containerId: 'cgo' };
  const add = cniAdd(goBin('vlan'), cfg, opts);
  assert.equal(add.ips[0].gateway, SERVER);
  assert.ok(l.leases().some((x) => x[4] === clientId(`cgo/${NET}/eth0`)));
  cniDel(bin('vlan'), cfg, opts);
  await waitFor('the DHCPRELEASE', () => l.count('DHCPRELEASE') === 1);
  assert.deepEqual(l.leases(), []);
  assert.deepEqual(links(a.name), ['lo']);
});

test('dummy + dhcp is refused (code 7, naming why) before anything is created or asked for', async (t) => {
  const l = await lab(t);
  const a = t.netns('a');
  const r = runPlugin({ plugin: bin('dummy'), command: 'ADD', conf: { cniVersion: '1.0.0', name: NET, type: 'dummy', ipam: { type: 'dhcp', daemonSocketPath: l.socket } }, ifname: 'eth0', netns: a.path, hostNetns: l.host.name, containerId: 'cd' });
  assert.equal(r.status, 1);
  assert.equal(r.json.code, 7);
  assert.match(r.json.msg, /^dummy cannot get its addresses from "ipam" type "dhcp": a dummy interface drops every frame/);
  assert.deepEqual(links(a.name), ['lo']);
  assert.equal(l.count('DHCPDISCOVER'), 0);
});
