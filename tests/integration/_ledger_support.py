"""Helpers shared by the ledger tests on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from spm_domain.ledger import Ledger, LineRecord, RunInput, StatementRecord


@dataclass(frozen=True)
class LedgerTarget:
    """Where a test ledger lives; `open()` gives an independent connection pool."""

    url: str
    schema: str | None = None

    def open(self) -> Ledger:
        return Ledger.open(self.url, schema=self.schema)


def make_run(
    period: str = "2025-Q1",
    amounts: dict[tuple[str, str], str] | None = None,
    *,
    inputs: str = "tx-v1",
    plan_hash: str = "plan-hash-1",
    plan_id: str = "plan_a",
    currency: str = "USD",
) -> RunInput:
    """A hand-made run: {(rep, transaction): amount}."""
    amounts = amounts or {
        ("rep_1", "T1"): "100.00",
        ("rep_1", "T2"): "250.50",
        ("rep_2", "T3"): "80.00",
    }
    lines = tuple(
        LineRecord(
            rep_id=rep,
            period=period,
            component="base",
            amount=Decimal(amount),
            currency=currency,
            transaction_id=tx,
            credited_amount=Decimal(amount) * 10,
            rate=Decimal("0.1"),
            explanation=f"10% on {Decimal(amount) * 10:,.2f}",
        )
        for (rep, tx), amount in amounts.items()
    )
    reps = sorted({rep for rep, _tx in amounts})
    statements = tuple(
        StatementRecord(
            rep_id=rep,
            period=period,
            credited=sum(
                (line.credited_amount or Decimal(0) for line in lines if line.rep_id == rep),
                Decimal(0),
            ),
            gross=sum((line.amount for line in lines if line.rep_id == rep), Decimal(0)),
            adjustments=Decimal(0),
            payout=sum((line.amount for line in lines if line.rep_id == rep), Decimal(0)),
            currency=currency,
            quota=Decimal("5000"),
            attainment=Decimal("0.7"),
        )
        for rep in reps
    )
    return RunInput(
        plan_id=plan_id,
        plan_version="v1",
        plan_hash=plan_hash,
        period=period,
        input_hashes={"transactions": inputs, "quotas": "q-v1"},
        lines=lines,
        statements=statements,
        engine_version="test",
    )


def big_run(lines: int, period: str = "2025-Q1", inputs: str = "big") -> RunInput:
    amounts = {(f"rep_{i % 50}", f"T{i}"): "1.25" for i in range(lines)}
    return make_run(period, amounts, inputs=inputs, plan_id="plan_big")


def table_counts(ledger: Ledger) -> dict[str, int]:
    tables = (
        "ledger_runs", "ledger_lines", "ledger_audit", "ledger_approvals",
        "ledger_payments", "ledger_run_statements", "ledger_plan_versions",
    )  # fmt: skip
    with ledger.engine.connect() as connection:
        return {
            t: connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables
        }


def postgres_target(base_url: str) -> Iterator[LedgerTarget]:
    """A fresh schema per test, dropped afterwards (others share the server)."""
    schema = f"spm_t_{uuid.uuid4().hex}"
    target = LedgerTarget(base_url, schema)
    try:
        yield target
    finally:
        engine = sa.create_engine(base_url)
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
