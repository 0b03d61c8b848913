#!/usr/bin/env bash
# Starts a throw-away NATS server with JetStream for Sluice's messaging tests and prints its URL.
#
#   scripts/start-nats.sh PORT DIR   start nats-server -js on 127.0.0.1:PORT in the background,
#                                    JetStream storage in DIR/jetstream, pid in DIR/nats.pid,
#                                    log in DIR/nats.log; prints nats://127.0.0.1:PORT once it
#                                    accepts connections
#   scripts/start-nats.sh stop DIR   stop the server started with DIR
#
# With NATS_USER and NATS_PASS set, the server demands that user and password.
#
# Installs Debian's `nats-server` when it is missing.
set -euo pipefail

find_bin() {
  command -v nats-server 2>/dev/null && return
  for b in /usr/sbin/nats-server /usr/bin/nats-server /usr/local/bin/nats-server; do
    [ -x "$b" ] && { echo "$b"; return; }
  done
  true
}

if [ "${1:-}" = "stop" ]; then
  dir=${2:?usage: $0 stop DIR}
  [ -f "$dir/nats.pid" ] || { echo "no $dir/nats.pid" >&2; exit 1; }
  pid=$(cat "$dir/nats.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/nats.pid"; exit 0; }
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/nats.pid"
  exit 0
fi

port=${1:?usage: $0 PORT DIR | $0 stop DIR}
dir=${2:?usage: $0 PORT DIR}

bin=$(find_bin)
if [ -z "$bin" ]; then
  echo "nats-server not found; installing Debian's nats-server" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >&2
  else
    sudo apt-get update -qq >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >&2
  fi
  bin=$(find_bin)
  [ -n "$bin" ] || { echo "nats-server still missing after install" >&2; exit 1; }
fi

mkdir -p "$dir/jetstream"
# setsid + redirected streams: the server outlives this script and holds none of its pipes.
auth=()
if [ -n "${NATS_USER:-}" ]; then
  auth=(--user "$NATS_USER" --pass "${NATS_PASS:-}")
fi
setsid "$bin" -js -a 127.0.0.1 -p "$port" -sd "$dir/jetstream" -P "$dir/nats.pid" "${auth[@]}" \
  </dev/null >>"$dir/nats.log" 2>&1 &

for _ in $(seq 1 200); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "nats://127.0.0.1:$port"
    exit 0
  fi
  sleep 0.05
done
echo "nats-server did not come up on port $port; log:" >&2
cat "$dir/nats.log" >&2 || true
exit 1
