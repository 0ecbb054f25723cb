"""Product-mix targets: one target split across products or categories.

The split is a largest-remainder allocation of the target's integer units by
mix weights, so the product targets sum exactly to the target. Mix weights
can be given (e.g. 60/30/10) or taken from history (each product's past
achievement); with all-zero weights the split falls back to equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from spm_domain.targets.allocation import Allocation, Weight, allocate
from spm_domain.targets.errors import TargetError


def split_by_mix(total: int, mix: Mapping[str, Weight]) -> Allocation:
    """Integer target per product/category, summing exactly to `total`."""
    if not mix:
        raise TargetError("product mix is empty: give at least one product or category")
    return allocate(total, mix)


def mix_from_history(lines: Iterable[tuple[str | None, Decimal]]) -> dict[str, Decimal]:
    """Mix weights from (product or category, achieved value) pairs; blanks are skipped."""
    weights: dict[str, Decimal] = {}
    for key, value in lines:
        if key:
            weights[key] = weights.get(key, Decimal(0)) + value
    return {k: max(v, Decimal(0)) for k, v in sorted(weights.items())}
