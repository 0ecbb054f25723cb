"""`spm targets cascade` and `spm quota status` on the canonical store in
PostgreSQL (the machine's server), in a schema of its own dropped afterwards."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from features.ingest.storage import open_store
from spm_cli.main import app

pytestmark = pytest.mark.postgres

PROV = {"source": "test", "is_synthetic": False}


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame([{**r, **PROV} for r in rows])


@pytest.fixture
def store_url(postgres_url: str) -> Iterator[str]:
    schema = f"spm_t_{uuid.uuid4().hex}"
    url = f"{postgres_url}?schema={schema}"
    store = open_store(url)
    reps = [
        {"rep_id": r, "name": r, "manager_id": None, "team_id": "team:A", "region_id": "region:A",
         "role": "AE", "hire_date": None, "termination_date": None, "currency": "USD"}
        for r in ("ann", "bob")
    ]  # fmt: skip
    txns = [
        {"transaction_id": t, "rep_id": r, "amount": Decimal(a), "currency": "USD",
         "credit_date": pd.Timestamp(d), "share": Decimal(1)}
        for t, r, d, a in [("h1", "ann", "2016-05-01", "300"), ("h2", "bob", "2016-06-01", "100"),
                           ("q1", "ann", "2017-07-03", "50000.50")]
    ]  # fmt: skip
    try:
        store.write_tables(
            {
                "org_units": _frame(
                    [
                        {"unit_id": "company", "kind": "company", "name": "C", "parent_id": None},
                        {
                            "unit_id": "region:A",
                            "kind": "region",
                            "name": "A",
                            "parent_id": "company",
                        },
                        {"unit_id": "team:A", "kind": "team", "name": "T", "parent_id": "region:A"},
                    ]
                ),
                "reps": _frame(reps),
                "transactions": _frame(txns),
                "quotas": _frame(
                    [
                        {
                            "rep_id": "ann",
                            "period": "2017-Q3",
                            "measure": "revenue",
                            "quota": Decimal("100000"),
                            "currency": "USD",
                        }
                    ]
                ),
            }
        )
        yield url
    finally:
        store.dispose()  # type: ignore[attr-defined]
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def test_cascade_and_status_read_postgres(store_url: str) -> None:
    runner = CliRunner()
    cascade = runner.invoke(
        app,
        ["targets", "cascade", "--total", "1000.01", "--currency", "USD", "--period", "2017",
         "--method", "history", "--data-dir", store_url, "--json"],
    )  # fmt: skip
    assert cascade.exit_code == 0, cascade.output
    team = json.loads(cascade.stdout)["tree"]["children"][0]["children"][0]
    assert [r["amount"] for r in team["children"]] == ["750.01", "250.00"]
    status = runner.invoke(
        app,
        ["quota", "status", "--period", "2017-Q3", "--as-of", "2017-10-01T00:00:00+00:00",
         "--data-dir", store_url, "--json"],
    )  # fmt: skip
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.stdout)
    assert Decimal(row["achieved"]) == Decimal("50000.50") and row["status"] == "At Risk"
    assert row["period_closed"] is True
