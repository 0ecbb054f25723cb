"""What the ledger takes in (run input) and hands out (read-only views).

The posting API depends only on these plain records, not on the commission
engine's internals: a run is its key parts (plan id/version/hash, period,
input hashes) plus line and statement records with exact Decimal values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from spm_domain.currency import get_currency
from spm_domain.errors import DomainError
from spm_domain.ids import check_id
from spm_domain.ledger.errors import InvalidRunError
from spm_domain.money import RoundingMode, round_amount, to_decimal
from spm_domain.periods import parse_period


class LineStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    PAID = "paid"
    DISPUTED = "disputed"


class LineKind(StrEnum):
    COMMISSION = "commission"  # posted by a run for its own period
    DELTA = "delta"  # retroactive recalculation: new result minus what was booked
    ADJUSTMENT = "adjustment"  # manual credit or debit note


@dataclass(frozen=True, slots=True)
class LineRecord:
    """One payout line as the commission engine produces it."""

    rep_id: str
    period: str
    component: str
    amount: Decimal
    currency: str
    transaction_id: str = ""
    credited_amount: Decimal | None = None
    rate: Decimal | None = None
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class StatementRecord:
    """One engine statement row (rep and period summary)."""

    rep_id: str
    period: str
    credited: Decimal
    gross: Decimal
    adjustments: Decimal
    payout: Decimal
    currency: str
    quota: Decimal | None = None
    attainment: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RunInput:
    """Everything needed to post one commission run for one period."""

    plan_id: str
    plan_version: str
    plan_hash: str
    period: str
    input_hashes: Mapping[str, str]
    lines: Sequence[LineRecord]
    statements: Sequence[StatementRecord] = ()
    engine_version: str = ""

    @property
    def run_key(self) -> str:
        """sha256 of plan hash + period + input hashes: the same run always has the same key."""
        payload = json.dumps(
            {
                "plan_hash": self.plan_hash,
                "period": self.period,
                "input_hashes": dict(sorted(self.input_hashes.items())),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @property
    def run_id(self) -> str:
        return f"run_{self.run_key[:16]}"


def _fail(where: str, column: str, problem: str) -> InvalidRunError:
    return InvalidRunError(f"{where}, column {column}: {problem}")


def _exact(value: object, where: str, column: str) -> Decimal:
    try:
        return to_decimal(value, field=column)
    except DomainError as exc:
        raise _fail(where, column, str(exc)) from None


def check_rounded(amount: Decimal, currency: str, where: str, column: str = "amount") -> None:
    """Refuse an amount with more decimals than its currency's minor unit."""
    try:
        cur = get_currency(currency)
    except DomainError as exc:
        raise _fail(where, "currency", str(exc)) from None
    if round_amount(amount, cur, RoundingMode.HALF_EVEN) != amount:
        raise _fail(
            where, column, f"{amount} has more decimals than {currency} allows ({cur.minor_unit})"
        )


def validate_run(run: RunInput) -> None:
    """Check a run completely before anything is written; errors name the record at fault."""
    try:
        check_id(run.plan_id, "plan")
        parse_period(run.period)
    except DomainError as exc:
        raise InvalidRunError(f"run for plan {run.plan_id!r}: {exc}") from None
    if not run.plan_hash:
        raise InvalidRunError(f"run for plan {run.plan_id!r}: empty plan_hash")
    for index, line in enumerate(run.lines, start=1):
        where = f"run line {index} (rep {line.rep_id!r}, transaction {line.transaction_id!r})"
        if not isinstance(line.rep_id, str) or not line.rep_id.strip():
            raise _fail(where, "rep_id", "empty rep id")
        if line.period != run.period:
            raise _fail(where, "period", f"{line.period!r} differs from the run's {run.period!r}")
        if not line.component:
            raise _fail(where, "component", "empty component")
        amount = _exact(line.amount, where, "amount")
        check_rounded(amount, line.currency, where)
        for column in ("credited_amount", "rate"):
            value = getattr(line, column)
            if value is not None:
                _exact(value, where, column)
    for index, statement in enumerate(run.statements, start=1):
        where = f"run statement {index} (rep {statement.rep_id!r})"
        if statement.period != run.period:
            raise _fail(where, "period", f"{statement.period!r} differs from {run.period!r}")
        for column in ("credited", "gross", "adjustments", "payout"):
            _exact(getattr(statement, column), where, column)
        try:
            get_currency(statement.currency)
        except DomainError as exc:
            raise _fail(where, "currency", str(exc)) from None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_jsonable(record: Any) -> dict[str, Any]:
    """A view as a JSON-ready dict (Decimals as exact strings, datetimes ISO 8601)."""
    return {key: _plain(value) for key, value in asdict(record).items()}


@dataclass(frozen=True, slots=True)
class LineView:
    id: int
    run_id: str | None
    kind: str
    rep_id: str
    period: str
    earned_period: str
    plan_id: str | None
    component: str
    transaction_id: str
    credited_amount: Decimal | None
    rate: Decimal | None
    amount: Decimal
    currency: str
    explanation: str
    status: str
    approvals: tuple[str, ...]
    corrects_line_id: int | None
    payment_id: int | None
    version: int
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunView:
    id: str
    run_key: str
    kind: str
    plan_id: str
    plan_version: str
    plan_hash: str
    period: str
    booked_period: str
    input_hashes: dict[str, str]
    engine_version: str
    line_count: int
    posted_by: str
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class PostResult:
    run: RunView
    created: bool  # False when the same run was already posted (idempotent re-post)


@dataclass(frozen=True, slots=True)
class RunApproval:
    """What one bulk approval of a run did."""

    run_id: str
    level: str
    approver: str
    line_ids: tuple[int, ...]  # lines approved at `level` now
    fully_approved: int  # how many of them are now approved at every level


@dataclass(frozen=True, slots=True)
class DisputeView:
    id: int
    line_id: int
    status: str
    reason: str
    raised_by: str
    raised_at: datetime
    outcome: str | None
    resolution: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    adjustment_line_id: int | None
    comments: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class PaymentView:
    id: int
    period: str
    rep_id: str
    currency: str
    amount: Decimal
    line_count: int
    reference: str
    paid_by: str
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PeriodView:
    period: str
    status: str
    closed_by: str | None
    closed_at: datetime | None
