"""Money in JSON is a decimal string: numbers are refused, output is text."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from serving.errors import json_path
from serving.schemas import PayoutLine, TransactionRow

ROW = {"transaction_id": "A", "rep_id": "R1", "currency": "USD", "credit_date": "2025-01-10"}


def test_decimal_strings_are_exact() -> None:
    row = TransactionRow.model_validate(
        {**ROW, "amount": "0.10", "share": "0.3333333333333333333333"}
    )
    assert row.amount == Decimal("0.10")
    assert row.share == Decimal("0.3333333333333333333333")


@pytest.mark.parametrize("amount", [0.1, 10, True, "1,000.00", "ten", "NaN", None])
def test_numbers_and_junk_are_refused_with_the_field(amount: object) -> None:
    with pytest.raises(ValidationError) as info:
        TransactionRow.model_validate({**ROW, "amount": amount})
    assert info.value.errors()[0]["loc"] == ("amount",)


def test_output_money_is_a_json_string() -> None:
    line = PayoutLine(
        rep_id="R1", period="2025-Q1", component="c", amount=Decimal("2400.00"),
        rate=Decimal("0.08"), currency="USD", explanation="x",
    )  # fmt: skip
    dumped = line.model_dump(mode="json")
    assert dumped["amount"] == "2400.00" and dumped["rate"] == "0.08"
    assert '"amount":"2400.00"' in line.model_dump_json()


def test_json_paths() -> None:
    assert json_path(("transactions", 3, "amount")) == "transactions[3].amount"
    assert json_path([]) == "$"
    assert json_path(["plan"]) == "plan"
