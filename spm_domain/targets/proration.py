"""Mid-period target changes, prorated by days.

Rule: a change takes effect at the START of its `effective_from` day (local
calendar date). The period's effective target is the day-weighted average of
the targets in force:

    effective = Σ target_k × days_k / days_in_period

computed exactly (rationals) and rounded ONCE to a whole unit with the given
rounding mode (default half-even). "Raised on day 45 of a quarter" means
effective from the 45th day, so days 1-44 count at the old target.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from spm_domain.money import EXACT_CONTEXT, RoundingMode
from spm_domain.periods import Period
from spm_domain.targets.errors import TargetError


@dataclass(frozen=True, slots=True)
class TargetChange:
    effective_from: date
    target: int


@dataclass(frozen=True, slots=True)
class TargetSegment:
    start: date
    end: date  # exclusive
    target: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True, slots=True)
class ProratedTarget:
    period: Period
    effective: int
    exact: Fraction
    segments: tuple[TargetSegment, ...]


def day_of_period(period: Period, day_number: int) -> date:
    """The date of the n-th day (1-based) of a period."""
    if not 1 <= day_number <= period.days:
        raise TargetError(f"period {period.key} has days 1-{period.days}, not {day_number}")
    return period.start + timedelta(days=day_number - 1)


def prorate_target(
    period: Period,
    initial_target: int,
    changes: Sequence[TargetChange] = (),
    *,
    rounding: RoundingMode = RoundingMode.HALF_EVEN,
) -> ProratedTarget:
    """The day-weighted target of `period` given the initial target and changes."""
    if initial_target < 0:
        raise TargetError(f"initial target {initial_target} is negative")
    ordered = list(changes)
    for previous, change in itertools.pairwise(ordered):
        if change.effective_from <= previous.effective_from:
            raise TargetError(
                f"target changes must have increasing dates: {change.effective_from} "
                f"follows {previous.effective_from}"
            )
    for change in ordered:
        if not period.contains(change.effective_from):
            raise TargetError(
                f"target change on {change.effective_from} is outside period {period.key} "
                f"({period.start}..{period.last_day})"
            )
        if change.target < 0:
            raise TargetError(f"target change on {change.effective_from} is negative")
    boundaries = [period.start, *(c.effective_from for c in ordered), period.end]
    targets = [initial_target, *(c.target for c in ordered)]
    segments = tuple(
        TargetSegment(start, end, target)
        for start, end, target in zip(boundaries[:-1], boundaries[1:], targets, strict=True)
        if end > start
    )
    exact = sum((Fraction(s.target * s.days) for s in segments), Fraction(0)) / period.days
    quotient = EXACT_CONTEXT.divide(Decimal(exact.numerator), Decimal(exact.denominator))
    effective = int(quotient.to_integral_value(rounding=rounding.decimal_rounding))
    return ProratedTarget(period, effective, exact, segments)
