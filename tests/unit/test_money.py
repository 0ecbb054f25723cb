from decimal import Decimal

import pytest

from spm_domain.currency import get_currency, is_currency_code
from spm_domain.errors import CurrencyMismatchError, InvalidAmountError, UnknownCurrencyError
from spm_domain.money import Money, RoundingMode, sum_money, to_decimal


def test_minor_units_follow_iso_4217() -> None:
    assert get_currency("JPY").minor_unit == 0
    assert get_currency("USD").minor_unit == 2
    assert get_currency("EUR").minor_unit == 2
    assert get_currency("BHD").minor_unit == 3
    assert get_currency("KWD").minor_unit == 3


def test_unknown_currency_is_named() -> None:
    with pytest.raises(UnknownCurrencyError, match="'XYZ'"):
        get_currency("XYZ")
    with pytest.raises(UnknownCurrencyError):
        Money("1", "usd")
    assert not is_currency_code("usd")


def test_floats_are_refused() -> None:
    with pytest.raises(InvalidAmountError, match="float"):
        Money(0.1, "USD")
    with pytest.raises(InvalidAmountError, match="not a decimal"):
        to_decimal("12,34abc")
    with pytest.raises(InvalidAmountError, match="finite"):
        to_decimal("NaN")


def test_mixing_currencies_is_an_error() -> None:
    with pytest.raises(CurrencyMismatchError, match="USD and EUR"):
        Money("1", "USD") + Money("1", "EUR")
    with pytest.raises(CurrencyMismatchError):
        _ = Money("1", "USD") < Money("2", "EUR")


def test_exact_arithmetic() -> None:
    total = Money("0.1", "USD") + Money("0.2", "USD")
    assert total == Money("0.3", "USD")
    assert Money("100", "USD") * "0.08" == Money("8.00", "USD")
    assert Money("125000", "USD").ratio(Money("100000", "USD")) == Decimal("1.25")


@pytest.mark.parametrize(
    ("amount", "currency", "mode", "expected"),
    [
        ("1.005", "USD", RoundingMode.HALF_UP, "1.01"),
        ("1.005", "USD", RoundingMode.HALF_EVEN, "1.00"),
        ("1.015", "USD", RoundingMode.HALF_EVEN, "1.02"),
        ("2.5", "JPY", RoundingMode.HALF_UP, "3"),
        ("2.5", "JPY", RoundingMode.HALF_EVEN, "2"),
        ("0.0005", "BHD", RoundingMode.HALF_UP, "0.001"),
        ("-1.005", "USD", RoundingMode.HALF_UP, "-1.01"),
    ],
)
def test_rounding_is_explicit_and_uses_minor_unit(
    amount: str, currency: str, mode: RoundingMode, expected: str
) -> None:
    rounded = Money(amount, currency).rounded(mode)
    assert rounded.amount == Decimal(expected)
    assert rounded.amount.as_tuple().exponent == -get_currency(currency).minor_unit


def test_minor_units_round_trip() -> None:
    m = Money("1234.56", "USD")
    assert m.to_minor_units(RoundingMode.HALF_UP) == 123456
    assert Money.from_minor_units(123456, "USD") == m
    assert Money.from_minor_units(1234, "JPY") == Money("1234", "JPY")


def test_conversion_is_exact_before_rounding() -> None:
    eur = Money("100.00", "EUR").convert("1.0837", "USD")
    assert eur == Money("108.37", "USD")
    assert Money("0.01", "EUR").convert("1.23456789", "USD").amount == Decimal("0.0123456789")


def test_format_and_sum() -> None:
    assert Money("40000", "USD").format() == "40,000.00 USD"
    assert sum_money([Money("1", "USD"), Money("2.50", "USD")], "USD") == Money("3.50", "USD")
    assert sum_money([], "JPY") == Money.zero("JPY")
