"""Rep statements per period: lines with explanations, attainment, year to date,
adjustments and payout, rendered as CSV and as a readable HTML page.

The payout is, by construction, the sum of the listed lines (commission,
retroactive deltas and adjustments booked in the period).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from spm_domain.currency import get_currency
from spm_domain.ledger.errors import LedgerError, LedgerNotFoundError
from spm_domain.ledger.records import LineKind, LineStatus, LineView, StatementRecord
from spm_domain.ledger.service import Ledger
from spm_domain.periods import DEFAULT_CALENDAR, Calendar, Period

LINE_COLUMNS = (
    "line_id",
    "rep_id",
    "period",
    "kind",
    "component",
    "transaction_id",
    "earned_period",
    "credited_amount",
    "rate",
    "amount",
    "currency",
    "status",
    "explanation",
)


@dataclass(frozen=True, slots=True)
class Statement:
    rep_id: str
    period: str
    currency: str
    lines: tuple[LineView, ...]  # commission and delta lines
    adjustments: tuple[LineView, ...]  # credit and debit notes
    credited: Decimal | None
    quota: Decimal | None
    attainment: Decimal | None
    gross: Decimal
    adjustments_total: Decimal
    payout: Decimal
    paid: Decimal
    unpaid: Decimal
    ytd_payout: Decimal
    ytd_paid: Decimal
    ytd_periods: tuple[str, ...]
    generated_at: datetime

    @property
    def all_lines(self) -> tuple[LineView, ...]:
        return tuple(sorted(self.lines + self.adjustments, key=lambda line: line.id))


def _total(lines: tuple[LineView, ...] | list[LineView]) -> Decimal:
    return sum((line.amount for line in lines), Decimal(0))


def _ytd_periods(period: Period, calendar: Calendar) -> list[str]:
    """Every period key of the same kind from the fiscal year's start up to `period`."""
    year = calendar.containing(period.start, "yearly")
    keys: list[str] = []
    current = calendar.containing(year.start, period.kind)
    while current.start <= period.start:
        keys.append(current.key)
        current = calendar.containing(current.end, period.kind)
    return keys


def build_statement(
    ledger: Ledger,
    rep_id: str,
    period: str,
    *,
    calendar: Calendar = DEFAULT_CALENDAR,
    now: datetime | None = None,
) -> Statement:
    """Assemble a rep's statement for a period from what the ledger holds."""
    parsed = calendar.parse(period)
    ytd_keys = _ytd_periods(parsed, calendar)
    ytd_lines = ledger.rep_lines(rep_id, ytd_keys)
    in_period = [line for line in ytd_lines if line.period == period]
    engine_rows: list[StatementRecord] = ledger.run_statements(rep_id, period)
    if not in_period and not engine_rows:
        raise LedgerNotFoundError(f"rep {rep_id!r} has no line and no statement in {period}")
    currencies = {line.currency for line in ytd_lines} | {row.currency for row in engine_rows}
    if len(currencies) != 1:
        raise LedgerError(
            f"rep {rep_id!r} has lines in several currencies {sorted(currencies)} in {period}: "
            "a statement is in one currency"
        )
    currency = currencies.pop()
    latest = engine_rows[-1] if engine_rows else None
    regular = tuple(line for line in in_period if line.kind != LineKind.ADJUSTMENT)
    notes = tuple(line for line in in_period if line.kind == LineKind.ADJUSTMENT)
    paid = [line for line in in_period if line.status == LineStatus.PAID]
    quantum = get_currency(currency).quantum
    payout = _total(in_period)
    return Statement(
        rep_id=rep_id,
        period=period,
        currency=currency,
        lines=regular,
        adjustments=notes,
        credited=latest.credited if latest else None,
        quota=latest.quota if latest else None,
        attainment=latest.attainment if latest else None,
        gross=_total(regular).quantize(quantum),
        adjustments_total=_total(notes).quantize(quantum),
        payout=payout.quantize(quantum),
        paid=_total(paid).quantize(quantum),
        unpaid=(payout - _total(paid)).quantize(quantum),
        ytd_payout=_total(ytd_lines).quantize(quantum),
        ytd_paid=_total([x for x in ytd_lines if x.status == LineStatus.PAID]).quantize(quantum),
        ytd_periods=tuple(ytd_keys),
        generated_at=now or datetime.now().astimezone(),
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def statement_lines_csv(statement: Statement) -> str:
    """One row per line booked in the period; the `amount` column sums to the payout."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LINE_COLUMNS)
    for line in statement.all_lines:
        writer.writerow(
            [
                line.id,
                line.rep_id,
                line.period,
                line.kind,
                line.component,
                line.transaction_id,
                line.earned_period,
                _text(line.credited_amount),
                _text(line.rate),
                _text(line.amount),
                line.currency,
                line.status,
                line.explanation,
            ]
        )
    return buffer.getvalue()


def statement_summary_csv(statement: Statement) -> str:
    """The statement's figures as `field,value` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["field", "value"])
    for name in (
        "rep_id",
        "period",
        "currency",
        "credited",
        "quota",
        "attainment",
        "gross",
        "adjustments_total",
        "payout",
        "paid",
        "unpaid",
        "ytd_payout",
        "ytd_paid",
    ):
        writer.writerow([name, _text(getattr(statement, name))])
    return buffer.getvalue()


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("spm_domain.ledger", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _format_money
    env.filters["pct"] = _format_pct
    env.filters["number"] = _format_number
    return env


def _format_money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "—"
    minor = get_currency(currency).minor_unit
    return f"{amount:,.{minor}f}"


def _format_pct(ratio: Decimal | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:,.1f}%"


def _format_number(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value.normalize():,f}" if value == value.to_integral() else f"{value:,f}"


def render_statement_html(statement: Statement) -> str:
    template = _environment().get_template("statement.html.j2")
    return template.render(s=statement)


def write_statement(statement: Statement, out_dir: Path) -> dict[str, Path]:
    """Write `<rep>_<period>.csv`, `<rep>_<period>_summary.csv` and `<rep>_<period>.html`.

    Each file is written to a temporary name and renamed, so a reader never
    sees half a statement.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"statement_{_safe(statement.rep_id)}_{_safe(statement.period)}"
    outputs = {
        "csv": (out_dir / f"{stem}.csv", statement_lines_csv(statement)),
        "summary_csv": (out_dir / f"{stem}_summary.csv", statement_summary_csv(statement)),
        "html": (out_dir / f"{stem}.html", render_statement_html(statement)),
    }
    for path, content in outputs.values():
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
    return {name: path for name, (path, _content) in outputs.items()}


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
