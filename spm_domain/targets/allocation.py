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


def _as_fraction(recipient: str, weight: Weight) -> Fraction:
    if isinstance(weight, bool) or not isinstance(weight, Decimal | int | Fraction):
        raise TargetError(f"weight of {recipient!r} must be a Decimal or int, got {weight!r}")
    if isinstance(weight, Decimal) and not weight.is_finite():
        raise TargetError(f"weight of {recipient!r} is not finite: {weight}")
    value = Fraction(weight)
    if value < 0:
        raise TargetError(f"weight of {recipient!r} is negative: {weight}")
    return value


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
    fractions = {rid: _as_fraction(rid, w) for rid, w in weights.items()}
    weight_sum = sum(fractions.values(), Fraction(0))
    fell_back = weight_sum == 0
    if fell_back:
        log.debug("all %d weights are zero; splitting %d equally", len(fractions), total)
        fractions = dict.fromkeys(fractions, Fraction(1))
        weight_sum = Fraction(len(fractions))
    parts: dict[str, int] = {}
    remainders: list[tuple[Fraction, str]] = []
    for rid, weight in fractions.items():
        share = total * weight / weight_sum
        floor = share.numerator // share.denominator
        parts[rid] = floor
        remainders.append((share - floor, rid))
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
    remainders: dict[tuple[int, int], Fraction] = {}
    for i, r in enumerate(rows):
        for j, col in enumerate(column_totals):
            share = Fraction(row_totals[r] * col, grand)
            floor = share.numerator // share.denominator
            table[r][j] = floor
            if share != floor:
                remainders[(i, j)] = share - floor
    row_need = [row_totals[r] - sum(table[r]) for r in rows]
    col_need = [col - sum(table[r][j] for r in rows) for j, col in enumerate(column_totals)]
    chosen = _place_units(row_need, col_need, remainders)
    for i, j in chosen:
        table[rows[i]][j] += 1
    return table


def _place_units(
    row_need: list[int], col_need: list[int], remainders: Mapping[tuple[int, int], Fraction]
) -> set[tuple[int, int]]:
    """Pick cells (at most one unit each) meeting every row's and column's need.

    A bipartite b-matching solved by augmenting paths (Ford-Fulkerson); sizes
    are tiny (children × 12 months), so clarity beats speed here.
    """
    order = sorted(remainders, key=lambda cell: (-remainders[cell], cell))
    cells_of_row: dict[int, list[int]] = {}
    for i, j in order:
        cells_of_row.setdefault(i, []).append(j)
    chosen: set[tuple[int, int]] = set()
    col_used = [0] * len(col_need)

    def augment(i: int, seen_cols: set[int]) -> bool:
        for j in cells_of_row.get(i, []):
            if (i, j) in chosen or j in seen_cols:
                continue
            seen_cols.add(j)
            if col_used[j] < col_need[j]:
                chosen.add((i, j))
                col_used[j] += 1
                return True
            # Column full: try to move one of its units to another row's free cell.
            for k in [k for (k, jj) in chosen if jj == j]:
                if _reroute(k, j, seen_cols):
                    chosen.add((i, j))
                    return True
        return False

    def _reroute(k: int, j: int, seen_cols: set[int]) -> bool:
        chosen.discard((k, j))
        col_used[j] -= 1
        if augment(k, seen_cols):
            col_used[j] += 1
            return True
        chosen.add((k, j))
        col_used[j] += 1
        return False

    for i, need in enumerate(row_need):
        for _ in range(need):
            if not augment(i, set()):
                raise TargetError("internal error: no exact monthly split exists")  # unreachable
    return chosen
