"""The commission plan document: a pydantic v2 model, its JSON Schema and loaders.

A plan is data (YAML or JSON) validated against the model below; errors name
the key at fault as a path, e.g. `components[2].tiers[1].upto`. Numbers in
YAML/JSON documents are parsed straight to `Decimal` from their text, so a
rate of `0.08` is exactly 0.08 (never a binary float).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from spm_domain.currency import is_currency_code
from spm_domain.errors import DomainError

RESERVED_LINE_COMPONENTS = frozenset({"cap_adjustment", "draw", "draw_recovery", "clawback"})


class PlanValidationError(DomainError):
    """A plan document that does not satisfy the contract; `errors` holds (path, message)."""

    def __init__(self, errors: list[tuple[str, str]], source: str = "plan") -> None:
        self.errors = errors
        self.source = source
        lines = "; ".join(f"{path}: {msg}" if path else msg for path, msg in errors)
        super().__init__(f"invalid plan {source}: {lines}")


def _exact_number(value: object) -> object:
    """Numbers become Decimals from their text; a float (Python dict plans only)
    is read through its shortest repr, which is the literal the author typed."""
    if isinstance(value, bool):
        raise PydanticCustomError("not_a_number", "must be a number, not a boolean")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    return value


Exact = Annotated[Decimal, BeforeValidator(_exact_number)]
NonNegative = Annotated[Decimal, BeforeValidator(_exact_number), Field(ge=0)]
Positive = Annotated[Decimal, BeforeValidator(_exact_number), Field(gt=0)]


def _rule(path: str, message: str) -> PydanticCustomError:
    """An error that points below the model that raises it (joined to its loc)."""
    return PydanticCustomError(
        "plan_rule",
        "{path}: {message}" if path else "{message}",
        {"path": path, "message": message},
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DateRange(_Strict):
    """Inclusive date window for a filter on a date column (how SPIFFs are written)."""

    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.from_ is None and self.to is None:
            raise _rule("from", "a date range needs `from`, `to` or both")
        if self.from_ is not None and self.to is not None and self.to < self.from_:
            raise _rule("to", f"must not be before from ({self.from_})")
        return self

    def contains(self, day: date) -> bool:
        return (self.from_ is None or day >= self.from_) and (self.to is None or day <= self.to)


def _as_text(value: object) -> object:
    """Filter and rate-table values are compared as text (YAML may give ints or dates)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


Scalar = Annotated[str, BeforeValidator(_as_text)]
FilterValue = DateRange | Scalar | list[Scalar]
Filter = dict[str, FilterValue]


class _ComponentBase(_Strict):
    name: str | None = Field(
        default=None,
        description="Name used in the `component` column of lines (default: the type, "
        "or `<type>_<position>` when the type occurs more than once).",
        pattern=r"^[A-Za-z0-9_.\-]+$",
    )
    filter: Filter | None = Field(
        default=None,
        description="Only transactions whose columns match: a value, a list of values, "
        "or {from, to} (inclusive dates).",
    )


class PercentageComponent(_ComponentBase):
    type: Literal["percentage"]
    rate: NonNegative


class FixedPerDealComponent(_ComponentBase):
    type: Literal["fixed_per_deal"]
    amount: Exact


class FixedPerUnitComponent(_ComponentBase):
    type: Literal["fixed_per_unit"]
    amount: Exact


class Tier(_Strict):
    upto: Positive | None = Field(
        default=None, description="Upper bound (exclusive); omitted on the last tier."
    )
    rate: NonNegative


class TieredComponent(_ComponentBase):
    type: Literal["tiered"]
    basis: Literal["attainment", "amount"]
    mode: Literal["marginal", "retroactive"]
    scope: Literal["period", "transaction"] = "period"
    tiers: list[Tier] = Field(min_length=1)

    @model_validator(mode="after")
    def _tiers_ordered(self) -> TieredComponent:
        previous: Decimal | None = None
        last = len(self.tiers) - 1
        for i, tier in enumerate(self.tiers):
            if i < last and tier.upto is None:
                raise _rule(f"tiers[{i}].upto", "required on every tier but the last")
            if i == last and tier.upto is not None:
                raise _rule(f"tiers[{i}].upto", "the last tier has no upto (it is open-ended)")
            if tier.upto is not None and previous is not None and tier.upto <= previous:
                raise _rule(f"tiers[{i}].upto", "must be greater than the previous upto")
            previous = tier.upto if tier.upto is not None else previous
        if self.scope == "transaction" and self.basis != "amount":
            raise _rule("scope", "scope `transaction` requires basis `amount`")
        return self


class PayoutCurveComponent(_ComponentBase):
    type: Literal["payout_curve"]
    target_incentive: NonNegative
    points: list[tuple[Exact, Exact]] = Field(
        min_length=1, description="[[attainment, fraction of target incentive], ...]"
    )

    @model_validator(mode="after")
    def _points_ordered(self) -> PayoutCurveComponent:
        for i in range(1, len(self.points)):
            if self.points[i][0] <= self.points[i - 1][0]:
                raise _rule(f"points[{i}][0]", "attainments must increase strictly")
        return self


class BonusCondition(_Strict):
    attainment_gte: NonNegative | None = Field(
        default=None, description="Attainment (fraction of quota) at least this."
    )
    credited_gte: Exact | None = Field(
        default=None, description="Credited amount at least this (plan currency)."
    )
    deals_gte: int | None = Field(
        default=None, ge=0, description="At least this many distinct credited transactions."
    )

    @model_validator(mode="after")
    def _some(self) -> BonusCondition:
        if self.attainment_gte is None and self.credited_gte is None and self.deals_gte is None:
            raise _rule(
                "", "give at least one condition: attainment_gte, credited_gte or deals_gte"
            )
        return self


class BonusComponent(_ComponentBase):
    type: Literal["bonus"]
    amount: Exact
    when: BonusCondition


class RateTableComponent(_ComponentBase):
    type: Literal["rate_table"]
    key: str = Field(min_length=1, description="A transaction column, e.g. `product`.")
    rates: dict[Scalar, NonNegative] = Field(min_length=1)
    default: NonNegative | None = None


class OverrideComponent(_ComponentBase):
    type: Literal["override"]
    rate: NonNegative
    levels: int = Field(default=1, ge=1, le=20)


Component = Annotated[
    PercentageComponent
    | FixedPerDealComponent
    | FixedPerUnitComponent
    | TieredComponent
    | PayoutCurveComponent
    | BonusComponent
    | RateTableComponent
    | OverrideComponent,
    Field(discriminator="type"),
]


class Eligibility(_Strict):
    roles: list[str] | None = Field(default=None, description="Roster roles that may earn.")
    min_tenure_days: int = Field(
        default=0, ge=0, description="Days from hire_date to the period's last day."
    )


class Cap(_Strict):
    amount: NonNegative


class Draw(_Strict):
    amount: NonNegative
    recoverable: bool = False


class Clawback(_Strict):
    window_days: int = Field(ge=0)


class Plan(_Strict):
    """A commission plan (see docs/commissions.md)."""

    plan: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", description="Unique id.")
    name: str | None = None
    description: str | None = None
    currency: str = Field(description="ISO 4217 payout currency.")
    period: Literal["monthly", "quarterly", "yearly"]
    settlement: Literal["per_period", "cumulative"] = "per_period"
    credit_basis: Literal["amount", "margin", "quantity"] = "amount"
    eligibility: Eligibility | None = None
    components: list[Component] = Field(min_length=1)
    cap: Cap | None = None
    draw: Draw | None = None
    clawback: Clawback | None = None
    rounding: Literal["half_up", "half_even"] = "half_up"

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if not is_currency_code(value):
            raise PydanticCustomError(
                "currency", "unknown currency {code}: not an ISO 4217 code", {"code": repr(value)}
            )
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Plan:
        seen: dict[str, int] = {}
        for i, name in enumerate(self.component_names):
            if name in RESERVED_LINE_COMPONENTS:
                raise _rule(f"components[{i}].name", f"{name!r} is reserved for adjustment lines")
            if name in seen:
                raise _rule(
                    f"components[{i}].name",
                    f"duplicate component name {name!r} (also components[{seen[name]}])",
                )
            seen[name] = i
        return self

    @property
    def component_names(self) -> list[str]:
        """The `component` value of each component's lines, in plan order."""
        counts: dict[str, int] = {}
        for c in self.components:
            counts[c.type] = counts.get(c.type, 0) + 1
        return [
            c.name or (c.type if counts[c.type] == 1 else f"{c.type}_{i + 1}")
            for i, c in enumerate(self.components)
        ]

    @property
    def needs_quota(self) -> bool:
        """True when any component depends on attainment (so quotas are required)."""
        for c in self.components:
            if isinstance(c, TieredComponent) and c.basis == "attainment":
                return True
            if isinstance(c, PayoutCurveComponent):
                return True
            if isinstance(c, BonusComponent) and c.when.attainment_gte is not None:
                return True
        return False

    def content_hash(self) -> str:
        """sha256 of the plan's canonical JSON (key order and formatting do not matter)."""
        canonical = json.dumps(
            self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


# -- loading ----------------------------------------------------------------


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader that reads floats as exact Decimals from their text."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    if text.lower() in {".inf", "+.inf", "-.inf", ".nan"}:
        raise yaml.constructor.ConstructorError(None, None, f"{text} is not a finite number")
    return Decimal(text)


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def parse_plan_text(text: str, *, source: str = "plan") -> dict[str, Any]:
    """Parse YAML or JSON text (JSON is YAML) into a dict with Decimal numbers."""
    stripped = text.lstrip()
    try:
        if stripped.startswith("{"):
            document = json.loads(text, parse_float=Decimal)
        else:
            document = yaml.load(text, Loader=_DecimalLoader)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise PlanValidationError([("", f"not valid YAML/JSON: {exc}")], source) from None
    if not isinstance(document, dict):
        raise PlanValidationError([("", "the document must be a mapping of plan keys")], source)
    return document


def _format_loc(loc: tuple[str | int, ...]) -> str:
    path = ""
    parts = list(loc)
    for i, part in enumerate(parts):
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        # Discriminated unions insert the tag after the index: components[2].tiered.x
        if (
            i > 0
            and isinstance(parts[i - 1], int)
            and path.startswith("components")
            and part in _COMPONENT_TYPES
        ):
            continue
        # Unions of a model with scalars add the member type name; drop it.
        if part in {"DateRange", "str", "list[str]", "function-before[<lambda>(), str]"}:
            continue
        if part.startswith("function-") or part.startswith("list["):
            continue
        path += f".{part}" if path else str(part)
    return path


_COMPONENT_TYPES = frozenset(
    {
        "percentage",
        "fixed_per_deal",
        "fixed_per_unit",
        "tiered",
        "payout_curve",
        "bonus",
        "rate_table",
        "override",
    }
)


def _errors_of(exc: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        path = _format_loc(tuple(err["loc"]))
        ctx = err.get("ctx") or {}
        message = err["msg"]
        if err["type"] == "plan_rule":
            sub = str(ctx["path"])
            if sub:
                path = f"{path}.{sub}" if path and not sub.startswith("[") else path + sub
            message = str(ctx["message"])
        elif err["type"] == "extra_forbidden":
            message = "unknown key (not part of the plan contract)"
        elif err["type"] == "union_tag_invalid":
            message = f"unknown component type {err['input'].get('type')!r}; expected one of " + (
                ", ".join(sorted(_COMPONENT_TYPES))
            )
        elif err["type"] == "value_error" and message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if (path, message) not in out:
            out.append((path, message))
    return out


def load_plan(source: Plan | Mapping[str, Any] | str | Path) -> Plan:
    """A validated Plan from a Plan, a dict, a path to a .yaml/.yml/.json file, or YAML text."""
    if isinstance(source, Plan):
        return source
    name = "plan"
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and re.search(r"\.(ya?ml|json)$", source)
    ):
        path = Path(source)
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PlanValidationError(
                [("", f"cannot read plan file: {exc.strerror}")], name
            ) from None
        document: Mapping[str, Any] = parse_plan_text(text, source=name)
    elif isinstance(source, str):
        document = parse_plan_text(source)
    else:
        document = source
    try:
        return Plan.model_validate(dict(document))
    except ValidationError as exc:
        raise PlanValidationError(_errors_of(exc), name) from None


def plan_json_schema() -> dict[str, Any]:
    """The published JSON Schema of plan documents (generated from the model)."""
    schema = Plan.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://spm-platform.org/schemas/commission-plan.schema.json"
    schema["title"] = "Commission plan"
    return schema
