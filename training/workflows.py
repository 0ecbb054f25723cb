"""Train each model beside its baseline and evaluate both on held-out data.

Functions take canonical-shaped DataFrames (no I/O, no `features` import)
and return a `ModelResult`; `write_report` saves metrics, slice metrics and
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

from training.baselines import HistoricalWinRateClassifier, logistic_baseline
from training.encoding import FeatureSpec
from training.metrics import (
    BinaryMetrics,
    evaluate_binary,
    evaluate_slices,
    plot_calibration,
    plot_lift,
)
from training.models import deal_risk, lead_scoring
from training.pipelines import build_pipeline

log = logging.getLogger(__name__)

TEST_FRACTION = 0.2
SEED = 0


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
    leads: pd.DataFrame, spec: FeatureSpec = lead_scoring.SPEC, seed: int = SEED
) -> ModelResult:
    """Stratified 80/20 split (the data has no dates); baseline: logistic regression."""
    known = lead_scoring.labelled(leads)
    y = lead_scoring.labels(known)
    features = lead_scoring.prepare_features(known, spec)
    train_rows, test_rows = train_test_split(
        np.arange(len(known)), test_size=TEST_FRACTION, stratify=y, random_state=seed
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
        slice_frame=_slice_frame(known.iloc[test_rows], lead_scoring.SLICE_COLUMNS),
    )
    result.goals = {
        "roc_auc >= 0.92": result.metrics.roc_auc >= 0.92,
        "ece <= 0.03": result.metrics.ece <= 0.03,
    }
    return result


def train_deal_risk_ibm(
    opportunities: pd.DataFrame, spec: FeatureSpec = deal_risk.IBM_SPEC, seed: int = SEED
) -> ModelResult:
    """Group split on the opportunity number so repeated numbers stay on one side."""
    deals = deal_risk.closed(opportunities)
    y = deal_risk.labels(deals)
    features = deal_risk.ibm_features(deals, spec)
    splitter = GroupShuffleSplit(n_splits=1, test_size=TEST_FRACTION, random_state=seed)
    train_rows, test_rows = next(splitter.split(features, y, deal_risk.group_ids(deals)))
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
        slice_frame=_slice_frame(deals.iloc[test_rows], deal_risk.IBM_SLICE_COLUMNS),
    )
    result.goals = {
        "roc_auc >= 0.82": result.metrics.roc_auc >= 0.82,
        "brier <= 0.75 x base-rate brier": result.metrics.brier_skill_ratio <= 0.75,
    }
    return result


def train_deal_risk_maven(
    opportunities: pd.DataFrame,
    reps: pd.DataFrame,
    products: pd.DataFrame,
    accounts: pd.DataFrame,
) -> ModelResult:
    """Time-aware: train on deals closed before the cut-off, test on later ones."""
    deals = deal_risk.closed(opportunities)
    y = deal_risk.labels(deals)
    features = deal_risk.maven_features(deals, reps, products, accounts)
    train_rows, test_rows = deal_risk.maven_time_split(deals)
    cutoff = deal_risk.MAVEN_TEST_START.date().isoformat()
    result = fit_and_evaluate(
        name=deal_risk.MODEL_NAME,
        dataset="maven_crm",
        split=f"time: closed before {cutoff} → train, closed on/after → test",
        spec=deal_risk.MAVEN_SPEC,
        params=deal_risk.MAVEN_PARAMS,
        train=features.iloc[train_rows],
        y_train=y[train_rows],
        test=features.iloc[test_rows],
        y_test=y[test_rows],
        baseline=HistoricalWinRateClassifier(levels=deal_risk.MAVEN_BASELINE_LEVELS),
        baseline_name="historical win rate by rep > product",
        slice_frame=_slice_frame(features.iloc[test_rows], deal_risk.MAVEN_SLICE_COLUMNS),
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


def train_attainment(snapshots: pd.DataFrame, test_from: str, dataset: str) -> ModelResult:
    """Train on snapshots of months before `test_from`, test on that month and later."""
    from training.baselines import RunRateClassifier
    from training.models import attainment

    train_rows, test_rows = attainment.split_by_period(snapshots, test_from)
    if train_rows.size == 0 or test_rows.size == 0:
        raise ValueError(f"attainment ({dataset}): split at {test_from} leaves an empty side")
    y = snapshots[attainment.LABEL].astype(bool).to_numpy().astype(int)
    test_slices = snapshots.iloc[test_rows].assign(
        checkpoint=snapshots["elapsed_fraction"].iloc[test_rows].round(1).astype(str)
    )
    result = fit_and_evaluate(
        name=attainment.MODEL_NAME,
        dataset=dataset,
        split=f"time: months before {test_from} → train, {test_from} and later → test",
        spec=attainment.SPEC,
        params=attainment.PARAMS,
        train=snapshots.iloc[train_rows],
        y_train=y[train_rows],
        test=snapshots.iloc[test_rows],
        y_test=y[test_rows],
        baseline=RunRateClassifier(),
        baseline_name="run-rate extrapolation (logistic on log projection)",
        slice_frame=_slice_frame(test_slices, ("checkpoint",)),
    )
    result.goals = {
        "brier <= 0.8 x baseline brier": result.metrics.brier <= 0.8 * result.baseline_metrics.brier
    }
    return result


def maven_attainment_snapshots(
    opportunities: pd.DataFrame, products: pd.DataFrame, test_from: str
) -> pd.DataFrame:
    """Maven CRM: credits are won deals (close value on the close date); quotas are
    derived (`attainment.derived_quotas`); open pipeline is valued at list price and
    weighted by the deal-risk baseline fitted on deals closed before `test_from`."""
    from training.models import attainment

    won = opportunities[opportunities["outcome"] == "won"]
    credits = pd.DataFrame(
        {
            "rep_id": won["rep_id"],
            "credit_date": pd.to_datetime(won["closed_at"], utc=True).dt.tz_localize(None),
            "amount": won["amount"],
        }
    )
    quotas = attainment.derived_quotas(credits)
    deals = opportunities.merge(products[["product_id", "list_price"]], on="product_id", how="left")
    closed_before = deal_risk.closed(deals)
    closed_before = closed_before[
        pd.to_datetime(closed_before["closed_at"], utc=True)
        < pd.Period(test_from, freq="M").start_time.tz_localize("UTC")
    ]
    win_rate = HistoricalWinRateClassifier(levels=deal_risk.MAVEN_BASELINE_LEVELS)
    win_rate.fit(closed_before, deal_risk.labels(closed_before))
    pipeline = attainment.prepare_pipeline(
        deals, deals["list_price"], win_rate.predict_proba(deals)[:, 1]
    )
    observed_until = pd.to_datetime(opportunities["closed_at"], utc=True).max()
    return attainment.build_snapshots(credits, quotas, observed_until, pipeline=pipeline)


SOURCES = {
    "leads": "x_education",
    "ibm": "ibm_win_loss",
    "maven": "maven_crm",
    "adventureworks": "adventureworks_pl300",
}
ADVENTUREWORKS_TEST_FROM = "2019-07"  # fiscal year 2020 (July 2019 - June 2020)
MAVEN_ATTAINMENT_TEST_FROM = "2017-10"


def _from_source(table: pd.DataFrame, source: str, name: str) -> pd.DataFrame:
    """Real rows of one import (seeded synthetic rows never train a model)."""
    if "source" not in table.columns:
        raise ValueError(f"table {name}: missing column 'source'")
    rows = table["source"] == source
    if "is_synthetic" in table.columns:
        rows &= ~table["is_synthetic"].fillna(False).astype(bool)
    return table.loc[rows.to_numpy()].reset_index(drop=True)


def train_all(
    tables: Mapping[str, pd.DataFrame],
    rep_regions: pd.DataFrame | None = None,
    progress: Any = None,
) -> dict[str, ModelResult]:
    """Every model on the shared datasets, from canonical tables.

    `tables`: leads, opportunities, reps, products, accounts, transactions,
    quotas. `rep_regions` (rep_id, region) maps AdventureWorks salespeople to
    their territories; without it the AdventureWorks attainment model is skipped
    (the canonical tables cannot hold a rep's several territories).
    `progress(label)` is called before each step.
    """
    from training.models import attainment

    def step(label: str) -> None:
        log.info("training: %s", label)
        if progress is not None:
            progress(label)

    results: dict[str, ModelResult] = {}
    step("lead_scoring (x_education)")
    leads = _from_source(tables["leads"], SOURCES["leads"], "leads")
    results["lead_scoring"] = train_lead_scoring(leads)
    step("lead_scoring ablation: with last activity")
    results["lead_scoring_with_activity"] = train_lead_scoring(
        leads, lead_scoring.WITH_ACTIVITY_SPEC
    )
    step("deal_risk (ibm)")
    ibm = _from_source(tables["opportunities"], SOURCES["ibm"], "opportunities")
    results["deal_risk_ibm"] = train_deal_risk_ibm(ibm)
    step("deal_risk ablation: ibm without prior client revenue")
    results["deal_risk_ibm_safe_only"] = train_deal_risk_ibm(ibm, deal_risk.IBM_SAFE_ONLY_SPEC)
    step("deal_risk (maven)")
    maven = {
        name: _from_source(tables[name], SOURCES["maven"], name)
        for name in ("opportunities", "reps", "products", "accounts")
    }
    results["deal_risk_maven"] = train_deal_risk_maven(
        maven["opportunities"], maven["reps"], maven["products"], maven["accounts"]
    )
    if rep_regions is not None:
        step("attainment (adventureworks)")
        transactions = _from_source(
            tables["transactions"], SOURCES["adventureworks"], "transactions"
        )
        quotas = _from_source(tables["quotas"], SOURCES["adventureworks"], "quotas")
        credits = attainment.territory_credits(transactions, rep_regions)
        observed_until = pd.to_datetime(transactions["credit_date"]).max()
        snapshots = attainment.build_snapshots(credits, quotas, observed_until)
        results["attainment_adventureworks"] = train_attainment(
            snapshots, ADVENTUREWORKS_TEST_FROM, "adventureworks"
        )
    step("attainment (maven, derived quotas)")
    snapshots = maven_attainment_snapshots(
        maven["opportunities"], maven["products"], MAVEN_ATTAINMENT_TEST_FROM
    )
    results["attainment_maven"] = train_attainment(
        snapshots, MAVEN_ATTAINMENT_TEST_FROM, "maven_crm (derived quotas)"
    )
    return results
