"""Deterministic feature tables computed from the canonical tables.

The Feast repo (`features/feature_repo/`) reads these tables as file sources.
Every table has the join key(s), `event_timestamp` (when the values became
known) and `created` (when this build wrote them). All builders are pure
functions of the canonical frames, so the same input gives the same rows.

Point-in-time conventions (the reason this module exists):

* Daily snapshots are taken "as of" midnight UTC. The snapshot stamped
  `2024-03-02T00:00Z` counts events that happened strictly before that
  instant, i.e. on 2024-03-01 or earlier. A rolling window of N days at
  as-of T covers the N calendar days before T.
* Opportunity snapshots are written at each lifecycle event (creation, every
  stage change, close). Only what was known at that moment is in the row: the
  deal amount is the close value in most CRMs, so it appears only on the
  closing snapshot (otherwise `amount_minor` would leak the outcome).
* Rows of undated sources (IBM win-loss, X Education leads) carry
  `UNDATED_EVENT_TIMESTAMP`; train on them with an `event_timestamp` of
  `UNDATED_AS_OF`.

Money is exact: amounts are Decimal in the canonical tables and integer minor
units (`*_minor`) here, rounded half-even per line, so sums are exact.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd

from features.territories import territory_credits
from spm_domain.currency import get_currency
from spm_domain.errors import DomainError
from spm_domain.money import EXACT_CONTEXT, RoundingMode, round_amount, to_decimal

log = logging.getLogger(__name__)

WINDOWS_DAYS: tuple[int, ...] = (30, 90, 365)
OPEN_STAGES: tuple[str, ...] = (
    "prospecting",
    "qualification",
    "engaging",
    "proposal",
    "negotiation",
)
STAGE_INDEX: dict[str, int] = {
    "prospecting": 0,
    "qualification": 1,
    "engaging": 2,
    "proposal": 3,
    "negotiation": 4,
    "won": 5,
    "lost": 5,
}
UNDATED_EVENT_TIMESTAMP = pd.Timestamp("2000-01-01T00:00:00Z")
UNDATED_AS_OF = pd.Timestamp("2000-01-02T00:00:00Z")

# Extension columns that are safe to serve (known before the outcome). Others
# (e.g. X Education `tags`, `lead_quality`, `asymmetrique_*`, IBM durations
# and ratios) are post-outcome and deliberately left out: see SOURCE.md files.
LEAD_ATTR_FEATURES: tuple[str, ...] = (
    "attr_specialization",
    "attr_how_did_you_hear_about_x_education",
    "attr_what_matters_most_to_you_in_choosing_a_course",
    "attr_search",
    "attr_magazine",
    "attr_newspaper_article",
    "attr_x_education_forums",
    "attr_newspaper",
    "attr_digital_advertisement",
    "attr_through_recommendations",
    "attr_receive_more_updates_about_our_courses",
    "attr_update_me_on_supply_chain_content",
    "attr_get_updates_on_dm_content",
    "attr_i_agree_to_pay_the_amount_through_cheque",
    "attr_a_free_copy_of_mastering_the_interview",
)
OPPORTUNITY_ATTR_FEATURES: tuple[str, ...] = (
    "attr_supplies_subgroup",
    "attr_supplies_group",
    "attr_region",
    "attr_route_to_market",
    "attr_client_size_by_revenue",
    "attr_client_size_by_employee_count",
    "attr_revenue_from_client_past_two_years",
    "attr_competitor_type",
    "attr_deal_size_category",
)

# IBM's ordinal size/band codes are numbers; the other extension columns are categories.
OPPORTUNITY_NUMERIC_ATTRS: frozenset[str] = frozenset(
    {
        "attr_client_size_by_revenue",
        "attr_client_size_by_employee_count",
        "attr_revenue_from_client_past_two_years",
        "attr_deal_size_category",
    }
)

FEATURE_TABLES: tuple[str, ...] = (
    "rep_daily_stats",
    "team_daily_stats",
    "region_daily_stats",
    "opportunity_event_stats",
    "lead_created_stats",
    "account_profile_stats",
    "product_profile_stats",
)


class FeatureBuildError(ValueError):
    """Canonical data cannot be turned into feature tables; names table, row and column."""


@dataclass(frozen=True)
class FeatureTableSummary:
    name: str
    rows: int
    path: str


# --------------------------------------------------------------------------- helpers


def _empty(table: str, columns: Iterable[str]) -> pd.DataFrame:
    return conform(table, pd.DataFrame({c: pd.Series(dtype="object") for c in columns}))


def conform(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Exactly the table's columns with their declared dtypes (stable Parquet schema)."""
    dtypes = FEATURE_TABLE_DTYPES[table]
    missing = [c for c in dtypes if c not in frame.columns]
    if missing:
        raise FeatureBuildError(f"feature table {table}: missing column(s) {', '.join(missing)}")
    out = frame[list(dtypes)].copy()
    for col, dtype in dtypes.items():
        if dtype == "datetime64[ns, UTC]":
            out[col] = pd.to_datetime(out[col], utc=True).astype(dtype)
        elif dtype == "string":
            out[col] = out[col].astype(dtype)
        else:
            out[col] = out[col].astype(dtype)
    return out.reset_index(drop=True)


def _table(tables: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    frame = tables.get(name)
    return frame.copy() if frame is not None else pd.DataFrame()


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """The column, or an all-null column when an optional column is absent."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype="object")


def _require(frame: pd.DataFrame, table: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FeatureBuildError(f"table {table}: missing column(s) {', '.join(missing)}")


def _utc(series: pd.Series, table: str, column: str) -> pd.Series:
    """Timestamps as UTC-aware pandas timestamps (dates become midnight UTC)."""
    try:
        converted = pd.to_datetime(series, utc=True)
    except (ValueError, TypeError) as exc:
        raise FeatureBuildError(f"table {table}, column {column}: not a timestamp ({exc})") from exc
    return converted.astype("datetime64[ns, UTC]")


@functools.cache
def _minor_unit(currency: str) -> int | None:
    try:
        return get_currency(currency).minor_unit
    except DomainError:
        return None


def _to_minor(amount: object, currency: object, table: str, row_id: object, column: str) -> int:
    """One exact amount in integer minor units of its currency (half-even)."""
    if isinstance(amount, Decimal) and amount.is_finite() and isinstance(currency, str):
        minor = _minor_unit(currency)
        if minor is not None:  # fast path: exact Decimal, known currency
            scaled = EXACT_CONTEXT.scaleb(amount, minor)
            return int(scaled.to_integral_value(rounding=ROUND_HALF_EVEN, context=EXACT_CONTEXT))
    if not isinstance(currency, str) or not currency:
        raise FeatureBuildError(f"table {table}, row {row_id}, column currency: missing currency")
    try:
        cur = get_currency(currency)
        value = to_decimal(str(amount) if isinstance(amount, float) else amount, field=column)
    except DomainError as exc:
        raise FeatureBuildError(f"table {table}, row {row_id}, column {column}: {exc}") from exc
    rounded = round_amount(value, cur, RoundingMode.HALF_EVEN)
    return int(rounded.scaleb(cur.minor_unit))


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, Decimal) and value.is_nan()


def _minor_column(
    frame: pd.DataFrame, amount_col: str, currency_col: str, table: str, id_col: str
) -> pd.Series:
    values = [
        pd.NA if _is_missing(a) else _to_minor(a, c, table, rid, amount_col)
        for a, c, rid in zip(frame[amount_col], frame[currency_col], frame[id_col], strict=True)
    ]
    return pd.Series(values, index=frame.index, dtype="Int64")


def _as_of_midnight(ts: pd.Series) -> pd.Series:
    """The first daily snapshot that sees an event at `ts`: next midnight UTC."""
    return ts.dt.floor("D") + pd.Timedelta(days=1)


def _attr_values(frame: pd.DataFrame, columns: Iterable[str], table: str) -> pd.DataFrame:
    """Extension columns as features: numbers for the numeric ones, text otherwise;
    absent columns (another source) are all null."""
    out = pd.DataFrame(index=frame.index)
    for col in columns:
        values = _column(frame, col)
        if col in OPPORTUNITY_NUMERIC_ATTRS:
            try:
                out[col] = pd.to_numeric(values.map(lambda v: None if _is_missing(v) else v))
            except (ValueError, TypeError) as exc:
                raise FeatureBuildError(
                    f"table {table}, column {col}: not numeric ({exc})"
                ) from exc
            out[col] = out[col].astype("float64")
        else:
            out[col] = values.astype("string")
    return out


def _rep_currencies(
    transactions: pd.DataFrame, opportunities: pd.DataFrame, reps: pd.DataFrame
) -> dict[str, str]:
    """Each rep's single feature currency; a rep paid in two currencies is an error."""
    pairs = pd.concat(
        [
            transactions[["rep_id", "currency"]] if len(transactions) else None,
            opportunities.loc[
                opportunities["amount"].map(lambda v: not _is_missing(v)), ["rep_id", "currency"]
            ]
            if len(opportunities)
            else None,
        ]
    ).dropna()
    result: dict[str, str] = {}
    for rep_id, group in pairs.groupby("rep_id"):
        codes = sorted(set(group["currency"]))
        if len(codes) > 1:
            raise FeatureBuildError(
                f"rep {rep_id}: amounts in several currencies ({', '.join(codes)}); "
                "convert them before building features"
            )
        result[str(rep_id)] = codes[0]
    if len(reps) and "currency" in reps.columns:
        for rep_id, code in zip(reps["rep_id"], reps["currency"], strict=True):
            if isinstance(code, str):
                result.setdefault(str(rep_id), code)
    return result


# --------------------------------------------------------------------------- rep daily


def _daily_counts(events: pd.DataFrame, key: str, value: str) -> pd.DataFrame:
    """Sum of `value` per (key, day) where day is the event's as-of midnight."""
    if events.empty:
        return pd.DataFrame(columns=[key, "as_of", value])
    grouped = events.groupby([key, "as_of"], as_index=False)[value].sum()
    return grouped


def _rolling(
    grid: pd.DataFrame, daily: pd.DataFrame, value: str, windows: Iterable[int], prefix: str
) -> pd.DataFrame:
    """Add `<prefix>_<w>d` columns: sum of `value` over the w days before as_of."""
    merged = grid.merge(daily, on=["rep_id", "as_of"], how="left")
    merged[value] = merged[value].fillna(0)
    merged = merged.sort_values(["rep_id", "as_of"])
    for w in windows:
        merged[f"{prefix}_{w}d"] = merged.groupby("rep_id", sort=False)[value].transform(
            lambda s, w=w: s.rolling(w, min_periods=1).sum()
        )
    return merged.drop(columns=[value])


def _stage_events(opps: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Every known stage change of the dated opportunities: (opportunity_id, ts, stage).

    From stage history where the source has it (preceded by the opening stage
    when history starts after creation). Otherwise reconstructed: opening stage
    at created_at, `engaging` at engaged_at, the outcome at closed_at; a deal
    still open at extract ends in its current stage.
    """
    cols = ["opportunity_id", "ts", "stage", "_order"]
    dated = opps[opps["created_at"].notna()].copy()
    dated["opportunity_id"] = dated["opportunity_id"].astype(str)
    hist = history.assign(opportunity_id=history["opportunity_id"].astype(str))
    hist = hist[hist["opportunity_id"].isin(set(dated["opportunity_id"]))]
    with_history = dated["opportunity_id"].isin(set(hist["opportunity_id"]))

    from_history = pd.DataFrame(
        {
            "opportunity_id": hist["opportunity_id"],
            "ts": hist["changed_at"],
            "stage": hist["to_stage"].astype(str),
            "_order": 1,
        }
    )
    first_change = hist.groupby("opportunity_id")["changed_at"].min()
    hd = dated[with_history]
    first_seen = hd["opportunity_id"].map(first_change).astype("datetime64[ns, UTC]")
    late = hd[hd["created_at"] < first_seen]
    nd = dated[~with_history]
    engaged = nd[nd["engaged_at"].notna() & (nd["engaged_at"] > nd["created_at"])]
    closed = nd[nd["outcome"].isin(("won", "lost")) & nd["closed_at"].notna()]
    frames = [
        from_history,
        pd.DataFrame(
            {
                "opportunity_id": late["opportunity_id"],
                "ts": late["created_at"],
                "stage": late["opened_stage"],
                "_order": 0,
            }
        ),
        pd.DataFrame(
            {
                "opportunity_id": nd["opportunity_id"],
                "ts": nd["created_at"],
                "stage": nd["opened_stage"],
                "_order": 0,
            }
        ),
        pd.DataFrame(
            {
                "opportunity_id": engaged["opportunity_id"],
                "ts": engaged["engaged_at"],
                "stage": "engaging",
                "_order": 1,
            }
        ),
        pd.DataFrame(
            {
                "opportunity_id": closed["opportunity_id"],
                "ts": closed["closed_at"],
                "stage": closed["outcome"].astype(str),
                "_order": 2,
            }
        ),
    ]
    events = pd.concat([f[cols] for f in frames if len(f)], ignore_index=True)
    if events.empty:
        return pd.DataFrame(columns=["opportunity_id", "ts", "stage"])
    events["ts"] = events["ts"].astype("datetime64[ns, UTC]")
    events = events.sort_values(["opportunity_id", "ts", "_order"], kind="stable")
    events = events.reset_index(drop=True)
    # open deals without history: their latest known stage is the current one
    still_open = nd.loc[nd["outcome"] == "open"].set_index("opportunity_id")["stage"].astype(str)
    last = events.groupby("opportunity_id").tail(1)
    last = last[last["opportunity_id"].isin(still_open.index)]
    events.loc[last.index, "stage"] = last["opportunity_id"].map(still_open).to_numpy()
    return events[["opportunity_id", "ts", "stage"]]


def _open_deal_days(
    opps: pd.DataFrame, events: pd.DataFrame, last_day: pd.Timestamp
) -> pd.DataFrame:
    """One row per (rep, as_of, stage) for each day a deal is open in that stage.

    A stage change at `ts` shows from the next midnight; a deal stops counting
    from the midnight after it closes (or after the last day of data).
    """
    owners = opps[["opportunity_id", "rep_id", "closed_at"]].assign(
        opportunity_id=opps["opportunity_id"].astype(str)
    )
    owners = owners[owners["rep_id"].notna()].drop_duplicates("opportunity_id")
    seg = events.merge(owners, on="opportunity_id", how="inner")
    if seg.empty:
        return pd.DataFrame(columns=["rep_id", "as_of", "stage", "opportunity_id"])
    seg["start"] = _as_of_midnight(seg["ts"])
    until = _as_of_midnight(seg["closed_at"]).fillna(last_day + pd.Timedelta(days=1))
    seg["end"] = seg.groupby("opportunity_id")["start"].shift(-1).fillna(until)
    seg["end"] = seg["end"].where(seg["end"] < until, until)
    seg = seg[seg["stage"].isin(OPEN_STAGES) & (seg["end"] > seg["start"])]
    lengths = ((seg["end"] - seg["start"]) // pd.Timedelta(days=1)).to_numpy(dtype="int64")
    total = int(lengths.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    starts = np.repeat(seg["start"].to_numpy(dtype="datetime64[ns]"), lengths)
    return pd.DataFrame(
        {
            "rep_id": np.repeat(seg["rep_id"].astype(str).to_numpy(), lengths),
            "as_of": pd.to_datetime(starts + offsets * np.timedelta64(1, "D"), utc=True),
            "stage": np.repeat(seg["stage"].to_numpy(), lengths),
            "opportunity_id": np.repeat(seg["opportunity_id"].to_numpy(), lengths),
        }
    )


def build_rep_daily_stats(
    tables: Mapping[str, pd.DataFrame], created: pd.Timestamp
) -> pd.DataFrame:
    """One row per rep per day (as of midnight UTC) from the rep's first event to
    the last event in the data, with rolling 30/90/365-day performance."""
    opps = _prepare_opportunities(tables)
    txns = _prepare_transactions(tables)
    reps = _table(tables, "reps")
    quotas = _table(tables, "quotas")
    stage_history = _prepare_stage_history(tables)
    columns = rep_daily_columns()

    dated_opps = opps[opps["rep_id"].notna() & opps["created_at"].notna()]
    rep_events = pd.concat(
        [
            pd.DataFrame(
                {"rep_id": dated_opps["rep_id"], "d": _as_of_midnight(dated_opps["created_at"])}
            ),
            pd.DataFrame(
                {"rep_id": dated_opps["rep_id"], "d": _as_of_midnight(dated_opps["closed_at"])}
            ),
            pd.DataFrame({"rep_id": txns.get("rep_id"), "d": txns.get("as_of")}),
        ]
    ).dropna()
    if rep_events.empty:
        return _empty("rep_daily_stats", columns)
    rep_events["rep_id"] = rep_events["rep_id"].astype(str)
    last_day = rep_events["d"].max()
    currencies = _rep_currencies(txns, opps, reps)
    # Each rep's rows run from their first event until the longest window has
    # passed over their last one (or the data ends): no endless rows of zeros.
    span = rep_events.groupby("rep_id")["d"].agg(["min", "max"]).sort_index()
    longest = pd.Timedelta(days=max(WINDOWS_DAYS))
    grid = pd.concat(
        [
            pd.DataFrame(
                {
                    "rep_id": rep_id,
                    "as_of": pd.date_range(first, min(last_day, last + longest), freq="D"),
                }
            )
            for rep_id, first, last in span.itertuples()
        ],
        ignore_index=True,
    )
    grid["as_of"] = grid["as_of"].astype("datetime64[ns, UTC]")

    closed = opps[opps["rep_id"].notna() & opps["closed_at"].notna()].copy()
    closed["as_of"] = _as_of_midnight(closed["closed_at"])
    closed["won"] = (closed["outcome"] == "won").astype("int64")
    closed["lost"] = (closed["outcome"] == "lost").astype("int64")
    won = closed[closed["outcome"] == "won"].copy()
    won["won_amount_minor"] = won["amount_minor"].fillna(0).astype("int64")
    won["won_with_amount"] = won["amount_minor"].notna().astype("int64")
    won_dated = won[won["created_at"].notna()].copy()
    won_dated["cycle_days"] = (
        won_dated["closed_at"] - won_dated["created_at"]
    ).dt.total_seconds() / 86400.0
    won_dated["cycles"] = 1

    out = grid
    out = _rolling(out, _daily_counts(closed, "rep_id", "won"), "won", WINDOWS_DAYS, "deals_won")
    out = _rolling(out, _daily_counts(closed, "rep_id", "lost"), "lost", WINDOWS_DAYS, "deals_lost")
    out = _rolling(
        out,
        _daily_counts(won, "rep_id", "won_amount_minor"),
        "won_amount_minor",
        WINDOWS_DAYS,
        "_won_amount",
    )
    out = _rolling(
        out,
        _daily_counts(won, "rep_id", "won_with_amount"),
        "won_with_amount",
        WINDOWS_DAYS,
        "_won_n",
    )
    out = _rolling(
        out,
        _daily_counts(won_dated, "rep_id", "cycle_days"),
        "cycle_days",
        WINDOWS_DAYS,
        "_cycle_sum",
    )
    out = _rolling(
        out, _daily_counts(won_dated, "rep_id", "cycles"), "cycles", WINDOWS_DAYS, "_cycle_n"
    )
    # Net credited revenue: credits on their credit date, clawbacks on the cancel date.
    credit_events = _credit_events(txns)
    out = _rolling(
        out,
        _daily_counts(credit_events, "rep_id", "credit_minor"),
        "credit_minor",
        WINDOWS_DAYS,
        "revenue_closed",
    )
    for w in WINDOWS_DAYS:
        won_n = out[f"deals_won_{w}d"]
        closed_n = won_n + out[f"deals_lost_{w}d"]
        out[f"deals_won_{w}d"] = won_n.astype("int64")
        out[f"deals_lost_{w}d"] = out[f"deals_lost_{w}d"].astype("int64")
        out[f"win_rate_{w}d"] = (won_n / closed_n.where(closed_n > 0)).astype("float64")
        out[f"revenue_closed_{w}d_minor"] = out.pop(f"revenue_closed_{w}d").round().astype("int64")
        amount_n = out.pop(f"_won_n_{w}d")
        amount_sum = out.pop(f"_won_amount_{w}d")
        out[f"avg_deal_size_{w}d_minor"] = _half_even_ratio(amount_sum, amount_n)
        cycle_n = out.pop(f"_cycle_n_{w}d")
        cycle_sum = out.pop(f"_cycle_sum_{w}d")
        out[f"cycle_time_{w}d_days"] = (cycle_sum / cycle_n.where(cycle_n > 0)).astype("float64")

    out = _add_pipeline(out, opps, stage_history, _table(tables, "products"))
    out = _add_month_to_date(out, credit_events, quotas, currencies)
    out["currency"] = out["rep_id"].map(currencies).astype("string")
    team = (
        reps.set_index("rep_id")["team_id"] if "team_id" in reps.columns else pd.Series(dtype=str)
    )
    region = (
        reps.set_index("rep_id")["region_id"]
        if "region_id" in reps.columns
        else pd.Series(dtype=str)
    )
    out["team_id"] = out["rep_id"].map(team).astype("string")
    out["region_id"] = out["rep_id"].map(region).astype("string")
    out = out.rename(columns={"as_of": "event_timestamp"})
    out["rep_id"] = out["rep_id"].astype("string")
    out["created"] = created
    return conform("rep_daily_stats", out.sort_values(["rep_id", "event_timestamp"]))


def _half_even_ratio(total: pd.Series, count: pd.Series) -> pd.Series:
    """Exact integer average (half-even); null where the count is zero."""
    values = [
        pd.NA if n == 0 else int((Decimal(int(t)) / Decimal(int(n))).quantize(Decimal(1)))
        for t, n in zip(total, count, strict=True)
    ]
    return pd.Series(values, index=total.index, dtype="Int64")


def _credit_events(txns: pd.DataFrame) -> pd.DataFrame:
    if txns.empty:
        return pd.DataFrame(columns=["rep_id", "as_of", "credit_minor"])
    credits = txns[["rep_id", "as_of", "credit_minor"]]
    cancelled = txns[txns["cancel_as_of"].notna()]
    clawbacks = pd.DataFrame(
        {
            "rep_id": cancelled["rep_id"],
            "as_of": cancelled["cancel_as_of"],
            "credit_minor": -cancelled["credit_minor"],
        }
    )
    return pd.concat([credits, clawbacks], ignore_index=True)


def _stage_win_rates(
    events: pd.DataFrame, opps: pd.DataFrame
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per open stage, the historical win rate of deals that passed through it, as a
    step function of the as-of day: (as-of days in ns, rate from that day on). A deal
    counts from the midnight after its close, so no rate looks past the as-of."""
    closes = opps[opps["outcome"].isin(("won", "lost")) & opps["closed_at"].notna()]
    closed = pd.DataFrame(
        {
            "opportunity_id": closes["opportunity_id"].astype(str),
            "known": _as_of_midnight(closes["closed_at"]),
            "won": (closes["outcome"] == "won").astype("int64"),
        }
    ).drop_duplicates("opportunity_id")
    passed = events[events["stage"].isin(OPEN_STAGES)][["opportunity_id", "stage"]]
    passed = passed.drop_duplicates().merge(closed, on="opportunity_id")
    rates: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for stage, group in passed.groupby("stage"):
        daily = group.groupby("known")["won"].agg(["sum", "count"]).sort_index()
        days = daily.index.to_numpy(dtype="datetime64[ns]").view("int64")
        rate = daily["sum"].cumsum().to_numpy() / daily["count"].cumsum().to_numpy()
        rates[str(stage)] = (days, rate)
    return rates


def _weighted_pipeline(
    open_deals: pd.DataFrame, opps: pd.DataFrame, products: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """Σ over a rep's open deals of list price × the deal's stage win rate as known
    at the as-of day (`pipeline_weighted_minor`; null while no rate is known)."""
    if open_deals.empty or products.empty:
        return pd.DataFrame(columns=["rep_id", "as_of", "pipeline_weighted_minor"])
    product_of = opps.set_index(opps["opportunity_id"].astype(str))["product_id"]
    product_of = product_of[~product_of.index.duplicated(keep="first")]
    price = open_deals["opportunity_id"].map(product_of).map(_product_prices(products))
    weight = np.full(len(open_deals), np.nan)
    days = open_deals["as_of"].to_numpy(dtype="datetime64[ns]").view("int64")
    stages = open_deals["stage"].to_numpy()
    for stage, (known, rate) in _stage_win_rates(events, opps).items():
        rows = np.flatnonzero(stages == stage)
        at = np.searchsorted(known, days[rows], side="right") - 1
        weight[rows] = np.where(at >= 0, rate[np.maximum(at, 0)], np.nan)
    value = pd.to_numeric(price, errors="coerce").to_numpy(dtype="float64") * weight
    frame = pd.DataFrame(
        {"rep_id": open_deals["rep_id"], "as_of": open_deals["as_of"], "value": value}
    )
    summed = frame.groupby(["rep_id", "as_of"])["value"].sum(min_count=1).round()
    return summed.rename("pipeline_weighted_minor").reset_index()


def _add_pipeline(
    out: pd.DataFrame, opps: pd.DataFrame, stage_history: pd.DataFrame, products: pd.DataFrame
) -> pd.DataFrame:
    events = _stage_events(opps, stage_history)
    open_deals = _open_deal_days(opps, events, out["as_of"].max())
    counts = (
        open_deals.groupby(["rep_id", "as_of", "stage"]).size().unstack("stage", fill_value=0)
        if len(open_deals)
        else pd.DataFrame()
    )
    counts = counts.reindex(columns=list(OPEN_STAGES), fill_value=0)
    counts.columns = [f"pipeline_{s}_count" for s in OPEN_STAGES]
    counts = counts.reset_index() if len(counts) else counts.reset_index(drop=True)
    if len(counts) == 0:
        for s in OPEN_STAGES:
            out[f"pipeline_{s}_count"] = 0
    else:
        out = out.merge(counts, on=["rep_id", "as_of"], how="left")
    stage_cols = [f"pipeline_{s}_count" for s in OPEN_STAGES]
    out[stage_cols] = out[stage_cols].fillna(0).astype("int64")
    out["pipeline_open_count"] = out[stage_cols].sum(axis=1).astype("int64")
    weighted = _weighted_pipeline(open_deals, opps, products, events)
    out = out.merge(weighted, on=["rep_id", "as_of"], how="left")
    out["pipeline_weighted_minor"] = out["pipeline_weighted_minor"].astype("Int64")
    return out


def _add_month_to_date(
    out: pd.DataFrame,
    credit_events: pd.DataFrame,
    quotas: pd.DataFrame,
    currencies: Mapping[str, str],
) -> pd.DataFrame:
    """Revenue credited in the calendar month of the as-of day so far, the
    month's revenue quota (monthly `YYYY-MM` quotas only) and attainment."""
    # The snapshot at T covers days before T, so its month is the month of T - 1 day.
    month = (out["as_of"] - pd.Timedelta(days=1)).dt.strftime("%Y-%m")
    out["_month"] = month
    if len(credit_events):
        ev = credit_events.copy()
        ev["_month"] = (ev["as_of"] - pd.Timedelta(days=1)).dt.strftime("%Y-%m")
        daily = ev.groupby(["rep_id", "_month", "as_of"], as_index=False)["credit_minor"].sum()
        out = out.merge(daily, on=["rep_id", "_month", "as_of"], how="left")
        out["credit_minor"] = out["credit_minor"].fillna(0)
        out = out.sort_values(["rep_id", "as_of"])
        out["revenue_mtd_minor"] = (
            out.groupby(["rep_id", "_month"], sort=False)["credit_minor"].cumsum().round()
        ).astype("int64")
        out = out.drop(columns=["credit_minor"])
    else:
        out["revenue_mtd_minor"] = 0
    quota_minor: dict[tuple[str, str], int] = {}
    if len(quotas):
        _require(quotas, "quotas", ("rep_id", "period", "measure", "quota"))
        monthly = quotas[
            (quotas["measure"] == "revenue")
            & quotas["period"].astype(str).str.fullmatch(r"\d{4}-\d{2}")
        ]
        for row in monthly.itertuples(index=False):
            rep_id = str(row.rep_id)
            currency = row.currency if isinstance(row.currency, str) else currencies.get(rep_id)
            expected = currencies.get(rep_id)
            if expected and currency != expected:
                raise FeatureBuildError(
                    f"table quotas, row {rep_id}/{row.period}, column currency: "
                    f"{currency} differs from the rep's credit currency {expected}"
                )
            quota_minor[(rep_id, str(row.period))] = _to_minor(
                row.quota, currency, "quotas", f"{rep_id}/{row.period}", "quota"
            )
    keys = list(zip(out["rep_id"].astype(str), out["_month"], strict=True))
    out["quota_month_minor"] = pd.Series(
        [quota_minor.get(k, pd.NA) for k in keys], index=out.index, dtype="Int64"
    )
    quota = out["quota_month_minor"].astype("float64")
    out["attainment_mtd"] = (out["revenue_mtd_minor"] / quota.where(quota > 0)).astype("float64")
    month_start = pd.to_datetime(out["_month"] + "-01", utc=True)
    days_in_month = month_start.dt.days_in_month
    out["month_elapsed_fraction"] = (
        (out["as_of"] - month_start) / pd.Timedelta(days=1) / days_in_month
    ).astype("float64")
    out = _add_past_months(out, credit_events, quota_minor)
    out = _add_quota_context(out, credit_events, quota_minor)
    return out.drop(columns=["_month"])


def _add_quota_context(
    out: pd.DataFrame, credit_events: pd.DataFrame, quota_minor: Mapping[tuple[str, str], int]
) -> pd.DataFrame:
    """Pace and how demanding the month's quota is, all known at the as-of day:
    `run_rate_projection` (attainment so far / share of the month gone),
    `quota_change` (this month's quota / last month's), `quota_vs_recent_sales`
    (quota / mean credited revenue of the three previous months) and
    `month_of_quarter` (1-3: quarter-end months behave differently) and
    `pipeline_weighted_ratio` (open pipeline at list price × each deal's
    historical stage win rate, as known that day, ÷ quota)."""
    elapsed = out["month_elapsed_fraction"].where(out["month_elapsed_fraction"] > 0)
    out["run_rate_projection"] = (out["attainment_mtd"] / elapsed).astype("float64")
    period = pd.PeriodIndex(out["_month"], freq="M")
    out["month_of_quarter"] = ((period.month - 1) % 3 + 1).astype("int64")
    quota = out["quota_month_minor"].astype("float64")
    previous_quota = pd.Series(
        [
            quota_minor.get((rep, str(p - 1)), np.nan)
            for rep, p in zip(out["rep_id"].astype(str), period, strict=True)
        ],
        index=out.index,
        dtype="float64",
    )
    out["quota_change"] = (quota / previous_quota.where(previous_quota > 0)).astype("float64")
    recent = np.full(len(out), np.nan)
    if len(credit_events):
        ev = credit_events.assign(
            month=(credit_events["as_of"] - pd.Timedelta(days=1))
            .dt.tz_localize(None)
            .dt.to_period("M"),
            rep_id=credit_events["rep_id"].astype(str),
        )
        monthly = ev.groupby(["rep_id", "month"])["credit_minor"].sum()
        lookup = {key: float(v) for key, v in monthly.items()}
        recent = np.array(
            [
                sum(lookup.get((rep, p - k), 0.0) for k in (1, 2, 3)) / 3.0
                for rep, p in zip(out["rep_id"].astype(str), period, strict=True)
            ]
        )
    recent_sales = pd.Series(recent, index=out.index, dtype="float64")
    out["quota_vs_recent_sales"] = (quota / recent_sales.where(recent_sales > 0)).astype("float64")
    weighted = out["pipeline_weighted_minor"].astype("float64")
    out["pipeline_weighted_ratio"] = (weighted / quota.where(quota > 0)).astype("float64")
    return out


def _add_past_months(
    out: pd.DataFrame, credit_events: pd.DataFrame, quota_minor: Mapping[tuple[str, str], int]
) -> pd.DataFrame:
    """Attainment of completed months (all known at any as-of inside the next month):
    the previous month's, and over the three previous months the pooled attainment
    and the share of months at or above quota (months with a quota only)."""
    columns = ("previous_month_attainment", "trailing_3m_attainment", "trailing_3m_hit_rate")
    if not quota_minor:
        for col in columns:
            out[col] = np.nan
        return out
    months = pd.DataFrame(
        [(rep_id, pd.Period(period, "M"), q) for (rep_id, period), q in quota_minor.items()],
        columns=["rep_id", "month", "quota"],
    )
    if len(credit_events):
        ev = credit_events.assign(
            month=(credit_events["as_of"] - pd.Timedelta(days=1))
            .dt.tz_localize(None)
            .dt.to_period("M")
        )
        revenue = ev.groupby(["rep_id", "month"], as_index=False)["credit_minor"].sum()
        months = months.merge(revenue, on=["rep_id", "month"], how="left")
    else:
        months["credit_minor"] = 0
    months["credit_minor"] = months["credit_minor"].fillna(0)
    months["hit"] = (months["credit_minor"] >= months["quota"]).astype("float64")
    lags = pd.concat(
        [months.assign(month=months["month"] + k, lag=k) for k in (1, 2, 3)], ignore_index=True
    )
    trailing = lags.groupby(["rep_id", "month"], as_index=False).agg(
        revenue=("credit_minor", "sum"), quota=("quota", "sum"), hit_rate=("hit", "mean")
    )
    trailing["trailing_3m_attainment"] = trailing["revenue"] / trailing["quota"].where(
        trailing["quota"] > 0
    )
    previous = lags[lags["lag"] == 1]
    previous = previous.assign(
        previous_month_attainment=previous["credit_minor"]
        / previous["quota"].where(previous["quota"] > 0)
    )
    keyed = out.assign(
        _period=pd.PeriodIndex(out["_month"], freq="M"), rep_id=out["rep_id"].astype(str)
    )
    keyed = keyed.merge(
        previous[["rep_id", "month", "previous_month_attainment"]].rename(
            columns={"month": "_period"}
        ),
        on=["rep_id", "_period"],
        how="left",
    ).merge(
        trailing[["rep_id", "month", "trailing_3m_attainment", "hit_rate"]].rename(
            columns={"month": "_period", "hit_rate": "trailing_3m_hit_rate"}
        ),
        on=["rep_id", "_period"],
        how="left",
    )
    for col in columns:
        keyed[col] = keyed[col].astype("float64")
    return keyed.drop(columns=["_period"])


def rep_daily_columns() -> list[str]:
    cols = ["rep_id", "event_timestamp", "created", "team_id", "region_id", "currency"]
    for w in WINDOWS_DAYS:
        cols += [
            f"deals_won_{w}d",
            f"deals_lost_{w}d",
            f"win_rate_{w}d",
            f"revenue_closed_{w}d_minor",
            f"avg_deal_size_{w}d_minor",
            f"cycle_time_{w}d_days",
        ]
    cols += [f"pipeline_{s}_count" for s in OPEN_STAGES]
    cols += ["pipeline_open_count", "revenue_mtd_minor", "quota_month_minor", "attainment_mtd"]
    cols += [
        "month_elapsed_fraction",
        "previous_month_attainment",
        "trailing_3m_attainment",
        "trailing_3m_hit_rate",
        *QUOTA_CONTEXT_COLUMNS,
    ]
    return cols


QUOTA_CONTEXT_COLUMNS: tuple[str, ...] = (
    "pipeline_weighted_minor",
    "pipeline_weighted_ratio",
    "run_rate_projection",
    "quota_change",
    "quota_vs_recent_sales",
    "month_of_quarter",
)


# --------------------------------------------------------------------------- org units


def build_org_daily_stats(rep_daily: pd.DataFrame, level: str) -> pd.DataFrame:
    """Team or region totals of the rep snapshots (by the rep's current unit)."""
    key = f"{level}_id"
    columns = org_daily_columns(level)
    rows = rep_daily[rep_daily[key].notna()]
    if rows.empty:
        return _empty(f"{level}_daily_stats", columns)
    sums = [f"deals_won_{w}d" for w in WINDOWS_DAYS] + [f"deals_lost_{w}d" for w in WINDOWS_DAYS]
    sums += [f"revenue_closed_{w}d_minor" for w in WINDOWS_DAYS] + ["pipeline_open_count"]
    currencies = rows.groupby(key)["currency"].nunique()
    mixed = currencies[currencies > 1]
    if len(mixed):
        raise FeatureBuildError(
            f"{level} {mixed.index[0]}: reps credit in several currencies; cannot total revenue"
        )
    grouped = rows.groupby([key, "event_timestamp"], as_index=False).agg(
        {**{c: "sum" for c in sums}, "currency": "first", "created": "max", "rep_id": "nunique"}
    )
    grouped = grouped.rename(columns={"rep_id": "active_reps"})
    for w in WINDOWS_DAYS:
        closed_n = grouped[f"deals_won_{w}d"] + grouped[f"deals_lost_{w}d"]
        grouped[f"win_rate_{w}d"] = (
            grouped[f"deals_won_{w}d"] / closed_n.where(closed_n > 0)
        ).astype("float64")
    grouped[key] = grouped[key].astype("string")
    return conform(f"{level}_daily_stats", grouped.sort_values([key, "event_timestamp"]))


def org_daily_columns(level: str) -> list[str]:
    cols = [f"{level}_id", "event_timestamp", "created", "currency", "active_reps"]
    for w in WINDOWS_DAYS:
        cols += [
            f"deals_won_{w}d",
            f"deals_lost_{w}d",
            f"win_rate_{w}d",
            f"revenue_closed_{w}d_minor",
        ]
    return [*cols, "pipeline_open_count"]


# --------------------------------------------------------------------------- opportunities


def _prepare_opportunities(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    opps = _table(tables, "opportunities")
    if "opened_stage" in opps.columns:  # already prepared by compute_feature_tables
        return opps
    if opps.empty:
        return pd.DataFrame(
            columns=[
                "opportunity_id",
                "rep_id",
                "account_id",
                "product_id",
                "stage",
                "outcome",
                "amount",
                "amount_minor",
                "currency",
                "created_at",
                "engaged_at",
                "closed_at",
                "lead_source",
                "opened_stage",
            ]
        ).astype(
            {
                "created_at": "datetime64[ns, UTC]",
                "engaged_at": "datetime64[ns, UTC]",
                "closed_at": "datetime64[ns, UTC]",
            }
        )
    _require(opps, "opportunities", ("opportunity_id", "rep_id", "stage", "outcome", "amount"))
    for col in ("created_at", "engaged_at", "closed_at"):
        opps[col] = _utc(_column(opps, col), "opportunities", col)
    # Some CRMs (Maven) record no creation time: the first known time is engagement.
    from_engagement = opps["created_at"].isna() & opps["engaged_at"].notna()
    opps["opened_stage"] = ["engaging" if flag else "prospecting" for flag in from_engagement]
    opps["created_at"] = opps["created_at"].fillna(opps["engaged_at"])
    for col in ("account_id", "product_id", "currency", "lead_source"):
        if col not in opps.columns:
            opps[col] = None
    opps["amount_minor"] = _minor_column(
        opps, "amount", "currency", "opportunities", "opportunity_id"
    )
    return opps


def _prepare_transactions(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    txns = _table(tables, "transactions")
    if "credit_minor" in txns.columns:  # already prepared
        return txns
    if txns.empty:
        return pd.DataFrame(columns=["rep_id", "as_of", "credit_minor", "cancel_as_of", "currency"])
    _require(
        txns,
        "transactions",
        ("transaction_id", "rep_id", "amount", "currency", "credit_date", "share"),
    )
    credited: list[int] = []
    for tid, rep_id, amount, share, currency in zip(
        txns["transaction_id"],
        txns["rep_id"],
        txns["amount"],
        txns["share"],
        txns["currency"],
        strict=True,
    ):
        if isinstance(amount, Decimal) and isinstance(share, Decimal):
            value = EXACT_CONTEXT.multiply(amount, share)
        else:
            try:
                value = EXACT_CONTEXT.multiply(
                    to_decimal(amount, field="amount"), to_decimal(share, field="share")
                )
            except DomainError as exc:
                raise FeatureBuildError(f"table transactions, row {tid}/{rep_id}: {exc}") from exc
        credited.append(_to_minor(value, currency, "transactions", f"{tid}/{rep_id}", "amount"))
    txns["credit_minor"] = np.array(credited, dtype="int64")
    txns["as_of"] = _as_of_midnight(_utc(txns["credit_date"], "transactions", "credit_date"))
    cancel = _utc(_column(txns, "cancel_date"), "transactions", "cancel_date")
    txns["cancel_as_of"] = _as_of_midnight(cancel)
    txns["rep_id"] = txns["rep_id"].astype(str)
    return txns


def _prepare_stage_history(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    history = _table(tables, "stage_history")
    if history.empty:
        return pd.DataFrame(columns=["opportunity_id", "changed_at", "to_stage"])
    _require(history, "stage_history", ("opportunity_id", "changed_at", "to_stage"))
    history["changed_at"] = _utc(history["changed_at"], "stage_history", "changed_at")
    return history.sort_values(["opportunity_id", "changed_at"]).reset_index(drop=True)


def opportunity_event_columns() -> list[str]:
    return [
        "opportunity_id",
        "event_timestamp",
        "created",
        "rep_id",
        "account_id",
        "product_id",
        "stage",
        "stage_index",
        "is_closed",
        "stage_change_count",
        "created_at",
        "last_stage_change_at",
        "amount_minor",
        "currency",
        "lead_source",
        "product_category",
        "product_list_price_minor",
        "account_sector",
        "account_employees",
        "account_annual_revenue_minor",
        "team_id",
        "region_id",
        *OPPORTUNITY_ATTR_FEATURES,
    ]


def build_opportunity_event_stats(
    tables: Mapping[str, pd.DataFrame], created: pd.Timestamp
) -> pd.DataFrame:
    """One snapshot per opportunity lifecycle event (creation, stage change, close)."""
    opps = _prepare_opportunities(tables)
    columns = opportunity_event_columns()
    if opps.empty:
        return _empty("opportunity_event_stats", columns)
    history = _prepare_stage_history(tables)
    events = _stage_events(opps, history).rename(columns={"ts": "event_timestamp"})
    events["stage_change_count"] = events.groupby("opportunity_id").cumcount()
    events["last_stage_change_at"] = events["event_timestamp"]
    events["is_closed"] = events["stage"].isin(("won", "lost"))
    # Undated source: one snapshot; the stage would reveal the outcome, so it is hidden.
    undated = opps[opps["created_at"].isna()]
    undated_closed = undated["outcome"].isin(("won", "lost"))
    undated_events = pd.DataFrame(
        {
            "opportunity_id": undated["opportunity_id"].astype(str),
            "event_timestamp": UNDATED_EVENT_TIMESTAMP,
            "stage": undated["stage"].astype(str).where(~undated_closed, None),
            "stage_change_count": 0,
            "last_stage_change_at": pd.NaT,
            "is_closed": False,
        }
    )
    snap = pd.concat([f for f in (events, undated_events) if len(f)], ignore_index=True)
    amounts = opps.set_index(opps["opportunity_id"].astype(str))["amount_minor"]
    amounts = amounts[~amounts.index.duplicated(keep="first")]
    known_amount = snap["is_closed"] | (snap["event_timestamp"] == UNDATED_EVENT_TIMESTAMP)
    snap["amount_minor"] = snap["opportunity_id"].map(amounts).where(known_amount, pd.NA)
    static = opps.set_index(opps["opportunity_id"].astype(str))
    static = static[~static.index.duplicated(keep="first")]
    ids = snap["opportunity_id"]
    for col in ("rep_id", "account_id", "product_id", "currency", "lead_source", "created_at"):
        snap[col] = ids.map(static[col])
    products = _table(tables, "products")
    accounts = _table(tables, "accounts")
    snap["product_category"] = _lookup(
        ids.map(static["product_id"]), products, "product_id", "category"
    )
    price = _product_prices(products)
    snap["product_list_price_minor"] = ids.map(static["product_id"]).map(price).astype("Int64")
    snap["account_sector"] = _lookup(
        ids.map(static["account_id"]), accounts, "account_id", "sector"
    )
    snap["account_employees"] = _lookup(
        ids.map(static["account_id"]), accounts, "account_id", "employees"
    ).astype("Int64")
    snap["account_annual_revenue_minor"] = ids.map(static["account_id"]).map(
        _account_revenues(accounts)
    )
    reps = _table(tables, "reps")
    rep_ids = ids.map(static["rep_id"])
    for col in ("team_id", "region_id"):  # the owner's current team and region
        snap[col] = _lookup(rep_ids, reps, "rep_id", col)
    attrs = _attr_values(static, OPPORTUNITY_ATTR_FEATURES, "opportunities")
    for col in OPPORTUNITY_ATTR_FEATURES:
        snap[col] = ids.map(attrs[col])
    snap["stage_index"] = snap["stage"].map(STAGE_INDEX).astype("Int64")
    snap["stage_change_count"] = snap["stage_change_count"].astype("int64")
    snap["is_closed"] = snap["is_closed"].astype(bool)
    snap["amount_minor"] = snap["amount_minor"].astype("Int64")
    snap["event_timestamp"] = snap["event_timestamp"].astype("datetime64[ns, UTC]")
    for col in ("created_at", "last_stage_change_at"):
        snap[col] = pd.to_datetime(snap[col], utc=True).astype("datetime64[ns, UTC]")
    for col in (
        "opportunity_id",
        "rep_id",
        "account_id",
        "product_id",
        "stage",
        "currency",
        "lead_source",
        "product_category",
        "account_sector",
    ):
        snap[col] = snap[col].astype("string")
    snap["created"] = created
    return conform(
        "opportunity_event_stats", snap.sort_values(["opportunity_id", "event_timestamp"])
    )


def _lookup(keys: pd.Series, frame: pd.DataFrame, key: str, column: str) -> pd.Series:
    if frame.empty or column not in frame.columns:
        return pd.Series([None] * len(keys), index=keys.index, dtype="object")
    mapping = frame.drop_duplicates(key).set_index(frame.drop_duplicates(key)[key].astype(str))[
        column
    ]
    return keys.astype("string").map(mapping)


def _account_revenues(accounts: pd.DataFrame) -> dict[str, object]:
    """Account annual revenue in minor units of the account's revenue currency."""
    if accounts.empty or "annual_revenue" not in accounts.columns:
        return {}
    minor = _minor_column(
        accounts.assign(revenue_currency=_column(accounts, "revenue_currency")),
        "annual_revenue",
        "revenue_currency",
        "accounts",
        "account_id",
    )
    return dict(zip(accounts["account_id"].astype(str), minor, strict=True))


def _product_prices(products: pd.DataFrame) -> dict[str, object]:
    if products.empty or "list_price" not in products.columns:
        return {}
    return {
        str(p.product_id): pd.NA
        if _is_missing(p.list_price)
        else _to_minor(p.list_price, p.currency, "products", p.product_id, "list_price")
        for p in products.itertuples(index=False)
    }


# --------------------------------------------------------------------------- leads


LEAD_NUMERIC = ("total_visits", "time_on_site_seconds", "page_views_per_visit")
LEAD_STRINGS = ("lead_source", "lead_origin", "country", "city", "occupation", "owner_rep_id")


def lead_created_columns() -> list[str]:
    return [
        "lead_id",
        "event_timestamp",
        "created",
        "created_at",
        *LEAD_STRINGS,
        *LEAD_NUMERIC,
        "do_not_email",
        "do_not_call",
        *LEAD_ATTR_FEATURES,
    ]


def build_lead_created_stats(
    tables: Mapping[str, pd.DataFrame], created: pd.Timestamp
) -> pd.DataFrame:
    """Lead attributes and engagement, as of the lead's creation. The outcome
    (`converted`) is never a feature; post-contact fields are left out."""
    leads = _table(tables, "leads")
    columns = lead_created_columns()
    if leads.empty:
        return _empty("lead_created_stats", columns)
    _require(leads, "leads", ("lead_id",))
    out = pd.DataFrame({"lead_id": leads["lead_id"].astype("string")})
    created_at = _utc(_column(leads, "created_at"), "leads", "created_at")
    out["created_at"] = created_at
    out["event_timestamp"] = created_at.fillna(UNDATED_EVENT_TIMESTAMP).astype(
        "datetime64[ns, UTC]"
    )
    for col in LEAD_STRINGS:
        out[col] = leads[col] if col in leads.columns else None
        out[col] = out[col].astype("string")
    for col in LEAD_NUMERIC:
        out[col] = pd.to_numeric(leads[col], errors="raise") if col in leads.columns else np.nan
        out[col] = out[col].astype("float64")
    for col in ("do_not_email", "do_not_call"):
        out[col] = leads[col] if col in leads.columns else pd.NA
        out[col] = out[col].astype("boolean")
    attrs = _attr_values(leads, LEAD_ATTR_FEATURES, "leads")
    for col in LEAD_ATTR_FEATURES:
        out[col] = attrs[col].to_numpy()
        out[col] = out[col].astype("string")
    out["created"] = created
    return conform("lead_created_stats", out.sort_values("lead_id"))


# --------------------------------------------------------------------------- reference


def build_account_profile_stats(
    tables: Mapping[str, pd.DataFrame], created: pd.Timestamp
) -> pd.DataFrame:
    """Static account attributes (no history in the canonical model)."""
    accounts = _table(tables, "accounts")
    columns = ACCOUNT_PROFILE_COLUMNS
    if accounts.empty:
        return _empty("account_profile_stats", columns)
    out = pd.DataFrame({"account_id": accounts["account_id"].astype("string")})
    out["event_timestamp"] = UNDATED_EVENT_TIMESTAMP
    for col in ("sector", "country", "revenue_currency"):
        out[col] = accounts[col] if col in accounts.columns else None
        out[col] = out[col].astype("string")
    out["employees"] = accounts["employees"] if "employees" in accounts.columns else pd.NA
    out["employees"] = out["employees"].astype("Int64")
    if "annual_revenue" in accounts.columns:
        out["annual_revenue_minor"] = _minor_column(
            accounts, "annual_revenue", "revenue_currency", "accounts", "account_id"
        ).to_numpy()
    else:
        out["annual_revenue_minor"] = pd.NA
    out["annual_revenue_minor"] = out["annual_revenue_minor"].astype("Int64")
    out["created"] = created
    return conform("account_profile_stats", out.sort_values("account_id"))


def build_product_profile_stats(
    tables: Mapping[str, pd.DataFrame], created: pd.Timestamp
) -> pd.DataFrame:
    products = _table(tables, "products")
    columns = PRODUCT_PROFILE_COLUMNS
    if products.empty:
        return _empty("product_profile_stats", columns)
    out = pd.DataFrame({"product_id": products["product_id"].astype("string")})
    out["event_timestamp"] = UNDATED_EVENT_TIMESTAMP
    for col in ("category", "subcategory", "currency"):
        out[col] = products[col] if col in products.columns else None
        out[col] = out[col].astype("string")
    prices = _product_prices(products)
    out["list_price_minor"] = out["product_id"].astype(str).map(prices).astype("Int64")
    out["created"] = created
    return conform("product_profile_stats", out.sort_values("product_id"))


# --------------------------------------------------------------------------- dtypes

_TS = "datetime64[ns, UTC]"


def _dtype_for(column: str) -> str:
    """Declared dtype of a feature-table column, from its naming convention."""
    if column in ("event_timestamp", "created", "created_at", "last_stage_change_at"):
        return _TS
    if column.endswith("_minor") and not column.startswith(("revenue_", "revenue_mtd")):
        return "Int64"  # amounts that can be unknown
    if column.startswith(("revenue_closed_", "revenue_mtd")):
        return "int64"
    if column == "pipeline_weighted_ratio":
        return "float64"
    if column.startswith(("deals_won_", "deals_lost_", "pipeline_")) or column in (
        "active_reps",
        "stage_change_count",
    ):
        return "int64"
    if column.startswith(("win_rate_", "cycle_time_", "trailing_3m_")) or column in (
        "attainment_mtd",
        "month_elapsed_fraction",
        "previous_month_attainment",
        "run_rate_projection",
        "quota_change",
        "quota_vs_recent_sales",
        "pipeline_weighted_ratio",
        *LEAD_NUMERIC,
        *OPPORTUNITY_NUMERIC_ATTRS,
    ):
        return "float64"
    if column == "month_of_quarter":
        return "int64"
    if column in ("stage_index", "account_employees", "employees"):
        return "Int64"
    if column in ("do_not_email", "do_not_call"):
        return "boolean"
    if column == "is_closed":
        return "bool"
    return "string"


def _dtypes(columns: Iterable[str]) -> dict[str, str]:
    return {c: _dtype_for(c) for c in columns}


ACCOUNT_PROFILE_COLUMNS = (
    "account_id",
    "event_timestamp",
    "created",
    "sector",
    "employees",
    "country",
    "annual_revenue_minor",
    "revenue_currency",
)
PRODUCT_PROFILE_COLUMNS = (
    "product_id",
    "event_timestamp",
    "created",
    "category",
    "subcategory",
    "list_price_minor",
    "currency",
)

FEATURE_TABLE_DTYPES: dict[str, dict[str, str]] = {
    "rep_daily_stats": _dtypes(rep_daily_columns()),
    "team_daily_stats": _dtypes(org_daily_columns("team")),
    "region_daily_stats": _dtypes(org_daily_columns("region")),
    "opportunity_event_stats": _dtypes(opportunity_event_columns()),
    "lead_created_stats": _dtypes(lead_created_columns()),
    "account_profile_stats": _dtypes(ACCOUNT_PROFILE_COLUMNS),
    "product_profile_stats": _dtypes(PRODUCT_PROFILE_COLUMNS),
}


# --------------------------------------------------------------------------- all


def compute_feature_tables(
    tables: Mapping[str, pd.DataFrame],
    created: dt.datetime | pd.Timestamp,
    territory_assignments: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """All feature tables from canonical frames (pure; `created` is the build time).

    `territory_assignments` (source, region, rep_id) switches those sources to
    territory crediting for the rep performance tables (`features.territories`).
    """
    stamp = pd.Timestamp(created)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    transactions = _table(tables, "transactions")
    if territory_assignments is not None and not transactions.empty:
        transactions = territory_credits(transactions, territory_assignments)
    # prepare the shared inputs once (money to minor units, timestamps to UTC)
    tables = {
        **tables,
        "opportunities": _prepare_opportunities(tables),
        "transactions": _prepare_transactions({"transactions": transactions}),
        "stage_history": _prepare_stage_history(tables),
    }
    rep_daily = build_rep_daily_stats(tables, stamp)
    return {
        "rep_daily_stats": rep_daily,
        "team_daily_stats": build_org_daily_stats(rep_daily, "team"),
        "region_daily_stats": build_org_daily_stats(rep_daily, "region"),
        "opportunity_event_stats": build_opportunity_event_stats(tables, stamp),
        "lead_created_stats": build_lead_created_stats(tables, stamp),
        "account_profile_stats": build_account_profile_stats(tables, stamp),
        "product_profile_stats": build_product_profile_stats(tables, stamp),
    }
