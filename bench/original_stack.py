"""The original stack, over HTTP: a FastAPI app served by uvicorn that does
per request what the original service did (DuckDB over the Parquet files,
the same queries as bench/duckdb_side.py), for the benchmark's HTTP
comparison with our server. A plain, faithful baseline: one DuckDB
connection per worker process (`SET threads TO 2`), a cursor of it per
request, no caching of results or of file listings.

    python bench/original_stack.py --port 8090 --workers 2 \
        --store-root /work/bench-data/pyarrow \
        --database-url sqlite:///work/bench-data/full/dagtrail.db \
        --jwt-secret s3cret

Endpoints (all need `Authorization: Bearer <JWT>`, HS256, company in the
`id_company` claim unless --company-claim says otherwise):

    GET /api/v1/dags/{dag_id}/runs/{date}/{run_id}
    GET /api/v1/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/data
        ?attempt=1&page=0&limit=50&keyword=...
    GET /api/v1/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/logs
        ?attempt=1&page=0&limit=50&level=ERROR&level=...&keyword=...

Pages answer {"rows": [{column: value}], "total": N, "page": p, "limit": l};
values JSON cannot hold (timestamps, dates, decimals, bytes, UUIDs) are
written with str().

The run index is PostgreSQL `etl.logs` (psycopg 3 + psycopg_pool) or, with
a `sqlite://` URL, the embedded SQLite file's `etl_logs` (Python's sqlite3).
Needs the packages of bench/requirements-original.txt.
"""
import argparse
import json
import os
import sqlite3
import sys
import threading
import uuid
import warnings
from contextlib import asynccontextmanager
from datetime import date as Date
from typing import List, Optional

import duckdb
import jwt
# The file listing and SQL literals of the harness's in-process DuckDB side
# (bench/ is on the path: this file runs as a script from it).
from duckdb_side import files, keyword_hits, lit, plist, rows_of_file
from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import JSONResponse, Response

# Short bench secrets are fine here; keep the log quiet.
warnings.filterwarnings("ignore", message="The HMAC key is")

# Configuration travels to the worker processes in the environment.
ENV_STORE = "DAGTRAIL_BENCH_STORE_ROOT"
ENV_DB = "DAGTRAIL_BENCH_DATABASE_URL"
ENV_SECRET = "DAGTRAIL_JWT_SECRET"
ENV_CLAIM = "DAGTRAIL_BENCH_COMPANY_CLAIM"

PHASES = ("extract", "transform", "load")


class State:
    con = None  # the worker's DuckDB connection
    pool = None  # psycopg_pool.ConnectionPool, PostgreSQL only
    sqlite_path = None  # SQLite only
    local = threading.local()  # one sqlite3 connection per thread


def store_root():
    return os.environ[ENV_STORE]


def jwt_secret():
    return os.environ[ENV_SECRET]


def company_claim():
    return os.environ.get(ENV_CLAIM, "id_company")


@asynccontextmanager
async def lifespan(_app):
    State.con = duckdb.connect()
    State.con.execute("SET threads TO 2")
    url = os.environ.get(ENV_DB, "")
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):].split("?", 1)[0]
        if not os.path.isfile(path):
            raise RuntimeError(f"no SQLite run index at {path}")
        State.sqlite_path = path
    elif url:
        from psycopg_pool import ConnectionPool

        State.pool = ConnectionPool(url, min_size=1, max_size=10, open=True)
    yield
    if State.pool is not None:
        State.pool.close()
    State.con.close()


app = FastAPI(title="original stack (bench)", lifespan=lifespan)


# ----- helpers -------------------------------------------------------------


def problem(status, title, detail=None):
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


class Problem(Exception):
    def __init__(self, status, title, detail=None):
        self.status, self.title, self.detail = status, title, detail


@app.exception_handler(Problem)
async def on_problem(_request, exc):
    return problem(exc.status, exc.title, exc.detail)


@app.exception_handler(HTTPException)
async def on_http(_request, exc):
    return problem(exc.status_code, str(exc.detail))


def company(authorization: Optional[str] = Header(None)):
    """The token's company; 401 without a valid HS256 bearer token."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Problem(401, "Unauthorized", "missing bearer token")
    token = authorization[7:].strip()
    try:
        claims = jwt.decode(token, jwt_secret(), algorithms=["HS256"])
    except jwt.PyJWTError as e:
        raise Problem(401, "Unauthorized", f"invalid token: {e}")
    value = claims.get(company_claim())
    if not isinstance(value, str) or not value:
        raise Problem(401, "Unauthorized", f"token has no {company_claim()} claim")
    return value


def segment(s, what):
    if s in ("", ".", "..") or "/" in s or "\\" in s or "\x00" in s:
        raise Problem(422, "Unprocessable Entity", f"invalid {what}")
    return s


def attempt_folder(comp, dag_id, date, run_id, phase, attempt):
    if phase not in PHASES:
        raise Problem(422, "Unprocessable Entity", f"phase must be one of {', '.join(PHASES)}")
    parts = [segment(comp, "company"), segment(dag_id, "dag_id"), segment(date, "date"),
             segment(run_id, "run_id"), phase, f"attempt={attempt}"]
    return os.path.join(store_root(), *parts)


def records(cur):
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def page_response(rows, total, page, limit):
    body = json.dumps({"rows": rows, "total": total, "page": page, "limit": limit}, default=str)
    return Response(body, media_type="application/json")


def cursor():
    # DuckDB connections are not thread-safe; a cursor is a connection to
    # the same database (same settings, same buffer pool) for this request.
    return State.con.cursor()


# ----- data ----------------------------------------------------------------


@app.get("/api/v1/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/data")
def phase_data(
    dag_id: str,
    date: str,
    run_id: str,
    phase: str,
    attempt: int = Query(1, ge=1),
    page: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=1000),
    keyword: Optional[str] = None,
    comp: str = Depends(company),
):
    folder = attempt_folder(comp, dag_id, date, run_id, phase, attempt)
    data = files(folder, "data")
    if not data:
        raise Problem(404, "Not Found", f"no data files for {phase} attempt {attempt}")
    offset = page * limit
    cur = cursor()
    try:
        if keyword:
            rows, total = keyword_page(cur, folder, data, keyword, limit, offset)
        else:
            total = data_total(cur, folder, data)
            cur.execute(
                f"SELECT * FROM read_parquet({plist(data)}, hive_partitioning=false) LIMIT {limit} OFFSET {offset}"
            )
            rows = records(cur)
    except duckdb.IOException as e:
        raise Problem(502, "Bad Gateway", str(e))
    finally:
        cur.close()
    return page_response(rows, total, page, limit)


def data_total(cur, folder, data):
    metadata = f"{folder}/metadata.parquet"
    if os.path.exists(metadata):
        found = cur.execute(f"SELECT data_rows FROM read_parquet({lit(metadata)}, hive_partitioning=false)").fetchone()
        if found and found[0] is not None:
            return found[0]
    return cur.execute(f"SELECT count(*) FROM read_parquet({plist(data)}, hive_partitioning=false)").fetchone()[0]


def keyword_page(cur, folder, data, keyword, limit, offset):
    """As duckdb_side.keyword(): match in index.parquet, then fetch the hit
    rows from their data files."""
    if not os.path.exists(f"{folder}/index.parquet"):
        raise Problem(404, "Not Found", "no index.parquet for this attempt")
    total, by_file = keyword_hits(cur, folder, keyword, limit, offset)
    rows = []
    for f, rs in by_file.items():
        if f >= len(data):
            raise Problem(502, "Bad Gateway", f"index names data file {f:03d}, which is missing")
        cur.execute(rows_of_file(data[f], rs))
        rows += records(cur)
    return rows, total


# ----- logs ----------------------------------------------------------------


@app.get("/api/v1/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/logs")
def phase_logs(
    dag_id: str,
    date: str,
    run_id: str,
    phase: str,
    attempt: int = Query(1, ge=1),
    page: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=1000),
    level: Optional[List[str]] = Query(None),
    keyword: Optional[str] = None,
    comp: str = Depends(company),
):
    folder = attempt_folder(comp, dag_id, date, run_id, phase, attempt)
    logs = files(folder, "logs")
    if not logs:
        raise Problem(404, "Not Found", f"no log files for {phase} attempt {attempt}")
    offset = page * limit
    where = []
    if level:
        where.append(f"level IN ({', '.join(lit(l) for l in level)})")
    if keyword:
        where.append(f"message ILIKE {lit('%' + keyword + '%')}")
    where = (" WHERE " + " AND ".join(where)) if where else ""
    source = f"read_parquet({plist(logs)}, hive_partitioning=false)"
    cur = cursor()
    try:
        total = cur.execute(f"SELECT count(*) FROM {source}{where}").fetchone()[0]
        cur.execute(f"SELECT * FROM {source}{where} LIMIT {limit} OFFSET {offset}")
        rows = records(cur)
    except duckdb.IOException as e:
        raise Problem(502, "Bad Gateway", str(e))
    finally:
        cur.close()
    return page_response(rows, total, page, limit)


# ----- run summary (run index only) ----------------------------------------


def sqlite_conn():
    conn = getattr(State.local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(State.sqlite_path)
        State.local.conn = conn
    return conn


COLUMNS = ("id_company", "dag_id", "date", "run_id", "log", "created_at", "updated_at")


@app.get("/api/v1/dags/{dag_id}/runs/{date}/{run_id}")
def run_summary(dag_id: str, date: str, run_id: str, comp: str = Depends(company)):
    try:
        dag_id = str(uuid.UUID(dag_id))
    except ValueError:
        raise Problem(422, "Unprocessable Entity", "dag_id must be a UUID")
    try:
        Date.fromisoformat(date)
    except ValueError:
        raise Problem(422, "Unprocessable Entity", "date must be YYYY-MM-DD")
    if State.sqlite_path is not None:
        row = sqlite_conn().execute(
            f"SELECT {', '.join(COLUMNS)} FROM etl_logs "
            "WHERE id_company = ? AND dag_id = ? AND date = ? AND run_id = ?",
            (comp, dag_id, date, run_id),
        ).fetchone()
        if row is not None:
            row = dict(zip(COLUMNS, row))
            row["log"] = json.loads(row["log"])
    elif State.pool is not None:
        with State.pool.connection() as conn:
            row = conn.execute(
                "SELECT id_company, dag_id::text, date::text, run_id, log, created_at, updated_at FROM etl.logs "
                "WHERE id_company = %s AND dag_id = %s::uuid AND date = %s::date AND run_id = %s",
                (comp, dag_id, date, run_id),
            ).fetchone()
        if row is not None:
            row = dict(zip(COLUMNS, row))  # log arrives as a dict (jsonb)
    else:
        raise Problem(503, "Service Unavailable", "no run index configured (--database-url)")
    if row is None:
        raise Problem(404, "Not Found", "run not found in etl.logs")
    return Response(json.dumps(row, default=str), media_type="application/json")


# ----- command line --------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(description="FastAPI + DuckDB baseline for the dagtrail benchmark")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--store-root", required=True, help="folder holding <company>/<dag_id>/...")
    p.add_argument("--database-url", default="", help="postgres://... or sqlite:///path/to/dagtrail.db")
    p.add_argument("--jwt-secret", default=os.environ.get(ENV_SECRET), help=f"HS256 secret (or ${ENV_SECRET})")
    p.add_argument("--company-claim", default="id_company", help="JWT claim holding the company")
    a = p.parse_args(argv)
    if not a.jwt_secret:
        p.error(f"--jwt-secret or ${ENV_SECRET} is required")
    os.environ[ENV_STORE] = os.path.abspath(a.store_root)
    os.environ[ENV_DB] = a.database_url
    os.environ[ENV_SECRET] = a.jwt_secret
    os.environ[ENV_CLAIM] = a.company_claim

    import uvicorn

    uvicorn.run(
        "original_stack:app",
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host=a.host,
        port=a.port,
        workers=a.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    sys.exit(main())
