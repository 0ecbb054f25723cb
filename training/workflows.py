"""Train each model beside its baseline and evaluate both on held-out data.

Functions take training sets built through the feature services (no I/O, no
`features` import) and return a `ModelResult`; `write_report` saves metrics, slice metrics and
calibration / lift plots. A model is `promotable` only if it beats its
baseline on the held-out split on both Brier score and ROC-AUC.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.pipeline import Pipeline

from training.baselines import (
    HistoricalWinRateClassifier,
    RunRateClassifier,
    logistic_baseline,
)
from training.encoding import FeatureSpec
from training.explain import BusinessPhrase
from training.metrics import (
    BinaryMetrics,
    evaluate_binary,
    evaluate_slices,
    plot_calibration,
    plot_lift,
)
from training.models import attainment, deal_risk, lead_scoring
from training.pipelines import build_pipeline

log = logging.getLogger(__name__)

TEST_FRACTION = 0.2
SEED = 0


# How each model's features are said to a sales user (saved with it as phrases.json).
PHRASES: dict[str, Mapping[str, BusinessPhrase]] = {
    lead_scoring.MODEL_NAME: lead_scoring.PHRASES,
    deal_risk.MODEL_NAME: deal_risk.PHRASES,
    attainment.MODEL_NAME: attainment.PHRASES,
}


@dataclass
class ModelResult:
    name: str
    dataset: str
    split: str
    spec: FeatureSpec
    pipeline: Pipeline
    baseline: Any
    baseline_name: str
    metrics: BinaryMetrics
    baseline_metrics: BinaryMetrics
    slices: dict[str, pd.DataFrame]
    y_test: np.ndarray
    p_test: np.ndarray
    p_baseline: np.ndarray
    train_rows: int
    seconds: float
    goals: dict[str, bool] = field(default_factory=dict)
    # The feature rows themselves, so the registry can score a champion on the
    # same held-out rows and keep a training reference sample for drift checks.
    train_features: pd.DataFrame | None = None
    test_features: pd.DataFrame | None = None
    # How each feature is said to a sales user (saved with the model as phrases.json).
    phrases: Mapping[str, BusinessPhrase] = field(default_factory=dict)

    @property
    def beats_baseline(self) -> bool:
        return bool(
            self.metrics.brier < self.baseline_metrics.brier
            and self.metrics.roc_auc > self.baseline_metrics.roc_auc
        )

    @property
    def promotable(self) -> bool:
        """Never promote a model that does not beat its baseline on held-out data."""
        return self.beats_baseline

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "dataset": self.dataset,
            "split": self.split,
            "train_rows": self.train_rows,
            "test_rows": int(self.y_test.size),
            "features": self.spec.to_dict(),
            "metrics": self.metrics.to_dict(),
            "baseline": self.baseline_name,
            "baseline_metrics": self.baseline_metrics.to_dict(),
            "beats_baseline": self.beats_baseline,
            "promotable": self.promotable,
            "goals": self.goals,
            "seconds": round(self.seconds, 2),
        }


def fit_and_evaluate(
    *,
    name: str,
    dataset: str,
    split: str,
    spec: FeatureSpec,
    params: Mapping[str, Any],
    train: pd.DataFrame,
    y_train: np.ndarray,
    test: pd.DataFrame,
    y_test: np.ndarray,
    baseline: Any,
    baseline_name: str,
    baseline_train: pd.DataFrame | None = None,
    baseline_test: pd.DataFrame | None = None,
    slice_frame: pd.DataFrame | None = None,
) -> ModelResult:
    """Fit model and baseline on the training rows only; score both on the test rows."""
    started = time.perf_counter()
    pipeline = build_pipeline(spec, params)
    pipeline.fit(train, y_train)
    baseline.fit(train if baseline_train is None else baseline_train, y_train)
    p_test = pipeline.predict_proba(test)[:, 1]
    p_baseline = baseline.predict_proba(test if baseline_test is None else baseline_test)[:, 1]
    rate = float(np.mean(y_train))
    slices = {}
    if slice_frame is not None:
        for column in slice_frame.columns:
            slices[column] = evaluate_slices(
                y_test, p_test, slice_frame[column].reset_index(drop=True), reference_rate=rate
            )
    result = ModelResult(
        name=name,
        dataset=dataset,
        split=split,
        spec=spec,
        pipeline=pipeline,
        baseline=baseline,
        baseline_name=baseline_name,
        metrics=evaluate_binary(y_test, p_test, reference_rate=rate),
        baseline_metrics=evaluate_binary(y_test, p_baseline, reference_rate=rate),
        slices=slices,
        y_test=np.asarray(y_test),
        p_test=p_test,
        p_baseline=p_baseline,
        train_rows=len(train),
        seconds=time.perf_counter() - started,
        train_features=train,
        test_features=test,
        phrases=PHRASES.get(name, {}),
    )
    log.info(
        "%s on %s: ROC-AUC %.3f (baseline %.3f), Brier %.4f (baseline %.4f)",
        name,
        dataset,
        result.metrics.roc_auc,
        result.baseline_metrics.roc_auc,
        result.metrics.brier,
        result.baseline_metrics.brier,
    )
    return result


def train_lead_scoring(
    frame: pd.DataFrame, spec: FeatureSpec = lead_scoring.SPEC, seed: int = SEED
) -> ModelResult:
    """Stratified 80/20 split (the data has no dates); baseline: logistic regression.

    `frame`: the lead_scoring training set (feature-service columns + `converted`)."""
    y = lead_scoring.labels(frame)
    features = lead_scoring.prepare_features(frame, spec)
    train_rows, test_rows = train_test_split(
        np.arange(len(frame)), test_size=TEST_FRACTION, stratify=y, random_state=seed
    )
    result = fit_and_evaluate(
        name=lead_scoring.MODEL_NAME,
        dataset="x_education",
        split=f"stratified random {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%}, seed {seed}",
        spec=spec,
        params=lead_scoring.PARAMS,
        train=features.iloc[train_rows],
        y_train=y[train_rows],
        test=features.iloc[test_rows],
        y_test=y[test_rows],
        baseline=logistic_baseline(spec),
        baseline_name="logistic regression (one-hot + standardised)",
        slice_frame=_slice_frame(frame.iloc[test_rows], lead_scoring.SLICE_COLUMNS),
    )
    result.goals = {
        "roc_auc >= 0.92": result.metrics.roc_auc >= 0.92,
        "ece <= 0.03": result.metrics.ece <= 0.03,
    }
    return result


def train_deal_risk_ibm(
    frame: pd.DataFrame, spec: FeatureSpec = deal_risk.IBM_SPEC, seed: int = SEED
) -> ModelResult:
    """Group split on the opportunity number so repeated numbers stay on one side.

    `frame`: the IBM deal_risk training set (`won`, `split_group`, service columns)."""
    y = deal_risk.won_labels(frame)
    features = deal_risk.features_of(frame, spec)
    groups = frame["split_group"] if "split_group" in frame.columns else frame["opportunity_id"]
    splitter = GroupShuffleSplit(n_splits=1, test_size=TEST_FRACTION, random_state=seed)
    train_rows, test_rows = next(splitter.split(features, y, groups.astype(str)))
    result = fit_and_evaluate(
        name=deal_risk.MODEL_NAME,
        dataset="ibm_sales_win_loss",
        split=f"grouped by opportunity number, {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%}, seed {seed}",
        spec=spec,
        params=deal_risk.IBM_PARAMS,
        train=features.iloc[train_rows],
        y_train=y[train_rows],
        test=features.iloc[test_rows],
        y_test=y[test_rows],
        baseline=HistoricalWinRateClassifier(levels=deal_risk.IBM_BASELINE_LEVELS),
        baseline_name="historical win rate by product group > product",
        slice_frame=_slice_frame(frame.iloc[test_rows], deal_risk.IBM_SLICE_COLUMNS),
    )
    result.goals = {
        "roc_auc >= 0.82": result.metrics.roc_auc >= 0.82,
        "brier <= 0.75 x base-rate brier": result.metrics.brier_skill_ratio <= 0.75,
    }
    return result


def train_deal_risk_maven(frame: pd.DataFrame) -> ModelResult:
    """Time-aware: snapshots of deals closed before the cut-off train, later ones test.

    `frame`: open-deal snapshots of closed Maven deals (`won`, `closed_at`, service columns)."""
    y = deal_risk.won_labels(frame)
    features = deal_risk.features_of(frame, deal_risk.MAVEN_SPEC)
    train_rows, test_rows = deal_risk.time_split(frame, deal_risk.MAVEN_TEST_START)
    cutoff = deal_risk.MAVEN_TEST_START.date().isoformat()
    result = fit_and_evaluate(
        name=deal_risk.MODEL_NAME,
        dataset="maven_crm",
        split=f"time: deals closed before {cutoff} → train, closed on/after → test "
        "(snapshots while open)",
        spec=deal_risk.MAVEN_SPEC,
        params=deal_risk.MAVEN_PARAMS,
        train=features.iloc[train_rows],
        y_train=y[train_rows],
        test=features.iloc[test_rows],
        y_test=y[test_rows],
        baseline=HistoricalWinRateClassifier(levels=deal_risk.MAVEN_BASELINE_LEVELS),
        baseline_name="historical win rate by stage > rep > product",
        slice_frame=_slice_frame(frame.iloc[test_rows], deal_risk.MAVEN_SLICE_COLUMNS),
    )
    result.goals = {"beats baseline": result.beats_baseline}
    return result


def _slice_frame(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    present = [c for c in columns if c in frame.columns]
    return frame.loc[:, present].reset_index(drop=True)


def write_report(result: ModelResult, directory: Path) -> dict[str, Path]:
    """metrics.json, slices_<column>.csv, calibration.png and lift.png of one result."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    title = f"{result.name} ({result.dataset}), held-out\nbaseline: {result.baseline_name}"
    predictions = {"model": result.p_test, "baseline": result.p_baseline}
    written = {
        "calibration": plot_calibration(
            result.y_test, predictions, directory / "calibration.png", title
        ),
        "lift": plot_lift(result.y_test, predictions, directory / "lift.png", title),
    }
    metrics_path = directory / "metrics.json"
    metrics_path.write_text(
        json.dumps(result.summary(), indent=2, sort_keys=True, default=str), encoding="utf-8"
    )
    written["metrics"] = metrics_path
    for column, table in result.slices.items():
        path = directory / f"slices_{column}.csv"
        table.to_csv(path, float_format="%.4f")
        written[f"slices_{column}"] = path
    return written


def train_attainment(frame: pd.DataFrame, test_from: str, dataset: str) -> ModelResult:
    """Train on snapshots of months before `test_from`, test on that month and later.

    `frame`: the attainment training set (`reached_quota`, `period`,
    `checkpoint`, feature-service columns)."""
    train_rows, test_rows = attainment.split_by_period(frame, test_from)
    if train_rows.size == 0 or test_rows.size == 0:
        raise ValueError(f"attainment ({dataset}): split at {test_from} leaves an empty side")
    y = attainment.labels(frame)
    features = frame.loc[:, list(attainment.SPEC.names)]
    test_slices = frame.iloc[test_rows].assign(
        checkpoint=frame["checkpoint"].iloc[test_rows].round(2).astype(str)
    )
    result = fit_and_evaluate(
        name=attainment.MODEL_NAME,
        dataset=dataset,
        split=f"time: months before {test_from} → train, {test_from} and later → test",
        spec=attainment.SPEC,
        params=attainment.PARAMS,
        train=features.iloc[train_rows],
        y_train=y[train_rows],
        test=features.iloc[test_rows],
        y_test=y[test_rows],
        baseline=RunRateClassifier(attainment.ATTAINMENT_COLUMN, attainment.ELAPSED_COLUMN),
        baseline_name="run-rate extrapolation (logistic on log projection)",
        slice_frame=_slice_frame(test_slices, ("checkpoint",)),
    )
    result.goals = {
        "brier <= 0.8 x baseline brier": result.metrics.brier <= 0.8 * result.baseline_metrics.brier
    }
    return result


# Test periods of the time splits (the later months of each source).
ADVENTUREWORKS_TEST_FROM = "2019-07"  # fiscal year 2020 (July 2019 - June 2020)
MAVEN_ATTAINMENT_TEST_FROM = "2017-10"

# Training-set keys (built by the caller through the feature services) → trainer.
TRAINERS: dict[str, Any] = {
    "lead_scoring": train_lead_scoring,
    "deal_risk_ibm": train_deal_risk_ibm,
    "deal_risk_maven": train_deal_risk_maven,
    "attainment_adventureworks": lambda f: train_attainment(
        f, ADVENTUREWORKS_TEST_FROM, "adventureworks"
    ),
    "attainment_maven": lambda f: train_attainment(
        f, MAVEN_ATTAINMENT_TEST_FROM, "maven_crm (derived quotas)"
    ),
}


def train_all(
    training_sets: Mapping[str, pd.DataFrame], progress: Any = None
) -> dict[str, ModelResult]:
    """Every model whose training set is given (keys of `TRAINERS`), plus the
    IBM ablation without prior client revenue. `progress(label)` is called
    before each step."""

    def step(label: str) -> None:
        log.info("training: %s", label)
        if progress is not None:
            progress(label)

    unknown = sorted(set(training_sets) - set(TRAINERS))
    if unknown:
        raise ValueError(f"unknown training set(s) {unknown}; expected {sorted(TRAINERS)}")
    results: dict[str, ModelResult] = {}
    for key, trainer in TRAINERS.items():
        if key not in training_sets:
            continue
        step(key)
        results[key] = trainer(training_sets[key])
        if key == "deal_risk_ibm":
            step("deal_risk ablation: ibm without prior client revenue")
            results["deal_risk_ibm_safe_only"] = train_deal_risk_ibm(
                training_sets[key], deal_risk.IBM_SAFE_ONLY_SPEC
            )
    return results
