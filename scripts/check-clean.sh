#!/usr/bin/env bash
# Fails (and lists them) when tests left network namespaces or temp dirs behind, and removes them so the next run
# starts clean. Runs may overlap (other engineers, CI jobs): only what appeared since the snapshot counts.
#   scripts/check-clean.sh --snapshot FILE   record what exists now
#   scripts/check-clean.sh [FILE]            check (and remove) what is new since FILE (everything without FILE)
current() { { ip netns list | awk '{print $1}' | grep '^cnits-'; ls -d /tmp/cnits-* 2>/dev/null; } | sort || true; }
if [[ ${1:-} == --snapshot ]]; then current >"$2"; exit 0; fi
left=$(if [[ -n ${1:-} && -f $1 ]]; then comm -13 "$1" <(current); else current; fi)
if [[ -n $left ]]; then
  echo "tests left behind: $(echo $left)" >&2
  for x in $left; do
    if [[ $x == /tmp/* ]]; then rm -rf "$x"; else ip netns del "$x"; fi
  done
  exit 1
fi
echo "no namespaces or temp dirs left behind"
