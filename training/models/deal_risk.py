"""`deal_risk`: probability that an open opportunity is won, from what is known
while it is open.

Two training sources, both canonical `opportunities` tables:

IBM sales win-loss (`IBM_SPEC`): every row is a closed deal captured at close
(see its SOURCE.md). Used: product (Supplies Subgroup → `product_id`), supplies
group, region, route to market, client size by revenue and by employees,
amount (the rep's estimate), competitor type, and the flagged
`attr_revenue_from_client_past_two_years` (prior relationship; kept after
ablation, see docs/models.md). Excluded: the duration, ratio, stage-change
count and elapsed-days columns (they describe the deal's whole life up to
its outcome) and `attr_deal_size_category` (a binning of `amount`). Repeated
opportunity numbers are kept in one split (`group_ids`).

Maven CRM (`MAVEN_SPEC`): rep, team, region, product and series, list price,
account sector / size / revenue, the month the deal was engaged. Never
`closed_at` or `amount` (close value exists only for closed deals, lost = 0).
Split by close date (train before `MAVEN_TEST_START`, test after).

Baseline: historical win rate of the deal's group (`HistoricalWinRateClassifier`)
by the stage / rep / product columns the source has.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.encoding import FeatureSpec
from training.explain import BusinessPhrase

MODEL_NAME = "deal_risk"
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
    "stage": "the final stage (won/lost) is the outcome",
}

IBM_SPEC = FeatureSpec(
    numeric=(
        "amount",
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
    numeric=("list_price", "account_employees", "account_revenue", "engaged_month"),
    boolean=("has_account",),
    categorical=(
        "rep_id",
        "team_id",
        "region_id",
        "product_id",
        "product_series",
        "account_sector",
    ),
    excluded={
        "amount": "close value: exists only for closed deals (lost = 0)",
        "closed_at": "only known at close",
        "stage": "closed deals' stage is the outcome",
    },
)
MAVEN_BASELINE_LEVELS = ("rep_id", "product_id")
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
    "amount": BusinessPhrase("Large deal", "Small deal"),
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
    "list_price": BusinessPhrase("High-priced product", "Low-priced product"),
    "account_employees": BusinessPhrase("Large account", "Small account"),
    "account_revenue": BusinessPhrase("High-revenue account", "Low-revenue account"),
    "engaged_month": BusinessPhrase("Engaged late in the year", "Engaged early in the year"),
    "has_account": BusinessPhrase("Account identified", "No account identified yet"),
    "rep_id": BusinessPhrase(label="Owner"),
    "team_id": BusinessPhrase(label="Team"),
    "region_id": BusinessPhrase(label="Region"),
    "product_series": BusinessPhrase(label="Product series"),
    "account_sector": BusinessPhrase(label="Sector"),
}


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


def group_ids(opportunities: pd.DataFrame) -> pd.Series:
    """The id that must not straddle train and test: the source's opportunity
    number when the importer kept it apart from a de-duplicated id."""
    for column in ("attr_opportunity_number", "opportunity_id"):
        if column in opportunities.columns:
            return opportunities[column].astype("string")
    raise ValueError("table opportunities: missing column 'opportunity_id'")


def _require(frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"table {table}: missing columns {missing}")


def ibm_features(opportunities: pd.DataFrame, spec: FeatureSpec = IBM_SPEC) -> pd.DataFrame:
    _require(opportunities, "opportunities", spec.names)
    frame = opportunities.loc[:, list(spec.names)].copy()
    frame["amount"] = pd.to_numeric(frame["amount"].astype("object"), errors="coerce")
    return frame


def maven_features(
    opportunities: pd.DataFrame,
    reps: pd.DataFrame,
    products: pd.DataFrame,
    accounts: pd.DataFrame,
) -> pd.DataFrame:
    """Static deal facts joined from reps, products and accounts (row order kept)."""
    _require(opportunities, "opportunities", ("rep_id", "product_id", "account_id", "engaged_at"))
    _require(reps, "reps", ("rep_id", "team_id", "region_id"))
    _require(products, "products", ("product_id", "category", "list_price"))
    _require(accounts, "accounts", ("account_id", "sector"))
    frame = opportunities.loc[:, ["rep_id", "product_id", "account_id", "engaged_at"]]
    frame = frame.merge(reps[["rep_id", "team_id", "region_id"]], on="rep_id", how="left")
    product_facts = products[["product_id", "category", "list_price"]].rename(
        columns={"category": "product_series"}
    )
    frame = frame.merge(product_facts, on="product_id", how="left")
    account_facts = pd.DataFrame(
        {
            "account_id": accounts["account_id"],
            "account_sector": accounts["sector"],
            "account_employees": accounts.get("employees"),
            "account_revenue": accounts.get("annual_revenue"),
        }
    )
    frame = frame.merge(account_facts, on="account_id", how="left")
    frame.index = opportunities.index
    engaged = pd.to_datetime(frame["engaged_at"], utc=True)
    return pd.DataFrame(
        {
            "list_price": _to_float(frame["list_price"]),
            "account_employees": _to_float(frame["account_employees"]),
            "account_revenue": _to_float(frame["account_revenue"]),
            "engaged_month": engaged.dt.month.astype("Float64"),
            "has_account": frame["account_id"].notna(),
            "rep_id": frame["rep_id"],
            "team_id": frame["team_id"],
            "region_id": frame["region_id"],
            "product_id": frame["product_id"],
            "product_series": frame["product_series"],
            "account_sector": frame["account_sector"],
        },
        index=opportunities.index,
    )


def _to_float(values: pd.Series | None) -> pd.Series:
    if values is None:
        return pd.Series(dtype="float64")
    return pd.to_numeric(values.astype("object"), errors="coerce").astype("float64")


def maven_time_split(opportunities: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Closed deals: train rows closed before MAVEN_TEST_START, test rows after."""
    closed_at = pd.to_datetime(opportunities["closed_at"], utc=True)
    if closed_at.isna().any():
        row = opportunities.index[closed_at.isna().to_numpy()][0]
        raise ValueError(f"table opportunities row {row}: closed deal without closed_at")
    is_test = (closed_at >= MAVEN_TEST_START).to_numpy()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
