#!/usr/bin/env bash
# Ours and the original stack (FastAPI + DuckDB, bench/original_stack.py)
# over HTTP on the same files, side by side (docs/PERFORMANCE.md, issue 16):
# on the benchmark phase as our writer wrote it, and rewritten by pyarrow
# with its defaults (what a Python ETL writes).
#
#   bench/compare.sh [DATA]        DATA: the folder `bench/run.sh` made
#                                  (default ./dagtrail-bench/full: artifacts/ and dagtrail.db)
#
# Extra settings: COMPARE_ARGS (flags of `dagtrail-bench compare`, e.g.
# "--reps 25 --load-secs 20"), COMPARE_OUT (append the report to a file).
# The original stack's virtual environment is kept under
# ~/.cache/dagtrail/venvs/bench (or $DAGTRAIL_VENVS/bench), from PyPI, and
# installed into again when bench/requirements-original.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(realpath "${1:-dagtrail-bench/full}")
[ -d "$data/artifacts" ] && [ -f "$data/dagtrail.db" ] || {
  echo "compare: no benchmark data in $data; make it first with: bench/run.sh --no-run-index" >&2
  exit 1
}
venv="${DAGTRAIL_VENVS:-$HOME/.cache/dagtrail/venvs}/bench"
source scripts/venv.sh
stamp=$(stamp_of -- bench/requirements-original.txt)
ensure_venv "$venv" "$stamp" -r bench/requirements-original.txt
cargo build --release --quiet --locked -p dagtrail -p dagtrail-bench
bin="${CARGO_TARGET_DIR:-target}/release"

# The benchmark's one attempt, and its copy as pyarrow writes it.
metadata=$(find "$data/artifacts" -path '*/extract/attempt=1/metadata.parquet' | head -1)
attempt=$(dirname "$metadata")
relative=${attempt#"$data/artifacts/"}
foreign="$data/../pyarrow"
if [ ! -f "$foreign/$relative/metadata.parquet" ]; then
  echo "compare: rewriting the phase with pyarrow's defaults into $foreign"
  "$venv/bin/python" bench/pyarrow_rewrite.py "$attempt" "$foreign/$relative"
  cp -r "$data/artifacts/dagtrail=store" "$foreign/" 2>/dev/null || true
fi
IFS=/ read -r company dag date run_id _ <<<"$relative"
run_path="/api/v1/dags/$dag/runs/$date/$run_id"

secret=$(head -c 24 /dev/urandom | base64)
export DAGTRAIL_JWT_SECRET="$secret"
token=$("$bin/dagtrail" token --company "$company")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null -H "Authorization: Bearer $token" "$1$run_path" && return 0
    sleep 0.2
  done
  echo "compare: $1 did not answer" >&2
  return 1
}

for set in "our writer:$data/artifacts" "pyarrow defaults:$foreign"; do
  title=${set%%:*}
  root=${set#*:}
  "$bin/dagtrail" serve --listen 127.0.0.1:18180 --database-url "sqlite://$data/dagtrail.db" \
    --store-url "$root" >/tmp/compare-ours.log 2>&1 &
  ours=$!
  "$venv/bin/python" bench/original_stack.py --port 18190 --workers 2 --store-root "$root" \
    --database-url "sqlite://$data/dagtrail.db" --jwt-secret "$secret" >/tmp/compare-original.log 2>&1 &
  original=$!
  pids=("$ours" "$original")
  wait_for http://127.0.0.1:18180
  wait_for http://127.0.0.1:18190
  # shellcheck disable=SC2086
  "$bin/dagtrail-bench" compare --ours http://127.0.0.1:18180 --ours-pid "$ours" \
    --original http://127.0.0.1:18190 --original-pid "$original" --token "$token" \
    --run-path "$run_path" --title "files written by $title" \
    ${COMPARE_OUT:+--out "$COMPARE_OUT"} ${COMPARE_ARGS:-}
  kill "$ours" "$original"
  wait "$ours" "$original" 2>/dev/null || true
  pids=()
done
