"""Money: an exact Decimal amount in one ISO 4217 currency.

Modelled on py-moneyed: amounts are Decimals (floats are refused because
0.1 + 0.2 != 0.3 in binary), mixing currencies is an error, and rounding is
always explicit: the caller names the mode, the ambient decimal context is
never consulted for it.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Self

from spm_domain.currency import Currency, get_currency
from spm_domain.errors import CurrencyMismatchError, InvalidAmountError

# Plenty of digits for exact intermediate arithmetic (10M transactions of 1e12
# each still fit); rounding to the minor unit is a separate, explicit step.
EXACT_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[
    decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow,
])  # fmt: skip


class RoundingMode(StrEnum):
    """How to round to a currency's minor unit (names as in the plan contract)."""

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"

    @property
    def decimal_rounding(self) -> str:
        return decimal.ROUND_HALF_UP if self is RoundingMode.HALF_UP else decimal.ROUND_HALF_EVEN


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Parse an exact decimal from text, int or Decimal; refuse floats and junk."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise InvalidAmountError(f"{field}: {value!r} is a boolean, not an amount")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise InvalidAmountError(f"{field}: {value!r} is not a decimal number") from None
    elif isinstance(value, float):
        raise InvalidAmountError(
            f"{field}: {value!r} is a binary float; pass the amount as text or Decimal"
        )
    else:
        raise InvalidAmountError(f"{field}: {value!r} is not a decimal number")
    if not result.is_finite():
        raise InvalidAmountError(f"{field}: {value!r} is not a finite number")
    return result


def round_amount(amount: Decimal, currency: Currency, mode: RoundingMode) -> Decimal:
    """Round an exact amount to the currency's minor unit with the given mode."""
    return amount.quantize(currency.quantum, rounding=mode.decimal_rounding, context=EXACT_CONTEXT)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one currency. Unrounded until `rounded()` is called."""

    amount: Decimal
    currency: Currency

    def __init__(self, amount: object, currency: Currency | str) -> None:
        object.__setattr__(self, "amount", to_decimal(amount))
        cur = currency if isinstance(currency, Currency) else get_currency(currency)
        object.__setattr__(self, "currency", cur)

    @classmethod
    def zero(cls, currency: Currency | str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def from_minor_units(cls, units: int, currency: Currency | str) -> Money:
        cur = currency if isinstance(currency, Currency) else get_currency(currency)
        return cls(Decimal(int(units)).scaleb(-cur.minor_unit), cur)

    def to_minor_units(self, mode: RoundingMode) -> int:
        """The amount in integer minor units (cents), rounded with `mode`."""
        return int(self.rounded(mode).amount.scaleb(self.currency.minor_unit))

    def rounded(self, mode: RoundingMode) -> Money:
        return Money(round_amount(self.amount, self.currency, mode), self.currency)

    def _check(self, other: object, operation: str) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {operation} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency.code, other.currency.code, operation)
        return other

    def __add__(self, other: object) -> Money:
        o = self._check(other, "add")
        return Money(EXACT_CONTEXT.add(self.amount, o.amount), self.currency)

    def __sub__(self, other: object) -> Money:
        o = self._check(other, "subtract")
        return Money(EXACT_CONTEXT.subtract(self.amount, o.amount), self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, Money):
            raise TypeError("cannot multiply Money by Money")
        return Money(
            EXACT_CONTEXT.multiply(self.amount, to_decimal(factor, field="factor")), self.currency
        )

    __rmul__ = __mul__

    def __truediv__(self, divisor: object) -> Money:
        if isinstance(divisor, Money):
            raise TypeError("divide amounts with Money.ratio() to get a plain number")
        return Money(
            EXACT_CONTEXT.divide(self.amount, to_decimal(divisor, field="divisor")), self.currency
        )

    def ratio(self, other: Money) -> Decimal:
        """self / other as a plain Decimal (e.g. attainment = credit / quota)."""
        o = self._check(other, "divide")
        return EXACT_CONTEXT.divide(self.amount, o.amount)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def _cmp(self, other: object) -> tuple[Decimal, Decimal]:
        o = self._check(other, "compare")
        return self.amount, o.amount

    def __lt__(self, other: object) -> bool:
        a, b = self._cmp(other)
        return a < b

    def __le__(self, other: object) -> bool:
        a, b = self._cmp(other)
        return a <= b

    def __gt__(self, other: object) -> bool:
        a, b = self._cmp(other)
        return a > b

    def __ge__(self, other: object) -> bool:
        a, b = self._cmp(other)
        return a >= b

    def __bool__(self) -> bool:
        return self.amount != 0

    def convert(self, rate: object, to: Currency | str) -> Money:
        """Convert exactly at `rate` (1 unit of self.currency = rate units of `to`)."""
        return Money(EXACT_CONTEXT.multiply(self.amount, to_decimal(rate, field="rate")), to)

    def format(self) -> str:
        """Human form with thousands separators at the minor unit, e.g. '40,000.00 USD'."""
        q = round_amount(self.amount, self.currency, RoundingMode.HALF_EVEN)
        return f"{q:,.{self.currency.minor_unit}f} {self.currency.code}"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency.code}"

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency.code}')"

    def __hash__(self) -> int:
        return hash((self.amount, self.currency.code))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Money)
            and self.currency == other.currency
            and self.amount == other.amount
        )

    def with_amount(self, amount: object) -> Self:
        return type(self)(amount, self.currency)


def sum_money(items: list[Money] | tuple[Money, ...], currency: Currency | str) -> Money:
    """Exact sum of amounts that must all be in `currency` (empty sum is zero)."""
    total = Money.zero(currency)
    for item in items:
        total = total + item
    return total
