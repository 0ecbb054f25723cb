"""Input tables of a commission run: read as text, validated, turned into typed records.

Every value is read as text (CSV with `dtype=str`; Parquet decimals and
strings converted without passing through a float), so amounts stay exact.
Errors name the table, the 1-based data row (row 1 is the first line after
the CSV header) and the column, or the transaction / rep at fault; all
problems found in a table are reported together.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from spm_domain.currency import is_currency_code
from spm_domain.errors import DomainError, InvalidAmountError, InvalidPeriodError
from spm_domain.money import to_decimal
from spm_domain.periods import Calendar, Period

TableSource = pd.DataFrame | str | Path

DECIMAL_COLUMNS = frozenset({"amount", "share", "quantity", "margin", "quota", "rate"})
MAX_REPORTED_ERRORS = 25


class CommissionInputError(DomainError):
    """Input tables that cannot be used; `problems` lists each one (table, row, column)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_REPORTED_ERRORS]
        more = len(problems) - len(shown)
        suffix = f" (and {more} more)" if more else ""
        super().__init__("; ".join(shown) + suffix)


@dataclass(frozen=True)
class TextTable:
    """A table whose cells are all text ('' = missing), plus a content hash."""

    name: str
    frame: pd.DataFrame
    sha256: str

    @property
    def rows(self) -> int:
        return len(self.frame)

    def has(self, column: str) -> bool:
        return column in self.frame.columns


def _cell_text(value: object, table: str, row: int, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if column in DECIMAL_COLUMNS:
            raise CommissionInputError(
                [
                    f"{table} row {row}, column {column}: {value!r} is a binary float; "
                    "give amounts as text or Decimal"
                ]
            )
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, pd.Timestamp | datetime):
        return value.date().isoformat() if not pd.isna(value) else ""
    if isinstance(value, date):
        return value.isoformat()
    if value is pd.NaT or value is pd.NA:
        return ""
    return str(value)


def _frame_to_text(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    columns: dict[str, list[str]] = {}
    for column in frame.columns:
        col = str(column).strip()
        dtype = frame[column].dtype
        if pd.api.types.is_float_dtype(dtype) and col in DECIMAL_COLUMNS:
            values = frame[column]
            if values.notna().any():
                first = int(values.notna().to_numpy().argmax()) + 1
                raise CommissionInputError(
                    [
                        f"{name} row {first}, column {col}: binary float column; "
                        "give amounts as text or Decimal"
                    ]
                )
        columns[col] = [
            _cell_text(v, name, i + 1, col) for i, v in enumerate(frame[column].tolist())
        ]
    return pd.DataFrame(columns, dtype=object)


def _read_parquet_as_text(path: Path, name: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns: dict[str, list[str]] = {}
    for field_ in table.schema:
        col = field_.name
        if pa.types.is_floating(field_.type) and col in DECIMAL_COLUMNS:
            raise CommissionInputError(
                [f"{name} ({path}), column {col}: stored as binary float; store it as decimal/text"]
            )
        values = table.column(col).to_pylist()
        columns[col] = [_cell_text(v, name, i + 1, col) for i, v in enumerate(values)]
    return pd.DataFrame(columns, dtype=object)


def read_table(source: TableSource, name: str) -> TextTable:
    """Read a CSV/Parquet file or a DataFrame as an all-text table."""
    if isinstance(source, pd.DataFrame):
        frame = _frame_to_text(source, name)
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, lineterminator="\n")
        digest = hashlib.sha256(buffer.getvalue().encode()).hexdigest()
        return TextTable(name, frame, digest)
    path = Path(source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CommissionInputError([f"{name}: cannot read {path}: {exc.strerror}"]) from None
    digest = hashlib.sha256(raw).hexdigest()
    if path.suffix.lower() in {".parquet", ".pq"}:
        frame = _read_parquet_as_text(path, name)
    else:
        try:
            frame = pd.read_csv(
                io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig"
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise CommissionInputError([f"{name} ({path}): not a readable CSV: {exc}"]) from None
        frame.columns = [str(c).strip() for c in frame.columns]
        frame = frame.apply(lambda s: s.str.strip()).astype(object)
    return TextTable(name, frame, digest)


# -- typed records ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credit:
    """One rep's credited share of one transaction, in plan currency."""

    row: int
    transaction_id: str
    rep_id: str
    credit_date: date
    cancel_date: date | None
    currency: str
    share: Decimal
    amount: Decimal  # amount × share × fx (plan currency), exact
    credited: Decimal  # the plan's credit_basis × share (× fx for money bases), exact
    quantity: Decimal | None  # units of the whole transaction (before share)
    fields: Mapping[str, str] = field(repr=False)

    @property
    def order_key(self) -> tuple[date, str]:
        return (self.credit_date, self.transaction_id)


@dataclass(frozen=True, slots=True)
class RosterEntry:
    rep_id: str
    manager_id: str | None
    role: str | None
    hire_date: date | None
    terminated_date: date | None
    fields: Mapping[str, str] = field(repr=False)

    def employed_on(self, day: date) -> bool:
        if self.hire_date is not None and day < self.hire_date:
            return False
        return not (self.terminated_date is not None and day > self.terminated_date)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self) -> None:
        if self.items:
            raise CommissionInputError(self.items)


def _require_columns(table: TextTable, columns: Iterable[str], problems: _Problems) -> bool:
    missing = [c for c in columns if not table.has(c)]
    for c in missing:
        problems.add(f"{table.name}: missing column {c!r}")
    return not missing


def _parse_date(text: str, where: str, problems: _Problems) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        problems.add(f"{where}: {text!r} is not an ISO date (YYYY-MM-DD)")
        return None


def _parse_decimal(text: str, where: str, problems: _Problems) -> Decimal | None:
    try:
        return to_decimal(text, field=where)
    except InvalidAmountError:
        problems.add(f"{where}: {text!r} is not a decimal number")
        return None


def records_of(table: TextTable) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in rec.items()} for rec in table.frame.to_dict(orient="records")]


# -- fx ---------------------------------------------------------------------

FxRates = dict[tuple[str, str, str], Decimal]  # (month, from, to) -> rate


def parse_fx(table: TextTable | None) -> FxRates:
    rates: FxRates = {}
    if table is None:
        return rates
    problems = _Problems()
    if not _require_columns(table, ("period", "from_currency", "to_currency", "rate"), problems):
        problems.raise_if_any()
    for i, rec in enumerate(records_of(table), start=1):
        where = f"fx row {i}"
        month = rec["period"]
        if len(month) != 7 or month[4] != "-":
            problems.add(f"{where}, column period: {month!r} is not a month (YYYY-MM)")
        for col in ("from_currency", "to_currency"):
            if not is_currency_code(rec[col]):
                problems.add(f"{where}, column {col}: unknown currency {rec[col]!r}")
        rate = _parse_decimal(rec["rate"], f"{where}, column rate", problems)
        if rate is not None and rate <= 0:
            problems.add(f"{where}, column rate: must be positive, got {rec['rate']}")
        key = (month, rec["from_currency"], rec["to_currency"])
        if key in rates:
            problems.add(f"{where}: duplicate rate for {key[1]}->{key[2]} in {month}")
        if rate is not None:
            rates[key] = rate
    problems.raise_if_any()
    return rates


# -- roster -----------------------------------------------------------------


def parse_roster(table: TextTable | None) -> dict[str, RosterEntry]:
    roster: dict[str, RosterEntry] = {}
    if table is None:
        return roster
    problems = _Problems()
    if not _require_columns(table, ("rep_id",), problems):
        problems.raise_if_any()
    term_col = "terminated_date" if table.has("terminated_date") else "termination_date"
    for i, rec in enumerate(records_of(table), start=1):
        where = f"roster row {i}"
        rep = rec["rep_id"]
        if not rep:
            problems.add(f"{where}, column rep_id: empty")
            continue
        if rep in roster:
            problems.add(f"{where}, column rep_id: duplicate rep {rep!r}")
            continue
        hire = _parse_date(rec.get("hire_date", ""), f"{where}, column hire_date", problems)
        term = _parse_date(rec.get(term_col, ""), f"{where}, column {term_col}", problems)
        if hire and term and term < hire:
            problems.add(f"{where}, column {term_col}: {term} is before hire_date {hire}")
        roster[rep] = RosterEntry(
            rep_id=rep,
            manager_id=rec.get("manager_id") or None,
            role=rec.get("role") or None,
            hire_date=hire,
            terminated_date=term,
            fields=rec,
        )
    for rep, entry in roster.items():
        seen = {rep}
        manager = entry.manager_id
        while manager is not None and manager in roster:
            if manager in seen:
                problems.add(f"roster: management cycle through rep {rep!r} and {manager!r}")
                break
            seen.add(manager)
            manager = roster[manager].manager_id
    problems.raise_if_any()
    return roster


# -- quotas -----------------------------------------------------------------

_MEASURE_OF_BASIS = {"amount": "revenue", "margin": "margin", "quantity": "units"}


def parse_quotas(
    table: TextTable | None, calendar: Calendar, credit_basis: str, plan_currency: str
) -> dict[tuple[str, str], Decimal]:
    """(rep_id, period key) -> quota. Rows of another `measure` are ignored."""
    quotas: dict[tuple[str, str], Decimal] = {}
    if table is None:
        return quotas
    problems = _Problems()
    if not _require_columns(table, ("rep_id", "period", "quota"), problems):
        problems.raise_if_any()
    wanted_measure = _MEASURE_OF_BASIS[credit_basis]
    for i, rec in enumerate(records_of(table), start=1):
        where = f"quotas row {i}"
        if table.has("measure") and rec["measure"] and rec["measure"] != wanted_measure:
            continue
        if not rec["rep_id"]:
            problems.add(f"{where}, column rep_id: empty")
            continue
        try:
            calendar.parse(rec["period"])
        except InvalidPeriodError as exc:
            problems.add(f"{where}, column period: {exc}")
            continue
        currency = rec.get("currency", "")
        if credit_basis != "quantity" and currency and currency != plan_currency:
            problems.add(
                f"{where}, column currency: quota in {currency} but the plan pays in "
                f"{plan_currency}; give quotas in plan currency"
            )
        value = _parse_decimal(rec["quota"], f"{where}, column quota", problems)
        if value is not None and value < 0:
            problems.add(f"{where}, column quota: must not be negative, got {rec['quota']}")
        key = (rec["rep_id"], rec["period"])
        if key in quotas:
            problems.add(f"{where}: duplicate quota for rep {key[0]!r} in {key[1]}")
        if value is not None:
            quotas[key] = value
    problems.raise_if_any()
    return quotas


# -- transactions -----------------------------------------------------------


@dataclass(frozen=True)
class TransactionRules:
    plan_currency: str
    credit_basis: str
    needs_quantity: bool
    filter_columns: frozenset[str]


def parse_transactions(table: TextTable, fx: FxRates, rules: TransactionRules) -> list[Credit]:
    problems = _Problems()
    required = ["transaction_id", "rep_id", "amount", "currency", "credit_date"]
    if rules.credit_basis == "margin":
        required.append("margin")
    if rules.credit_basis == "quantity" or rules.needs_quantity:
        required.append("quantity")
    ok = _require_columns(table, required, problems)
    for column in sorted(rules.filter_columns):
        if not table.has(column):
            problems.add(
                f"transactions: missing column {column!r} used by a filter or rate_table key"
            )
    if not ok or problems.items:
        problems.raise_if_any()
    has_share = table.has("share")
    credits: list[Credit] = []
    shares: dict[str, Decimal] = {}
    first_row: dict[str, tuple[int, str, str, date | None]] = {}
    pairs: set[tuple[str, str]] = set()
    for i, rec in enumerate(records_of(table), start=1):
        where = f"transactions row {i}"
        tx, rep = rec["transaction_id"], rec["rep_id"]
        if not tx:
            problems.add(f"{where}, column transaction_id: empty")
            continue
        if not rep:
            problems.add(f"{where}, column rep_id: empty (transaction {tx!r})")
            continue
        if (tx, rep) in pairs:
            problems.add(f"{where}: transaction {tx!r} credits rep {rep!r} twice")
            continue
        pairs.add((tx, rep))
        amount = _parse_decimal(rec["amount"], f"{where}, column amount", problems)
        currency = rec["currency"]
        if not is_currency_code(currency):
            problems.add(f"{where}, column currency: unknown currency {currency!r}")
            continue
        credit_date = _parse_date(rec["credit_date"], f"{where}, column credit_date", problems)
        if not rec["credit_date"]:
            problems.add(f"{where}, column credit_date: empty (transaction {tx!r})")
        cancel_date = _parse_date(
            rec.get("cancel_date", ""), f"{where}, column cancel_date", problems
        )
        share_text = rec["share"] if has_share and rec["share"] else "1"
        share = _parse_decimal(share_text, f"{where}, column share", problems)
        if share is not None and not (0 < share <= 1):
            problems.add(f"{where}, column share: must be in (0, 1], got {share_text}")
        if amount is None or credit_date is None or share is None:
            continue
        if cancel_date is not None and cancel_date < credit_date:
            problems.add(
                f"{where}, column cancel_date: {cancel_date} is before credit_date {credit_date}"
            )
        previous = first_row.setdefault(tx, (i, rec["amount"], currency, credit_date))
        if previous[1:] != (rec["amount"], currency, credit_date):
            problems.add(
                f"{where}: transaction {tx!r} has a different amount, currency or credit_date "
                f"than on row {previous[0]}"
            )
        shares[tx] = shares.get(tx, Decimal(0)) + share
        rate = Decimal(1)
        if currency != rules.plan_currency:
            month = credit_date.isoformat()[:7]
            found = fx.get((month, currency, rules.plan_currency))
            if found is None:
                problems.add(
                    f"fx: no rate from {currency} to {rules.plan_currency} for {month} "
                    f"(needed by {where}, transaction {tx!r})"
                )
                continue
            rate = found
        quantity = None
        if table.has("quantity") and rec["quantity"]:
            quantity = _parse_decimal(rec["quantity"], f"{where}, column quantity", problems)
        elif rules.needs_quantity or rules.credit_basis == "quantity":
            problems.add(f"{where}, column quantity: empty (transaction {tx!r})")
        amount_plan = amount * share * rate
        if rules.credit_basis == "amount":
            credited: Decimal | None = amount_plan
        elif rules.credit_basis == "margin":
            margin = _parse_decimal(rec["margin"], f"{where}, column margin", problems)
            credited = None if margin is None else margin * share * rate
        else:
            credited = None if quantity is None else quantity * share
        if credited is None:
            continue
        credits.append(
            Credit(
                row=i,
                transaction_id=tx,
                rep_id=rep,
                credit_date=credit_date,
                cancel_date=cancel_date,
                currency=currency,
                share=share,
                amount=amount_plan,
                credited=credited,
                quantity=quantity,
                fields=rec,
            )
        )
    for tx, total in shares.items():
        if total != 1:
            problems.add(
                f"transactions: shares of transaction {tx!r} sum to {total}, not 1 "
                f"(first on row {first_row[tx][0]})"
            )
    problems.raise_if_any()
    return credits


def period_of(calendar: Calendar, day: date, kind: str) -> Period:
    return calendar.containing(day, kind)
