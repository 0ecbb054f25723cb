"""The contract's worked example: marginal, retroactive and the clawback."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from spm_domain.commissions import calculate_commissions, load_plan

TIERS = [
    {"upto": "0.5", "rate": "0"},
    {"upto": "1.0", "rate": "0.08"},
    {"upto": "1.5", "rate": "0.12"},
    {"rate": "0.15"},
]


def _plan(mode: str) -> dict[str, object]:
    return {
        "plan": "worked",
        "currency": "USD",
        "period": "quarterly",
        "components": [{"type": "tiered", "basis": "attainment", "mode": mode, "tiers": TIERS}],
        "clawback": {"window_days": 90},
    }


TRANSACTIONS = pd.DataFrame(
    {
        "transaction_id": ["A", "B", "C"],
        "rep_id": ["r1", "r1", "r1"],
        "amount": ["30000", "50000", "45000"],
        "currency": ["USD", "USD", "USD"],
        "credit_date": ["2025-01-10", "2025-02-03", "2025-03-20"],
        "cancel_date": ["", "2025-04-15", ""],
    }
)
QUOTAS = pd.DataFrame({"rep_id": ["r1"], "period": ["2025-Q1"], "quota": ["100000"]})


def _amounts(lines: pd.DataFrame, period: str) -> dict[str, Decimal]:
    rows = lines[lines["period"] == period]
    return dict(zip(rows["transaction_id"], rows["amount"], strict=True))


@pytest.mark.parametrize(
    ("mode", "expected", "clawback"),
    [
        ("marginal", {"A": "0.00", "B": "2400.00", "C": "4600.00"}, "-2400.00"),
        ("retroactive", {"A": "3600.00", "B": "6000.00", "C": "5400.00"}, "-6000.00"),
    ],
)
def test_worked_example(mode: str, expected: dict[str, str], clawback: str) -> None:
    result = calculate_commissions(_plan(mode), TRANSACTIONS, QUOTAS)
    assert _amounts(result.lines, "2025-Q1") == {k: Decimal(v) for k, v in expected.items()}
    q2 = result.lines[result.lines["period"] == "2025-Q2"]
    assert q2[["component", "transaction_id"]].values.tolist() == [["clawback", "B"]]
    assert q2["amount"].iloc[0] == Decimal(clawback)
    statements = result.statements.set_index("period")
    total = sum(Decimal(v) for v in expected.values())
    assert statements.loc["2025-Q1", "payout"] == total
    assert statements.loc["2025-Q1", "attainment"] == Decimal("1.25")
    assert statements.loc["2025-Q2", "payout"] == Decimal(clawback)
    # Attainment credit of the cancelled deal stays in Q1.
    assert statements.loc["2025-Q1", "credited"] == Decimal("125000")


def test_marginal_line_explains_its_slices() -> None:
    result = calculate_commissions(_plan("marginal"), TRANSACTIONS, QUOTAS)
    line_b = result.lines[result.lines["transaction_id"] == "B"].iloc[0]
    assert "8% on 30,000.00 between 50% and 100% of quota" in line_b["explanation"]
    assert line_b["rate"] is None  # blended over two tiers
    assert result.lines["explanation"].map(bool).all()


def test_clawback_outside_window_is_not_taken() -> None:
    plan = _plan("marginal")
    plan["clawback"] = {"window_days": 30}
    result = calculate_commissions(plan, TRANSACTIONS, QUOTAS)
    assert "clawback" not in set(result.lines["component"])


def test_yaml_and_json_examples_load(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "examples" / "plans"
    files = sorted(root.glob("*.y*ml")) + sorted(root.glob("*.json"))
    assert any(f.suffix == ".json" for f in files)
    for path in files:
        assert load_plan(path).plan
