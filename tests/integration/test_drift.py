"""Evidently drift: a deliberately shifted sample is flagged, an unshifted one is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.monitoring import drift_report

SPEC = {"numeric": ["amount", "visits"], "boolean": ["opted_out"], "categorical": ["region"]}
REGIONS = ["north", "south", "east", "west"]


def _sample(rows: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weights = [0.7, 0.1, 0.1, 0.1] if shifted else [0.25, 0.25, 0.25, 0.25]
    return pd.DataFrame(
        {
            "amount": rng.lognormal(mean=9.0 + (0.8 if shifted else 0.0), sigma=0.5, size=rows),
            "visits": rng.poisson(6 if shifted else 3, size=rows).astype("float64"),
            "opted_out": rng.random(rows) < (0.5 if shifted else 0.1),
            "region": pd.array(rng.choice(REGIONS, size=rows, p=weights), dtype="string"),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _sample(2000, seed=1)


def test_a_shifted_sample_is_flagged_and_reports_are_written(
    reference: pd.DataFrame, tmp_path: Path
) -> None:
    summary = drift_report(
        reference, _sample(600, seed=2, shifted=True), SPEC, tmp_path / "shifted"
    )
    assert summary.dataset_drift
    assert summary.drifted_columns == summary.columns == 4
    assert (tmp_path / "shifted" / "drift.html").stat().st_size > 1000
    document = json.loads((tmp_path / "shifted" / "drift.json").read_text())
    assert document["summary"]["dataset_drift"] is True
    assert not list(tmp_path.glob(".*partial"))


def test_an_unshifted_sample_is_not_flagged(reference: pd.DataFrame) -> None:
    summary = drift_report(reference, _sample(600, seed=3), SPEC)
    assert not summary.dataset_drift
    assert summary.drifted_columns <= 1
    assert summary.current_rows == 600 and summary.reference_rows == 2000


def test_missing_feature_columns_are_named(reference: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"missing feature columns \['region'\]"):
        drift_report(reference, _sample(50, seed=4).drop(columns=["region"]), SPEC)
