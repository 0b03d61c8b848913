#!/usr/bin/env bash
# Runs the Node-RED peer benchmark (../shared/bench/node-red, or $PEER) and then Sluice's
# versions of the same three workloads (`sluice bench peer`), back to back on this machine,
# and prints the side-by-side table with ratios (the source of docs/performance.md).
#
#   scripts/bench-vs-node-red.sh            # all three workloads, about 4 minutes after builds
#   scripts/bench-vs-node-red.sh b          # one workload
#
# The peer's folder is copied to $WORK (default /tmp/sluice-vs-node-red) because its harness
# writes node_modules/, results/ and scratch files beside itself. oha 1.16.0 is built there by
# the peer's run.sh and reused for Sluice's workload a. Build profile: $PROFILE (release).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
peer_src=${PEER:-$root/../shared/bench/node-red}
work=${WORK:-/tmp/sluice-vs-node-red}
profile=${PROFILE:-release}
what=${1:-all}

[ -x "$peer_src/run.sh" ] || { echo "no peer harness at $peer_src (set PEER)" >&2; exit 2; }
mkdir -p "$work"
if [ ! -d "$work/node-red" ]; then
    cp -r "$peer_src" "$work/node-red"
fi

echo "==> building sluice (profile $profile)" >&2
cargo build --profile "$profile" --bin sluice >&2

echo "==> Node-RED: ./run.sh $what" >&2
status=0
(cd "$work/node-red" && ./run.sh "$what") > "$work/node-red.txt" || status=$?
[ $status -eq 0 ] || { echo "Node-RED run failed (exit $status); see $work/node-red.txt" >&2; exit $status; }

# The peer's workload c creates and deletes 20,000 files just before this; on this machine's
# ext4, creating files within a minute or two of a mass deletion is several times slower
# (measured: the same binary 13,468 then 4,413 files/s minutes apart). Let the file system
# settle so that both engines start c on equal terms ($SETTLE seconds, 0 to skip).
settle=${SETTLE:-120}
if [ "$settle" -gt 0 ]; then
    echo "==> letting the file system settle for ${settle} s" >&2
    sleep "$settle"
fi

echo "==> Sluice: sluice bench peer $what" >&2
export OHA=${OHA:-$work/node-red/.tools/bin/oha}
"target/$profile/sluice" bench peer "$what" --work "$work/sluice" \
    --node-red "$work/node-red/results/latest.json" --out "$work/sluice.json"
