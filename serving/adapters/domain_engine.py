"""CommissionEngine backed by the deterministic core in `spm_domain`.

The JSON rows become the DataFrames the engine reads from CSV/Parquet (exact
Decimals and dates, never floats), so the HTTP API returns the same lines and
statements as `spm commissions calculate`; quota status is
`spm_domain.quotas.evaluate_quota` per quota row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from serving.errors import FieldProblem, InvalidRequestError
from serving.ports import CalculationInputs, EstimateInputs, QuotaStatusInputs
from serving.schemas import (
    CommissionCalculation,
    DealEstimate,
    EarningsEstimate,
    Milestone,
    PayoutLine,
    QuotaProgress,
    QuotaStatusReport,
    RunInfo,
    Statement,
)

log = logging.getLogger(__name__)


def rows_to_frame(rows: Sequence[BaseModel], exclude: frozenset[str] = frozenset()) -> Any:
    """A DataFrame of the rows (object dtype: Decimals and dates stay exact);
    optional fields nobody filled are left out, as in a CSV without that column."""
    import pandas as pd

    records = [row.model_dump(mode="python", exclude=set(exclude)) for row in rows]
    columns: list[str] = []
    for record in records:
        for name, value in record.items():
            if name not in columns and value is not None:
                columns.append(name)
    return pd.DataFrame.from_records(records, columns=columns).astype(object)


def _cell(value: Any) -> Any:
    """A result cell for a response model: None for empty, text kept exact."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, float):
        # A float here would be an engine bug; refuse rather than round silently.
        raise TypeError(f"engine returned a binary float {value!r}")
    try:
        import pandas as pd

        if not isinstance(value, str | Decimal) and pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def frame_records(frame: Any) -> list[dict[str, Any]]:
    return [{k: _cell(v) for k, v in rec.items()} for rec in frame.to_dict(orient="records")]


@contextmanager
def plan_errors() -> Iterator[None]:
    """A plan that breaks the contract: 422 with one field per problem, under `plan`."""
    from spm_domain.commissions import PlanValidationError

    try:
        yield
    except PlanValidationError as exc:
        fields = [
            FieldProblem(f"plan.{path}" if path else "plan", message)
            for path, message in exc.errors
        ]
        raise InvalidRequestError("the plan is invalid", fields=fields) from exc


class DomainCommissionEngine:
    """Imports the engine on first use (keeps service start-up light)."""

    def version(self) -> str:
        from spm_domain.commissions import ENGINE_VERSION

        return ENGINE_VERSION

    def calculate(self, inputs: CalculationInputs) -> CommissionCalculation:
        from spm_domain.commissions import calculate_commissions

        with plan_errors():
            result = calculate_commissions(
                dict(inputs.plan),
                rows_to_frame(inputs.transactions),
                rows_to_frame(inputs.quotas) if inputs.quotas else None,
                rows_to_frame(inputs.roster) if inputs.roster else None,
                rows_to_frame(inputs.fx) if inputs.fx else None,
                list(inputs.periods) or None,
            )
        manifest = result.manifest
        return CommissionCalculation(
            lines=[PayoutLine.model_validate(r) for r in frame_records(result.lines)],
            statements=[Statement.model_validate(r) for r in frame_records(result.statements)],
            run=RunInfo(
                plan_hash=str(manifest.get("plan", {}).get("sha256", "")),
                input_hashes={
                    str(name): str(info.get("sha256", ""))
                    for name, info in manifest.get("inputs", {}).items()
                },
                engine_version=str(manifest.get("engine_version", self.version())),
            ),
        )

    def estimate_earnings(self, inputs: EstimateInputs) -> EarningsEstimate:
        from spm_domain.commissions import estimate_earnings, load_plan
        from spm_domain.currency import get_currency
        from spm_domain.money import RoundingMode, round_amount

        with plan_errors():
            plan = load_plan(dict(inputs.plan))
        frame = estimate_earnings(
            plan,
            inputs.rep_id,
            rows_to_frame(inputs.open_deals, exclude=frozenset({"probability"})),
            rows_to_frame(inputs.transactions) if inputs.transactions else None,
            rows_to_frame(inputs.quotas) if inputs.quotas else None,
            rows_to_frame(inputs.roster) if inputs.roster else None,
            rows_to_frame(inputs.fx) if inputs.fx else None,
        )
        probabilities = {d.transaction_id: d.probability for d in inputs.open_deals}
        # Expected amounts are money: rounded like payout lines (plan's mode, minor unit).
        currency, rounding = get_currency(plan.currency), RoundingMode(plan.rounding)
        deals: list[DealEstimate] = []
        for record in frame_records(frame):
            probability = probabilities.get(str(record["transaction_id"]))
            expected = (
                round_amount(record["incremental"] * probability, currency, rounding)
                if probability is not None
                else None
            )
            deals.append(
                DealEstimate.model_validate(
                    {**record, "probability": probability, "expected_incremental": expected}
                )
            )
        all_weighted = bool(deals) and all(d.expected_incremental is not None for d in deals)
        return EarningsEstimate(
            rep_id=inputs.rep_id,
            currency=plan.currency,
            deals=deals,
            total_incremental=sum((d.incremental for d in deals), Decimal(0)),
            expected_total=sum((d.expected_incremental or Decimal(0) for d in deals), Decimal(0))
            if all_weighted
            else None,
        )

    def quota_status(self, inputs: QuotaStatusInputs) -> QuotaStatusReport:
        from spm_domain.periods import DEFAULT_CALENDAR
        from spm_domain.quotas import CreditRecord, credits_by_rep, evaluate_quota
        from spm_domain.targets.measures import parse_measure

        measure = parse_measure(inputs.measure)
        as_of = inputs.as_of or datetime.now(UTC)
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=UTC)
        records = [
            CreditRecord(
                transaction_id=t.transaction_id,
                rep_id=t.rep_id,
                credit_date=t.credit_date,
                share=t.share if t.share is not None else Decimal(1),
                currency=t.currency,
                amount=t.amount,
                margin=t.margin,
                quantity=t.quantity,
                account_id=t.account_id,
                cancel_date=t.cancel_date,
            )
            for t in inputs.transactions
        ]
        credits = credits_by_rep(
            records,
            measure,
            currency=inputs.currency,
            cancelled_by=DEFAULT_CALENDAR.local_date(as_of),
            rep_ids={q.rep_id for q in inputs.quotas},
        )
        statuses = []
        for row, quota in enumerate(inputs.quotas):
            try:
                period = DEFAULT_CALENDAR.parse(quota.period)
            except ValueError as exc:
                raise InvalidRequestError(
                    str(exc), fields=[FieldProblem(f"quotas[{row}].period", str(exc))]
                ) from exc
            progress = evaluate_quota(
                rep_id=quota.rep_id,
                measure=measure,
                currency=inputs.currency,
                target=quota.quota,
                credits=credits.get(quota.rep_id, []),
                period=period,
                as_of=as_of,
                calendar=DEFAULT_CALENDAR,
            )
            statuses.append(
                QuotaProgress(
                    rep_id=progress.rep_id,
                    period=progress.period,
                    measure=progress.measure.value,
                    currency=progress.currency,
                    target=progress.target,
                    achieved=progress.achieved,
                    variance=progress.variance,
                    variance_pct=progress.variance_pct,
                    attainment=progress.attainment,
                    elapsed=progress.elapsed,
                    expected_to_date=progress.expected_to_date,
                    pace_ratio=progress.pace_ratio,
                    status=progress.status.value,
                    period_closed=progress.period_closed,
                    milestones=[
                        Milestone(
                            name=m.milestone.name,
                            due=m.milestone.due,
                            required_fraction=m.milestone.required_fraction,
                            required=m.required,
                            achieved_by_due=m.achieved_by_due,
                            state=m.state.value,
                        )
                        for m in progress.milestones
                    ],
                )
            )
        return QuotaStatusReport(as_of=as_of, statuses=statuses)
