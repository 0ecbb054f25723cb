"""The serving benchmark at smoke size, in a subprocess (a BentoML app's
metrics are process-global, and the ASGI tests own this process's app)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_serving_benchmark_smoke_lines_equal_the_engine() -> None:
    script = Path(__file__).with_name("serving_latency.py")
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, str(script), "--smoke"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["all_same"] is True
    assert [r["transactions"] for r in figures["runs"]] == [3, 200]
