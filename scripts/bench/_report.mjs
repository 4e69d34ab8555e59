// The Markdown report of `npm run bench` (docs/bench/report.md) and its two SVG plots, from the results every
// benchmark saved (saveResults in _lib.mjs). Sections whose benchmark did not run in this run say so.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { DIST, GO, ROOT, cell } from './_lib.mjs';
import { linePlot, stackedBars } from './_svg.mjs';

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', ...opts }).stdout?.trim() ?? '';

/** Facts about this machine and the two builds compared. */
export function machineFacts() {
  const goBin = readFileSync(join(GO, 'bridge')).toString('latin1');
  const bun = run(join(DIST, 'cni-ts'), ['--version'], { env: { BUN_BE_BUN: '1', PATH: process.env.PATH } });
  const dirty = run('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : '';
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    memGiB: (totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    os: /PRETTY_NAME="([^"]*)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '?',
    load: loadavg().map((x) => x.toFixed(2)).join(' '),
    commit: run('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']) + dirty,
    bun: /^\d+\.\d+\.\d+/.test(bun) ? bun : '?',
    node: process.versions.node,
    goPkg: run('dpkg-query', ['-W', '-f', '${Version}', 'containernetworking-plugins']) || '?',
    goVersion: /go1\.\d+(\.\d+)?/.exec(goBin)?.[0] ?? '?',
    pageFaultUs: firstTouchMicros(),
    versionFaults: { ours: minorFaults(join(DIST, 'bridge')), go: minorFaults(join(GO, 'bridge')) },
  };
}

/** Page faults of one VERSION of `plugin` (GNU time's %R, the median of 5), or undefined without /usr/bin/time. */
function minorFaults(plugin) {
  if (!existsSync('/usr/bin/time')) return undefined;
  const counts = [0, 1, 2, 3, 4]
    .map(() => spawnSync('/usr/bin/time', ['-f', '%R', plugin], { encoding: 'utf8', env: { CNI_COMMAND: 'VERSION', PATH: process.env.PATH } }).stderr.trim().split('\n').pop())
    .map(Number)
    .filter((x) => x > 0)
    .sort((a, b) => a - b);
  return counts.length ? counts[counts.length >> 1] : undefined;
}

/**
 * What a first touch of a fresh 4 KiB page costs on this machine, µs (the fastest of 3 child processes writing one
 * byte per page of 64 MiB). Every process start pays it per page it touches (the report prints how many a VERSION
 * touches, ours and Go's) — and on a VM it moves with the host (e.g. free page reporting hands freed memory
 * back, and the next touch of it is a host fault): it is the floor under the start-dominated rows.
 */
function firstTouchMicros() {
  const code = 'const n=64*2**20,b=Buffer.allocUnsafeSlow(n),t=process.hrtime.bigint();for(let i=0;i<n;i+=4096)b[i]=1;console.log(Number(process.hrtime.bigint()-t)/1e3/(n/4096))';
  const runs = [0, 1, 2].map(() => Number(run(process.execPath, ['-e', code]))).filter((x) => x > 0);
  return runs.length ? Math.min(...runs) : undefined;
}

const f1 = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const f2 = (x) => x.toFixed(2);
const f3 = (x) => x.toFixed(3);
const pct = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;

/** A Markdown table; the first `left` columns (text) left-aligned, the others (numbers) right-aligned. */
function table(head, rows, left = 1) {
  return [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < left ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Markdown table of rows { label, ours, go } (stats), with ratio ours/Go. */
function rowsTable(rows, unit = 'ms') {
  return table(
    ['case', `cni-ts ${unit}, median (min–max)`, `Go 1.1.1 ${unit}, median (min–max)`, 'ours/Go'],
    rows.map((r) => [r.label.replace(/^\s+/, '↳ '), cell(r.ours), r.go ? cell(r.go) : '–', r.go ? `${f2(r.ours.median / r.go.median)}×` : '–']),
  );
}

const find = (res, key) => res?.rows?.find((r) => r.key === key || r.label === key);
const MISSING = '_not measured in this run_';
const START = 'runtime start → first event';
const OUTSIDE = 'exec + exit (outside)';
/** Order of phases in tables: start first, then the work, then the rest in-process, then exec + exit. */
const rank = (phase) => ({ [START]: 0, 'other in-process': 2, [OUTSIDE]: 3 })[phase] ?? 1;

/** Which phases of ours nftables grew from the smallest to the largest size (portmap.mjs's traced runs), one sentence. */
function portmapGrowth(pm) {
  const [a, b] = Object.keys(pm.phases ?? {}).map(Number).sort((x, y) => x - y).map((c) => pm.phases[c]);
  if (!a || !b) return '';
  const parts = [];
  for (const cmd of ['ADD', 'DEL']) {
    for (const p of b[cmd]) {
      const before = a[cmd].find((x) => x.phase === p.phase)?.median ?? 0;
      if (Math.abs(p.median - before) >= 0.3) parts.push(`${cmd} ${p.phase} ${f1(before)} → ${f1(p.median)} ms`);
    }
  }
  const nft = (x, cmd) => x[cmd].find((p) => p.phase === 'exec nft -f')?.median;
  return `Per phase (traced runs, medians; changes of 0.3 ms or more): ${parts.join(', ') || 'none'}. For scale, the one \`nft -f\` transaction takes ${f1(nft(a, 'ADD') ?? 0)} ms on ADD and ${f1(nft(a, 'DEL') ?? 0)} ms on DEL with nothing else installed. Plain mappings are DNAT data-map elements, whose changes cost the kernel the same at any size; only a config with conditions uses per-attachment chains, where each verdict-map change revalidates the table's jump graph (measured by hand: adding one map element with a jump takes ~5.8 ms with 0 chains and ~7.6 ms with 1000). Any nf_tables deletion costs an RCU wait (~10–15 ms), which is why DEL is slower than ADD on both backends and for Go too, and why DEL's time swings.`;
}

/** Table: ours nftables per phase at the smallest and largest size (ADD and DEL). */
function portmapPhases(pm) {
  const counts = Object.keys(pm.phases ?? {}).map(Number).sort((x, y) => x - y);
  if (counts.length !== 2) return '';
  const cols = ['ADD', 'DEL'].flatMap((cmd) => counts.map((c) => ({ cmd, c, list: pm.phases[c][cmd] })));
  const names = [...new Set(cols.flatMap((x) => x.list.map((p) => p.phase)))].sort((a, b) => rank(a) - rank(b));
  const rows = names.map((name) => [name, ...cols.map((x) => {
    const p = x.list.find((q) => q.phase === name);
    return p ? `${f2(p.median)} (${f2(p.min)}–${f2(p.max)})` : '–';
  })]);
  return `\n\nWhere ours nftables' time goes (the same case run with \`CNI_TS_TRACE\`, interleaved with the others; phases as in the phase breakdown below), ms, median (min–max):\n\n${table(['phase', ...cols.map((x) => `${x.cmd} at ${x.c}`)], rows)}`;
}

/** The targets of issue 9, each evaluated from the results: { name, goal, measured, value, limit, met, why }. */
function targets9(R) {
  const out = [];
  const ph = R.phases;
  const version = find(R.version, 'VERSION');
  const startGap = version ? version.ours.median - version.go.median : undefined;
  const startNote = (execs) =>
    startGap === undefined ? '' : `Each exec of ours costs ${f1(startGap)} ms more to start and exit than a Go plugin's (VERSION ${f1(version.ours.median)} vs ${f1(version.go.median)} ms), ${execs} exec${execs > 1 ? 's' : ''} here: ≈ ${f1(execs * startGap)} ms. `;
  const ratioTarget = (name, row, limit, why, extra = '') => {
    if (!row) return out.push({ name, goal: `≤ ${limit.toFixed(1)}×`, measured: MISSING });
    const v = row.ours.median / row.go.median;
    const over = row.ours.median - limit * row.go.median;
    out.push({
      name,
      goal: `≤ ${limit.toFixed(1)}×`,
      measured: `${f1(row.ours.median)} vs ${f1(row.go.median)} ms${extra}`,
      value: `${f3(v)}×`,
      minRatio: `${f2(row.ours.min / row.go.min)}×`,
      met: v <= limit,
      why: v <= limit ? '' : `Missed by ${pct(v / limit - 1)} (ours would need ${f1(over)} ms less). ${why()}`,
    });
  };
  /** Where one exec of ours in the pod chain spends its time (from phases.mjs), one sentence. */
  const spent = (x) => {
    const e = ph?.execs[x];
    if (!e) return '';
    const g = (name) => e.phases.find((p) => p.phase === name)?.median ?? 0;
    const progs = e.phases.filter((p) => p.phase.startsWith('exec ') && p.phase !== OUTSIDE);
    const top = [...progs].sort((a, b) => b.median - a.median)[0];
    const inproc = e.phases.filter((p) => !p.phase.startsWith('exec ') && p.phase !== START).reduce((s, p) => s + p.median, 0);
    return `${x} ${f1(e.totals.ours.median)} vs ${f1(e.totals.go.median)} ms: ours starts for ${f1(g(START))} ms until its first event and spends ${f1(g(OUTSIDE))} ms on exec and exit outside its clock, ${f1(progs.reduce((s, p) => s + p.median, 0))} ms in ${progs.length} kind${progs.length === 1 ? '' : 's'} of program exec${top ? ` (largest: \`${top.phase.slice(5)}\` ${f1(top.median)} ms)` : ''} and ${f1(inproc)} ms in-process. `;
  };
  const chain = R.chain;
  ratioTarget('pod ADD chain (bridge+host-local+portmap)', find(chain, 'ADD'), 1.0, () => {
    const b = find(chain, 'bridge ADD');
    const p = find(chain, 'portmap ADD');
    return `${startNote(2)}${ph ? spent('bridge ADD') + spent('portmap ADD') : `bridge ADD ${f1(b.ours.median)} vs ${f1(b.go.median)} ms, portmap ADD ${f1(p.ours.median)} vs ${f1(p.go.median)} ms.`}`;
  });
  ratioTarget('pod DEL chain', find(chain, 'DEL'), 0.5, () => {
    const b = find(chain, 'bridge DEL');
    const p = find(chain, 'portmap DEL');
    return `${startNote(2)}In this benchmark portmap DEL is ${f2(p.ours.median / p.go.median)}× Go's and bridge DEL ${f2(b.ours.median / b.go.median)}×. ${spent('portmap DEL')}${spent('bridge DEL')}`;
  });

  const pm = R.portmap;
  if (pm) {
    const at = (count, name) => pm.sizes.find((s) => s.count === count)?.res[name];
    const z = at(0, 'ours nftables');
    const k = at(1000, 'ours nftables');
    if (z && k) {
      const growth = (name) => at(1000, name)['ADD+DEL'].median / at(0, name)['ADD+DEL'].median;
      const v = growth('ours nftables');
      out.push({
        name: 'portmap ADD+DEL at 1000 installed mappings vs at 0 (ours, nftables = default)',
        goal: '≤ 1.1×',
        measured: `${f1(k['ADD+DEL'].median)} vs ${f1(z['ADD+DEL'].median)} ms (ours iptables ${f2(growth('ours iptables'))}×, Go ${f2(growth(pm.go))}×)`,
        value: `${f3(v)}×`,
        minRatio: `${f2(k['ADD+DEL'].min / z['ADD+DEL'].min)}×`,
        met: v <= 1.1,
        why: v <= 1.1 ? '' : `Missed by ${pct(v / 1.1 - 1)}: ADD ${f1(z.ADD.median)} → ${f1(k.ADD.median)} ms, DEL ${f1(z.DEL.median)} → ${f1(k.DEL.median)} ms. ${portmapGrowth(pm)}`,
      });
    } else out.push({ name: 'portmap ADD+DEL at 1000 vs 0 installed mappings', goal: '≤ 1.1×', measured: MISSING });
  } else out.push({ name: 'portmap ADD+DEL at 1000 vs 0 installed mappings', goal: '≤ 1.1×', measured: MISSING });

  const burst = R.burst;
  if (burst) {
    const add = find(burst, 'ADD');
    const dups = burst.checks.ours.reduce((s, c) => s + c.resultDups + c.leaseMismatch, 0);
    const v = add.ours.median / add.go.median;
    out.push({
      name: `burst of ${burst.pods} pods at concurrency ${burst.concurrency} (ADD chains), duplicate IPs`,
      goal: '≤ 1.0×, 0 duplicates',
      measured: `${f1(add.ours.median)} vs ${f1(add.go.median)} ms (${f1(burst.pps.ours.median)} vs ${f1(burst.pps.go.median)} pods/s); ${dups} duplicates`,
      value: `${f3(v)}×`,
      minRatio: `${f2(add.ours.min / add.go.min)}×`,
      met: v <= 1.0 && dups === 0,
      why: v <= 1.0 && dups === 0 ? '' : `${dups ? `${dups} duplicate/unleased addresses! ` : ''}${v > 1 ? `Missed by ${pct(v - 1)}. One exec while ${burst.concurrency} pods run at once, ours vs Go: ${(burst.execRows ?? []).map((r) => `${r.key} ${f1(r.ours.median)} vs ${f1(r.go.median)} ms`).join(', ')}. ${startNote(2)}` : ''}`,
    });
  } else out.push({ name: 'burst of 100 pods at concurrency 10', goal: '≤ 1.0×, 0 duplicates', measured: MISSING });

  ratioTarget('macvlan ADD+DEL (host-local IPAM)', find(R.macvlan, 'host-local ipam ADD+DEL'), 1.5, () => {
    const l2 = find(R.macvlan, 'L2 (no ipam) ADD+DEL');
    return `${startNote(2)}Without IPAM (the plugin alone) ours is ${f1(l2.ours.median)} vs ${f1(l2.go.median)} ms: both do their work over netlink in-process (ours runs no program: its \`ip -batch\` lines go over rtnetlink), so the difference is the process start. The DEL of either is mostly the kernel deleting the link (an RCU wait of 10–30 ms inside the one RTM_DELLINK, whoever sends it), which makes this ratio swing between runs.`;
  });
  ratioTarget('VERSION (process start)', version, 4.0, () =>
    ph ? `Of ours' VERSION, ${f1(ph.versionStart)} ms pass inside the runtime's clock (its start-up until the exit event) and the rest is exec of the 100 MB executable before that clock starts plus exit.` : '',
  );

  const rss = find(R.rss, 'bridge ADD');
  if (rss) {
    const ver = find(R.rss, 'VERSION');
    out.push({
      name: 'peak RSS of one bridge ADD (ours: host-local in-process, included)',
      goal: '≤ 30 MB',
      measured: `${f1(rss.ours.median)} MB (Go: ${f1(rss.go.median)} MB)`,
      value: `${f1(rss.ours.median)} MB`,
      met: rss.ours.median <= 30,
      why: rss.ours.median <= 30 ? '' : `Missed by ${f1(rss.ours.median - 30)} MB (${pct(rss.ours.median / 30 - 1)}). The runtime alone (VERSION) peaks at ${f1(ver.ours.median)} MB; the bridge ADD adds ${f1(rss.ours.median - ver.ours.median)} MB. Measured floors of Bun 1.4.5 compiled executables here: \`console.log(1)\` 25.5 MB; with \`require('node:fs')\` (which every plugin needs for stdin, leases and /proc/sys) 30.0 MB; plus one Bun.spawnSync 31.8 MB; the FFI (flock/setns, saving two execs) adds ~3 MB. So ≤ 30 MB is below what this runtime can do with file I/O at all; getting there would take a runtime without Bun's floor (none found that starts as fast).`,
    });
  } else out.push({ name: 'peak RSS of one bridge ADD', goal: '≤ 30 MB', measured: MISSING });
  return out;
}


/** Where the process start dominates (the issue names VERSION and loopback): ≤ Go + 5 ms instead of a ratio. */
const START_DOMINATED = new Set(['VERSION', 'loopback ADD', 'loopback DEL']);
/** Plugins the issue wants without any exec (iptables-restore allowed only where the iptables backend is chosen). */
const ZERO_EXEC = /^(host-local|loopback|bridge|ptp|macvlan|ipvlan|tuning|portmap \(nftables\)|host-device|static|sbr|tap)/;

/** The targets of issue 18 (zero execs on the hot path), each evaluated from the results. */
function targets18(R) {
  const out = [];
  const version = find(R.version, 'VERSION');
  const ratio = (name, row, limit, why = () => '') => {
    if (!row) return out.push({ name, goal: `≤ ${limit.toFixed(1)}×`, measured: MISSING });
    const v = row.ours.median / row.go.median;
    out.push({
      name,
      goal: `≤ ${limit.toFixed(1)}×`,
      measured: `${f1(row.ours.median)} vs ${f1(row.go.median)} ms`,
      value: `${f3(v)}×`,
      minRatio: `${f2(row.ours.min / row.go.min)}×`,
      met: v <= limit,
      why: v <= limit ? '' : `Missed by ${pct(v / limit - 1)} (ours would need ${f1(row.ours.median - limit * row.go.median)} ms less). ${why()}`,
    });
  };
  // the runtime's floor: an empty executable compiled by the same Bun (version.mjs)
  const floor = find(R.version, 'floor');
  const floorNote = () => (floor ? ` An empty Bun executable (\`process.exit(0)\`, compiled like ours) alone takes ${f1(floor.ours.median)} ms here, Go + ${f1(floor.ours.median - floor.go.median)} ms: the floor of any Bun-compiled program on this machine.` : '');
  const plus5 = (name, row) => {
    if (!row) return out.push({ name, goal: '≤ Go + 5 ms', measured: MISSING });
    const d = row.ours.median - row.go.median;
    out.push({ name, goal: '≤ Go + 5 ms', measured: `${f1(row.ours.median)} vs ${f1(row.go.median)} ms`, value: `Go + ${f2(d)} ms`, minRatio: `Go + ${f2(row.ours.min - row.go.min)} ms`, met: d <= 5, why: d <= 5 ? '' : `Missed by ${f2(d - 5)} ms.${floorNote()}` });
  };
  const startNote = () => (version ? `For scale, starting and ending the process (VERSION) costs ours ${f1(version.ours.median)} ms and Go ${f1(version.go.median)} ms${floor ? `, an empty Bun executable ${f1(floor.ours.median)} ms` : ''}.` : '');
  ratio('pod ADD chain (bridge+host-local+portmap)', find(R.chain, 'ADD'), 0.5, startNote);
  ratio('pod DEL chain', find(R.chain, 'DEL'), 0.4, () => `${startNote()} Both DELs wait for the kernel: the veth's deletion (an RCU grace period inside the one RTM_DELLINK) and an nf_tables deletion's RCU wait.`);
  ratio('macvlan ADD+DEL (host-local IPAM)', find(R.macvlan, 'host-local ipam ADD+DEL'), 1.0, () => `${startNote()} DEL is mostly the kernel deleting the link (an RCU wait inside the one RTM_DELLINK, whoever sends it), which makes this ratio swing between runs.`);
  ratio('L2 bridge ADD (no IPAM)', find(R.bridge, 'L2 (no ipam) ADD'), 1.2, startNote);
  ratio('host-local ADD (200 leases in the store)', find(R['host-local'], 'ADD'), 1.0, startNote);
  plus5('VERSION (process start)', version);
  plus5('loopback ADD', find(R['host-local'], 'loopback ADD'));
  plus5('loopback DEL', find(R['host-local'], 'loopback DEL'));

  // every other single-plugin row of the report ≤ 1.0×
  const named = new Set(['host-local ADD', 'L2 (no ipam) ADD', 'host-local ipam ADD+DEL', 'L2 (no ipam) ADD+DEL']);
  const rows = [
    ...(R['host-local']?.rows ?? []).filter((r) => r.key === 'DEL').map((r) => ({ ...r, label: 'host-local DEL' })),
    ...(R.bridge?.rows ?? []).map((r) => ({ ...r, label: `bridge ${r.label}` })),
    ...(R.macvlan?.rows ?? []).filter((r) => !r.label.endsWith('ADD+DEL')).map((r) => ({ ...r, label: `macvlan ${r.label}` })),
    ...(R.ptp?.rows ?? []).map((r) => ({ ...r, label: `ptp ${r.label}` })),
    ...(R.meta?.rows ?? []),
    ...(R.chain?.rows ?? []).filter((r) => /^\s/.test(r.label)).map((r) => ({ ...r, label: r.label.trim() })),
  ].filter((r) => r.go && !named.has(r.label.replace(/^(bridge|macvlan) /, '')) && !START_DOMINATED.has(r.label));
  if (rows.length) {
    const missed = rows.filter((r) => r.ours.median > r.go.median);
    const startMs = version?.ours.median ?? 0;
    out.push({
      name: 'every other single-plugin row of this report',
      goal: '≤ 1.0× each',
      measured: `${rows.length - missed.length} of ${rows.length} rows at or below Go's median`,
      value: `${rows.length - missed.length}/${rows.length}`,
      met: missed.length === 0,
      why: missed.length
        ? `Above Go: ${missed.map((r) => `${r.label} ${f1(r.ours.median)} vs ${f1(r.go.median)} ms (${f2(r.ours.median / r.go.median)}×${r.go.median < startMs ? `; Go's whole run is shorter than our process start, ${f1(startMs)} ms` : ''})`).join('; ')}.`
        : '',
    });
  } else out.push({ name: 'every other single-plugin row', goal: '≤ 1.0× each', measured: MISSING });

  const ex = R.execs;
  if (ex) {
    const allowed = (p) => /^ip6?tables-(restore)$/.test(p);
    const checked = ex.rows.filter((r) => ZERO_EXEC.test(r.label));
    const bad = checked.filter((r) => [...(r.progs.ADD ?? []), ...(r.progs.DEL ?? [])].some((p) => !allowed(p) || !/iptables/.test(r.label)));
    out.push({
      name: 'programs per invocation: 0 for bridge, ptp, macvlan, host-local, loopback, tuning, portmap (nft), host-device, static, sbr, tap; iptables-restore only with the iptables backend',
      goal: '0 execs',
      measured: `${checked.length - bad.length} of ${checked.length} cases (ipvlan: no kernel support here; its path is macvlan's)`,
      value: `${checked.length - bad.length}/${checked.length}`,
      met: bad.length === 0,
      why: bad.length ? `Still exec'ing: ${bad.map((r) => `${r.label}: ${[...new Set([...(r.progs.ADD ?? []), ...(r.progs.DEL ?? [])])].join(', ')}`).join('; ')}.` : '',
    });
  } else out.push({ name: 'programs per invocation', goal: '0 execs', measured: MISSING });

  const rss = find(R.rss, 'bridge ADD');
  if (rss) {
    const ver = find(R.rss, 'VERSION');
    const priv = find(R.rss, 'bridge ADD private');
    out.push({
      name: 'peak RSS of one bridge ADD (ours: host-local in-process, included)',
      goal: '≤ 35 MB',
      measured: `${f1(rss.ours.median)} MB (Go: ${f1(rss.go.median)} MB)`,
      value: `${f1(rss.ours.median)} MB`,
      met: rss.ours.median <= 35,
      why: rss.ours.median <= 35 ? '' : `Missed by ${f1(rss.ours.median - 35)} MB. The runtime alone (VERSION) peaks at ${f1(ver.ours.median)} MB in this run, the bridge ADD adds ${f1(rss.ours.median - ver.ours.median)} MB.${priv ? ` Private memory of the ADD (RssAnon at its exit): ${f1(priv.ours.median)} MB;` : ''} the rest is the executable's code mapped from the page cache — shared by every process running it, and mapped in large folios (loading Bun's FFI module maps ~7 MB more of it in ~20 page faults), so the figure moves with the kernel's page cache and not with what a plugin allocates.`,
    });
  } else out.push({ name: 'peak RSS of one bridge ADD', goal: '≤ 35 MB', measured: MISSING });
  return out;
}

const PHASE_COLORS = ['#1f4e79', '#4f81bd', '#c0504d', '#e46c0a', '#9bbb59', '#8064a2', '#4bacc6', '#f79646', '#2c7f5e', '#b65f9c', '#7f7f7f', '#bfa12e', '#3d3d3d'];

function phasesSvg(ph) {
  const names = [...new Set(Object.values(ph.execs).flatMap((x) => x.phases.map((p) => p.phase)))].sort((a, b) => rank(a) - rank(b));
  const colorOf = (name) => (name === OUTSIDE ? '#555555' : name === START ? '#1f4e79' : PHASE_COLORS[(names.indexOf(name) % (PHASE_COLORS.length - 2)) + 1]);
  const bars = Object.entries(ph.execs).flatMap(([x, e]) => [
    { label: `${x}`, sublabel: `cni-ts, untraced ${e.totals.ours.median.toFixed(1)} ms`, segments: e.phases.map((p) => ({ name: p.phase, value: p.median, color: colorOf(p.phase) })) },
    { label: '', sublabel: 'Go 1.1.1', segments: [{ name: 'Go 1.1.1, total', value: e.totals.go.median, color: '#b0b0b0' }] },
  ]);
  return stackedBars({
    title: 'Where each exec of the pod chain spends its time: cni-ts phase by phase, Go total',
    subtitle: `bridge (isGateway, ipMasq, hairpinMode, host-local in-process) and portmap, ADD then DEL; each segment the median of ${ph.rounds} runs (CNI_TS_TRACE)`,
    xLabel: 'milliseconds (wall time as the runtime sees it)',
    bars,
    legendValues: false,
  });
}

function portmapSvg(pm) {
  const colors = { 'ours nftables': '#1f77b4', 'ours iptables': '#2ca02c', [pm.go]: '#d62728', 'ours nft, bare DEL': '#1f77b4', 'ours nft, conditions': '#9467bd' };
  const series = pm.impls.map((name) => ({
    name,
    color: colors[name] ?? '#7f7f7f',
    dash: name.includes('bare DEL') ? '6 4' : undefined,
    note: name.includes('bare DEL') ? '(DEL without cached result)' : undefined,
    points: pm.sizes.map((s) => ({ x: s.count, y: s.res[name]['ADD+DEL'].median, lo: s.res[name]['ADD+DEL'].min, hi: s.res[name]['ADD+DEL'].max })),
  }));
  return linePlot({
    title: 'portmap ADD+DEL vs mappings already installed on the host',
    subtitle: `one container with 2 mappings (tcp, udp); wall ms per ADD+DEL pair, ${pm.rounds} interleaved rounds`,
    xLabel: 'mappings of other containers installed',
    yLabel: 'ADD + DEL, ms',
    xTicks: [0, ...pm.sizes.map((s) => s.count).filter((x) => x > 0)],
    series,
  });
}

function agentScaleSvg(a) {
  const top = Math.max(...a.sizes);
  const step = top > 2000 ? 500 : top > 500 ? 200 : 50;
  return linePlot({
    title: 'cni-ts-agent: time until N peers are installed',
    subtitle: `vxlan, simulated peers in etcd; routes + FDB + neighbours checked in the kernel; ${a.rounds} runs per size`,
    xLabel: 'peers (other nodes) in the cluster',
    yLabel: 'ms',
    xTicks: Array.from({ length: Math.floor(top / step) + 1 }, (_, i) => i * step),
    series: [
      { name: 'agent start → all installed', color: '#1f77b4', points: a.install.map((r) => ({ x: r.peers, y: r.start.median, lo: r.start.min, hi: r.start.max })) },
      { name: 'its first reconcile alone', color: '#2ca02c', dash: '6 4', note: '(dump, diff, one netlink batch)', points: a.install.map((r) => ({ x: r.peers, y: r.reconcile.median, lo: r.reconcile.min, hi: r.reconcile.max })) },
    ],
  });
}

/** The agent-scale section (issue 16): goals, install times per size, one change, the no-op resync. */
function agentScaleSection(a) {
  const goals = table(['goal (issue 16)', 'target', 'measured', 'met'], a.goals.map((g) => [g.name, g.goal, g.value, g.met ? '✓' : '✗']), 2);
  const sizes = table(
    ['peers', 'agent start → all installed, ms', 'first reconcile, ms', 'peak RSS, MB'],
    a.install.map((r) => [String(r.peers), cell(r.start), cell(r.reconcile), f1(r.rssMB)]),
  );
  const t = a.resync.threads ?? {};
  const threads = Object.entries(t).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${f1(v)}`).join(', ');
  return [
    `The built agent (\`dist/bin/cni-ts-agent\`, vxlan backend) in a throwaway node netns, its own etcd 3.4 in another (a veth between them), N simulated peers written into etcd in the agent's own key layout (\`<prefix>/subnets/<subnet>\` with node, public IP, subnet and VTEP MAC; FDB entries need no reachable next hop). Each size: a clean node, the agent started, timed until its log says the first reconcile is done, then routes, permanent neighbours and FDB entries counted in the kernel (must be N each). ${a.rounds} runs per size; ms, median (min–max).`,
    '',
    goals,
    '',
    '![time until N peers are installed](agent-scale.svg)',
    '',
    sizes,
    '',
    `One peer added / removed while ${a.changeBase} exist (etcd put / delete → the agent's log says the reconcile is done, the route checked in the kernel), ${a.changeRounds} each: added ${cell(a.add)} ms, removed ${cell(a.remove)} ms. The agent reconciles 20 ms after the first event of a burst.`,
    '',
    `Periodic resync with nothing to change, ${a.resync.peers} peers (--resync-interval 1 after a warm-up, ${a.resync.windowS} s measured; the CPU of the agent process and the children it ran, from /proc, ${a.resync.tickMs} ms ticks): **${a.resync.cpuMsPerResync.toFixed(1)} ms** per resync (${f1(a.resync.cpuMs)} ms over ${a.resync.resyncs}); per thread: ${threads || '–'}. The reconcile's own wall time: ${f1(a.resync.lastReconcileMs)} ms. Peak RSS over all runs: ${f1(a.peakRss)} MB.`,
    '',
    "How it stays cheap: the kernel state is read with rtnetlink dumps in-process (no `ip`/`bridge` exec: each costs ~12 ms of CPU, four per reconcile), parsed once per reconcile; the diff is linear (maps keyed by canonical addresses, parsing memoized); the changes go as one netlink batch; the masquerade table is checked over netlink and re-installed only when it changed; every resync also re-detects the underlay (links, addresses, default routes over rtnetlink in-process) and checks the FORWARD rules by the nftables ruleset generation (one netlink round trip; the rules are read only when it moved); status.json is rewritten only when more than the time changed; a full garbage collection follows a change of the peers (at most one a second), which keeps the heap from growing to several times its live size under a stream of changes. The runtime's own threads (JIT, the allocator's scavenger, GC) are part of the CPU above.",
  ].join('\n');
}

/** Write report.md, portmap.svg and pod-phases.svg to `dir` from results R = { bench name: saved value }. */
export function writeReport(R, dir, facts, meta) {
  mkdirSync(dir, { recursive: true });
  const md = [];
  const f = facts;
  md.push('# cni-ts vs the Go reference plugins: benchmark report');
  md.push('');
  md.push(`Written by \`npm run bench\` on ${f.date} (took ${(meta.seconds / 60).toFixed(1)} min). Rerun it to refresh this file and the plots beside it.`);
  md.push('');
  md.push(`- Machine: ${f.cpus} × ${f.cpuModel}, ${f.memGiB} GiB, ${f.os}, kernel ${f.kernel}; shared with other jobs (load average at the start ${meta.loadStart}, at the end ${f.load}).${f.pageFaultUs === undefined ? '' : ` A first touch of a fresh 4 KiB page costs ${f.pageFaultUs.toFixed(2)} µs here at the time of this run (each process start pays it per page it touches${f.versionFaults?.ours && f.versionFaults?.go ? `: ${f.versionFaults.ours.toLocaleString('en')} times for our executable's VERSION, ${f.versionFaults.go.toLocaleString('en')} for a Go plugin's` : ''}; it moves with the VM's host, and the start-dominated rows with it).`}`);
  md.push(`- cni-ts ${f.commit}: the self-contained executable \`dist/bin/cni-ts\` (Bun ${f.bun}), host-local in-process. Go: Debian \`containernetworking-plugins\` ${f.goPkg} in ${GO} (built with ${f.goVersion}).`);
  md.push(
    `- Method: each plugin is exec'd as a runtime does (CNI_* env, config on stdin) by a runtime process (Node ${f.node}, scripts/bench/_runtime.mjs) living inside a throwaway \`cnits-bench-*\` host netns, one per side, so no \`ip netns exec\` is in any timing; ours and Go's rounds alternate (order flipped every round) after untimed warm-up rounds, so the load of this shared machine hits both alike. Numbers are medians with min–max; ratios are ours/Go of the medians.`,
  );
  md.push('');
  md.push('## Targets (issue 18)');
  md.push('');
  const targetTable = (T) => table(['target', 'goal', 'measured, medians (ours vs Go)', 'value', 'met', 'from the minimums'], T.map((t) => [t.name, t.goal, t.measured, t.value ?? '–', t.met === undefined ? '–' : t.met ? '✓' : '✗', t.minRatio ?? '–']), 3);
  const T18 = targets18(R);
  md.push(targetTable(T18));
  md.push('');
  md.push('"value" is from the medians and decides ✓/✗ (ratios to 3 decimals, so a value at the goal is not rounded onto it); "from the minimums" is the same ratio from the fastest runs, a check of how much the noise of the shared machine moves it.');
  md.push('');
  md.push('Earlier targets (issue 9) that the ones above do not replace:');
  md.push('');
  const T9 = targets9(R).filter((t) => /^(portmap ADD\+DEL at 1000|burst)/.test(t.name));
  md.push(targetTable(T9));
  md.push('');
  const T = [...T18, ...T9.filter((t) => !T18.some((u) => u.name === t.name))];
  const missed = T18.filter((t) => t.met === false);
  if (missed.length) {
    md.push('Where targets are missed and where the time goes:');
    md.push('');
    for (const t of missed) md.push(`- **${t.name}** (${t.value}, goal ${t.goal}): ${t.why.trim()}`);
    md.push('');
  }
  const section = (title, key, body) => {
    md.push(`## ${title}`);
    md.push('');
    md.push(R[key] ? body(R[key]) : MISSING);
    md.push('');
  };
  section('Process start (VERSION)', 'version', (r) => `\`CNI_COMMAND=VERSION\` of bridge, median of ${r.rounds}.${r.rows.length > 1 ? ' The second row is the runtime\'s floor: an executable compiled by the same Bun with the same flags from `process.exit(0)` (Go\'s column repeats its VERSION).' : ''}\n\n${rowsTable(r.rows)}`);
  section('host-local and loopback', 'host-local', (r) => `Dual-stack host-local with 200 leases already in the store; each side its own dataDir. Median of ${r.rounds}.\n\n${rowsTable(r.rows)}`);
  const execTable = (execs) =>
    `Programs executed per invocation (strace execve, the IPAM plugin and what it runs included):\n\n${table(['case', 'ours ADD', 'Go ADD', 'ours DEL', 'Go DEL'], execs.map((e) => [e.label, e.ours.ADD, e.go.ADD, e.ours.DEL, e.go.DEL]))}`;
  section('bridge', 'bridge', (r) => `Median of ${r.rounds}; \\*Go 1.1.1 has no nftables backend (uses iptables for the same config).\n\n${rowsTable(r.rows)}\n\n${execTable(r.execs)}`);
  section(
    'Pod chain: bridge + host-local + portmap (one mapping)',
    'chain',
    (r) =>
      `The conflist (cniVersion 1.0.0): bridge \`cni0\` (isGateway, ipMasq, hairpinMode, host-local 10.89.0.0/16) then portmap (capabilities.portMappings, one tcp mapping in runtimeConfig). ADD: bridge then portmap with bridge's result as prevResult; DEL: portmap then bridge, each with the cached final result as prevResult. A chain's time is the wall time of its execs in sequence. Median of ${r.rounds}.\n\n${rowsTable(r.rows)}`,
  );
  section('macvlan', 'macvlan', (r) => `On a veth master; each side its own host netns and host-local. Median of ${r.rounds}.\n\n${rowsTable(r.rows)}`);
  section('macvlan + dhcp', 'dhcp', (r) => `Against dnsmasq in a LAN netns behind the veth master; each side its own daemon (ours \`dhcp daemon\`, Go's \`/usr/lib/cni/dhcp daemon\`). ADD includes the daemon's DISCOVER/OFFER/REQUEST/ACK, DEL its DHCPRELEASE. Go's daemon opens its packet socket before raising the new link, fails with "network is down" and retries about 3 s later, on every ADD. Median of ${r.rounds}.\n\n${rowsTable(r.rows)}`);
  section('ptp', 'ptp', (r) => `Median of ${r.rounds}. The Go ptp waits for IPv6 duplicate address detection (1–2 s per dual-stack ADD); cni-ts does not.\n\n${rowsTable(r.rows)}\n\n${execTable(r.execs)}`);
  section('vlan, dummy, tap', 'vlan-dummy-tap', (r) => `tap on this host, ours only (Debian's Go plugins 1.1.1 have no tap); each case its own round of ADD then DEL in one container netns. Median of ${r.rounds}.\n\n${rowsTable(r.rows)}\n\n${r.vm?.rows ? `vlan (ours vs Go 1.1.1) and dummy (ours; 1.1.1 has none) inside the QEMU VM bed — this host's kernel has neither 802.1q nor dummy — under software emulation (TCG): every time is many times a real machine's, so read the ratio, not the milliseconds. Median of ${r.vm.rounds}.\n\n${rowsTable(r.vm.rows)}` : `vlan and dummy (VM): not measured in this run (${r.vm?.skipped ?? '?'}).`}`);
  section('tuning, firewall, bandwidth', 'meta', (r) => `Chained after an interface plugin (prevResult names a veth pair). Median of ${r.rounds}. bandwidth: Go 1.1.1 installs tbf, cni-ts the current reference's htb.\n\n${rowsTable(r.rows)}`);
  section('host-device, static, sbr', 'device-routing', (r) => `host-device moves a veth end in and out (static IPAM, in-process for ours); static is the IPAM plugin alone; sbr is chained after a dual-stack veth (its addresses and routes put back between rounds, untimed). vrf cannot run on this host (no VRF driver; its tests run in the VM). Median of ${r.rounds}.\n\n${rowsTable(r.rows)}`);
  section('portmap vs installed mappings', 'portmap', (pm) => {
    const rows = [];
    for (const s of pm.sizes) for (const name of pm.impls) rows.push([String(s.count), name, cell(s.res[name].ADD), cell(s.res[name].DEL), cell(s.res[name]['ADD+DEL']), `${f2(s.res[name]['ADD+DEL'].median / s.res[pm.go]['ADD+DEL'].median)}×`]);
    const growth = pm.impls.map((name) => `${name} ${f2(pm.sizes.at(-1).res[name]['ADD+DEL'].median / pm.sizes[0].res[name]['ADD+DEL'].median)}×`).join(', ');
    const none = pm.noMappings ? `\n\nWith \`portMappings: []\` on an empty host: ${Object.entries(pm.noMappings).map(([k, v]) => `${k} ADD ${cell(v.ADD)}, DEL ${cell(v.DEL)} ms`).join('; ')}.` : '';
    return `One container with 2 mappings (tcp 8080, udp 8081) added and deleted while other containers' mappings are installed (one batch generated by our own rule modules; the iptables rules are the reference's). Every implementation and size in its own host netns, all interleaved. Median of ${pm.rounds}. "bare DEL": the runtime lost its cache (no runtimeConfig, no prevResult), ours then has to read the table.\n\n![portmap ADD+DEL vs installed mappings](portmap.svg)\n\n${table(['installed', 'implementation', 'ADD ms', 'DEL ms', 'ADD+DEL ms', 'ADD+DEL vs Go'], rows, 2)}\n\nGrowth of ADD+DEL from ${pm.sizes[0].count} to ${pm.sizes.at(-1).count}: ${growth}.${none}${portmapPhases(pm)}`;
  });
  section('Burst: pods at concurrency', 'burst', (b) => {
    const c = (side) => b.checks[side].map((x) => `${x.resultDups} dup / ${x.leaseMismatch} unleased / ${x.leases} leases / ${x.leasesAfterDel} left after DEL`).join('; ');
    return `${b.pods} pods, ${b.concurrency} at a time, each its own container netns, each the full pod ADD chain above (its own host port); then all DEL chains at the same concurrency. Wall time of all ADDs / all DELs, median of ${b.rounds} rounds (one warm-up pod per side first).\n\n${rowsTable(b.rows)}\n\nOne exec while ${b.concurrency} pods run at once (median over all pods of a round, then over the rounds):\n\n${rowsTable(b.execRows ?? [])}\n\nPods/s (ADD): ours ${f1(b.pps.ours.median)} (${f1(b.pps.ours.min)}–${f1(b.pps.ours.max)}), Go ${f1(b.pps.go.median)} (${f1(b.pps.go.min)}–${f1(b.pps.go.max)}).\n\nChecks per round (duplicate addresses among the results / pods whose address's lease file names another container / lease files after the ADDs / after the DELs): ours ${c('ours')}; Go ${c('go')}.`;
  });
  section('Peak RSS', 'rss', (r) => `GNU time \`%M\` (the largest single process of the waited tree, not a sum). Ours runs host-local in-process, so the bridge ADD number includes IPAM; Go's bridge execs host-local (and iptables) as children, which count only when larger than bridge itself, so Go's host-local alone is listed too. Median of ${r.rounds}.\n\n${rowsTable(r.rows, 'MB')}`);
  section('Programs executed per invocation', 'execs', (ex) =>
    `Every case run once under strace (execve; the IPAM plugin and what it runs included, \`ip netns exec\` and the plugin itself not counted). Ours runs \`ip\`, \`bridge\` and \`nft\` in-process (rtnetlink and libnftables through the executable's FFI); what it still execs is listed. \\*Go 1.1.1 has no nftables backend (uses iptables for the same config); Go 1.1.1 has no tap.\n\n${table(
      ['case', 'ours ADD', 'Go ADD', 'ours DEL', 'Go DEL', 'programs ours ran'],
      ex.rows.map((r) => [r.label, r.ours.ADD, r.go.ADD ?? '–', r.ours.DEL ?? '–', r.go.DEL ?? '–', [...new Set([...(r.progs.ADD ?? []), ...(r.progs.DEL ?? [])])].join(', ') || '–']),
    )}`,
  );
  section('Where the time of ours goes, phase by phase', 'phases', (ph) => {
    const xs = Object.keys(ph.execs);
    const names = [...new Set(xs.flatMap((x) => ph.execs[x].phases.map((p) => p.phase)))].sort((a, b) => rank(a) - rank(b));
    const rows = names.map((name) => [name, ...xs.map((x) => ph.execs[x].phases.find((p) => p.phase === name)).map((p) => (p ? `${f2(p.median)} (${f2(p.min)}–${f2(p.max)})` : '–'))]);
    const sums = ['sum of the phase medians', ...xs.map((x) => f1(ph.execs[x].phases.reduce((s, p) => s + p.median, 0)))];
    const wall = (k, label) => [label, ...xs.map((x) => cell(ph.execs[x].totals[k]))];
    return `Each exec of ours in the pod chain run with \`CNI_TS_TRACE\` (lib/trace.ts: one line per exec / in-process phase, \`t\` = ms on the process's clock since its start). *${START}*: the runtime's start-up, loading the plugin's code, reading stdin and the config until the first traced event (for scale: VERSION, the same executable doing nothing, reaches its exit event at ${f2(ph.versionStart)} ms); *exec …*: programs run; *netlink ip …*, *libnftables nft …*: \`ip\`/\`bridge\` command lines run over rtnetlink in-process, nft scripts through libnftables; *in-process …*: host-local run in-process (own work, nested events out), flock(2) and setns+sysctl through FFI; *other in-process*: the rest until the exit event; *${OUTSIDE}*: the runtime's wall time minus the exit event's \`t\` (fork/exec of the executable, loading before the clock starts, exit). Median of ${ph.rounds} per phase (the medians' sum need not equal the median total); traced runs, untraced runs and Go's interleaved.\n\n![the pod chain's execs, phase by phase](pod-phases.svg)\n\n${table(['phase, ms: median (min–max)', ...xs], [...rows, sums, wall('oursTraced', 'wall, ours traced'), wall('ours', 'wall, ours untraced'), wall('go', 'wall, Go 1.1.1')])}`;
  });
  section('cni-ts-agent at scale (issue 16)', 'agent-scale', agentScaleSection);
  md.push(`Benchmarks run: ${meta.ran.join(', ')}${meta.failed.length ? `; FAILED: ${meta.failed.join(', ')}` : ''}.`);
  md.push('');
  writeFileSync(join(dir, 'report.md'), md.join('\n'));
  if (R.portmap) writeFileSync(join(dir, 'portmap.svg'), portmapSvg(R.portmap));
  if (R.phases) writeFileSync(join(dir, 'pod-phases.svg'), phasesSvg(R.phases));
  if (R['agent-scale']) writeFileSync(join(dir, 'agent-scale.svg'), agentScaleSvg(R['agent-scale']));
  return T;
}

/** "## Title" blocks of a Markdown report, in order: [{ title, text }] (text includes the heading). */
function splitSections(md) {
  const parts = md.split(/^(?=## )/m);
  return parts.map((text) => ({ title: /^## (.*)$/m.exec(text)?.[1] ?? '', text }));
}

/**
 * Replace, in `dir`/report.md, only the sections of the benchmarks in R (those measured in this run), and their plots;
 * each replaced section says when and at which commit it was measured. A section not there yet goes before the closing
 * "Benchmarks run" line. Returns the titles replaced.
 */
export function updateReport(R, dir, facts, meta) {
  const tmp = mkdtempSync(join(tmpdir(), 'cni-ts-bench-report-'));
  try {
    writeReport(R, tmp, facts, meta);
    const fresh = splitSections(readFileSync(join(tmp, 'report.md'), 'utf8')).filter((x) => x.title && x.title !== 'Targets (issue 18)' && !x.text.includes(MISSING));
    const path = join(dir, 'report.md');
    let md = existsSync(path) ? readFileSync(path, 'utf8') : '# cni-ts benchmark report\n\n';
    const note = `_This section: measured by \`npm run bench -- ${meta.ran.join(' ')}\` on ${facts.date} at cni-ts ${facts.commit} (load average at the start ${meta.loadStart}); the other sections are from the run described at the top._\n\n`;
    // The closing "Benchmarks run: …" line stays last.
    const closing = /\nBenchmarks run: [^\n]*\n*$/.exec(md);
    if (closing) md = md.slice(0, closing.index + 1);
    const sections = splitSections(md);
    for (const sec of fresh) {
      const body = sec.text.replace(/^(## .*\n\n)/, `$1${note}`).replace(/\nBenchmarks run: [^\n]*\n*$/, '\n').replace(/\n*$/, '\n\n');
      const at = sections.findIndex((x) => x.title === sec.title);
      if (at >= 0) sections[at] = { title: sec.title, text: body };
      else sections.push({ title: sec.title, text: body });
    }
    md = sections.map((x) => x.text).join('') + (closing ? closing[0].trimStart().replace(/\n*$/, '\n') : '');
    writeFileSync(path, md);
    for (const f of readdirSync(tmp)) if (f.endsWith('.svg')) copyFileSync(join(tmp, f), join(dir, f));
    return fresh.map((x) => x.title);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
