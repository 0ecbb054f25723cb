"""`attainment`: probability that a rep reaches quota by the end of the period,
scored from a snapshot inside the period.

Training rows are snapshots: for every rep-month with a positive quota and
complete actuals, one row at each checkpoint (default: after 25 %, 50 % and
75 % of the month's days). Features, all known at the snapshot:

- `attainment_to_date`: credited amount so far / quota (monotone +1)
- `elapsed_fraction`: share of the period's days gone
- `run_rate_projection`: attainment_to_date / elapsed_fraction (monotone +1)
- `weighted_pipeline_ratio`: open pipeline × win probability / quota
  (monotone +1; missing where the source has no pipeline)
- `previous_attainment`, `trailing_attainment`, `trailing_hit_rate`: the rep's
  final attainment in the previous period, the mean over the previous three,
  the share of the previous six reached (missing when there is no history)
- `quota_change`: quota / previous period's quota
- `quota_vs_recent_sales`: quota / the rep's mean credited sales over the
  previous three periods (how demanding this quota is)
- `month_of_quarter`: 1-3 (quarter-end months behave differently in both sources)

Label: final attainment >= 1. Amounts become float only inside these ratios
(model features); money itself is never computed here.

Sources: AdventureWorks (real monthly quotas; actuals credited by territory:
every rep assigned to a sales territory is credited with its sales, see
`territory_credits`) and Maven CRM with derived quotas (`derived_quotas`).
Split: train on earlier months, test on later ones (`split_by_period`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from training.encoding import FeatureSpec
from training.explain import BusinessPhrase

MODEL_NAME = "attainment"
LABEL = "reached_quota"
CHECKPOINTS = (0.25, 0.5, 0.75)
HISTORY_PERIODS = 3
HIT_RATE_PERIODS = 6

SPEC = FeatureSpec(
    numeric=(
        "attainment_to_date",
        "elapsed_fraction",
        "run_rate_projection",
        "weighted_pipeline_ratio",
        "previous_attainment",
        "trailing_attainment",
        "trailing_hit_rate",
        "quota_change",
        "month_of_quarter",
        "quota_vs_recent_sales",
    ),
    increasing=("attainment_to_date", "run_rate_projection", "weighted_pipeline_ratio"),
    excluded={"final_attainment": "the outcome itself"},
)

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
    "attainment_to_date": BusinessPhrase(
        "Already sold a large share of quota", "Sold little of the quota so far"
    ),
    "elapsed_fraction": BusinessPhrase(
        "Late in the period", "Early in the period, plenty of time left"
    ),
    "run_rate_projection": BusinessPhrase(
        "Current pace would beat quota", "Current pace falls short of quota"
    ),
    "weighted_pipeline_ratio": BusinessPhrase(
        "Strong open pipeline for the quota", "Thin open pipeline for the quota"
    ),
    "previous_attainment": BusinessPhrase(
        "Did well against quota last period", "Fell short last period"
    ),
    "trailing_attainment": BusinessPhrase(
        "Strong track record over recent periods", "Weak track record over recent periods"
    ),
    "trailing_hit_rate": BusinessPhrase("Usually reaches quota", "Rarely reaches quota"),
    "quota_change": BusinessPhrase(
        "Quota raised from last period", "Quota lowered from last period"
    ),
    "quota_vs_recent_sales": BusinessPhrase(
        "Quota is high compared with recent sales", "Quota is modest compared with recent sales"
    ),
    "month_of_quarter": BusinessPhrase("Late month of the quarter", "Early month of the quarter"),
}


def _require(frame: pd.DataFrame, table: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"table {table}: missing columns {missing}")


def _amounts(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.astype("object"), errors="raise").astype("float64")


def territory_credits(transactions: pd.DataFrame, rep_regions: pd.DataFrame) -> pd.DataFrame:
    """Credit every rep assigned to a sales territory with that territory's sales.

    AdventureWorks' targets are measured against sales in the salesperson's
    assigned territories (its SOURCE.md), not against the orders they own.
    `transactions` needs `region`, `credit_date`, `amount`; `rep_regions`
    maps `rep_id` → `region`. Returns `rep_id`, `credit_date`, `amount`.
    """
    _require(transactions, "transactions", ("transaction_id", "region", "credit_date", "amount"))
    _require(rep_regions, "rep_regions", ("rep_id", "region"))
    # A line credited to several reps (splits) counts once for its territory.
    lines = transactions.drop_duplicates("transaction_id")[["region", "credit_date", "amount"]]
    credited = lines.merge(rep_regions[["rep_id", "region"]].drop_duplicates(), on="region")
    return credited[["rep_id", "credit_date", "amount"]].reset_index(drop=True)


def derived_quotas(
    credits: pd.DataFrame, months: int = 3, first_period: str | None = None
) -> pd.DataFrame:
    """Quota where the source has none: the rep's mean monthly credit over the
    previous `months` months (needs all of them observed), rounded to whole
    units. Documented for Maven CRM in docs/models.md.
    """
    _require(credits, "credits", ("rep_id", "credit_date", "amount"))
    monthly = _monthly_totals(credits)
    periods = pd.period_range(monthly["period"].min(), monthly["period"].max(), freq="M")
    grid = pd.MultiIndex.from_product(
        [sorted(monthly["rep_id"].unique()), periods], names=["rep_id", "period"]
    )
    totals = monthly.set_index(["rep_id", "period"])["amount"].reindex(grid, fill_value=0.0)
    trailing = (
        totals.groupby(level="rep_id")
        .transform(lambda s: s.shift(1).rolling(months, min_periods=months).mean())
        .dropna()
        .round(0)
    )
    quotas = trailing[trailing > 0].reset_index().rename(columns={"amount": "quota"})
    if first_period is not None:
        quotas = quotas[quotas["period"] >= pd.Period(first_period, freq="M")]
    quotas["period"] = quotas["period"].astype(str)
    return quotas[["rep_id", "period", "quota"]].reset_index(drop=True)


def _monthly_totals(credits: pd.DataFrame) -> pd.DataFrame:
    dates = pd.to_datetime(credits["credit_date"])
    frame = pd.DataFrame(
        {
            "rep_id": credits["rep_id"].astype(str),
            "period": dates.dt.to_period("M"),
            "amount": _amounts(credits["amount"]),
        }
    )
    return frame.groupby(["rep_id", "period"], as_index=False)["amount"].sum()


def build_snapshots(
    credits: pd.DataFrame,
    quotas: pd.DataFrame,
    observed_until: pd.Timestamp,
    pipeline: pd.DataFrame | None = None,
    checkpoints: Sequence[float] = CHECKPOINTS,
) -> pd.DataFrame:
    """One row per (rep, month, checkpoint) with the SPEC features and the label.

    `credits`: rep_id, credit_date, amount. `quotas`: rep_id, period
    (`YYYY-MM`), quota (revenue). Only months ending on or before
    `observed_until` are labelled. `pipeline` (optional): rep_id, opened_at,
    closed_at (empty while open), expected_value, win_probability.
    """
    _require(credits, "credits", ("rep_id", "credit_date", "amount"))
    _require(quotas, "quotas", ("rep_id", "period", "quota"))
    quota = pd.DataFrame(
        {
            "rep_id": quotas["rep_id"].astype(str),
            "period": pd.PeriodIndex(quotas["period"].astype(str), freq="M"),
            "quota": _amounts(quotas["quota"]),
        }
    )
    quota = quota[quota["quota"] > 0]
    last_full = pd.Period(pd.Timestamp(observed_until).tz_localize(None), freq="M")
    if pd.Timestamp(observed_until).tz_localize(None) < last_full.end_time.normalize():
        last_full = last_full - 1
    quota = quota[quota["period"] <= last_full].sort_values(["rep_id", "period"])

    dates = pd.to_datetime(credits["credit_date"]).dt.tz_localize(None)
    credit = pd.DataFrame(
        {
            "rep_id": credits["rep_id"].astype(str),
            "day": dates.dt.normalize(),
            "amount": _amounts(credits["amount"]),
        }
    )
    credit["period"] = credit["day"].dt.to_period("M")
    finals = credit.groupby(["rep_id", "period"])["amount"].sum()
    quota["final_attainment"] = [
        finals.get((rep, period), 0.0) / q
        for rep, period, q in zip(quota["rep_id"], quota["period"], quota["quota"], strict=True)
    ]
    quota = _with_history(quota)

    cumulative = _cumulative_by_rep_period(credit)
    live_deals = _pipeline_by_rep(pipeline)
    rows = []
    for record in quota.itertuples(index=False):
        start = record.period.start_time.normalize()
        days = record.period.days_in_month
        for fraction in checkpoints:
            elapsed_days = max(1, round(fraction * days))
            as_of = start + pd.Timedelta(days=elapsed_days)  # credits strictly before as_of
            attained = (
                _credited_before(cumulative, record.rep_id, record.period, as_of) / record.quota
            )
            elapsed = elapsed_days / days
            rows.append(
                {
                    "rep_id": record.rep_id,
                    "period": str(record.period),
                    "as_of": as_of,
                    "attainment_to_date": attained,
                    "elapsed_fraction": elapsed,
                    "run_rate_projection": attained / elapsed,
                    "weighted_pipeline_ratio": _open_pipeline(
                        live_deals, record.rep_id, as_of, record.quota
                    ),
                    "month_of_quarter": float((record.period.month - 1) % 3 + 1),
                    "previous_attainment": record.previous_attainment,
                    "trailing_attainment": record.trailing_attainment,
                    "trailing_hit_rate": record.trailing_hit_rate,
                    "quota_change": record.quota_change,
                    "quota_vs_recent_sales": record.quota_vs_recent_sales,
                    "final_attainment": record.final_attainment,
                    LABEL: bool(record.final_attainment >= 1.0),
                }
            )
    return pd.DataFrame(rows)


def _with_history(quota: pd.DataFrame) -> pd.DataFrame:
    """Previous periods' outcomes of the same rep (only periods already closed)."""
    quota = quota.copy()
    by_rep = quota.groupby("rep_id")
    quota["previous_attainment"] = by_rep["final_attainment"].shift(1)
    quota["trailing_attainment"] = by_rep["final_attainment"].transform(
        lambda s: s.shift(1).rolling(HISTORY_PERIODS, min_periods=1).mean()
    )
    quota["trailing_hit_rate"] = by_rep["final_attainment"].transform(
        lambda s: (s >= 1.0).astype(float).shift(1).rolling(HIT_RATE_PERIODS, min_periods=1).mean()
    )
    quota["quota_change"] = quota["quota"] / by_rep["quota"].shift(1)
    # How demanding the quota is against what the rep actually sold lately.
    sold = quota["final_attainment"] * quota["quota"]
    recent_sales = sold.groupby(quota["rep_id"]).transform(
        lambda s: s.shift(1).rolling(HISTORY_PERIODS, min_periods=1).mean()
    )
    quota["quota_vs_recent_sales"] = quota["quota"] / recent_sales.where(recent_sales > 0)
    return quota


CumulativeCredits = dict[tuple[str, pd.Period], tuple[np.ndarray, np.ndarray]]


def _cumulative_by_rep_period(credit: pd.DataFrame) -> CumulativeCredits:
    """Per rep-month: sorted credit days and the running total after each."""
    result: CumulativeCredits = {}
    ordered = credit.sort_values("day", kind="stable")
    for key, group in ordered.groupby(["rep_id", "period"]):
        result[(str(key[0]), key[1])] = (
            group["day"].to_numpy(dtype="datetime64[ns]"),
            np.cumsum(group["amount"].to_numpy()),
        )
    return result


def _credited_before(
    cumulative: CumulativeCredits, rep_id: str, period: pd.Period, as_of: pd.Timestamp
) -> float:
    found = cumulative.get((rep_id, period))
    if found is None:
        return 0.0
    days, running = found
    count = int(np.searchsorted(days, np.datetime64(as_of, "ns"), side="left"))
    return float(running[count - 1]) if count else 0.0


def _pipeline_by_rep(pipeline: pd.DataFrame | None) -> dict[str, pd.DataFrame] | None:
    if pipeline is None:
        return None
    _require(
        pipeline,
        "pipeline",
        ("rep_id", "opened_at", "closed_at", "expected_value", "win_probability"),
    )
    weighted = pipeline.assign(value=pipeline["expected_value"] * pipeline["win_probability"])
    return {str(rep): group for rep, group in weighted.groupby("rep_id")}


def _open_pipeline(
    live_deals: dict[str, pd.DataFrame] | None, rep_id: str, as_of: pd.Timestamp, quota: float
) -> float:
    if live_deals is None:
        return float("nan")
    deals = live_deals.get(rep_id)
    if deals is None:
        return 0.0
    is_open = (deals["opened_at"] < as_of) & (
        deals["closed_at"].isna() | (deals["closed_at"] >= as_of)
    )
    return float(deals.loc[is_open, "value"].sum() / quota)


def prepare_pipeline(
    opportunities: pd.DataFrame, expected_value: pd.Series, win_probability: np.ndarray
) -> pd.DataFrame:
    """The `pipeline` argument of `build_snapshots` from canonical opportunities."""
    _require(opportunities, "opportunities", ("rep_id", "engaged_at", "closed_at"))
    return pd.DataFrame(
        {
            "rep_id": opportunities["rep_id"].astype(str).to_numpy(),
            "opened_at": pd.to_datetime(opportunities["engaged_at"], utc=True)
            .dt.tz_localize(None)
            .dt.normalize()
            .to_numpy(),
            "closed_at": pd.to_datetime(opportunities["closed_at"], utc=True)
            .dt.tz_localize(None)
            .dt.normalize()
            .to_numpy(),
            "expected_value": _amounts(expected_value).to_numpy(),
            "win_probability": np.asarray(win_probability, dtype="float64"),
        }
    ).dropna(subset=["opened_at"])


def split_by_period(snapshots: pd.DataFrame, test_from: str) -> tuple[np.ndarray, np.ndarray]:
    """Train: periods before `test_from` (YYYY-MM); test: that period and later."""
    periods = pd.PeriodIndex(snapshots["period"], freq="M")
    is_test = np.asarray(periods >= pd.Period(test_from, freq="M"))
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def rep_regions_from_territory_keys(
    assignments: pd.DataFrame, org_units: pd.DataFrame
) -> pd.DataFrame:
    """(rep_id, region) from (rep_id, territory_key) pairs, naming each territory
    as `transactions.region` does: the org unit carrying `attr_sales_territory_key`."""
    _require(assignments, "rep territory assignments", ("rep_id", "territory_key"))
    _require(org_units, "org_units", ("name", "attr_sales_territory_key"))
    territories = org_units.dropna(subset=["attr_sales_territory_key"])
    names = dict(
        zip(
            territories["attr_sales_territory_key"].astype(str),
            territories["name"].astype(str),
            strict=True,
        )
    )
    keys = assignments["territory_key"].astype(str)
    unknown = sorted(set(keys) - set(names))
    if unknown:
        raise ValueError(f"rep territory assignments: unknown territory keys {unknown}")
    return pd.DataFrame(
        {
            "rep_id": assignments["rep_id"].astype(str).to_numpy(),
            "region": keys.map(names).to_numpy(),
        }
    )
