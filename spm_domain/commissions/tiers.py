"""Tier, curve and formatting arithmetic shared by the engine (exact Decimals)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from spm_domain.currency import Currency
from spm_domain.money import EXACT_CONTEXT, RoundingMode, round_amount

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Band:
    """One tier in absolute units: [lower, upper) with upper None = open-ended."""

    lower: Decimal
    upper: Decimal | None
    rate: Decimal
    plan_lower: Decimal  # the bounds as written in the plan (fractions of quota or amounts)
    plan_upper: Decimal | None


@dataclass(frozen=True, slots=True)
class Slice:
    """The part of a credit that falls in one band (size may be negative for returns)."""

    size: Decimal
    band: Band

    @property
    def pays(self) -> Decimal:
        return EXACT_CONTEXT.multiply(self.size, self.band.rate)


def bands(uptos: Sequence[Decimal | None], rates: Sequence[Decimal], scale: Decimal) -> list[Band]:
    """Tiers with bounds multiplied by `scale` (the quota, or 1 for amounts)."""
    out: list[Band] = []
    lower, plan_lower = ZERO, ZERO
    for upto, rate in zip(uptos, rates, strict=True):
        upper = None if upto is None else EXACT_CONTEXT.multiply(upto, scale)
        out.append(Band(lower, upper, rate, plan_lower, upto))
        if upper is not None and upto is not None:
            lower, plan_lower = upper, upto
    return out


def marginal_slices(start: Decimal, end: Decimal, tiers: Sequence[Band]) -> list[Slice]:
    """Split the interval from `start` to `end` (running totals) at tier bounds.

    Amounts below zero (returns that take a rep's total negative) are priced
    at the first tier's rate, so the payout function stays continuous.
    """
    sign = 1 if end >= start else -1
    lo, hi = (start, end) if sign == 1 else (end, start)
    slices: list[Slice] = []
    for i, band in enumerate(tiers):
        band_lo = band.lower if i > 0 else min(lo, ZERO)
        band_hi = hi if band.upper is None else band.upper
        overlap_lo = max(lo, band_lo)
        overlap_hi = min(hi, band_hi)
        if overlap_hi > overlap_lo:
            size = overlap_hi - overlap_lo
            slices.append(Slice(size if sign == 1 else -size, band))
    return slices


def band_index(value: Decimal, tiers: Sequence[Band]) -> int:
    """The tier containing `value`; tiers are half-open, so a bound goes up."""
    for i, band in enumerate(tiers):
        if band.upper is None or value < band.upper:
            return i
    return len(tiers) - 1


def curve_fraction(points: Sequence[tuple[Decimal, Decimal]], attainment: Decimal) -> Decimal:
    """Piecewise-linear fraction of target incentive: 0 below the first point, flat after
    the last, linear between points. For explanations: pay with `curve_payout`."""
    if attainment < points[0][0]:
        return ZERO
    for (a0, f0), (a1, f1) in itertools.pairwise(points):
        if a0 <= attainment < a1:
            step = EXACT_CONTEXT.divide(
                EXACT_CONTEXT.multiply(EXACT_CONTEXT.subtract(attainment, a0), f1 - f0), a1 - a0
            )
            return EXACT_CONTEXT.add(f0, step)
    return points[-1][1]


def curve_payout(
    points: Sequence[tuple[Decimal, Decimal]], credited: Decimal, quota: Decimal, target: Decimal
) -> Decimal:
    """`target × curve(credited ÷ quota)` with one division, last.

    Dividing first (attainment) gives a repeating decimal that 60 digits cut short:
    3,718.50 ÷ 180,000 × 15,000 came out 309.87499…, rounded to 309.87 instead of the
    exact 309.875 -> 309.88. Bounds are compared in money (`a × quota`), exactly.
    """
    if credited < EXACT_CONTEXT.multiply(points[0][0], quota):
        return ZERO
    for (a0, f0), (a1, f1) in itertools.pairwise(points):
        low = EXACT_CONTEXT.multiply(a0, quota)
        if low <= credited < EXACT_CONTEXT.multiply(a1, quota):
            width = EXACT_CONTEXT.multiply(a1 - a0, quota)
            # target × (f0 + (credited − low)(f1 − f0) / width), over one denominator
            numerator = EXACT_CONTEXT.add(
                EXACT_CONTEXT.multiply(f0, width),
                EXACT_CONTEXT.multiply(EXACT_CONTEXT.subtract(credited, low), f1 - f0),
            )
            return EXACT_CONTEXT.divide(EXACT_CONTEXT.multiply(target, numerator), width)
    return EXACT_CONTEXT.multiply(target, points[-1][1])


# -- formatting for explanations --------------------------------------------


def fmt_money(amount: Decimal, currency: Currency) -> str:
    q = round_amount(amount, currency, RoundingMode.HALF_EVEN)
    return f"{q:,.{currency.minor_unit}f}"


def fmt_number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def fmt_pct(rate: Decimal) -> str:
    """A rate as a percentage, exact: 0.08 -> '8%', 0.125 -> '12.5%'."""
    return fmt_number(EXACT_CONTEXT.multiply(rate, Decimal(100))) + "%"


def fmt_attainment(attainment: Decimal) -> str:
    """An attainment for reading, to 0.01%: 1.25 -> '125%'."""
    pct = EXACT_CONTEXT.multiply(attainment, Decimal(100)).quantize(Decimal("0.01"))
    return fmt_number(pct) + "%"


def describe_band(band: Band, *, of_quota: bool, currency: Currency) -> str:
    """'between 50% and 100% of quota', 'below 10,000.00', 'from 150% of quota up'."""
    if of_quota:
        lower, upper = fmt_attainment(band.plan_lower), band.plan_upper
        upper_text = None if upper is None else fmt_attainment(upper)
    else:
        lower = fmt_money(band.lower, currency)
        upper_text = None if band.upper is None else fmt_money(band.upper, currency)
    suffix = " of quota" if of_quota else ""
    if band.plan_lower == 0 and upper_text is not None:
        return f"below {upper_text}{suffix}"
    if upper_text is None:
        return f"from {lower}{suffix} up" if band.plan_lower != 0 else f"at any level{suffix}"
    return f"between {lower} and {upper_text}{suffix}"
