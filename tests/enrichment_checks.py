"""Invariant checks shared by the enrichment's unit, property and data tests.
Each raises AssertionError naming the table, row and column at fault."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pandas as pd

from features.ingest.enrichment import SOURCE_AMOUNT, SYNTHETIC_FIELDS, synthetic_mask
from features.ingest.schema import CANONICAL_TABLES
from features.ingest.validation import describe_issues, validate_tables
from spm_domain.periods import Calendar


def assert_canonical(tables: Mapping[str, pd.DataFrame]) -> None:
    issues = describe_issues(validate_tables(tables))
    assert not issues, "\n".join(issues[:20])


def _input_rows(name: str, old: pd.DataFrame, after: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The rows of `after` that came from `old`: input rows keep their order and
    come first, new rows go last."""
    new = after[name]
    assert len(new) >= len(old), f"{name}: rows were dropped"
    head = new.iloc[: len(old)].reset_index(drop=True)
    key = list(CANONICAL_TABLES[name].primary_key)
    assert head[key].astype(str).equals(old[key].astype(str).reset_index(drop=True)), (
        f"{name}: input rows moved"
    )
    return head


def _changed(old: pd.Series, new: pd.Series) -> pd.Series:
    """Per row: the value differs (NA = NA; Decimal('1') != Decimal('1.0') as text)."""
    old, new = old.reset_index(drop=True), new.reset_index(drop=True)
    both_na = old.isna() & new.isna()
    if old.dtype == object or new.dtype == object:
        same = pd.Series([repr(a) == repr(b) for a, b in zip(old, new, strict=True)], dtype=bool)
    else:
        same = (old == new).fillna(False).astype(bool)
    return ~(same | both_na)


def _value_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != SYNTHETIC_FIELDS]


def assert_real_values_unchanged(
    before: Mapping[str, pd.DataFrame], after: Mapping[str, pd.DataFrame]
) -> None:
    """Row for row, every value of `before` that `after` does not flag as synthetic
    is identical (same dtype, same value)."""
    for name, old in before.items():
        head = _input_rows(name, old, after)
        real = ~old["is_synthetic"].fillna(False).astype(bool).reset_index(drop=True)
        for column in _value_columns(old):
            assert head[column].dtype == old[column].dtype, f"{name}.{column}: dtype changed"
            kept = real & ~synthetic_mask(head, column)
            changed = _changed(old[column], head[column]) & kept
            if changed.any():
                i = int(changed.idxmax())
                raise AssertionError(
                    f"{name} row {i} column {column}: {old[column].iloc[i]!r}"
                    f" became {head[column].iloc[i]!r}"
                )


def assert_filled_values_flagged(
    before: Mapping[str, pd.DataFrame], after: Mapping[str, pd.DataFrame]
) -> None:
    """Every value that changed on a real row is named in its synthetic_fields."""
    for name, old in before.items():
        head = _input_rows(name, old, after)
        for column in _value_columns(old):
            unflagged = _changed(old[column], head[column]) & ~synthetic_mask(head, column)
            assert not unflagged.any(), (
                f"{name} row {int(unflagged.idxmax())}: {column} changed but is not flagged"
            )
        added = after[name].iloc[len(old) :]
        assert added["is_synthetic"].all(), f"{name}: added rows not marked is_synthetic"
    for name, frame in after.items():
        named = {c for text in frame[SYNTHETIC_FIELDS].dropna() for c in str(text).split(",")}
        assert named <= set(frame.columns), (
            f"{name}: synthetic_fields names {named - set(frame.columns)}"
        )


def assert_causal_order(tables: Mapping[str, pd.DataFrame]) -> None:
    opps = tables["opportunities"]
    for early, late in (("created_at", "engaged_at"), ("engaged_at", "closed_at")):
        both = opps[early].notna() & opps[late].notna()
        bad = opps[both & (opps[late] < opps[early])]
        assert bad.empty, f"opportunities {list(bad['opportunity_id'])}: {late} < {early}"
    history = tables["stage_history"]
    for opp_id, rows in history.groupby("opportunity_id", sort=False):
        times = list(rows["changed_at"])
        assert times == sorted(times), f"stage_history {opp_id}: changes out of order"
        stages = list(rows["to_stage"])
        froms = list(rows["from_stage"])
        assert pd.isna(froms[0]), f"stage_history {opp_id}: first change has a from_stage"
        assert froms[1:] == stages[:-1], f"stage_history {opp_id}: broken chain {froms}"
    leads = tables["leads"]
    both = leads["created_at"].notna() & leads["converted_at"].notna()
    bad = leads[both & (leads["converted_at"] < leads["created_at"])]
    assert bad.empty, f"leads {list(bad['lead_id'])}: converted_at < created_at"
    unconverted = leads["converted"].fillna(False).astype(bool) == False  # noqa: E712
    assert leads.loc[unconverted, "converted_at"].isna().all(), "unconverted lead has converted_at"


def assert_hire_before_activity(tables: Mapping[str, pd.DataFrame]) -> None:
    reps = tables["reps"].set_index("rep_id")
    opps = tables["opportunities"]
    first = opps.groupby("rep_id")["created_at"].min().dropna()
    for rep_id, created in first.items():
        hire = reps.at[rep_id, "hire_date"]
        assert pd.notna(hire), f"reps {rep_id}: no hire_date"
        assert hire <= created.tz_localize(None), (
            f"reps {rep_id}: hired {hire} after deal {created}"
        )


def assert_exact_conversion(tables: Mapping[str, pd.DataFrame]) -> None:
    """Converted amount == imported amount x the month's rate, exactly; rates > 0, 6 dp."""
    fx = tables["fx_rates"]
    assert (fx["rate"].map(lambda r: r > 0)).all(), "fx_rates: non-positive rate"
    assert fx["rate"].map(lambda r: r.as_tuple().exponent == -6).all(), "fx_rates: not 6 dp"
    rates = {
        (p, f, t): r
        for p, f, t, r in fx[["period", "from_currency", "to_currency", "rate"]].itertuples(
            index=False
        )
    }
    for name, date_column in (("opportunities", "closed_at"), ("transactions", "credit_date")):
        frame = tables[name]
        if SOURCE_AMOUNT not in frame:
            continue
        converted = frame[frame[SOURCE_AMOUNT].notna()]
        for row in converted.itertuples(index=False):
            when = getattr(row, date_column)
            if pd.isna(when):
                continue
            rate = rates[
                (f"{when.year:04d}-{when.month:02d}", row.attr_source_currency, row.currency)
            ]
            assert row.amount == row.attr_source_amount * rate, f"{name}: inexact conversion {row}"
            assert row.amount / rate == row.attr_source_amount


def assert_quotas_consistent(tables: Mapping[str, pd.DataFrame]) -> None:
    """Synthetic quotas: positive, in the rep's currency, quarter = sum of its covered months."""
    quotas = tables["quotas"]
    synthetic = quotas[quotas["is_synthetic"].astype(bool)]
    currency = dict(zip(tables["reps"]["rep_id"], tables["reps"]["currency"], strict=True))
    calendar = Calendar()
    monthly = {}
    for row in synthetic.itertuples(index=False):
        assert isinstance(row.quota, Decimal) and row.quota > 0, f"quotas: {row}"
        assert row.currency == currency[row.rep_id], f"quotas: {row} not in the rep's currency"
        if "Q" not in row.period:
            monthly[(row.rep_id, row.period)] = row.quota
    for row in synthetic.itertuples(index=False):
        if "Q" in row.period:
            period = calendar.parse(row.period)
            months = pd.period_range(period.start, period.last_day, freq="M")
            covered = [
                monthly[(row.rep_id, str(m))] for m in months if (row.rep_id, str(m)) in monthly
            ]
            assert covered, f"quotas: {row.rep_id} {row.period} has no month quotas"
            total = sum(covered, Decimal(0))
            assert total == row.quota, f"quotas: {row.rep_id} {row.period} != sum of months"
