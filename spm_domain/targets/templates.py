"""Target templates: a named, reusable YAML definition of how to set targets.

```yaml
name: annual-revenue            # required
description: FY revenue targets cascaded on last year's sales
measure: revenue                # revenue | units | new_customers | margin
currency: USD                   # money measures only (optional; the CLI can give it)
method: history                 # default method for every level
levels:                         # per receiving level, overrides `method`
  region: history
  team: history
  rep: equal
profile: seasonal               # flat | seasonal (derived from history) | none
flat_blend: "0.25"              # seasonal only: share of flat mixed in
product_mix:                    # optional: each rep's target split by these weights
  GTX Pro: 3
  MG Special: 1
```

Parsing is pure (text in, typed template out); errors name the source and
the field at fault.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from spm_domain.targets.allocation import AllocationMethod
from spm_domain.targets.cascade import CascadeRules, OrgLevel
from spm_domain.targets.errors import TargetError
from spm_domain.targets.measures import Measure


class ProfileChoice(StrEnum):
    NONE = "none"
    FLAT = "flat"
    SEASONAL = "seasonal"


class TargetTemplate(BaseModel):
    """A validated target template (see module docstring for the YAML form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    measure: Measure = Measure.REVENUE
    currency: str | None = None
    method: AllocationMethod = AllocationMethod.HISTORY
    levels: dict[OrgLevel, AllocationMethod] = Field(default_factory=dict)
    profile: ProfileChoice = ProfileChoice.NONE
    flat_blend: Decimal = Decimal(0)
    product_mix: dict[str, Decimal] | None = None

    @field_validator("levels")
    @classmethod
    def _only_receiving_levels(
        cls, value: dict[OrgLevel, AllocationMethod]
    ) -> dict[OrgLevel, AllocationMethod]:
        if OrgLevel.COMPANY in value:
            raise ValueError("'company' receives the total; give methods for region, team, rep")
        return value

    @field_validator("flat_blend")
    @classmethod
    def _blend_in_range(cls, value: Decimal) -> Decimal:
        if not Decimal(0) <= value <= Decimal(1):
            raise ValueError("must be between 0 and 1")
        return value

    @field_validator("product_mix")
    @classmethod
    def _mix_non_negative(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        if value is not None:
            if not value:
                raise ValueError("must list at least one product or category")
            bad = [k for k, v in value.items() if not v.is_finite() or v < 0]
            if bad:
                raise ValueError(f"weights must be non-negative numbers: {bad}")
        return value

    def rules(self) -> CascadeRules:
        return CascadeRules(
            region=self.levels.get(OrgLevel.REGION, self.method),
            team=self.levels.get(OrgLevel.TEAM, self.method),
            rep=self.levels.get(OrgLevel.REP, self.method),
        )


def parse_template(text: str, source: str = "<template>") -> TargetTemplate:
    """Parse and validate a YAML template; `source` names the file in errors."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TargetError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TargetError(f"{source}: a template is a YAML mapping (name, measure, levels, ...)")
    if isinstance(data.get("flat_blend"), float):
        raise TargetError(f'{source}: flat_blend: write it as text (e.g. "0.25"), not a float')
    mix = data.get("product_mix")
    if isinstance(mix, dict):
        floats = [k for k, v in mix.items() if isinstance(v, float)]
        if floats:
            raise TargetError(
                f"{source}: product_mix: weights {floats} are floats; use integers or quoted decimals"
            )
    try:
        return TargetTemplate.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "template"
        raise TargetError(f"{source}: {where}: {first['msg']}") from None
