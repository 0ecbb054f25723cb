"""Each plan feature on small hand-computed cases."""

from __future__ import annotations

from datetime import date as date_
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from spm_domain.commissions import CommissionInputError, calculate_commissions, estimate_earnings

D = Decimal


def tx(*rows: dict[str, str]) -> pd.DataFrame:
    base = {"currency": "USD", "share": "1"}
    return pd.DataFrame([{**base, **r} for r in rows])


def plan(components: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "plan": "t",
        "currency": "USD",
        "period": "quarterly",
        "components": components,
        **extra,
    }


def line_amounts(result: Any) -> list[tuple[str, str, str, Decimal]]:
    return [
        (r.rep_id, r.period, r.component, r.amount) for r in result.lines.itertuples(index=False)
    ]


PCT = [{"type": "percentage", "rate": "0.1"}]


def test_splits_credit_each_rep_its_share() -> None:
    t = tx(
        {
            "transaction_id": "T1",
            "rep_id": "a",
            "amount": "1000",
            "credit_date": "2025-01-05",
            "share": "0.3",
        },
        {
            "transaction_id": "T1",
            "rep_id": "b",
            "amount": "1000",
            "credit_date": "2025-01-05",
            "share": "0.7",
        },
    )
    r = calculate_commissions(plan(PCT), t)
    assert dict(zip(r.statements["rep_id"], r.statements["credited"], strict=True)) == {
        "a": D("300"),
        "b": D("700"),
    }
    assert r.lines["amount"].tolist() == [D("30.00"), D("70.00")]


def test_shares_not_summing_to_one_name_the_transaction() -> None:
    t = tx(
        {
            "transaction_id": "T9",
            "rep_id": "a",
            "amount": "1000",
            "credit_date": "2025-01-05",
            "share": "0.3",
        },
        {
            "transaction_id": "T9",
            "rep_id": "b",
            "amount": "1000",
            "credit_date": "2025-01-05",
            "share": "0.6",
        },
    )
    with pytest.raises(CommissionInputError, match=r"'T9'.*sum to 0\.9"):
        calculate_commissions(plan(PCT), t)


def test_fx_converts_at_the_credit_month_rate_exactly() -> None:
    t = tx(
        {
            "transaction_id": "T1",
            "rep_id": "a",
            "amount": "1000.00",
            "currency": "EUR",
            "credit_date": "2025-02-10",
        }
    )
    fx = pd.DataFrame(
        {
            "period": ["2025-01", "2025-02"],
            "from_currency": ["EUR"] * 2,
            "to_currency": ["USD"] * 2,
            "rate": ["1.1", "1.08345"],
        }
    )
    r = calculate_commissions(plan(PCT), t, fx=fx)
    assert r.statements["credited"].iloc[0] == D("1083.45")
    assert r.lines["amount"].iloc[0] == D("108.35")  # 108.345 half_up


def test_missing_fx_rate_names_pair_and_month() -> None:
    t = tx(
        {
            "transaction_id": "T1",
            "rep_id": "a",
            "amount": "1000",
            "currency": "EUR",
            "credit_date": "2025-03-10",
        }
    )
    with pytest.raises(CommissionInputError, match=r"EUR to USD for 2025-03.*'T1'"):
        calculate_commissions(plan(PCT), t)


def test_unknown_currency_names_row_and_column() -> None:
    t = tx(
        {
            "transaction_id": "T1",
            "rep_id": "a",
            "amount": "1",
            "currency": "EURO",
            "credit_date": "2025-03-10",
        }
    )
    with pytest.raises(
        CommissionInputError, match=r"transactions row 1, column currency: unknown currency 'EURO'"
    ):
        calculate_commissions(plan(PCT), t)


def test_missing_quota_names_rep_and_period() -> None:
    comps = [
        {
            "type": "tiered",
            "basis": "attainment",
            "mode": "marginal",
            "tiers": [{"upto": "1", "rate": "0.1"}, {"rate": "0.2"}],
        }
    ]
    t = tx({"transaction_id": "T1", "rep_id": "ann", "amount": "1", "credit_date": "2025-04-10"})
    with pytest.raises(CommissionInputError, match=r"no quota for rep 'ann' in 2025-Q2"):
        calculate_commissions(plan(comps), t)


def test_float_amounts_are_refused() -> None:
    t = pd.DataFrame(
        {
            "transaction_id": ["T1"],
            "rep_id": ["a"],
            "amount": [0.1],
            "currency": ["USD"],
            "credit_date": ["2025-01-01"],
        }
    )
    with pytest.raises(CommissionInputError, match=r"column amount: binary float"):
        calculate_commissions(plan(PCT), t)


@pytest.mark.parametrize(
    ("currency", "rounding", "expected"),
    [
        ("USD", "half_up", "0.13"),
        ("USD", "half_even", "0.12"),
        ("JPY", "half_up", "13"),
        ("BHD", "half_even", "0.125"),
    ],
)
def test_rounding_modes_and_minor_units(currency: str, rounding: str, expected: str) -> None:
    t = tx(
        {
            "transaction_id": "T1",
            "rep_id": "a",
            "amount": "1.25",
            "currency": currency,
            "credit_date": "2025-01-01",
        }
    )
    comps = [{"type": "percentage", "rate": "0.1" if currency != "JPY" else "10"}]
    r = calculate_commissions({**plan(comps), "currency": currency, "rounding": rounding}, t)
    assert str(r.lines["amount"].iloc[0]) == expected


def test_fixed_per_deal_unit_and_rate_table() -> None:
    t = tx(
        {
            "transaction_id": "T1",
            "rep_id": "a",
            "amount": "1000",
            "credit_date": "2025-01-05",
            "product": "X",
            "quantity": "3",
            "share": "0.5",
        },
        {
            "transaction_id": "T1",
            "rep_id": "b",
            "amount": "1000",
            "credit_date": "2025-01-05",
            "product": "X",
            "quantity": "3",
            "share": "0.5",
        },
        {
            "transaction_id": "T2",
            "rep_id": "a",
            "amount": "200",
            "credit_date": "2025-01-06",
            "product": "Y",
            "quantity": "1",
        },
    )
    comps = [
        {"type": "fixed_per_deal", "amount": "100"},
        {"type": "fixed_per_unit", "amount": "10", "filter": {"product": "X"}},
        {"type": "rate_table", "key": "product", "rates": {"X": "0.05"}, "default": "0.01"},
    ]
    r = calculate_commissions(plan(comps), t)
    a = r.lines[r.lines["rep_id"] == "a"]
    assert a[["component", "transaction_id", "amount"]].values.tolist() == [
        ["fixed_per_deal", "T1", D("50.00")],
        ["fixed_per_deal", "T2", D("100.00")],
        ["fixed_per_unit", "T1", D("15.00")],
        ["rate_table", "T1", D("25.00")],
        ["rate_table", "T2", D("2.00")],
    ]


def test_date_range_spiff_is_inclusive() -> None:
    t = tx(
        *(
            {"transaction_id": f"T{d}", "rep_id": "a", "amount": "100", "credit_date": d}
            for d in ("2025-01-31", "2025-02-01", "2025-03-15", "2025-03-16")
        )
    )
    comps = [
        {
            "type": "fixed_per_deal",
            "name": "spiff",
            "amount": "50",
            "filter": {"credit_date": {"from": "2025-02-01", "to": "2025-03-15"}},
        }
    ]
    r = calculate_commissions(plan(comps), t)
    assert r.lines["transaction_id"].tolist() == ["T2025-02-01", "T2025-03-15"]


def test_payout_curve_and_bonus() -> None:
    t = tx({"transaction_id": "T1", "rep_id": "a", "amount": "75000", "credit_date": "2025-01-05"})
    q = pd.DataFrame({"rep_id": ["a"], "period": ["2025-Q1"], "quota": ["100000"]})
    comps = [
        {
            "type": "payout_curve",
            "target_incentive": "10000",
            "points": [[0.5, 0], [1.0, 1.0], [1.5, 2.0]],
        },
        {"type": "bonus", "amount": "500", "when": {"attainment_gte": "0.75", "deals_gte": 1}},
        {"type": "bonus", "name": "club", "amount": "900", "when": {"attainment_gte": "1.0"}},
    ]
    r = calculate_commissions(plan(comps), t, q)
    assert r.lines[["component", "amount"]].values.tolist() == [
        ["payout_curve", D("5000.00")],
        ["bonus_2", D("500.00")],
    ]


def test_cap_adjusts_down_to_the_cap() -> None:
    t = tx({"transaction_id": "T1", "rep_id": "a", "amount": "100000", "credit_date": "2025-01-05"})
    r = calculate_commissions(plan(PCT, cap={"amount": "6000"}), t)
    assert line_amounts(r)[-1] == ("a", "2025-Q1", "cap_adjustment", D("-4000.00"))
    assert r.statements["payout"].iloc[0] == D("6000.00")
    assert r.statements["gross"].iloc[0] == D("10000.00")


@pytest.mark.parametrize("recoverable", [True, False])
def test_draws(recoverable: bool) -> None:
    t = tx(
        {"transaction_id": "T1", "rep_id": "a", "amount": "10000", "credit_date": "2025-01-05"},
        {"transaction_id": "T2", "rep_id": "a", "amount": "50000", "credit_date": "2025-04-05"},
    )
    r = calculate_commissions(plan(PCT, draw={"amount": "3000", "recoverable": recoverable}), t)
    adj = [(p, c, a) for _r, p, c, a in line_amounts(r) if c.startswith("draw")]
    if recoverable:
        assert adj == [
            ("2025-Q1", "draw", D("2000.00")),
            ("2025-Q2", "draw_recovery", D("-2000.00")),
        ]
        assert r.statements["payout"].tolist() == [D("3000.00"), D("3000.00")]
    else:
        assert adj == [("2025-Q1", "draw", D("2000.00"))]
        assert r.statements["payout"].tolist() == [D("3000.00"), D("5000.00")]


def test_overrides_pay_managers_up_the_levels() -> None:
    t = tx(
        {"transaction_id": "T1", "rep_id": "rep", "amount": "10000", "credit_date": "2025-01-05"}
    )
    roster = pd.DataFrame({"rep_id": ["rep", "mgr", "vp"], "manager_id": ["mgr", "vp", ""]})
    comps = [*PCT, {"type": "override", "rate": "0.02", "levels": 2}]
    r = calculate_commissions(plan(comps), t, roster=roster)
    assert line_amounts(r) == [
        ("mgr", "2025-Q1", "override", D("200.00")),
        ("rep", "2025-Q1", "percentage", D("1000.00")),
        ("vp", "2025-Q1", "override", D("200.00")),
    ]
    one = calculate_commissions(
        plan([*PCT, {"type": "override", "rate": "0.02"}]), t, roster=roster
    )
    assert "vp" not in set(one.lines["rep_id"])


def test_eligibility_roles_tenure_and_employment() -> None:
    t = tx(
        {"transaction_id": "T1", "rep_id": "ae", "amount": "100", "credit_date": "2025-01-05"},
        {"transaction_id": "T2", "rep_id": "sdr", "amount": "100", "credit_date": "2025-01-05"},
        {"transaction_id": "T3", "rep_id": "new", "amount": "100", "credit_date": "2025-03-30"},
        {"transaction_id": "T4", "rep_id": "new", "amount": "100", "credit_date": "2025-04-10"},
        {"transaction_id": "T5", "rep_id": "gone", "amount": "100", "credit_date": "2025-01-10"},
        {"transaction_id": "T6", "rep_id": "gone", "amount": "100", "credit_date": "2025-02-10"},
    )
    roster = pd.DataFrame(
        {
            "rep_id": ["ae", "sdr", "new", "gone"],
            "role": ["AE", "SDR", "AE", "AE"],
            "hire_date": ["2020-01-01", "2020-01-01", "2025-03-01", "2020-01-01"],
            "terminated_date": ["", "", "", "2025-01-31"],
        }
    )
    p = plan(PCT, eligibility={"roles": ["AE"], "min_tenure_days": 60})
    r = calculate_commissions(p, t, roster=roster)
    assert sorted(zip(r.lines["rep_id"], r.lines["transaction_id"], strict=True)) == [
        ("ae", "T1"),
        ("gone", "T5"),
        ("new", "T4"),
    ]


def test_cumulative_true_up_pays_the_difference() -> None:
    comps = [
        {
            "type": "tiered",
            "basis": "attainment",
            "mode": "retroactive",
            "tiers": [{"upto": "1", "rate": "0.05"}, {"rate": "0.10"}],
        }
    ]
    t = tx(
        {"transaction_id": "T1", "rep_id": "a", "amount": "80000", "credit_date": "2025-01-05"},
        {"transaction_id": "T2", "rep_id": "a", "amount": "150000", "credit_date": "2025-04-05"},
    )
    q = pd.DataFrame(
        {"rep_id": ["a", "a"], "period": ["2025-Q1", "2025-Q2"], "quota": ["100000", "100000"]}
    )
    r = calculate_commissions(plan(comps, settlement="cumulative"), t, q)
    lines = r.lines[["period", "transaction_id", "amount"]].values.tolist()
    # Q1: 80k/100k -> 5% = 4,000. Q2: YTD 230k/200k -> 10% on all: T1 8,000 (true-up +4,000), T2 15,000.
    assert lines == [
        ["2025-Q1", "T1", D("4000.00")],
        ["2025-Q2", "T1", D("4000.00")],
        ["2025-Q2", "T2", D("15000.00")],
    ]
    assert "true-up" in r.lines["explanation"].iloc[1]


def test_periods_restrict_the_output_only() -> None:
    t = tx(
        {"transaction_id": "T1", "rep_id": "a", "amount": "100", "credit_date": "2025-01-05"},
        {"transaction_id": "T2", "rep_id": "a", "amount": "100", "credit_date": "2025-04-05"},
    )
    r = calculate_commissions(plan(PCT), t, periods=["2025-Q2"])
    assert set(r.lines["period"]) == {"2025-Q2"} and set(r.statements["period"]) == {"2025-Q2"}
    with pytest.raises(CommissionInputError, match="quarterly"):
        calculate_commissions(plan(PCT), t, periods=["2025-04"])


def test_estimator_reports_incremental_payout_per_deal() -> None:
    comps = [
        {
            "type": "tiered",
            "basis": "attainment",
            "mode": "marginal",
            "tiers": [{"upto": "1", "rate": "0.05"}, {"rate": "0.10"}],
        }
    ]
    existing = tx(
        {"transaction_id": "T1", "rep_id": "a", "amount": "90000", "credit_date": "2025-01-05"}
    )
    q = pd.DataFrame(
        {"rep_id": ["a", "a"], "period": ["2025-Q1", "2025-Q2"], "quota": ["100000"] * 2}
    )
    deals = pd.DataFrame(
        {
            "transaction_id": ["O1", "O2"],
            "amount": ["20000", "20000"],
            "currency": ["USD", "USD"],
            "credit_date": ["2025-02-01", "2025-05-01"],
            "share": ["1", "0.5"],
        }
    )
    est = estimate_earnings(plan(comps), "a", deals, existing, q)
    # O1: 10k at 5% + 10k at 10% = 1,500. O2: half of 20k in Q2 at 5% = 500.
    assert est["incremental"].tolist() == [D("1500.00"), D("500.00")]
    assert est["period"].tolist() == ["2025-Q1", "2025-Q2"]


def test_json_plan_example_runs_end_to_end() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    t = tx(
        {
            "transaction_id": "T1",
            "rep_id": "ae1",
            "amount": "40000",
            "currency": "EUR",
            "credit_date": "2025-02-10",
            "product": "GTX Pro",
            "category": "GTX",
            "quantity": "2",
        },
        {
            "transaction_id": "T2",
            "rep_id": "ae1",
            "amount": "90000",
            "currency": "USD",
            "credit_date": "2025-05-10",
            "product": "GTK 500",
            "category": "GTK",
            "quantity": "4",
            "cancel_date": "2025-07-01",
        },
        {
            "transaction_id": "T3",
            "rep_id": "sdr",
            "amount": "1000",
            "currency": "EUR",
            "credit_date": "2025-02-11",
            "product": "MG",
            "category": "MG",
            "quantity": "1",
        },
    )
    q = pd.DataFrame(
        {"rep_id": ["ae1"] * 3, "period": ["2025-Q1", "2025-Q2", "2025-Q3"], "quota": ["50000"] * 3}
    )
    roster = pd.DataFrame(
        {"rep_id": ["ae1", "sdr"], "role": ["AE", "SDR"], "hire_date": ["2020-01-01", "2020-01-01"]}
    )
    fx = pd.DataFrame(
        {
            "period": ["2025-02", "2025-05"],
            "from_currency": ["EUR", "USD"],
            "to_currency": ["EUR", "EUR"],
            "rate": ["1", "0.9"],
        }
    )
    fx = fx[fx["from_currency"] != fx["to_currency"]]
    r = calculate_commissions(root / "examples" / "plans" / "emea-ae-2025.json", t, q, roster, fx)
    assert set(r.lines["rep_id"]) == {"ae1"}
    components = set(r.lines["component"])
    assert {"quota_tiers", "target_bonus", "spring_spiff", "unit_spiff", "clawback"} <= components
    sums: dict[tuple[str, str], Decimal] = {}
    for row in r.lines.itertuples(index=False):
        sums[(row.rep_id, row.period)] = sums.get((row.rep_id, row.period), D(0)) + row.amount
    for s in r.statements.itertuples(index=False):
        assert s.payout == sums.get((s.rep_id, s.period), D(0))
    payload = r.to_json_dict()
    assert payload["lines"][0]["amount"] == format(r.lines["amount"].iloc[0], "f")


def test_parquet_inputs_keep_decimals_and_refuse_floats(tmp_path: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "transaction_id": ["T1"],
            "rep_id": ["a"],
            "amount": pa.array([D("1234.56")], pa.decimal128(12, 2)),
            "currency": ["USD"],
            "credit_date": pa.array([date_(2025, 1, 5)]),
        }
    )
    good = tmp_path / "tx.parquet"
    pq.write_table(table, good)
    r = calculate_commissions(plan(PCT), good)
    assert r.statements["credited"].iloc[0] == D("1234.56")
    assert r.lines["amount"].iloc[0] == D("123.46")
    bad = tmp_path / "float.parquet"
    pq.write_table(table.set_column(2, "amount", pa.array([1234.56])), bad)
    with pytest.raises(CommissionInputError, match=r"column amount: stored as binary float"):
        calculate_commissions(plan(PCT), bad)
