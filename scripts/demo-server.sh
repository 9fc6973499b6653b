# Starts and stops a `dagtrail serve --demo` on a free loopback port, for the
# scripts that drive the served API (scripts/schemathesis, scripts/load).
# Source scripts/services.sh first (for free_port).
#
#   start_demo_server BIN DATA_DIR [NAME=VALUE ...]
#
# runs BIN with the given environment and a fresh signing secret, waits for
# the demo's printed token, and sets: server (pid), url, token, write_token
# (scope runs:write), dag and run_path ("runs/<date>/<run_id>", run_id percent-encoded). The server's
# output is kept in DATA_DIR.out and DATA_DIR.err.
server=""

start_demo_server() {
  local bin="$1" data="$2"; shift 2
  local port; port=$(free_port)
  env "$@" DAGTRAIL_JWT_SECRET="demo-$(date +%s%N)" DAGTRAIL_DATA_DIR="$data" RUST_LOG=warn \
    "$bin" serve --demo --listen "127.0.0.1:$port" >"$data.out" 2>"$data.err" &
  server=$!
  for _ in $(seq 1 1200); do
    grep -q 'export TOKEN=' "$data.out" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$data.err" >&2; return 1; }
    sleep 0.1
  done
  grep -q 'export TOKEN=' "$data.out" || { echo "demo server: no token after 120 s" >&2; return 1; }
  url="http://127.0.0.1:$port"
  token=$(grep -o 'export TOKEN=[^ ]*' "$data.out" | cut -d= -f2)
  write_token=$(grep -o 'export WRITE_TOKEN=[^ ]*' "$data.out" | cut -d= -f2)
  dag=$(grep -o 'serving [0-9a-f-]*' "$data.out" | cut -d' ' -f2)
  run_path=$(grep -o "runs/[0-9-]*/[^/' ]*" "$data.out" | head -1)
}

stop_demo_server() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; fi
}
