/** The fuzz suite's pure parts: seeded generation, mutation, the judge and the snapshot diff (test/fuzz). */
import { describe, expect, it } from 'vitest';
import { Rng } from '../fuzz/rng.js';
import { getAt, mutate, pathsOf, setAt, MUTATORS, type Doc } from '../fuzz/mutate.js';
import { generateCase } from '../fuzz/generate.js';
import { judgeCommand, judgePlugin, resultProblem, stackTrace, type Outcome } from '../fuzz/judge.js';
import { leaksBetween, parseIptablesSave, parseNft, parseSnapshot, type Snapshot } from '../fuzz/snapshot.js';
import { COMMANDS, PLUGINS, TARGETS } from '../fuzz/targets.js';
import { loadSaved, saveCase } from '../fuzz/saved.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('fuzz: seeded generation', () => {
  it('the same seed gives the same sequence; cases of one target do not depend on other targets or indexes', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(xs);
    expect(new Set(xs).size).toBe(20);
    expect(Rng.forCase(1, 'bridge', 3).next()).toBe(Rng.forCase(1, 'bridge', 3).next());
    expect(Rng.forCase(1, 'bridge', 3).next()).not.toBe(Rng.forCase(1, 'ptp', 3).next());
  });

  it('every target generates reproducible cases; case 0 of a plugin is its valid config, unmutated', () => {
    for (const t of TARGETS) {
      for (const i of [0, 1, 7, 19]) {
        const c = generateCase(t, 9, i);
        expect(generateCase(t, 9, i), `${t.name} #${i}`).toEqual(c);
        expect(c.steps.length).toBeGreaterThan(0);
      }
    }
    for (const t of PLUGINS) {
      const c = generateCase(t, 9, 0);
      expect(c.mutations).toEqual([]);
      expect(c.steps.map((s) => s.label)).toEqual(['ADD', 'CHECK', 'DEL', 'DEL again']);
      const conf = JSON.parse(c.steps[0]!.stdin!);
      expect(conf.type === t.name || ['host-local', 'static', 'dhcp'].includes(t.name)).toBe(true);
      expect(c.steps[0]!.env).toMatchObject({ CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/fuzz-c0', CNI_IFNAME: 'eth0', CNI_PATH: '@BIN@' });
      if (t.chained) expect(conf.prevResult.interfaces[0].name).toBe('fzbr0');
    }
  });

  it('mutated cases carry 1-3 described mutations; delegating plugins get the ipam.type loop', () => {
    const bridge = PLUGINS.find((p) => p.name === 'bridge')!;
    const cases = Array.from({ length: 200 }, (_, i) => generateCase(bridge, 3, i + 1));
    for (const c of cases) expect(c.mutations.length).toBeGreaterThanOrEqual(1);
    expect(cases.some((c) => c.mutations.some((m) => m === 'ipam.type = "bridge"'))).toBe(true);
    expect(cases.some((c) => c.mutations.some((m) => m.startsWith('stdin ')))).toBe(true);
    expect(cases.some((c) => c.steps.some((s) => s.label === 'container netns deleted'))).toBe(true);
  });

  it('every agent input is refused by design (one flag the agent must refuse, or help/version); no store is reachable', () => {
    const agent = COMMANDS.find((c) => c.name === 'cni-ts-agent')!;
    for (let i = 0; i < 100; i++) {
      const step = generateCase(agent, 5, i).steps.at(-1)!;
      const argv = step.argv!;
      if (['--help', '-h', '--version'].includes(argv[0]!)) continue;
      expect(step.expect).toBe('refuse');
      const ep = argv.indexOf('--etcd-endpoints');
      if (ep >= 0) expect(argv[ep + 1]).not.toMatch(/:2379|^https?:\/\/(?!127\.0\.0\.1:1$|\[::1\]:1$)/);
    }
  });
});

describe('fuzz: saved cases', () => {
  it('round-trip; a long stdin is stored gzipped, text with characters beyond latin1 as it is', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cnits-fuzzsave-'));
    try {
      const base = generateCase(PLUGINS[0]!, 1, 3);
      const long = `{"a":"${' '.repeat(1 << 20)}"}`;
      const c = { ...base, steps: [{ ...base.steps[0]!, stdin: long }, { ...base.steps[0]!, stdin: '\xff\xfe', stdinBytes: true }, { ...base.steps[0]!, stdin: `😀${'x'.repeat(5000)}` }] };
      const file = join(dir, 'c.json');
      saveCase(file, { found: 'cni-ts', findings: ['x'], case: c });
      expect(readFileSync(file, 'utf8').length).toBeLessThan(30_000);
      expect(loadSaved(file)[0]!.case).toEqual(c);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fuzz: mutations', () => {
  const conf = { a: 1, b: { c: [1, { d: 'x' }] } };
  it('paths, get and set (a copy; undefined removes)', () => {
    expect(pathsOf(conf)).toEqual([['a'], ['b'], ['b', 'c'], ['b', 'c', 0], ['b', 'c', 1], ['b', 'c', 1, 'd']]);
    expect(getAt(conf, ['b', 'c', 1, 'd'])).toBe('x');
    expect(setAt(conf, ['b', 'c', 1, 'd'], null)).toEqual({ a: 1, b: { c: [1, { d: null }] } });
    expect(setAt(conf, ['a'], undefined)).toEqual({ b: { c: [1, { d: 'x' }] } });
    expect(setAt(conf, ['b', 'c', 0], undefined)).toEqual({ a: 1, b: { c: [{ d: 'x' }] } });
    expect(conf).toEqual({ a: 1, b: { c: [1, { d: 'x' }] } });
  });

  it('applies n mutations, a raw-stdin one last; never NUL in the environment', () => {
    const doc: Doc = { conf: { cniVersion: '1.0.0', name: 'n', type: 'bridge', ipam: { type: 'host-local', subnet: '10.0.0.0/24' } }, env: { CNI_IFNAME: 'eth0' } };
    for (let seed = 0; seed < 300; seed++) {
      const rng = new Rng(seed);
      const r = mutate(doc, 3, rng, { self: 'bridge', delegates: true, chained: false });
      expect(r.mutations.length).toBeGreaterThan(0);
      const raw = r.mutations.findIndex((m) => m.startsWith('stdin '));
      if (raw >= 0) expect(raw).toBe(r.mutations.length - 1);
      for (const v of Object.values(r.doc.env)) if (v !== undefined) expect(v).not.toContain('\u0000');
    }
    expect(MUTATORS.map((m) => m.name)).toContain('ipam-loop');
  });
});

const out = (o: Partial<Outcome>): Outcome => ({ status: 0, stdout: '', stderr: '', timedOut: false, leftover: [], forkRefusals: 0, ...o });

describe('fuzz: the judge', () => {
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'bridge' });
  it('accepts the spec error JSON and a valid result', () => {
    expect(judgePlugin('ADD', 'ADD', conf, out({ status: 1, stdout: '{"cniVersion":"1.0.0","code":7,"msg":"bad"}' }))).toEqual([]);
    const result = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ address: '10.0.0.2/24', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }], dns: {} };
    expect(judgePlugin('ADD', 'ADD', conf, out({ stdout: JSON.stringify(result) }))).toEqual([]);
    expect(judgePlugin('DEL', 'DEL', conf, out({}))).toEqual([]);
    expect(judgePlugin('VERSION', 'VERSION', conf, out({ stdout: '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}' }))).toEqual([]);
  });

  it('flags crashes: empty stdout on failure, stack traces, Go panics, signals, engine errors dressed as CNI errors', () => {
    expect(judgePlugin('ADD', 'ADD', conf, out({ status: 1 }))[0]).toMatchObject({ kind: 'crash' });
    expect(judgePlugin('ADD', 'ADD', conf, out({ status: 1, stdout: '{"code":999,"msg":"x"}', stderr: 'TypeError: x\n    at f (/a/b.js:1:2)\n' }))[0]).toMatchObject({ kind: 'crash' });
    expect(judgePlugin('DEL', 'DEL', conf, out({ status: 2, stderr: 'panic: runtime error: invalid memory address or nil pointer dereference\ngoroutine 1 [running]:\n' }))[0]).toMatchObject({ kind: 'crash' });
    expect(judgePlugin('ADD', 'ADD', conf, out({ status: 139 }))[0]).toMatchObject({ kind: 'crash', detail: 'killed by signal 11' });
    expect(judgePlugin('ADD', 'ADD', conf, out({ status: 1, stdout: '{"code":999,"msg":"undefined is not an object (evaluating \'a.b\')"}' }))[0]).toMatchObject({ kind: 'crash' });
    expect(stackTrace('plain error')).toBeUndefined();
  });

  it('flags bad output, hangs, runaway forks and processes left running', () => {
    expect(judgePlugin('ADD', 'ADD', conf, out({ status: 1, stdout: 'oops' }))[0]).toMatchObject({ kind: 'bad-output' });
    expect(judgePlugin('ADD', 'ADD', conf, out({ status: 1, stdout: '{"code":"7","msg":"x"}' }))[0]).toMatchObject({ kind: 'bad-output' });
    expect(judgePlugin('ADD', 'ADD', conf, out({ stdout: '{"cniVersion":"0.3.1"}' }))[0]?.detail).toMatch(/version 0.3.1, the config asked for 1.0.0/);
    // the same flaw at the same place as in the prevResult, whatever the plugin printed for it, is inherited
    const emptyIp = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'portmap', prevResult: { cniVersion: '1.0.0', ips: [{}] } });
    expect(judgePlugin('ADD', 'ADD', emptyIp, out({ stdout: '{"cniVersion":"1.0.0","ips":[{"version":"","address":"<nil>"}]}' }))).toEqual([]);
    const nullIfaces = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'tuning', prevResult: { cniVersion: '1.0.0', interfaces: null, ips: [{ address: '10.0.0.2/24', interface: 2 }] } });
    expect(judgePlugin('ADD', 'ADD', nullIfaces, out({ stdout: '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24","interface":2}]}' }))).toEqual([]);
    expect(judgePlugin('ADD', 'ADD', conf, out({ timedOut: true, status: 137 })).map((f) => f.kind)).toEqual(['hang']);
    // a chained plugin passing on what was already wrong in its prevResult is not at fault
    const badPrev = { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', interface: 2 }] };
    const chained = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'portmap', prevResult: badPrev });
    expect(judgePlugin('ADD', 'ADD', chained, out({ stdout: JSON.stringify(badPrev) }))).toEqual([]);
    expect(judgePlugin('ADD', 'ADD', conf, out({ stdout: JSON.stringify(badPrev) }))[0]?.detail).toMatch(/ips\[0\]: interface 2 is not in interfaces/);
    expect(judgePlugin('ADD', 'ADD', conf, out({ status: 1, stdout: '{"code":7,"msg":"x"}', forkRefusals: 3 })).map((f) => f.kind)).toEqual(['runaway']);
    expect(judgePlugin('ADD', 'ADD', conf, out({ status: 1, stdout: '{"code":7,"msg":"x"}', leftover: ['5:bridge'] })).map((f) => f.kind)).toEqual(['leak']);
  });

  it('results: shape checks per version', () => {
    expect(resultProblem({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24' } })).toBeUndefined();
    expect(resultProblem({ cniVersion: '0.2.0', ip4: { ip: 'x' } })).toMatch(/ip4.ip: not a CIDR/);
    expect(resultProblem({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', interface: 2 }], interfaces: [{ name: 'a' }] })).toMatch(/not in interfaces/);
    expect(resultProblem({ cniVersion: '1.0.0', routes: [{ dst: 'x' }] })).toMatch(/routes\[0\]: no CIDR dst/);
    expect(resultProblem([])).toMatch(/not a JSON object/);
  });

  it('commands: a refused input needs a word on stderr; an invalid input accepted is a finding', () => {
    expect(judgeCommand('x', 'any', out({ status: 2, stderr: 'cnictl: bad --subnet "x"' }), { leftoverAllowed: true })).toEqual([]);
    expect(judgeCommand('x', 'any', out({ status: 2 }), { leftoverAllowed: true })[0]).toMatchObject({ kind: 'bad-output' });
    expect(judgeCommand('x', 'refuse', out({ status: 0 }), { leftoverAllowed: true })[0]).toMatchObject({ kind: 'bad-output' });
    expect(judgeCommand('x', 'any', out({ status: 0, leftover: ['9:sleep'] }), { leftoverAllowed: true })).toEqual([]);
    expect(judgeCommand('x', 'any', out({ status: 1, stderr: 'e', leftover: ['9:sleep'] }), { leftoverAllowed: true })[0]).toMatchObject({ kind: 'leak' });
  });
});

describe('fuzz: snapshots and leaks', () => {
  it('parses nft (rules and set/map elements with their table and chain; iptables-nft tables left to iptables-save)', () => {
    const nft = `table inet t {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1,\n\t\t\t     10.0.0.2 }\n\t}\n\n\tchain c {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tip saddr 10.0.0.3 counter accept comment "x y"\n\t}\n}\ntable ip filter {\n\tchain FORWARD {\n\t\tcounter accept\n\t}\n}\n`;
    expect(parseNft(nft)).toEqual([
      'nft table inet t',
      'nft set s in inet t',
      'nft element inet t set s: 10.0.0.1',
      'nft element inet t set s: 10.0.0.2',
      'nft chain c in inet t',
      'nft rule inet t chain c: ip saddr 10.0.0.3 counter accept comment "x y"',
    ]);
  });

  it('parses iptables-save without comments and counters', () => {
    expect(parseIptablesSave('iptables', '# x\n*nat\n:POSTROUTING ACCEPT [1:2]\n:CNI-abc - [0:0]\n-A POSTROUTING -s 10.0.0.2/32 -j CNI-abc\nCOMMIT\n')).toEqual([
      'iptables table nat',
      'iptables chain nat POSTROUTING',
      'iptables chain nat CNI-abc',
      'iptables rule nat: -A POSTROUTING -s 10.0.0.2/32 -j CNI-abc',
    ]);
  });

  const snap = (over: Partial<Snapshot>): Snapshot => ({ links: [{ name: 'fzm0', kind: 'veth' }], containers: { 'fuzz-c0': [] }, netfilter: [], rules: [], files: [], ...over });

  it('what outlives an attachment: not a bridge, shared chains and jumps; yes a veth, a per-attachment chain, an address, a rule on a gone link, a lease', () => {
    const before = snap({});
    const after = snap({
      links: [{ name: 'fzm0', kind: 'veth' }, { name: 'cni0', kind: 'bridge' }, { name: 'veth1234', kind: 'veth', master: 'cni0' }],
      containers: { 'fuzz-c0': ['eth0'], 'cnictl-x': [] },
      netfilter: [
        'iptables chain filter CNI-FORWARD',
        'iptables rule filter: -A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
        'iptables rule filter: -A CNI-ISOLATION-STAGE-1 -i cni0 ! -o cni0 -j CNI-ISOLATION-STAGE-2',
        'iptables rule filter: -A CNI-ISOLATION-STAGE-1 -i veth9 ! -o veth9 -j CNI-ISOLATION-STAGE-2',
        'iptables chain nat CNI-0123456789abcdef01234567',
        'iptables rule filter: -A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT',
        'iptables rule nat: -A CNI-HOSTPORT-DNAT -m comment --comment "dnat name: \\"n\\" id: \\"fzabcd\\"" -j DNAT',
        'nft element inet cni_hostport map m: 0.0.0.0 . tcp . 80 : jump x',
      ],
      rules: ['32765: from 10.0.0.2 lookup 100'],
      files: ['/var/lib/cni/fuzz/fuzznet/10.89.0.2', '/var/lib/cni/fuzz/fuzznet/lock', '/var/lib/cni/fuzz/fuzznet/last_reserved_ip.0'],
    });
    const leaks = leaksBetween(before, after, 'fzabcd').map((l) => `${l.what}: ${l.item}`);
    expect(leaks).toEqual([
      'link: veth1234 (veth on cni0)',
      'container-link: eth0 in fuzz-c0',
      'netns: cnictl-x',
      'netfilter: iptables rule filter: -A CNI-ISOLATION-STAGE-1 -i veth9 ! -o veth9 -j CNI-ISOLATION-STAGE-2 (names interface veth9, which no longer exists)',
      'netfilter: iptables chain nat CNI-0123456789abcdef01234567 (a chain of one attachment)',
      'netfilter: iptables rule filter: -A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT (names address 10.88.0.2)',
      'netfilter: iptables rule nat: -A CNI-HOSTPORT-DNAT -m comment --comment "dnat name: \\"n\\" id: \\"fzabcd\\"" -j DNAT (names the container ID)',
      'rule: 32765: from 10.0.0.2 lookup 100',
      'file: /var/lib/cni/fuzz/fuzznet/10.89.0.2',
    ]);
  });

  it('a host link that is gone (host-device not giving its device back), unless the container netns was deleted', () => {
    const before = snap({ links: [{ name: 'fzm0', kind: 'veth' }, { name: 'fzm1', kind: 'veth' }] });
    const after = snap({ links: [{ name: 'fzm0', kind: 'veth' }] });
    expect(leaksBetween(before, after)).toEqual([{ what: 'lost-link', item: 'fzm1 (veth) is gone from the host' }]);
    expect(leaksBetween(before, after, undefined, { netnsDeleted: true })).toEqual([]);
  });

  it('reads the sections of a snapshot', () => {
    const s = parseSnapshot('@@links\n[{"ifname":"lo"},{"ifname":"br0","linkinfo":{"info_kind":"bridge"}}]\n@@container fuzz-c0\n[{"ifname":"lo"},{"ifname":"eth0"}]\n@@crules fuzz-c0\n100:\tfrom 10.0.0.2 lookup 100\n@@nft\n\n@@rules\n0:\tfrom all lookup local\n@@files\n/var/lib/cni/x\n@@end\n');
    expect(s).toEqual({ links: [{ name: 'br0', kind: 'bridge' }], containers: { 'fuzz-c0': ['eth0'] }, netfilter: [], rules: ['in fuzz-c0: from 10.0.0.2 lookup 100', 'from all lookup local'], files: ['/var/lib/cni/x'] });
  });
});
