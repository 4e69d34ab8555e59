/**
 * nft in-process (lib/nftables.ts: libnftables through the executable's FFI, run under Bun as the executable runs it)
 * against the nft program: the same scripts in two identical namespaces give the same exit status, output and
 * errors (error locations included), and the same ruleset. The scripts are the ones cni-ts writes (portmap's
 * table, the masquerade, the MAC spoof check) plus failing ones.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TestNet, isRoot, sh } from '../helpers/harness.js';

const BUN = join(ROOT, 'node_modules', '@oven', process.arch === 'arm64' ? 'bun-linux-aarch64' : 'bun-linux-x64', 'bin', 'bun');

describe.skipIf(!isRoot || !existsSync(BUN))('nft in-process = the nft program', () => {
  let net: TestNet | undefined;
  afterEach(() => net?.cleanup());

  it('scripts, listings and errors: same status, stdout, stderr and resulting ruleset', () => {
    net = new TestNet('nftip');
    const a = net.addNetns('a');
    const b = net.addNetns('b');
    const both = (args: string[], input?: string) => {
      const theirs = sh('ip', ['netns', 'exec', a, 'nft', ...args], input ?? '');
      const r = sh(BUN, [join(ROOT, 'test/helpers/rtnetlink-run.ts'), '--netns', `/run/netns/${b}`, 'nft', ...args], input ?? '');
      expect(r.status, r.stderr).toBe(0);
      const ours = JSON.parse(r.stdout) as { taken: boolean; status: number; stdout: string; stderr: string };
      const what = `nft ${args.join(' ')} ${input ?? ''}`;
      expect(ours.taken, what).toBe(true);
      expect({ what, status: ours.status, stdout: ours.stdout, stderr: ours.stderr }).toEqual({ what, status: theirs.status, stdout: theirs.stdout, stderr: theirs.stderr });
    };
    const T = 'inet cni_plugins_masquerade';
    both(['-f', '-'], `add table ${T} { comment "Masquerading for plugins" ; }\nadd chain ${T} masq_checks\nadd chain ${T} postrouting { type nat hook postrouting priority 100 ; }\nflush chain ${T} postrouting\nadd rule ${T} postrouting ip daddr == 224.0.0.0/4 return\nadd rule ${T} postrouting goto masq_checks\nadd rule ${T} masq_checks ip saddr == 10.88.0.2 ip daddr != 10.88.0.0/16 masquerade comment "abc, net: n, if: eth0, id: c1"\n`);
    both(['-f', '-'], 'add table ip cni_hostport\nadd chain ip cni_hostport dnat { type nat hook prerouting priority -100 ; }\nadd map ip cni_hostport hostports { type inet_proto . inet_service : ipv4_addr . inet_service ; }\nadd element ip cni_hostport hostports { tcp . 8080 : 10.88.0.2 . 80 }\n');
    both(['-j', 'list', 'chain', 'inet', 'cni_plugins_masquerade', 'masq_checks']);
    both(['-j', 'list', 'table', 'ip', 'cni_hostport']);
    both(['list', 'table', 'inet', 'cni_plugins_masquerade']);
    both(['-j', 'list', 'table', 'ip', 'nosuchtable']);
    both(['-f', '-'], 'add table bridge nat\nadd chain bridge nat PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }\nadd rule bridge nat PREROUTING iifname "veth1" drop comment "macspoofchk-c1-eth0"\n');
    // errors: in a later line (the location names /dev/stdin and the line), a syntax error, an element that exists
    both(['-f', '-'], `add table ip t1\nadd chain ip t1 c1\nadd rule ip t1 nosuchchain accept\n`);
    both(['-f', '-'], 'add rule ip cni_hostport dnat tcp dport 80 dnat tox 10.0.0.1\n');
    both(['-f', '-'], 'add element ip cni_hostport hostports { tcp . 8080 : 10.88.0.3 . 80 }\ncreate element ip cni_hostport hostports { tcp . 8080 : 10.88.0.3 . 80 }\n');
    both(['-f', '-'], 'delete element ip cni_hostport hostports { tcp . 8080 }\ndelete table ip cni_hostport\n');
    both(['-f', '-'], 'delete table ip cni_hostport\n');
    const ruleset = (ns: string) => sh('ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset']).stdout;
    expect(ruleset(b)).toBe(ruleset(a));
  });
});
