"""Invariants of target allocation: exact sums at every level, never negative."""

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from spm_domain.periods import Calendar
from spm_domain.targets import (
    AllocationMethod,
    CascadeRules,
    OrgUnitRecord,
    RepRecord,
    SeasonalProfile,
    TargetChange,
    allocate,
    allocate_equal,
    apply_monthly_split,
    apply_product_mix,
    build_org_tree,
    cascade_target,
    day_of_period,
    prorate_target,
    round_matrix,
    split_annual_target,
    sum_errors,
)

SETTINGS = settings(max_examples=60, deadline=None)
totals = st.integers(min_value=0, max_value=10**13)
weights = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
ids = st.text(alphabet="abcdefgh", min_size=1, max_size=4)


@SETTINGS
@given(total=totals, w=st.dictionaries(ids, weights, min_size=1, max_size=12))
def test_allocation_sums_exactly_and_is_non_negative(total: int, w: dict[str, Decimal]) -> None:
    parts = allocate(total, w).parts
    assert sum(parts.values()) == total
    assert all(p >= 0 for p in parts.values())
    assert set(parts) == set(w)


@SETTINGS
@given(total=totals, w=st.dictionaries(ids, weights, min_size=1, max_size=12))
def test_each_part_is_floor_or_ceiling_of_its_exact_share(
    total: int, w: dict[str, Decimal]
) -> None:
    weight_sum = sum(w.values())
    parts = allocate(total, w).parts
    for rid, part in parts.items():
        exact = (total * w[rid] / weight_sum) if weight_sum else Decimal(total) / len(w)
        assert abs(part - exact) < 1


@SETTINGS
@given(total=totals, n=st.integers(min_value=1, max_value=40))
def test_equal_split_differs_by_at_most_one_unit(total: int, n: int) -> None:
    parts = list(allocate_equal(total, [f"r{i:02d}" for i in range(n)]).parts.values())
    assert sum(parts) == total and max(parts) - min(parts) <= 1


@SETTINGS
@given(
    total=totals,
    w=st.lists(weights, min_size=12, max_size=12),
    year=st.integers(2000, 2040),
    start=st.integers(1, 12),
)
def test_seasonal_months_sum_to_the_annual(
    total: int, w: list[Decimal], year: int, start: int
) -> None:
    if sum(w) == 0:
        w[0] = Decimal(1)
    months = split_annual_target(total, SeasonalProfile("p", tuple(w)), Calendar(start), year)
    assert len(months) == 12 and sum(v for _, v in months) == total
    assert all(v >= 0 for _, v in months)


@st.composite
def org_trees(draw: st.DrawFn) -> tuple[list[OrgUnitRecord], list[RepRecord]]:
    units = [OrgUnitRecord("company", "company", "C", None)]
    reps: list[RepRecord] = []
    for r in range(draw(st.integers(1, 4))):
        region = f"region:{r}"
        units.append(OrgUnitRecord(region, "region", region, "company"))
        for t in range(draw(st.integers(0, 3))):
            team = f"team:{r}.{t}"
            units.append(OrgUnitRecord(team, "team", team, region))
            for p in range(draw(st.integers(0, 5))):
                reps.append(RepRecord(f"rep:{r}.{t}.{p}", None, team, region))
        if draw(st.booleans()):
            reps.append(RepRecord(f"rep:{r}.direct", None, None, region))
    if not reps:
        reps.append(RepRecord("rep:only", None, None, None))
    return units, reps


methods = st.sampled_from(list(AllocationMethod))


@settings(max_examples=50, deadline=None)
@given(
    tree_data=org_trees(),
    total=totals,
    rules=st.builds(CascadeRules, methods, methods, methods),
    rep_values=st.lists(weights, min_size=60, max_size=60),
    monthly=st.booleans(),
    mix=st.dictionaries(ids, weights, max_size=4),
)
def test_cascade_sums_exactly_at_every_level(
    tree_data: tuple[list[OrgUnitRecord], list[RepRecord]],
    total: int,
    rules: CascadeRules,
    rep_values: list[Decimal],
    monthly: bool,
    mix: dict[str, Decimal],
) -> None:
    tree = build_org_tree(*tree_data)
    reps = tree.rep_ids()
    values = dict(zip(reps, rep_values, strict=False))
    result = cascade_target(total, tree, rules, history=values, weights=values)
    if monthly:
        months = list(allocate(total, {f"{m:02d}": 1 + m % 3 for m in range(12)}).parts.values())
        result = apply_monthly_split(result, months)
    if mix:
        result = apply_product_mix(result, mix)
    assert sum_errors(result) == []
    assert result.amount == total
    assert sum(result.find(r).amount for r in reps) == total
    assert all(n.amount >= 0 for n in result.walk())


@SETTINGS
@given(
    rows=st.lists(st.integers(0, 10**9), min_size=1, max_size=30),
    col_weights=st.lists(st.integers(0, 50), min_size=1, max_size=12),
)
def test_round_matrix_rows_and_columns_are_exact(rows: list[int], col_weights: list[int]) -> None:
    total = sum(rows)
    if sum(col_weights) == 0:
        col_weights[0] = 1
    cols = list(allocate(total, {f"{j:02d}": w for j, w in enumerate(col_weights)}).parts.values())
    table = round_matrix({f"r{i}": v for i, v in enumerate(rows)}, cols)
    for i, v in enumerate(rows):
        assert sum(table[f"r{i}"]) == v
    for j, c in enumerate(cols):
        assert sum(table[r][j] for r in table) == c
    for i, v in enumerate(rows):
        for j, c in enumerate(cols):
            exact = Fraction(v * c, total) if total else Fraction(0)
            assert abs(table[f"r{i}"][j] - exact) < 1


@SETTINGS
@given(
    initial=st.integers(0, 10**12),
    changes=st.lists(st.tuples(st.integers(1, 92), st.integers(0, 10**12)), max_size=4),
)
def test_prorated_target_lies_between_the_targets_in_force(
    initial: int, changes: list[tuple[int, int]]
) -> None:
    q3 = Calendar().parse("2017-Q3")
    by_day = dict(changes)  # one change per day, in date order
    ordered = [TargetChange(day_of_period(q3, d), v) for d, v in sorted(by_day.items())]
    result = prorate_target(q3, initial, ordered)
    in_force = [s.target for s in result.segments]
    assert min(in_force) <= result.effective <= max(in_force)
    assert sum(s.days for s in result.segments) == q3.days
    assert abs(result.effective - result.exact) <= Fraction(1, 2)
