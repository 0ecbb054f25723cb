"""Ledger errors: each names the line, run or period at fault and why."""

from __future__ import annotations

from spm_domain.errors import DomainError


class LedgerError(DomainError):
    """Base class of every error the payout ledger raises."""


class LedgerNotFoundError(LedgerError):
    """A line, run, dispute or period that the ledger does not hold."""


class LedgerConflictError(LedgerError):
    """The ledger's state forbids the action (illegal transition, lost race, closed period)."""


class IllegalTransitionError(LedgerConflictError):
    """A line cannot move from its current status with this action."""

    def __init__(self, line_id: int, status: str, action: str, hint: str = "") -> None:
        message = f"line {line_id} is {status}: cannot {action}"
        super().__init__(f"{message} ({hint})" if hint else message)
        self.line_id, self.status, self.action = line_id, status, action


class InvalidRunError(LedgerError):
    """Run input (lines, statements, run key parts) that cannot be posted; nothing was written."""
