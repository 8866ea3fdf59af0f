#!/usr/bin/env bash
# Two builds in one cluster, over TCP: a member of the previous release (0.1.0, protocol version 1,
# commit 87fba7d unless OLD_COMMIT says otherwise) and a member of this checkout. Builds the old
# commit in a git worktree (node_modules symlinked from this checkout), then runs, each way round:
#   1. the old member first, the current one seeded with it: the current start() must reject
#      with IncompatibleProtocolError instead of running alone;
#   2. the current member first, the old one seeded with it.
# Prints what each side reported. Exits 1 if the current member's start() did not reject in 1.
#
#   scripts/mixed-versions.sh            # from the repository root
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
old_commit="${OLD_COMMIT:-87fba7d}"
old_root="${OLD_ROOT:-${TMPDIR:-/tmp}/lrm-mixed-versions-${old_commit}}"
member="$here/bench/mixed-versions-member.ts"
logs="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap cleanup EXIT

if [ ! -e "$old_root/lib/index.ts" ]; then
  git -C "$here" worktree add --detach "$old_root" "$old_commit" >/dev/null
fi
[ -e "$old_root/node_modules" ] || ln -s "$here/node_modules" "$old_root/node_modules"
echo "old build: $old_root ($(git -C "$old_root" log -1 --format='%h %s'))"
echo "new build: $here ($(git -C "$here" log -1 --format='%h %s'))"

# Node itself runs the member (tsx as a loader, resolved from this checkout): the pid kept is
# the member's, so SIGTERM reaches it and nothing is left behind.
run_member() { cd "$here" && exec node --import tsx "$member"; }

# Runs a member in the background (in this shell, so that its pid is kept for stop_all).
seed_member() { # root id log
  LRM_ROOT="$1" ID="$2" KEYS=300 run_member >"$3" 2>&1 &
  pids+=("$!")
}

# Waits for the "ready <address>" line of the member logging to $1 (pid $2); prints the address.
address_of() { # log pid
  for _ in $(seq 1 300); do
    if grep -q ' ready ' "$1"; then sed -n 's/.* ready //p' "$1" | head -1; return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then cat "$1" >&2; return 1; fi
    sleep 0.1
  done
  echo "the member logging to $1 did not start" >&2
  return 1
}

# Runs a member seeded with $3 in the background until its start() settled, then gives both sides
# a moment to report (the old build's introduction of the newcomer), and stops everything.
join_member() { # root id seed log
  LRM_ROOT="$1" ID="$2" SEEDS="$3" KEYS=0 run_member >"$4" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 300); do
    if grep -q 'start() ' "$4"; then break; fi
    sleep 0.1
  done
  sleep 1
}

stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}

echo
echo "== 1. old member first, current member joins it"
seed_member "$old_root" old "$logs/1-old.log"
addr="$(address_of "$logs/1-old.log" "${pids[-1]}")"
join_member "$here" new "$addr" "$logs/1-new.log"
stop_all
echo "-- old member (0.1.0):"; cat "$logs/1-old.log"
echo "-- current member:"; cat "$logs/1-new.log"
rejected=0
grep -q 'start() rejected with IncompatibleProtocolError' "$logs/1-new.log" && rejected=1

echo
echo "== 2. current member first, old member joins it"
seed_member "$here" new "$logs/2-new.log"
addr="$(address_of "$logs/2-new.log" "${pids[-1]}")"
join_member "$old_root" old "$addr" "$logs/2-old.log"
stop_all
echo "-- current member:"; cat "$logs/2-new.log"
echo "-- old member (0.1.0):"; cat "$logs/2-old.log"

echo
if [ "$rejected" = 1 ]; then
  echo "OK: the current member's start() rejected with IncompatibleProtocolError instead of running alone"
else
  echo "FAIL: the current member's start() did not reject with IncompatibleProtocolError" >&2
  exit 1
fi
