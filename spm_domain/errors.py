"""Domain errors: every one names what is wrong so a user can fix their input."""

from __future__ import annotations


class DomainError(ValueError):
    """Base class of all errors raised by the deterministic core."""


class UnknownCurrencyError(DomainError):
    def __init__(self, code: object) -> None:
        super().__init__(f"unknown currency {code!r}: not an ISO 4217 code")
        self.code = code


class CurrencyMismatchError(DomainError):
    def __init__(self, left: str, right: str, operation: str) -> None:
        super().__init__(f"cannot {operation} {left} and {right}: convert with an fx rate first")
        self.left, self.right = left, right


class InvalidAmountError(DomainError):
    """A money amount that is not an exact decimal (floats are refused)."""


class InvalidPeriodError(DomainError):
    """A period key or calendar definition that cannot be understood."""
