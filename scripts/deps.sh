#!/usr/bin/env bash
# Installs the system packages cni-ts needs (Debian 12, as root).
#   scripts/deps.sh          what the plugins run: iproute2, nftables, iptables, util-linux (flock, nsenter), conntrack, procps (sysctl)
#   scripts/deps.sh --test   plus what the tests use: the Go reference plugins (differential tests), ping, busybox, qemu (VM tests),
#                            qemu-user-static + libc6-arm64-cross (the arm64 release executable is run under emulation),
#                            etcd-server (cni-ts-agent's multi-node tests start their own etcd), curl, openssl (agent tests),
#                            golang-go + golang-github-appc-cni-dev (a Go cnitool is built from Debian's libcni for cnictl's
#                            interop tests), podman (the agent's image test and the podman end-to-end test; its package
#                            drops /etc/cni/net.d/87-podman-bridge.conflist onto the machine), containerd + runc (the
#                            containerd end-to-end test), time (GNU time: the benchmark's peak RSS), dnsmasq-base (the
#                            DHCP server of the dhcp tests, e2e and bench: the binary only — the `dnsmasq` package
#                            would also start a DNS/DHCP service on the machine).
set -euo pipefail
pkgs=(iproute2 nftables iptables util-linux conntrack procps)
[[ "${1:-}" == "--test" ]] && pkgs+=(containernetworking-plugins iputils-ping busybox-static qemu-system-x86 binutils cpio hyperfine qemu-user-static libc6-arm64-cross etcd-server curl openssl
  golang-go golang-github-appc-cni-dev podman containerd runc time dnsmasq-base)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
