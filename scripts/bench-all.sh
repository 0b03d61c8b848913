#!/usr/bin/env bash
# Runs Sluice's benchmarks one after the other and prints their figures (the source of the
# numbers in docs/performance.md). Builds with --release (LTO) unless PROFILE is set.
#
#   scripts/bench-all.sh            # everything, about 3 minutes after the build
#   QUICK=1 scripts/bench-all.sh    # shorter measurements
#
# Throughput on shared 2-core machines drifts; compare with the Node-RED peer
# (../shared/bench/node-red/run.sh) from the same run window, not with old figures.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
secs=${QUICK:+1}
secs=${secs:-3}
dir=target/$profile

log() { printf '\n==> %s\n' "$*"; }

log "building (profile $profile)"
cargo build --profile "$profile" --bin sluice --examples -p sluice -p sluice-engine -p sluice-expression \
  -p sluice-provenance -p sluice-processors >/dev/null

log "start-up: time to GET /api/health 200 on a new data dir, idle RSS after 5 s (demo flow running)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$dir/sluice" "$tmp" <<'EOF'
import subprocess, sys, time, urllib.request, socket
binary, tmp = sys.argv[1], sys.argv[2]
for args, label in ([], "default (os, provenance on)"), (["--no-provenance"], "provenance off"):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    data = f"{tmp}/data-{len(args)}"
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "run", "--data-dir", data, "--listen", f"127.0.0.1:{port}"] + args,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).status == 200:
                break
        except Exception:
            time.sleep(0.002)
    ready = (time.monotonic() - t0) * 1000
    time.sleep(5)
    st = open(f"/proc/{p.pid}/status").read()
    rss = int([l for l in st.splitlines() if l.startswith("VmRSS")][0].split()[1]) / 1024
    print(f"startup.{label.split()[0]}.ready_ms {ready:.1f}\nstartup.{label.split()[0]}.idle_rss_mib {rss:.1f}")
    p.terminate(); p.wait()
EOF

log "engine core: GenerateFlowFile -> UpdateAttribute -> RouteOnAttribute -> auto-terminated, 1 KiB"
for d in memory os fsync; do
  for prov in off on; do
    echo "-- durability $d, provenance $prov"
    "$dir/examples/core_bench" "$secs" "$d" "$prov"
  done
done

log "expression language"
"$dir/examples/el_bench"

log "processors (RouteOnAttribute, ReplaceText)"
"$dir/examples/proc_bench"

log "flowfile repository (WAL)"
"$dir/examples/wal_bench" --seconds "$secs" --flowfiles "${WAL_FLOWFILES:-1000000}"

log "provenance"
"$dir/examples/prov_bench" --events "${PROV_EVENTS:-1000000}"

log "ListenHTTP -> PutFile, 64 clients"
"$dir/examples/http_bench" "$secs" 64 1024 --durable

log "ListenTCP"
"$dir/examples/tcp_bench" "$secs" 4 1000

log "ConsumeNATS"
"$dir/examples/nats_bench" 200000 100 || echo "(nats_bench needs nats-server: scripts/start-nats.sh)"
