"""The DuckDB side of `dagtrail-bench run`: the same work as each scenario of
ours, done the way the original service did it (DuckDB over the Parquet
files). Reads one JSON request per line on stdin, runs it once, and
answers one JSON line: {"ms": elapsed, "rows": rows returned}.

Requests: {"scenario": NAME, "attempt": FOLDER, "params": {...}}.
Started by `dagtrail-bench run`; needs `pip install duckdb`.
"""
import glob
import json
import sys
import time

import duckdb

# The connection, made when run as the harness's side (main below); the
# helpers are also imported by original_stack.py.
con = None


def files(folder, stem):
    return sorted(glob.glob(f"{glob.escape(folder)}/{stem}_*.parquet"))


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def plist(paths):
    return "[" + ", ".join(lit(p) for p in paths) + "]"


def data_page(folder, p):
    data = plist(files(folder, "data"))
    return con.execute(
        f"SELECT * FROM read_parquet({data}, hive_partitioning=false) LIMIT {p['limit']} OFFSET {p['offset']}"
    ).fetchall()


def keyword_hits(cur, folder, keyword, limit, offset):
    """Index rows of the attempt in `folder` holding `keyword` (any case):
    how many, and page `offset`/`limit` of them as {data file: [rows]}."""
    index = lit(f"{folder}/index.parquet")
    kw = lit("%" + keyword.replace("%", "\\%").replace("_", "\\_") + "%")
    total = cur.execute(
        f"SELECT count(*) FROM read_parquet({index}, hive_partitioning=false) WHERE _searchable ILIKE {kw} ESCAPE '\\'"
    ).fetchone()[0]
    hits = cur.execute(
        f"SELECT _file, _row FROM read_parquet({index}, hive_partitioning=false) WHERE _searchable ILIKE {kw} ESCAPE '\\' "
        f"ORDER BY _file, _row LIMIT {limit} OFFSET {offset}"
    ).fetchall()
    by_file = {}
    for f, r in hits:
        by_file.setdefault(f, []).append(r)
    return total, dict(sorted(by_file.items()))


def rows_of_file(path, rows):
    """The query of rows `rows` (0-based) of the Parquet file `path`, in order."""
    wanted = ", ".join(str(r) for r in rows)
    return (
        f"SELECT * EXCLUDE (file_row_number) FROM read_parquet({lit(path)}, file_row_number=true, hive_partitioning=false) "
        f"WHERE file_row_number IN ({wanted}) ORDER BY file_row_number"
    )


def keyword(folder, p):
    total, by_file = keyword_hits(con, folder, p["keyword"], p["limit"], p["offset"])
    data = files(folder, "data")
    rows = []
    for f, rs in by_file.items():
        rows += con.execute(rows_of_file(data[f], rs)).fetchall()
    return rows + [total]


def logs_page(folder, p):
    logs = plist(files(folder, "logs"))
    levels = ", ".join(lit(l) for l in p["levels"])
    kw = lit("%" + p["keyword"] + "%")
    where = f"level IN ({levels}) AND message ILIKE {kw}"
    total = con.execute(f"SELECT count(*) FROM read_parquet({logs}, hive_partitioning=false) WHERE {where}").fetchone()[0]
    rows = con.execute(
        f"SELECT * FROM read_parquet({logs}, hive_partitioning=false) WHERE {where} LIMIT {p['limit']} OFFSET {p['offset']}"
    ).fetchall()
    return rows + [total]


def ndjson(folder, p):
    logs = plist(files(folder, "logs"))
    con.execute(f"COPY (SELECT * FROM read_parquet({logs}, hive_partitioning=false)) TO {lit(p['out'])} (FORMAT json)")
    return []


SCENARIOS = {"data_page": data_page, "keyword": keyword, "logs_page": logs_page, "ndjson": ndjson}

if __name__ == "__main__":
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for line in sys.stdin:
        req = json.loads(line)
        started = time.perf_counter()
        rows = SCENARIOS[req["scenario"]](req["attempt"], req.get("params", {}))
        elapsed = (time.perf_counter() - started) * 1000
        print(json.dumps({"ms": elapsed, "rows": len(rows)}), flush=True)
