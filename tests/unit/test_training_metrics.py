"""Metrics: hand-computed values for Brier, ECE (equal-width bins), lift; slices; plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.metrics import (
    brier_score,
    evaluate_binary,
    evaluate_slices,
    expected_calibration_error,
    lift_table,
    plot_calibration,
    plot_lift,
    top_fraction_lift,
)


def test_brier_and_ece_by_hand() -> None:
    y = [0, 1, 1, 0]
    p = [0.1, 0.9, 0.65, 0.35]
    assert brier_score(y, p) == pytest.approx((0.01 + 0.01 + 0.1225 + 0.1225) / 4)
    # bins: 0.1 -> bin 1 (y 0), 0.35 -> bin 3 (y 0), 0.65 -> bin 6 (y 1), 0.9 -> bin 9 (y 1)
    expected = (0.1 + 0.35 + 0.35 + 0.1) / 4
    assert expected_calibration_error(y, p) == pytest.approx(expected)


def test_probability_one_falls_in_the_last_bin() -> None:
    assert expected_calibration_error([1, 1], [1.0, 0.95]) == pytest.approx(0.025)


def test_top_decile_lift_by_hand() -> None:
    y = np.array([1] + [0] * 9 + [1] * 2 + [0] * 8)
    p = np.linspace(1, 0, 20)
    # top 10 % = 2 rows: outcomes 1, 0 -> rate 0.5; base rate 3/20
    assert top_fraction_lift(y, p) == pytest.approx(0.5 / 0.15)
    table = lift_table(y, p)
    assert table["rows"].sum() == 20
    assert table["cumulative_capture"].iloc[-1] == pytest.approx(1.0)


def test_evaluate_binary_uses_the_training_rate_for_the_reference_brier() -> None:
    metrics = evaluate_binary([0, 1, 1, 0], [0.2, 0.8, 0.7, 0.3], reference_rate=0.25)
    assert metrics.base_rate_brier == pytest.approx((0.0625 + 0.5625 * 2 + 0.0625) / 4)
    assert metrics.roc_auc == 1.0
    assert metrics.to_dict()["brier_skill_ratio"] == pytest.approx(
        metrics.brier / metrics.base_rate_brier
    )


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="0/1"):
        brier_score([2], [0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier_score([1], [1.5])
    with pytest.raises(ValueError, match="2 outcomes but 1"):
        brier_score([1, 0], [0.5])


def test_slices_pool_small_groups() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    p = rng.random(100)
    slices = pd.Series(["a"] * 60 + ["b"] * 35 + ["c"] * 5)
    table = evaluate_slices(y, p, slices, min_rows=30)
    assert list(table.index) == ["(other)", "a", "b"]
    assert table.loc["a", "n"] == 60
    assert "ece" in table.columns and "top_decile_lift" in table.columns


def test_plots_are_png(tmp_path: Path) -> None:
    y = np.array([0, 1] * 50)
    predictions = {"model": np.linspace(0.01, 0.99, 100), "baseline": np.full(100, 0.5)}
    for path in (
        plot_calibration(y, predictions, tmp_path / "cal.png", "t"),
        plot_lift(y, predictions, tmp_path / "lift.png", "t"),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
