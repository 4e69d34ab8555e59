#!/usr/bin/env node
// Bundles every plugin (plugins/<type>/main.ts, ipam/<type>/main.ts) into one self-contained CommonJS file
// dist/bin/<type>, plus dist/bin/cni-ts: one multi-call bundle that dispatches on the name it is invoked as.
// `node scripts/build.mjs bridge host-local` builds only those. Files are replaced atomically (write + rename),
// so tests running meanwhile never execute a half-written plugin.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'dist', 'bin');

export function pluginEntries() {
  const found = [];
  for (const dir of ['plugins', 'ipam']) {
    const base = join(root, dir);
    if (!existsSync(base)) continue;
    for (const type of readdirSync(base).sort()) {
      const main = join(base, type, 'main.ts');
      if (existsSync(main)) found.push({ type, main });
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

/** A hash of every source file: executables of one build may run each other in-process (lib/cni/invoke.ts). */
function buildId() {
  const h = createHash('sha256');
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) h.update(p.slice(root.length)).update(readFileSync(p));
    }
  };
  for (const d of ['lib', 'plugins', 'ipam', ...COMMANDS.map((c) => c.main.split('/')[0])]) if (existsSync(join(root, d))) walk(join(root, d));
  return h.digest('hex').slice(0, 16);
}

const BUILD = buildId();

const common = (name) => ({
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  define: { __CNI_TS_BUILD__: JSON.stringify(BUILD) },
  banner: { js: `#!/usr/bin/env node\n// cni-ts ${BUILD} ${name}` },
  logLevel: 'warning',
});

const skel = JSON.stringify(join(root, 'lib/cni/skel.ts'));

/** Does the plugin (its own folder) delegate to other plugins (imports lib/cni/invoke)? */
function delegatesIpam(main) {
  const dir = join(main, '..');
  const imports = (f) => readFileSync(join(dir, f), 'utf8').includes("lib/cni/invoke.js'");
  return !main.includes('/ipam/') && readdirSync(dir).some((f) => f.endsWith('.ts') && imports(f));
}

async function buildTo(outfile, options) {
  const tmp = `${outfile}.tmp-${process.pid}`;
  await build({ ...options, outfile: tmp });
  chmodSync(tmp, 0o755);
  renameSync(tmp, outfile);
}

async function main() {
  mkdirSync(out, { recursive: true });
  const all = pluginEntries();
  const only = process.argv.slice(2);
  const unknown = only.filter((t) => !all.some((e) => e.type === t) && !COMMANDS.some((c) => c.name === t));
  if (unknown.length) throw new Error(`no such plugin: ${unknown.join(', ')}`);
  const entries = only.length ? all.filter((e) => only.includes(e.type)) : all;
  // Plugins that delegate IPAM carry our host-local, run in-process when CNI_PATH's host-local is this build's.
  const ipam = all.filter((e) => e.main.includes('/ipam/'));
  const ipamTable = (type) =>
    `{${ipam.filter((e) => e.type !== type).map((e) => `${JSON.stringify(e.type)}:require(${JSON.stringify(e.main)}).plugin`).join(',')}}`;
  await Promise.all(
    entries.map(({ type, main }) =>
      buildTo(join(out, type), {
        ...common(type),
        stdin: {
          contents: `const {runPlugin}=require(${skel});const {plugin}=require(${JSON.stringify(main)});process.exitCode=runPlugin(plugin,process.env,${delegatesIpam(main) ? ipamTable(type) : 'undefined'});`,
          resolveDir: root,
          loader: 'js',
        },
      }),
    ),
  );
  const commandEntry = (main) =>
    `require(${JSON.stringify(join(root, main))}).main(process.argv.slice(2),process.env).then((c)=>{process.exitCode=c},(e)=>{process.stderr.write(String(e&&e.stack||e)+'\\n');process.exitCode=1});`;
  await Promise.all(
    COMMANDS.filter((c) => !only.length || only.includes(c.name)).map((c) =>
      buildTo(join(out, c.name), { ...common(c.name), stdin: { contents: commandEntry(c.main), resolveDir: root, loader: 'js' } }),
    ),
  );
  if (only.length) {
    console.log(`built ${entries.map((e) => e.type).join(', ')} into dist/bin`);
    return;
  }
  const table = all.map(({ type, main }) => `${JSON.stringify(type)}:()=>require(${JSON.stringify(main)}).plugin`).join(',');
  await buildTo(join(out, 'cni-ts'), {
    ...common('cni-ts'),
    stdin: {
      contents: `const {runPlugin}=require(${skel});const plugins={${table}};
const name=require('node:path').basename(process.argv[1]||'');
const get=plugins[name];
if(!get){process.stderr.write('cni-ts: invoke me as one of: '+Object.keys(plugins).join(', ')+'\\n');process.exitCode=2}
else process.exitCode=runPlugin(get(),process.env,{${ipam.map((e) => `${JSON.stringify(e.type)}:plugins[${JSON.stringify(e.type)}]()`).join(',')}});`,
      resolveDir: root,
      loader: 'js',
    },
  });
  console.log(`built ${entries.map((e) => e.type).join(', ')} and the multi-call cni-ts into dist/bin`);
}

await main();
