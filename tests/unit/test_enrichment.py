"""The seeded enrichment on small hand-made canonical tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from features.ingest.enrichment import (
    DEFAULT_SEED,
    SOURCE_AMOUNT,
    EnrichmentConfig,
    EnrichmentError,
    enrich,
    synthetic_mask,
    with_config,
)
from features.ingest.storage import open_store
from tests.enrichment_checks import (
    assert_canonical,
    assert_causal_order,
    assert_exact_conversion,
    assert_filled_values_flagged,
    assert_hire_before_activity,
    assert_quotas_consistent,
    assert_real_values_unchanged,
)
from tests.enrichment_frames import LEAD_SOURCE, SOURCE, WEST_REPS, Deal, maven_like_tables


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return maven_like_tables()


@pytest.fixture(scope="module")
def enriched(tables: dict[str, pd.DataFrame]):
    return enrich(tables)


def test_input_tables_are_valid_and_have_the_gaps(tables):
    assert_canonical(tables)
    assert tables["opportunities"]["created_at"].isna().all()
    assert tables["stage_history"].empty and tables["quotas"].empty


def test_output_passes_canonical_validation(enriched):
    assert_canonical(enriched.tables)


def test_same_seed_same_input_gives_identical_frames(tables, enriched):
    again = enrich(maven_like_tables(), seed=DEFAULT_SEED)
    assert again.tables.keys() == enriched.tables.keys()
    for name, frame in enriched.tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[name], check_exact=True)
    assert again.report() == enriched.report()


def test_same_seed_gives_byte_identical_parquet(tmp_path: Path, enriched):
    again = enrich(maven_like_tables())
    open_store(tmp_path / "a").write_tables(enriched.tables)
    open_store(tmp_path / "b").write_tables(again.tables)
    files_a = sorted((tmp_path / "a" / "canonical").glob("*.parquet"))
    assert {f.name for f in files_a} >= {
        "stage_history.parquet",
        "quotas.parquet",
        "fx_rates.parquet",
    }
    for path in files_a:
        other = tmp_path / "b" / "canonical" / path.name
        assert path.read_bytes() == other.read_bytes(), path.name


def test_enriched_tables_round_trip_through_the_store(tmp_path: Path, enriched):
    store = open_store(tmp_path)
    store.write_tables(enriched.tables)
    for name, frame in enriched.tables.items():
        back = store.read_table(name)
        assert list(back["synthetic_fields"].fillna("")) == list(
            frame["synthetic_fields"].fillna("")
        )
        assert list(back["is_synthetic"]) == list(frame["is_synthetic"])
    assert_exact_conversion({n: store.read_table(n) for n in enriched.tables})


def test_real_values_untouched_and_every_change_flagged(tables, enriched):
    assert_real_values_unchanged(tables, enriched.tables)
    assert_filled_values_flagged(tables, enriched.tables)


def test_input_frames_are_not_mutated(tables):
    snapshot = {n: f.copy() for n, f in tables.items()}
    enrich(tables, seed=7)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, snapshot[name])


def test_other_seed_changes_synthetic_values_but_never_real_ones(tables, enriched):
    other = enrich(tables, seed=DEFAULT_SEED + 1)
    assert_real_values_unchanged(tables, other.tables)
    opps_a = enriched.tables["opportunities"]["created_at"]
    opps_b = other.tables["opportunities"]["created_at"]
    assert (opps_a != opps_b).mean() > 0.9  # synthetic values are redrawn
    fx_a, fx_b = enriched.tables["fx_rates"]["rate"], other.tables["fx_rates"]["rate"]
    assert list(fx_a) != list(fx_b)
    real_columns = {
        "opportunities": ("opportunity_id", "rep_id", "closed_at", SOURCE_AMOUNT),
        "transactions": ("transaction_id", "rep_id", "credit_date", SOURCE_AMOUNT),
    }
    for name, columns in real_columns.items():  # real columns equal across seeds
        for column in columns:
            pd.testing.assert_series_equal(
                enriched.tables[name][column], other.tables[name][column]
            )


def test_gaps_are_filled(enriched):
    t = enriched.tables
    assert t["opportunities"]["created_at"].notna().all()
    assert t["leads"]["created_at"].notna().all()
    assert t["leads"]["owner_rep_id"].notna().all()
    converted = t["leads"]["converted"].fillna(False).astype(bool)
    assert t["leads"].loc[converted, "converted_at"].notna().all()
    assert t["reps"]["hire_date"].notna().all()
    assert set(t["stage_history"]["opportunity_id"]) == set(t["opportunities"]["opportunity_id"])


def test_flags_name_the_generated_columns(enriched):
    opps = enriched.tables["opportunities"]
    assert synthetic_mask(opps, "created_at").all()
    assert not synthetic_mask(opps, "closed_at").any()
    assert not synthetic_mask(opps, "opportunity_id").any()
    leads = enriched.tables["leads"]
    assert set(leads.loc[0, "synthetic_fields"].split(",")) == {
        "converted_at",
        "created_at",
        "owner_rep_id",
    }
    assert enriched.tables["stage_history"]["is_synthetic"].all()
    assert enriched.tables["fx_rates"]["is_synthetic"].all()
    assert enriched.tables["quotas"]["is_synthetic"].all()
    # real rows stay real: a generated value flags the field, not the row
    assert not opps["is_synthetic"].any()


def test_causal_order(enriched):
    assert_causal_order(enriched.tables)
    assert_hire_before_activity(enriched.tables)


def test_stage_history_follows_the_known_dates(enriched):
    history = enriched.tables["stage_history"]
    won = history[history["opportunity_id"] == "D001"]
    assert list(won["to_stage"]) == ["prospecting", "engaging", "won"]
    opps = enriched.tables["opportunities"].set_index("opportunity_id")
    assert list(won["changed_at"])[1:] == [
        opps.at["D001", "engaged_at"],
        opps.at["D001", "closed_at"],
    ]
    assert list(history.loc[history["opportunity_id"] == "OPEN1", "to_stage"]) == [
        "prospecting",
        "engaging",
    ]
    assert list(history.loc[history["opportunity_id"] == "PROS1", "to_stage"]) == ["prospecting"]


def test_open_deals_without_dates_are_created_before_as_of(tables):
    as_of = datetime(2017, 9, 15, 12, tzinfo=UTC)
    result = enrich(tables, as_of=as_of)
    opps = result.tables["opportunities"].set_index("opportunity_id")
    for opp_id in ("PROS1", "PROS2"):
        created = opps.at[opp_id, "created_at"]
        assert pd.Timestamp(as_of) - pd.Timedelta(days=61) <= created < pd.Timestamp(as_of)
    leads = result.tables["leads"]
    assert (leads["created_at"] < pd.Timestamp(as_of)).all()
    assert (leads["created_at"] >= pd.Timestamp(as_of) - pd.Timedelta(days=365)).all()
    assert (leads["converted_at"].dropna() <= pd.Timestamp(as_of)).all()


def test_naive_as_of_is_refused(tables):
    with pytest.raises(EnrichmentError, match="timezone-aware"):
        enrich(tables, as_of=datetime(2017, 9, 15))


def test_default_lead_window_is_calendar_2017(enriched):
    created = enriched.tables["leads"]["created_at"]
    assert created.min() >= pd.Timestamp("2017-01-01T00:00Z")
    assert created.max() < pd.Timestamp("2018-01-01T00:00Z")


def test_lead_owners_are_synthetic_reps_of_the_lead_source(enriched):
    reps = enriched.tables["reps"].set_index("rep_id")
    owners = set(enriched.tables["leads"]["owner_rep_id"])
    assert owners <= set(reps.index)
    assert reps.loc[sorted(owners), "is_synthetic"].all()
    assert (reps.loc[sorted(owners), "source"] == LEAD_SOURCE).all()
    units = enriched.tables["org_units"]
    assert set(units.loc[units["is_synthetic"], "source"]) == {LEAD_SOURCE}


def test_west_region_is_converted_exactly_to_eur(tables, enriched):
    t = enriched.tables
    assert_exact_conversion(t)
    opps = t["opportunities"]
    west = opps["rep_id"].isin(WEST_REPS)
    assert (opps.loc[west, "currency"] == "EUR").all()
    assert (opps.loc[~west, "currency"] == "USD").all()
    assert opps.loc[~west, SOURCE_AMOUNT].isna().all()
    reps = t["reps"].set_index("rep_id")
    assert (reps.loc[["m2", *WEST_REPS], "currency"] == "EUR").all()
    # the imported totals are recoverable exactly
    credits = t["transactions"]
    recovered = [
        src if pd.notna(src) else amt
        for src, amt in zip(credits[SOURCE_AMOUNT], credits["amount"], strict=True)
    ]
    assert sum(recovered, Decimal(0)) == sum(tables["transactions"]["amount"], Decimal(0))


def test_fx_rates_are_monthly_positive_six_decimals_and_cover_every_dated_month(enriched):
    fx = enriched.tables["fx_rates"]
    assert list(fx["period"]) == sorted(fx["period"])
    assert fx["period"].is_unique
    assert all(r.as_tuple().exponent == -6 and r > 0 for r in fx["rate"])
    credits = enriched.tables["transactions"]
    months = {f"{d.year:04d}-{d.month:02d}" for d in credits["credit_date"]}
    assert months <= set(fx["period"])
    steps = [abs(b - a) for a, b in zip(fx["rate"], fx["rate"][1:], strict=False)]
    assert max(steps) <= Decimal("0.015") + Decimal("0.05")  # step plus mean reversion


def test_derived_quotas_are_positive_consistent_and_in_the_reps_currency(enriched):
    assert_quotas_consistent(enriched.tables)
    quotas = enriched.tables["quotas"]
    monthly = quotas[~quotas["period"].str.contains("Q")]
    assert set(monthly["period"]) == {f"2017-0{m}" for m in range(3, 9)}
    # Q2 is whole; Q1 (March only) and Q3 (July, August) are covered in part
    assert set(quotas.loc[quotas["period"].str.contains("Q"), "period"]) == {
        "2017-Q1",
        "2017-Q2",
        "2017-Q3",
    }
    assert "erin" not in set(quotas["rep_id"])  # no revenue, not a manager: no quota


def test_quota_rule_uses_revenue_three_months_earlier(enriched):
    quotas = enriched.tables["quotas"].set_index(["rep_id", "period"])["quota"]
    credits = enriched.tables["transactions"]
    anna = credits[credits["rep_id"] == "anna"]
    march = sum(anna.loc[anna["credit_date"].dt.month == 3, "amount"], Decimal(0))
    expected = max(
        Decimal(1000), (march / 100).quantize(Decimal(1), rounding="ROUND_HALF_UP") * 100
    )
    assert quotas[("anna", "2017-06")] == expected


def test_manager_quota_is_the_sum_of_the_reports(enriched):
    quotas = enriched.tables["quotas"].set_index(["rep_id", "period"])["quota"]
    for period in ("2017-04", "2017-Q2"):
        assert quotas[("m1", period)] == quotas[("anna", period)] + quotas[("bob", period)]


def test_reps_with_real_quotas_get_no_derived_quota(tables):
    changed = dict(tables)
    changed["quotas"] = pd.concat(
        [
            tables["quotas"],
            pd.DataFrame(
                [
                    {
                        "rep_id": "anna",
                        "period": "2017-Q2",
                        "measure": "revenue",
                        "quota": Decimal(50000),
                        "currency": "USD",
                        "source": SOURCE,
                        "is_synthetic": False,
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    quotas = enrich(changed).tables["quotas"]
    assert list(quotas.loc[quotas["rep_id"] == "anna", "quota"]) == [Decimal(50000)]


def test_rerun_on_enriched_data_is_a_no_op(enriched):
    again = enrich(enriched.tables)
    assert again.generated == ()
    for name, frame in enriched.tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[name], check_exact=True)


def test_source_filter_limits_what_is_touched(tables):
    result = enrich(tables, config=EnrichmentConfig(sources=frozenset({LEAD_SOURCE})))
    assert {item.table for item in result.generated} == {"leads", "reps", "org_units"}
    assert result.tables["opportunities"]["created_at"].isna().all()


def test_second_currency_can_be_switched_off(tables):
    result = enrich(tables, config=with_config(second_currency=None))
    assert set(result.tables["opportunities"]["currency"]) == {"USD"}
    assert "fx_rates" not in result.updated


def test_report_says_what_was_generated_and_why(enriched):
    report = enriched.report()
    json.dumps(report)
    gaps = {item["gap"] for item in report["generated"]}
    assert gaps == {
        "opportunity_created_at",
        "stage_history",
        "fx_rates",
        "second_currency",
        "derived_quotas",
        "lead_created_at",
        "lead_converted_at",
        "lead_owners",
        "rep_hire_dates",
    }
    assert all(item["reason"] and item["rule"] and item["rows"] > 0 for item in report["generated"])


def test_unknown_tables_and_float_money_are_refused(tables):
    with pytest.raises(EnrichmentError, match="unknown tables"):
        enrich({**tables, "deals": tables["opportunities"]})
    broken = tables["transactions"].copy()
    broken["amount"] = broken["amount"].astype(float)
    with pytest.raises(EnrichmentError, match="table transactions"):
        enrich({**tables, "transactions": broken})


def test_closed_deals_without_any_date_are_left_alone():
    deals = [Deal("X1", "anna", "won", None, None, Decimal(10))]
    tables = maven_like_tables(deals, lead_outcomes=[])
    tables["transactions"] = tables["transactions"].iloc[0:0]
    result = enrich(tables)
    assert result.tables["opportunities"]["created_at"].isna().all()
    assert result.tables["stage_history"].empty


def test_values_do_not_depend_on_row_order(tables, enriched):
    shuffled = {name: frame.iloc[::-1].reset_index(drop=True) for name, frame in tables.items()}
    result = enrich(shuffled)
    for name, key, column in (
        ("opportunities", "opportunity_id", "created_at"),
        ("opportunities", "opportunity_id", "amount"),
        ("leads", "lead_id", "created_at"),
        ("leads", "lead_id", "owner_rep_id"),
        ("reps", "rep_id", "hire_date"),
    ):
        a = enriched.tables[name].set_index(key)[column]
        b = result.tables[name].set_index(key)[column]
        pd.testing.assert_series_equal(a.sort_index(), b.sort_index())
    history = ["opportunity_id", "changed_at", "to_stage"]
    pd.testing.assert_frame_equal(
        enriched.tables["stage_history"].sort_values(history).reset_index(drop=True),
        result.tables["stage_history"].sort_values(history).reset_index(drop=True),
    )
