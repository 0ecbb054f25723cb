"""Quality floors of the trained models on the real shared data, with training
sets built through the feature services (point-in-time joins) over the shared
import: each model against its baseline on held-out data, the documented
goals, and directional behaviour.

The floors are the figures measured in docs/models.md minus a small margin, so a
regression fails; where a goal is NOT met (lead-scoring ROC-AUC, attainment Brier
ratio, everything on Maven) the test pins the honest outcome instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spm_cli.train_registry import load_tables, training_sets
from training import workflows
from training.explain import explain_predictions
from training.models import attainment, deal_risk, lead_scoring
from training.pipelines import load_pipeline, save_pipeline


@pytest.fixture(scope="module")
def sets(shared_feature_dir: Path) -> dict[str, pd.DataFrame]:
    return training_sets(None, load_tables(shared_feature_dir), shared_feature_dir)


@pytest.fixture(scope="module")
def results(sets: dict[str, pd.DataFrame]) -> dict[str, workflows.ModelResult]:
    return workflows.train_all(sets)


def test_every_training_set_comes_from_its_feature_service(
    sets: dict[str, pd.DataFrame],
) -> None:
    assert set(sets) == set(workflows.TRAINERS)
    for key, frame in sets.items():
        assert "event_timestamp" in frame.columns, key
        assert len(frame) > 500, key


def test_lead_scoring_beats_logistic_regression_and_is_calibrated(
    results: dict[str, workflows.ModelResult],
) -> None:
    result = results["lead_scoring"]
    assert result.promotable
    assert result.metrics.roc_auc >= 0.865
    assert result.metrics.ece <= 0.03
    assert result.metrics.top_decile_lift >= 2.2
    # Honest: without post-contact columns the 0.92 goal is out of reach (docs/models.md).
    assert not result.goals["roc_auc >= 0.92"]
    assert not set(lead_scoring.LEAKING_COLUMNS) & set(result.spec.names)
    assert "google" in "".join(result.slices["lead_source"].index)


def test_deal_risk_ibm_meets_its_goals_on_held_out_opportunities(
    results: dict[str, workflows.ModelResult],
) -> None:
    result = results["deal_risk_ibm"]
    assert result.promotable
    assert result.metrics.roc_auc >= 0.82
    assert result.metrics.brier_skill_ratio <= 0.75
    assert not set(deal_risk.IBM_LEAKING) & set(result.spec.names)
    safe_only = results["deal_risk_ibm_safe_only"]
    assert safe_only.metrics.roc_auc < result.metrics.roc_auc


def test_maven_deal_risk_has_no_signal_and_is_not_promoted(
    results: dict[str, workflows.ModelResult],
) -> None:
    result = results["deal_risk_maven"]
    assert result.metrics.roc_auc < 0.6
    assert not result.promotable


def test_attainment_beats_run_rate_on_a_later_period(
    results: dict[str, workflows.ModelResult],
) -> None:
    result = results["attainment_adventureworks"]
    assert result.metrics.brier < 0.9 * result.baseline_metrics.brier
    assert result.promotable
    maven = results["attainment_maven"]
    assert maven.promotable == maven.beats_baseline


def test_more_attainment_to_date_never_lowers_the_probability(
    results: dict[str, workflows.ModelResult],
) -> None:
    pipeline = results["attainment_adventureworks"].pipeline
    rows = pd.DataFrame({name: [np.nan] for name in attainment.SPEC.names}).assign(
        month_elapsed_fraction=0.5, month_of_quarter=2.0, previous_month_attainment=1.0
    )
    grid = pd.concat([rows] * 41, ignore_index=True)
    grid["attainment_mtd"] = np.linspace(0, 2, 41)
    grid["run_rate_projection"] = grid["attainment_mtd"] / 0.5
    p = pipeline.predict_proba(grid)[:, 1]
    assert (np.diff(p) >= -1e-12).all()
    assert p[-1] > p[0]


def test_more_time_on_site_never_lowers_the_lead_score(
    results: dict[str, workflows.ModelResult], sets: dict[str, pd.DataFrame]
) -> None:
    lead = lead_scoring.prepare_features(sets["lead_scoring"]).iloc[[0]]
    grid = pd.concat([lead] * 30, ignore_index=True)
    grid["time_on_site_seconds"] = np.linspace(0, 2500, 30)
    p = results["lead_scoring"].pipeline.predict_proba(grid)[:, 1]
    assert (np.diff(p) >= -1e-12).all()
    assert p[-1] > p[0]


def test_lead_explanations_speak_business_language(
    results: dict[str, workflows.ModelResult], sets: dict[str, pd.DataFrame]
) -> None:
    frame = lead_scoring.prepare_features(sets["lead_scoring"])
    busiest = frame.loc[[frame["time_on_site_seconds"].idxmax()]]
    (explanation,) = explain_predictions(
        results["lead_scoring"].pipeline, busiest, lead_scoring.PHRASES
    )
    assert "Spent a lot of time on the website" in [r.phrase for r in explanation.positive]


def test_promoted_models_round_trip_through_the_safe_format(
    results: dict[str, workflows.ModelResult], tmp_path: Path
) -> None:
    for name, result in results.items():
        if not result.promotable:
            continue
        loaded = load_pipeline(save_pipeline(result.pipeline, tmp_path / name))
        np.testing.assert_allclose(
            loaded.predict_proba(_test_frame(result)),
            result.pipeline.predict_proba(_test_frame(result)),
        )


def _test_frame(result: workflows.ModelResult) -> pd.DataFrame:
    # Any frame with the spec's columns will do for a round-trip comparison.
    return pd.DataFrame({name: [np.nan, 1.0] for name in result.spec.names})
