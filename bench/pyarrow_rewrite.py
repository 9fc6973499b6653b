"""Rewrites an attempt folder the way a plain Python ETL would write it:
every `*.parquet` of SRC is read with `pq.read_table` and written to DST
(same name) with `pq.write_table(table, path)` and pyarrow's defaults
(default row group size, 1 MiB data pages, snappy, no page index). The
schema and the file's key-value metadata travel in the table's schema
metadata, as pyarrow does by default.

Usage: python bench/pyarrow_rewrite.py SRC DST
Needs `pip install pyarrow` (see bench/requirements-original.txt).
"""
import gc
import os
import sys
import time

import pyarrow.parquet as pq


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src, dst = argv[1], argv[2]
    names = sorted(n for n in os.listdir(src) if n.endswith(".parquet"))
    if not names:
        print(f"no *.parquet in {src}", file=sys.stderr)
        return 1
    os.makedirs(dst, exist_ok=True)
    print(f"{'file':<22} {'rows':>10} {'row groups':>10} {'bytes in':>12} {'bytes out':>12} {'s':>6}")
    for name in names:
        started = time.perf_counter()
        source = os.path.join(src, name)
        target = os.path.join(dst, name)
        table = pq.read_table(source)
        # Write to a temporary name, then rename: a half-written file never
        # sits under the real name.
        tmp = target + ".tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, target)
        rows = table.num_rows
        del table
        gc.collect()
        meta = pq.ParquetFile(target).metadata
        assert meta.num_rows == rows, (name, meta.num_rows, rows)
        print(
            f"{name:<22} {rows:>10} {meta.num_row_groups:>10} {os.path.getsize(source):>12} "
            f"{os.path.getsize(target):>12} {time.perf_counter() - started:>6.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
