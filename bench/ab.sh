#!/usr/bin/env bash
# Two builds of dagtrail side by side on the same data: the read paths a
# change touches, requests per second from wrk, old and new alternating
# (old, new, old, new) after a warm-up of both. Prints a Markdown table.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY
#
# e.g. after `git worktree add /tmp/old <rev>` and a release build in each.
# The data (3 runs of one DAG, 300,000 data rows and 200,000 log rows per
# phase) is written by NEW_BINARY's `demo` into a temp folder. Needs wrk.
# AB_SECONDS sets each measurement's length (8; 1 for a smoke run).
set -euo pipefail
old=$1 new=$2
command -v wrk >/dev/null || { echo "ab: needs wrk (apt-get install wrk)" >&2; exit 2; }
dir=$(mktemp -d /tmp/dagtrail-ab.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
export DAGTRAIL_DATA_DIR="$dir/data"
export DAGTRAIL_JWT_SECRET=ab-secret-with-enough-length-0123456789
"$new" demo --companies 1 --dags 1 --runs 3 --days 1 --rows-per-phase 300000 --log-rows-per-phase 200000 >/dev/null
# Both servers read what the new one wrote; neither changes the schema.
export DAGTRAIL_MIGRATE=false
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ports=()
for binary in "$old" "$new"; do
  port=$(free_port)
  "$binary" serve --listen "127.0.0.1:$port" >/dev/null 2>"$dir/serve-$port.log" &
  pids+=($!) ports+=("$port")
done
token=$("$new" token --company acme --ttl 2h)
day=$(date -u +%F)
dag=/api/v1/dags/c65f0852-15a6-4b7e-8939-98767cd871ca
run="$dag/runs/$day/scheduled__${day}T00%3A00%3A00%2B00%3A00"
for port in "${ports[@]}"; do
  for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done
names=("data page 0 (limit 50)" "data page 5,000" "data keyword returning" "data keyword zürich"
       "data keyword nguyễn văn an (rare)" "logs level=ERROR" "logs keyword source cursor" "run summary"
       "run search, keyword orders" "run search, keyword zürich")
urls=("$run/phases/extract/data?limit=50" "$run/phases/extract/data?limit=50&page=5000"
      "$run/phases/extract/data?keyword=returning&limit=50" "$run/phases/extract/data?keyword=z%C3%BCrich&limit=50"
      "$run/phases/extract/data?keyword=nguy%E1%BB%85n%20v%C4%83n%20an&limit=50" "$run/phases/extract/logs?level=ERROR&limit=50"
      "$run/phases/extract/logs?keyword=source%20cursor&limit=50" "$run"
      "$dag/runs?date_from=$day&date_to=$day&extract_keyword=orders" "$dag/runs?date_from=$day&date_to=$day&extract_keyword=z%C3%BCrich")
rate() { wrk -t1 -c4 -d"$3" -H "Authorization: Bearer $token" "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ {print $2}'; }
for url in "${urls[@]}"; do for port in "${ports[@]}"; do rate "$port" "$url" "${AB_SECONDS:-3}s" >/dev/null; done; done
echo "| scenario | old req/s (2 runs) | new req/s (2 runs) | new / old |"
echo "|---|---:|---:|---:|"
for i in "${!names[@]}"; do
  s="${AB_SECONDS:-8}s"
  o1=$(rate "${ports[0]}" "${urls[$i]}" "$s"); n1=$(rate "${ports[1]}" "${urls[$i]}" "$s")
  o2=$(rate "${ports[0]}" "${urls[$i]}" "$s"); n2=$(rate "${ports[1]}" "${urls[$i]}" "$s")
  NAME="${names[$i]}" python3 -c "
import os
o, n = [$o1, $o2], [$n1, $n2]
print(f'| {os.environ[\"NAME\"]} | {o[0]:.0f}, {o[1]:.0f} | {n[0]:.0f}, {n[1]:.0f} | {sum(n) / sum(o):.2f} |')"
done
