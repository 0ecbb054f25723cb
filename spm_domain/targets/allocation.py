"""Exact allocation of an integer total by weights (largest remainder method).

Every allocation here conserves the total exactly: the parts are integers
(minor units for money, whole units for counts) and they sum to the total.

Rule (Hamilton / largest remainder):
1. each recipient's exact share is `total × weight / Σ weights` (a rational,
   computed with `fractions.Fraction`, so no binary or decimal rounding);
2. every recipient first gets the floor of its share;
3. the units left over (fewer than the number of recipients) go one each to
   the largest fractional remainders; ties go to the smaller id (plain string
   order), so the result is deterministic and independent of input order.

Fallbacks: if every weight is zero (e.g. nobody has history yet) the total is
split equally instead, and the result says so (`fell_back_to_equal`).
Weights must be finite and non-negative; the total must be non-negative.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from spm_domain.targets.errors import TargetError

log = logging.getLogger(__name__)

Weight = Decimal | int | Fraction


class AllocationMethod(StrEnum):
    """How a parent's target is split among its children."""

    EQUAL = "equal"
    HISTORY = "history"  # proportional to each child's past achievement of the measure
    WEIGHTS = "weights"  # proportional to weights the user gives


@dataclass(frozen=True, slots=True)
class Allocation:
    """Integer parts keyed by recipient id (input order kept); they sum to `total`."""

    total: int
    parts: dict[str, int]
    fell_back_to_equal: bool = False


def _as_ratio(recipient: str, weight: Weight) -> tuple[int, int]:
    """The weight as an exact (numerator, denominator) pair."""
    if isinstance(weight, bool) or not isinstance(weight, Decimal | int | Fraction):
        raise TargetError(f"weight of {recipient!r} must be a Decimal or int, got {weight!r}")
    if isinstance(weight, Decimal) and not weight.is_finite():
        raise TargetError(f"weight of {recipient!r} is not finite: {weight}")
    if weight < 0:
        raise TargetError(f"weight of {recipient!r} is negative: {weight}")
    return weight.as_integer_ratio()


def _integer_weights(weights: Mapping[str, Weight]) -> dict[str, int]:
    """Exact integer weights in the same proportions (scaled by a common denominator)."""
    ratios = {rid: _as_ratio(rid, w) for rid, w in weights.items()}
    common = math.lcm(*(d for _, d in ratios.values()))
    return {rid: n * (common // d) for rid, (n, d) in ratios.items()}


def allocate(total: int, weights: Mapping[str, Weight]) -> Allocation:
    """Split `total` integer units across recipients proportionally to `weights`."""
    if isinstance(total, bool) or not isinstance(total, int):
        raise TargetError(f"total must be integer units, got {total!r}")
    if total < 0:
        raise TargetError(f"total {total} is negative; targets are non-negative")
    if not weights:
        if total == 0:
            return Allocation(0, {})
        raise TargetError(f"cannot allocate {total} units: there are no recipients")
    integers = _integer_weights(weights)
    weight_sum = sum(integers.values())
    fell_back = weight_sum == 0
    if fell_back:
        log.debug("all %d weights are zero; splitting %d equally", len(integers), total)
        integers = dict.fromkeys(integers, 1)
        weight_sum = len(integers)
    parts: dict[str, int] = {}
    # Exact share = total × w / Σw; floor and remainder (over the common Σw) in integers.
    remainders: list[tuple[int, str]] = []
    for rid, weight in integers.items():
        parts[rid], remainder = divmod(total * weight, weight_sum)
        remainders.append((remainder, rid))
    leftover = total - sum(parts.values())
    # Largest remainder first; ties to the smaller id so the result never depends on input order.
    for _, rid in sorted(remainders, key=lambda item: (-item[0], item[1]))[:leftover]:
        parts[rid] += 1
    return Allocation(total, parts, fell_back)


def allocate_equal(total: int, recipients: Sequence[str]) -> Allocation:
    """Equal split: parts differ by at most one unit (extra units to the smaller ids)."""
    if len(set(recipients)) != len(recipients):
        raise TargetError(f"duplicate recipients in {list(recipients)}")
    return allocate(total, dict.fromkeys(recipients, 1))


def round_matrix(
    row_totals: Mapping[str, int], column_totals: Sequence[int]
) -> dict[str, list[int]]:
    """Integer table with the given row and column sums, each cell the floor or
    ceiling of its exact share `row × column / grand total`.

    Used to give every node of a target tree a monthly split such that a
    node's months sum to its annual target AND, for every month, the
    children's values sum to the parent's value (controlled rounding).
    Cells start at their floors; the leftover units are placed by a max-flow
    over cells with a non-zero remainder (a feasible placement always exists
    because the exact fractional table satisfies both sums). Cells with larger
    remainders are tried first, then row id order, then column order.
    """
    grand = sum(row_totals.values())
    if sum(column_totals) != grand:
        raise TargetError(
            f"row totals sum to {grand} but column totals sum to {sum(column_totals)}"
        )
    if any(v < 0 for v in row_totals.values()) or any(v < 0 for v in column_totals):
        raise TargetError("row and column totals must be non-negative")
    rows = list(row_totals)
    table: dict[str, list[int]] = {r: [0] * len(column_totals) for r in rows}
    if grand == 0:
        return table
    remainders: dict[tuple[int, int], int] = {}  # numerators over `grand`
    for i, r in enumerate(rows):
        for j, col in enumerate(column_totals):
            table[r][j], remainder = divmod(row_totals[r] * col, grand)
            if remainder:
                remainders[(i, j)] = remainder
    row_need = [row_totals[r] - sum(table[r]) for r in rows]
    col_need = [col - sum(table[r][j] for r in rows) for j, col in enumerate(column_totals)]
    chosen = _place_units(row_need, col_need, remainders)
    for i, j in chosen:
        table[rows[i]][j] += 1
    return table


def _place_units(
    row_need: list[int], col_need: list[int], remainders: Mapping[tuple[int, int], int]
) -> set[tuple[int, int]]:
    """Pick cells (at most one unit each) meeting every row's and column's need.

    A bipartite b-matching: a greedy pass in remainder order places most
    units, then augmenting paths (Kuhn's algorithm with column capacities)
    place the rest, moving earlier choices where needed.
    """
    order = sorted(remainders, key=lambda cell: (-remainders[cell], cell))
    cells_of_row: dict[int, list[int]] = {}
    for i, j in order:
        cells_of_row.setdefault(i, []).append(j)
    chosen: set[tuple[int, int]] = set()
    rows_in_col: dict[int, set[int]] = {j: set() for j in range(len(col_need))}
    row_left = list(row_need)
    for i, j in order:
        if row_left[i] > 0 and len(rows_in_col[j]) < col_need[j]:
            chosen.add((i, j))
            rows_in_col[j].add(i)
            row_left[i] -= 1

    def augment(i: int, seen_cols: set[int]) -> bool:
        for j in cells_of_row.get(i, []):
            if (i, j) in chosen or j in seen_cols:
                continue
            seen_cols.add(j)
            if len(rows_in_col[j]) < col_need[j]:
                chosen.add((i, j))
                rows_in_col[j].add(i)
                return True
            # Column full: move one of its units to another cell of that unit's row.
            for k in sorted(rows_in_col[j]):
                chosen.discard((k, j))
                rows_in_col[j].discard(k)
                if augment(k, seen_cols):
                    chosen.add((i, j))
                    rows_in_col[j].add(i)
                    return True
                chosen.add((k, j))
                rows_in_col[j].add(k)
        return False

    for i, need in enumerate(row_left):
        for _ in range(need):
            if not augment(i, set()):
                raise TargetError("internal error: no exact split exists")  # unreachable
    return chosen
