"""Money crosses the JSON boundary exactly: any decimal string is read to the
same Decimal and written back as a string with the same value, and a JSON
number is never accepted in its place."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from serving.schemas import TransactionRow

ROW = {"transaction_id": "A", "rep_id": "R1", "currency": "USD", "credit_date": "2025-01-10"}
decimals = st.decimals(
    allow_nan=False, allow_infinity=False, min_value=-(10**15), max_value=10**15, places=6
)


@settings(max_examples=60)
@given(amount=decimals)
def test_decimal_strings_round_trip_exactly(amount: Decimal) -> None:
    row = TransactionRow.model_validate_json(json.dumps({**ROW, "amount": format(amount, "f")}))
    assert row.amount == amount
    written = json.loads(row.model_dump_json())["amount"]
    assert isinstance(written, str) and Decimal(written) == amount


@settings(max_examples=30)
@given(amount=st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_json_numbers_are_never_money(amount: float) -> None:
    from pydantic import ValidationError

    try:
        TransactionRow.model_validate_json(json.dumps({**ROW, "amount": amount}))
    except ValidationError as exc:
        assert exc.errors()[0]["loc"] == ("amount",)
    else:
        raise AssertionError(f"{amount!r} was accepted as money")
