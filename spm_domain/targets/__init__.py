"""Target setting: exact allocation, cascades down the org tree, seasonal
profiles, mid-period proration, product mix and reusable templates."""

from spm_domain.targets.allocation import (
    Allocation,
    AllocationMethod,
    allocate,
    allocate_equal,
    round_matrix,
)
from spm_domain.targets.cascade import (
    AllocatedNode,
    CascadeRules,
    OrgLevel,
    OrgNode,
    OrgUnitRecord,
    RepRecord,
    apply_monthly_split,
    apply_product_mix,
    build_org_tree,
    cascade_target,
    sum_errors,
)
from spm_domain.targets.errors import TargetError
from spm_domain.targets.measures import (
    Measure,
    money_to_units,
    parse_measure,
    total_to_units,
    units_to_amount,
)
from spm_domain.targets.mix import mix_from_history, split_by_mix
from spm_domain.targets.proration import (
    ProratedTarget,
    TargetChange,
    day_of_period,
    prorate_target,
)
from spm_domain.targets.seasonal import (
    FLAT_PROFILE,
    SeasonalProfile,
    profile_from_history,
    split_annual_target,
)
from spm_domain.targets.templates import ProfileChoice, TargetTemplate, parse_template

__all__ = [
    "FLAT_PROFILE",
    "AllocatedNode",
    "Allocation",
    "AllocationMethod",
    "CascadeRules",
    "Measure",
    "OrgLevel",
    "OrgNode",
    "OrgUnitRecord",
    "ProfileChoice",
    "ProratedTarget",
    "RepRecord",
    "SeasonalProfile",
    "TargetChange",
    "TargetError",
    "TargetTemplate",
    "allocate",
    "allocate_equal",
    "apply_monthly_split",
    "apply_product_mix",
    "build_org_tree",
    "cascade_target",
    "day_of_period",
    "mix_from_history",
    "money_to_units",
    "parse_measure",
    "parse_template",
    "profile_from_history",
    "prorate_target",
    "round_matrix",
    "split_annual_target",
    "split_by_mix",
    "sum_errors",
    "total_to_units",
    "units_to_amount",
]
