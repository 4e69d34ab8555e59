#!/usr/bin/env bash
# The main job: install dependencies, build the plugins, and install them into a CNI bin dir (default /opt/cni/bin).
#   scripts/install.sh [BIN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-/opt/cni/bin}
scripts/deps.sh
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
mkdir -p "$dest"
for f in dist/bin/*; do
  name=$(basename "$f")
  [[ "$name" == cni-ts ]] && continue
  install -m 0755 "$f" "$dest/$name.cni-ts.tmp" && mv -f "$dest/$name.cni-ts.tmp" "$dest/$name"
done
echo "installed $(ls dist/bin | grep -v '^cni-ts$' | tr '\n' ' ')into $dest"
