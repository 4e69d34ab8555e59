# Shared by the end-to-end scripts (sourced): PASS/FAIL counting and the private mounts of the inner part.

passed=0 failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
die() { fail "$*"; exit 1; }
check() { # description command... : PASS when the command succeeds
  local d=$1; shift
  if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d"; fi
}

# private_mounts T : run in the inner part (inside `ip netns exec` and `unshare -m --propagation private`).
# `ip netns exec` mounted a fresh sysfs on /sys, which dropped the cgroup mounts the OCI runtime needs: mount them again
# (same hierarchies, recorded by the outer part in $T/cgroup-mounts with `findmnt -rn -R -o TARGET,FSTYPE,OPTIONS
# /sys/fs/cgroup`). Then overlays over /etc, /opt, /var/lib and /run, so mount points and state can be made there
# without touching the host; the upper dirs live on a private tmpfs.
private_mounts() {
  local T=$1 target fstype opts d o
  while read -r target fstype opts; do
    mkdir -p "$target"
    mount -t "$fstype" -o "$opts" "$fstype" "$target" || die "mount $fstype on $target (private mount namespace)"
  done <"$T/cgroup-mounts"
  mkdir -p "$T/ovl" && mount -t tmpfs tmpfs "$T/ovl"
  for d in /etc /opt /var/lib /run; do
    o=$T/ovl/${d//\//_}
    mkdir -p "$o/up" "$o/work"
    mount -t overlay overlay -o "lowerdir=$d,upperdir=$o/up,workdir=$o/work" "$d" || die "overlay on $d (private mount namespace)"
  done
}

# finish WHAT : last step of the outer part: the root namespace (the caller's `snapshot`) must be as in $T/root.before;
# then the timing and the summary line. Sets SUMMARY=1; its status is the script's (1 on any failure).
finish() {
  snapshot >"$T/root.after"
  if diff -u "$T/root.before" "$T/root.after" >"$T/root.diff"; then
    pass "root namespace unchanged ($1)"
  else
    fail "root namespace changed:"; cat "$T/root.diff"
  fi
  echo "# total $((($(date +%s%N) - START) / 1000000)) ms"
  echo "$passed passed, $failed failed"
  SUMMARY=1
  ((failed == 0))
}
