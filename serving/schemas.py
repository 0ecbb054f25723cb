"""Request and response bodies of the `/v1` API (pydantic; drive the OpenAPI).

Money, rates and quantities are JSON *strings* holding exact decimals
("1234.50"), never JSON numbers: a binary float cannot hold 0.1 exactly, so
numbers are refused with a 422 that names the field. Dates are ISO
`YYYY-MM-DD`. Column names follow `/work/shared/spec/commission-plans.md`.
"""

from __future__ import annotations

import decimal
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

_DECIMAL_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
DECIMAL_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"


def _parse_decimal_text(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):  # bool is an int too
        raise ValueError(
            'must be a decimal string such as "1234.50"; JSON numbers are refused '
            "because binary floats cannot hold money exactly"
        )
    if not isinstance(value, str) or not _DECIMAL_TEXT.match(value.strip()):
        raise ValueError('must be a decimal string such as "1234.50"')
    try:
        return Decimal(value.strip())
    except decimal.InvalidOperation:  # pragma: no cover - the pattern already guards
        raise ValueError('must be a decimal string such as "1234.50"') from None


def _decimal_text(value: Decimal) -> str:
    return format(value, "f")


DecimalText = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal_text),
    PlainSerializer(_decimal_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DECIMAL_PATTERN,
            "description": "Exact decimal as a string (never a JSON number).",
            "examples": ["40000.00"],
        }
    ),
]

CurrencyCode = Annotated[
    str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.", examples=["USD"])
]
Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]
PeriodKey = Annotated[
    str,
    Field(
        pattern=r"^\d{4}(-(Q[1-4]|\d{2}))?$",
        description="A month `2025-01`, quarter `2025-Q1` or year `2025`.",
        examples=["2025-Q1"],
    ),
]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransactionRow(BaseModel):
    """One credited transaction (a split is several rows with one transaction_id)."""

    # Extra columns are allowed, as in the file contract (rate tables may key on them).
    model_config = ConfigDict(extra="allow", frozen=True)

    transaction_id: Id
    rep_id: Id
    amount: DecimalText
    currency: CurrencyCode
    credit_date: date
    product: str | None = None
    category: str | None = None
    quantity: DecimalText | None = None
    margin: DecimalText | None = None
    share: DecimalText | None = Field(None, description="Split share; default 1.")
    cancel_date: date | None = None
    account_id: str | None = Field(None, description="Used by the new_customers quota measure.")


class QuotaRow(_Row):
    rep_id: Id
    period: PeriodKey
    quota: DecimalText


class RosterRow(_Row):
    rep_id: Id
    manager_id: Id | None = None
    team: str | None = None
    region: str | None = None
    role: str | None = None
    hire_date: date | None = None
    terminated_date: date | None = None


class FxRow(_Row):
    period: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", examples=["2025-02"])]
    from_currency: CurrencyCode
    to_currency: CurrencyCode
    rate: DecimalText


class PayoutLine(_Row):
    rep_id: str
    period: str
    component: str
    transaction_id: str | None = None
    credited_amount: DecimalText | None = None
    rate: DecimalText | None = None
    amount: DecimalText
    currency: str
    explanation: str


class Statement(_Row):
    rep_id: str
    period: str
    credited: DecimalText
    quota: DecimalText | None = None
    attainment: DecimalText | None = None
    gross: DecimalText
    adjustments: DecimalText
    payout: DecimalText
    currency: str


class RunInfo(_Row):
    plan_hash: str
    input_hashes: dict[str, str] = Field(default_factory=dict)
    engine_version: str


class CommissionCalculation(_Row):
    """The same lines and statements the CLI writes to lines.csv / statements.csv."""

    lines: list[PayoutLine]
    statements: list[Statement]
    run: RunInfo


class Milestone(_Row):
    name: str
    due: date
    required_fraction: DecimalText
    required: DecimalText
    achieved_by_due: DecimalText
    state: str = Field(description="met, missed or pending.")


class QuotaProgress(_Row):
    """One rep's quota in one period at `as_of` (see spm_domain.quotas)."""

    rep_id: str
    period: str
    measure: str
    currency: str | None
    target: DecimalText
    achieved: DecimalText
    variance: DecimalText = Field(description="achieved − target (negative: still short).")
    variance_pct: DecimalText | None
    attainment: DecimalText | None = Field(description="achieved ÷ target, exact.")
    elapsed: DecimalText = Field(description="Elapsed fraction of the period at as_of.")
    expected_to_date: DecimalText
    pace_ratio: DecimalText | None
    status: str = Field(description="Not Started, On Track, At Risk, Achieved or Exceeded.")
    period_closed: bool
    milestones: list[Milestone]


class QuotaStatusReport(_Row):
    as_of: datetime
    statuses: list[QuotaProgress]


class OpenDeal(BaseModel):
    """An open deal as a would-be transaction: `credit_date` is the expected close."""

    model_config = ConfigDict(extra="allow", frozen=True)

    transaction_id: Id = Field(description="The opportunity id.")
    amount: DecimalText
    currency: CurrencyCode
    credit_date: date = Field(description="Expected close date.")
    share: DecimalText | None = None
    product: str | None = None
    category: str | None = None
    probability: DecimalText | None = Field(
        None, description="Win probability in [0, 1] (e.g. from deal_risk); omit for none."
    )


class DealEstimate(_Row):
    transaction_id: str
    period: str
    credit_date: date
    amount: DecimalText
    deal_currency: str
    share: DecimalText
    payout_without: DecimalText
    payout_with: DecimalText
    incremental: DecimalText = Field(description="What closing this deal alone adds.")
    currency: str
    probability: DecimalText | None = None
    probability_source: str | None = Field(
        None,
        description="`request` (sent by the caller) or `deal_risk` (the win probability of the "
        "deal_risk model, from the deal's online features, when the caller sent none).",
    )
    expected_incremental: DecimalText | None = Field(
        None, description="incremental × probability: the probability-weighted expected earnings."
    )


class EarningsEstimate(_Row):
    rep_id: str
    currency: str
    deals: list[DealEstimate]
    total_incremental: DecimalText = Field(
        description="Sum of per-deal increments (each deal is estimated on its own)."
    )
    expected_total: DecimalText | None = None
    probability_model: str | None = Field(
        None, description="The deal_risk model and version that supplied win probabilities."
    )


class ScoreFactor(_Row):
    feature: str = Field(examples=["stage_index"])
    phrase: str = Field(description="The factor in business language.", examples=["Late stage"])
    contribution: float = Field(description="Log-odds this factor pushed (not money).")


class EntityScore(_Row):
    id: str = Field(description="The entity's id (lead_id, opportunity_id or rep_id).")
    probability: float = Field(ge=0, le=1, description="Calibrated probability.")
    score: int = Field(ge=1, le=99, description="round(100 × probability), clipped to 1..99.")
    tier: str = Field(description="A (score ≥ 75), B (≥ 50), C (≥ 25), D.")
    positive_factors: list[ScoreFactor] = Field(description="Strongest first (at most 3).")
    negative_factors: list[ScoreFactor] = Field(description="Strongest first (at most 3).")


class ScoreReport(_Row):
    model: str = Field(examples=["deal_risk"])
    model_version: str = Field(examples=["3"])
    model_source: str = Field(examples=["models:/deal_risk@champion"])
    feature_service: str = Field(examples=["deal_risk_v1"])
    mode: str = Field(description="`id` (online store) or `record` (pushed records).")
    scores: list[EntityScore]


class Health(_Row):
    status: str
    version: str


class ComponentHealth(_Row):
    name: str
    ok: bool
    source: str | None = None
    detail: str | None = None


class ModelHealth(_Row):
    name: str
    alias: str
    loaded: bool
    required: bool
    source: str | None = Field(None, description="Where the model was loaded from (registry URI).")
    version: str | None = None
    detail: str | None = None


class Readiness(_Row):
    ready: bool
    components: list[ComponentHealth]
    models: list[ModelHealth]


# Examples shown in the OpenAPI document (the worked example of the spec).
EXAMPLE_PLAN: dict[str, Any] = {
    "plan": "ae-2025",
    "name": "Account Executive 2025",
    "currency": "USD",
    "period": "quarterly",
    "settlement": "per_period",
    "credit_basis": "amount",
    "components": [
        {
            "name": "commission",
            "type": "tiered",
            "basis": "attainment",
            "mode": "marginal",
            "tiers": [
                {"upto": "0.5", "rate": "0.0"},
                {"upto": "1.0", "rate": "0.08"},
                {"upto": "1.5", "rate": "0.12"},
                {"rate": "0.15"},
            ],
        }
    ],
    "rounding": "half_up",
}
EXAMPLE_TRANSACTIONS: list[dict[str, Any]] = [
    {"transaction_id": "A", "rep_id": "R1", "amount": "30000.00", "currency": "USD", "credit_date": "2025-01-10"},
    {"transaction_id": "B", "rep_id": "R1", "amount": "50000.00", "currency": "USD", "credit_date": "2025-02-03"},
    {"transaction_id": "C", "rep_id": "R1", "amount": "45000.00", "currency": "USD", "credit_date": "2025-03-20"},
]  # fmt: skip
EXAMPLE_QUOTAS: list[dict[str, Any]] = [{"rep_id": "R1", "period": "2025-Q1", "quota": "100000.00"}]
EXAMPLE_OPEN_DEALS: list[dict[str, Any]] = [
    {"transaction_id": "D", "amount": "20000.00", "currency": "USD",
     "credit_date": "2025-03-28", "probability": "0.6"},
]  # fmt: skip


class FieldError(_Row):
    path: str = Field(examples=["transactions[3].amount"])
    message: str
    type: str


class ErrorDetail(_Row):
    status: int = Field(examples=[422])
    code: str = Field(examples=["validation_error"])
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class ErrorEnvelope(_Row):
    """Every `/v1` error: one envelope, never a stack trace or a server path."""

    error: ErrorDetail
