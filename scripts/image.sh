#!/usr/bin/env bash
# Builds the cni-ts OCI image locally, no registry: FROM scratch with
#   /usr/local/bin/cni-ts                 the self-contained executable (npm run build: dist/bin/cni-ts)
#   /usr/local/bin/cni-ts-agent           a link to it (the DaemonSet's command)
#   /opt/cni-ts/bin/{bridge,host-local,portmap,loopback}
#                                         links to it: what `cni-ts-agent --install-cni /opt/cni-ts/bin` copies onto
#                                         the node (the executable once, the names as links)
#   /usr/sbin/{ip,bridge,nft}             iproute2 and nftables from this Debian, which the agent runs
#   /usr/sbin/{ip,ip6}tables{,-nft,-legacy}{,-save,-restore}
#                                         iptables, both backends (xtables-nft-multi, xtables-legacy-multi) and their
#                                         extensions: the agent's FORWARD accept rules go where the host's drop is
#   /bin/busybox, /bin/sh                 busybox-static, for `kubectl exec … sh` when debugging
# plus the shared libraries those need (found with ldd), so the image needs nothing from a base image.
#
#   scripts/image.sh [TAG]                default TAG localhost/cni-ts:dev (the name deploy/kubernetes/cni-ts.yaml uses)
#   CNI_TS_IMAGE_ARCHIVE=FILE scripts/image.sh   also writes `podman save` output (for `kind load image-archive FILE`)
#   CNI_TS_IMAGE_STORAGE=DIR  scripts/image.sh   keeps podman's storage in DIR (tests: nothing left in /var/lib/containers)
# Needs podman (Debian package `podman`; buildah is used when podman is missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tag="${1:-localhost/cni-ts:dev}"
exe="$root/dist/bin/cni-ts"
[[ -x "$exe" ]] || { echo "image.sh: $exe missing: run npm run build first" >&2; exit 1; }

podman_args=()
if [[ -n "${CNI_TS_IMAGE_STORAGE:-}" ]]; then
  podman_args=(--root "$CNI_TS_IMAGE_STORAGE/root" --runroot "$CNI_TS_IMAGE_STORAGE/run" --storage-driver vfs)
fi
if command -v podman >/dev/null; then builder=(podman "${podman_args[@]}" build); elif command -v buildah >/dev/null; then builder=(buildah "${podman_args[@]}" bud); else
  echo "image.sh: needs podman or buildah (apt-get install podman)" >&2
  exit 1
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
rootfs="$ctx/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/opt/cni-ts/bin" "$rootfs/usr/sbin" "$rootfs/bin" "$rootfs/tmp" "$rootfs/run" "$rootfs/etc"

# A file and every shared library it loads (ldd's absolute paths), at the same paths in the image.
copy_with_libs() {
  local f="$1" dest="$2"
  install -D -m 0755 "$(readlink -f "$f")" "$rootfs$dest"
  ldd "$f" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [[ -e "$rootfs$lib" ]] && continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}

copy_with_libs "$exe" /usr/local/bin/cni-ts
ln -s cni-ts "$rootfs/usr/local/bin/cni-ts-agent"
for p in bridge host-local portmap loopback; do ln -s /usr/local/bin/cni-ts "$rootfs/opt/cni-ts/bin/$p"; done
for t in ip bridge nft; do copy_with_libs "$(command -v "$t")" "/usr/sbin/$t"; done
for m in xtables-nft-multi xtables-legacy-multi; do copy_with_libs "$(command -v "$m")" "/usr/sbin/$m"; done
for t in iptables ip6tables; do
  for s in "" -save -restore; do
    ln -s xtables-nft-multi "$rootfs/usr/sbin/$t$s"
    ln -s xtables-nft-multi "$rootfs/usr/sbin/$t-nft$s"
    ln -s xtables-legacy-multi "$rootfs/usr/sbin/$t-legacy$s"
  done
done
xtdir="$(dirname "$(find /usr/lib -name libxt_comment.so -print -quit)")"
mkdir -p "$rootfs$xtdir"
for so in "$xtdir"/*.so; do copy_with_libs "$so" "$so"; done
[[ -d /etc/iproute2 ]] && cp -r /etc/iproute2 "$rootfs/etc/iproute2"
if [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1; then
  cp /bin/busybox "$rootfs/bin/busybox"
  ln -s busybox "$rootfs/bin/sh"
else
  echo "image.sh: no static /bin/busybox (apt-get install busybox-static): image without a shell" >&2
fi

cat >"$ctx/Containerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/usr/local/bin/cni-ts-agent"]
EOF

"${builder[@]}" --network none -f "$ctx/Containerfile" -t "$tag" "$ctx" >&2
echo "built $tag ($(du -sh "$rootfs" | cut -f1) unpacked)" >&2
if [[ -n "${CNI_TS_IMAGE_ARCHIVE:-}" ]]; then
  podman "${podman_args[@]}" save -o "$CNI_TS_IMAGE_ARCHIVE" "$tag" >&2
  echo "saved $tag to $CNI_TS_IMAGE_ARCHIVE" >&2
fi
