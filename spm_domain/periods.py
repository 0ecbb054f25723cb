"""Periods and calendars.

A `Period` is a half-open interval of calendar dates `[start, end)` with a
key: months `2025-01`, quarters `2025-Q1`, years `2025`, or a custom key.
A `Calendar` fixes the fiscal year's first month and the timezone in which
period boundaries fall (midnight local time), so "the period containing this
moment" and "how much of the period has elapsed" are well defined for
timezone-aware datetimes.

Fiscal naming (documented decision): a fiscal year is named by the calendar
year in which it ENDS (FY2018 with a July start runs 2017-07-01..2018-06-30,
as Microsoft/AdventureWorks and the US federal government name theirs).
Fiscal quarters are numbered from the fiscal year's first month. Month keys
are always calendar months (`2017-07`), whatever the fiscal start. With the
default calendar (January start) fiscal and calendar years coincide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spm_domain.errors import InvalidPeriodError


class PeriodKind(StrEnum):
    MONTH = "monthly"
    QUARTER = "quarterly"
    YEAR = "yearly"
    CUSTOM = "custom"


_MONTH_KEY = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER_KEY = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR_KEY = re.compile(r"^(\d{4})$")


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """Dates `start` (inclusive) to `end` (exclusive), identified by `key`."""

    start: date
    end: date
    key: str = field(compare=False)
    kind: PeriodKind = field(compare=False)

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidPeriodError(
                f"period {self.key!r}: end {self.end} is not after start {self.start}"
            )

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def __str__(self) -> str:
        return self.key


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True, slots=True)
class Calendar:
    """Fiscal year start month (1-12) and the timezone of period boundaries."""

    fiscal_year_start_month: int = 1
    timezone: str = "UTC"
    custom_periods: tuple[Period, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.fiscal_year_start_month <= 12:
            raise InvalidPeriodError(
                f"fiscal_year_start_month must be 1-12, got {self.fiscal_year_start_month}"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidPeriodError(f"unknown timezone {self.timezone!r}") from None
        keys = [p.key for p in self.custom_periods]
        if len(keys) != len(set(keys)):
            raise InvalidPeriodError(f"duplicate custom period keys in {keys}")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # -- construction -------------------------------------------------------
    def month(self, year: int, month: int) -> Period:
        ny, nm = _add_months(year, month, 1)
        return Period(
            date(year, month, 1), date(ny, nm, 1), f"{year:04d}-{month:02d}", PeriodKind.MONTH
        )

    def fiscal_year(self, fiscal_year: int) -> Period:
        start_year = fiscal_year if self.fiscal_year_start_month == 1 else fiscal_year - 1
        start = date(start_year, self.fiscal_year_start_month, 1)
        ey, em = _add_months(start.year, start.month, 12)
        return Period(start, date(ey, em, 1), f"{fiscal_year:04d}", PeriodKind.YEAR)

    def quarter(self, fiscal_year: int, quarter: int) -> Period:
        if not 1 <= quarter <= 4:
            raise InvalidPeriodError(f"quarter must be 1-4, got {quarter}")
        fy = self.fiscal_year(fiscal_year)
        sy, sm = _add_months(fy.start.year, fy.start.month, 3 * (quarter - 1))
        ey, em = _add_months(sy, sm, 3)
        return Period(
            date(sy, sm, 1), date(ey, em, 1), f"{fiscal_year:04d}-Q{quarter}", PeriodKind.QUARTER
        )

    def custom(self, key: str, start: date, end_inclusive: date) -> Period:
        """A custom period (e.g. a SPIFF window) from `start` to `end_inclusive`."""
        return Period(start, end_inclusive + timedelta(days=1), key, PeriodKind.CUSTOM)

    def with_custom(self, *periods: Period) -> Calendar:
        return Calendar(self.fiscal_year_start_month, self.timezone, self.custom_periods + periods)

    # -- lookup -------------------------------------------------------------
    def parse(self, key: str) -> Period:
        """The period for a key: `2025-01`, `2025-Q1`, `2025` or a custom key."""
        if not isinstance(key, str):
            raise InvalidPeriodError(f"period key must be text, got {key!r}")
        if m := _MONTH_KEY.match(key):
            return self.month(int(m[1]), int(m[2]))
        if m := _QUARTER_KEY.match(key):
            return self.quarter(int(m[1]), int(m[2]))
        if m := _YEAR_KEY.match(key):
            return self.fiscal_year(int(m[1]))
        for period in self.custom_periods:
            if period.key == key:
                return period
        raise InvalidPeriodError(
            f"unknown period key {key!r}: expected YYYY-MM, YYYY-Qn, YYYY or a custom period"
        )

    def fiscal_year_of(self, day: date) -> int:
        if self.fiscal_year_start_month == 1:
            return day.year
        return day.year + 1 if day.month >= self.fiscal_year_start_month else day.year

    def containing(self, day: date | datetime, kind: PeriodKind | str) -> Period:
        """The period of `kind` that contains a date or an aware datetime."""
        d = self.local_date(day)
        kind = PeriodKind(kind)
        if kind is PeriodKind.MONTH:
            return self.month(d.year, d.month)
        fy = self.fiscal_year_of(d)
        if kind is PeriodKind.YEAR:
            return self.fiscal_year(fy)
        if kind is PeriodKind.QUARTER:
            months_in = (d.month - self.fiscal_year_start_month) % 12
            return self.quarter(fy, months_in // 3 + 1)
        matches = [p for p in self.custom_periods if p.contains(d)]
        if len(matches) != 1:
            raise InvalidPeriodError(
                f"{d} lies in {len(matches)} custom periods, expected exactly 1"
            )
        return matches[0]

    def periods_between(self, start: date, end: date, kind: PeriodKind | str) -> list[Period]:
        """Every period of `kind` that overlaps [start, end] (both inclusive)."""
        out: list[Period] = []
        current = self.containing(start, kind)
        while current.start <= end:
            out.append(current)
            current = self.containing(current.end, kind)
        return out

    def local_date(self, moment: date | datetime) -> date:
        if isinstance(moment, datetime):
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise InvalidPeriodError(
                    f"datetime {moment.isoformat()} has no timezone; pass an aware datetime"
                )
            return moment.astimezone(self.tz).date()
        return moment

    def boundaries(self, period: Period) -> tuple[datetime, datetime]:
        """Aware datetimes at local midnight of the period's start and end."""
        return (
            datetime.combine(period.start, time(0), tzinfo=self.tz),
            datetime.combine(period.end, time(0), tzinfo=self.tz),
        )

    def elapsed_fraction(self, period: Period, at: datetime) -> float:
        """Share of the period elapsed at an aware moment, clamped to [0, 1].

        A float on purpose: it is a pace measure for status rules, never money.
        Measured in real elapsed seconds, so DST days count their true length.
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidPeriodError(
                f"datetime {at.isoformat()} has no timezone; pass an aware datetime"
            )
        # Convert to UTC first: Python subtracts two datetimes sharing a tzinfo
        # by wall clock, which would ignore a DST change inside the period.
        start, end = (b.astimezone(UTC) for b in self.boundaries(period))
        total = (end - start).total_seconds()
        done = (at.astimezone(UTC) - start).total_seconds()
        return min(1.0, max(0.0, done / total))


DEFAULT_CALENDAR = Calendar()


def parse_period(key: str, calendar: Calendar = DEFAULT_CALENDAR) -> Period:
    return calendar.parse(key)


def period_kind_of_key(key: str) -> PeriodKind:
    if _MONTH_KEY.match(key):
        return PeriodKind.MONTH
    if _QUARTER_KEY.match(key):
        return PeriodKind.QUARTER
    if _YEAR_KEY.match(key):
        return PeriodKind.YEAR
    return PeriodKind.CUSTOM
