"""Every `/v1` endpoint and the roles allowed to call it: the single table the
auth middleware enforces and the role-matrix test walks. A new endpoint
(e.g. a model's `/v1/deals/risk`) is added here with its roles; the test
fails for any served `/v1` route missing from this table."""

from __future__ import annotations

from dataclasses import dataclass

from serving.security import ALL_ROLES, Role

API_PREFIX = "/v1"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    roles: frozenset[Role]
    # True when the response depends on which reps the caller may see.
    rep_scoped: bool
    summary: str


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/v1/commissions/calculate",
        ALL_ROLES,
        True,
        "Commission lines and statements for a plan and its input tables.",
    ),
    Endpoint(
        "POST",
        "/v1/commissions/estimate",
        ALL_ROLES,
        True,
        "Earnings estimate for one rep's open deals.",
    ),
    Endpoint("POST", "/v1/quotas/status", ALL_ROLES, True, "Quota, credit and attainment per rep."),
    Endpoint(
        "POST",
        "/v1/score/lead",
        ALL_ROLES,
        False,
        "Lead conversion score (lead_scoring) by lead id or full record.",
    ),
    Endpoint(
        "POST",
        "/v1/score/deal",
        ALL_ROLES,
        True,
        "Deal win probability (deal_risk) by opportunity id or full record.",
    ),
    Endpoint(
        "POST",
        "/v1/score/attainment",
        ALL_ROLES,
        True,
        "Probability of reaching quota (attainment) by rep id or full record.",
    ),
    Endpoint("GET", "/v1/health", ALL_ROLES, False, "Liveness and version."),
    Endpoint(
        "GET",
        "/v1/health/ready",
        frozenset({Role.ADMIN, Role.SERVICE}),
        False,
        "Readiness: components and which models are loaded, from where.",
    ),
)

_BY_PATH = {e.path: e for e in ENDPOINTS}


def find_endpoint(path: str) -> Endpoint | None:
    return _BY_PATH.get(path.rstrip("/") or "/")
