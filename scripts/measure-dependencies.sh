#!/usr/bin/env bash
# The measurements behind the README's "Dependencies" section, rerunnable: installs ip-cidr and execa into a temp dir
# (npm), then
#   - compiles two probes with the pinned Bun exactly as our executable is built (bun build --compile --bytecode) — one
#     loading and using lib/ip, one ip-cidr — and prints, per probe, the in-process cost of loading the module and of
#     its first validate + parse (min and median of N runs; the min is what an idle machine pays), and the size added;
#   - under Node (NODE_EXTRA_CA_CERTS unset), the cost of importing execa 9 and of its first call against spawnSync.
# Usage: scripts/measure-dependencies.sh [RUNS]   (default 100; run it on a quiet machine)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-100}
BUN=$(node -e "console.log(require('path').join(require('path').dirname(require.resolve('@oven/bun-linux-x64/package.json', {paths: ['$ROOT']})), 'bin', 'bun'))")
T=$(mktemp -d /tmp/cni-ts-deps-XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error ip-cidr@4.0.2 execa@9.6.1 >/dev/null
unset NODE_EXTRA_CA_CERTS NODE_OPTIONS

probe() { # NAME IMPORT USE
  cat >"$1.ts" <<EOF
(async () => {
  const t0 = performance.now();
  const m: any = await import('$2');
  const t1 = performance.now();
  const ok = $3;
  const t2 = performance.now();
  process.stdout.write(\`\${(t1 - t0).toFixed(3)} \${(t2 - t1).toFixed(3)} \${ok ? 'ok' : 'invalid'}\n\`);
})();
EOF
  "$BUN" build --compile --bytecode --minify "$1.ts" --outfile "$1" >/dev/null
}
probe lib-ip "$ROOT/lib/ip.ts" "m.parseCIDR('10.0.0.0/24') !== undefined"
probe ip-cidr ip-cidr "m.default.isValidCIDR('10.0.0.0/24') && new m.default('10.0.0.0/24').start()"
printf 'process.stdout.write("0 0 ok\\n");\n' >empty.ts
"$BUN" build --compile --bytecode --minify empty.ts --outfile empty >/dev/null

stats() { python3 -c "
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for i, what in enumerate(sys.argv[2:]):
    v = sorted(float(r[i]) for r in rows)
    print(f'  {what}: min {v[0]:.2f} ms, median {statistics.median(v):.2f} ms (n={len(v)})')
" "$@"; }

echo "Bun-compiled probes (the pinned runtime, --bytecode), in-process:"
for p in lib-ip ip-cidr; do
  for _ in $(seq "$RUNS"); do "./$p"; done >"$p.txt"
  echo " $p: $(( $(stat -c %s "$p") - $(stat -c %s empty) )) bytes over an empty program"
  stats "$p.txt" load "first validate + parse"
done

cat >execa.mjs <<'EOF'
const t0 = performance.now();
const { execa } = await import('execa');
const t1 = performance.now();
await execa('true');
const t2 = performance.now();
const { spawnSync } = await import('node:child_process');
const t3 = performance.now();
spawnSync('true');
const t4 = performance.now();
console.log((t1 - t0).toFixed(2), (t2 - t1).toFixed(2), (t4 - t3).toFixed(2));
EOF
echo "Node $(node -v), NODE_EXTRA_CA_CERTS unset:"
for _ in $(seq "$RUNS"); do node execa.mjs; done >execa.txt
stats execa.txt "import execa 9" "first await execa('true')" "first spawnSync('true')"
echo "load now: $(cut -d' ' -f1-3 /proc/loadavg)"
