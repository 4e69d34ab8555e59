#!/usr/bin/env node
// `npm run build`: ONE self-contained executable, dist/bin/cni-ts, and a symlink to it per program name
// (dist/bin/bridge -> cni-ts, …). It needs nothing on the host: no Node, no node_modules.
//
//   1. The entry (dist/build/cni-ts-entry.js) is a table name -> lazy require of every plugin (plugins/<type>/main.ts,
//      ipam/<type>/main.ts) and every command (COMMANDS); it dispatches on the name it was invoked by.
//   2. Bun (the pinned @oven/bun-linux-<arch> package from npm ci: the runtime binary itself, no download) bundles the
//      entry from the sources with code splitting at every require() and compiles it, with each chunk's bytecode, into
//      dist/bin/cni-ts. A program loads and evaluates only its own modules: a plugin's start does not pay for the code
//      (nor the bytecode) of the others, cnictl or the agent.
//   3. esbuild bundles the same entry into one CommonJS file, dist/build/cni-ts.cjs, which Node runs (the tests that
//      show a program works under Node too).
//
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'dist', 'bin');
const bundle = join(root, 'dist', 'build', 'cni-ts.cjs');
const entryFile = join(root, 'dist', 'build', 'cni-ts-entry.js');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

/** The plugins: every plugins/<type>/main.ts and ipam/<type>/main.ts, exporting `plugin`. */
export function pluginEntries() {
  const found = [];
  for (const dir of ['plugins', 'ipam']) {
    const base = join(root, dir);
    if (!existsSync(base)) continue;
    for (const type of readdirSync(base).sort()) {
      const main = join(base, type, 'main.ts');
      if (existsSync(main)) found.push({ type, main, ipam: dir === 'ipam' });
    }
  }
  return found;
}

/**
 * Programs that are not plugins: `<main>` exports `main(argv: string[], env: NodeJS.ProcessEnv): Promise<number>` (the
 * exit status) and does nothing at import. Built only when the file exists.
 */
export const COMMANDS = [
  { name: 'cnictl', main: 'cli/main.ts' },
  { name: 'cni-ts-agent', main: 'agent/main.ts' },
].filter((c) => existsSync(join(root, c.main)));

/**
 * A plugin's long-running mode: `<plugin> <arg> …` runs `<main>`'s `main(argv, env)` (as a command) instead of the
 * plugin — the reference's `dhcp daemon`. Built only when the file exists.
 */
export const PLUGIN_MODES = [{ plugin: 'dhcp', arg: 'daemon', main: 'ipam/dhcp/daemon.ts' }].filter((m) => existsSync(join(root, m.main)));

/** Every name the executable answers to (the links in dist/bin and in a release). */
export const programNames = () => [...pluginEntries().map((e) => e.type), ...COMMANDS.map((c) => c.name)];

/** The Bun runtime that compiles (and is embedded): from node_modules, pinned in package.json. */
export function bunFor(target) {
  const pkg = { 'linux-x64': '@oven/bun-linux-x64', 'linux-arm64': '@oven/bun-linux-aarch64' }[target];
  if (!pkg) throw new Error(`unknown target ${target} (linux-x64 or linux-arm64)`);
  try {
    return join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), 'bin', 'bun');
  } catch {
    throw new Error(`${pkg} is not installed: run npm ci${target === 'linux-arm64' ? ' (arm64: see scripts/release.mjs)' : ''}`);
  }
}

export const hostTarget = () => ({ x64: 'linux-x64', arm64: 'linux-arm64' })[process.arch] ?? `linux-${process.arch}`;

/** JIT tier-up threshold scale of the executable (see compile()); the commands (agent, cnictl) run with the normal 1. */
const JIT_POLICY = 100;

/** The entry of the multi-call bundle: a table name -> lazy loader, dispatching on the invoked name. */
function entrySource() {
  const plugins = pluginEntries();
  const ipam = plugins.filter((e) => e.ipam);
  const q = JSON.stringify;
  // Paths relative to dist/build (where the entry is written): no checkout's absolute path in the executable.
  const rel = (p) => `../../${p.slice(root.length + 1)}`;
  return `const plugins={${plugins.map((e) => `${q(e.type)}:()=>require(${q(rel(e.main))}).plugin`).join(',')}};
const commands={${COMMANDS.map((c) => `${q(c.name)}:()=>require(${q(rel(join(root, c.main)))}).main`).join(',')}};
// IPAM plugins by their names and by our prefixed names (cni-ts-agent's conflist names cni-ts-host-local).
const ipam={${ipam.flatMap((e) => [e.type, `cni-ts-${e.type}`]).map((t, i) => `get ${q(t)}(){return plugins[${q(ipam[Math.floor(i / 2)].type)}]()}`).join(',')}};
// Bun: argv0 is the name we were invoked by (argv[1] is the embedded script); under node it is argv[1]. A plugin also
// answers to cni-ts-<type> (--install-cni installs those beside the distribution's plugins). No node:path: its load
// costs every start ~1.5 ms.
const invokedAs=typeof Bun!=='undefined'?process.argv0:(process.argv[1]||'');
let name=invokedAs.slice(invokedAs.lastIndexOf('/')+1);
if(!plugins[name]&&!commands[name]&&name.startsWith('cni-ts-')&&plugins[name.slice(7)])name=name.slice(7);
const modes={${PLUGIN_MODES.map((m) => `${q(`${m.plugin} ${m.arg}`)}:()=>require(${q(rel(join(root, m.main)))}).main`).join(',')}};
const mode=modes[name+' '+process.argv[2]];
if(mode){mode()(process.argv.slice(3),process.env).then((c)=>{process.exitCode=c},(e)=>{process.stderr.write(name+': '+(e&&e.stack||e)+'\\n');process.exitCode=1})}
else if(plugins[name]){process.exit(require(${q(rel(join(root, 'lib/cni/skel.ts')))}).runPlugin(plugins[name](),process.env,ipam))}
else if(commands[name]){if(typeof Bun!=='undefined')Bun.unsafe?.setJITPolicy?.(1);commands[name]()(process.argv.slice(2),process.env).then((c)=>{process.exitCode=c},(e)=>{process.stderr.write(name+': '+(e&&e.stack||e)+'\\n');process.exitCode=1})}
else{const names=[...Object.keys(plugins),...Object.keys(commands)].join(', ');const a=process.argv[2];
if(a==='--version'||a==='version'){process.stdout.write('cni-ts '+${q(version)}+'\\n')}
else if(a==='--help'||a==='-h'||a==='help'){process.stdout.write('cni-ts '+${q(version)}+': CNI plugins and tools in one self-contained executable.\\nRun it by one of its names (a link named like it, as in a CNI bin dir): '+names+'\\n')}
else{process.stderr.write('cni-ts: invoke me by one of my names (a link named like it): '+names+'\\n');process.exitCode=2}}
`;
}

/** The entry for Bun (dist/build/cni-ts-entry.js) and the one-file CommonJS bundle of it for Node. */
async function bundleAll() {
  mkdirSync(dirname(bundle), { recursive: true });
  const entry = entrySource();
  writeFileAtomic(entryFile, entry);
  await build({
    stdin: { contents: entry, resolveDir: dirname(entryFile), loader: 'js', sourcefile: 'cni-ts-entry.js' },
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    external: ['bun:*'], // Bun's own modules (lib/native.ts): resolved by the runtime
    define: { __CNI_TS_VERSION__: JSON.stringify(version) },
  });
}

function writeFileAtomic(path, text) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/**
 * Compile the entry into a self-contained executable for `target` at `outfile` (atomically). Bun embeds the output
 * file's name, so it is compiled as `cni-ts` in a private directory and then renamed: the same sources and lock file
 * give the same bytes.
 */
export function compile(target, outfile) {
  const tmpDir = join(root, 'dist', 'build', `compile-${process.pid}`);
  const tmp = join(tmpDir, 'cni-ts');
  mkdirSync(tmpDir, { recursive: true });
  try {
    bunCompile(entryFile, tmp, target, tmpDir);
    chmodSync(tmp, 0o755);
    renameSync(tmp, outfile);
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

/**
 * `bun build --compile` of `entry` into `outfile` for `target`, as every executable of ours is compiled (the bench's
 * runtime-floor executable too, scripts/bench/version.mjs). Throws with Bun's output when it fails.
 */
export function bunCompile(entry, outfile, target = hostTarget(), cwd = dirname(outfile)) {
  // Splitting: every require() of a module is a chunk boundary (Bun's splitRequire), each chunk its own bytecode,
  // evaluated when the call runs. ESM is the format splitting needs.
  const args = ['build', entry, '--compile', '--bytecode', '--splitting', '--format=esm', '--minify', `--outfile=${outfile}`,
    `--define=__CNI_TS_VERSION__=${JSON.stringify(version)}`,
    // A CNI plugin must not read .env or bunfig.toml from whatever directory the runtime runs it in.
    '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig'];
  // A plugin lives for milliseconds: JIT-compiling its code costs more time and memory (the compilers' code pages, their
  // output) than it gains; 100× the tier-up thresholds keeps it in the interpreter and baseline tiers (bridge ADD
  // ~3-4 MB less peak RSS, no slower; the long-running commands set the normal policy back, see entrySource).
  args.push(`--compile-jit-policy=${process.env.CNI_TS_BUILD_JIT_POLICY ?? JIT_POLICY}`);
  if (target !== hostTarget()) args.push(`--target=bun-${target}`, `--compile-executable-path=${bunFor(target)}`);
  const r = spawnSync(bunFor(hostTarget()), args, { encoding: 'utf8', env: { ...process.env, DO_NOT_TRACK: '1' }, cwd });
  if (r.status !== 0) throw new Error(`bun build --compile failed (${r.status}):\n${r.stdout}${r.stderr}`);
}

/** dist/bin/<name> -> cni-ts for every program; stale links of programs that no longer exist are removed. */
function linkNames() {
  const names = new Set(programNames());
  for (const f of readdirSync(out)) {
    const p = join(out, f);
    if (f === 'cni-ts') continue;
    const isOurLink = lstatSync(p).isSymbolicLink() && readlinkSync(p) === 'cni-ts';
    if (!names.has(f) || !isOurLink) rmSync(p, { force: true }); // also old-style JS files of earlier builds
  }
  for (const n of names) {
    const p = join(out, n);
    if (existsSync(p)) continue;
    const tmp = `${p}.tmp-${process.pid}`;
    symlinkSync('cni-ts', tmp);
    renameSync(tmp, p);
  }
}

async function main() {
  const { values } = parseArgs({ options: { target: { type: 'string' }, outfile: { type: 'string' } } });
  const target = values.target ?? hostTarget();
  await bundleAll();
  if (values.outfile) {
    compile(target, resolve(values.outfile));
    console.log(`built ${values.outfile} (${target})`);
    return;
  }
  mkdirSync(out, { recursive: true });
  compile(target, join(out, 'cni-ts'));
  linkNames();
  console.log(`built dist/bin/cni-ts (${target}, self-contained) and its names: ${programNames().join(', ')}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
