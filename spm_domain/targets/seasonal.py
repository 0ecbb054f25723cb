"""Seasonal profiles: 12 monthly weights that split an annual target into months.

Weights are in FISCAL month order (index 0 = the calendar's first fiscal
month). The split uses the largest remainder method over the month keys, so
the months always sum exactly to the annual target; ties go to the earlier
month. Built-in profiles: `flat` (equal months) and one derived from history
(each fiscal month weighs its past achievement, optionally blended with flat
so that a month without history still gets something).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from spm_domain.periods import Calendar, Period
from spm_domain.targets.allocation import allocate
from spm_domain.targets.errors import TargetError

log = logging.getLogger(__name__)

MONTHS_PER_YEAR = 12


@dataclass(frozen=True, slots=True)
class SeasonalProfile:
    """A named set of 12 non-negative monthly weights (fiscal month order)."""

    name: str
    weights: tuple[Decimal, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != MONTHS_PER_YEAR:
            raise TargetError(
                f"profile {self.name!r}: needs 12 monthly weights, got {len(self.weights)}"
            )
        for index, weight in enumerate(self.weights, start=1):
            if not isinstance(weight, Decimal) or not weight.is_finite() or weight < 0:
                raise TargetError(
                    f"profile {self.name!r}: weight of fiscal month {index} must be a "
                    f"non-negative Decimal, got {weight!r}"
                )
        if sum(self.weights) == 0:
            raise TargetError(f"profile {self.name!r}: all 12 weights are zero")

    def shares(self) -> tuple[Decimal, ...]:
        """Each month's share of the year (for display; the split itself is exact)."""
        total = sum(self.weights)
        return tuple(w / total for w in self.weights)


FLAT_PROFILE = SeasonalProfile("flat", (Decimal(1),) * MONTHS_PER_YEAR)


def profile_from_history(
    monthly_history: Mapping[int, Decimal],
    calendar: Calendar,
    *,
    name: str = "seasonal",
    flat_blend: Decimal = Decimal(0),
) -> SeasonalProfile:
    """A profile whose weights follow past achievement per calendar month (1-12).

    `flat_blend` in [0, 1] mixes in the flat profile: weight = (1 - b) × share
    + b / 12. With no history at all (every month zero or negative), the flat
    profile is returned (renamed), never an error.
    """
    if not Decimal(0) <= flat_blend <= Decimal(1):
        raise TargetError(f"flat_blend must be between 0 and 1, got {flat_blend}")
    for month in monthly_history:
        if not 1 <= month <= MONTHS_PER_YEAR:
            raise TargetError(f"history month must be 1-12, got {month}")
    fiscal_order = [
        (calendar.fiscal_year_start_month - 1 + i) % MONTHS_PER_YEAR + 1
        for i in range(MONTHS_PER_YEAR)
    ]
    values = [max(monthly_history.get(m, Decimal(0)), Decimal(0)) for m in fiscal_order]
    total = sum(values, Decimal(0))
    if total == 0:
        log.warning("no positive monthly history; seasonal profile falls back to flat")
        return SeasonalProfile(name, FLAT_PROFILE.weights)
    if flat_blend == 0:
        return SeasonalProfile(name, tuple(values))
    # Blend on shares so the result does not depend on the history's scale.
    weights = tuple((1 - flat_blend) * v / total + flat_blend / MONTHS_PER_YEAR for v in values)
    return SeasonalProfile(name, weights)


def fiscal_months(calendar: Calendar, fiscal_year: int) -> list[Period]:
    """The 12 calendar months of a fiscal year, in order."""
    year = calendar.fiscal_year(fiscal_year)
    months: list[Period] = []
    current = calendar.containing(year.start, "monthly")
    while current.start < year.end:
        months.append(current)
        current = calendar.containing(current.end, "monthly")
    return months


def split_annual_target(
    total: int, profile: SeasonalProfile, calendar: Calendar, fiscal_year: int
) -> list[tuple[Period, int]]:
    """Monthly integer targets that sum exactly to the annual `total`."""
    months = fiscal_months(calendar, fiscal_year)
    result = allocate(total, {m.key: w for m, w in zip(months, profile.weights, strict=True)})
    return [(m, result.parts[m.key]) for m in months]
