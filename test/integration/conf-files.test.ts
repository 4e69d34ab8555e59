/**
 * Every example config in conf/ works as shipped: ADD, CHECK (spec 0.4.0 and later) and DEL cleanly, run as a runtime
 * runs them (test/helpers/chain.ts: libcni's order, prevResult, capabilities) with cni-ts plugins only (CNI_PATH =
 * dist/bin), in a throwaway host netns; DEL leaves no link, lease or rule, and a second DEL succeeds.
 *
 * Data-driven: a new file in conf/ is picked up by itself. What a file needs from the host goes in SETUP (by file
 * name): links the config names (a `master`, host-device's `device`) are made automatically (a veth end named like
 * it), anything else by a `host` step. A file is skipped — with the reason in the test's name — when a plugin type it uses is not built
 * (dist/bin/<type>), or when this kernel lacks what it needs (PROBES below, tried in a throwaway netns); the reason
 * is also printed. Only host-local state is redirected (its `dataDir`, to a temp dir).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compareVersions } from '../../lib/cni/version.js';
import { Chain, type ConfList } from '../helpers/chain.js';
import { DIST, ROOT, TestNet, isRoot, sh, shOk, uniq } from '../helpers/harness.js';
import { DhcpDaemon, DhcpLan, haveDnsmasq } from '../helpers/dhcp.js';
import { NFT_DNAT } from '../helpers/nft.js';

const CONF = join(ROOT, 'conf');

type Plugin = Record<string, any>;

interface FileSetup {
  /** Host-side preparation beyond the automatic `master` links (runs in the throwaway host netns); may return a teardown. */
  host?: (net: TestNet, list: ConfList) => void | (() => unknown) | Promise<void | (() => unknown)>;
  /** Make the links a config names itself instead of the automatic veth ends. */
  ownLinks?: boolean;
  /** Preparation inside the container netns (by name) before ADD. */
  container?: (net: TestNet, netns: string) => void;
  /** Capability args for ADD (default: a port mapping when a plugin declares portMappings). */
  capabilityArgs?: Record<string, unknown>;
  /** Skip this file, saying why (e.g. needs a service this machine cannot run). */
  skip?: string;
}

/** Per-file needs, by file name. */
const SETUP: Record<string, FileSetup> = {
  // externalSetMarkChain names kube-proxy's KUBE-MARK-MASQ: the host has it, as a Kubernetes node does
  'portmap-iptables.conflist': {
    host: (net) => {
      shOk('ip', ['netns', 'exec', net.host, 'iptables', '-t', 'nat', '-N', 'KUBE-MARK-MASQ']);
      shOk('ip', ['netns', 'exec', net.host, 'iptables', '-t', 'nat', '-A', 'KUBE-MARK-MASQ', '-j', 'MARK', '--set-xmark', '0x4000/0x4000']);
    },
  },
  // a VM's tap on a bridge inside the pod (as KubeVirt makes it): the bridge br0 is there before the tap plugin runs
  '50-tap-bridge.conflist': {
    container: (_net, netns) => {
      shOk('ip', ['-n', netns, 'link', 'add', 'br0', 'type', 'bridge']);
      shOk('ip', ['-n', netns, 'link', 'set', 'br0', 'up']);
    },
  },
  // the LAN: dnsmasq behind the master eth1, and the dhcp daemon on the node (its socket in a temp dir)
  'macvlan-dhcp.conflist': {
    ownLinks: true,
    skip: haveDnsmasq ? undefined : 'no dnsmasq on this machine (scripts/deps.sh --test installs dnsmasq-base)',
    host: async (net, list) => {
      const lan = await new DhcpLan(net, { prefix: '10.97.0', uplink: 'eth1' }).start();
      const daemon = await new DhcpDaemon(net, { bin: join(DIST, 'dhcp'), dir: net.tempDir() }).start();
      for (const p of list.plugins as Plugin[]) if (p.ipam?.type === 'dhcp') p.ipam.daemonSocketPath = daemon.socket;
      return async () => {
        await daemon.stop();
        lan.stop();
      };
    },
  },
};

/** Kernel features a plugin config needs, each probed with one `ip` command in a throwaway netns that has veth p0. */
const PROBES: Record<string, string[]> = {
  macvlan: ['link', 'add', 't0', 'link', 'p0', 'type', 'macvlan'],
  ipvlan: ['link', 'add', 't0', 'link', 'p0', 'type', 'ipvlan'],
  vlan: ['link', 'add', 't0', 'link', 'p0', 'type', 'vlan', 'id', '5'],
  dummy: ['link', 'add', 't0', 'type', 'dummy'],
  vrf: ['link', 'add', 't0', 'type', 'vrf', 'table', '10'],
  tap: ['tuntap', 'add', 't0', 'mode', 'tap'],
  'bridge VLAN filtering': ['link', 'add', 't0', 'type', 'bridge', 'vlan_filtering', '1'],
};
/** Which probes a plugin config needs. */
function kernelNeeds(p: Plugin): string[] {
  if (p.type === 'bridge') return p.vlan || p.vlanTrunk ? ['bridge VLAN filtering'] : [];
  return p.type in PROBES ? [p.type] : [];
}

const kernelHas: Record<string, boolean> = (() => {
  const out: Record<string, boolean> = {};
  if (!isRoot) return out;
  const ns = `cnits-confprobe-${uniq()}`;
  if (sh('ip', ['netns', 'add', ns]).status !== 0) return out;
  try {
    sh('ip', ['-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    for (const [what, args] of Object.entries(PROBES)) {
      out[what] = sh('ip', ['-n', ns, ...args]).status === 0;
      sh('ip', ['-n', ns, 'link', 'del', 't0']);
    }
  } finally {
    sh('ip', ['netns', 'del', ns]);
  }
  return out;
})();

/** A conf/ file as a list (a .conf is up-converted, as libcni does). */
function load(file: string): ConfList {
  const raw = JSON.parse(readFileSync(join(CONF, file), 'utf8'));
  if (Array.isArray(raw.plugins)) return raw;
  const { name, cniVersion, ...plugin } = raw;
  return { name, cniVersion, plugins: [plugin] };
}

function skipReason(file: string, list: ConfList): string | undefined {
  if (SETUP[file]?.skip) return SETUP[file]!.skip;
  const types = (list.plugins as Plugin[]).flatMap((p) => [p.type as string, ...(p.ipam?.type ? [p.ipam.type as string] : [])]);
  const missing = types.filter((t) => !existsSync(join(DIST, t)));
  if (missing.length) return `plugin type ${[...new Set(missing)].join(', ')} not built (no dist/bin/${missing[0]})`;
  const needs = [...new Set((list.plugins as Plugin[]).flatMap(kernelNeeds))].filter((k) => !kernelHas[k]);
  if (needs.length) return `this kernel has no ${needs.join(', ')} support`;
  return undefined;
}

const files = existsSync(CONF) ? readdirSync(CONF).filter((f) => /\.(conf|conflist|json)$/.test(f)).sort() : [];

describe.skipIf(!isRoot)('conf/: every example config ADDs, CHECKs and DELs cleanly with cni-ts plugins', () => {
  let net: TestNet | undefined;
  let teardown: (() => unknown) | undefined;
  afterEach(async () => {
    await teardown?.();
    teardown = undefined;
    net?.cleanup();
    net = undefined;
  });

  it('conf/ has files', () => expect(files.length).toBeGreaterThan(0));

  for (const file of files) {
    const list = load(file);
    const reason = skipReason(file, list);
    const canCheck = compareVersions(list.cniVersion, '0.4.0') >= 0 && !list.disableCheck;
    const title = `${file}: ADD, ${canCheck ? 'CHECK, ' : `(no CHECK before 0.4.0: ${list.cniVersion}) `}DEL, DEL again${reason ? ` — skipped: ${reason}` : ''}`;
    if (reason && isRoot) console.warn(`conf/${file} skipped: ${reason}`);

    it.skipIf(!!reason)(title, async () => {
      net = new TestNet('conf');
      const n = net;
      const setup = SETUP[file] ?? {};
      const plugins = list.plugins as Plugin[];
      // the one change to the file: host-local state in a temp dir instead of /var/lib/cni/networks (or its dataDir)
      const dataDir = n.tempDir();
      for (const p of plugins) if (p.ipam?.type === 'host-local') p.ipam.dataDir = dataDir;
      // a link the config names on the host (a macvlan/ipvlan/vlan "master", host-device's "device"): a veth end of
      // that name, its peer in an "outside" namespace
      const masters = [...new Set(plugins.flatMap((p) => [p.master, p.device]).filter((m): m is string => typeof m === 'string'))];
      if (!setup.ownLinks) masters.forEach((master, i) => {
        const out = n.addNetns(`m${i}`);
        shOk('ip', ['-n', n.host, 'link', 'add', master, 'type', 'veth', 'peer', 'name', 'o0', 'netns', out]);
        shOk('ip', ['-n', n.host, 'link', 'set', master, 'up']);
        shOk('ip', ['-n', out, 'link', 'set', 'o0', 'up']);
      });
      teardown = (await setup.host?.(n, list)) || undefined;
      const portmap = plugins.some((p) => p.capabilities?.portMappings);
      const capabilityArgs = setup.capabilityArgs ?? (portmap ? { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] } : {});
      const c = n.addContainer('c');
      setup.container?.(n, c.name);
      const containerLinks = () => n.ipJson(c.name, ['link', 'show']).map((l: any) => l.ifname).sort();
      const containerBefore = containerLinks();
      const chain = new Chain(list, { hostNetns: n.host, path: DIST });
      const hostLinks = () => n.ipJson(n.host, ['link', 'show']).map((l: any) => l.ifname).sort();
      const linksBefore = hostLinks();
      const att = { containerId: `conf-${uniq()}`, netns: c.path, ifname: 'eth0', capabilityArgs };

      const res = chain.add(att);
      // what the result says is there: its addresses on eth0 (or lo up, for loopback)
      const addrs = n.ipJson(c.name, ['addr', 'show']).flatMap((l: any) => (l.addr_info ?? []).map((a: any) => `${a.local}/${a.prefixlen}`));
      const ips: string[] = (res.ips ?? []).map((i: any) => i.address);
      for (const ip of ips) expect(addrs, `${file}: ${ip} in the container`).toContain(ip);
      if (plugins.some((p) => p.type === 'loopback')) expect(n.ipJson(c.name, ['link', 'show', 'lo'])[0].flags).toContain('UP');
      if (portmap) expect(n.exec(n.host, 'nft', ['list', 'ruleset']).stdout + n.exec(n.host, 'iptables-save', []).stdout).toMatch(/18080/);
      if (canCheck) chain.check(att);

      chain.del(att);
      chain.del(att); // idempotent
      expect(containerLinks(), `${file}: container links after DEL`).toEqual(containerBefore);
      // nothing new on the host but the bridges the config names (bridge leaves its bridge, as the reference does)
      const bridges = plugins.filter((p) => p.type === 'bridge').map((p) => (p.bridge as string | undefined) ?? 'cni0');
      expect(hostLinks().filter((l: string) => !linksBefore.includes(l) && !bridges.some((b) => l === b || l.startsWith(`${b}.`))), `${file}: host links left by DEL`).toEqual([]);
      const leases = existsSync(join(dataDir, list.name)) ? readdirSync(join(dataDir, list.name)).filter((f) => /^[0-9a-f.:]+$/.test(f) && f.length > 2) : [];
      expect(leases, `${file}: leases after DEL`).toEqual([]);
      const rules = n.exec(n.host, 'nft', ['list', 'ruleset']).stdout + n.exec(n.host, 'iptables-save', []).stdout + n.exec(n.host, 'ip6tables-save', []).stdout;
      expect(rules).not.toMatch(NFT_DNAT);
      expect(rules).not.toMatch(/18080/);
      for (const ip of ips) expect(rules, `${file}: rules naming ${ip} after DEL`).not.toContain(ip.split('/')[0]);
    });
  }
});
