"""The payout ledger: idempotent commission runs, multi-level approvals,
disputes, adjustments, payments, closed periods with retroactive deltas, an
append-only audit log, and rep statements. SQLAlchemy 2 + Alembic; SQLite by
default, PostgreSQL supported."""

from spm_domain.ledger.db import DEFAULT_LEDGER_URL, LEDGER_URL_ENV, resolve_ledger_url
from spm_domain.ledger.errors import (
    IllegalTransitionError,
    InvalidRunError,
    LedgerConflictError,
    LedgerError,
    LedgerNotFoundError,
)
from spm_domain.ledger.records import (
    AuditView,
    DisputeView,
    LineKind,
    LineRecord,
    LineStatus,
    LineView,
    PaymentView,
    PeriodView,
    PostResult,
    RunApproval,
    RunInput,
    RunView,
    StatementRecord,
    to_jsonable,
)
from spm_domain.ledger.service import DEFAULT_APPROVAL_LEVELS, Ledger

__all__ = [
    "DEFAULT_APPROVAL_LEVELS",
    "DEFAULT_LEDGER_URL",
    "LEDGER_URL_ENV",
    "AuditView",
    "DisputeView",
    "IllegalTransitionError",
    "InvalidRunError",
    "Ledger",
    "LedgerConflictError",
    "LedgerError",
    "LedgerNotFoundError",
    "LineKind",
    "LineRecord",
    "LineStatus",
    "LineView",
    "PaymentView",
    "PeriodView",
    "PostResult",
    "RunApproval",
    "RunInput",
    "RunView",
    "StatementRecord",
    "resolve_ledger_url",
    "to_jsonable",
]
