// macvlan + dhcp ADD/DEL wall time against a real DHCP server, cni-ts vs the Go reference: each side its own host
// netns with a veth master, a LAN netns behind it running dnsmasq, and its own daemon (ours: `dist/bin/dhcp daemon`;
// Go's: `/usr/lib/cni/dhcp daemon`) whose socket is in a temp dir. ADD = the macvlan + the dhcp plugin + the daemon's
// DISCOVER/OFFER/REQUEST/ACK; DEL = the daemon's DHCPRELEASE + the link deleted. `BENCH_ROUNDS` (default 8: Go's ADD
// takes ~3 s, see the report).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostNetns, SIDES, addDelRounds, netnsAdd, printTable, rounds, rowsOf, saveResults, sh, tempDir } from './_lib.mjs';

const n = rounds(8);
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function start(argv, log) {
  const fd = openSync(log, 'a');
  const c = spawn('ip', argv, { stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH } });
  closeSync(fd);
  children.add(c);
  return c;
}

async function waitFor(what, ok, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One side's lab: host netns (veth master lan0), LAN netns with dnsmasq, the side's daemon; returns the conf. */
async function lab(side, host) {
  const lan = netnsAdd('dhlan');
  const dir = tempDir('dhcp');
  host.ip('link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan0p', 'netns', lan);
  host.ip('link', 'set', 'lan0', 'up');
  sh('ip', ['-n', lan, 'addr', 'add', '10.99.0.1/24', 'dev', 'lan0p']);
  sh('ip', ['-n', lan, 'link', 'set', 'lan0p', 'up']);
  const dnsLog = join(dir, 'dnsmasq.log');
  start(['netns', 'exec', lan, 'dnsmasq', '--keep-in-foreground', '--port=0', '--interface=lan0p', '--bind-interfaces', '--no-ping', '--conf-file=/dev/null',
    '--user=root', '--group=root', '--dhcp-range=10.99.0.10,10.99.0.250,255.255.255.0,2m', `--dhcp-leasefile=${join(dir, 'leases')}`, `--log-facility=${dnsLog}`], join(dir, 'dnsmasq.out'));
  await waitFor('dnsmasq', () => existsSync(dnsLog) && /DHCP, sockets bound/.test(readFileSync(dnsLog, 'utf8')));
  const socket = join(dir, 'dhcp.sock');
  const ours = side === 'ours';
  start(['netns', 'exec', host.name, join(SIDES[side].bin, 'dhcp'), 'daemon', '-socketpath', socket, ...(ours ? ['-statedir', join(dir, 'state')] : [])], join(dir, 'daemon.log'));
  await waitFor(`the ${side} dhcp daemon`, () => existsSync(socket));
  return { cniVersion: '1.0.0', name: 'dhbench', type: 'macvlan', master: 'lan0', ipam: { type: 'dhcp', daemonSocketPath: socket } };
}

const hosts = { ours: new HostNetns('dhh'), go: new HostNetns('dhh') };
const ctrs = { ours: netnsAdd('dhc'), go: netnsAdd('dhc') };
try {
  const confs = { ours: await lab('ours', hosts.ours), go: await lab('go', hosts.go) };
  const invOf = (side) => ({ plugin: `${SIDES[side].bin}/macvlan`, path: SIDES[side].path, conf: confs[side], netns: `/run/netns/${ctrs[side]}` });
  const t = await addDelRounds({ n, hosts, invOf, id: 'd' });
  const rows = rowsOf('macvlan + dhcp (dnsmasq)', t, ['ADD', 'DEL', 'ADD+DEL']);
  printTable(`macvlan + dhcp against dnsmasq, each side its own daemon, median of ${n} (min–max)`, rows);
  saveResults({ rounds: n, rows });
} finally {
  for (const c of children) c.kill('SIGKILL');
  for (const h of Object.values(hosts)) h.close();
}
