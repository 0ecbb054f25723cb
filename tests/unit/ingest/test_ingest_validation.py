"""Per-table (pandera) and cross-table rules on canonical frames built in memory."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from features.ingest.dtypes import conform_frame
from features.ingest.schema import CANONICAL_TABLES
from features.ingest.validation import pandera_schema, validate_tables

P = {"source": "t", "is_synthetic": False}


def _tables() -> dict[str, pd.DataFrame]:
    frames: dict[str, list[dict[str, Any]]] = {
        "org_units": [
            {"unit_id": "co", "kind": "company", "name": "Co", "parent_id": None, **P},
            {"unit_id": "r", "kind": "region", "name": "R", "parent_id": "co", **P},
            {"unit_id": "t", "kind": "team", "name": "T", "parent_id": "r", **P},
        ],
        "reps": [
            {"rep_id": "m", "manager_id": None, "team_id": "t", "currency": "EUR",
             "hire_date": "2020-01-01", "termination_date": None, **P},
            {"rep_id": "a", "manager_id": "m", "team_id": "t", "currency": "EUR",
             "hire_date": "2021-01-01", "termination_date": "2022-01-01", **P},
        ],
        "opportunities": [
            {"opportunity_id": "o1", "rep_id": "a", "stage": "won", "outcome": "won",
             "amount": Decimal("5"), "currency": "EUR",
             "created_at": "2024-01-01T00:00:00Z", "closed_at": "2024-02-01T00:00:00Z", **P},
            {"opportunity_id": "o2", "rep_id": "a", "stage": "proposal", "outcome": "open",
             "created_at": "2024-01-01T00:00:00Z", "closed_at": None, **P},
        ],
        "quotas": [
            {"rep_id": "a", "period": "2024-Q1", "measure": "revenue", "quota": Decimal("100"),
             "currency": "EUR", **P},
        ],
        "fx_rates": [
            {"period": "2024-01", "from_currency": "USD", "to_currency": "EUR",
             "rate": Decimal("0.91"), **P},
        ],
    }  # fmt: skip
    return {name: conform_frame(pd.DataFrame(rows), name) for name, rows in frames.items()}


def _set(
    table: str, row: int, column: str, value: Any
) -> Callable[[dict[str, pd.DataFrame]], None]:
    def change(tables: dict[str, pd.DataFrame]) -> None:
        frame = tables[table].astype({column: object})
        frame.at[row, column] = value
        tables[table] = conform_frame(frame, table)

    return change


def test_valid_tables_pass() -> None:
    assert validate_tables(_tables()) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_set("org_units", 2, "parent_id", "co"), "a team's parent must be a region, not a company"),
        (_set("org_units", 1, "parent_id", None), "a region needs a parent company"),
        (_set("org_units", 1, "kind", "company"), "has 2 company roots"),
        (_set("org_units", 1, "kind", "division"), "not in the allowed values"),
        (_set("reps", 1, "termination_date", "2020-06-01"), "termination_date is before hire_date"),
        (_set("reps", 1, "team_id", "nope"), "team_id does not exist in org_units.unit_id"),
        (_set("reps", 1, "currency", "eur"), "unknown currency"),
        (_set("reps", 1, "rep_id", " a"), "id is empty or has leading/trailing spaces"),
        (_set("opportunities", 1, "closed_at", "2024-03-01T00:00:00Z"), "an open opportunity has no close time"),
        (_set("opportunities", 0, "outcome", "lost"), "stage won needs outcome won"),
        (_set("opportunities", 0, "closed_at", "2023-12-01T00:00:00Z"), "closed_at is before created_at"),
        (_set("opportunities", 0, "amount", 5.0), "not an exact decimal"),
        (_set("opportunities", 0, "rep_id", None), None),  # rep is optional: no issue
        (_set("quotas", 0, "period", "Q1-2024"), "not a period key"),
        (_set("fx_rates", 0, "period", "2024"), "not a month key"),
        (_set("fx_rates", 0, "rate", Decimal("-1")), "below the minimum"),
    ],
)  # fmt: skip
def test_rule_violations_are_reported(
    change: Callable[[dict[str, pd.DataFrame]], None], reason: str | None
) -> None:
    tables = _tables()
    try:
        change(tables)
    except TypeError:  # a float cannot even be conformed to a decimal column
        assert reason == "not an exact decimal"
        return
    issues = validate_tables(tables)
    if reason is None:
        assert issues == []
    else:
        assert any(reason in i.reason for i in issues), [i.describe() for i in issues]


def test_missing_required_column_is_reported() -> None:
    tables = _tables()
    tables["reps"] = tables["reps"].drop(columns=["currency"])
    issues = validate_tables(tables)
    assert [(i.table, i.column, i.reason) for i in issues] == [
        ("reps", "currency", "missing column")
    ]


def test_pandera_schema_generated_for_every_table() -> None:
    for name, table in CANONICAL_TABLES.items():
        schema = pandera_schema(table)
        assert set(schema.columns) == set(table.column_names), name
