"""Reading a run directory written by `spm commissions calculate --out DIR`
(`lines.csv`, `statements.csv`, `run.json`) into ledger run inputs, one per
period. Values are parsed from text straight into Decimal (never float)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from spm_domain.errors import DomainError
from spm_domain.ledger.engine_bridge import manifest_key_parts, run_inputs_from_records
from spm_domain.ledger.errors import InvalidRunError
from spm_domain.ledger.records import LineRecord, RunInput, StatementRecord
from spm_domain.money import to_decimal

LINE_COLUMNS = ("rep_id", "period", "component", "amount", "currency")
STATEMENT_COLUMNS = ("rep_id", "period", "credited", "gross", "adjustments", "payout", "currency")


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InvalidRunError(f"{path}: file not found")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidRunError(f"{path}: missing column(s) {missing}")
        return list(reader)


def _decimal(
    row: dict[str, str], column: str, where: str, optional: bool = False
) -> Decimal | None:
    text = (row.get(column) or "").strip()
    if not text:
        if optional:
            return None
        raise InvalidRunError(f"{where}, column {column}: empty")
    try:
        return to_decimal(text, field=column)
    except DomainError as exc:
        raise InvalidRunError(f"{where}, column {column}: {exc}") from None


def _required(row: dict[str, str], column: str, where: str) -> Decimal:
    value = _decimal(row, column, where)
    assert value is not None
    return value


def read_run_metadata(run_json: Path) -> dict[str, Any]:
    """Plan id/version/hash, input hashes and engine version from `run.json`."""
    if not run_json.is_file():
        raise InvalidRunError(f"{run_json}: file not found")
    try:
        meta = json.loads(run_json.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidRunError(f"{run_json}: not valid JSON ({exc})") from None
    try:
        return manifest_key_parts(meta)
    except InvalidRunError as exc:
        raise InvalidRunError(f"{run_json}: {exc}") from None


def load_run_dir(run_dir: Path, *, periods: list[str] | None = None) -> list[RunInput]:
    """One RunInput per period found in the run directory (or only `periods`)."""
    meta = read_run_metadata(run_dir / "run.json")
    lines_by_period: dict[str, list[LineRecord]] = defaultdict(list)
    for number, row in enumerate(_read_csv(run_dir / "lines.csv", LINE_COLUMNS), start=2):
        where = f"{run_dir / 'lines.csv'} row {number}"
        lines_by_period[row["period"]].append(
            LineRecord(
                rep_id=row["rep_id"],
                period=row["period"],
                component=row["component"],
                amount=_required(row, "amount", where),
                currency=row["currency"],
                transaction_id=row.get("transaction_id") or "",
                credited_amount=_decimal(row, "credited_amount", where, optional=True),
                rate=_decimal(row, "rate", where, optional=True),
                explanation=row.get("explanation") or "",
            )
        )
    statements_by_period: dict[str, list[StatementRecord]] = defaultdict(list)
    statements_path = run_dir / "statements.csv"
    if statements_path.is_file():
        for number, row in enumerate(_read_csv(statements_path, STATEMENT_COLUMNS), start=2):
            where = f"{statements_path} row {number}"
            statements_by_period[row["period"]].append(
                StatementRecord(
                    rep_id=row["rep_id"],
                    period=row["period"],
                    credited=_required(row, "credited", where),
                    gross=_required(row, "gross", where),
                    adjustments=_required(row, "adjustments", where),
                    payout=_required(row, "payout", where),
                    currency=row["currency"],
                    quota=_decimal(row, "quota", where, optional=True),
                    attainment=_decimal(row, "attainment", where, optional=True),
                )
            )
    lines = [line for period_lines in lines_by_period.values() for line in period_lines]
    statements = [s for period_rows in statements_by_period.values() for s in period_rows]
    try:
        return run_inputs_from_records(meta, lines, statements, periods)
    except InvalidRunError as exc:
        raise InvalidRunError(f"{run_dir}: {exc}") from None
