"""Data drift and data quality: recent feature rows against the training reference.

`drift_report(reference, current, spec, out_dir)` runs Evidently's
`DataDriftPreset` (per-column tests: Kolmogorov-Smirnov for numbers, chi-square /
Z-test for categories on small samples, distances on large ones) and
`DataSummaryPreset` (row/column counts, missing values, duplicates, constant
columns), writes `drift.html` and `drift.json`, and returns a `DriftSummary`.

The dataset counts as drifted when the share of drifted feature columns
reaches `drift_share` (Evidently's default, 0.5). The reference is the sample
of training rows stored with each model version (`reference/reference.parquet`).
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_DRIFT_SHARE = 0.5


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftSummary:
    dataset_drift: bool
    drifted_columns: int
    columns: int
    drifted_share: float
    drift_share_threshold: float
    reference_rows: int
    current_rows: int
    column_drift: tuple[ColumnDrift, ...]
    missing_share_current: float
    html_path: str | None = None
    json_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["column_drift"] = [asdict(c) for c in self.column_drift]
        return payload


def _columns(
    spec: Mapping[str, Sequence[str]], reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns (yes/no columns are categories)."""
    numeric = [c for c in spec.get("numeric", ()) if c in reference.columns]
    categorical = [
        c for c in (*spec.get("boolean", ()), *spec.get("categorical", ())) if c in reference
    ]
    missing = [c for c in (*numeric, *categorical) if c not in current.columns]
    if missing:
        raise ValueError(f"current data is missing feature columns {missing}")
    if not numeric and not categorical:
        raise ValueError("no feature columns to compare")
    return numeric, categorical


def _prepared(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Plain float64 numbers and object-typed text (Evidently's expected dtypes)."""
    out = pd.DataFrame(index=range(len(frame)))
    for column in numeric:
        values = pd.to_numeric(frame[column].astype("object"), errors="coerce")
        out[column] = values.astype("float64").to_numpy()
    for column in categorical:
        text = frame[column].astype("string")
        out[column] = [None if pd.isna(v) else str(v) for v in text]
    return out


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: Mapping[str, Sequence[str]],
    out_dir: Path | None = None,
    *,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    title: str = "drift",
) -> DriftSummary:
    """Compare `current` with `reference` on the spec's feature columns.

    With `out_dir`, `drift.html` and `drift.json` are written there atomically
    (a temporary sibling directory renamed into place).
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    if reference.empty or current.empty:
        raise ValueError(
            f"cannot compare: reference has {len(reference)} rows, current {len(current)}"
        )
    numeric, categorical = _columns(spec, reference, current)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    ref = Dataset.from_pandas(
        _prepared(reference, numeric, categorical), data_definition=definition
    )
    cur = Dataset.from_pandas(_prepared(current, numeric, categorical), data_definition=definition)
    report = Report([DataDriftPreset(drift_share=drift_share), DataSummaryPreset()])
    snapshot = report.run(current_data=cur, reference_data=ref)
    payload = snapshot.dict()
    summary = _summarise(payload, numeric + categorical, drift_share, len(reference), current)
    if out_dir is None:
        return summary
    target = Path(out_dir)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    staging.mkdir(parents=True)
    try:
        snapshot.save_html(str(staging / "drift.html"))
        document = {"title": title, "summary": summary.to_dict(), "evidently": payload}
        (staging / "drift.json").write_text(
            json.dumps(document, indent=2, default=str), encoding="utf-8"
        )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("drift report for %s written to %s", title, target)
    return DriftSummary(
        **{
            **asdict(summary),
            "column_drift": summary.column_drift,
            "html_path": str(target / "drift.html"),
            "json_path": str(target / "drift.json"),
        }
    )


def _summarise(
    payload: Mapping[str, Any],
    columns: list[str],
    drift_share: float,
    reference_rows: int,
    current: pd.DataFrame,
) -> DriftSummary:
    per_column: list[ColumnDrift] = []
    for metric in payload.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith(":ValueDrift"):
            continue
        method = str(config.get("method", ""))
        score = float(metric["value"])
        threshold = float(config.get("threshold", 0.05))
        # p-value tests drift when the p-value is small; distances when they are large.
        drifted = score < threshold if "p_value" in method else score >= threshold
        per_column.append(ColumnDrift(str(config["column"]), method, score, threshold, drifted))
    if not per_column:
        raise RuntimeError("Evidently returned no per-column drift results")
    drifted_count = sum(c.drifted for c in per_column)
    share = drifted_count / len(per_column)
    present = [c for c in columns if c in current.columns]
    missing_share = float(np.mean(current[present].isna().to_numpy())) if present else 0.0
    return DriftSummary(
        dataset_drift=share >= drift_share,
        drifted_columns=drifted_count,
        columns=len(per_column),
        drifted_share=share,
        drift_share_threshold=drift_share,
        reference_rows=reference_rows,
        current_rows=len(current),
        column_drift=tuple(per_column),
        missing_share_current=missing_share,
    )


__all__ = ["ColumnDrift", "DriftSummary", "drift_report"]
