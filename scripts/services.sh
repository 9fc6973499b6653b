# Throwaway PostgreSQL and S3-compatible (s3s-fs) servers on loopback, for
# tests and benchmarks. Source this file, then call start_postgres and
# start_s3; stop_services runs on exit. Each exports the variables the
# tests read (DAGTRAIL_TEST_DATABASE_URL, DAGTRAIL_TEST_S3_URL, AWS_*).

services_dir=""
pg_bin=""
pg_data=""
fault_pg_data=""
tls_pg_data=""
s3_pid=""

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

services_workdir() {
  if [ -z "$services_dir" ]; then
    services_dir=$(mktemp -d /tmp/dagtrail-services.XXXXXX)
    chmod 755 "$services_dir"
  fi
}

# Runs a command as the postgres user when we are root (initdb refuses root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

start_postgres() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "services: PostgreSQL server binaries not found (apt-get install postgresql postgresql-contrib)" >&2
    return 1
  fi
  services_workdir
  local port; port=$(free_port)
  mkdir -p "$services_dir/pg"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$services_dir/pg"
  pg_data="$services_dir/pg/data"
  as_pg "$pg_bin/initdb -D $pg_data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >"$services_dir/pg-initdb.log" 2>&1 \
    || { cat "$services_dir/pg-initdb.log" >&2; return 1; }
  as_pg "$pg_bin/pg_ctl -D $pg_data -l $services_dir/pg/log -w -o \"-p $port -k $services_dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >/dev/null \
    || { cat "$services_dir/pg/log" >&2; return 1; }
  psql -q -h 127.0.0.1 -p "$port" -U postgres -c 'CREATE DATABASE dagtrail_test' >/dev/null
  export DAGTRAIL_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/dagtrail_test"
  export DAGTRAIL_TEST_PG_PORT="$port"
  echo "services: PostgreSQL on 127.0.0.1:$port" >&2
}

# A second, separate cluster that fault tests may stop and start while the
# other tests keep using the first. Exports DAGTRAIL_TEST_FAULT_PG_URL and
# DAGTRAIL_TEST_FAULT_PG_CTL, a script taking `stop` or `start`.
start_fault_postgres() {
  [ -n "$pg_bin" ] || return 1
  services_workdir
  local port; port=$(free_port)
  local dir="$services_dir/pg-fault"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  fault_pg_data="$dir/data"
  as_pg "$pg_bin/initdb -D $fault_pg_data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >"$services_dir/pg-fault-initdb.log" 2>&1 \
    || { cat "$services_dir/pg-fault-initdb.log" >&2; return 1; }
  local ctl="$services_dir/fault-pg-ctl.sh"
  cat >"$ctl" <<SCRIPT
#!/usr/bin/env bash
# stop: fast shutdown (clients are disconnected); start: same port, same data.
set -euo pipefail
run() { if [ "\$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "\$*"; else bash -c "\$*"; fi; }
case "\$1" in
  stop) run "$pg_bin/pg_ctl -D $fault_pg_data -m fast -w stop" >/dev/null ;;
  start) run "$pg_bin/pg_ctl -D $fault_pg_data -l $dir/log -w -o \\"-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off\\" start" >/dev/null ;;
  *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
SCRIPT
  chmod 755 "$ctl"
  bash "$ctl" start || { cat "$dir/log" >&2; return 1; }
  psql -q -h 127.0.0.1 -p "$port" -U postgres -c 'CREATE DATABASE dagtrail_fault' >/dev/null
  export DAGTRAIL_TEST_FAULT_PG_URL="postgres://postgres@127.0.0.1:$port/dagtrail_fault"
  export DAGTRAIL_TEST_FAULT_PG_CTL="$ctl"
  echo "services: fault-test PostgreSQL on 127.0.0.1:$port" >&2
}

# A third cluster that speaks TLS only, with a throwaway CA: a server
# certificate for localhost and 127.0.0.1, and a client certificate for the
# role `certuser` (authenticated by it). Exports DAGTRAIL_TEST_TLS_PG_URL
# (postgres://postgres@127.0.0.1:<port>/dagtrail_tls, no sslmode) and
# DAGTRAIL_TEST_TLS_DIR (ca.pem, client.pem, client.key).
start_tls_postgres() {
  [ -n "$pg_bin" ] || return 1
  command -v openssl >/dev/null 2>&1 || { echo "services: openssl not found" >&2; return 1; }
  services_workdir
  local port; port=$(free_port)
  local dir="$services_dir/pg-tls"
  local certs="$services_dir/tls"
  mkdir -p "$dir" "$certs"
  (
    cd "$certs"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3 -subj /CN=dagtrail-test-ca
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 3 -extfile server.ext
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=certuser
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 3 -extfile client.ext
  ) >"$services_dir/tls-certs.log" 2>&1 || { cat "$services_dir/tls-certs.log" >&2; return 1; }
  chmod 600 "$certs"/*.key
  chmod 755 "$certs"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir" "$certs/server.key" "$certs/server.pem"
  tls_pg_data="$dir/data"
  as_pg "$pg_bin/initdb -D $tls_pg_data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >"$services_dir/pg-tls-initdb.log" 2>&1 \
    || { cat "$services_dir/pg-tls-initdb.log" >&2; return 1; }
  cat >"$tls_pg_data/pg_hba.conf" <<HBA
local     all  all                    trust
hostssl   all  certuser  127.0.0.1/32 cert
hostssl   all  all       127.0.0.1/32 trust
hostnossl all  all       127.0.0.1/32 reject
HBA
  as_pg "$pg_bin/pg_ctl -D $tls_pg_data -l $dir/log -w -o \"-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on -c ssl_cert_file=$certs/server.pem -c ssl_key_file=$certs/server.key -c ssl_ca_file=$certs/ca.pem\" start" >/dev/null \
    || { cat "$dir/log" >&2; return 1; }
  psql -q -h "$dir" -p "$port" -U postgres -c 'CREATE ROLE certuser LOGIN' -c 'CREATE DATABASE dagtrail_tls OWNER certuser' >/dev/null
  export DAGTRAIL_TEST_TLS_PG_URL="postgres://postgres@127.0.0.1:$port/dagtrail_tls"
  export DAGTRAIL_TEST_TLS_DIR="$certs"
  echo "services: TLS-only PostgreSQL on 127.0.0.1:$port" >&2
}

start_s3() {
  if ! command -v s3s-fs >/dev/null 2>&1; then
    echo "services: s3s-fs not found (cargo install s3s-fs@0.14.1 --features binary --locked)" >&2
    return 1
  fi
  services_workdir
  local port; port=$(free_port)
  mkdir -p "$services_dir/s3/dagtrail-test"
  s3s-fs --host 127.0.0.1 --port "$port" --access-key dagtrail --secret-key dagtrail-secret "$services_dir/s3" \
    >"$services_dir/s3.log" 2>&1 &
  s3_pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  export AWS_ACCESS_KEY_ID=dagtrail AWS_SECRET_ACCESS_KEY=dagtrail-secret AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true
  export DAGTRAIL_TEST_S3_URL="s3://dagtrail-test" DAGTRAIL_TEST_S3_ROOT="$services_dir/s3"
  echo "services: s3s-fs on 127.0.0.1:$port (bucket dagtrail-test)" >&2
}

stop_services() {
  local status=$?
  # A failed run's server logs are the only account of a server that
  # crashed (CI keeps nothing of the throwaway clusters).
  if [ "$status" != 0 ] && [ -n "$services_dir" ]; then
    local log
    for log in "$services_dir"/pg/log "$services_dir"/pg-fault/log "$services_dir"/pg-tls/log; do
      [ -s "$log" ] || continue
      echo "services: the run failed (exit $status); the last lines of $log:" >&2
      tail -n 40 "$log" >&2
    done
  fi
  if [ -n "$s3_pid" ]; then kill "$s3_pid" 2>/dev/null || true; wait "$s3_pid" 2>/dev/null || true; fi
  if [ -n "$pg_data" ]; then as_pg "$pg_bin/pg_ctl -D $pg_data -m immediate stop" >/dev/null 2>&1 || true; fi
  if [ -n "$fault_pg_data" ]; then as_pg "$pg_bin/pg_ctl -D $fault_pg_data -m immediate stop" >/dev/null 2>&1 || true; fi
  if [ -n "$tls_pg_data" ]; then as_pg "$pg_bin/pg_ctl -D $tls_pg_data -m immediate stop" >/dev/null 2>&1 || true; fi
  if [ -n "$services_dir" ]; then rm -rf "$services_dir"; fi
}
