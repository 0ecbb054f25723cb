"""Seeded synthetic enrichment for the gaps in the real (sample) data.

The public datasets lack things the platform needs: Maven's deals have no
creation time, no stage history, no quotas and one currency; X Education's
leads have no timestamps and no owner; no dataset has rep hire dates. This
module fills those gaps with values that are

- deterministic: the same input, seed and `as_of` give identical output. Every
  random draw is a hash of (seed, gap name, row key), so it depends neither on
  row order nor on numpy's generator streams;
- labelled in the data itself: generated rows have `is_synthetic = True`; a
  generated VALUE on a real row is named in that row's `synthetic_fields`
  (comma-separated, sorted column names; null when none). Real values are
  never changed silently: the one rewrite of real values (the currency
  conversion of one region) keeps the imported amount and currency in
  `attr_source_amount` / `attr_source_currency`;
- documented: each gap is one small function below, and every run returns a
  list of what it generated, why and by which rule (docs/synthetic-data.md).

The functions work on canonical frames (dtypes of `features.ingest.dtypes`)
and never mutate their input.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from features.ingest.dtypes import (
    canonical_table,
    conform_frame,
    empty_frame,
    is_attr_column,
    pandas_dtype,
)
from features.ingest.schema import CANONICAL_TABLES, ColumnType
from spm_domain.money import EXACT_CONTEXT
from spm_domain.periods import Calendar

log = logging.getLogger(__name__)

DEFAULT_SEED = 20250101
SYNTHETIC_FIELDS = "synthetic_fields"
SOURCE_AMOUNT = "attr_source_amount"
SOURCE_CURRENCY = "attr_source_currency"
# Used only when a source has no real timestamp at all and no as_of is given.
FALLBACK_AS_OF = pd.Timestamp("2018-01-01T00:00:00Z")
_LAST_INSTANT_OF_DAY = pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
_WORKDAY_START_S = 8 * 3600  # synthetic times of day fall in 08:00-18:00 UTC
_WORKDAY_SPAN_S = 10 * 3600
_REVENUE = "revenue"


class EnrichmentError(ValueError):
    """The input cannot be enriched; the message names the table, row or id at fault."""


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SecondCurrencyRule:
    """Book one region's deals in a second currency, with synthetic monthly fx rates.

    Rates are `1 base_currency = rate currency`, a seeded random walk in whole
    millionths around `center_rate` (6 decimals, exact)."""

    #: The source whose region converts (other sources may have a "West" too).
    source: str = "maven_crm"
    region_name: str = "West"
    currency: str = "EUR"
    base_currency: str = "USD"
    center_rate: Decimal = Decimal("0.920000")
    max_monthly_step: Decimal = Decimal("0.015000")
    max_deviation: Decimal = Decimal("0.150000")


@dataclass(frozen=True)
class EnrichmentConfig:
    """Every tunable rule of the enrichment, with the documented defaults."""

    #: Only rows of these sources are enriched (None: every source).
    sources: frozenset[str] | None = None
    #: A deal's synthetic creation precedes its first dated event by 1..N days.
    max_created_before_engaged_days: int = 30
    #: Open deals with no date at all were created 1..N days before as_of.
    max_open_deal_age_days: int = 60
    second_currency: SecondCurrencyRule | None = SecondCurrencyRule()
    #: Monthly quota = growth x the rep's credited revenue three months earlier.
    quota_growth: Decimal = Decimal("1.00")
    #: Sources whose reps get derived quotas (None: every source). Only Maven
    #: needs them: AdventureWorks has real quotas, the others have no people.
    quota_sources: frozenset[str] | None = frozenset({"maven_crm"})
    quota_rounding: Decimal = Decimal("100")
    quota_floor: Decimal = Decimal("1000")
    quota_calendar: Calendar = field(default_factory=Calendar)
    #: Synthetic lead creation times are spread uniformly over [start, end)
    #: (or over the 365 days before as_of when as_of is given).
    lead_window_start: datetime = datetime(2017, 1, 1, tzinfo=UTC)
    lead_window_end: datetime = datetime(2018, 1, 1, tzinfo=UTC)
    max_lead_conversion_days: int = 60
    lead_owner_count: int = 8
    lead_owner_currency: str = "USD"
    #: Hire dates: 30..N days before a rep's first activity.
    max_hire_lead_days: int = 720
    #: Roles that are not people (Superstore's regional house accounts): no hire date.
    roles_without_hire_date: frozenset[str] = frozenset({"house_account"})

    def applies_to(self, source: object) -> bool:
        return self.sources is None or (isinstance(source, str) and source in self.sources)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class GeneratedItem:
    """One thing the enrichment generated: where, how many, why and by which rule."""

    gap: str
    table: str
    columns: tuple[str, ...]
    rows: int
    new_rows: bool
    reason: str
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "gap": self.gap,
            "table": self.table,
            "columns": list(self.columns),
            "rows": self.rows,
            "new_rows": self.new_rows,
            "reason": self.reason,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class EnrichmentResult:
    """All tables after enrichment (input tables, updated where needed, plus new ones)."""

    tables: dict[str, pd.DataFrame]
    updated: tuple[str, ...]
    generated: tuple[GeneratedItem, ...]
    seed: int
    as_of: datetime | None
    #: The as_of each source was enriched with (given, or its latest real activity).
    as_of_by_source: Mapping[str, pd.Timestamp] = field(default_factory=dict)

    def updated_tables(self) -> dict[str, pd.DataFrame]:
        return {name: self.tables[name] for name in self.updated}

    def report(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "as_of_by_source": {s: t.isoformat() for s, t in sorted(self.as_of_by_source.items())},
            "updated_tables": list(self.updated),
            "generated": [item.as_dict() for item in self.generated],
        }


@dataclass(frozen=True)
class GapOutput:
    tables: dict[str, pd.DataFrame]
    items: tuple[GeneratedItem, ...]


_NOTHING = GapOutput({}, ())


# ---------------------------------------------------------------- context and randomness


@dataclass(frozen=True)
class EnrichmentContext:
    seed: int
    config: EnrichmentConfig
    as_of: pd.Timestamp | None
    #: Default as_of per source: its latest real timestamp (before enrichment).
    latest_by_source: Mapping[str, pd.Timestamp]

    def as_of_for(self, source: object) -> pd.Timestamp:
        if self.as_of is not None:
            return self.as_of
        return self.latest_by_source.get(str(source), FALLBACK_AS_OF)

    def uniforms(self, gap: str, keys: Iterable[str]) -> np.ndarray:
        """One uniform draw in [0, 1) per key: a hash of (seed, gap, key)."""
        prefix = f"{self.seed}\x1f{gap}\x1f".encode()
        draws = [
            int.from_bytes(hashlib.blake2b(prefix + k.encode(), digest_size=8).digest(), "big")
            for k in keys
        ]
        return np.array(draws, dtype=np.float64) / 2.0**64

    def integers(self, gap: str, keys: Iterable[str], low: int, high: int) -> np.ndarray:
        """One integer in [low, high] (inclusive) per key."""
        u = self.uniforms(gap, keys)
        picks: np.ndarray = np.minimum(low + np.floor(u * (high - low + 1)).astype(np.int64), high)
        return picks


def _as_utc(value: datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise EnrichmentError(f"as_of {value!r} must be timezone-aware (UTC)")
    return ts.tz_convert("UTC")


#: The columns that record sales activity; their latest real value is a source's as_of.
ACTIVITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "opportunities": ("created_at", "engaged_at", "closed_at"),
    "stage_history": ("changed_at",),
    "transactions": ("credit_date",),
    "leads": ("created_at", "converted_at"),
}


def _latest_real_timestamps(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.Timestamp]:
    """Latest real activity timestamp per source (a date counts as its day's end)."""
    latest: dict[str, pd.Timestamp] = {}
    for name, columns in ACTIVITY_COLUMNS.items():
        frame = tables[name]
        if frame.empty:
            continue
        real = frame[~_synthetic_rows(frame)]
        for column in columns:
            values = real[column]
            if not isinstance(values.dtype, pd.DatetimeTZDtype):
                values = values.dt.tz_localize("UTC") + _LAST_INSTANT_OF_DAY
            masked = values.where(~_flagged(real, column))
            for source, ts in masked.groupby(real["source"].astype(str)).max().items():
                if pd.notna(ts) and (str(source) not in latest or ts > latest[str(source)]):
                    latest[str(source)] = pd.Timestamp(ts)
    return latest


# ---------------------------------------------------------------- flag helpers


def _synthetic_rows(frame: pd.DataFrame) -> pd.Series:
    if "is_synthetic" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["is_synthetic"].fillna(False).astype(bool)


def _flagged(frame: pd.DataFrame, column: str) -> pd.Series:
    """True where the column's value on a real row was generated by the enrichment."""
    if SYNTHETIC_FIELDS not in frame:
        return pd.Series(False, index=frame.index)
    return (
        frame[SYNTHETIC_FIELDS]
        .fillna("")
        .astype(str)
        .map(lambda text: column in text.split(","))
        .astype(bool)
    )


def synthetic_mask(frame: pd.DataFrame, column: str) -> pd.Series:
    """True where `frame[column]` is synthetic: a synthetic row, or a flagged value."""
    return _synthetic_rows(frame) | _flagged(frame, column)


def _per_source(sources: pd.Series, value_of: Callable[[str], Any]) -> pd.Series:
    """value_of(source) for each row, computed once per distinct source."""
    values = {s: value_of(str(s)) for s in sources.dropna().unique()}
    return sources.map(values).astype(object)


def synthetic_summary(tables: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """Per table: rows, synthetic rows, and how many real rows carry a synthetic
    value in each column (from `synthetic_fields`)."""
    summary: dict[str, dict[str, Any]] = {}
    for name, frame in tables.items():
        counts: dict[str, int] = {}
        if SYNTHETIC_FIELDS in frame:
            for text, n in frame[SYNTHETIC_FIELDS].dropna().value_counts().items():
                for column in str(text).split(","):
                    counts[column] = counts.get(column, 0) + int(n)
        summary[name] = {
            "rows": len(frame),
            "synthetic_rows": int(_synthetic_rows(frame).sum()),
            "flagged_values": dict(sorted(counts.items())),
        }
    return summary


def _add_flags(frame: pd.DataFrame, mask: pd.Series, columns: Sequence[str]) -> None:
    """Name `columns` in `synthetic_fields` of the real rows selected by `mask` (in place)."""
    targets = mask & ~_synthetic_rows(frame)
    if not targets.any():
        return
    merged: dict[object, str] = {}

    def merge(existing: object) -> str:
        if existing not in merged:
            names = set(existing.split(",")) if isinstance(existing, str) and existing else set()
            merged[existing] = ",".join(sorted(names | set(columns)))
        return merged[existing]

    current = frame[SYNTHETIC_FIELDS].astype(object)
    current[targets] = current[targets].map(merge)
    frame[SYNTHETIC_FIELDS] = current.astype(pd.StringDtype())


def _applies(frame: pd.DataFrame, ctx: EnrichmentContext) -> pd.Series:
    if ctx.config.sources is None:
        return pd.Series(True, index=frame.index)
    return frame["source"].map(ctx.config.applies_to).astype(bool)


def _append(
    table: str, existing: pd.DataFrame, rows: list[dict[str, Any]] | pd.DataFrame
) -> pd.DataFrame:
    """The existing rows, then the new ones, in canonical dtypes."""
    added = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if existing.empty:
        return conform_frame(added, table)
    return conform_frame(pd.concat([existing.astype(object), added], ignore_index=True), table)


def _random_time_of_day(ctx: EnrichmentContext, gap: str, keys: Sequence[str]) -> pd.TimedeltaIndex:
    seconds = ctx.integers(gap, keys, _WORKDAY_START_S, _WORKDAY_START_S + _WORKDAY_SPAN_S - 1)
    return pd.to_timedelta(seconds, unit="s")


# ---------------------------------------------------------------- gap: deal creation time


def fill_opportunity_created_at(
    tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext
) -> GapOutput:
    """Deals without created_at get one before their first dated event.

    Anchored deals (engaged_at or closed_at known): 1..N whole days before the
    day of that event, at a random time between 08:00 and 18:00 UTC. Open deals
    with no date at all: 1..M days before as_of. Closed deals with no date are
    left alone: there is nothing to anchor them to."""
    opps = tables["opportunities"]
    if opps.empty:
        return _NOTHING
    anchor = opps["engaged_at"].fillna(opps["closed_at"])
    is_open = opps["outcome"].astype(str) == "open"
    todo = opps["created_at"].isna() & _applies(opps, ctx) & (anchor.notna() | is_open)
    if not todo.any():
        return _NOTHING
    out = opps.copy()
    rows = out[todo]
    keys = rows["opportunity_id"].astype(str).tolist()
    cfg = ctx.config
    anchored = anchor[todo].notna().to_numpy()
    lag_days = np.where(
        anchored,
        ctx.integers("opportunity_created_lag", keys, 1, cfg.max_created_before_engaged_days),
        ctx.integers("opportunity_open_age", keys, 1, cfg.max_open_deal_age_days),
    )
    as_of_days = _per_source(rows["source"], lambda s: ctx.as_of_for(s).floor("D")).astype(
        "datetime64[ns, UTC]"
    )
    base_day = anchor[todo].dt.floor("D").where(anchor[todo].notna(), as_of_days)
    created = (
        base_day
        - pd.to_timedelta(lag_days, unit="D")
        + _random_time_of_day(ctx, "opportunity_created_time", keys)
    )
    out.loc[todo, "created_at"] = created.to_numpy()
    _add_flags(out, todo, ["created_at"])
    item = GeneratedItem(
        "opportunity_created_at",
        "opportunities",
        ("created_at",),
        int(todo.sum()),
        False,
        "the source records no creation time for deals",
        f"1-{cfg.max_created_before_engaged_days} days before engaged_at (else closed_at),"
        f" open deals without dates 1-{cfg.max_open_deal_age_days} days before as_of;"
        " time of day 08:00-18:00 UTC; independent of the outcome",
    )
    return GapOutput({"opportunities": out}, (item,))


# ---------------------------------------------------------------- gap: stage history


def synthesize_stage_history(
    tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext
) -> GapOutput:
    """Deals with no stage history get the path their dates prove: prospecting at
    created_at, engaging at engaged_at, won/lost at closed_at. Open deals get only
    what is known; no stage is invented without a date."""
    opps = tables["opportunities"]
    history = tables["stage_history"]
    if opps.empty:
        return _NOTHING
    has_history = set(history["opportunity_id"].dropna().astype(str))
    todo = _applies(opps, ctx) & ~opps["opportunity_id"].astype(str).isin(has_history)
    deals = opps[todo].reset_index(drop=True)
    closed = deals["outcome"].astype(str).isin(("won", "lost"))
    events = pd.concat(
        [
            _stage_events(deals, deals["created_at"], "prospecting", 0),
            _stage_events(deals, deals["engaged_at"], "engaging", 1),
            _stage_events(deals, deals["closed_at"].where(closed), deals["outcome"], 2),
        ]
    )
    if events.empty:
        return _NOTHING
    events = events.sort_values(["deal", "step"], kind="stable")
    # a real date out of order (closed before engaged) cannot be a path: drop it
    running_max = events.groupby("deal")["changed_at"].cummax()
    events = events[events["changed_at"] >= running_max]
    events["from_stage"] = events.groupby("deal")["to_stage"].shift(1)
    rows = events.assign(is_synthetic=True)[
        ["opportunity_id", "changed_at", "from_stage", "to_stage", "source", "is_synthetic"]
    ]
    item = GeneratedItem(
        "stage_history",
        "stage_history",
        ("opportunity_id", "changed_at", "from_stage", "to_stage"),
        len(rows),
        True,
        "the source keeps only each deal's current stage",
        "prospecting at created_at, engaging at engaged_at, won/lost at closed_at;"
        " open deals only up to their current known stage",
    )
    return GapOutput({"stage_history": _append("stage_history", history, rows)}, (item,))


def _stage_events(
    deals: pd.DataFrame, when: pd.Series, stage: str | pd.Series, step: int
) -> pd.DataFrame:
    known = when.notna()
    stages = stage[known] if isinstance(stage, pd.Series) else stage
    return pd.DataFrame(
        {
            "deal": deals.index[known],
            "step": step,
            "opportunity_id": deals.loc[known, "opportunity_id"],
            "changed_at": when[known],
            "to_stage": stages,
            "source": deals.loc[known, "source"],
        }
    )


# ---------------------------------------------------------------- gap: second currency


def _month_key(ts: pd.Timestamp) -> str:
    return f"{ts.year:04d}-{ts.month:02d}"


def _month_range(first: pd.Timestamp, last: pd.Timestamp) -> list[str]:
    """Month keys from first's month to last's month, inclusive."""
    start, end = (t.tz_localize(None) if t.tzinfo else t for t in (first, last))
    return [str(p) for p in pd.period_range(start, end, freq="M")]


def generate_fx_path(
    ctx: EnrichmentContext, rule: SecondCurrencyRule, months: Sequence[str]
) -> list[Decimal]:
    """A mean-reverting random walk in whole millionths: exact 6-decimal rates."""
    micro = Decimal("0.000001")
    center = int(rule.center_rate / micro)
    step = int(rule.max_monthly_step / micro)
    low = center - int(rule.max_deviation / micro)
    high = center + int(rule.max_deviation / micro)
    pair = f"{rule.base_currency}/{rule.currency}"
    steps = ctx.integers("fx_rates", [f"{pair}/{m}" for m in months], -step, step)
    rates: list[Decimal] = []
    current = center
    for i, delta in enumerate(steps):
        if i:
            reversion = int((center - current) / 4)  # pull a quarter of the gap back
            current = min(max(current + int(delta) + reversion, low), high)
        rates.append(Decimal(current).scaleb(-6))
    return rates


def _region_reps(
    tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext, source: str, name: str
) -> pd.Series:
    """Ids of the source's reps in the named region (by region_id or via their team)."""
    units = tables["org_units"]
    reps = tables["reps"]
    if units.empty or reps.empty:
        return pd.Series([], dtype=object)
    regions = units[
        (units["kind"].astype(str) == "region")
        & (units["name"].astype(str) == name)
        & (units["source"].astype(str) == source)
        & _applies(units, ctx)
    ]
    region_ids = set(regions["unit_id"].astype(str))
    team_ids = set(
        units.loc[units["parent_id"].astype(str).isin(region_ids), "unit_id"].astype(str)
    )
    inside = reps["region_id"].astype(str).isin(region_ids) | reps["team_id"].astype(str).isin(
        team_ids
    )
    return reps.loc[inside & _applies(reps, ctx), "rep_id"].astype(str)


def _convert_amounts(
    frame: pd.DataFrame,
    mask: pd.Series,
    month_of_row: pd.Series,
    rates: Mapping[str, Decimal],
    rule: SecondCurrencyRule,
    table: str,
    id_column: str,
) -> pd.DataFrame:
    out = frame.copy()
    if SOURCE_AMOUNT not in out:
        out[SOURCE_AMOUNT] = pd.Series([None] * len(out), index=out.index, dtype=object)
    if SOURCE_CURRENCY not in out:
        out[SOURCE_CURRENCY] = pd.Series(pd.NA, index=out.index, dtype=pd.StringDtype())
    amounts: list[Any] = list(out["amount"])
    source_amounts: list[Any] = list(out[SOURCE_AMOUNT])
    months: list[Any] = list(month_of_row)
    converted = [False] * len(out)
    for idx in np.flatnonzero(mask.to_numpy()):
        amount = amounts[idx]
        if not isinstance(amount, Decimal):
            continue
        month = str(months[idx])
        if month not in rates:
            raise EnrichmentError(
                f"{table} {id_column}={out[id_column].iloc[idx]!r}: no fx rate"
                f" {rule.base_currency}->{rule.currency} for month {month}"
            )
        source_amounts[idx] = amount
        amounts[idx] = EXACT_CONTEXT.multiply(amount, rates[month])
        converted[idx] = True
    has_amount = pd.Series(converted, index=out.index)
    out["amount"] = pd.Series(amounts, index=out.index, dtype=object)
    out[SOURCE_AMOUNT] = pd.Series(source_amounts, index=out.index, dtype=object)
    out.loc[mask, SOURCE_CURRENCY] = rule.base_currency
    out.loc[mask, "currency"] = rule.currency
    _add_flags(out, mask & has_amount, ["amount", "currency"])
    _add_flags(out, mask & ~has_amount, ["currency"])
    return out


def convert_region_to_second_currency(
    tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext
) -> GapOutput:
    """One region books in a second currency: its reps are paid in it, its deals
    and credits are converted exactly (amount x the month's rate, unrounded)."""
    rule = ctx.config.second_currency
    if rule is None:
        return _NOTHING
    rep_ids = set(_region_reps(tables, ctx, rule.source, rule.region_name))
    if not rep_ids:
        log.info("second currency: no region named %r; nothing converted", rule.region_name)
        return _NOTHING
    reps, opps, credits = tables["reps"], tables["opportunities"], tables["transactions"]
    rep_rows = reps["rep_id"].astype(str).isin(rep_ids) & (
        reps["currency"].astype(str) == rule.base_currency
    )
    opp_rows = (
        opps["rep_id"].astype(str).isin(rep_ids)
        & (opps["currency"].astype(str) == rule.base_currency)
        & _applies(opps, ctx)
    )
    credit_rows = _credit_rows_to_convert(credits, rep_ids, rule, ctx)
    if not (rep_rows.any() or opp_rows.any() or credit_rows.any()):
        return _NOTHING

    sources = set(reps.loc[reps["rep_id"].astype(str).isin(rep_ids), "source"].astype(str))
    as_of_month = {s: _month_key(ctx.as_of_for(s)) for s in sources}
    opp_month = (
        opps["closed_at"]
        .dt.strftime("%Y-%m")
        .astype(object)
        .where(opps["closed_at"].notna(), _per_source(opps["source"], as_of_month.get))
    )
    credit_month = credits["credit_date"].dt.strftime("%Y-%m").astype(object)

    rates, fx_out, fx_items = _fx_rates_for(tables, ctx, rule, sources)
    updated: dict[str, pd.DataFrame] = {}
    items: list[GeneratedItem] = list(fx_items)
    if fx_out is not None:
        updated["fx_rates"] = fx_out
    reason = "the source has one currency only; multi-currency paths need a second one"
    rule_text = (
        f"region {rule.region_name!r}: {rule.base_currency} amounts x the month's"
        f" {rule.base_currency}->{rule.currency} rate (exact, unrounded);"
        f" imported values kept in {SOURCE_AMOUNT}/{SOURCE_CURRENCY}"
    )
    if opp_rows.any():
        updated["opportunities"] = _convert_amounts(
            opps, opp_rows, opp_month, rates, rule, "opportunities", "opportunity_id"
        )
        items.append(
            GeneratedItem(
                "second_currency",
                "opportunities",
                ("amount", "currency"),
                int(opp_rows.sum()),
                False,
                reason,
                rule_text + "; month of closed_at (open deals: month of as_of)",
            )
        )
    if credit_rows.any():
        updated["transactions"] = _convert_amounts(
            credits, credit_rows, credit_month, rates, rule, "transactions", "transaction_id"
        )
        items.append(
            GeneratedItem(
                "second_currency",
                "transactions",
                ("amount", "currency"),
                int(credit_rows.sum()),
                False,
                reason,
                rule_text + "; month of credit_date",
            )
        )
    if rep_rows.any():
        new_reps = reps.copy()
        new_reps.loc[rep_rows, "currency"] = rule.currency
        _add_flags(new_reps, rep_rows, ["currency"])
        updated["reps"] = new_reps
        items.append(
            GeneratedItem(
                "second_currency",
                "reps",
                ("currency",),
                int(rep_rows.sum()),
                False,
                reason,
                f"reps of region {rule.region_name!r} are paid in {rule.currency}",
            )
        )
    return GapOutput(updated, tuple(items))


def _credit_rows_to_convert(
    credits: pd.DataFrame, rep_ids: set[str], rule: SecondCurrencyRule, ctx: EnrichmentContext
) -> pd.Series:
    """Credit rows to convert: a transaction converts only if ALL its rows qualify,
    so the split rows of one transaction never end up in two currencies."""
    if credits.empty:
        return pd.Series(False, index=credits.index)
    candidate = (
        credits["rep_id"].astype(str).isin(rep_ids)
        & (credits["currency"].astype(str) == rule.base_currency)
        & _applies(credits, ctx)
    )
    whole = candidate.groupby(credits["transaction_id"].astype(str)).transform("all")
    return candidate & whole.astype(bool)


def _fx_rates_for(
    tables: Mapping[str, pd.DataFrame],
    ctx: EnrichmentContext,
    rule: SecondCurrencyRule,
    sources: set[str],
) -> tuple[dict[str, Decimal], pd.DataFrame | None, tuple[GeneratedItem, ...]]:
    """The month -> rate map for the pair, generating the months the table lacks."""
    fx = tables["fx_rates"]
    pair = (fx["from_currency"].astype(str) == rule.base_currency) & (
        fx["to_currency"].astype(str) == rule.currency
    )
    existing = {
        str(p): Decimal(r)
        for p, r in zip(fx.loc[pair, "period"], fx.loc[pair, "rate"], strict=True)
    }
    months = _months_spanned(tables, ctx, sources)
    missing = [m for m in months if m not in existing]
    if not missing:
        return existing, None, ()
    if existing:
        raise EnrichmentError(
            f"fx_rates: {rule.base_currency}->{rule.currency} has rates but lacks months"
            f" {missing[:3]}{'...' if len(missing) > 3 else ''}; complete them or remove the pair"
        )
    path = generate_fx_path(ctx, rule, months)
    source = sorted(sources)[0] if sources else "enrichment"
    rows = [
        {
            "period": month,
            "from_currency": rule.base_currency,
            "to_currency": rule.currency,
            "rate": rate,
            "source": source,
            "is_synthetic": True,
        }
        for month, rate in zip(months, path, strict=True)
    ]
    item = GeneratedItem(
        "fx_rates",
        "fx_rates",
        ("period", "from_currency", "to_currency", "rate"),
        len(rows),
        True,
        "no fx rates exist for the synthetic second currency",
        f"monthly {rule.base_currency}->{rule.currency}: seeded mean-reverting walk in"
        f" millionths around {rule.center_rate}, steps <= {rule.max_monthly_step},"
        f" within +/-{rule.max_deviation}",
    )
    return dict(zip(months, path, strict=True)), _append("fx_rates", fx, rows), (item,)


def _months_spanned(
    tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext, sources: set[str]
) -> list[str]:
    """Every month from the sources' first deal or credit date to their as_of."""
    stamps: list[pd.Timestamp] = [ctx.as_of_for(s) for s in sources]
    opps = tables["opportunities"]
    in_source = opps["source"].astype(str).isin(sources)
    for col in ("created_at", "engaged_at", "closed_at"):
        values = opps.loc[in_source, col].dropna()
        if len(values):
            stamps += [values.min(), values.max()]
    credits = tables["transactions"]
    dates = credits.loc[credits["source"].astype(str).isin(sources), "credit_date"].dropna()
    if len(dates):
        stamps += [dates.min().tz_localize("UTC"), dates.max().tz_localize("UTC")]
    first, last = min(stamps), max(stamps)
    return _month_range(first, last)


# ---------------------------------------------------------------- gap: quotas


def _credited_revenue(tables: Mapping[str, pd.DataFrame], reps: pd.DataFrame) -> pd.DataFrame:
    """Credited revenue per (rep_id, month) in the rep's own currency: credits
    (amount x share) where the rep has any, else won deals by close month."""
    currency_of = dict(zip(reps["rep_id"].astype(str), reps["currency"].astype(str), strict=True))
    credits = tables["transactions"]
    parts: list[pd.DataFrame] = []
    with_credits: set[str] = set()
    if not credits.empty:
        c = credits[credits["rep_id"].astype(str).isin(currency_of)]
        c = c[c["currency"].astype(str) == c["rep_id"].astype(str).map(currency_of)]
        c = c[c["amount"].notna() & c["credit_date"].notna()]
        with_credits = set(c["rep_id"].astype(str))
        parts.append(
            pd.DataFrame(
                {
                    "rep_id": c["rep_id"].astype(str),
                    "month": c["credit_date"].map(_month_key),
                    "revenue": [
                        EXACT_CONTEXT.multiply(a, s if s is not None else Decimal(1))
                        for a, s in zip(c["amount"], c["share"], strict=True)
                    ],
                }
            )
        )
    opps = tables["opportunities"]
    if not opps.empty:
        o = opps[
            opps["rep_id"].astype(str).isin(set(currency_of) - with_credits)
            & (opps["outcome"].astype(str) == "won")
            & opps["amount"].notna()
            & opps["closed_at"].notna()
        ]
        o = o[o["currency"].astype(str) == o["rep_id"].astype(str).map(currency_of)]
        parts.append(
            pd.DataFrame(
                {
                    "rep_id": o["rep_id"].astype(str),
                    "month": o["closed_at"].map(_month_key),
                    "revenue": list(o["amount"]),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=["rep_id", "month", "revenue"])
    return frame.groupby(["rep_id", "month"], sort=True)["revenue"].agg(_decimal_sum).reset_index()


def _decimal_sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def _reference_month(month: str, covered: Sequence[str]) -> str:
    """Three months earlier when the data covers it; else the next covered month
    at the same position in a later quarter (bootstrap for the first months)."""
    index = covered.index(month)
    if index >= 3:
        return covered[index - 3]
    later = index + 3
    return covered[later] if later < len(covered) else month


def _round_quota(value: Decimal, cfg: EnrichmentConfig) -> Decimal:
    scaled = EXACT_CONTEXT.divide(
        EXACT_CONTEXT.multiply(value, cfg.quota_growth), cfg.quota_rounding
    )
    rounded = scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=EXACT_CONTEXT)
    return max(cfg.quota_floor, EXACT_CONTEXT.multiply(rounded, cfg.quota_rounding))


def derive_revenue_quotas(tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext) -> GapOutput:
    """Reps without any revenue quota get monthly and quarterly ones from their
    trailing credited revenue; managers without one get their reports' sum."""
    reps, quotas = tables["reps"], tables["quotas"]
    if reps.empty:
        return _NOTHING
    cfg = ctx.config
    has_quota = set(
        quotas.loc[quotas["measure"].astype(str) == _REVENUE, "rep_id"].dropna().astype(str)
    )
    in_scope = (
        reps["source"]
        .map(lambda s: cfg.quota_sources is None or str(s) in cfg.quota_sources)
        .astype(bool)
    )
    eligible = reps[_applies(reps, ctx) & in_scope & ~reps["rep_id"].astype(str).isin(has_quota)]
    revenue = _credited_revenue(tables, eligible)
    if revenue.empty:
        return _NOTHING
    source_of = dict(
        zip(eligible["rep_id"].astype(str), eligible["source"].astype(str), strict=True)
    )
    currency_of = dict(
        zip(eligible["rep_id"].astype(str), eligible["currency"].astype(str), strict=True)
    )
    revenue["source"] = revenue["rep_id"].map(source_of)
    monthly: dict[tuple[str, str], Decimal] = {}
    for source, part in revenue.groupby("source", sort=True):
        covered = _month_range(pd.Timestamp(part["month"].min()), pd.Timestamp(part["month"].max()))
        earned = {
            (r, m): v
            for r, m, v in zip(part["rep_id"], part["month"], part["revenue"], strict=True)
        }
        for rep_id in sorted(set(part["rep_id"])):
            for month in covered:
                base = earned.get((rep_id, _reference_month(month, covered)), Decimal(0))
                monthly[(rep_id, month)] = _round_quota(base, cfg)
        log.debug("derived quotas for source %s over %s..%s", source, covered[0], covered[-1])
    monthly.update(_manager_rollups(eligible, monthly, currency_of))
    rows = _quota_rows(monthly, cfg.quota_calendar, source_of, currency_of)
    item = GeneratedItem(
        "derived_quotas",
        "quotas",
        ("rep_id", "period", "measure", "quota", "currency"),
        len(rows),
        True,
        "the source has no quotas; attainment and commission need them",
        f"month quota = max({cfg.quota_floor}, round_half_up(growth {cfg.quota_growth} x the"
        f" rep's credited revenue 3 months earlier, to {cfg.quota_rounding})); the first"
        " 3 covered months use the month 3 later; quarter quota = sum of its month quotas"
        " (over the months the data covers); managers without quota: sum of their reports'",
    )
    return GapOutput({"quotas": _append("quotas", quotas, rows)}, (item,))


def _manager_rollups(
    eligible: pd.DataFrame,
    monthly: Mapping[tuple[str, str], Decimal],
    currency_of: Mapping[str, str],
) -> dict[tuple[str, str], Decimal]:
    """Managers with no derived quota of their own carry the sum of their direct
    reports' month quotas, when all of those are in the manager's currency."""
    with_quota = {rep for rep, _ in monthly}
    rollups: dict[tuple[str, str], Decimal] = {}
    for manager_id, reports in eligible.groupby(eligible["manager_id"].astype(str), sort=True):
        if manager_id in with_quota or manager_id not in currency_of:
            continue
        ids = [r for r in reports["rep_id"].astype(str) if r in with_quota]
        if not ids or any(currency_of[r] != currency_of[manager_id] for r in ids):
            continue
        for (rep_id, month), value in monthly.items():
            if rep_id in ids:
                key = (manager_id, month)
                rollups[key] = rollups.get(key, Decimal(0)) + value
    return rollups


def _quota_rows(
    monthly: Mapping[tuple[str, str], Decimal],
    calendar: Calendar,
    source_of: Mapping[str, str],
    currency_of: Mapping[str, str],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    quarters: dict[tuple[str, str], list[Decimal]] = {}
    for (rep_id, month), value in sorted(monthly.items()):
        rows.append(_quota_row(rep_id, month, value, source_of, currency_of))
        start = calendar.parse(month).start
        fiscal_year = calendar.fiscal_year_of(start)
        for q in range(1, 5):
            period = calendar.quarter(fiscal_year, q)
            if period.contains(start):
                quarters.setdefault((rep_id, period.key), []).append(value)
    # A quarter the data covers only partly (Maven starts in March 2017) gets the
    # sum of its covered months: every credited quarter then has a quota, as an
    # attainment-based commission plan requires, and months still add up exactly.
    for (rep_id, key), values in sorted(quarters.items()):
        rows.append(_quota_row(rep_id, key, sum(values, Decimal(0)), source_of, currency_of))
    return rows


def _quota_row(
    rep_id: str,
    period: str,
    value: Decimal,
    source_of: Mapping[str, str],
    currency_of: Mapping[str, str],
) -> dict[str, Any]:
    return {
        "rep_id": rep_id,
        "period": period,
        "measure": _REVENUE,
        "quota": value,
        "currency": currency_of[rep_id],
        "source": source_of[rep_id],
        "is_synthetic": True,
    }


# ---------------------------------------------------------------- gap: lead timestamps


def _lead_window(ctx: EnrichmentContext) -> tuple[pd.Timestamp, pd.Timestamp]:
    if ctx.as_of is not None:
        return ctx.as_of - pd.Timedelta(days=365), ctx.as_of
    return _as_utc(ctx.config.lead_window_start), _as_utc(ctx.config.lead_window_end)


def fill_lead_created_at(tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext) -> GapOutput:
    """Leads without created_at get one uniformly spread over the lead window,
    drawn from the lead id only (so it is independent of the outcome)."""
    leads = tables["leads"]
    if leads.empty:
        return _NOTHING
    todo = leads["created_at"].isna() & _applies(leads, ctx)
    if not todo.any():
        return _NOTHING
    start, end = _lead_window(ctx)
    span = int((end - start).total_seconds())
    keys = leads.loc[todo, "lead_id"].astype(str).tolist()
    offsets = ctx.integers("lead_created_at", keys, 0, span - 1)
    out = leads.copy()
    out.loc[todo, "created_at"] = (start + pd.to_timedelta(offsets, unit="s")).to_numpy()
    _add_flags(out, todo, ["created_at"])
    item = GeneratedItem(
        "lead_created_at",
        "leads",
        ("created_at",),
        int(todo.sum()),
        False,
        "the source has no lead timestamps",
        f"uniform over [{start.isoformat()}, {end.isoformat()}) to the second, keyed by lead_id",
    )
    return GapOutput({"leads": out}, (item,))


def fill_lead_converted_at(tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext) -> GapOutput:
    """Converted leads without converted_at convert 0..N days after creation,
    never after the end of the lead window."""
    leads = tables["leads"]
    if leads.empty:
        return _NOTHING
    converted = leads["converted"].fillna(False).astype(bool)
    todo = (
        converted
        & leads["converted_at"].isna()
        & leads["created_at"].notna()
        & _applies(leads, ctx)
    )
    if not todo.any():
        return _NOTHING
    _, end = _lead_window(ctx)
    cfg = ctx.config
    created = leads.loc[todo, "created_at"]
    room = ((end - created).dt.total_seconds()).clip(lower=0)
    max_lag = np.minimum(room.to_numpy(), cfg.max_lead_conversion_days * 86400.0)
    u = ctx.uniforms("lead_converted_lag", leads.loc[todo, "lead_id"].astype(str))
    lag_seconds = np.floor(u * max_lag).astype(np.int64)
    out = leads.copy()
    out.loc[todo, "converted_at"] = (created + pd.to_timedelta(lag_seconds, unit="s")).to_numpy()
    _add_flags(out, todo, ["converted_at"])
    item = GeneratedItem(
        "lead_converted_at",
        "leads",
        ("converted_at",),
        int(todo.sum()),
        False,
        "the source records the conversion outcome but not when it happened",
        f"created_at + uniform 0-{cfg.max_lead_conversion_days} days, capped at the window end",
    )
    return GapOutput({"leads": out}, (item,))


# ---------------------------------------------------------------- gap: lead owners


def _owner_ids(source: str, count: int) -> list[str]:
    return [f"syn-{source}-rep-{i:02d}" for i in range(1, count + 1)]


def assign_lead_owners(tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext) -> GapOutput:
    """Leads without an owner are assigned to a small synthetic inside-sales team
    of their source (not to another dataset's real reps: the datasets are
    different businesses, and real reps' figures must stay real)."""
    leads = tables["leads"]
    if leads.empty:
        return _NOTHING
    todo = leads["owner_rep_id"].isna() & _applies(leads, ctx)
    if not todo.any():
        return _NOTHING
    cfg = ctx.config
    reps, units = tables["reps"], tables["org_units"]
    out = leads.copy()
    new_reps: list[dict[str, Any]] = []
    new_units: list[dict[str, Any]] = []
    known_reps = set(reps["rep_id"].astype(str))
    for source in sorted(set(leads.loc[todo, "source"].astype(str))):
        in_source = todo & (leads["source"].astype(str) == source)
        owners = _owner_ids(source, cfg.lead_owner_count)
        picks = ctx.integers(
            "lead_owner", leads.loc[in_source, "lead_id"].astype(str), 0, len(owners) - 1
        )
        out.loc[in_source, "owner_rep_id"] = [owners[i] for i in picks]
        team_id, region_id, units_rows = _synthetic_team(units, source)
        new_units += units_rows
        new_reps += [
            {
                "rep_id": rep_id,
                "name": f"Synthetic rep {i:02d} ({source})",
                "manager_id": None,
                "team_id": team_id,
                "region_id": region_id,
                "role": "SDR",
                "hire_date": None,
                "termination_date": None,
                "currency": cfg.lead_owner_currency,
                "source": source,
                "is_synthetic": True,
            }
            for i, rep_id in enumerate(owners, start=1)
            if rep_id not in known_reps
        ]
    _add_flags(out, todo, ["owner_rep_id"])
    updated = {"leads": out}
    items = [
        GeneratedItem(
            "lead_owners",
            "leads",
            ("owner_rep_id",),
            int(todo.sum()),
            False,
            "the source has no lead owner",
            f"uniform among {cfg.lead_owner_count} synthetic reps per source, keyed by lead_id",
        )
    ]
    if new_reps:
        updated["reps"] = _append("reps", reps, new_reps)
        items.append(
            GeneratedItem(
                "lead_owners",
                "reps",
                ("rep_id", "name", "role", "currency"),
                len(new_reps),
                True,
                "lead owners need reps; no real rep works these leads",
                "ids syn-<source>-rep-NN, role SDR",
            )
        )
    if new_units:
        updated["org_units"] = _append("org_units", units, new_units)
        items.append(
            GeneratedItem(
                "lead_owners",
                "org_units",
                ("unit_id", "kind", "name", "parent_id"),
                len(new_units),
                True,
                "the synthetic lead owners' place in the org",
                "one region and one team per source, under its company root (a synthetic one if none)",
            )
        )
    return GapOutput(updated, tuple(items))


def _synthetic_team(
    units: pd.DataFrame, source: str
) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """A synthetic region + team for a source's lead owners under that source's
    company root (created too when the source has no org at all); none when
    the source has several roots to choose from."""
    of_source = units[units["source"].astype(str) == source]
    roots = of_source.loc[of_source["kind"].astype(str) == "company", "unit_id"].astype(str)
    if len(roots) > 1:
        return None, None, []
    root_id = roots.iloc[0] if len(roots) else f"company:syn-{source}"
    region_id, team_id = f"region:syn-{source}", f"team:syn-{source}-inside-sales"
    known = set(units["unit_id"].astype(str))
    rows = [
        {
            "unit_id": uid,
            "kind": kind,
            "name": name,
            "parent_id": parent,
            "source": source,
            "is_synthetic": True,
        }
        for uid, kind, name, parent in (
            (root_id, "company", f"Synthetic company ({source})", None),
            (region_id, "region", f"Synthetic inside sales ({source})", root_id),
            (team_id, "team", f"Synthetic inside sales team ({source})", region_id),
        )
        if uid not in known
    ]
    return team_id, region_id, rows


# ---------------------------------------------------------------- gap: hire dates


def _first_activity(
    tables: Mapping[str, pd.DataFrame], calendar: Calendar
) -> dict[str, pd.Timestamp]:
    """Earliest dated trace of each rep: deals, credits, owned leads, quota periods."""
    stamps: list[pd.Series] = []
    opps = tables["opportunities"]
    for col in ("created_at", "engaged_at", "closed_at"):
        stamps.append(opps[col].dt.tz_localize(None).groupby(opps["rep_id"].astype(str)).min())
    credits = tables["transactions"]
    stamps.append(credits["credit_date"].groupby(credits["rep_id"].astype(str)).min())
    leads = tables["leads"]
    stamps.append(
        leads["created_at"].dt.tz_localize(None).groupby(leads["owner_rep_id"].astype(str)).min()
    )
    quotas = tables["quotas"]
    if not quotas.empty:
        starts = pd.Series(
            [_period_start(str(p), calendar) for p in quotas["period"]],
            index=quotas.index,
            dtype="datetime64[ns]",
        )
        stamps.append(starts.groupby(quotas["rep_id"].astype(str)).min())
    present = [s.dropna() for s in stamps if s.notna().any()]
    if not present:
        return {}
    merged = pd.concat(present)
    return {str(k): pd.Timestamp(v) for k, v in merged.groupby(level=0).min().items()}


def _period_start(key: str, calendar: Calendar) -> datetime | None:
    try:
        start = calendar.parse(key).start
    except ValueError:
        return None
    return datetime(start.year, start.month, start.day)


def fill_rep_hire_dates(tables: Mapping[str, pd.DataFrame], ctx: EnrichmentContext) -> GapOutput:
    """Reps without a hire date: 30..N days before their first activity; managers
    without activity: 180..N+180 days before their team's first activity; reps
    with no trace at all: recent hires, 7..60 days before as_of."""
    reps = tables["reps"]
    if reps.empty:
        return _NOTHING
    people = ~reps["role"].astype(str).isin(ctx.config.roles_without_hire_date)
    todo = reps["hire_date"].isna() & people & _applies(reps, ctx)
    if not todo.any():
        return _NOTHING
    cfg = ctx.config
    first = _first_activity(tables, cfg.quota_calendar)
    team_first: dict[str, pd.Timestamp] = {}
    for rep_id, manager_id in zip(reps["rep_id"].astype(str), reps["manager_id"], strict=True):
        if pd.notna(manager_id) and rep_id in first:
            m = str(manager_id)
            team_first[m] = min(team_first.get(m, first[rep_id]), first[rep_id])
    rows = reps[todo]
    keys = rows["rep_id"].astype(str).tolist()
    own_lag = ctx.integers("hire_before_first_activity", keys, 30, cfg.max_hire_lead_days)
    manager_lag = ctx.integers("hire_manager", keys, 180, cfg.max_hire_lead_days + 180)
    recent_lag = ctx.integers("hire_recent", keys, 7, 60)
    hires: list[pd.Timestamp] = []
    for i, (rep_id, source, ended) in enumerate(
        zip(keys, rows["source"], rows["termination_date"], strict=True)
    ):
        if rep_id in first:
            hire = first[rep_id].floor("D") - pd.Timedelta(days=int(own_lag[i]))
        elif rep_id in team_first:
            hire = team_first[rep_id].floor("D") - pd.Timedelta(days=int(manager_lag[i]))
        else:
            as_of_day = ctx.as_of_for(source).tz_localize(None).floor("D")
            hire = as_of_day - pd.Timedelta(days=int(recent_lag[i]))
        if pd.notna(ended) and hire > ended:
            hire = pd.Timestamp(ended)
        hires.append(hire)
    out = reps.copy()
    out.loc[todo, "hire_date"] = pd.to_datetime(hires).to_numpy()
    _add_flags(out, todo, ["hire_date"])
    item = GeneratedItem(
        "rep_hire_dates",
        "reps",
        ("hire_date",),
        int(todo.sum()),
        False,
        "no dataset records hire dates; tenure features need them",
        f"30-{cfg.max_hire_lead_days} days before the rep's first deal, credit, lead or quota;"
        f" managers without any: 180-{cfg.max_hire_lead_days + 180} days before their"
        " team's first; reps with no trace: 7-60 days before as_of",
    )
    return GapOutput({"reps": out}, (item,))


# ---------------------------------------------------------------- orchestration

Gap = Callable[[Mapping[str, pd.DataFrame], EnrichmentContext], GapOutput]

#: The gaps, in dependency order (stage history needs created_at, quotas need
#: the converted credits, hire dates need every other activity).
GAPS: tuple[Gap, ...] = (
    fill_opportunity_created_at,
    synthesize_stage_history,
    convert_region_to_second_currency,
    derive_revenue_quotas,
    fill_lead_created_at,
    fill_lead_converted_at,
    assign_lead_owners,
    fill_rep_hire_dates,
)


def _has_canonical_dtype(series: pd.Series, column_type: ColumnType) -> bool:
    if series.dtype != pandas_dtype(column_type):
        return False
    if column_type is ColumnType.DECIMAL:
        return set(map(type, series)) <= {Decimal, type(None)}
    return True


def _canonical(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The frame in canonical column order and dtypes. conform_frame's per-value
    coercion (slow on 100k rows) runs only when some dtype is not canonical yet."""
    table = canonical_table(name)
    order = [*table.column_names, *sorted(c for c in frame.columns if is_attr_column(c))]
    if set(frame.columns) == set(order) and all(
        _has_canonical_dtype(frame[c.name], c.type) for c in table.columns
    ):
        return frame[order].reset_index(drop=True)
    return conform_frame(frame, table)


def _prepare_inputs(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    unknown = sorted(set(tables) - set(CANONICAL_TABLES))
    if unknown:
        raise EnrichmentError(f"unknown tables {unknown}; known: {', '.join(CANONICAL_TABLES)}")
    prepared: dict[str, pd.DataFrame] = {}
    for name in CANONICAL_TABLES:
        frame = tables.get(name)
        if frame is None:
            prepared[name] = empty_frame(name)
            continue
        try:
            prepared[name] = _canonical(frame, name)
        except (KeyError, TypeError, ValueError) as exc:
            raise EnrichmentError(f"table {name}: {exc}") from exc
    return prepared


def enrich(
    tables: Mapping[str, pd.DataFrame],
    *,
    seed: int = DEFAULT_SEED,
    as_of: datetime | None = None,
    config: EnrichmentConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> EnrichmentResult:
    """Fill the documented gaps of canonical tables with seeded synthetic values.

    `as_of` bounds what may be generated (open deals are created before it,
    leads fall in the year before it); by default each source's latest real
    timestamp is its as_of. Returns the input tables (updated where a gap was
    filled) plus the new ones, and the list of what was generated and why.
    `progress(gap_name)` is called after each gap (for progress bars).
    """
    cfg = config or EnrichmentConfig()
    working = _prepare_inputs(tables)
    ctx = EnrichmentContext(
        seed=seed,
        config=cfg,
        as_of=_as_utc(as_of) if as_of is not None else None,
        latest_by_source=_latest_real_timestamps(working),
    )
    updated: list[str] = []
    generated: list[GeneratedItem] = []
    for gap in GAPS:
        output = gap(working, ctx)
        for name, frame in output.tables.items():
            working[name] = frame
            if name not in updated:
                updated.append(name)
        generated.extend(output.items)
        for item in output.items:
            log.info("enrichment %s: %d %s rows (%s)", item.gap, item.rows, item.table, item.rule)
        if progress is not None:
            progress(gap.__name__)
    for name in updated:  # gaps keep canonical dtypes; this also orders the columns
        working[name] = _canonical(working[name], name)
    result_tables = {
        name: frame for name, frame in working.items() if name in tables or name in updated
    }
    return EnrichmentResult(
        tables=result_tables,
        updated=tuple(n for n in CANONICAL_TABLES if n in updated),
        generated=tuple(generated),
        seed=seed,
        as_of=as_of,
        as_of_by_source={
            str(s): ctx.as_of_for(s)
            for name in ACTIVITY_COLUMNS
            for s in working[name]["source"].dropna().unique()
        },
    )


def with_config(base: EnrichmentConfig | None = None, **changes: Any) -> EnrichmentConfig:
    """A copy of the (default) configuration with some rules changed."""
    return replace(base or EnrichmentConfig(), **changes)
