from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from spm_domain.money import Money
from spm_domain.periods import Calendar
from spm_domain.targets import (
    FLAT_PROFILE,
    Measure,
    SeasonalProfile,
    TargetChange,
    TargetError,
    day_of_period,
    mix_from_history,
    money_to_units,
    profile_from_history,
    prorate_target,
    split_annual_target,
    split_by_mix,
    total_to_units,
    units_to_amount,
)

CAL = Calendar()


def test_flat_profile_splits_a_year_exactly() -> None:
    months = split_annual_target(1_200_000_001, FLAT_PROFILE, CAL, 2017)
    assert [p.key for p, _ in months][:2] == ["2017-01", "2017-02"]
    assert sum(v for _, v in months) == 1_200_000_001
    assert [v for _, v in months][:2] == [100_000_001, 100_000_000]  # the earlier month wins ties


def test_profile_from_history_follows_fiscal_order() -> None:
    july_start = Calendar(fiscal_year_start_month=7)
    history = {7: Decimal(2), 8: Decimal(1)}  # only July and August sold
    profile = profile_from_history(history, july_start)
    assert profile.weights[:2] == (Decimal(2), Decimal(1))
    months = split_annual_target(300, profile, july_start, 2018)
    assert months[0][0].key == "2017-07" and months[0][1] == 200 and months[1][1] == 100
    assert sum(v for _, v in months) == 300


def test_history_profile_blend_gives_empty_months_something() -> None:
    profile = profile_from_history({1: Decimal(100)}, CAL, flat_blend=Decimal("0.12"))
    months = dict((p.key, v) for p, v in split_annual_target(1000, profile, CAL, 2017))
    assert months["2017-02"] == 10  # 0.12 / 12 of 1000
    assert months["2017-01"] == 890


def test_no_history_profile_falls_back_to_flat() -> None:
    assert profile_from_history({}, CAL).weights == FLAT_PROFILE.weights


def test_profile_validation() -> None:
    with pytest.raises(TargetError, match="needs 12"):
        SeasonalProfile("x", (Decimal(1),) * 11)
    with pytest.raises(TargetError, match="all 12 weights are zero"):
        SeasonalProfile("x", (Decimal(0),) * 12)
    with pytest.raises(TargetError, match="fiscal month 3"):
        SeasonalProfile("x", (Decimal(1),) * 2 + (Decimal(-1),) + (Decimal(1),) * 9)


def test_raise_on_day_45_of_a_quarter_is_prorated_by_days() -> None:
    q3 = CAL.parse("2017-Q3")  # 92 days
    change_day = day_of_period(q3, 45)
    assert change_day == date(2017, 8, 14)
    result = prorate_target(q3, 9_000_000, [TargetChange(change_day, 12_000_000)])
    assert [s.days for s in result.segments] == [44, 48]
    assert result.exact == Fraction(9_000_000 * 44 + 12_000_000 * 48, 92)
    assert result.effective == 10_565_217  # 10,565,217.39 -> 10,565,217 (half-even)


def test_change_on_first_day_replaces_the_target() -> None:
    q3 = CAL.parse("2017-Q3")
    assert prorate_target(q3, 100, [TargetChange(q3.start, 200)]).effective == 200


def test_no_change_keeps_the_target() -> None:
    assert prorate_target(CAL.parse("2017-02"), 2_800).effective == 2_800


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ([TargetChange(date(2017, 10, 1), 5)], "outside period"),
        ([TargetChange(date(2017, 8, 1), 5), TargetChange(date(2017, 7, 15), 6)], "increasing"),
        ([TargetChange(date(2017, 8, 1), -5)], "negative"),
    ],
)
def test_bad_changes_are_refused(changes: list[TargetChange], message: str) -> None:
    with pytest.raises(TargetError, match=message):
        prorate_target(CAL.parse("2017-Q3"), 100, changes)


def test_day_of_period_bounds() -> None:
    with pytest.raises(TargetError, match="days 1-92"):
        day_of_period(CAL.parse("2017-Q3"), 93)


def test_product_mix_sums_exactly() -> None:
    result = split_by_mix(100_001, {"GTX Pro": Decimal(3), "MG Special": Decimal(1)})
    assert result.parts == {"GTX Pro": 75_001, "MG Special": 25_000}
    with pytest.raises(TargetError, match="empty"):
        split_by_mix(1, {})


def test_mix_from_history_sums_by_key_and_skips_blanks() -> None:
    lines = [("A", Decimal(5)), (None, Decimal(9)), ("B", Decimal(1)), ("A", Decimal(2))]
    assert mix_from_history(lines) == {"A": Decimal(7), "B": Decimal(1)}


def test_units_conversion_is_exact() -> None:
    assert money_to_units(Money("12000000", "USD")) == 1_200_000_000
    assert total_to_units("500", Measure.UNITS, None) == 500
    assert units_to_amount(1_234, "USD") == Decimal("12.34")
    assert units_to_amount(7, "JPY") == Decimal(7)
    assert units_to_amount(7, None) == Decimal(7)
    with pytest.raises(TargetError, match="more decimals"):
        money_to_units(Money("1.005", "USD"))
    with pytest.raises(TargetError, match="whole units"):
        total_to_units("1.5", Measure.NEW_CUSTOMERS, None)
    with pytest.raises(TargetError, match="needs a currency"):
        total_to_units("1", Measure.REVENUE, None)
    with pytest.raises(TargetError, match="negative"):
        total_to_units("-1", Measure.REVENUE, "USD")
