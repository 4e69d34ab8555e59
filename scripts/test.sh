#!/usr/bin/env bash
# The full tests, as root on a fresh Debian 12 machine: dependencies, build, type check, unit + integration tests
# (in throwaway network namespaces, differential against the Go reference plugins; the release tarballs, amd64 native
# and arm64 under qemu-user), a short fixed-seed fuzz run, then the VM tests (ipvlan, VLAN, dummy masters: features this host's kernel lacks) and
# the containerd and podman end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
unset NODE_EXTRA_CA_CERTS NODE_OPTIONS
scripts/deps.sh --test
snapshot=$(mktemp)
scripts/check-clean.sh --snapshot "$snapshot"
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
npx tsc --noEmit
status=0
npm run release --silent || status=1
CNITS_RELEASE_TEST=1 npx vitest run || status=1
# a short fixed-seed fuzz run (test/fuzz): any crash, hang, leak, bad output or runaway fork of ours fails the build
npm run fuzz --silent -- --seed 1 --count 6 --no-save || status=1
bash scripts/vm/run-tests.sh || status=1
bash scripts/e2e/containerd.sh || status=1
bash scripts/e2e/podman.sh || status=1
scripts/check-clean.sh "$snapshot" || status=1
rm -f "$snapshot"
exit $status
