#!/bin/bash
# run-tests.sh [filter]  —  run test/vm/*.vm.mjs inside a throwaway QEMU (TCG) VM with the Debian cloud kernel.
# The host kernel lacks ipvlan / 802.1q / dummy / vrf and loads no modules; the VM has them all.
# Prerequisite: `npm ci && npm run build` (dist/bin). Runs as root, no tty/stdin needed. See scripts/vm/README.md.
#
#   filter            only files whose name contains it (e.g. `bridge`)
#   VM_CACHE          cache dir (default <repo>/.vm): kernel, base initramfs
#   VM_KERNEL         kernel package version, e.g. 6.1.0-56-cloud-amd64 (default: cached one, else what
#                     the linux-image-cloud-amd64 meta-package depends on)
#   VM_TIMEOUT        hard limit for the whole VM run in seconds (default 1500)
#   VM_FILE_TIMEOUT   limit per test file inside the VM (default 240)
#   VM_SMP / VM_MEM   vCPUs (default 1) / MiB (default 1024)
#   VM_VERBOSE=1      also show kernel/guest lines that are not test results
#   VMTEST_*          passed into the VM's environment for the tests
#
# The VM has no network device at all (-nic none): nothing it does can reach the host or beyond.
# Prints one PASS/FAIL/SKIP line per test, then `N passed, N failed`; exits non-zero on any failure,
# on a boot failure or on a timeout.
set -euo pipefail
unset NODE_EXTRA_CA_CERTS NODE_OPTIONS
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FILTER=${1:-}
CACHE=${VM_CACHE:-$ROOT/.vm}
VM_TIMEOUT=${VM_TIMEOUT:-1500}
VM_FILE_TIMEOUT=${VM_FILE_TIMEOUT:-240}
VM_SMP=${VM_SMP:-1}
VM_MEM=${VM_MEM:-1024}
T_START=$(date +%s.%N)

log() { echo "[vm] $*" >&2; }
die() { log "ERROR: $*"; echo "0 passed, 1 failed"; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, and the initramfs must carry root-owned files)"
mkdir -p "$CACHE"

# ---------------------------------------------------------------- 1. host packages
apt_install() { # packages...
  log "installing: $*"
  if ! apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    apt-get install -y -q --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
  fi
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
# busybox is the VM's init and shell (static from busybox-static, or Debian's dynamic one: its libs are copied)
busybox --list 2>/dev/null | grep -x depmod >/dev/null || need+=(busybox-static)
command -v ip >/dev/null && command -v bridge >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v xtables-nft-multi >/dev/null || need+=(iptables)
command -v sysctl >/dev/null || need+=(procps)
command -v nsenter >/dev/null && command -v flock >/dev/null || need+=(util-linux)
command -v strip >/dev/null || need+=(binutils)
[ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
command -v node >/dev/null || die "node not found"
NODE_BIN=$(readlink -f "$(command -v node)")
export NODE_BIN
[ -d "$ROOT/dist/bin" ] || die "no dist/bin: run 'npm run build' first"

# Several runs may share the cache (parallel engineers, CI jobs): kernel fetch, base build and initrd assembly
# happen under a lock; the VMs themselves then run independently.
exec 9>"$CACHE/.lock"
flock -w 600 9 || die "could not lock $CACHE/.lock"
# run dirs of runs that were SIGKILLed (a live run is never older than VM_TIMEOUT + the build)
find "$CACHE" -maxdepth 1 -name 'run.*' -type d -mmin +60 -exec rm -rf {} + 2>/dev/null || true

# ---------------------------------------------------------------- 2. kernel (downloaded once, never installed)
KVER=${VM_KERNEL:-}
if [ -z "$KVER" ]; then
  KVER=$(ls -1 "$CACHE/kernel" 2>/dev/null | grep -- '-cloud-amd64$' | sort -V | tail -1 || true)
fi
if [ -z "$KVER" ]; then
  pick() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: linux-image-\([0-9].*-cloud-amd64\)$/\1/p' | head -1
  }
  KVER=$(pick)
  [ -n "$KVER" ] || { apt-get update -q >/dev/null 2>&1 || true; KVER=$(pick); }
  [ -n "$KVER" ] || KVER=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-cloud-amd64$' | awk '{print $1}' |
    sed 's/^linux-image-//' | sort -V | tail -1)
  [ -n "$KVER" ] || die "cannot find a linux-image-*-cloud-amd64 package with apt-cache"
fi
KDIR=$CACHE/kernel/$KVER
if [ ! -d "$KDIR/boot" ]; then
  log "fetching kernel linux-image-$KVER"
  DL=$(mktemp -d "$CACHE/dl.XXXXXX")
  chmod 755 "$DL"
  (cd "$DL" && apt-get download -q "linux-image-$KVER" >/dev/null 2>&1) ||
    { apt-get update -q >/dev/null 2>&1 || true; (cd "$DL" && apt-get download -q "linux-image-$KVER" >/dev/null); } ||
    die "apt-get download linux-image-$KVER failed"
  mkdir -p "$CACHE/kernel"
  rm -rf "$KDIR.tmp"
  dpkg-deb -x "$DL"/linux-image-*.deb "$KDIR.tmp"
  rm -rf "$DL"
  mv "$KDIR.tmp" "$KDIR"
fi
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -1)

# ---------------------------------------------------------------- 3. initramfs: cached base + per-run overlay
key_inputs() {
  echo "$KVER"
  sha256sum "$HERE/build-base.sh"
  for p in "$NODE_BIN" "$(command -v busybox)" "$(command -v ip)" "$(command -v nft)" /usr/sbin/xtables-nft-multi /usr/sbin/dnsmasq /usr/lib/cni/*; do
    stat -L -c '%n %s %Y' "$p" 2>/dev/null || true
  done
}
KEY=$(key_inputs | sha256sum | cut -c1-16)
BASE=$CACHE/base-$KEY.cpio
if [ ! -f "$BASE" ]; then
  t=$(date +%s.%N)
  log "building base initramfs (kernel $KVER; cached as $(basename "$BASE"))"
  rm -f "$CACHE"/base-*.cpio
  bash "$HERE/build-base.sh" "$KDIR" "$BASE"
  log "base initramfs built in $(elapsed "$t") s ($(du -m "$BASE" | cut -f1) MB)"
fi

RUN=$(mktemp -d "$CACHE/run.XXXXXX")
QPID=
cleanup() {
  [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
O=$RUN/root
mkdir -p "$O/cni-ts/dist" "$O/cni-ts/test"
cp "$HERE/init" "$O/init"
chmod 755 "$O/init"
cp "$HERE/modules" "$O/cni-ts/modules"
cp -r "$ROOT/dist/bin" "$O/cni-ts/dist/bin"
rm -f "$O"/cni-ts/dist/bin/*.tmp-*
cp -r "$ROOT/test/vm" "$O/cni-ts/test/vm"
cp -r "$ROOT/conf" "$O/cni-ts/conf" # the example configs (tests read ../../conf from test/vm)
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "CNITS_FILTER=$(q "$FILTER")"
  echo "CNITS_FILE_TIMEOUT=$(q "$VM_FILE_TIMEOUT")"
  # VMTEST_* variables of the host are passed to the tests
  while IFS='=' read -r k v; do echo "export $k=$(q "$v")"; done < <(env | grep -E '^VMTEST_[A-Za-z0-9_]*=' || true)
} >"$O/cni-ts/run.env"
(cd "$O" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$RUN/overlay.cpio.gz"
cat "$BASE" "$RUN/overlay.cpio.gz" >"$RUN/initrd"
flock -u 9
exec 9>&-

n_files=$(cd "$ROOT/test/vm" && ls -1 *.vm.mjs 2>/dev/null | grep -cF -- "$FILTER" || true)
[ "$n_files" -gt 0 ] || die "no test/vm/*.vm.mjs file matches '${FILTER}'"
log "prepared in $(elapsed "$T_START") s; booting VM ($n_files test file(s), ${VM_SMP} vCPU TCG, ${VM_MEM} MiB, timeout ${VM_TIMEOUT} s)"

# ---------------------------------------------------------------- 4. boot and parse the console
T_BOOT=$(date +%s.%N)
mkfifo "$RUN/console"
timeout -k 5 "$VM_TIMEOUT" qemu-system-x86_64 \
  -accel tcg -cpu max -smp "$VM_SMP" -m "$VM_MEM" \
  -kernel "$VMLINUZ" -initrd "$RUN/initrd" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init ${VM_APPEND:-}" \
  -nodefaults -no-user-config -display none -nic none -monitor none -serial stdio -no-reboot \
  </dev/null >"$RUN/console" 2>&1 &
QPID=$!

AWK=(awk)
awk -W version 2>&1 | grep mawk >/dev/null && AWK=(awk -W interactive) # mawk buffers its input otherwise: no live output
set +e
"${AWK[@]}" -v verbose="${VM_VERBOSE:-0}" -v t0="$T_BOOT" -v summary="$RUN/summary" '
  function now(   c, t) { c = "date +%s.%N"; c | getline t; close(c); return t }
  function finish_file(rc,   msg) {
    if (file == "") return
    if (rc != 0 && fails[file] == 0) { printf "FAIL %s: exited with status %s%s\n", file, rc, (rc == 137 ? " (killed by the per-file timeout)" : ""); failed++ }
    else if (rc == 0 && seen[file] == 0) { printf "PASS %s\n", file; passed++ }
    file = ""
  }
  { sub(/\r$/, "") }
  /^CNITS-VM BOOTED/ { booted = 1; boot_wall = now() - t0; split($3, u, "="); boot_guest = u[2]; printf "[vm] booted: %.1f s wall (guest uptime %s s)\n", boot_wall, boot_guest > "/dev/stderr"; next }
  /^CNITS-VM MODULES/ { next }
  /^CNITS-VM WARN/ { print "[vm] " $0 > "/dev/stderr"; next }
  /^CNITS-VM FILE / { file = $3; seen[file] = 0; fails[file] = 0; print "[vm] --- " file > "/dev/stderr"; next }
  /^CNITS-VM END / { split($4, r, "="); split($5, s, "="); print "[vm] --- " $3 " exit " r[2] " in " s[2] " s" > "/dev/stderr"; finish_file(r[2]); next }
  /^CNITS-VM DONE/ { done = 1; next }
  /^(PASS|FAIL|SKIP) / {
    print; fflush()
    if (file != "") seen[file]++
    if ($1 == "PASS") passed++
    else if ($1 == "FAIL") { failed++; if (file != "") fails[file]++ }
    else skipped++
    next
  }
  { if (verbose == 1 || (file != "" && $0 !~ /^\[ *[0-9]+\.[0-9]+\]/)) print "    " $0 > "/dev/stderr"; else if (!booted) early[++ne] = $0 }
  END {
    if (file != "") { printf "FAIL %s: the VM stopped while it ran (timeout or crash)\n", file; failed++ }
    if (!booted) { for (i = 1; i <= ne; i++) print "    " early[i] > "/dev/stderr"; print "FAIL vm: did not boot"; failed++ }
    else if (!done) { print "FAIL vm: did not finish (hard timeout or guest crash)"; failed++ }
    printf "[vm] %d skipped\n", skipped > "/dev/stderr"
    printf "%d passed, %d failed\n", passed, failed > summary
    exit(failed > 0 ? 1 : 0)
  }
' <"$RUN/console"
rc=$?
wait "$QPID"
qrc=$?
QPID=
set -e
[ "$qrc" = 124 ] || [ "$qrc" = 137 ] && log "qemu was killed by the ${VM_TIMEOUT} s timeout"
[ "$qrc" = 0 ] || [ "$qrc" = 124 ] || [ "$qrc" = 137 ] || log "qemu exited with status $qrc"
log "VM ran $(elapsed "$T_BOOT") s; total $(elapsed "$T_START") s"
cat "$RUN/summary" 2>/dev/null || { echo "0 passed, 1 failed"; rc=1; }
[ "$rc" = 0 ] && [ "$qrc" = 0 ] && exit 0
exit 1
