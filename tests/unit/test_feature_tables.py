"""Feature-table builder: rolling windows against hand-computed values, point-in-time
boundaries, leakage guards, exact money and error messages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from features.feature_tables import (
    FEATURE_TABLE_DTYPES,
    UNDATED_EVENT_TIMESTAMP,
    FeatureBuildError,
    compute_feature_tables,
)
from features.sample_data import sample_canonical_tables
from features.transforms import days_since, opportunity_age_features

CREATED = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return compute_feature_tables(sample_canonical_tables(), CREATED)


def _rep_row(tables: dict[str, pd.DataFrame], rep_id: str, as_of: str) -> pd.Series:
    frame = tables["rep_daily_stats"]
    hit = frame[
        (frame["rep_id"] == rep_id) & (frame["event_timestamp"] == pd.Timestamp(as_of, tz="UTC"))
    ]
    assert len(hit) == 1, f"expected one snapshot for {rep_id} at {as_of}"
    return hit.iloc[0]


def test_win_rate_and_deal_counts_by_hand(tables: dict[str, pd.DataFrame]) -> None:
    # r1: o1 won 2024-01-11, o2 lost 2024-01-13 -> as of 01-14: 1 won, 1 lost.
    row = _rep_row(tables, "r1", "2024-01-14")
    assert (row["deals_won_30d"], row["deals_lost_30d"]) == (1, 1)
    assert row["win_rate_30d"] == pytest.approx(0.5)
    # As of 01-12 the loss of 01-13 is not known yet.
    row = _rep_row(tables, "r1", "2024-01-12")
    assert (row["deals_won_30d"], row["deals_lost_30d"], row["win_rate_30d"]) == (1, 0, 1.0)


def test_close_on_a_day_is_visible_from_the_next_midnight_only(
    tables: dict[str, pd.DataFrame],
) -> None:
    # o1 closed 2024-01-11 15:00 UTC.
    assert _rep_row(tables, "r1", "2024-01-11")["deals_won_30d"] == 0
    assert _rep_row(tables, "r1", "2024-01-12")["deals_won_30d"] == 1


def test_thirty_day_window_boundary(tables: dict[str, pd.DataFrame]) -> None:
    # o1's win on 01-11 is inside the 30-day window up to as-of 02-10 (days 01-11..02-09)
    # and outside from as-of 02-11; the 90-day window still has it.
    assert _rep_row(tables, "r1", "2024-02-10")["deals_won_30d"] == 1
    row = _rep_row(tables, "r1", "2024-02-11")
    assert row["deals_won_30d"] == 0
    assert row["deals_won_90d"] == 1


def test_revenue_windows_net_of_clawbacks_in_minor_units(
    tables: dict[str, pd.DataFrame],
) -> None:
    # r1 credits: 1,000.00 on 01-11; 25 % of 2,000.00 on 02-04 (cancelled 02-20); 500.25 on 03-05.
    assert _rep_row(tables, "r1", "2024-02-05")["revenue_closed_30d_minor"] == 150_000
    # 30 days before as-of 02-21 = 01-22..02-20: +50,000 (02-04) -50,000 (clawback 02-20).
    assert _rep_row(tables, "r1", "2024-02-21")["revenue_closed_30d_minor"] == 0
    row = _rep_row(tables, "r1", "2024-03-06")
    assert row["revenue_closed_30d_minor"] == 25  # 500.25 - 500.00 clawback; 1,000 fell out
    assert row["revenue_closed_90d_minor"] == 150_025
    # r2 holds 75 % of o4: 1,500.00.
    assert _rep_row(tables, "r2", "2024-02-05")["revenue_closed_30d_minor"] == 150_000


def test_average_deal_size_is_exact_half_even_and_cycle_time(
    tables: dict[str, pd.DataFrame],
) -> None:
    row = _rep_row(tables, "r1", "2024-03-06")
    # won amounts 1,000.00 and 500.25 -> mean 75,012.5 minor units -> half-even 75,012
    assert row["avg_deal_size_90d_minor"] == 75_012
    assert row["avg_deal_size_30d_minor"] == 50_025
    # cycle times: o1 10.25 days, o3 45 days
    assert row["cycle_time_30d_days"] == pytest.approx(45.0)
    assert row["cycle_time_90d_days"] == pytest.approx((10.25 + 45.0) / 2)
    assert pd.isna(_rep_row(tables, "r2", "2024-01-14")["avg_deal_size_30d_minor"])


def test_pipeline_by_stage_follows_stage_history(tables: dict[str, pd.DataFrame]) -> None:
    # o4 (r2): prospecting 01-05, negotiation 01-15, won 02-04.
    row = _rep_row(tables, "r2", "2024-01-15")
    assert (row["pipeline_prospecting_count"], row["pipeline_negotiation_count"]) == (1, 0)
    row = _rep_row(tables, "r2", "2024-01-16")
    assert (row["pipeline_prospecting_count"], row["pipeline_negotiation_count"]) == (0, 1)
    # o5: prospecting 02-01, proposal 02-10, still open.
    row = _rep_row(tables, "r2", "2024-02-21")
    assert (row["pipeline_proposal_count"], row["pipeline_open_count"]) == (1, 1)


def test_month_to_date_revenue_quota_and_attainment(tables: dict[str, pd.DataFrame]) -> None:
    row = _rep_row(tables, "r1", "2024-01-12")
    assert (row["revenue_mtd_minor"], row["quota_month_minor"]) == (100_000, 200_000)
    assert row["attainment_mtd"] == pytest.approx(0.5)
    # the quarterly quota (2024-Q1) is not a monthly quota
    assert pd.isna(_rep_row(tables, "r1", "2024-02-05")["quota_month_minor"])
    # as-of 02-01 covers 01-31: still January
    assert _rep_row(tables, "r1", "2024-02-01")["revenue_mtd_minor"] == 100_000
    row = _rep_row(tables, "r2", "2024-02-05")
    assert row["attainment_mtd"] == pytest.approx(1.5)


def test_team_totals_sum_the_reps(tables: dict[str, pd.DataFrame]) -> None:
    team = tables["team_daily_stats"]
    row = team[team["event_timestamp"] == pd.Timestamp("2024-03-06", tz="UTC")].iloc[0]
    r1 = _rep_row(tables, "r1", "2024-03-06")
    r2 = _rep_row(tables, "r2", "2024-03-06")
    assert row["revenue_closed_90d_minor"] == (
        r1["revenue_closed_90d_minor"] + r2["revenue_closed_90d_minor"]
    )
    assert row["win_rate_90d"] == pytest.approx(3 / 4)


def test_amount_appears_only_on_the_closing_snapshot(tables: dict[str, pd.DataFrame]) -> None:
    snaps = tables["opportunity_event_stats"]
    o4 = snaps[snaps["opportunity_id"] == "o4"]
    assert list(o4["stage"]) == ["prospecting", "negotiation", "won"]
    assert o4["amount_minor"].isna().tolist() == [True, True, False]
    assert o4["amount_minor"].iloc[-1] == 200_000
    assert list(o4["stage_change_count"]) == [0, 1, 2]


def test_deal_without_history_gets_creation_engagement_and_close_events(
    tables: dict[str, pd.DataFrame],
) -> None:
    snaps = tables["opportunity_event_stats"]
    o1 = snaps[snaps["opportunity_id"] == "o1"]
    assert list(o1["stage"]) == ["prospecting", "engaging", "won"]
    assert o1["event_timestamp"].iloc[1] == pd.Timestamp("2024-01-05 09:00", tz="UTC")


def test_leads_keep_safe_attributes_and_drop_leaky_ones(tables: dict[str, pd.DataFrame]) -> None:
    leads = tables["lead_created_stats"]
    assert "attr_tags" not in leads.columns
    assert "converted" not in leads.columns
    undated = leads[leads["lead_id"] == "l3"].iloc[0]
    assert undated["event_timestamp"] == UNDATED_EVENT_TIMESTAMP
    assert pd.isna(undated["created_at"])


def test_every_table_has_its_declared_schema(tables: dict[str, pd.DataFrame]) -> None:
    for name, dtypes in FEATURE_TABLE_DTYPES.items():
        frame = tables[name]
        assert list(frame.columns) == list(dtypes), name
        assert {c: str(t) for c, t in frame.dtypes.items()} == dtypes, name


def test_build_is_deterministic() -> None:
    first = compute_feature_tables(sample_canonical_tables(), CREATED)
    second = compute_feature_tables(sample_canonical_tables(), CREATED)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])


def test_rep_with_two_currencies_is_refused_by_name() -> None:
    canonical = sample_canonical_tables()
    canonical["transactions"].loc[0, "currency"] = "EUR"
    with pytest.raises(FeatureBuildError, match=r"rep r1: amounts in several currencies"):
        compute_feature_tables(canonical, CREATED)


def test_bad_amount_names_table_row_and_column() -> None:
    canonical = sample_canonical_tables()
    canonical["opportunities"].loc[2, "amount"] = "12,5"
    with pytest.raises(FeatureBuildError, match=r"table opportunities, row o3, column amount"):
        compute_feature_tables(canonical, CREATED)


def test_amounts_are_never_floats_in_the_money_columns(tables: dict[str, pd.DataFrame]) -> None:
    for name, dtypes in FEATURE_TABLE_DTYPES.items():
        for column, dtype in dtypes.items():
            if column.endswith("_minor"):
                assert dtype in ("int64", "Int64"), f"{name}.{column}"
    snaps = tables["opportunity_event_stats"]
    o3_close = snaps[(snaps["opportunity_id"] == "o3") & snaps["is_closed"]].iloc[0]
    assert o3_close["amount_minor"] == int(Decimal("500.25") * 100)


# ------------------------------------------------------------------ request-time features


def test_days_since_scalar_and_vector_paths_agree() -> None:
    created = pd.Series(pd.to_datetime(["2024-01-01 00:00", "2024-01-05 12:00", None], utc=True))
    request = pd.Series(pd.to_datetime(["2024-01-11", "2024-01-06", "2024-01-06"], utc=True))
    vector = days_since(created, request)
    assert vector.iloc[0] == pytest.approx(10.0)
    assert vector.iloc[1] == pytest.approx(0.5)
    assert pd.isna(vector.iloc[2])
    for i in range(2):
        assert days_since(created.iloc[i], request.iloc[i]) == pytest.approx(vector.iloc[i])
    assert days_since(None, request.iloc[0]) != days_since(None, request.iloc[0])  # NaN


def test_days_since_treats_naive_and_epoch_inputs_as_utc() -> None:
    aware = days_since(pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC"))
    assert days_since(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 3)) == aware == 2.0
    epoch = pd.Timestamp("2024-01-03", tz="UTC").timestamp()
    assert days_since(pd.Timestamp("2024-01-01", tz="UTC"), epoch) == pytest.approx(2.0)


def test_opportunity_age_frame_helper() -> None:
    frame = pd.DataFrame(
        {
            "created_at": pd.to_datetime(["2024-01-01"], utc=True),
            "last_stage_change_at": pd.to_datetime(["2024-01-08"], utc=True),
            "request_time": pd.to_datetime(["2024-01-10"], utc=True),
        }
    )
    out = opportunity_age_features(frame)
    assert out.iloc[0].tolist() == [9.0, 2.0]


def test_completed_month_attainment_features(tables: dict[str, pd.DataFrame]) -> None:
    # r1: January quota 2,000.00, January credits 1,000.00 -> 0.5; no hit.
    row = _rep_row(tables, "r1", "2024-02-05")
    assert row["previous_month_attainment"] == pytest.approx(0.5)
    assert row["trailing_3m_attainment"] == pytest.approx(0.5)
    assert row["trailing_3m_hit_rate"] == pytest.approx(0.0)
    assert row["month_elapsed_fraction"] == pytest.approx(4 / 29)  # Feb 1-4 of 29 days
    # January itself is still running on 01-31: no completed month yet.
    assert pd.isna(_rep_row(tables, "r1", "2024-01-31")["previous_month_attainment"])
    assert _rep_row(tables, "r1", "2024-02-01")["month_elapsed_fraction"] == pytest.approx(1.0)
    # r2: February quota 1,000.00, credits 1,500.00 -> 1.5, a hit, seen from March on.
    row = _rep_row(tables, "r2", "2024-03-06")
    assert row["previous_month_attainment"] == pytest.approx(1.5)
    assert row["trailing_3m_hit_rate"] == pytest.approx(1.0)
    assert pd.isna(_rep_row(tables, "r2", "2024-02-29")["previous_month_attainment"])


def test_deal_snapshots_carry_owner_org_and_account_revenue(
    tables: dict[str, pd.DataFrame],
) -> None:
    snaps = tables["opportunity_event_stats"]
    o1 = snaps[snaps["opportunity_id"] == "o1"].iloc[0]
    assert (o1["team_id"], o1["region_id"]) == ("team:alpha", "region:east")
    assert o1["account_annual_revenue_minor"] == 500_000_000
