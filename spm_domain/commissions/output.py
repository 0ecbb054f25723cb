"""Writing a run: lines.csv, statements.csv and run.json, all or nothing.

The CSVs are byte-identical for the same plan and inputs (fixed column order,
fixed row order, `\\n` line ends, Decimals written exactly with `format(d, "f")`).
run.json is identical too except its `timings` object, the only part that
depends on the clock.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from spm_domain.commissions.engine import LINE_COLUMNS, STATEMENT_COLUMNS, CommissionResult
from spm_domain.errors import DomainError

OUTPUT_FILES = ("lines.csv", "statements.csv", "run.json")


class OutputDirectoryError(DomainError):
    """The --out directory holds files that are not a previous run's output."""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float) and value != value:  # NaN from pandas reindexing
        return ""
    return str(value)


def frame_to_csv(frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in frame[list(columns)].itertuples(index=False, name=None):
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def run_documents(result: CommissionResult) -> dict[str, bytes]:
    """The three output files' bytes."""
    lines = frame_to_csv(result.lines, LINE_COLUMNS)
    statements = frame_to_csv(result.statements, STATEMENT_COLUMNS)
    manifest: dict[str, Any] = {k: v for k, v in result.manifest.items() if k != "timings"}
    identity = json.dumps(
        {k: manifest[k] for k in ("engine_version", "plan", "inputs", "periods")}, sort_keys=True
    )
    manifest["run_id"] = hashlib.sha256(identity.encode()).hexdigest()[:16]
    manifest["outputs"] = {
        "lines.csv": hashlib.sha256(lines).hexdigest(),
        "statements.csv": hashlib.sha256(statements).hexdigest(),
    }
    manifest["timings"] = result.manifest.get("timings", {})
    run_json = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return {"lines.csv": lines, "statements.csv": statements, "run.json": run_json}


def write_run(result: CommissionResult, out_dir: str | Path) -> Path:
    """Write the run into `out_dir` atomically: a temp dir is filled, then renamed.

    An existing `out_dir` may be empty or hold a previous run (only our three
    files); anything else is refused so nobody's files are overwritten.
    """
    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise OutputDirectoryError(f"--out {out}: exists and is not a directory")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_FILES)
        if foreign:
            raise OutputDirectoryError(
                f"--out {out}: holds files that are not a commission run ({', '.join(foreign)})"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        for name, data in run_documents(result).items():
            (tmp / name).write_bytes(data)
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
