"""The calculator endpoints' logic, free of HTTP and BentoML: authorize the
reps a request touches, call the engine port, keep only what the caller may
see, and turn engine errors into API errors (422 for bad input naming the
field, 503 when the engine is missing)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from pydantic import BaseModel

from serving.bootstrap import Runtime
from serving.errors import (
    FieldProblem,
    InvalidRequestError,
    PayloadTooLargeError,
    UnavailableError,
    json_path,
)
from serving.ports import (
    CalculationInputs,
    ComponentUnavailableError,
    EstimateInputs,
    QuotaStatusInputs,
)
from serving.schemas import CommissionCalculation, EarningsEstimate, QuotaStatusReport
from serving.security import Principal, authorize_reps, visible_reps

log = logging.getLogger(__name__)

RowT = TypeVar("RowT", bound=BaseModel)


@contextmanager
def engine_errors() -> Iterator[None]:
    """Map what the engine and its ports raise to API errors with safe messages."""
    from pydantic import ValidationError

    from serving.adapters.team_directory import RosterUnavailableError
    from spm_domain.errors import DomainError

    try:
        yield
    except DomainError as exc:
        raise InvalidRequestError(str(exc)) from exc
    except ValidationError as exc:
        problems = [FieldProblem(json_path(e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        raise InvalidRequestError(f"{exc.title} is invalid", fields=problems) from exc
    except (ComponentUnavailableError, RosterUnavailableError) as exc:
        raise UnavailableError(str(exc)) from exc


def _check_size(runtime: Runtime, *tables: Iterable[object]) -> int:
    rows = sum(len(list(t)) for t in tables)
    if rows > runtime.settings.max_rows:
        raise PayloadTooLargeError(
            f"{rows} input rows exceed the limit of {runtime.settings.max_rows} per request"
        )
    return rows


def _keep_visible(rows: list[RowT], allowed: frozenset[str] | None) -> list[RowT]:
    if allowed is None:
        return rows
    return [r for r in rows if getattr(r, "rep_id", None) in allowed]


def calculate_commissions(
    runtime: Runtime, principal: Principal, inputs: CalculationInputs
) -> CommissionCalculation:
    _check_size(runtime, inputs.transactions, inputs.quotas, inputs.roster, inputs.fx)
    with engine_errors():
        reps = {t.rep_id for t in inputs.transactions} | {q.rep_id for q in inputs.quotas}
        reps |= {r.rep_id for r in inputs.roster}
        authorize_reps(principal, reps, runtime.teams)
        allowed = visible_reps(principal, runtime.teams)
        result = runtime.engine.calculate(inputs)
    # Override lines pay managers named in the roster: show only the caller's scope.
    return result.model_copy(
        update={
            "lines": _keep_visible(result.lines, allowed),
            "statements": _keep_visible(result.statements, allowed),
        }
    )


def quota_status(
    runtime: Runtime, principal: Principal, inputs: QuotaStatusInputs
) -> QuotaStatusReport:
    _check_size(runtime, inputs.transactions, inputs.quotas)
    with engine_errors():
        reps = {t.rep_id for t in inputs.transactions} | {q.rep_id for q in inputs.quotas}
        authorize_reps(principal, reps, runtime.teams)
        allowed = visible_reps(principal, runtime.teams)
        report = runtime.engine.quota_status(inputs)
    return report.model_copy(update={"statuses": _keep_visible(report.statuses, allowed)})


def estimate_earnings(
    runtime: Runtime, principal: Principal, inputs: EstimateInputs
) -> EarningsEstimate:
    _check_size(
        runtime, inputs.transactions, inputs.quotas, inputs.roster, inputs.fx, inputs.open_deals
    )
    with engine_errors():
        reps = (
            {inputs.rep_id}
            | {t.rep_id for t in inputs.transactions}
            | {q.rep_id for q in inputs.quotas}
        )
        authorize_reps(principal, reps, runtime.teams)
        inputs, sources, model = _with_win_probabilities(runtime, inputs)
        result = runtime.engine.estimate_earnings(inputs)
    if not sources:
        return result
    deals = [
        d.model_copy(update={"probability_source": sources.get(d.transaction_id)})
        for d in result.deals
    ]
    return result.model_copy(update={"deals": deals, "probability_model": model})


def _with_win_probabilities(
    runtime: Runtime, inputs: EstimateInputs
) -> tuple[EstimateInputs, dict[str, str], str | None]:
    """Deals sent without a probability get deal_risk's win probability (when the
    model is loaded and the deal id is in the online store)."""
    from dataclasses import replace

    from serving.scoring import deal_win_probabilities

    sources = {d.transaction_id: "request" for d in inputs.open_deals if d.probability is not None}
    wanted = [d.transaction_id for d in inputs.open_deals if d.probability is None]
    found, model = deal_win_probabilities(runtime, wanted)
    if not found:
        return inputs, (sources if model else {}), model
    deals = [
        d.model_copy(update={"probability": found[d.transaction_id]})
        if d.transaction_id in found
        else d
        for d in inputs.open_deals
    ]
    sources.update({deal_id: "deal_risk" for deal_id in found})
    return replace(inputs, open_deals=deals), sources, model
