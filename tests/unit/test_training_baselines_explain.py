"""Baselines (win rate, run rate, logistic) and business-language explanations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.baselines import (
    HistoricalWinRateClassifier,
    RunRateClassifier,
    load_json_baseline,
    load_skops_baseline,
    logistic_baseline,
    save_json_baseline,
    save_skops_baseline,
)
from training.encoding import FeatureSpec
from training.explain import BusinessPhrase, explain_predictions
from training.pipelines import build_pipeline


def deals() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(
        {
            "rep_id": ["ann"] * 4 + ["bob"] * 4,
            "product_id": ["x", "x", "y", "y", "x", "x", "x", "x"],
        }
    )
    return frame, np.array([1, 1, 0, 0, 0, 0, 0, 1])


def test_win_rate_shrinks_each_level_towards_its_parent() -> None:
    frame, y = deals()
    model = HistoricalWinRateClassifier(levels=("rep_id", "product_id"), prior_strength=2.0)
    model.fit(frame, y)
    rate_all = 3 / 8
    rate_ann = (2 + 2 * rate_all) / (4 + 2)
    rate_ann_x = (2 + 2 * rate_ann) / (2 + 2)
    query = pd.DataFrame({"rep_id": ["ann", "ann", "carl"], "product_id": ["x", "z", "x"]})
    p = model.predict_proba(query)[:, 1]
    assert p == pytest.approx([rate_ann_x, rate_ann, rate_all])


def test_win_rate_json_round_trip(tmp_path: Path) -> None:
    frame, y = deals()
    model = HistoricalWinRateClassifier(levels=("rep_id", "product_id")).fit(frame, y)
    loaded = load_json_baseline(save_json_baseline(model, tmp_path / "baseline.json"))
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))


def test_win_rate_names_missing_columns() -> None:
    frame, y = deals()
    model = HistoricalWinRateClassifier(levels=("stage", "rep_id"))
    with pytest.raises(ValueError, match=r"missing columns \['stage'\]"):
        model.fit(frame, y)


def test_run_rate_probability_rises_with_pace(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    elapsed = rng.choice([0.25, 0.5, 0.75], 300)
    pace = rng.lognormal(0, 0.4, 300)
    snapshots = pd.DataFrame({"attainment_to_date": pace * elapsed, "elapsed_fraction": elapsed})
    y = (pace * rng.lognormal(0, 0.2, 300) >= 1).astype(int)
    model = RunRateClassifier().fit(snapshots, y)
    query = pd.DataFrame({"attainment_to_date": [0.1, 0.3, 0.6], "elapsed_fraction": [0.5] * 3})
    p = model.predict_proba(query)[:, 1]
    assert p[0] < p[1] < p[2]
    loaded = load_json_baseline(save_json_baseline(model, tmp_path / "run_rate.json"))
    np.testing.assert_allclose(loaded.predict_proba(query), model.predict_proba(query))


def test_logistic_baseline_saves_with_skops(tmp_path: Path) -> None:
    spec = FeatureSpec(numeric=("n",), boolean=("b",), categorical=("c",))
    frame = pd.DataFrame(
        {
            "n": np.arange(40, dtype=float),
            "b": ["Yes", "No"] * 20,
            "c": pd.Series(["p", "q", None, "q"] * 10, dtype="string"),
        }
    )
    y = (np.arange(40) > 20).astype(int)
    model = logistic_baseline(spec, min_frequency=2).fit(frame, y)
    loaded = load_skops_baseline(save_skops_baseline(model, tmp_path / "baseline.skops"))
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))


def test_explanations_name_the_drivers_in_business_language() -> None:
    rng = np.random.default_rng(3)
    rows = 800
    frame = pd.DataFrame(
        {
            "time_on_site": rng.exponential(300, rows),
            "noise": rng.random(rows),
            "source": pd.Series(rng.choice(["referral", "ads"], rows), dtype="string"),
        }
    )
    logit = (frame["time_on_site"] - 300) / 150 + (frame["source"] == "referral") * 1.5 - 0.7
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    spec = FeatureSpec(numeric=("time_on_site", "noise"), categorical=("source",))
    pipeline = build_pipeline(spec, {"n_estimators": 60, "calibration_folds": 3}).fit(frame, y)
    phrases = {
        "time_on_site": BusinessPhrase("Spent a lot of time on the website", "Spent little time"),
        "source": BusinessPhrase(label="Lead source"),
    }
    query = pd.DataFrame(
        {
            "time_on_site": [1500.0, 5.0],
            "noise": [0.5, 0.5],
            "source": pd.Series(["referral", "ads"], dtype="string"),
        }
    )
    hot, cold = explain_predictions(pipeline, query, phrases, top_k=2)
    assert hot.probability > 0.7 > 0.3 > cold.probability
    assert hot.positive[0].phrase == "Spent a lot of time on the website"
    assert "Lead source: referral" in [r.phrase for r in hot.positive]
    assert cold.negative[0].phrase in {"Spent little time", "Lead source: ads"}
    assert all(r.contribution > 0 for r in hot.positive)
    assert all(r.contribution < 0 for r in cold.negative)
    assert hot.to_dict()["positive"][0]["feature"] == "time_on_site"
