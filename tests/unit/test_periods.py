from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from spm_domain.errors import InvalidPeriodError
from spm_domain.periods import DEFAULT_CALENDAR, Calendar, PeriodKind, period_kind_of_key


def test_keys_parse_to_calendar_periods() -> None:
    jan = DEFAULT_CALENDAR.parse("2025-01")
    assert (jan.start, jan.end, jan.kind) == (date(2025, 1, 1), date(2025, 2, 1), PeriodKind.MONTH)
    q1 = DEFAULT_CALENDAR.parse("2025-Q1")
    assert (q1.start, q1.last_day) == (date(2025, 1, 1), date(2025, 3, 31))
    year = DEFAULT_CALENDAR.parse("2025")
    assert (year.start, year.end) == (date(2025, 1, 1), date(2026, 1, 1))


def test_fiscal_year_named_by_the_year_it_ends() -> None:
    cal = Calendar(fiscal_year_start_month=7)
    fy = cal.parse("2018")
    assert (fy.start, fy.last_day) == (date(2017, 7, 1), date(2018, 6, 30))
    assert cal.parse("2018-Q1").start == date(2017, 7, 1)
    assert cal.parse("2018-Q3").start == date(2018, 1, 1)
    assert cal.containing(date(2017, 8, 3), PeriodKind.QUARTER).key == "2018-Q1"
    assert cal.containing(date(2018, 6, 30), PeriodKind.YEAR).key == "2018"
    assert cal.containing(date(2018, 7, 1), PeriodKind.YEAR).key == "2019"
    # month keys stay calendar months
    assert cal.containing(date(2017, 8, 3), PeriodKind.MONTH).key == "2017-08"


@pytest.mark.parametrize("bad", ["2025-13", "2025-Q5", "25", "2025-1", "", "Q1-2025"])
def test_bad_keys_are_rejected_with_the_key(bad: str) -> None:
    with pytest.raises(InvalidPeriodError, match=r"period key"):
        DEFAULT_CALENDAR.parse(bad)


def test_custom_periods() -> None:
    spiff = DEFAULT_CALENDAR.custom("spring-spiff", date(2025, 2, 1), date(2025, 3, 15))
    cal = DEFAULT_CALENDAR.with_custom(spiff)
    assert cal.parse("spring-spiff").days == 43
    assert cal.containing(date(2025, 3, 15), PeriodKind.CUSTOM) == spiff
    assert period_kind_of_key("spring-spiff") is PeriodKind.CUSTOM
    with pytest.raises(InvalidPeriodError):
        cal.containing(date(2025, 3, 16), PeriodKind.CUSTOM)


def test_containing_an_aware_moment_uses_the_calendar_timezone() -> None:
    ny = Calendar(timezone="America/New_York")
    moment = datetime(2025, 4, 1, 2, 0, tzinfo=UTC)  # still March 31 in New York
    assert ny.containing(moment, PeriodKind.QUARTER).key == "2025-Q1"
    assert DEFAULT_CALENDAR.containing(moment, PeriodKind.QUARTER).key == "2025-Q2"
    with pytest.raises(InvalidPeriodError, match="no timezone"):
        ny.containing(datetime(2025, 4, 1), PeriodKind.MONTH)


def test_elapsed_fraction() -> None:
    q = DEFAULT_CALENDAR.parse("2025-Q1")  # 90 days
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert DEFAULT_CALENDAR.elapsed_fraction(q, start) == 0.0
    assert DEFAULT_CALENDAR.elapsed_fraction(q, start + timedelta(days=45)) == 0.5
    assert DEFAULT_CALENDAR.elapsed_fraction(q, start - timedelta(days=3)) == 0.0
    assert DEFAULT_CALENDAR.elapsed_fraction(q, start + timedelta(days=200)) == 1.0
    with pytest.raises(InvalidPeriodError):
        DEFAULT_CALENDAR.elapsed_fraction(q, datetime(2025, 2, 1))


def test_elapsed_fraction_counts_real_hours_across_dst() -> None:
    berlin = Calendar(timezone="Europe/Berlin")
    march = berlin.parse("2025-03")  # 31 days minus the 1 hour lost on 30 March
    end_local = datetime(2025, 4, 1, tzinfo=ZoneInfo("Europe/Berlin"))
    one_hour_before = end_local - timedelta(hours=1)
    total_hours = 31 * 24 - 1
    assert berlin.elapsed_fraction(march, one_hour_before) == pytest.approx(1 - 1 / total_hours)


def test_periods_between() -> None:
    keys = [
        p.key
        for p in DEFAULT_CALENDAR.periods_between(date(2024, 11, 5), date(2025, 2, 1), "monthly")
    ]
    assert keys == ["2024-11", "2024-12", "2025-01", "2025-02"]


def test_invalid_calendar() -> None:
    with pytest.raises(InvalidPeriodError):
        Calendar(fiscal_year_start_month=13)
    with pytest.raises(InvalidPeriodError, match="timezone"):
        Calendar(timezone="Mars/Olympus")
