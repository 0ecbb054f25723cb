"""Oracle's published worked examples (../shared/data/commission_worked_examples)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spm_domain.commissions import calculate_commissions


@pytest.fixture(scope="module")
def examples(shared_dir: Path) -> dict[str, dict[str, Any]]:
    path = shared_dir / "data" / "commission_worked_examples" / "commission_worked_examples.json"
    return {e["id"]: e for e in json.loads(path.read_text())}


def _tiers(rate_table: list[dict[str, Any]], last_open: bool = True) -> list[dict[str, str]]:
    tiers = [
        {"upto": str(t["to"]), "rate": str(Decimal(str(t["rate_pct"])) / 100)} for t in rate_table
    ]
    if last_open:
        tiers[-1].pop("upto")
    return tiers


def _tx(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": [r[0] for r in rows],
            "rep_id": ["rep"] * len(rows),
            "amount": [r[1] for r in rows],
            "currency": ["USD"] * len(rows),
            "credit_date": [r[2] for r in rows],
        }
    )


def test_step_rate_per_transaction_scope_totals_164(examples: dict[str, Any]) -> None:
    ex = examples["oracle_step_rate_individual_txns"]
    plan = {
        "plan": "oracle-step",
        "currency": "USD",
        "period": "yearly",
        "components": [
            {
                "type": "tiered",
                "basis": "amount",
                "mode": "marginal",
                "scope": "transaction",
                "tiers": _tiers(ex["plan"]["rate_table"]),
            }
        ],
    }
    txs = ex["transactions"]
    result = calculate_commissions(plan, _tx([(t["id"], str(t["amount"]), t["date"]) for t in txs]))
    got = dict(zip(result.lines["transaction_id"], result.lines["amount"], strict=True))
    assert got == {t["id"]: Decimal(t["expected_commission"]) for t in txs}
    assert result.statements["payout"].sum() == Decimal(ex["expected_total"])


@pytest.mark.parametrize("mode", ["retroactive", "marginal"])
def test_flat_vs_step_lookup(examples: dict[str, Any], mode: str) -> None:
    ex = examples["oracle_flat_vs_step_rate_lookup"]
    wanted = "not split" if mode == "retroactive" else "split, fixed"
    plan = {
        "plan": "oracle-flat",
        "currency": "USD",
        "period": "yearly",
        "components": [
            {
                "type": "tiered",
                "basis": "amount",
                "mode": mode,
                "scope": "transaction",
                "tiers": _tiers(ex["plan"]["rate_table"]),
            }
        ],
    }
    cases = [c for c in ex["cases"] if c["mode"].startswith(wanted)]
    rows = [(f"T{i}", str(c["amount"]), "2025-01-01") for i, c in enumerate(cases)]
    result = calculate_commissions(plan, _tx(rows))
    assert result.lines["amount"].tolist() == [Decimal(c["derived_commission"]) for c in cases]


def test_boundary_value_takes_the_higher_tier(examples: dict[str, Any]) -> None:
    ex = examples["oracle_equal_tier_boundary"]
    plan = {
        "plan": "oracle-boundary",
        "currency": "USD",
        "period": "yearly",
        "components": [
            {
                "type": "tiered",
                "basis": "amount",
                "mode": "retroactive",
                "tiers": _tiers(ex["plan"]["rate_table"]),
            }
        ],
    }
    case = ex["cases"][0]
    result = calculate_commissions(plan, _tx([("T1", str(case["amount"]), "2025-05-05")]))
    line = result.lines.iloc[0]
    assert line["rate"] == Decimal(case["expected_rate_pct"]) / 100
    # Also as attainment: exactly 100% of quota earns the rate above 100%.
    plan["components"] = [
        {
            "type": "tiered",
            "basis": "attainment",
            "mode": "retroactive",
            "tiers": [{"upto": "1", "rate": "0.05"}, {"rate": "0.10"}],
        }
    ]
    quotas = pd.DataFrame({"rep_id": ["rep"], "period": ["2025"], "quota": ["50000"]})
    result = calculate_commissions(plan, _tx([("T1", str(case["amount"]), "2025-05-05")]), quotas)
    assert result.lines.iloc[0]["amount"] == Decimal("5000.00")


def test_interval_goal_attainment(examples: dict[str, Any]) -> None:
    ex = examples["oracle_interval_goal_attainment"]
    monthly = Decimal(ex["plan"]["annual_goal"]) / 12
    month_of = {"I1": "2025-01", "I2": "2025-02"}
    rows = [
        (t["id"], str(Decimal(str(t["credit"]))), f"{month_of[t['interval']]}-15")
        for t in ex["transactions"]
    ]
    quotas = pd.DataFrame(
        {"rep_id": ["rep", "rep"], "period": list(month_of.values()), "quota": [str(monthly)] * 2}
    )
    plan = {
        "plan": "oracle-interval",
        "currency": "USD",
        "period": "monthly",
        "components": [{"type": "percentage", "rate": "0.01"}],
    }
    result = calculate_commissions(plan, _tx(rows), quotas)
    attainment = dict(
        zip(result.statements["period"], result.statements["attainment"], strict=True)
    )
    expected = ex["expected_goal_attainment_pct"]
    for interval, month in month_of.items():
        assert (attainment[month] * 100).quantize(Decimal("0.01")) == Decimal(
            str(expected[interval])
        )
