#!/usr/bin/env node
// `npm run release`: release tarballs laid out like the reference's (cni-plugins-linux-<arch>-<version>.tgz: one entry per
// plugin name), for linux-amd64 and linux-arm64, plus SHA-256 sums:
//
//   dist/release/cni-ts-linux-amd64-<version>.tgz   ./cni-ts (the self-contained executable) and ./<name> -> cni-ts
//   dist/release/cni-ts-linux-arm64-<version>.tgz   the same, compiled for arm64
//   dist/release/SHA256SUMS                         sha256sum format; also <tarball>.sha256 next to each
//
// Reproducible: the same sources and lock file give the same bytes (sorted entries, fixed owner and mtime = the last
// commit's time, gzip -n). The arm64 runtime is @oven/bun-linux-aarch64 at the version package-lock.json pins; npm ci
// skips it on other CPUs, so it is fetched with `npm pack` from the npm registry (or npm's cache) and checked against
// the lock file's integrity hash before use. `--arch amd64` (or arm64) builds one only.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist', 'release');
const work = join(root, 'dist', 'build', 'release');
const { values } = parseArgs({ options: { arch: { type: 'string', multiple: true } } });
const archs = values.arch ?? ['amd64', 'arm64'];
const target = { amd64: 'linux-x64', arm64: 'linux-arm64' };
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: root, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** node_modules/@oven/bun-linux-aarch64 from the registry, verified against package-lock.json (npm ci skips it on x64). */
function ensureArm64Runtime() {
  const pkgDir = join(root, 'node_modules', '@oven', 'bun-linux-aarch64');
  if (existsSync(join(pkgDir, 'bin', 'bun'))) return;
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const entry = lock.packages?.['node_modules/@oven/bun-linux-aarch64'];
  if (!entry?.integrity) throw new Error('package-lock.json pins no @oven/bun-linux-aarch64');
  mkdirSync(work, { recursive: true });
  const packed = JSON.parse(run('npm', ['pack', `@oven/bun-linux-aarch64@${entry.version}`, '--json', '--pack-destination', work]))[0];
  const tgz = join(work, packed.filename);
  const [algo, want] = entry.integrity.split('-');
  const got = createHash(algo).update(readFileSync(tgz)).digest('base64');
  if (got !== want) throw new Error(`@oven/bun-linux-aarch64 ${entry.version}: integrity ${algo}-${got} does not match package-lock.json's ${entry.integrity}`);
  mkdirSync(pkgDir, { recursive: true });
  run('tar', ['-xzf', tgz, '-C', pkgDir, '--strip-components=1']);
  rmSync(tgz);
}

function sha256(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

const mtime = run('git', ['log', '-1', '--format=%ct']).trim() || '0';
run(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' }); // the host build and dist/bin
const { programNames, compile } = await import('./build.mjs');
mkdirSync(dist, { recursive: true });
const sums = [];
for (const arch of archs) {
  if (!target[arch]) throw new Error(`unknown --arch ${arch} (amd64 or arm64)`);
  if (arch === 'arm64') ensureArm64Runtime();
  const stage = join(work, arch);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  compile(target[arch], join(stage, 'cni-ts'));
  for (const n of programNames()) symlinkSync('cni-ts', join(stage, n));
  const name = `cni-ts-linux-${arch}-${version}.tgz`;
  const out = join(dist, name);
  const entries = ['cni-ts', ...programNames()].sort().map((n) => `./${n}`);
  const tar = run('tar', ['--sort=name', `--mtime=@${mtime}`, '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '-C', stage, ...entries], {
    encoding: 'buffer',
    maxBuffer: 1 << 30,
  });
  const gz = spawnSync('gzip', ['-n', '-9'], { input: tar, maxBuffer: 1 << 30 });
  if (gz.status !== 0) throw new Error(`gzip failed: ${gz.stderr}`);
  writeFileSync(out, gz.stdout);
  const line = `${sha256(out)}  ${name}`;
  writeFileSync(`${out}.sha256`, line + '\n');
  sums.push(line);
  console.log(`${name}: ${(gz.stdout.length / 1e6).toFixed(1)} MB, ${entries.length} entries (${arch})`);
}
writeFileSync(join(dist, 'SHA256SUMS'), sums.join('\n') + '\n');
rmSync(work, { recursive: true, force: true });
console.log(`wrote dist/release/SHA256SUMS:\n${sums.join('\n')}`);
