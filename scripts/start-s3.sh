#!/usr/bin/env bash
# Starts an S3-compatible server for the S3 processor tests: moto's server mode (PyPI
# package moto[server]), installed with pip when missing. It listens on 127.0.0.1:PORT
# (a free port when none is given), runs in the background, and the endpoint URL is the
# only line printed on stdout once the server answers.
#
#   scripts/start-s3.sh [PORT]
#
# Environment:
#   S3_PID_FILE          write the server's pid there (to stop it: kill "$(cat FILE)")
#   S3_PARENT_PID        stop the server when this process ends (the tests pass their own pid)
#   S3_REQUIRE_AUTH=1    check request signatures: every access key is then unknown, so every
#                        request fails with 403 InvalidAccessKeyId (for bad-credential tests)
#   S3_LOG               the server's log file (default /tmp/sluice-s3-PORT.log)
set -euo pipefail

port=${1:-}
py=${PYTHON:-python3}
if [ -z "$port" ]; then
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

if ! "$py" -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
  echo "installing moto[server] with pip" >&2
  "$py" -m pip install --quiet 'moto[server]' >&2
fi

log=${S3_LOG:-/tmp/sluice-s3-$port.log}
if [ "${S3_REQUIRE_AUTH:-0}" = 1 ]; then
  export INITIAL_NO_AUTH_ACTION_COUNT=0
fi
nohup "$py" -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &
pid=$!
if [ -n "${S3_PID_FILE:-}" ]; then
  echo "$pid" >"$S3_PID_FILE"
fi

# Wait until it accepts connections (at most 60 s).
for _ in $(seq 1 600); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "the S3 server exited; its log ($log):" >&2
    cat "$log" >&2
    exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "the S3 server did not start listening on port $port; its log ($log):" >&2
  cat "$log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
fi

if [ -n "${S3_PARENT_PID:-}" ]; then
  parent=$S3_PARENT_PID
  nohup bash -c "while kill -0 $parent 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; kill $pid 2>/dev/null" \
    >/dev/null 2>&1 </dev/null &
fi

echo "http://127.0.0.1:$port"
