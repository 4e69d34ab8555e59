#!/usr/bin/env bash
# Fails (and lists them) when tests left network namespaces or temp dirs behind; removes them so the next run starts clean.
left=$(ip netns list | awk '{print $1}' | grep '^cnits-' || true)
dirs=$(ls -d /tmp/cnits-* 2>/dev/null || true)
if [[ -n "$left$dirs" ]]; then
  echo "tests left behind: $left $dirs" >&2
  for n in $left; do ip netns del "$n"; done
  rm -rf $dirs
  exit 1
fi
echo "no namespaces or temp dirs left behind"
