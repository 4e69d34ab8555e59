#!/usr/bin/env bash
# build-cnitool.sh : prints the path of a cnitool built from Debian's libcni (for interop tests), building it first
# when missing. Needs the Debian packages golang-go and golang-github-appc-cni-dev (installed when missing, as root).
# Output: node_modules/.cache/cni-ts/cnitool (GOCACHE beside it); builds offline in ~1 s.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$ROOT/node_modules/.cache/cni-ts
SRC=$ROOT/scripts/e2e/cnitool
if [[ -x $OUT/cnitool && $OUT/cnitool -nt $SRC/main.go ]]; then echo "$OUT/cnitool"; exit 0; fi
if ! command -v go >/dev/null || [[ ! -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends golang-go golang-github-appc-cni-dev >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends golang-go golang-github-appc-cni-dev >&2; }
fi
mkdir -p "$OUT"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/src/cnitool" && cp "$SRC/main.go" "$W/src/cnitool/"
(cd "$W/src/cnitool" && GO111MODULE=off GOPATH="$W:/usr/share/gocode" GOCACHE="$OUT/gocache" go build -o "$OUT/cnitool.tmp" . >&2)
mv "$OUT/cnitool.tmp" "$OUT/cnitool"
echo "$OUT/cnitool"
