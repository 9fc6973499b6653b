"""A large upload keeps the client's memory bounded by the part size, not
the input's size (slow: run with --run-slow or DAGTRAIL_SLOW_TESTS=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROWS = int(os.environ.get("DAGTRAIL_LARGE_ROWS", "2000000"))
PART_BYTES = 8 * 1024 * 1024


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pandas", "arrow"])
def test_a_large_upload_takes_memory_of_a_few_parts(server, write_token, kind):
    pytest.importorskip("pandas")
    script = Path(__file__).with_name("large_upload.py")
    done = subprocess.run(
        [sys.executable, str(script), server.url, write_token, str(ROWS), str(PART_BYTES), kind],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(measured)
    assert measured["committed_rows"] == measured["rows_sent"] == ROWS
    # About 70 MB of Arrow data in parts of 8 MiB.
    assert measured["parts"] >= 5
    # The input is several times this; holding it (or one body of it
    # whole) would be over.
    assert measured["input_bytes"] > 2 * (3 * PART_BYTES + 8 * 1024 * 1024)
    assert measured["peak"] < 3 * PART_BYTES + 8 * 1024 * 1024, measured
