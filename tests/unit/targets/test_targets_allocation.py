from decimal import Decimal

import pytest

from spm_domain.targets import TargetError, allocate, allocate_equal, round_matrix


def test_largest_remainder_gives_leftover_to_largest_remainders() -> None:
    # exact shares 33.3.., 33.3.., 33.3.. of 100 -> one extra unit to the smallest id
    result = allocate(100, {"b": 1, "a": 1, "c": 1})
    assert result.parts == {"b": 33, "a": 34, "c": 33}
    assert list(result.parts) == ["b", "a", "c"]  # input order kept


def test_proportional_weights_are_exact() -> None:
    result = allocate(1_000_000, {"x": Decimal("0.5"), "y": Decimal("0.3"), "z": Decimal("0.2")})
    assert result.parts == {"x": 500_000, "y": 300_000, "z": 200_000}
    assert not result.fell_back_to_equal


def test_larger_remainder_beats_id_order() -> None:
    # shares: a = 10 × 1/7 = 1.43, b = 10 × 6/7 = 8.57 -> b has the larger remainder
    assert allocate(10, {"a": 1, "b": 6}).parts == {"a": 1, "b": 9}


def test_zero_weights_fall_back_to_equal() -> None:
    result = allocate(10, {"a": Decimal(0), "b": Decimal(0), "c": Decimal(0)})
    assert result.parts == {"a": 4, "b": 3, "c": 3}
    assert result.fell_back_to_equal


def test_zero_weight_recipient_gets_nothing_when_others_weigh() -> None:
    assert allocate(7, {"a": Decimal(0), "b": Decimal(2)}).parts == {"a": 0, "b": 7}


@pytest.mark.parametrize(
    ("total", "weights", "message"),
    [
        (-1, {"a": 1}, "negative"),
        (5, {}, "no recipients"),
        (5, {"a": Decimal(-1)}, "weight of 'a' is negative"),
        (5, {"a": Decimal("NaN")}, "not finite"),
        (5, {"a": 0.5}, "must be a Decimal or int"),
    ],
)
def test_bad_input_is_refused(total: int, weights: dict[str, object], message: str) -> None:
    with pytest.raises(TargetError, match=message):
        allocate(total, weights)  # type: ignore[arg-type]


def test_zero_total_to_nobody_is_fine() -> None:
    assert allocate(0, {}).parts == {}


def test_equal_split_differs_by_at_most_one() -> None:
    parts = allocate_equal(11, ["r3", "r1", "r2"]).parts
    assert parts == {"r3": 3, "r1": 4, "r2": 4}
    with pytest.raises(TargetError, match="duplicate"):
        allocate_equal(3, ["a", "a"])


def test_round_matrix_keeps_row_and_column_sums() -> None:
    table = round_matrix({"a": 10, "b": 10, "c": 10}, [7, 7, 8, 8])
    assert [sum(v) for v in table.values()] == [10, 10, 10]
    assert [sum(table[r][j] for r in table) for j in range(4)] == [7, 7, 8, 8]
    for row in table.values():
        for j, cell in enumerate(row):
            exact = Decimal(10) * [7, 7, 8, 8][j] / 30
            assert int(exact) <= cell <= int(exact) + 1


def test_round_matrix_refuses_mismatched_totals() -> None:
    with pytest.raises(TargetError, match="sum to"):
        round_matrix({"a": 3}, [1, 1])
