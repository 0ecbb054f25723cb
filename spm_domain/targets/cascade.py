"""Cascading a target down the org tree: company → region → team → rep.

The tree is built from the canonical `org_units` and `reps` tables (as typed
records; no I/O here). Each parent's integer target is split among its
children with `allocate` (largest remainder), so at EVERY level the children
sum exactly to their parent and the reps sum exactly to the company total.

Rules (documented in docs/quotas-and-targets.md):
- The method that splits a node is the one configured for the level BELOW it
  (`region` splits the company, `team` splits a region, `rep` splits a team).
  A rep with no team hangs directly under its region (or the company) and is
  split with that parent's method.
- `history`: children weigh their rolled-up past achievement (sum over the
  reps below them); negative history (net refunds) counts as zero.
- `weights`: a child's weight is its explicit weight, or, if it has none, the
  sum of the explicit weights below it; a child with neither is an error.
- If every child of a node weighs zero, that node is split equally instead
  and the node is flagged `fell_back_to_equal`.
- Units with no active rep below them are pruned: a target is only ever
  given to someone who can carry it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from spm_domain.targets.allocation import AllocationMethod, allocate, round_matrix
from spm_domain.targets.errors import TargetError

log = logging.getLogger(__name__)


class OrgLevel(StrEnum):
    COMPANY = "company"
    REGION = "region"
    TEAM = "team"
    REP = "rep"


LEVEL_ORDER: tuple[OrgLevel, ...] = (OrgLevel.COMPANY, OrgLevel.REGION, OrgLevel.TEAM, OrgLevel.REP)
SPLIT_LEVELS: tuple[OrgLevel, ...] = LEVEL_ORDER[1:]


ALL_COMPANIES_ID = "*"  # the virtual root when org_units holds several companies


def level_below(level: OrgLevel) -> OrgLevel:
    index = LEVEL_ORDER.index(level)
    if index == len(LEVEL_ORDER) - 1:
        raise TargetError("a rep has no level below it")
    return LEVEL_ORDER[index + 1]


@dataclass(frozen=True, slots=True)
class OrgUnitRecord:
    """One row of the canonical `org_units` table."""

    unit_id: str
    kind: str
    name: str
    parent_id: str | None


@dataclass(frozen=True, slots=True)
class RepRecord:
    """The fields of a canonical `reps` row that place a rep in the tree."""

    rep_id: str
    name: str | None = None
    team_id: str | None = None
    region_id: str | None = None
    hire_date: date | None = None
    termination_date: date | None = None

    def active_between(self, start: date, end_exclusive: date) -> bool:
        """Employed on at least one day of [start, end_exclusive)."""
        if self.hire_date is not None and self.hire_date >= end_exclusive:
            return False
        return not (self.termination_date is not None and self.termination_date < start)


@dataclass(frozen=True, slots=True)
class OrgNode:
    node_id: str
    level: OrgLevel
    name: str
    children: tuple[OrgNode, ...] = ()

    def walk(self) -> Iterator[OrgNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def rep_ids(self) -> list[str]:
        return [n.node_id for n in self.walk() if n.level is OrgLevel.REP]


def build_org_tree(
    units: Sequence[OrgUnitRecord],
    reps: Sequence[RepRecord],
    *,
    root_id: str | None = None,
    exclude_reps: Collection[str] = frozenset(),
    active_from: date | None = None,
    active_until: date | None = None,
) -> OrgNode:
    """The tree under `root_id` (default: the only unit without a parent; with
    several, a virtual root `*` "All companies" above them) with reps as leaves. Reps in `exclude_reps` or not employed in
    [active_from, active_until) are left out, and empty units are pruned.
    A rep with no team hangs under its region; with neither, under the
    data's single root (or nowhere, if the store holds several roots)."""
    by_id: dict[str, OrgUnitRecord] = {}
    for unit in units:
        if unit.unit_id in by_id:
            raise TargetError(f"org_units: duplicate unit_id {unit.unit_id!r}")
        try:
            level = OrgLevel(unit.kind)
        except ValueError:
            level = OrgLevel.REP
        if level is OrgLevel.REP:
            raise TargetError(f"org_units: unit {unit.unit_id!r} has unknown kind {unit.kind!r}")
        by_id[unit.unit_id] = unit
    roots = sorted(u.unit_id for u in units if not u.parent_id)
    if not roots:
        raise TargetError("org_units: no root unit (every unit has a parent_id)")
    if root_id is not None and root_id != ALL_COMPANIES_ID and root_id not in by_id:
        raise TargetError(f"org_units: no unit {root_id!r} (roots: {roots})")
    unit_children: dict[str, list[str]] = {uid: [] for uid in by_id}
    for unit in units:
        if unit.parent_id:
            if unit.parent_id not in by_id:
                raise TargetError(
                    f"org_units: unit {unit.unit_id!r} has unknown parent_id {unit.parent_id!r}"
                )
            unit_children[unit.parent_id].append(unit.unit_id)
    rep_children: dict[str, list[RepRecord]] = {uid: [] for uid in by_id}
    default_parent = roots[0] if len(roots) == 1 else None
    seen_reps: set[str] = set()
    for rep in reps:
        if rep.rep_id in seen_reps:
            raise TargetError(f"reps: duplicate rep_id {rep.rep_id!r}")
        seen_reps.add(rep.rep_id)
        if rep.rep_id in exclude_reps:
            continue
        if active_from and active_until and not rep.active_between(active_from, active_until):
            continue
        parent = rep.team_id or rep.region_id or default_parent
        if parent is None:
            log.debug("rep %s has no team, region or single root; left out", rep.rep_id)
            continue
        if parent not in by_id:
            column = "team_id" if rep.team_id else "region_id"
            raise TargetError(f"reps: rep {rep.rep_id!r} has unknown {column} {parent!r}")
        rep_children[parent].append(rep)

    def build(unit_id: str, path: tuple[str, ...]) -> OrgNode | None:
        if unit_id in path:
            raise TargetError(f"org_units: cycle through {' → '.join((*path, unit_id))}")
        unit = by_id[unit_id]
        kids: list[OrgNode] = [
            OrgNode(r.rep_id, OrgLevel.REP, r.name or r.rep_id) for r in rep_children[unit_id]
        ]
        for child_id in unit_children[unit_id]:
            child = build(child_id, (*path, unit_id))
            if child is not None:
                kids.append(child)
        if not kids:
            log.debug("org unit %s has no active reps; left out of the cascade", unit_id)
            return None
        kids.sort(key=lambda n: n.node_id)
        return OrgNode(unit.unit_id, OrgLevel(unit.kind), unit.name, tuple(kids))

    cyclic = {u for u in by_id if _on_cycle(u, by_id)}
    if cyclic:
        raise TargetError(f"org_units: cycle among {sorted(cyclic)}")
    tree: OrgNode | None
    if root_id is not None and root_id != ALL_COMPANIES_ID:
        tree = build(root_id, ())
    elif len(roots) == 1:
        tree = build(roots[0], ())
    else:
        # Several companies (e.g. one per imported source): a virtual root above them.
        companies = [c for c in (build(r, ()) for r in roots) if c is not None]
        tree = (
            OrgNode(ALL_COMPANIES_ID, OrgLevel.COMPANY, "All companies", tuple(companies))
            if companies
            else None
        )
    if tree is None:
        raise TargetError("no active reps: nothing to allocate a target to")
    return tree


def _on_cycle(unit_id: str, by_id: Mapping[str, OrgUnitRecord]) -> bool:
    seen: set[str] = set()
    current: str | None = unit_id
    while current:
        if current in seen:
            return True
        seen.add(current)
        current = by_id[current].parent_id if current in by_id else None
    return False


@dataclass(frozen=True, slots=True)
class CascadeRules:
    """Allocation method per receiving level (`region` = how the company is split)."""

    region: AllocationMethod = AllocationMethod.HISTORY
    team: AllocationMethod = AllocationMethod.HISTORY
    rep: AllocationMethod = AllocationMethod.HISTORY

    @classmethod
    def uniform(cls, method: AllocationMethod) -> CascadeRules:
        return cls(method, method, method)

    def method_for(self, receiving: OrgLevel) -> AllocationMethod:
        if receiving is OrgLevel.COMPANY:
            raise TargetError("the company level receives the total; it has no method")
        method: AllocationMethod = getattr(self, receiving.value)
        return method


@dataclass(frozen=True, slots=True)
class AllocatedNode:
    """A node with its integer target; `children` sum exactly to `amount`."""

    node_id: str
    level: OrgLevel
    name: str
    amount: int
    method: AllocationMethod | None = None  # how this node was split (None for reps)
    fell_back_to_equal: bool = False
    children: tuple[AllocatedNode, ...] = ()
    months: tuple[int, ...] | None = None  # monthly split when a profile is applied
    mix: Mapping[str, int] = field(default_factory=dict)  # product mix split (reps)

    def walk(self) -> Iterator[AllocatedNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, node_id: str) -> AllocatedNode:
        for node in self.walk():
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)


def roll_up(tree: OrgNode, leaf_values: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Sum of explicit leaf values below each node (missing leaves count 0)."""
    totals: dict[str, Decimal] = {}

    def visit(node: OrgNode) -> Decimal:
        if not node.children:
            value = leaf_values.get(node.node_id, Decimal(0))
        else:
            value = sum((visit(c) for c in node.children), Decimal(0))
        totals[node.node_id] = value
        return value

    visit(tree)
    return totals


def _rolled_weights(tree: OrgNode, weights: Mapping[str, Decimal]) -> dict[str, Decimal | None]:
    """Explicit weight, else the sum of explicit weights below, else None."""
    out: dict[str, Decimal | None] = {}

    def visit(node: OrgNode) -> Decimal | None:
        below = [visit(c) for c in node.children]
        if node.node_id in weights:
            value: Decimal | None = weights[node.node_id]
        else:
            known = [b for b in below if b is not None]
            value = sum(known, Decimal(0)) if known else None
        out[node.node_id] = value
        return value

    visit(tree)
    return out


def cascade_target(
    total: int,
    tree: OrgNode,
    rules: CascadeRules,
    *,
    history: Mapping[str, Decimal] | None = None,
    weights: Mapping[str, Decimal] | None = None,
) -> AllocatedNode:
    """Split `total` integer units down `tree`; exact sums at every level.

    `history` is keyed by rep id (past achievement of the measure), `weights`
    by any node id. Both are only consulted for levels whose method needs them.
    """
    history_totals = roll_up(tree, history or {})
    weight_totals = _rolled_weights(tree, weights or {})

    def child_weight(method: AllocationMethod, child: OrgNode) -> Decimal:
        if method is AllocationMethod.EQUAL:
            return Decimal(1)
        if method is AllocationMethod.HISTORY:
            return max(history_totals[child.node_id], Decimal(0))
        weight = weight_totals[child.node_id]
        if weight is None:
            raise TargetError(
                f"no weight for {child.level.value} {child.node_id!r} "
                f"(nor for anything below it) with method 'weights'"
            )
        return weight

    fell_back: list[str] = []

    def split(node: OrgNode, amount: int) -> AllocatedNode:
        if not node.children:
            return AllocatedNode(node.node_id, node.level, node.name, amount)
        method = rules.method_for(level_below(node.level))
        result = allocate(amount, {c.node_id: child_weight(method, c) for c in node.children})
        # Only a non-zero amount split equally for want of weights is worth reporting.
        flagged = result.fell_back_to_equal and method is not AllocationMethod.EQUAL and amount > 0
        if flagged:
            fell_back.append(node.node_id)
        kids = tuple(split(c, result.parts[c.node_id]) for c in node.children)
        return AllocatedNode(node.node_id, node.level, node.name, amount, method, flagged, kids)

    allocated = split(tree, total)
    if fell_back:
        shown = ", ".join(fell_back[:5]) + (", ..." if len(fell_back) > 5 else "")
        log.warning(
            "%d node(s) split equally because none of their children has a positive weight: %s",
            len(fell_back),
            shown,
        )
    return allocated


def split_columns_down(tree: AllocatedNode, root_columns: Sequence[int]) -> dict[str, list[int]]:
    """Split every node's amount into columns (months, products): the root's
    columns as given (they must sum to its amount); below it, controlled
    rounding (`round_matrix`), so each node's columns sum to its amount and,
    column by column, children sum exactly to their parent."""
    if sum(root_columns) != tree.amount:
        raise TargetError(f"columns sum to {sum(root_columns)}, not the total {tree.amount}")
    out: dict[str, list[int]] = {}

    def visit(node: AllocatedNode, columns: list[int]) -> None:
        out[node.node_id] = columns
        if node.children:
            table = round_matrix({c.node_id: c.amount for c in node.children}, columns)
            for child in node.children:
                visit(child, table[child.node_id])

    visit(tree, list(root_columns))
    return out


def apply_monthly_split(tree: AllocatedNode, root_months: Sequence[int]) -> AllocatedNode:
    """Every node gets `months`: exact per node and, month by month, per level."""
    columns = split_columns_down(tree, root_months)

    def visit(node: AllocatedNode) -> AllocatedNode:
        kids = tuple(visit(c) for c in node.children)
        return replace(node, months=tuple(columns[node.node_id]), children=kids)

    return visit(tree)


def apply_product_mix(tree: AllocatedNode, mix: Mapping[str, Decimal]) -> AllocatedNode:
    """Every node gets `mix`: its target per product/category. The company total
    is split by the mix weights (largest remainder), then down the tree like months."""
    if not mix:
        raise TargetError("product mix is empty: give at least one product or category")
    root = allocate(tree.amount, mix)
    products = list(root.parts)
    columns = split_columns_down(tree, [root.parts[p] for p in products])

    def visit(node: AllocatedNode) -> AllocatedNode:
        kids = tuple(visit(c) for c in node.children)
        split = dict(zip(products, columns[node.node_id], strict=True))
        return replace(node, mix=split, children=kids)

    return visit(tree)


def sum_errors(tree: AllocatedNode) -> list[str]:
    """Every place where children (or months) fail to sum to their parent; [] when exact."""
    problems: list[str] = []
    for node in tree.walk():
        if node.amount < 0:
            problems.append(f"{node.node_id}: negative amount {node.amount}")
        if node.children and sum(c.amount for c in node.children) != node.amount:
            problems.append(
                f"{node.node_id}: children sum to {sum(c.amount for c in node.children)}, "
                f"not {node.amount}"
            )
        if node.months is not None:
            if sum(node.months) != node.amount:
                problems.append(f"{node.node_id}: months sum to {sum(node.months)}")
            for index, value in enumerate(node.months):
                kids = [c.months[index] for c in node.children if c.months is not None]
                if node.children and sum(kids) != value:
                    problems.append(f"{node.node_id}: month {index + 1} children sum {sum(kids)}")
        if node.mix:
            if sum(node.mix.values()) != node.amount:
                problems.append(f"{node.node_id}: product mix sums to {sum(node.mix.values())}")
            for product, value in node.mix.items():
                kids_mix = [c.mix.get(product, 0) for c in node.children]
                if node.children and sum(kids_mix) != value:
                    problems.append(f"{node.node_id}: {product} children sum {sum(kids_mix)}")
    return problems
