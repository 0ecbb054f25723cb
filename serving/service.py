"""The BentoML service: every calculator (and, later, every model) behind one
versioned `/v1` API. Start it with `spm serve` or
`bentoml serve serving.service:SpmService`.

Endpoints take their fields at the top level of the JSON body and return
pydantic models, so `/docs.json` (OpenAPI) documents them with examples.
Money is a decimal *string*. Auth, size and content-type limits and the error
envelope live in `serving.middleware`; the logic lives in
`serving.calculators`; adapters are chosen only in `serving.bootstrap`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import anyio
import bentoml
from bentoml.exceptions import BentoMLException
from pydantic import Field
from pydantic_core import to_json
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serving import calculators, scoring
from serving.batching import BatchingConfig, ScoreBatching
from serving.bootstrap import Runtime, get_runtime
from serving.errors import ApiError, UnauthenticatedError
from serving.health import health, readiness
from serving.metrics import api_metrics
from serving.middleware import (
    ERROR_STATE,
    KEEP_BODY_STATE,
    PRINCIPAL_STATE,
    ApiGuardMiddleware,
)
from serving.openapi import OpenApiMiddleware
from serving.ports import CalculationInputs, EstimateInputs, QuotaStatusInputs
from serving.schemas import (
    EXAMPLE_OPEN_DEALS,
    EXAMPLE_PLAN,
    EXAMPLE_QUOTAS,
    EXAMPLE_TRANSACTIONS,
    CommissionCalculation,
    CurrencyCode,
    EarningsEstimate,
    FxRow,
    Id,
    OpenDeal,
    PeriodKey,
    QuotaRow,
    QuotaStatusReport,
    RosterRow,
    ScoreReport,
    TransactionRow,
)
from serving.security import Principal

log = logging.getLogger(__name__)

T = TypeVar("T")
INLINE_SCORE_ROWS = 1  # score requests this small run on the event loop (no thread hop)

Plan = Annotated[
    dict[str, Any],
    Field(
        description="The plan document (docs/commission-plans contract) as JSON; "
        "decimals as strings are exact; JSON numbers are read through their shortest text "
        "(0.08 → 0.08), never as binary floats.",
        examples=[EXAMPLE_PLAN],
    ),
]
Transactions = Annotated[list[TransactionRow], Field(examples=[EXAMPLE_TRANSACTIONS])]
Quotas = Annotated[list[QuotaRow], Field(examples=[EXAMPLE_QUOTAS])]
Roster = Annotated[list[RosterRow], Field(examples=[[]])]
Fx = Annotated[list[FxRow], Field(examples=[[]])]
Periods = Annotated[
    list[PeriodKey], Field(description="Only these periods (default: all).", examples=[["2025-Q1"]])
]
Measure = Literal["revenue", "units", "margin", "new_customers"]
OpenDeals = Annotated[list[OpenDeal], Field(min_length=1, examples=[EXAMPLE_OPEN_DEALS])]
ScoreIds = Annotated[
    list[Id],
    Field(
        max_length=scoring.MAX_SCORE_ROWS,
        description="Entity ids: features come from the online store (give ids or records).",
        examples=[["o5"]],
    ),
]
FeatureValue = str | int | float | bool | None
ScoreRecords = Annotated[
    list[dict[str, FeatureValue]],
    Field(
        max_length=scoring.MAX_SCORE_ROWS,
        description="Full records pushed by a CRM, in the feature service's column names "
        "(plus the inputs of request-time features such as `created_at`); request-time "
        "features are computed by the feature store's own code.",
        examples=[[{"opportunity_id": "o5", "stage_index": 3, "lead_source": "web"}]],
    ),
]
RequestTime = Annotated[
    datetime | None,
    Field(description="Moment of request-time features such as ages (default: now, UTC)."),
]


def _principal(ctx: bentoml.Context) -> Principal:
    principal = getattr(ctx.request.state, PRINCIPAL_STATE, None)
    if not isinstance(principal, Principal):  # only if the guard was bypassed
        raise UnauthenticatedError("an API key is required")
    return principal


def _answer(ctx: bentoml.Context, call: Callable[[Principal], T]) -> T:
    """Run a handler; an ApiError is handed to the guard, which renders it."""
    try:
        return call(_principal(ctx))
    except ApiError as error:
        setattr(ctx.request.state, ERROR_STATE, error)
        raise BentoMLException(error.message, error_code=error.status) from None


def _health_app() -> Starlette:
    async def live(_: Request) -> JSONResponse:
        return JSONResponse(health().model_dump(mode="json"))

    def ready(request: Request) -> JSONResponse:
        report = readiness(get_runtime())
        if not report.ready:
            setattr(request.state, KEEP_BODY_STATE, True)  # the 503 carries the report
        return JSONResponse(
            report.model_dump(mode="json"), status_code=200 if report.ready else 503
        )

    return Starlette(
        routes=[
            Route("/health", live, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
        ]
    )


def _tracing_config(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """OpenTelemetry spans only pay off with an exporter. Without one they cost time on
    every request, and BentoML's traffic-timeout timer keeps each request's context,
    span included (~5 KiB), alive for the whole timeout: at a few hundred requests/s
    that is ~100 MiB of memory that only looks like a leak. So tracing is off unless
    SPM_SERVING_TRACING is true (then configure BentoML's exporter as usual)."""
    if environ.get("SPM_SERVING_TRACING", "").strip().lower() in ("1", "true", "yes", "on"):
        return {}
    return {"excluded_urls": "."}  # a regex every URL matches


@bentoml.service(name="spm", traffic={"timeout": 120}, tracing=_tracing_config())
class SpmService:
    """Sales Performance Management API: commissions, quotas, estimates and model scores."""

    def __init__(self) -> None:
        # Fail at start-up, not on the first request, when the configuration is broken.
        self._runtime_factory: Callable[[], Runtime] = get_runtime
        self._runtime_factory()
        api_metrics()
        # Built on the worker's event loop by the first score request (see `_score`).
        self._batching: ScoreBatching | None = None
        self._score_limiter: tuple[asyncio.AbstractEventLoop, int, anyio.CapacityLimiter] | None
        self._score_limiter = None

    @property
    def runtime(self) -> Runtime:
        return self._runtime_factory()

    def __is_ready__(self) -> bool:
        return readiness(self.runtime).ready

    @bentoml.api(route="/v1/commissions/calculate")  # type: ignore[untyped-decorator]
    def calculate_commissions(
        self,
        plan: Plan,
        transactions: Transactions,
        ctx: bentoml.Context,
        quotas: Quotas = [],  # noqa: B006 - BentoML builds a pydantic model; defaults are copied
        roster: Roster = [],  # noqa: B006
        fx: Fx = [],  # noqa: B006
        periods: Periods = [],  # noqa: B006
    ) -> CommissionCalculation:
        """Commission lines and statements for a plan and its input tables (same as
        `spm commissions calculate`). Reps see only their own rows, managers their team's."""
        inputs = CalculationInputs(plan, transactions, quotas, roster, fx, periods)
        result = _answer(ctx, lambda p: calculators.calculate_commissions(self.runtime, p, inputs))
        self._count_rows("/v1/commissions/calculate", len(transactions), len(result.lines))
        return result

    @bentoml.api(route="/v1/quotas/status")  # type: ignore[untyped-decorator]
    def quota_status(
        self,
        quotas: Quotas,
        ctx: bentoml.Context,
        transactions: Transactions = [],  # noqa: B006
        measure: Measure = "revenue",
        currency: Annotated[
            CurrencyCode | None,
            Field(description="Quota currency of money measures; other currencies are refused."),
        ] = None,
        as_of: Annotated[
            datetime | None, Field(description="Moment of the status (default: now, UTC).")
        ] = None,
    ) -> QuotaStatusReport:
        """Target, achievement, variance, pace, status and milestones per quota row
        (`spm_domain.quotas`). Reps see only their own quotas, managers their team's."""
        inputs = QuotaStatusInputs(quotas, transactions, measure, currency, as_of)
        result = _answer(ctx, lambda p: calculators.quota_status(self.runtime, p, inputs))
        self._count_rows("/v1/quotas/status", len(transactions), len(result.statuses))
        return result

    @bentoml.api(route="/v1/commissions/estimate")  # type: ignore[untyped-decorator]
    def estimate_earnings(
        self,
        plan: Plan,
        rep_id: Annotated[Id, Field(examples=["R1"])],
        open_deals: OpenDeals,
        ctx: bentoml.Context,
        transactions: Transactions = [],  # noqa: B006
        quotas: Quotas = [],  # noqa: B006
        roster: Roster = [],  # noqa: B006
        fx: Fx = [],  # noqa: B006
    ) -> EarningsEstimate:
        """What a rep would earn on each open deal if it closes as expected, given what
        is already credited (probability-weighted when probabilities are given)."""
        inputs = EstimateInputs(plan, rep_id, open_deals, transactions, quotas, roster, fx)
        result = _answer(ctx, lambda p: calculators.estimate_earnings(self.runtime, p, inputs))
        self._count_rows("/v1/commissions/estimate", len(open_deals), len(result.deals))
        return result

    def _batching_for(self, runtime: Runtime, loop: asyncio.AbstractEventLoop) -> ScoreBatching:
        settings = runtime.settings
        config = BatchingConfig(
            enabled=settings.score_batching,
            max_batch_size=settings.score_max_batch_size,
            max_latency_ms=settings.score_max_latency_ms,
        )
        current = self._batching
        if current is None or current.loop is not loop or current.config != config:
            if current is not None:
                current.shutdown()
            current = self._batching = ScoreBatching(config, loop)
        return current

    def _limiter_for(self, runtime: Runtime, loop: asyncio.AbstractEventLoop) -> Any:
        threads = runtime.settings.score_threads
        current = self._score_limiter
        if current is None or current[0] is not loop or current[1] != threads:
            current = self._score_limiter = (loop, threads, anyio.CapacityLimiter(threads))
        return current[2]

    @bentoml.on_shutdown  # type: ignore[untyped-decorator]
    def _stop_batching(self) -> None:
        if self._batching is not None:
            self._batching.shutdown()
            self._batching = None

    async def _score(
        self,
        ctx: bentoml.Context,
        model: str,
        ids: list[str],
        records: list[dict[str, FeatureValue]],
        request_time: datetime | None,
    ) -> Any:  # a Response carrying a ScoreReport (the endpoints' declared type)
        """Score in a worker thread (up to `score_threads` at once); the model call
        itself goes through this worker's batcher unless batching is off.

        The answer is a `ScoreReport` (the OpenAPI schema) serialised straight from
        plain data by pydantic's core: BentoML would validate it into model objects
        first, ~0.08 ms a row for values `scoring` already builds within bounds."""
        target = scoring.TARGETS[model]
        runtime = self.runtime
        loop = asyncio.get_running_loop()
        batched = self._batching_for(runtime, loop).runtime(runtime)
        call = functools.partial(
            _answer,
            ctx,
            lambda p: scoring.score_payload(batched, p, target, ids, records, request_time),
        )
        if (
            len(ids) + len(records) <= INLINE_SCORE_ROWS
            and not runtime.settings.score_batching
            # only when nothing on the way can wait on a network (SQLite, local files)
            and getattr(runtime.features, "local_reads", False)
            and getattr(runtime.teams, "local_reads", False)
        ):
            # one row costs about a millisecond, most of it holding the GIL: a thread
            # hop would add two loop wake-ups and a GIL hand-off for nothing
            result = call()
        else:
            result = await anyio.to_thread.run_sync(call, limiter=self._limiter_for(runtime, loop))
        self._count_rows(target.path, len(ids) + len(records), len(result["scores"]))
        return Response(to_json(result), media_type="application/json")

    @bentoml.api(route="/v1/score/lead")  # type: ignore[untyped-decorator]
    async def score_leads(
        self,
        ctx: bentoml.Context,
        ids: ScoreIds = [],  # noqa: B006
        records: ScoreRecords = [],  # noqa: B006
        request_time: RequestTime = None,
    ) -> ScoreReport:
        """Probability that each lead converts (`lead_scoring` champion), as a 1-99 score,
        a tier A-D and the top factors in business language. Up to 1,000 per request."""
        return await self._score(ctx, "lead_scoring", ids, records, request_time)

    @bentoml.api(route="/v1/score/deal")  # type: ignore[untyped-decorator]
    async def score_deals(
        self,
        ctx: bentoml.Context,
        ids: ScoreIds = [],  # noqa: B006
        records: ScoreRecords = [],  # noqa: B006
        request_time: RequestTime = None,
    ) -> ScoreReport:
        """Win probability of each open deal (`deal_risk` champion). Reps score only their
        own deals, managers their team's. Up to 1,000 per request."""
        return await self._score(ctx, "deal_risk", ids, records, request_time)

    @bentoml.api(route="/v1/score/attainment")  # type: ignore[untyped-decorator]
    async def score_attainment(
        self,
        ctx: bentoml.Context,
        ids: ScoreIds = [],  # noqa: B006
        records: ScoreRecords = [],  # noqa: B006
        request_time: RequestTime = None,
    ) -> ScoreReport:
        """Probability that each rep reaches the month's quota (`attainment` champion).
        Reps score only themselves, managers their team. Up to 1,000 per request."""
        return await self._score(ctx, "attainment", ids, records, request_time)

    @staticmethod
    def _count_rows(endpoint: str, received: int, returned: int) -> None:
        rows = api_metrics().rows
        rows.labels(endpoint, "received").inc(received)
        rows.labels(endpoint, "returned").inc(returned)


# mypy sees the class, BentoML's decorator made it a Service.
SpmService.mount_asgi_app(_health_app(), path="/v1", name="health")  # type: ignore[attr-defined]
SpmService.add_asgi_middleware(ApiGuardMiddleware)  # type: ignore[attr-defined]
SpmService.add_asgi_middleware(OpenApiMiddleware)  # type: ignore[attr-defined]
