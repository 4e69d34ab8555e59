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
# The installed copies name node by its absolute path: `#!/usr/bin/env node` costs ~2.5 ms per invocation.
node_bin=$(command -v node)
for f in dist/bin/*; do
  name=$(basename "$f")
  [[ "$name" == cni-ts ]] && continue
  tmp="$dest/.$name.cni-ts.tmp"
  { echo "#!$node_bin"; tail -n +2 "$f"; } > "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$dest/$name"
done
echo "installed $(ls dist/bin | grep -v '^cni-ts$' | tr '\n' ' ')into $dest"
