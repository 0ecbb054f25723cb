"""Feature definitions: frame builders on small hand-made canonical frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.models import attainment, deal_risk, lead_scoring


def test_lead_features_treat_the_form_placeholder_as_missing_and_exclude_leaks() -> None:
    leads = pd.DataFrame({name: ["x", "x"] for name in lead_scoring.SPEC.names})
    leads["attr_specialization"] = ["Select", "Finance Management"]
    leads["attr_tags"] = ["Closed by Horizzon", "Ringing"]
    frame = lead_scoring.prepare_features(leads)
    assert frame["attr_specialization"].isna().tolist() == [True, False]
    assert "attr_tags" not in frame.columns
    leaking = set(lead_scoring.LEAKING_COLUMNS)
    assert not leaking & set(lead_scoring.SPEC.names)
    assert {"last_activity", "attr_last_notable_activity"} <= set(
        lead_scoring.WITH_ACTIVITY_SPEC.names
    )


def test_lead_builders_name_the_table_and_the_missing_column() -> None:
    with pytest.raises(ValueError, match=r"table leads: missing feature columns \['total_visits'"):
        lead_scoring.prepare_features(pd.DataFrame({"lead_id": ["a"]}))
    open_lead = pd.DataFrame({"converted": [True, None]}, index=[10, 11])
    assert len(lead_scoring.labelled(open_lead)) == 1
    with pytest.raises(ValueError, match="row 11"):
        lead_scoring.labels(open_lead)


def test_deal_labels_refuse_open_deals_naming_the_opportunity() -> None:
    opportunities = pd.DataFrame({"opportunity_id": ["o1", "o2"], "outcome": ["won", "open"]})
    assert deal_risk.closed(opportunities)["opportunity_id"].tolist() == ["o1"]
    with pytest.raises(ValueError, match=r"row 1 \(o2\)"):
        deal_risk.labels(opportunities)


def test_ibm_spec_leaves_out_every_lifecycle_column() -> None:
    assert not set(deal_risk.IBM_LEAKING) & set(deal_risk.IBM_SPEC.names)
    assert deal_risk.IBM_PRIOR_REVENUE not in deal_risk.IBM_SAFE_ONLY_SPEC.names


def test_maven_features_join_reps_products_accounts_without_close_facts() -> None:
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2"],
            "rep_id": ["ann", "bob"],
            "product_id": ["GTX Pro", "MG Special"],
            "account_id": ["Acme", None],
            "engaged_at": pd.to_datetime(["2017-03-02", "2017-11-20"], utc=True),
            "closed_at": pd.to_datetime(["2017-04-01", "2017-12-01"], utc=True),
            "amount": [4800, 0],
        },
        index=[5, 9],
    )
    reps = pd.DataFrame(
        {"rep_id": ["ann", "bob"], "team_id": ["t1", "t2"], "region_id": ["east", "west"]}
    )
    products = pd.DataFrame(
        {
            "product_id": ["GTX Pro", "MG Special"],
            "category": ["GTX", "MG"],
            "list_price": [4821, 55],
        }
    )
    accounts = pd.DataFrame({"account_id": ["Acme"], "sector": ["retail"], "employees": [100]})
    frame = deal_risk.maven_features(opportunities, reps, products, accounts)
    assert list(frame.index) == [5, 9]
    assert frame["list_price"].tolist() == [4821.0, 55.0]
    assert frame["has_account"].tolist() == [True, False]
    assert frame["engaged_month"].tolist() == [3, 11]
    assert "amount" not in frame.columns and "closed_at" not in frame.columns
    train, test = deal_risk.maven_time_split(opportunities)
    assert train.tolist() == [0] and test.tolist() == [1]


def test_snapshots_by_hand() -> None:
    credits = pd.DataFrame(
        {
            "rep_id": ["ann"] * 4,
            "credit_date": pd.to_datetime(["2020-04-03", "2020-04-20", "2020-05-01", "2020-05-29"]),
            "amount": [100, 50, 30, 300],
        }
    )
    quotas = pd.DataFrame(
        {
            "rep_id": ["ann", "ann", "ann"],
            "period": ["2020-04", "2020-05", "2020-06"],
            "quota": [120, 200, 100],
        }
    )
    snapshots = attainment.build_snapshots(
        credits, quotas, observed_until=pd.Timestamp("2020-05-31"), checkpoints=(0.5,)
    )
    assert snapshots["period"].tolist() == ["2020-04", "2020-05"]  # June is not over yet
    april, may = snapshots.to_dict("records")
    assert april["elapsed_fraction"] == pytest.approx(15 / 30)
    assert april["attainment_to_date"] == pytest.approx(100 / 120)  # the 20th is after the 16th
    assert april["run_rate_projection"] == pytest.approx(100 / 120 / 0.5)
    assert april["reached_quota"] is True and np.isnan(april["previous_attainment"])
    assert may["attainment_to_date"] == pytest.approx(30 / 200)
    assert may["final_attainment"] == pytest.approx(330 / 200)
    assert may["previous_attainment"] == pytest.approx(150 / 120)
    assert may["trailing_hit_rate"] == 1.0
    assert may["quota_change"] == pytest.approx(200 / 120)
    assert may["month_of_quarter"] == 2.0
    assert may["quota_vs_recent_sales"] == pytest.approx(200 / 150)
    assert np.isnan(may["weighted_pipeline_ratio"])


def test_open_pipeline_counts_deals_open_at_the_snapshot() -> None:
    credits = pd.DataFrame(
        {"rep_id": ["ann"], "credit_date": pd.to_datetime(["2020-04-03"]), "amount": [10]}
    )
    quotas = pd.DataFrame({"rep_id": ["ann"], "period": ["2020-04"], "quota": [100]})
    pipeline = pd.DataFrame(
        {
            "rep_id": ["ann", "ann", "ann", "bob"],
            "opened_at": pd.to_datetime(["2020-04-01", "2020-04-01", "2020-04-20", "2020-04-01"]),
            "closed_at": pd.to_datetime(["2020-04-30", "2020-04-05", None, None]),
            "expected_value": [50.0, 70.0, 90.0, 1000.0],
            "win_probability": [0.5, 0.9, 0.9, 0.9],
        }
    )
    snapshots = attainment.build_snapshots(
        credits, quotas, pd.Timestamp("2020-04-30"), pipeline=pipeline, checkpoints=(0.5,)
    )
    assert snapshots["weighted_pipeline_ratio"].tolist() == [pytest.approx(25 / 100)]


def test_territory_credits_credit_every_rep_of_the_territory_once_per_line() -> None:
    transactions = pd.DataFrame(
        {
            "transaction_id": ["t1", "t1", "t2"],
            "rep_id": ["a", "b", "a"],
            "region": ["north", "north", "south"],
            "credit_date": pd.to_datetime(["2020-01-05"] * 3),
            "amount": [100, 100, 40],
        }
    )
    rep_regions = pd.DataFrame(
        {"rep_id": ["boss", "boss", "n1"], "region": ["north", "south", "north"]}
    )
    credits = attainment.territory_credits(transactions, rep_regions)
    totals = credits.groupby("rep_id")["amount"].sum().to_dict()
    assert totals == {"boss": 140, "n1": 100}


def test_derived_quota_is_the_trailing_three_month_mean() -> None:
    credits = pd.DataFrame(
        {
            "rep_id": ["ann"] * 4,
            "credit_date": pd.to_datetime(["2017-03-10", "2017-04-10", "2017-05-10", "2017-06-10"]),
            "amount": [300, 0, 600, 999],
        }
    )
    quotas = attainment.derived_quotas(credits)
    assert quotas.to_dict("records") == [{"rep_id": "ann", "period": "2017-06", "quota": 300.0}]


def test_split_by_period() -> None:
    snapshots = pd.DataFrame({"period": ["2019-05", "2019-07", "2019-06", "2020-01"]})
    train, test = attainment.split_by_period(snapshots, "2019-07")
    assert train.tolist() == [0, 2] and test.tolist() == [1, 3]
