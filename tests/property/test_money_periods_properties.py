"""Invariants of Money and periods over generated values."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from spm_domain.currency import get_currency, known_currency_codes
from spm_domain.money import Money, RoundingMode
from spm_domain.periods import Calendar, PeriodKind

amounts = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=6, allow_nan=False
)
codes = st.sampled_from(sorted(known_currency_codes()))
modes = st.sampled_from(list(RoundingMode))
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
calendars = st.builds(Calendar, fiscal_year_start_month=st.integers(1, 12))


@settings(max_examples=200)
@given(amounts, amounts, codes)
def test_addition_is_exact_commutative_and_invertible(a: Decimal, b: Decimal, code: str) -> None:
    x, y = Money(a, code), Money(b, code)
    assert x + y == y + x
    assert (x + y) - y == x
    assert (x + y).amount == a + b


@settings(max_examples=200)
@given(amounts, codes, modes)
def test_rounding_lands_on_the_minor_unit_within_half_a_unit(
    a: Decimal, code: str, mode: RoundingMode
) -> None:
    cur = get_currency(code)
    r = Money(a, code).rounded(mode)
    assert r.amount.as_tuple().exponent == -cur.minor_unit
    assert abs(r.amount - a) <= cur.quantum / 2
    assert r.rounded(mode) == r  # idempotent
    assert Money.from_minor_units(r.to_minor_units(mode), code) == r


@settings(max_examples=200)
@given(amounts, codes)
def test_half_up_and_half_even_differ_only_on_ties(a: Decimal, code: str) -> None:
    m = Money(a, code)
    up, even = m.rounded(RoundingMode.HALF_UP), m.rounded(RoundingMode.HALF_EVEN)
    if up != even:
        q = get_currency(code).quantum
        assert abs(abs(a - up.amount) - q / 2) == 0


@settings(max_examples=300)
@given(days, calendars, st.sampled_from([PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR]))
def test_every_day_lies_in_exactly_the_period_its_key_names(
    d: date, cal: Calendar, kind: PeriodKind
) -> None:
    p = cal.containing(d, kind)
    assert p.contains(d)
    assert cal.parse(p.key) == p
    nxt = cal.containing(p.end, kind)
    assert nxt.start == p.end  # periods tile time without gaps or overlaps
    assert not nxt.contains(d)


@settings(max_examples=200)
@given(days, calendars)
def test_quarters_partition_their_fiscal_year(d: date, cal: Calendar) -> None:
    fy = cal.containing(d, PeriodKind.YEAR)
    quarters = [cal.parse(f"{fy.key}-Q{i}") for i in range(1, 5)]
    assert quarters[0].start == fy.start and quarters[-1].end == fy.end
    assert sum(q.days for q in quarters) == fy.days


@settings(max_examples=200)
@given(days, st.integers(0, 10**6))
def test_elapsed_fraction_is_monotone_in_time(d: date, seconds: int) -> None:
    cal = Calendar()
    p = cal.containing(d, PeriodKind.QUARTER)
    t0 = datetime(d.year, d.month, d.day, tzinfo=UTC)
    f0 = cal.elapsed_fraction(p, t0)
    f1 = cal.elapsed_fraction(p, t0 + timedelta(seconds=seconds))
    assert 0.0 <= f0 <= f1 <= 1.0
