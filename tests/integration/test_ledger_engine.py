"""The commission engine and the ledger together: calculate and post a run end
to end, then a late deal recalculates a closed period into delta lines booked
in the current open period (the contract's worked example, retroactive mode)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spm_cli.main import app
from spm_domain.commissions import calculate_commissions, write_run
from spm_domain.ledger import Ledger
from spm_domain.ledger.engine_bridge import run_inputs_from_result
from spm_domain.ledger.statements import build_statement

PLAN = {
    "plan": "worked",
    "currency": "USD",
    "period": "quarterly",
    "components": [
        {
            "type": "tiered",
            "basis": "attainment",
            "mode": "retroactive",
            "tiers": [
                {"upto": "0.5", "rate": "0"},
                {"upto": "1.0", "rate": "0.08"},
                {"upto": "1.5", "rate": "0.12"},
                {"rate": "0.15"},
            ],
        }
    ],
    "clawback": {"window_days": 90},
}
DEALS = {
    "transaction_id": ["A", "B", "C"],
    "rep_id": ["r1", "r1", "r1"],
    "amount": ["30000", "50000", "45000"],
    "currency": ["USD", "USD", "USD"],
    "credit_date": ["2025-01-10", "2025-02-03", "2025-03-20"],
    "cancel_date": ["", "2025-04-15", ""],
}
LATE_DEAL = {
    "transaction_id": "D",
    "rep_id": "r1",
    "amount": "30000",
    "currency": "USD",
    "credit_date": "2025-03-28",
    "cancel_date": "",
}
QUOTAS = pd.DataFrame({"rep_id": ["r1"], "period": ["2025-Q1"], "quota": ["100000"]})


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")


def _amounts(ledger: Ledger, period: str) -> dict[tuple[str, str], Decimal]:
    return {(x.component, x.transaction_id): x.amount for x in ledger.lines(period=period)}


def test_calculate_post_and_recalculate_a_closed_period(ledger: Ledger) -> None:
    first = calculate_commissions(PLAN, pd.DataFrame(DEALS), QUOTAS)
    for run in run_inputs_from_result(first):
        assert ledger.post_run(run, "alice").created
    assert _amounts(ledger, "2025-Q1") == {
        ("tiered", "A"): Decimal("3600.00"),
        ("tiered", "B"): Decimal("6000.00"),
        ("tiered", "C"): Decimal("5400.00"),
    }
    assert _amounts(ledger, "2025-Q2") == {("clawback", "B"): Decimal("-6000.00")}
    # Same calculation posted again: nothing new.
    assert not any(ledger.post_run(r, "alice").created for r in run_inputs_from_result(first))

    q1_run = ledger.runs(period="2025-Q1")[0]
    ledger.approve_run(q1_run.id, "mia", "manager")
    ledger.approve_run(q1_run.id, "fred", "finance")
    ledger.pay("2025-Q1", "paula")
    ledger.close_period("2025-Q1", "fred")
    closed = [(x.id, x.amount, x.status, x.version) for x in ledger.lines(period="2025-Q1")]

    # A late Q1 deal lifts attainment to 155%: every Q1 deal now earns 15%.
    late = pd.concat([pd.DataFrame(DEALS), pd.DataFrame([LATE_DEAL])], ignore_index=True)
    second = calculate_commissions(PLAN, late, QUOTAS)
    results = [ledger.post_run(r, "alice") for r in run_inputs_from_result(second)]
    assert all(r.created and r.run.kind == "recalculation" for r in results)
    assert [x for x in closed] == [
        (x.id, x.amount, x.status, x.version) for x in ledger.lines(period="2025-Q1")
    ]
    q2 = {
        (x.earned_period, x.component, x.transaction_id, x.kind): x.amount
        for x in ledger.lines(period="2025-Q2")
    }
    assert q2 == {
        ("2025-Q2", "clawback", "B", "commission"): Decimal("-6000.00"),
        ("2025-Q1", "tiered", "A", "delta"): Decimal("900.00"),
        ("2025-Q1", "tiered", "B", "delta"): Decimal("1500.00"),
        ("2025-Q1", "tiered", "C", "delta"): Decimal("1350.00"),
        ("2025-Q1", "tiered", "D", "delta"): Decimal("4500.00"),
        ("2025-Q2", "clawback", "B", "delta"): Decimal("-1500.00"),
    }
    # What is booked for each earned period now equals the new calculation.
    new_total = sum(second.lines["amount"], Decimal(0))
    assert sum((x.amount for x in ledger.lines()), Decimal(0)) == new_total

    # The closed period's statement still shows what its lines were calculated with.
    closed_statement = build_statement(ledger, "r1", "2025-Q1")
    assert closed_statement.attainment == Decimal("1.25")
    assert closed_statement.payout == Decimal("15000.00")
    statement = build_statement(ledger, "r1", "2025-Q2")
    assert statement.payout == sum((x.amount for x in statement.all_lines), Decimal(0))
    assert statement.payout == Decimal("750.00")  # -6000 - 1500 + 900 + 1500 + 1350 + 4500


def test_cli_posts_an_engine_run_directory_and_a_plan(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(PLAN))
    deals = tmp_path / "transactions.csv"
    pd.DataFrame(DEALS).to_csv(deals, index=False)
    quotas = tmp_path / "quotas.csv"
    QUOTAS.to_csv(quotas, index=False)
    run_dir = tmp_path / "run"
    write_run(calculate_commissions(str(plan_path), deals, quotas), run_dir)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    runner = CliRunner()

    posted = runner.invoke(
        app, ["ledger", "post", "--run-dir", str(run_dir), "--ledger", url, "--as", "a", "--json"]
    )
    assert posted.exit_code == 0, posted.output
    assert [r["created"] for r in json.loads(posted.stdout)] == [True, True]
    # The same calculation straight from the plan has the same run keys: nothing new.
    again = runner.invoke(
        app,
        ["ledger", "post", "--plan", str(plan_path), "--transactions", str(deals), "--quotas", str(quotas),
         "--ledger", url, "--as", "a", "--json"],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert [r["created"] for r in json.loads(again.stdout)] == [False, False]
    with Ledger.open(url) as ledger:
        assert len(ledger.lines()) == 4
        run = ledger.runs()[0]
        assert run.plan_id == "worked" and set(run.input_hashes) == {"transactions", "quotas"}
