"""`deal_risk`: probability that an open opportunity is won, from what is known
while it is open.

Training sets come from the `deal_risk_v1` feature service
(`features.training_sets`), so every column name here is a service column:

IBM sales win-loss (`IBM_SPEC`): every row is a closed deal captured at close,
undated (see its SOURCE.md); one snapshot per deal, its final stage hidden.
Used: product (Supplies Subgroup → `product_id`), supplies group, region,
route to market, client size by revenue and by employees, `amount_minor`
(the rep's estimate), competitor type, and the flagged
`attr_revenue_from_client_past_two_years` (prior relationship; kept after
ablation, see docs/models.md). Excluded: the duration, ratio, stage-change
count and elapsed-days columns (they describe the deal's whole life up to
its outcome) and `attr_deal_size_category` (a binning of the amount).
Repeated opportunity numbers are kept in one split (`split_group`).

Maven CRM (`MAVEN_SPEC`): closed deals seen as they were while open, at
fixed ages after creation (`DEAL_SNAPSHOT_AGES_DAYS`): rep, team, region,
product and series, list price, account sector / size / revenue, stage,
age and days in stage. Never the close value (lost = 0). Split by close
date (train before `MAVEN_TEST_START`, test after).

Baseline: historical win rate of the deal's group (`HistoricalWinRateClassifier`)
by the stage / rep / product columns the source has.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.encoding import FeatureSpec
from training.explain import BusinessPhrase, with_labels

MODEL_NAME = "deal_risk"
LABEL = "won"
CLOSED_OUTCOMES = ("won", "lost")

IBM_LEAKING: dict[str, str] = {
    "attr_total_days_identified_through_closing": "whole-life duration, known only at close",
    "attr_total_days_identified_through_qualified": "whole-life duration, known only at close",
    "attr_ratio_days_identified_to_total_days": "ratio over the final duration; shows stages reached",
    "attr_ratio_days_validated_to_total_days": "ratio over the final duration; shows stages reached",
    "attr_ratio_days_qualified_to_total_days": "ratio over the final duration; shows stages reached",
    "attr_sales_stage_change_count": "lifetime count including the closing change",
    "attr_elapsed_days_in_sales_stage": "days in the final stage, inconsistent reference point",
    "attr_deal_size_category": "binning of amount (redundant)",
    "stage_index": "the undated snapshot hides the final stage; nothing to learn",
    "stage_change_count": "lifetime count up to the outcome",
    "stage": "the final stage (won/lost) is the outcome",
}

IBM_SPEC = FeatureSpec(
    numeric=(
        "amount_minor",
        "attr_client_size_by_revenue",
        "attr_client_size_by_employee_count",
        "attr_revenue_from_client_past_two_years",
    ),
    categorical=(
        "product_id",
        "attr_supplies_group",
        "attr_region",
        "attr_route_to_market",
        "attr_competitor_type",
    ),
    excluded=IBM_LEAKING,
)
IBM_PRIOR_REVENUE = "attr_revenue_from_client_past_two_years"
IBM_SAFE_ONLY_SPEC = FeatureSpec(
    numeric=tuple(c for c in IBM_SPEC.numeric if c != IBM_PRIOR_REVENUE),
    categorical=IBM_SPEC.categorical,
    excluded={**IBM_LEAKING, IBM_PRIOR_REVENUE: "ablation: reference date undocumented"},
)
IBM_BASELINE_LEVELS = ("attr_supplies_group", "product_id")  # no stage or rep in this source
IBM_SLICE_COLUMNS = ("attr_region", "product_id", "attr_route_to_market")
# Chosen on a grouped validation split inside the training rows (docs/models.md).
IBM_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.08,
    "num_leaves": 31,
    "min_child_samples": 50,
    "calibration": "sigmoid",
    "calibration_folds": 3,
}

MAVEN_SPEC = FeatureSpec(
    numeric=(
        "product_list_price_minor",
        "account_employees",
        "account_annual_revenue_minor",
        "age_days",
        "days_since_stage_change",
        "stage_index",
    ),
    categorical=(
        "rep_id",
        "team_id",
        "region_id",
        "product_id",
        "product_category",
        "account_sector",
    ),
    excluded={
        "amount_minor": "close value: exists only once the deal is closed (lost = 0)",
        "stage": "closed deals' stage is the outcome (stage_index of open snapshots is used)",
        "stage_change_count": "Maven records no stage history: 0 or 1 with the close",
    },
)
MAVEN_BASELINE_LEVELS = ("stage_index", "rep_id", "product_id")
MAVEN_SLICE_COLUMNS = ("region_id", "product_id")
MAVEN_TEST_START = pd.Timestamp("2017-10-01", tz="UTC")
MAVEN_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_child_samples": 50,
    "calibration": "sigmoid",
}

PHRASES: dict[str, BusinessPhrase] = {
    "amount_minor": BusinessPhrase("Large deal", "Small deal"),
    "attr_client_size_by_revenue": BusinessPhrase(
        "Large client (revenue)", "Small client (revenue)"
    ),
    "attr_client_size_by_employee_count": BusinessPhrase(
        "Large client (head count)", "Small client (head count)"
    ),
    IBM_PRIOR_REVENUE: BusinessPhrase(
        "Client bought from us in the last two years", "No recent revenue from this client"
    ),
    "product_id": BusinessPhrase(label="Product"),
    "attr_supplies_group": BusinessPhrase(label="Product group"),
    "attr_region": BusinessPhrase(label="Region"),
    "attr_route_to_market": BusinessPhrase(label="Route to market"),
    "attr_competitor_type": BusinessPhrase(label="Competitor"),
    "product_list_price_minor": BusinessPhrase("High-priced product", "Low-priced product"),
    "account_employees": BusinessPhrase("Large account", "Small account"),
    "account_annual_revenue_minor": BusinessPhrase("High-revenue account", "Low-revenue account"),
    "age_days": BusinessPhrase("Deal has been open a long time", "Deal opened recently"),
    "days_since_stage_change": BusinessPhrase(
        "Stuck in its stage for a while", "Moved stage recently"
    ),
    "stage_index": BusinessPhrase("Advanced stage", "Early stage"),
    "rep_id": BusinessPhrase(label="Owner"),
    "team_id": BusinessPhrase(label="Team"),
    "region_id": BusinessPhrase(label="Region"),
    "product_category": BusinessPhrase(label="Product series"),
    "account_sector": BusinessPhrase(label="Sector"),
}

# What a value is called when it is shown as such ("Deal size: not given").
PHRASES = with_labels(
    PHRASES,
    {
        "amount_minor": "Deal size",
        "attr_client_size_by_revenue": "Client size (revenue)",
        "attr_client_size_by_employee_count": "Client size (head count)",
        IBM_PRIOR_REVENUE: "Revenue from this client in the last two years",
        "product_list_price_minor": "Product price",
        "account_employees": "Account size",
        "account_annual_revenue_minor": "Account revenue",
        "age_days": "Deal age",
        "days_since_stage_change": "Time in the current stage",
        "stage_index": "Stage",
    },
)


def closed(opportunities: pd.DataFrame) -> pd.DataFrame:
    """Opportunities with a known outcome."""
    if "outcome" not in opportunities.columns:
        raise ValueError("table opportunities: missing column 'outcome'")
    return opportunities.loc[opportunities["outcome"].isin(CLOSED_OUTCOMES)].reset_index(drop=True)


def labels(opportunities: pd.DataFrame) -> np.ndarray:
    outcome = opportunities["outcome"]
    bad = ~outcome.isin(CLOSED_OUTCOMES)
    if bad.any():
        row = opportunities.index[bad.to_numpy()][0]
        raise ValueError(
            f"table opportunities row {row} ({opportunities.loc[row, 'opportunity_id']}): "
            f"outcome {outcome.loc[row]!r} is not won/lost"
        )
    return (outcome == "won").to_numpy().astype(int)


def won_labels(frame: pd.DataFrame) -> np.ndarray:
    """The `won` label (0/1) of a deal_risk training set."""
    if LABEL not in frame.columns:
        raise ValueError(f"deal_risk training set: missing label column {LABEL!r}")
    values = pd.to_numeric(frame[LABEL], errors="coerce")
    if values.isna().any() or not values.isin((0, 1)).all():
        row = frame.index[(values.isna() | ~values.isin((0, 1))).to_numpy()][0]
        raise ValueError(f"deal_risk training set row {row}: {LABEL!r} must be 0 or 1")
    return values.to_numpy().astype(int)


def features_of(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The spec's columns of a training set (feature-service names)."""
    missing = [c for c in spec.names if c not in frame.columns]
    if missing:
        raise ValueError(f"deal_risk training set: missing feature columns {missing}")
    return frame.loc[:, list(spec.names)].copy()


def time_split(frame: pd.DataFrame, test_start: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Snapshots of deals closed before `test_start` train; the rest test."""
    closed_at = pd.to_datetime(frame["closed_at"], utc=True)
    if closed_at.isna().any():
        row = frame.index[closed_at.isna().to_numpy()][0]
        raise ValueError(f"deal_risk training set row {row}: closed deal without closed_at")
    is_test = (closed_at >= test_start).to_numpy()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
