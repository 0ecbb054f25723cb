"""Pipelines: encoding, calibrated LightGBM, monotone constraints, safe save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.encoding import FeatureSpec, FrameEncoder
from training.pipelines import build_pipeline, load_pipeline, save_pipeline

SPEC = FeatureSpec(
    numeric=("visits", "score"),
    boolean=("opted_out",),
    categorical=("channel",),
    increasing=("score",),
)
FAST = {"n_estimators": 40, "min_child_samples": 10, "calibration_folds": 3}


def synthetic_frame(rows: int = 600, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    visits = rng.poisson(3, rows).astype(float)
    visits[rng.random(rows) < 0.05] = np.nan
    score = rng.random(rows)
    channel = rng.choice(
        ["google", "referral", "olark chat", "rare"], rows, p=[0.4, 0.3, 0.28, 0.02]
    )
    opted_out = rng.choice(["Yes", "No"], rows, p=[0.1, 0.9])
    logit = 3 * score - 1.5 + (channel == "referral") * 1.2 - (opted_out == "Yes") * 1.0
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "visits": visits,
            "score": score,
            "opted_out": pd.Series(opted_out, dtype="string"),
            "channel": pd.Series(channel, dtype="string"),
            "ignored": 1,
        }
    )
    return frame, y


def test_encoder_codes_rare_and_unseen_categories_together_and_keeps_missing() -> None:
    frame, _ = synthetic_frame()
    encoder = FrameEncoder.from_spec(SPEC, min_category_count=20).fit(frame)
    assert encoder.categories_["channel"] == ["google", "olark chat", "referral"]
    new = pd.DataFrame(
        {"visits": [1.0], "score": [0.5], "opted_out": ["No"], "channel": ["tiktok"]}
    )
    rare = new.assign(channel="rare")
    missing = new.assign(channel=pd.NA, opted_out=pd.NA)
    other_code = 3.0
    assert encoder.transform(new)[0, 3] == other_code
    assert encoder.transform(rare)[0, 3] == other_code
    row = encoder.transform(missing)[0]
    assert np.isnan(row[2]) and np.isnan(row[3])


def test_encoder_names_the_missing_column_and_the_bad_value() -> None:
    frame, _ = synthetic_frame()
    encoder = FrameEncoder.from_spec(SPEC).fit(frame)
    with pytest.raises(ValueError, match=r"missing columns \['channel'\]"):
        encoder.transform(frame.drop(columns="channel"))
    bad = frame.copy()
    bad.loc[7, "opted_out"] = "maybe"
    with pytest.raises(ValueError, match=r"'opted_out' row 7: 'maybe'"):
        encoder.transform(bad)


def test_pipeline_learns_the_signal_and_calibrates() -> None:
    frame, y = synthetic_frame(1500)
    pipeline = build_pipeline(SPEC, FAST).fit(frame[:1000], y[:1000])
    p = pipeline.predict_proba(frame[1000:])[:, 1]
    assert ((p > 0.5) == y[1000:]).mean() > 0.65
    assert abs(p.mean() - y[1000:].mean()) < 0.06


def test_monotone_feature_never_lowers_the_probability() -> None:
    frame, y = synthetic_frame(800)
    pipeline = build_pipeline(SPEC, FAST).fit(frame, y)
    grid = pd.concat([frame.iloc[:20]] * 11, ignore_index=True)
    grid["score"] = np.repeat(np.linspace(0, 1, 11), 20)
    p = pipeline.predict_proba(grid)[:, 1].reshape(11, 20)
    assert (np.diff(p, axis=0) >= -1e-12).all()


def test_save_and_load_round_trip_without_pickle(tmp_path: Path) -> None:
    frame, y = synthetic_frame()
    pipeline = build_pipeline(SPEC, FAST).fit(frame, y)
    directory = save_pipeline(pipeline, tmp_path / "model", metadata={"name": "test"})
    assert sorted(p.name for p in directory.iterdir()) == [
        "calibrator.json",
        "encoder.json",
        "manifest.json",
        "model.txt",
        "phrases.json",  # business language for serving's factors ({} when none given)
    ]
    assert (directory / "model.txt").read_text().startswith("tree")
    loaded = load_pipeline(directory)
    np.testing.assert_allclose(loaded.predict_proba(frame), pipeline.predict_proba(frame))
    with pytest.raises(FileExistsError):
        save_pipeline(pipeline, directory)
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("method", ["isotonic", "sigmoid", "none"])
def test_every_calibration_method_gives_probabilities(method: str) -> None:
    frame, y = synthetic_frame(400)
    pipeline = build_pipeline(SPEC, {**FAST, "calibration": method}).fit(frame, y)
    p = pipeline.predict_proba(frame)
    assert p.shape == (400, 2)
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_unknown_calibration_method_is_rejected() -> None:
    frame, y = synthetic_frame(200)
    with pytest.raises(ValueError, match="calibration must be one of"):
        build_pipeline(SPEC, {**FAST, "calibration": "magic"}).fit(frame, y)


def test_spec_rejects_duplicates_and_non_numeric_monotone_features() -> None:
    with pytest.raises(ValueError, match="twice"):
        FeatureSpec(numeric=("a",), categorical=("a",))
    with pytest.raises(ValueError, match="must be numeric"):
        FeatureSpec(categorical=("a",), increasing=("a",))
