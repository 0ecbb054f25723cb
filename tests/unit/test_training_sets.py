"""Entity frames for training: timestamps, labels and crediting, on hand-made tables."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from features.feature_tables import UNDATED_AS_OF, compute_feature_tables
from features.territories import (
    TerritoryAssignmentError,
    territory_credits,
    validate_assignments,
)
from features.training_sets import (
    TrainingSetError,
    attainment_entities,
    deal_entities_at_close,
    deal_entities_while_open,
    lead_entities,
)


def _utc(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True))


def test_open_deal_snapshots_never_reach_the_close() -> None:
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ["a", "b", "c", "open"],
            "source": "crm",
            "outcome": ["won", "lost", "won", None],
            "created_at": _utc("2017-01-01", "2017-01-01", "2017-03-01", "2017-01-01"),
            "closed_at": _utc("2017-01-20", "2017-06-01", "2017-03-01", None),
        }
    )
    entities = deal_entities_while_open(opportunities, "crm", "deal_risk_v1", (0, 7, 30, 90))
    frame = entities.frame
    assert set(frame["opportunity_id"]) == {
        "a",
        "b",
    }  # c closed the day it opened; open has no label
    assert (frame["event_timestamp"] < frame["closed_at"]).all()
    assert frame.groupby("opportunity_id")["snapshot_age_days"].apply(list).to_dict() == {
        "a": [0, 7],
        "b": [0, 7, 30, 90],
    }
    assert frame.set_index("opportunity_id")["won"].groupby(level=0).first().to_dict() == {
        "a": 1,
        "b": 0,
    }


def test_undated_deals_and_leads_are_stamped_at_the_undated_as_of() -> None:
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ["x1", "x2", "x3"],
            "source": "ibm",
            "outcome": ["won", "lost", "open"],
            "attr_opportunity_number": ["7", "7", "8"],
        }
    )
    deals = deal_entities_at_close(opportunities, "ibm", "deal_risk_v1").frame
    assert deals["event_timestamp"].eq(UNDATED_AS_OF).all()
    assert deals["split_group"].tolist() == ["7", "7"]
    leads = pd.DataFrame(
        {
            "lead_id": ["l1", "l2", "l3"],
            "source": "web",
            "converted": [True, False, None],
            "created_at": [pd.NaT, pd.NaT, pd.NaT],
            "is_synthetic": [False, True, False],
        }
    )
    frame = lead_entities(leads, "web", "lead_scoring_v1").frame
    assert frame["lead_id"].tolist() == ["l1"]  # synthetic and open leads never train
    assert frame["event_timestamp"].eq(UNDATED_AS_OF).all()
    with pytest.raises(TrainingSetError, match="no rows from source 'crm'"):
        lead_entities(leads, "crm", "lead_scoring_v1")


def _rep_daily(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rep_id": [r for r, _, _ in rows],
            "event_timestamp": pd.to_datetime([d for _, d, _ in rows], utc=True),
            "attainment_mtd": [a for _, _, a in rows],
            "quota_month_minor": 100,
        }
    )


def test_attainment_label_is_the_month_end_snapshot_and_checkpoints_sit_inside() -> None:
    rep_daily = _rep_daily(
        [
            ("ann", "2020-01-15", 0.4),
            ("ann", "2020-02-01", 1.2),  # covers January: reached
            ("ann", "2020-02-20", 0.9),
            ("ann", "2020-03-01", 0.95),  # February: missed
            ("bob", "2020-02-01", 2.0),  # not asked for
        ]
    )
    frame = attainment_entities(rep_daily, ["ann"], "test", "attainment_v2").frame
    labels = frame.groupby("period")["reached_quota"].first().to_dict()
    assert labels == {"2020-01": 1, "2020-02": 0}
    january = frame[frame["period"] == "2020-01"]["event_timestamp"]
    assert january.tolist() == [
        pd.Timestamp("2020-01-09", tz="UTC"),  # round(31 * 0.25) = 8 days in
        pd.Timestamp("2020-01-17", tz="UTC"),
        pd.Timestamp("2020-01-24", tz="UTC"),
    ]
    assert (frame["event_timestamp"] < pd.Timestamp("2020-03-01", tz="UTC")).all()


def test_territory_crediting_credits_every_assigned_rep_once_per_line() -> None:
    transactions = pd.DataFrame(
        {
            "transaction_id": ["t1", "t1", "t2", "t3"],
            "rep_id": ["a", "b", "a", "z"],
            "source": ["aw", "aw", "aw", "other"],
            "region": ["north", "north", "south", "north"],
            "amount": [Decimal(100), Decimal(100), Decimal(40), Decimal(7)],
            "share": [Decimal("0.5"), Decimal("0.5"), Decimal(1), Decimal(1)],
        }
    )
    assignments = validate_assignments(
        pd.DataFrame(
            {
                "source": ["aw", "aw", "aw"],
                "region": ["north", "south", "north"],
                "rep_id": ["boss", "boss", "n1"],
            }
        ),
        "test",
    )
    credited = territory_credits(transactions, assignments)
    credited = credited.assign(value=credited["amount"] * credited["share"])
    assert credited.groupby("rep_id")["value"].sum().to_dict() == {
        "boss": Decimal(140),
        "n1": Decimal(100),
        "z": Decimal(7),  # other sources keep their own crediting
    }
    with pytest.raises(TerritoryAssignmentError, match="row 2, column rep_id: empty"):
        validate_assignments(
            pd.DataFrame({"source": ["aw", "aw"], "region": ["n", "s"], "rep_id": ["a", None]}),
            "assign.csv",
        )


def test_feature_build_with_assignments_moves_attainment_to_territory_credit() -> None:
    from features.sample_data import sample_canonical_tables

    tables = sample_canonical_tables()
    transactions = tables["transactions"]
    source = str(transactions["source"].iloc[0])
    reps = sorted(transactions["rep_id"].astype(str).unique())
    transactions = transactions.assign(region="north")
    tables = {**tables, "transactions": transactions}
    assignments = pd.DataFrame({"source": [source], "region": ["north"], "rep_id": [reps[0]]})
    plain = compute_feature_tables(tables, pd.Timestamp("2024-01-01", tz="UTC"))
    territorial = compute_feature_tables(tables, pd.Timestamp("2024-01-01", tz="UTC"), assignments)
    last = territorial["rep_daily_stats"].groupby("rep_id")["revenue_closed_365d_minor"].max()
    total = plain["rep_daily_stats"].groupby("rep_id")["revenue_closed_365d_minor"].max().sum()
    assert (
        last.get(reps[0], 0)
        >= plain["rep_daily_stats"]
        .set_index("rep_id")
        .loc[reps[0], "revenue_closed_365d_minor"]
        .max()
    )
    assert total > 0


def test_shared_assignments_apply_only_when_adventureworks_is_imported(shared_dir) -> None:  # type: ignore[no-untyped-def]
    from features.territories import shared_territory_assignments

    other = pd.DataFrame(
        {"source": ["maven_crm"], "name": ["x"], "attr_sales_territory_key": [None]}
    )
    assert shared_territory_assignments(shared_dir, other) is None


def test_weighted_pipeline_uses_only_win_rates_known_at_the_as_of_day() -> None:
    from features.feature_tables import _weighted_pipeline

    day = lambda d: pd.Timestamp(f"2024-01-{d:02d}", tz="UTC")  # noqa: E731
    opps = pd.DataFrame(
        {
            "opportunity_id": ["won-before", "lost-later", "open"],
            "product_id": ["p", "p", "p"],
            "outcome": ["won", "lost", "open"],
            "closed_at": [day(4) + pd.Timedelta(hours=9), day(8), pd.NaT],
        }
    )
    events = pd.DataFrame(
        {
            "opportunity_id": ["won-before", "lost-later", "open"],
            "stage": ["engaging"] * 3,
        }
    )
    products = pd.DataFrame(
        {"product_id": ["p"], "list_price": [Decimal("100.00")], "currency": ["USD"]}
    )
    open_days = pd.DataFrame(
        {
            "rep_id": "r",
            "as_of": [day(3), day(5), day(9)],
            "stage": "engaging",
            "opportunity_id": "open",
        }
    )
    weighted = _weighted_pipeline(open_days, opps, products, events)
    values = dict(zip(weighted["as_of"], weighted["pipeline_weighted_minor"], strict=True))
    assert pd.isna(values[day(3)])  # no deal in that stage had closed yet
    assert values[day(5)] == 10_000  # 1 of 1 won: 100.00 x 1.0, in cents
    assert values[day(9)] == 5_000  # the loss is known from the 9th: 1 of 2
