"""The cap, by hand: per period, on the rounded component lines, never a positive line.

Regression tests for the engine/reference disagreement that Hypothesis found in cumulative
plans with a cap (docs/commissions.md, "After the components", Cap). Every expected amount is
computed in the comment above it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from commissions_reference import RefTx, reference_run

from spm_domain.commissions import calculate_commissions, load_plan

D = Decimal
PCT_10 = [{"type": "percentage", "rate": "0.1"}]
RETRO_TIERS = [
    {
        "type": "tiered",
        "basis": "attainment",
        "mode": "retroactive",
        "tiers": [{"upto": "1", "rate": "0.05"}, {"rate": "0.10"}],
    }
]


def plan(components: list[dict[str, Any]], cap: str, **extra: Any) -> dict[str, Any]:
    return {
        "plan": "cap",
        "currency": "USD",
        "period": "quarterly",
        "components": components,
        "cap": {"amount": cap},
        **extra,
    }


def tx(*rows: tuple[str, str, str] | tuple[str, str, str, str]) -> pd.DataFrame:
    """(transaction_id, amount, credit_date[, cancel_date]) rows of rep 'a' in USD."""
    return pd.DataFrame(
        [
            {
                "transaction_id": r[0],
                "rep_id": "a",
                "amount": r[1],
                "currency": "USD",
                "credit_date": r[2],
                "cancel_date": r[3] if len(r) > 3 else "",
            }
            for r in rows
        ]
    )


def quotas(*periods: str, quota: str = "100000") -> pd.DataFrame:
    return pd.DataFrame({"rep_id": ["a"] * len(periods), "period": periods, "quota": quota})


def lines_of(result: Any) -> list[tuple[str, str, str, Decimal]]:
    return [
        (r.period, r.component, r.transaction_id or "", r.amount)
        for r in result.lines.itertuples(index=False)
    ]


def assert_reference_agrees(plan_doc: dict[str, Any], txs: pd.DataFrame, q: Any, r: Any) -> None:
    """The independent Decimal reference pays the same non-zero (period, component, tx)."""
    ref_txs = [
        RefTx(
            row.transaction_id,
            row.rep_id,
            D(row.amount),
            row.currency,
            date.fromisoformat(row.credit_date),
            cancel_date=date.fromisoformat(row.cancel_date) if row.cancel_date else None,
        )
        for row in txs.itertuples(index=False)
    ]
    ref_quotas = (
        {} if q is None else {("a", p): D(v) for p, v in zip(q["period"], q["quota"], strict=True)}
    )
    ref, _ = reference_run(load_plan(plan_doc), ref_txs, ref_quotas, None, {})
    engine: dict[tuple[str, str, str], Decimal] = {}
    for period, component, tx_id, amount in lines_of(r):
        key = (period, component, tx_id)
        engine[key] = engine.get(key, D(0)) + amount
    assert {k: v for k, v in engine.items() if v != 0} == {
        (p, name, tx_id): v for (_rep, p, name, tx_id), v in ref.items() if v != 0
    }


def payouts(result: Any) -> dict[str, Decimal]:
    return dict(zip(result.statements["period"], result.statements["payout"], strict=True))


def test_deal_cancelled_on_its_credit_date_leaves_no_cap_line_in_later_periods() -> None:
    # The CI example, shrunk: cumulative, 5%, cap 500; T0 of 100 and T1 of 10,000.10 cancelled
    # the day it was credited, both in Q1. Q1: T0 5% x 100 = 5.00; T1 5% x 10,000.10 = 500.005
    # -> 500.01 (half_up); the period's lines sum 505.01 > 500 -> cap -5.01; the clawback
    # reverses what T1's line paid, -500.01 (the contract's order: cap, draw, clawback).
    # Q2: T0's true-up is 0 (no line), T1 is clawed back (no true-up), so no component line and
    # nothing to cap. The old year-to-date rule released the cut in the reference
    # (+5.01 = min(0, 2 x 500 - 505.01) - (-5.01)) but not in the engine.
    plan_doc = plan(
        [{"type": "percentage", "rate": "0.05"}],
        "500",
        settlement="cumulative",
        clawback={"window_days": 90},
    )
    txs = tx(("T0", "100", "2025-01-20"), ("T1", "10000.1", "2025-02-10", "2025-02-10"))
    q = quotas("2025-Q1", "2025-Q2")
    r = calculate_commissions(plan_doc, txs, q)
    assert_reference_agrees(plan_doc, txs, q, r)
    assert lines_of(r) == [
        ("2025-Q1", "percentage", "T0", D("5.00")),
        ("2025-Q1", "percentage", "T1", D("500.01")),
        ("2025-Q1", "cap_adjustment", "", D("-5.01")),
        ("2025-Q1", "clawback", "T1", D("-500.01")),
    ]
    assert payouts(r) == {"2025-Q1": D("-0.01"), "2025-Q2": D("0.00")}


def test_cumulative_cap_never_gives_back_an_earlier_cut() -> None:
    # Q1: 10% x 10,000 = 1,000.00 > cap 500 -> cap -500.00, payout 500.00.
    # Q2: 10% x 10 = 1.00 <= 500 -> no cap line, payout 1.00. (The old year-to-date rule wrote
    # a positive cap line +499.00 here: min(0, 1,000 - 1,001) - (-500) = +499.)
    plan_doc = plan(PCT_10, "500", settlement="cumulative")
    txs, q = tx(("T1", "10000", "2025-01-15"), ("T2", "10", "2025-04-15")), None
    r = calculate_commissions(plan_doc, txs, q)
    assert_reference_agrees(plan_doc, txs, q, r)
    assert lines_of(r) == [
        ("2025-Q1", "percentage", "T1", D("1000.00")),
        ("2025-Q1", "cap_adjustment", "", D("-500.00")),
        ("2025-Q2", "percentage", "T2", D("1.00")),
    ]
    assert payouts(r) == {"2025-Q1": D("500.00"), "2025-Q2": D("1.00")}


def test_cumulative_negative_true_up_after_a_cut_is_not_capped() -> None:
    # Q1: 1,000.00 capped to 500 (-500.00). Q2: a return of -2,000 pays -200.00; the period's
    # component total -200.00 is below the cap, so no cap line (never a positive one).
    plan_doc = plan(PCT_10, "500", settlement="cumulative")
    txs, q = tx(("T1", "10000", "2025-01-15"), ("T2", "-2000", "2025-04-15")), None
    r = calculate_commissions(plan_doc, txs, q)
    assert_reference_agrees(plan_doc, txs, q, r)
    assert [ln for ln in lines_of(r) if ln[0] == "2025-Q2"] == [
        ("2025-Q2", "percentage", "T2", D("-200.00"))
    ]
    assert payouts(r) == {"2025-Q1": D("500.00"), "2025-Q2": D("-200.00")}


def test_cumulative_cap_holds_per_period_when_a_true_up_raises_the_period() -> None:
    # Quota 100,000 per quarter, tiers 5% below 100% and 10% from 100%, retroactive, cap 5,000.
    # Q1: 80,000 / 100,000 = 80% -> 5% x 80,000 = 4,000.00 <= 5,000, no cap line.
    # Q2: YTD 230,000 / 200,000 = 115% -> 10%: T1 8,000 (true-up +4,000.00), T2 15,000.00.
    # The period's settled lines sum 19,000.00 > 5,000 -> cap -14,000.00, payout 5,000.00
    # (a year-to-date cap of 2 x 5,000 would have paid 6,000.00 in Q2, over the period cap).
    plan_doc = plan(RETRO_TIERS, "5000", settlement="cumulative")
    txs = tx(("T1", "80000", "2025-01-05"), ("T2", "150000", "2025-04-05"))
    q = quotas("2025-Q1", "2025-Q2")
    r = calculate_commissions(plan_doc, txs, q)
    assert_reference_agrees(plan_doc, txs, q, r)
    assert lines_of(r) == [
        ("2025-Q1", "tiered", "T1", D("4000.00")),
        ("2025-Q2", "tiered", "T1", D("4000.00")),
        ("2025-Q2", "tiered", "T2", D("15000.00")),
        ("2025-Q2", "cap_adjustment", "", D("-14000.00")),
    ]
    assert payouts(r) == {"2025-Q1": D("4000.00"), "2025-Q2": D("5000.00")}


@pytest.mark.parametrize("settlement", ["per_period", "cumulative"])
@pytest.mark.parametrize(
    ("rounding", "line", "cap_line", "payout"),
    [
        # 12.5% x 1,333.32 = 166.665 exactly, three times (exact total 499.995 <= 500).
        # half_up: 166.67 x 3 = 500.01 > 500 -> the cap sees the rounded lines: -0.01.
        ("half_up", D("166.67"), D("-0.01"), D("500.00")),
        # half_even: 166.66 x 3 = 499.98 <= 500 -> no cap line.
        ("half_even", D("166.66"), None, D("499.98")),
    ],
)
def test_cap_compares_the_rounded_lines(
    settlement: str, rounding: str, line: Decimal, cap_line: Decimal | None, payout: Decimal
) -> None:
    plan_doc = plan(
        [{"type": "percentage", "rate": "0.125"}], "500", settlement=settlement, rounding=rounding
    )
    txs = tx(
        ("T1", "1333.32", "2025-01-05"),
        ("T2", "1333.32", "2025-02-05"),
        ("T3", "1333.32", "2025-03-05"),
    )
    r = calculate_commissions(plan_doc, txs)
    assert_reference_agrees(plan_doc, txs, None, r)
    expected = [("2025-Q1", "percentage", f"T{i}", line) for i in (1, 2, 3)]
    if cap_line is not None:
        expected.append(("2025-Q1", "cap_adjustment", "", cap_line))
    assert lines_of(r) == expected
    assert payouts(r) == {"2025-Q1": payout}


@pytest.mark.parametrize("rounding", ["half_up", "half_even"])
@pytest.mark.parametrize(
    ("amount", "cap_line", "payout"),
    [
        # 10% x 6,000.10 = 600.01 > 500.005 -> down to 500.00 (the largest cent not above the
        # cap): -100.01. Rounding 500.005 - 600.01 = -100.005 half-even would give -100.00 and a
        # payout of 500.01, above the cap.
        ("6000.10", D("-100.01"), D("500.00")),
        # 10% x 5,000.10 = 500.01 > 500.005 -> -0.01.
        ("5000.10", D("-0.01"), D("500.00")),
        # 10% x 5,000 = 500.00 <= 500.005 -> no cap line.
        ("5000", None, D("500.00")),
    ],
)
def test_a_cap_finer_than_the_minor_unit_is_never_exceeded(
    rounding: str, amount: str, cap_line: Decimal | None, payout: Decimal
) -> None:
    plan_doc, txs = plan(PCT_10, "500.005", rounding=rounding), tx(("T1", amount, "2025-01-05"))
    r = calculate_commissions(plan_doc, txs)
    assert_reference_agrees(plan_doc, txs, None, r)
    caps = [ln[3] for ln in lines_of(r) if ln[1] == "cap_adjustment"]
    assert caps == ([] if cap_line is None else [cap_line])
    assert payouts(r) == {"2025-Q1": payout}
