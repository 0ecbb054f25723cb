from datetime import date
from decimal import Decimal

import pytest

from spm_domain.targets import (
    AllocationMethod,
    CascadeRules,
    OrgLevel,
    OrgUnitRecord,
    RepRecord,
    TargetError,
    apply_monthly_split,
    build_org_tree,
    cascade_target,
    sum_errors,
)

UNITS = [
    OrgUnitRecord("company", "company", "Acme", None),
    OrgUnitRecord("region:East", "region", "East", "company"),
    OrgUnitRecord("region:West", "region", "West", "company"),
    OrgUnitRecord("team:E1", "team", "E1", "region:East"),
    OrgUnitRecord("team:W1", "team", "W1", "region:West"),
    OrgUnitRecord("team:W2", "team", "W2", "region:West"),
    OrgUnitRecord("team:empty", "team", "Nobody", "region:West"),
]
REPS = [
    RepRecord("ann", "Ann", "team:E1", "region:East"),
    RepRecord("bob", "Bob", "team:E1", "region:East"),
    RepRecord("cat", "Cat", "team:W1", "region:West"),
    RepRecord("dan", "Dan", "team:W2", "region:West"),
    RepRecord("eve", "Eve", None, "region:West"),  # no team: hangs under the region
    RepRecord("old", "Old", "team:W2", "region:West", termination_date=date(2016, 6, 30)),
]


def tree():
    return build_org_tree(UNITS, REPS, active_from=date(2017, 1, 1), active_until=date(2018, 1, 1))


def test_tree_prunes_empty_units_and_inactive_reps() -> None:
    t = tree()
    ids = {n.node_id for n in t.walk()}
    assert "team:empty" not in ids and "old" not in ids
    assert sorted(t.rep_ids()) == ["ann", "bob", "cat", "dan", "eve"]
    west = next(c for c in t.children if c.node_id == "region:West")
    assert [c.node_id for c in west.children] == ["eve", "team:W1", "team:W2"]


def test_history_cascade_is_exact_and_proportional() -> None:
    history = {"ann": Decimal(300), "bob": Decimal(100), "cat": Decimal(200), "dan": Decimal(0)}
    result = cascade_target(1_000_000, tree(), CascadeRules(), history=history)
    assert sum_errors(result) == []
    assert result.find("region:East").amount == 666_667  # 400/600 of the total, rounded up
    assert result.find("region:West").amount == 333_333
    assert result.find("ann").amount == 500_000  # 3/4 of East's 666_667 (leftover 1 to ann)
    assert result.find("dan").amount == 0
    assert result.find("eve").amount == 0  # no history, others have some


def test_all_zero_history_falls_back_to_equal_and_says_so() -> None:
    result = cascade_target(900, tree(), CascadeRules(), history={})
    assert result.fell_back_to_equal
    assert [c.amount for c in result.children] == [450, 450]


def test_weights_roll_up_from_reps() -> None:
    weights = {
        "ann": Decimal(1),
        "bob": Decimal(1),
        "cat": Decimal(2),
        "dan": Decimal(2),
        "eve": Decimal(2),
    }
    result = cascade_target(
        800, tree(), CascadeRules.uniform(AllocationMethod.WEIGHTS), weights=weights
    )
    assert result.find("region:East").amount == 200
    assert result.find("team:W1").amount == 200
    assert sum_errors(result) == []


def test_missing_weight_names_the_node() -> None:
    with pytest.raises(TargetError, match="no weight for rep 'eve'"):
        cascade_target(
            800,
            tree(),
            CascadeRules.uniform(AllocationMethod.WEIGHTS),
            weights={"ann": Decimal(1), "bob": Decimal(1), "cat": Decimal(1), "dan": Decimal(1)},
        )


def test_method_per_level() -> None:
    rules = CascadeRules(
        region=AllocationMethod.EQUAL, team=AllocationMethod.HISTORY, rep=AllocationMethod.EQUAL
    )
    history = {"cat": Decimal(10)}
    result = cascade_target(1001, tree(), rules, history=history)
    assert [c.amount for c in result.children] == [501, 500]
    assert result.find("team:W1").amount == 500  # all West's history is in W1
    assert result.find("ann").amount + result.find("bob").amount == 501
    assert result.method is AllocationMethod.EQUAL
    assert result.find("region:West").method is AllocationMethod.HISTORY


def test_monthly_split_is_exact_in_both_directions() -> None:
    result = cascade_target(1_000_003, tree(), CascadeRules.uniform(AllocationMethod.EQUAL))
    months = [83_334] * 7 + [83_333] * 5
    monthly = apply_monthly_split(result, months)
    assert sum_errors(monthly) == []
    assert all(n.months is not None and sum(n.months) == n.amount for n in monthly.walk())


@pytest.mark.parametrize(
    ("units", "reps", "message"),
    [
        (
            [OrgUnitRecord("a", "team", "A", "b"), OrgUnitRecord("b", "team", "B", "a")],
            [],
            "no root",
        ),
        (
            [*UNITS, OrgUnitRecord("team:x", "team", "X", "region:Nowhere")],
            REPS,
            "unknown parent_id",
        ),
        (UNITS, [RepRecord("zed", "Zed", "team:Nope", None)], "unknown team_id 'team:Nope'"),
        (UNITS, [*REPS, RepRecord("ann")], "duplicate rep_id 'ann'"),
        (
            [*UNITS, OrgUnitRecord("a", "team", "A", "b"), OrgUnitRecord("b", "team", "B", "a")],
            REPS,
            "cycle",
        ),
        ([*UNITS, OrgUnitRecord("x", "division", "X", "company")], REPS, "unknown kind"),
        (UNITS, [], "no active reps"),
    ],
)
def test_bad_trees_are_refused(units, reps, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        build_org_tree(units, reps)


def test_level_enum_order() -> None:
    assert tree().level is OrgLevel.COMPANY


def test_product_mix_is_exact_per_node_and_per_product() -> None:
    from spm_domain.targets import apply_product_mix

    result = cascade_target(10_001, tree(), CascadeRules.uniform(AllocationMethod.EQUAL))
    mixed = apply_product_mix(result, {"GTX": Decimal(3), "MG": Decimal(1)})
    assert dict(mixed.mix) == {"GTX": 7_501, "MG": 2_500}
    assert sum_errors(mixed) == []
    assert all(sum(n.mix.values()) == n.amount for n in mixed.walk())


def test_root_choice_and_excluded_reps() -> None:
    two_roots = [
        *UNITS,
        OrgUnitRecord("other", "company", "Other", None),
        OrgUnitRecord("team:O", "team", "O", "other"),
    ]
    both = build_org_tree(two_roots, [*REPS, RepRecord("olga", None, "team:O")])
    assert both.node_id == "*" and [c.node_id for c in both.children] == ["company", "other"]
    assert "eve" in both.rep_ids()  # eve has a region, so she still has a place
    split = cascade_target(10, both, CascadeRules.uniform(AllocationMethod.EQUAL))
    assert [c.amount for c in split.children] == [5, 5] and sum_errors(split) == []
    west = build_org_tree(two_roots, REPS, root_id="region:West", exclude_reps={"dan"})
    assert west.level is OrgLevel.REGION
    assert sorted(west.rep_ids()) == ["cat", "eve", "old"]
    with pytest.raises(TargetError, match="no unit 'nope'"):
        build_org_tree(UNITS, REPS, root_id="nope")


def test_worked_example_of_the_docs() -> None:
    """docs/quotas-and-targets.md §8: 1,000,000.01 USD on 2016 history."""
    units = UNITS[:6]
    reps = [
        RepRecord("ann", None, "team:E1"),
        RepRecord("bob", None, "team:E1"),
        RepRecord("cat", None, "team:W1"),
        RepRecord("dan", None, "team:W1"),
        RepRecord("eve", None, "team:W1"),
    ]
    history = {
        "ann": Decimal(300_000),
        "bob": Decimal(100_000),
        "cat": Decimal(400_000),
        "dan": Decimal(200_000),
    }
    tree_ = build_org_tree(units, reps)
    result = cascade_target(
        100_000_001, tree_, CascadeRules(rep=AllocationMethod.EQUAL), history=history
    )
    amounts = {n.node_id: n.amount for n in result.walk()}
    assert amounts["region:East"] == 40_000_000 and amounts["region:West"] == 60_000_001
    assert [amounts[r] for r in ("ann", "bob", "cat", "dan", "eve")] == [
        20_000_000, 20_000_000, 20_000_001, 20_000_000, 20_000_000,
    ]  # fmt: skip
    by_history = cascade_target(100_000_001, tree_, CascadeRules(), history=history)
    assert by_history.find("cat").amount == 40_000_001 and by_history.find("eve").amount == 0
