#!/usr/bin/env bash
# Runs the benchmark harness (see docs/PERFORMANCE.md): our read paths side
# by side with DuckDB, on data made by `dagtrail demo` (kept in
# ./dagtrail-bench and reused), run search on a throwaway PostgreSQL, and
# request counts on the local folder and on a throwaway s3s-fs.
#
#   bench/run.sh            full size, release build (about 20 minutes the first time)
#   bench/run.sh --quick    small data, debug build: seconds (CI runs this)
#
# Extra arguments go to `dagtrail-bench run` (e.g. --out results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
trap stop_services EXIT

mode=(--release)
profile=release
quick=()
if [ "${1:-}" = "--quick" ]; then
  mode=()
  profile=debug
  quick=(--quick)
  shift
fi
# Both binaries: the harness serves `dagtrail` in its own process.
cargo build "${mode[@]}" --quiet --locked --workspace --bins
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet duckdb

db_args=()
if start_postgres; then
  psql -q -h 127.0.0.1 -p "$DAGTRAIL_TEST_PG_PORT" -U postgres -c 'CREATE DATABASE dagtrail_bench' >/dev/null
  db_args=(--database-url "postgres://postgres@127.0.0.1:$DAGTRAIL_TEST_PG_PORT/dagtrail_bench")
else
  echo "bench: PostgreSQL not available, skipping the run-index scenarios" >&2
fi
s3_args=()
if start_s3; then
  s3_args=(--s3-url "$DAGTRAIL_TEST_S3_URL/bench")
else
  echo "bench: s3s-fs not available, counting requests on the local folder only" >&2
fi
"${CARGO_TARGET_DIR:-target}/$profile/dagtrail-bench" run "${quick[@]}" "${db_args[@]}" "${s3_args[@]}" "$@"
