"""The model endpoints' logic, free of HTTP: gather features (by id from the
online store, or from full records with request-time features computed by the
feature store's registered code), predict with the natively loaded model, and
turn each probability into a 1-99 score, a tier and business-language factors.

Both modes build the same feature row for the same entity, so they give the
same score (tested in tests/integration/test_serving_model_adapters.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from serving.bootstrap import Runtime
from serving.calculators import engine_errors
from serving.errors import InvalidRequestError, NotFoundError
from serving.ports import ComponentUnavailableError, ServedModel
from serving.schemas import ScoreReport
from serving.security import Principal, authorize_reps

log = logging.getLogger(__name__)

MAX_SCORE_ROWS = 1000
# Tier lower bounds on the 1-99 score, best first.
TIER_FLOORS: tuple[tuple[str, int], ...] = (("A", 75), ("B", 50), ("C", 25), ("D", 1))


@dataclass(frozen=True)
class ScoreTarget:
    """One model endpoint: the registered model, its entity key and where its rep is."""

    model: str
    path: str
    key: str
    rep_field: str | None  # the feature naming the owning rep (data scope); None: unscoped


TARGETS: dict[str, ScoreTarget] = {
    "lead_scoring": ScoreTarget("lead_scoring", "/v1/score/lead", "lead_id", None),
    "deal_risk": ScoreTarget("deal_risk", "/v1/score/deal", "opportunity_id", "rep_id"),
    "attainment": ScoreTarget("attainment", "/v1/score/attainment", "rep_id", "rep_id"),
}


def score_of(probability: float) -> int:
    """1-99: the probability in percent, rounded half up, clipped to 1..99."""
    return min(99, max(1, math.floor(probability * 100 + 0.5)))


def tier_of(score: int) -> str:
    return next(tier for tier, floor in TIER_FLOORS if score >= floor)


def _feature_rows(
    runtime: Runtime,
    model: ServedModel,
    target: ScoreTarget,
    ids: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    request_time: datetime | None,
) -> list[dict[str, Any]]:
    if ids:
        try:
            rows = runtime.features.online_features(
                model.feature_service, [{target.key: i} for i in ids], request_time
            )
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. request_time year 1
            raise InvalidRequestError(f"request_time: {type(exc).__name__}: {exc}") from exc
        for key, row in zip(ids, rows, strict=True):
            if all(v is None for k, v in row.items() if k != target.key):
                raise NotFoundError(f"{target.key} {key!r} has no online features")
        return rows
    for index, record in enumerate(records):
        if record.get(target.key) in (None, ""):
            raise InvalidRequestError(f"records[{index}]: {target.key} is required")
    try:
        return runtime.features.record_features(model.feature_service, records, request_time)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp that is no date
        raise InvalidRequestError(f"records: {type(exc).__name__}: {exc}") from exc


def _factor(factor: Any) -> dict[str, Any]:
    return {
        "feature": factor.feature,
        "phrase": factor.phrase,
        "contribution": round(factor.contribution, 6),
    }


def score(
    runtime: Runtime,
    principal: Principal,
    target: ScoreTarget,
    ids: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    request_time: datetime | None = None,
) -> ScoreReport:
    """The scores as a validated `ScoreReport`."""
    return ScoreReport.model_validate(
        score_payload(runtime, principal, target, ids, records, request_time)
    )


def score_payload(
    runtime: Runtime,
    principal: Principal,
    target: ScoreTarget,
    ids: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    request_time: datetime | None = None,
) -> dict[str, Any]:
    """A `ScoreReport` as plain JSON-ready data, built without validation: every
    value is made here within the schema's bounds (probability clipped to 0..1,
    score 1..99), so the endpoint serialises it directly; tests validate it
    against `ScoreReport`."""
    if bool(ids) == bool(records):
        raise InvalidRequestError("give either ids (online features) or records, not both")
    if len(ids) + len(records) > MAX_SCORE_ROWS:
        raise InvalidRequestError(f"at most {MAX_SCORE_ROWS} entities per request")
    with engine_errors():
        model = runtime.models.get(target.model)
        if target.rep_field == target.key and ids:  # attainment by rep id: check before reading
            authorize_reps(principal, ids, runtime.teams)
        rows = _feature_rows(runtime, model, target, ids, records, request_time)
        if target.rep_field is not None:
            reps = {str(r[target.rep_field]) for r in rows if r.get(target.rep_field) is not None}
            authorize_reps(principal, reps, runtime.teams)
        pipeline = getattr(model, "pipeline", None)
        if pipeline is None:
            raise ComponentUnavailableError(f"model {target.model!r} cannot explain its scores")
        try:
            explained = pipeline.explain(rows)  # the rows as dicts: no frame per request
        except ValueError as exc:  # a record value the encoder cannot read
            raise InvalidRequestError(f"records: {exc}") from exc
    # Plain dicts: a model object per row and factor costs ~0.1 ms a row, and even
    # one validation of the dicts ~0.08 ms a row.
    scores = []
    for row, (probability, positive, negative) in zip(rows, explained, strict=True):
        points = score_of(probability)
        scores.append(
            {
                "id": str(row[target.key]),
                "probability": round(probability, 6),
                "score": points,
                "tier": tier_of(points),
                "positive_factors": [_factor(f) for f in positive],
                "negative_factors": [_factor(f) for f in negative],
            }
        )
    return {
        "model": model.name,
        "model_version": model.version,
        "model_source": model.source,
        "feature_service": model.feature_service,
        "mode": "id" if ids else "record",
        "scores": scores,
    }


def deal_win_probabilities(
    runtime: Runtime, deal_ids: Sequence[str]
) -> tuple[dict[str, Decimal], str | None]:
    """deal_risk's win probability per open deal id found in the online store.

    Returns ({} , None) when the model or the store is not available: the
    estimate then stays as the caller sent it.
    """
    if not deal_ids:
        return {}, None
    try:
        model = runtime.models.get("deal_risk")
        pipeline = getattr(model, "pipeline", None)
        if pipeline is None:
            raise ComponentUnavailableError("deal_risk is not a natively loaded model")
        rows = runtime.features.online_features(
            model.feature_service, [{"opportunity_id": i} for i in deal_ids]
        )
    except (ComponentUnavailableError, AttributeError, ValueError) as exc:
        log.debug("estimate without deal_risk: %s", exc)
        return {}, None
    found = [
        (i, row)
        for i, row in zip(deal_ids, rows, strict=True)
        if any(v is not None for k, v in row.items() if k != "opportunity_id")
    ]
    if not found:
        return {}, f"{model.name} v{model.version}"
    probabilities = pipeline.predict_proba([row for _, row in found])
    return (
        {i: Decimal(f"{p:.4f}") for (i, _), p in zip(found, probabilities, strict=True)},
        f"{model.name} v{model.version}",
    )
