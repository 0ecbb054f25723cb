"""Validation of canonical tables: per-table rules with pandera, cross-table rules in code.

`validate_tables` returns every issue found (it never stops at the first),
each pointing at the source file and row when the frame still carries the
hidden provenance columns an import adds, else at the table and row index.

Per-table (pandera, generated from `features.ingest.schema`): column
presence, dtype, nullability, vocabularies, minimums, exact Decimals for
money, ISO 4217 currency codes, ids without surrounding spaces, primary-key
uniqueness. Cross-table (here): foreign keys, cycles in the management
chain and in the org hierarchy, org levels, split shares summing to exactly
1, date order, stage/outcome consistency, period keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

from features.ingest.dtypes import SOURCE_FILE_COL, SOURCE_ROW_COL, canonical_table, pandas_dtype
from features.ingest.quality import Issue
from features.ingest.schema import CANONICAL_TABLES, Column, ColumnType, Table
from spm_domain.currency import is_currency_code

_PERIOD_KEY = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")
_MONTH_KEY = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def is_currency_column(name: str) -> bool:
    """Columns that hold ISO 4217 codes: `currency` and `*_currency`."""
    return name == "currency" or name.endswith("_currency")


def _is_exact_decimal(series: pd.Series) -> pd.Series:
    return series.map(lambda v: v is None or (isinstance(v, Decimal) and v.is_finite()))


def _is_clean_id(series: pd.Series) -> pd.Series:
    return series.map(lambda v: v is None or v is pd.NA or (v != "" and v == v.strip()))


def _is_currency(series: pd.Series) -> pd.Series:
    return series.map(lambda v: v is None or v is pd.NA or is_currency_code(v))


def _column_checks(table: Table, column: Column) -> list[Any]:
    import pandera.pandas as pa

    checks: list[Any] = []
    if column.allowed:
        checks.append(
            pa.Check.isin(
                column.allowed, error=f"not in the allowed values {', '.join(column.allowed)}"
            )
        )
    if column.minimum is not None:
        checks.append(pa.Check.ge(column.minimum, error=f"below the minimum {column.minimum:g}"))
    if column.type is ColumnType.DECIMAL:
        checks.append(pa.Check(_is_exact_decimal, error="not an exact decimal (Decimal)"))
    if is_currency_column(column.name):
        checks.append(pa.Check(_is_currency, error="unknown currency: not an ISO 4217 code"))
    if column.type is ColumnType.STRING and (
        column.name in table.primary_key or column.references or column.name.endswith("_id")
    ):
        checks.append(pa.Check(_is_clean_id, error="id is empty or has leading/trailing spaces"))
    return checks


def pandera_schema(table: Table) -> Any:
    """The pandera DataFrameSchema of a canonical table (generated from schema.py)."""
    import pandera.pandas as pa

    columns = {
        c.name: pa.Column(
            pandas_dtype(c.type),
            nullable=c.nullable,
            required=c.required,
            checks=_column_checks(table, c),
        )
        for c in table.columns
    }
    return pa.DataFrameSchema(
        columns,
        name=table.name,
        unique=list(table.primary_key),
        report_duplicates="all",
        strict=False,
        coerce=False,
    )


_CHECK_REASONS = {
    "multiple_fields_uniqueness": "duplicate id",
    "field_uniqueness": "duplicate id",
    "not_nullable": "missing value in a required column",
    "column_in_dataframe": "missing column",
}


class _Locator:
    """Turns a frame's row index into (file, row) using the hidden provenance columns."""

    def __init__(self, table: str, frame: pd.DataFrame) -> None:
        self.table = table
        self.files = frame[SOURCE_FILE_COL].tolist() if SOURCE_FILE_COL in frame else None
        self.rows = frame[SOURCE_ROW_COL].tolist() if SOURCE_ROW_COL in frame else None

    def issue(self, position: int | None, column: str | None, value: object, reason: str) -> Issue:
        text = None if value is None or value is pd.NA or _is_nan(value) else str(value)
        if position is None:
            return Issue(reason, column=column, value=text, table=self.table)
        if self.files is not None and self.rows is not None:
            if not isinstance(self.files[position], str):  # a row already in the store
                return Issue(
                    f"{reason} (a row already stored in {self.table})",
                    column=column,
                    value=text,
                    table=self.table,
                )
            return Issue(
                f"{reason} (table {self.table})",
                file=self.files[position],
                row=int(self.rows[position]),
                column=column,
                value=text,
                table=self.table,
            )
        return Issue(reason, row=position, column=column, value=text, table=self.table)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and value != value


def _pandera_issues(name: str, frame: pd.DataFrame) -> list[Issue]:
    import pandera.errors

    table = canonical_table(name)
    locator = _Locator(name, frame)
    try:
        pandera_schema(table).validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        issues = _duplicate_key_issues(table, frame, locator, exc.failure_cases)
        for case in exc.failure_cases.itertuples(index=False):
            check = str(case.check)
            if check in ("multiple_fields_uniqueness", "field_uniqueness"):
                continue  # reported once per row by _duplicate_key_issues
            reason = _CHECK_REASONS.get(check, check)
            if check.startswith("dtype("):
                reason = f"wrong type {case.failure_case}, expected {check}"
            index = case.index
            position = None if index is None or _is_nan(index) else int(index)
            column = None if case.column is None else str(case.column)
            if check == "column_in_dataframe":
                column, value = str(case.failure_case), None
            else:
                value = case.failure_case
            issues.append(locator.issue(position, column, value, reason))
        return issues
    return []


def _duplicate_key_issues(
    table: Table, frame: pd.DataFrame, locator: _Locator, failures: pd.DataFrame
) -> list[Issue]:
    """One issue per row whose primary key repeats another row's."""
    checks = failures["check"].astype(str)
    unique_failures = failures[checks.isin(["multiple_fields_uniqueness", "field_uniqueness"])]
    positions = sorted({int(i) for i in unique_failures["index"].dropna()})
    if not positions:
        return []
    key_columns = list(table.primary_key)
    keys = frame.loc[positions, key_columns].astype(str).agg(", ".join, axis=1)
    first_position: dict[str, int] = {}
    issues = []
    for position, key in zip(positions, keys, strict=True):
        first = first_position.setdefault(key, position)
        where = locator.issue(first, None, None, "").row if first != position else None
        also = f"; first seen at row {where}" if where is not None else ""
        issues.append(locator.issue(position, ", ".join(key_columns), key, f"duplicate id{also}"))
    return issues


# ------------------------------------------------------------ cross-table


def _foreign_key_issues(tables: Mapping[str, pd.DataFrame]) -> list[Issue]:
    issues: list[Issue] = []
    for name, frame in tables.items():
        table = canonical_table(name)
        locator = _Locator(name, frame)
        for column in table.columns:
            if not column.references or column.name not in frame:
                continue
            target_table, target_column = column.references.split(".")
            target = tables.get(target_table)
            known = set(target[target_column].dropna()) if target is not None else set()
            values = frame[column.name]
            missing = values.notna() & ~values.isin(known)
            for position in missing[missing].index:
                what = (
                    "the rep's manager"
                    if (name, column.name) == ("reps", "manager_id")
                    else f"{column.name}"
                )
                issues.append(
                    locator.issue(
                        int(position),
                        column.name,
                        values[position],
                        f"{what} does not exist in {target_table}.{target_column}",
                    )
                )
    return issues


def _cycle_issues(
    name: str, frame: pd.DataFrame, id_col: str, parent_col: str, what: str
) -> list[Issue]:
    """Report every cycle of a parent pointer once, at its smallest member."""
    if id_col not in frame or parent_col not in frame:
        return []
    parent = {
        k: p
        for k, p in zip(frame[id_col], frame[parent_col], strict=True)
        if k is not pd.NA and p is not pd.NA and p is not None
    }
    position = {k: i for i, k in enumerate(frame[id_col])}
    locator = _Locator(name, frame)
    done: set[str] = set()
    issues: list[Issue] = []
    for start in parent:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in done and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = parent.get(node)
        if node is not None and node in on_path:
            cycle = path[path.index(node) :]
            first = min(cycle)
            rotated = cycle[cycle.index(first) :] + cycle[: cycle.index(first)]
            chain = " → ".join([*rotated, first])
            issues.append(
                locator.issue(
                    position[first], parent_col, parent[first], f"cycle in {what}: {chain}"
                )
            )
        done.update(path)
    return issues


def _org_level_issues(frame: pd.DataFrame) -> list[Issue]:
    locator = _Locator("org_units", frame)
    kinds = dict(zip(frame["unit_id"], frame["kind"], strict=True))
    expected_parent = {"company": None, "region": "company", "team": "region"}
    issues: list[Issue] = []
    for i, (kind, parent) in enumerate(zip(frame["kind"], frame["parent_id"], strict=True)):
        has_parent = parent is not pd.NA and parent is not None
        want = expected_parent.get(str(kind))
        if kind == "company" and has_parent:
            issues.append(locator.issue(i, "parent_id", parent, "a company root has no parent"))
        elif kind in ("region", "team") and not has_parent:
            issues.append(locator.issue(i, "parent_id", None, f"a {kind} needs a parent {want}"))
        elif kind in ("region", "team") and parent in kinds and kinds[parent] != want:
            issues.append(
                locator.issue(
                    i,
                    "parent_id",
                    parent,
                    f"a {kind}'s parent must be a {want}, not a {kinds[parent]}",
                )
            )
    roots = frame[frame["kind"] == "company"]
    for source, count in roots.groupby("source", dropna=False).size().items():
        if count != 1:
            issues.append(
                Issue(
                    f"source {source!r} has {count} company roots, expected exactly one",
                    table="org_units",
                )
            )
    return issues


def _share_issues(frame: pd.DataFrame) -> list[Issue]:
    if "share" not in frame or "transaction_id" not in frame:
        return []
    locator = _Locator("transactions", frame)
    totals: dict[Any, Decimal] = {}
    first: dict[Any, int] = {}
    for i, (tid, share) in enumerate(zip(frame["transaction_id"], frame["share"], strict=True)):
        if isinstance(share, Decimal):
            totals[tid] = totals.get(tid, Decimal(0)) + share
            first.setdefault(tid, i)
    return [
        locator.issue(
            first[tid],
            "share",
            str(total),
            f"split shares of transaction {tid!r} sum to {total}, not exactly 1",
        )
        for tid, total in totals.items()
        if total != 1
    ]


def _ordered(name: str, frame: pd.DataFrame, early: str, late: str) -> list[Issue]:
    if early not in frame or late not in frame:
        return []
    bad = frame[early].notna() & frame[late].notna() & (frame[late] < frame[early])
    locator = _Locator(name, frame)
    return [
        locator.issue(
            int(i), late, frame.at[i, late], f"{late} is before {early} ({frame.at[i, early]})"
        )
        for i in bad[bad].index
    ]


def _opportunity_issues(frame: pd.DataFrame) -> list[Issue]:
    locator = _Locator("opportunities", frame)
    issues = _ordered("opportunities", frame, "created_at", "closed_at")
    if {"stage", "outcome", "closed_at"} <= set(frame.columns):
        for i, (stage, outcome, closed) in enumerate(
            zip(frame["stage"], frame["outcome"], frame["closed_at"], strict=True)
        ):
            if stage in ("won", "lost") and outcome != stage:
                issues.append(
                    locator.issue(i, "outcome", outcome, f"stage {stage} needs outcome {stage}")
                )
            elif outcome in ("won", "lost") and stage != outcome:
                issues.append(
                    locator.issue(i, "stage", stage, f"outcome {outcome} needs stage {outcome}")
                )
            if outcome == "open" and not pd.isna(closed):
                issues.append(
                    locator.issue(i, "closed_at", closed, "an open opportunity has no close time")
                )
    return issues


def _pattern_issues(
    name: str, frame: pd.DataFrame, column: str, pattern: re.Pattern[str], what: str
) -> list[Issue]:
    if column not in frame:
        return []
    locator = _Locator(name, frame)
    bad = frame[column].map(lambda v: isinstance(v, str) and not pattern.match(v))
    return [
        locator.issue(int(i), column, frame.at[i, column], f"not a {what}") for i in bad[bad].index
    ]


_TABLE_RULES: dict[str, Callable[[pd.DataFrame], list[Issue]]] = {
    "org_units": lambda f: (
        _cycle_issues("org_units", f, "unit_id", "parent_id", "the org hierarchy")
        + _org_level_issues(f)
    ),
    "reps": lambda f: (
        _cycle_issues("reps", f, "rep_id", "manager_id", "the management chain")
        + _ordered("reps", f, "hire_date", "termination_date")
    ),
    "opportunities": _opportunity_issues,
    "transactions": _share_issues,
    "quotas": lambda f: _pattern_issues(
        "quotas", f, "period", _PERIOD_KEY, "period key (YYYY-MM, YYYY-Qn or YYYY)"
    ),
    "fx_rates": lambda f: _pattern_issues("fx_rates", f, "period", _MONTH_KEY, "month key YYYY-MM"),
}


def validate_tables(tables: Mapping[str, pd.DataFrame]) -> list[Issue]:
    """Every issue in a set of canonical tables (per-table and cross-table)."""
    frames = {name: frame.reset_index(drop=True) for name, frame in tables.items()}
    unknown = [n for n in frames if n not in CANONICAL_TABLES]
    issues = [Issue(f"unknown canonical table {n!r}", table=n) for n in unknown]
    frames = {n: f for n, f in frames.items() if n in CANONICAL_TABLES}
    per_table = [i for name, frame in frames.items() for i in _pandera_issues(name, frame)]
    issues += per_table
    if any(i.reason == "missing column" for i in per_table):
        return issues  # cross-table rules need the columns
    issues += _foreign_key_issues(frames)
    for name, frame in frames.items():
        rule = _TABLE_RULES.get(name)
        if rule is not None and len(frame):
            issues += rule(frame)
    return issues


def describe_issues(issues: Iterable[Issue]) -> list[str]:
    return [i.describe() for i in issues]
