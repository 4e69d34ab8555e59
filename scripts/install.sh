#!/usr/bin/env bash
# Installs cni-ts into a CNI bin dir (default /opt/cni/bin): the self-contained executable `cni-ts` and a link per
# plugin name (bridge -> cni-ts, …), replacing plugins of those names (e.g. the Go ones). The target needs no Node.js.
#
#   scripts/install.sh [--from TARBALL|DIR] [--no-deps] [--cnictl DIR] [--replace-all] [BIN_DIR]
#
#   --from F   install from a release tarball (npm run release: dist/release/cni-ts-linux-<arch>-<version>.tgz) or a
#              directory holding cni-ts and its links (default: dist/bin, built first with Node if it is missing)
#   --no-deps  do not apt-get the tools the plugins run (iproute2, nftables, iptables, util-linux, conntrack, procps)
#   --cnictl D also link D/cnictl and D/cni-ts-agent to the installed executable (e.g. /usr/local/bin, to have them on PATH)
#   --replace-all  take over the whole reference plugins tarball: every name it ships (REFERENCE below) must be in the
#              source, else nothing is installed and the missing names are listed (without it: the names the source has)
# Everything is staged next to its target first (nothing changes when that fails), then each file is replaced by a
# rename: a runtime executing a plugin meanwhile finds the old or the new one, never none. Other files are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
from='' deps=1 dest=/opt/cni/bin cli='' all=0
# the plugins of the reference release tarball (containernetworking/plugins cni-plugins-linux-<arch>-v1.x.tgz)
REFERENCE=(bandwidth bridge dhcp dummy firewall host-device host-local ipvlan loopback macvlan portmap ptp sbr static tap tuning vlan vrf)
while (($#)); do
  case $1 in
    --from) from=$2; shift 2 ;;
    --no-deps) deps=0; shift ;;
    --cnictl) cli=$2; shift 2 ;;
    --replace-all) all=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) dest=$1; shift ;;
  esac
done
((deps)) && command -v apt-get >/dev/null && scripts/deps.sh

src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
if [[ $from == *.tgz || $from == *.tar.gz ]]; then
  tar -xzf "$from" -C "$src"
elif [[ -n $from ]]; then
  cp -P "$from"/* "$src"/
else
  if [[ ! -x dist/bin/cni-ts ]]; then
    command -v node >/dev/null || { echo "no dist/bin/cni-ts and no Node.js to build it: use --from a release tarball" >&2; exit 1; }
    npm ci --no-audit --no-fund --loglevel=error
    npm run build --silent
  fi
  cp -P dist/bin/* "$src"/
fi
[[ -x $src/cni-ts ]] || { echo "no cni-ts executable in ${from:-dist/bin}" >&2; exit 1; }
if ((all)); then
  missing=()
  for n in "${REFERENCE[@]}"; do [[ -L $src/$n && $(readlink "$src/$n") == cni-ts ]] || missing+=("$n"); done
  if ((${#missing[@]})); then
    echo "--replace-all: cni-ts in ${from:-dist/bin} lacks reference plugins: ${missing[*]}; nothing installed (without --replace-all only the names it has are installed)" >&2
    exit 1
  fi
fi

mkdir -p "$dest"
names=()
for f in "$src"/*; do
  [[ -L $f && $(readlink "$f") == cni-ts ]] && names+=("$(basename "$f")")
done
staged=("$dest/.cni-ts.new")
for n in "${names[@]}"; do staged+=("$dest/.$n.new"); done
trap 'rm -f "${staged[@]}"; rm -rf "$src"' EXIT
cp "$src/cni-ts" "$dest/.cni-ts.new"
chmod 0755 "$dest/.cni-ts.new"
for n in "${names[@]}"; do ln -sfn cni-ts "$dest/.$n.new"; done
mv -f "$dest/.cni-ts.new" "$dest/cni-ts"
for n in "${names[@]}"; do mv -Tf "$dest/.$n.new" "$dest/$n"; done
echo "installed cni-ts ($(du -m "$dest/cni-ts" | cut -f1) MB) into $dest as: ${names[*]}"
((all)) && echo "every reference plugin in $dest is now cni-ts: ${REFERENCE[*]}"
if [[ -n $cli ]]; then
  mkdir -p "$cli"
  target=$(cd "$dest" && pwd)/cni-ts
  for n in cnictl cni-ts-agent; do
    [[ -L $dest/$n ]] || continue
    ln -sfn "$target" "$cli/.$n.new"
    mv -Tf "$cli/.$n.new" "$cli/$n"
    echo "linked $cli/$n -> $target"
  done
fi
