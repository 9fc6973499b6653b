"""Uploads a large DataFrame (or Arrow table) and prints, as JSON, how
much memory the upload took at its peak: Arrow's allocations (sampled)
plus Python's (tracemalloc's peak), over what the input itself holds. Run
in a process of its own by test_large.py, so that nothing else the tests
did weighs in. (Resident memory says little here: building the input
leaves freed memory resident that the upload then reuses.)

Usage: large_upload.py URL TOKEN ROWS PART_BYTES KIND
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
import tracemalloc
import uuid

import numpy as np
import pyarrow as pa

import dagtrail

def frame(rows: int, kind: str):
    rng = np.random.default_rng(7)
    columns = {
        "order_id": np.arange(rows, dtype=np.int64),
        "amount": rng.random(rows) * 100,
        # Python strings (object dtype): converting them to Arrow copies.
        "customer": np.char.add("customer-", (np.arange(rows) % 100_000).astype(str)).astype(object),
    }
    if kind == "pandas":
        import pandas as pd

        data = pd.DataFrame({k: pd.Series(v, dtype=v.dtype) for k, v in columns.items()})
        size = int(data.memory_usage(deep=True).sum())
    else:
        data = pa.table(columns)
        size = data.nbytes
    del columns
    return data, size


def main() -> None:
    url, token, rows, part_bytes, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    data, size = frame(rows, kind)
    gc.collect()
    client = dagtrail.Client(url, token=token, part_bytes=part_bytes)
    dag_id = uuid.uuid4()
    # Open first: what is measured is the upload alone.
    ph = client.phase(dag_id, "2026-11-27", "manual__large", "extract").__enter__()
    tracemalloc.start()
    arrow_base = pa.total_allocated_bytes()
    arrow_peak = arrow_base
    done = threading.Event()

    def sample() -> None:
        nonlocal arrow_peak
        while not done.is_set():
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    parts = []
    began = time.monotonic()
    try:
        ph.write(data, progress=parts.append)
    finally:
        done.set()
        sampler.join()
    seconds = time.monotonic() - began
    python_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ph.__exit__(None, None, None)
    print(
        json.dumps(
            {
                "rows": rows,
                "input_bytes": size,
                "part_bytes": part_bytes,
                "parts": len(parts),
                "rows_sent": parts[-1],
                "committed_rows": ph.committed["data_rows"],
                "arrow_peak": arrow_peak - arrow_base,
                "python_peak": python_peak,
                "peak": arrow_peak - arrow_base + python_peak,
                "seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
