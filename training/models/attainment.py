"""`attainment`: probability that a rep reaches quota by the end of the month,
scored from a snapshot inside the month.

Training rows come from the `attainment_v2` feature service
(`features.training_sets.attainment_entities`): for every rep-month with a
monthly revenue quota and a complete month, one row at each checkpoint
(after 25 %, 50 % and 75 % of the month's days), features joined
point-in-time. Features, all known at the snapshot (feature-service names):

- `attainment_mtd`: revenue credited so far / quota (monotone +1)
- `month_elapsed_fraction`: share of the month gone
- `run_rate_projection`: attainment_mtd / month_elapsed_fraction (monotone +1)
- `previous_month_attainment`, `trailing_3m_attainment`, `trailing_3m_hit_rate`:
  the last month's final attainment, the pooled attainment of the last three
  and the share of them at quota (missing without history)
- `quota_change`: quota / last month's quota
- `quota_vs_recent_sales`: quota / mean credited revenue of the last three months
- `month_of_quarter`: 1-3 (quarter-end months behave differently)
- `pipeline_weighted_ratio`: open deals at list price × each deal's historical
  stage win rate (as known that day) ÷ quota (monotone +1), `pipeline_open_count`
  and the rep's 90-day win rate (empty where the source has no pipeline, as
  AdventureWorks).

Label: final attainment >= 1, from the same feature table's month-end snapshot,
so features and label use the same crediting (AdventureWorks: territory
crediting, `features.territories`). Split: earlier months train, later test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.encoding import FeatureSpec
from training.explain import BusinessPhrase, with_labels

MODEL_NAME = "attainment"
LABEL = "reached_quota"

SPEC = FeatureSpec(
    numeric=(
        "attainment_mtd",
        "month_elapsed_fraction",
        "run_rate_projection",
        "previous_month_attainment",
        "trailing_3m_attainment",
        "trailing_3m_hit_rate",
        "quota_change",
        "month_of_quarter",
        "quota_vs_recent_sales",
        "pipeline_open_count",
        "pipeline_weighted_ratio",
        "win_rate_90d",
    ),
    increasing=("attainment_mtd", "run_rate_projection", "pipeline_weighted_ratio"),
    excluded={
        "revenue_mtd_minor": "an amount in the rep's currency; attainment_mtd is its scale-free form",
        "quota_month_minor": "an amount; its effect is captured by the quota ratios",
    },
)
# The run-rate baseline reads these two columns.
ATTAINMENT_COLUMN = "attainment_mtd"
ELAPSED_COLUMN = "month_elapsed_fraction"

# Small data (hundreds of rep-months): shallow trees, strong regularisation.
# Chosen on AdventureWorks 2019-01..06 as validation inside the training months.
PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.03,
    "num_leaves": 4,
    "min_child_samples": 40,
    "subsample": 0.8,
    "colsample_bytree": 1.0,
    "calibration": "sigmoid",
}

PHRASES: dict[str, BusinessPhrase] = {
    "attainment_mtd": BusinessPhrase(
        "Already sold a large share of quota", "Sold little of the quota so far"
    ),
    "month_elapsed_fraction": BusinessPhrase(
        "Late in the month", "Early in the month, plenty of time left"
    ),
    "run_rate_projection": BusinessPhrase(
        "Current pace would beat quota", "Current pace falls short of quota"
    ),
    "previous_month_attainment": BusinessPhrase(
        "Did well against quota last month", "Fell short last month"
    ),
    "trailing_3m_attainment": BusinessPhrase(
        "Strong track record over recent months", "Weak track record over recent months"
    ),
    "trailing_3m_hit_rate": BusinessPhrase("Usually reaches quota", "Rarely reaches quota"),
    "quota_change": BusinessPhrase("Quota raised from last month", "Quota lowered from last month"),
    "quota_vs_recent_sales": BusinessPhrase(
        "Quota is high compared with recent sales", "Quota is modest compared with recent sales"
    ),
    "month_of_quarter": BusinessPhrase("Late month of the quarter", "Early month of the quarter"),
    "pipeline_open_count": BusinessPhrase("Many open deals", "Few open deals"),
    "pipeline_weighted_ratio": BusinessPhrase(
        "Strong open pipeline for the quota", "Thin open pipeline for the quota"
    ),
    "win_rate_90d": BusinessPhrase("Wins most deals lately", "Loses most deals lately"),
}

# What a value is called when it is shown as such ("Deal size: not given").
PHRASES = with_labels(
    PHRASES,
    {
        "attainment_mtd": "Attainment so far",
        "month_elapsed_fraction": "Share of the month gone",
        "run_rate_projection": "Run-rate projection",
        "previous_month_attainment": "Last month's attainment",
        "trailing_3m_attainment": "Attainment over the last three months",
        "trailing_3m_hit_rate": "Months at quota (last three)",
        "quota_change": "Quota change",
        "quota_vs_recent_sales": "Quota against recent sales",
        "month_of_quarter": "Month of the quarter",
        "pipeline_open_count": "Open deals",
        "pipeline_weighted_ratio": "Win-weighted open pipeline",
        "win_rate_90d": "Win rate (90 days)",
    },
)


def split_by_period(snapshots: pd.DataFrame, test_from: str) -> tuple[np.ndarray, np.ndarray]:
    """Train: periods before `test_from` (YYYY-MM); test: that period and later."""
    periods = pd.PeriodIndex(snapshots["period"], freq="M")
    is_test = np.asarray(periods >= pd.Period(test_from, freq="M"))
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def labels(frame: pd.DataFrame) -> np.ndarray:
    """The `reached_quota` label (0/1) of a training set."""
    if LABEL not in frame.columns:
        raise ValueError(f"attainment training set: missing label column {LABEL!r}")
    return frame[LABEL].astype(bool).to_numpy().astype(int)
