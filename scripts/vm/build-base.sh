#!/bin/bash
# build-base.sh KERNEL_DIR OUT.cpio
# Builds the cached part of the test VM's initramfs (everything that does not change between runs):
# static busybox (init + shell), the kernel's network modules (+ busybox depmod), a stripped node, iproute2
# (ip, bridge), util-linux nsenter/flock, procps sysctl, nft, iptables (nft + legacy) with its extensions,
# the Go reference plugins from /usr/lib/cni, dnsmasq, and every shared library these need (found with ldd).
# The per-run part (our dist/bin, test/vm, /init) is a second small cpio that run-tests.sh appends.
set -euo pipefail
KDIR=$1
OUT=$2
V=$(ls "$KDIR/lib/modules" | head -1)
R=$(mktemp -d "${OUT%/*}/root.XXXXXX")
trap 'rm -rf "$R"' EXIT

mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,usr/bin,usr/sbin,usr/lib/cni,lib/modules/$V,lib/x86_64-linux-gnu,lib64,var/lib}
ln -s ../run "$R/var/run"
ln -s lib "$R/usr/lib64" 2>/dev/null || true

# busybox: every applet as a link in /bin, except the tools we ship the real (host) version of.
BB=$(readlink -f "$(command -v busybox)")
cp "$BB" "$R/bin/busybox"
REAL="ip bridge nsenter flock sysctl nft iptables ip6tables iptables-save iptables-restore ip6tables-save ip6tables-restore"
for a in $("$R/bin/busybox" --list); do
  case " busybox $REAL " in *" $a "*) continue ;; esac
  ln -s busybox "$R/bin/$a"
done
ln -s ../bin/busybox "$R/sbin/modprobe"
ln -s ../bin/busybox "$R/sbin/poweroff"
ln -s ../../bin/busybox "$R/usr/bin/env"

# kernel modules: networking, netfilter and their library deps; modules.dep generated with busybox depmod
( cd "$KDIR/lib/modules/$V" && cp -r --parents kernel/drivers/net kernel/net kernel/lib kernel/crypto kernel/arch \
    modules.order modules.builtin "$R/lib/modules/$V/" ) 2>/dev/null || true
[ -f "$KDIR/lib/modules/$V/modules.builtin.modinfo" ] && cp "$KDIR/lib/modules/$V/modules.builtin.modinfo" "$R/lib/modules/$V/"
# drop big driver trees that cannot matter in a NIC-less VM
rm -rf "$R/lib/modules/$V/kernel/drivers/net/"{ethernet,wireless,usb,can,wan,ieee802154,hamradio,phy,fddi,arcnet,plip,ppp,slip,wwan} 2>/dev/null || true
rm -rf "$R/lib/modules/$V/kernel/net/"{bluetooth,wireless,mac80211,sunrpc,ceph,rxrpc,9p,nfc,can,ieee802154,mac802154} 2>/dev/null || true
"$R/bin/busybox" depmod -b "$R" "$V"

copy_libs() { # binary...
  local b l
  for b in "$@"; do
    for l in $(ldd "$b" 2>/dev/null | awk '/=>/ && $3 ~ /^\// {print $3} /ld-linux/ {print $1}'); do
      case $l in
        /lib64/*) cp -nL "$l" "$R/lib64/" ;;
        *) cp -nL "$l" "$R/lib/x86_64-linux-gnu/" ;;
      esac
    done
  done
}

copy_libs "$BB" # nothing for busybox-static

# node (NODE_BIN, default: the one on PATH), stripped (99 MB -> ~80 MB) when strip is available
NODE_BIN=${NODE_BIN:-$(readlink -f "$(command -v node)")}
if command -v strip >/dev/null; then strip -o "$R/usr/bin/node" "$NODE_BIN"; else cp -L "$NODE_BIN" "$R/usr/bin/node"; fi
copy_libs "$NODE_BIN"

# iproute2, util-linux, procps, nft
for t in ip bridge nsenter flock sysctl nft; do
  p=$(command -v "$t")
  case $p in /usr/sbin/* | /sbin/*) d=usr/sbin ;; *) d=usr/bin ;; esac
  cp -L "$p" "$R/$d/$t"
  copy_libs "$p"
done
ln -s ../usr/sbin/ip "$R/sbin/ip"

# iptables: the multi-call binaries plus their dlopen()ed extensions
if [ -x /usr/sbin/xtables-nft-multi ]; then
  cp -L /usr/sbin/xtables-nft-multi "$R/usr/sbin/"
  copy_libs /usr/sbin/xtables-nft-multi
  for n in iptables ip6tables iptables-save iptables-restore ip6tables-save ip6tables-restore; do
    ln -s xtables-nft-multi "$R/usr/sbin/$n"
    ln -s xtables-nft-multi "$R/usr/sbin/${n/tables/tables-nft}"
  done
fi
if [ -x /usr/sbin/xtables-legacy-multi ]; then
  cp -L /usr/sbin/xtables-legacy-multi "$R/usr/sbin/"
  copy_libs /usr/sbin/xtables-legacy-multi
  for n in iptables ip6tables iptables-save iptables-restore ip6tables-save ip6tables-restore; do
    ln -s xtables-legacy-multi "$R/usr/sbin/${n/tables/tables-legacy}"
  done
fi
if [ -d /usr/lib/x86_64-linux-gnu/xtables ]; then
  mkdir -p "$R/usr/lib/x86_64-linux-gnu"
  cp -r /usr/lib/x86_64-linux-gnu/xtables "$R/usr/lib/x86_64-linux-gnu/"
  copy_libs /usr/lib/x86_64-linux-gnu/xtables/*.so
fi

# Go reference plugins (static binaries)
cp -L /usr/lib/cni/* "$R/usr/lib/cni/"

# dnsmasq (dnsmasq-base): the DHCP server of the dhcp tests (~0.5 MB + ~3 MB of libraries)
if [ -x /usr/sbin/dnsmasq ]; then
  cp -L /usr/sbin/dnsmasq "$R/usr/sbin/dnsmasq"
  copy_libs /usr/sbin/dnsmasq
fi

# small /etc: names some tools resolve
for f in protocols services ethertypes; do [ -f /etc/$f ] && cp /etc/$f "$R/etc/"; done
[ -d /etc/iproute2 ] && cp -r /etc/iproute2 "$R/etc/"
[ -d /usr/share/iproute2 ] && mkdir -p "$R/usr/share" && cp -r /usr/share/iproute2 "$R/usr/share/"
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
echo "$V" >"$R/etc/cni-ts-kernel"

(cd "$R" && find . | LC_ALL=C sort | "$R/bin/busybox" cpio -o -H newc 2>/dev/null) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
