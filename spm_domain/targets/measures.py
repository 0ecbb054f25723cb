"""What a target counts, and how its amounts map to exact integer units.

Allocation arithmetic runs on integers: money in the currency's minor units
(cents), counts (units sold, new customers) in whole units. Converting in and
out is exact; an amount finer than the minor unit is refused, never rounded
silently.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from spm_domain.currency import Currency, get_currency
from spm_domain.money import Money, to_decimal
from spm_domain.targets.errors import TargetError


class Measure(StrEnum):
    """The quantity a target is set on (the canonical `quotas.measure` vocabulary)."""

    REVENUE = "revenue"
    UNITS = "units"
    NEW_CUSTOMERS = "new_customers"
    MARGIN = "margin"

    @property
    def is_money(self) -> bool:
        return self in (Measure.REVENUE, Measure.MARGIN)


def parse_measure(value: object, *, field: str = "measure") -> Measure:
    try:
        return Measure(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in Measure)
        raise TargetError(
            f"{field}: {value!r} is not a measure (expected one of {allowed})"
        ) from None


def money_to_units(total: Money) -> int:
    """Exact minor units of a money total; refuses sub-minor-unit amounts."""
    scaled = total.amount.scaleb(total.currency.minor_unit)
    if scaled != scaled.to_integral_value():
        raise TargetError(
            f"total {total} has more decimals than {total.currency.code} allows "
            f"({total.currency.minor_unit}); round it first"
        )
    return int(scaled)


def units_to_amount(units: int, currency: Currency | str | None) -> Decimal:
    """The Decimal value of integer units: minor units for money, whole units for counts."""
    if currency is None:
        return Decimal(units)
    cur = currency if isinstance(currency, Currency) else get_currency(currency)
    return Decimal(units).scaleb(-cur.minor_unit)


def total_to_units(total: object, measure: Measure, currency: str | None) -> int:
    """Parse a target total given as text/Decimal/int into integer units for `measure`."""
    value = to_decimal(total, field="total")
    if value < 0:
        raise TargetError(f"total {value} is negative; targets are non-negative")
    if measure.is_money:
        if currency is None:
            raise TargetError(f"a {measure.value} target needs a currency")
        return money_to_units(Money(value, currency))
    if value != value.to_integral_value():
        raise TargetError(f"a {measure.value} target counts whole units, got {value}")
    return int(value)
