"""ASGI depth: the whole service through `SpmService.to_asgi()` and Starlette's
TestClient, wired by the real composition root (SQLite key store, a small
canonical reps.parquet, the real commission engine)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _serving_models import build_sample_feature_store, save_tiny_models
from _serving_support import (
    ROLE_REP,
    RoleKey,
    add_role_keys,
    calculate_body,
    estimate_body,
    quota_body,
    serving_settings,
)
from starlette.testclient import TestClient

from serving.bootstrap import build_runtime, use_runtime
from serving.routes import ENDPOINTS, Endpoint
from serving.security import Role


class _Client:
    def __init__(self, client: TestClient, keys: dict[Role, RoleKey], runtime: Any) -> None:
        self.http, self.keys, self.runtime = client, keys, runtime


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Client]:
    from serving.adapters.mlflow_models import DirectoryModelProvider
    from serving.adapters.online_store import SqliteOnlineFeatures
    from serving.service import SpmService

    data_dir = tmp_path_factory.mktemp("serving")
    settings = serving_settings(data_dir, max_request_bytes=64 * 1024)
    names = ("lead_scoring", "deal_risk", "attainment")
    models = DirectoryModelProvider.from_root(save_tiny_models(data_dir / "models", names), names)
    features = SqliteOnlineFeatures(build_sample_feature_store(data_dir / "feature_repo"))
    runtime = build_runtime(settings, models=models, features=features)
    keys = add_role_keys(runtime.keys)
    with (
        use_runtime(runtime),
        TestClient(SpmService.to_asgi(), raise_server_exceptions=False) as client,
    ):
        yield _Client(client, keys, runtime)


def score_lead_body(rep_id: str = "R1") -> dict[str, Any]:
    record = {"lead_id": "L-new", "lead_source": "web", "created_at": "2024-03-01T09:00:00Z"}
    return {"records": [record], "request_time": "2024-03-06T00:00:00Z"}


def score_deal_body(rep_id: str = "R1") -> dict[str, Any]:
    record = {
        "opportunity_id": f"{rep_id}-O1",
        "rep_id": rep_id,
        "stage_index": 3,
        "lead_source": "referral",
        "created_at": "2024-02-01T00:00:00Z",
        "last_stage_change_at": "2024-03-01T00:00:00Z",
    }
    return {"records": [record], "request_time": "2024-03-06T00:00:00Z"}


def score_attainment_body(rep_id: str = "R1") -> dict[str, Any]:
    return {"records": [{"rep_id": rep_id, "attainment_mtd": 0.4, "month_elapsed_fraction": 0.2}]}


BODIES = {
    "/v1/commissions/calculate": calculate_body,
    "/v1/commissions/estimate": estimate_body,
    "/v1/quotas/status": quota_body,
    "/v1/score/lead": score_lead_body,
    "/v1/score/deal": score_deal_body,
    "/v1/score/attainment": score_attainment_body,
}


def _call(api: _Client, endpoint: Endpoint, headers: dict[str, str], rep: str = "R1") -> Any:
    if endpoint.method == "GET":
        return api.http.get(endpoint.path, headers=headers)
    return api.http.post(endpoint.path, json=BODIES[endpoint.path](rep), headers=headers)


# -- the role matrix over every endpoint --------------------------------------


def _served_paths(app: Any, prefix: str = "") -> set[str]:
    from starlette.routing import Mount, Route

    paths: set[str] = set()
    for route in getattr(app, "routes", []):
        if isinstance(route, Mount):
            paths |= _served_paths(route.app, prefix + route.path)
        elif isinstance(route, Route):
            paths.add(prefix + route.path)
    return paths


def test_every_served_v1_route_is_in_the_policy_table(api: _Client) -> None:
    served_v1 = {p for p in _served_paths(api.http.app) if p.startswith("/v1")}
    assert served_v1 == {e.path for e in ENDPOINTS}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.path)
def test_no_key_or_a_bad_key_is_401(api: _Client, endpoint: Endpoint) -> None:
    for headers in ({}, {"Authorization": "Bearer spm_0_nope"}, {"X-API-Key": "x"}):
        response = _call(api, endpoint, headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.path)
def test_role_matrix(api: _Client, endpoint: Endpoint, role: Role) -> None:
    key = api.keys[role]
    own = _call(api, endpoint, key.headers, rep=ROLE_REP.get(role, "R1"))
    if role not in endpoint.roles:
        assert own.status_code == 403, own.text
        return
    assert own.status_code == 200, own.text
    if not endpoint.rep_scoped:
        return
    # R2 is in M1's team (through M2), R9 is not; a rep sees only themself.
    colleague = _call(api, endpoint, key.headers, rep="R2")
    outsider = _call(api, endpoint, key.headers, rep="R9")
    expected = {
        Role.REP: (403, 403),
        Role.MANAGER: (200, 403),
    }.get(role, (200, 200))
    assert (colleague.status_code, outsider.status_code) == expected, (
        colleague.text,
        outsider.text,
    )
    if outsider.status_code == 403:
        assert "R9" in outsider.json()["error"]["message"]


def test_revoked_key_is_401_on_the_next_request(api: _Client) -> None:
    from datetime import UTC, datetime

    from serving.security import issue_key

    issued = issue_key(Role.EXECUTIVE, label="leaver")
    api.runtime.keys.add(issued.record)
    headers = {"X-API-Key": issued.plain_key}
    assert api.http.get("/v1/health", headers=headers).status_code == 200
    api.runtime.keys.revoke(issued.record.key_id, datetime.now(UTC))
    assert api.http.get("/v1/health", headers=headers).status_code == 401


# -- payloads: pickle refused, size bounded, validation 422 with paths --------


class _Bomb:
    """Unpickling this would create a file: proof that nothing was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.mark.parametrize(
    "content_type",
    [
        "application/octet-stream",
        "application/python-pickle",
        "application/x-python-pickle",
        "application/vnd.bentoml+pickle",
        "multipart/form-data; boundary=x",
        "text/plain",
    ],
)
def test_pickle_and_other_non_json_payloads_are_refused(
    api: _Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content_type: str
) -> None:
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Bomb(marker))

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("a request payload reached pickle")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    response = api.http.post(
        "/v1/commissions/calculate",
        content=payload,
        headers={**api.keys[Role.ADMIN].headers, "Content-Type": content_type},
    )
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert not marker.exists()


def test_pickle_bytes_labelled_as_json_are_a_422_never_unpickled(
    api: _Client, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    response = api.http.post(
        "/v1/commissions/calculate",
        content=pickle.dumps(_Bomb(marker)),
        headers={**api.keys[Role.ADMIN].headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["path"] == "$"
    assert not marker.exists()


def test_body_over_the_limit_is_413(api: _Client) -> None:
    big = calculate_body()
    big["plan"] = {**big["plan"], "name": "x" * 70_000}
    response = api.http.post(
        "/v1/commissions/calculate", json=big, headers=api.keys[Role.ADMIN].headers
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_streamed_body_over_the_limit_is_413_without_content_length(api: _Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"plan": {"name": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}}'

    response = api.http.post(
        "/v1/commissions/calculate",
        content=chunks(),
        headers={**api.keys[Role.ADMIN].headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_validation_errors_are_422_with_field_paths(api: _Client) -> None:
    body = calculate_body()
    body["transactions"][1]["amount"] = 50000.0  # a JSON number: refused
    body["transactions"][2]["credit_date"] = "2025-13-01"
    del body["quotas"][0]["quota"]
    response = api.http.post(
        "/v1/commissions/calculate", json=body, headers=api.keys[Role.ADMIN].headers
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert {f["path"] for f in error["fields"]} == {
        "transactions[1].amount",
        "transactions[2].credit_date",
        "quotas[0].quota",
    }


def test_plan_errors_are_422_under_plan(api: _Client) -> None:
    body = calculate_body()
    body["plan"] = {**body["plan"], "period": "weekly"}
    response = api.http.post(
        "/v1/commissions/calculate", json=body, headers=api.keys[Role.ADMIN].headers
    )
    assert response.status_code == 422
    assert [f["path"] for f in response.json()["error"]["fields"]] == ["plan.period"]


def test_unknown_route_and_wrong_method(api: _Client) -> None:
    headers = api.keys[Role.ADMIN].headers
    assert api.http.get("/v1/nothing", headers=headers).status_code == 404
    assert api.http.get("/v1/nothing").status_code == 401  # unauthenticated callers learn nothing
    assert api.http.get("/v1/commissions/calculate", headers=headers).status_code == 405


def test_internal_errors_show_no_trace_or_path(
    api: _Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(_: object) -> None:
        raise RuntimeError(f"boom in {Path(__file__).resolve()}")

    monkeypatch.setattr(api.runtime.engine, "calculate", explode)
    response = api.http.post(
        "/v1/commissions/calculate", json=calculate_body(), headers=api.keys[Role.ADMIN].headers
    )
    assert response.status_code == 500
    text = response.text
    assert "Traceback" not in text and "boom" not in text and "/" + "work" not in text
    assert response.json()["error"]["code"] == "internal_error"


# -- results, health, metrics, OpenAPI ----------------------------------------


def test_http_returns_the_same_lines_and_statements_as_the_cli_files(
    api: _Client, tmp_path: Path
) -> None:
    import csv

    from _serving_support import WORKED_PLAN, quotas, transactions

    from spm_domain.commissions import calculate_commissions, write_run

    tables = {}
    for name, rows in (("transactions", transactions()), ("quotas", quotas())):
        path = tmp_path / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        tables[name] = path
    write_run(
        calculate_commissions(WORKED_PLAN, tables["transactions"], tables["quotas"]),
        tmp_path / "out",
    )

    response = api.http.post(
        "/v1/commissions/calculate", json=calculate_body(), headers=api.keys[Role.REP].headers
    )
    assert response.status_code == 200
    result = response.json()
    for name in ("lines", "statements"):
        with (tmp_path / "out" / f"{name}.csv").open(newline="") as handle:
            expected = [{k: (v or None) for k, v in row.items()} for row in csv.DictReader(handle)]
        assert result[name] == expected
    amounts = [line["amount"] for line in result["lines"]]
    assert amounts == ["0.00", "2400.00", "4600.00"]  # money is a JSON string


def test_readiness_reports_components_and_models(api: _Client) -> None:
    response = api.http.get("/v1/health/ready", headers=api.keys[Role.SERVICE].headers)
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    components = {c["name"]: c for c in body["components"]}
    assert components["key_store"] == {
        "name": "key_store",
        "ok": True,
        "source": "sqlite",
        "detail": None,
    }
    assert components["roster"]["ok"] is True
    assert components["online_features"]["ok"] is True
    assert "direct read" in components["online_features"]["source"]
    assert {m["name"]: m["loaded"] for m in body["models"]} == {
        "lead_scoring": True,
        "deal_risk": True,
        "attainment": True,
    }
    assert all(m["source"] == f"file:{m['name']}" for m in body["models"])
    assert api.http.get("/readyz").status_code == 200  # the unauthenticated probe


def test_our_metrics_count_requests_and_refusals(api: _Client) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    ok = {"endpoint": "/v1/health", "method": "GET", "status": "200"}
    refused = {"endpoint": "/v1/health", "method": "GET", "status": "401"}
    before = (sample("spm_api_requests_total", ok), sample("spm_api_requests_total", refused))
    failures = sample("spm_api_auth_failures_total", {"reason": "unauthenticated"})
    api.http.get("/v1/health", headers=api.keys[Role.REP].headers)
    api.http.get("/v1/health")
    assert sample("spm_api_requests_total", ok) == before[0] + 1
    assert sample("spm_api_requests_total", refused) == before[1] + 1
    assert sample("spm_api_auth_failures_total", {"reason": "unauthenticated"}) == failures + 1
    assert sample("spm_api_request_duration_seconds_count", {"endpoint": "/v1/health"}) >= 2


def test_openapi_documents_money_as_strings_with_examples(api: _Client) -> None:
    spec = api.http.get("/docs.json").json()
    request = spec["paths"]["/v1/commissions/calculate"]["post"]["requestBody"]["content"]
    schema = request["application/json"]["schema"]
    assert schema["properties"]["plan"]["examples"]
    assert schema["properties"]["transactions"]["examples"][0][0]["amount"] == "30000.00"
    amount = spec["components"]["schemas"]["TransactionRow"]["properties"]["amount"]
    assert amount["type"] == "string" and "pattern" in amount


def test_openapi_documents_auth_errors_and_health(api: _Client) -> None:
    spec = api.http.get("/docs.json").json()
    assert {"bearer", "apiKey"} <= set(spec["components"]["securitySchemes"])
    for endpoint in ENDPOINTS:
        operation = spec["paths"][endpoint.path][endpoint.method.lower()]
        assert {"401", "403", "422"} <= set(operation["responses"]), endpoint.path
        assert "400" not in operation["responses"]
        assert operation["security"]
    error = spec["components"]["schemas"]["ErrorEnvelope"]
    assert error["properties"]["error"]["$ref"].endswith("ErrorDetail")


def test_responses_never_leak_the_key(api: _Client) -> None:
    key = api.keys[Role.ADMIN]
    response = api.http.get("/v1/health/ready", headers=key.headers)
    assert key.plain not in response.text
    assert key.principal.key_id not in response.text


# -- schema-driven fuzzing -----------------------------------------------------

DOCUMENTED_STATUSES = {200, 401, 403, 404, 405, 413, 415, 422, 503}


def test_fuzzed_bodies_never_cause_a_server_error(api: _Client) -> None:
    """Schemathesis strategies from `/docs.json` for every POST operation, sent
    as an admin: whatever the body, a documented status and never a 5xx
    (5 cases per operation, to stay fast)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_dict(api.http.get("/docs.json").json())
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().method.upper() == "POST"]
    assert {op.path for op in operations} == set(BODIES)
    admin = api.keys[Role.ADMIN].headers
    seen: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def answers_without_5xx(case: Any) -> None:
            sent = case.as_transport_kwargs(base_url="http://testserver", headers=admin)
            body = sent.get("json")
            if body is not None:
                response = api.http.request(
                    sent["method"], sent["url"], headers=sent["headers"], json=body
                )
            else:
                response = api.http.request(
                    sent["method"],
                    sent["url"],
                    headers=sent["headers"],
                    content=sent.get("data") or b"",
                )
            seen.append(response.status_code)
            assert response.status_code in DOCUMENTED_STATUSES, (case.operation.path, response.text)

        answers_without_5xx()
    assert 200 in seen or 422 in seen  # the bodies reached validation, not just the guard


def test_not_ready_is_503_with_the_report(api: _Client, tmp_path: Path) -> None:
    # One BentoML app per process (its metrics are process-global): swap the runtime.
    runtime = build_runtime(serving_settings(tmp_path, required_models=("deal_risk",)))
    key = add_role_keys(runtime.keys)[Role.SERVICE]
    with use_runtime(runtime):
        response = api.http.get("/v1/health/ready", headers=key.headers)
        assert api.http.get("/readyz").status_code == 503
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    (deal_risk,) = [m for m in body["models"] if m["name"] == "deal_risk"]
    assert deal_risk["required"] is True and deal_risk["loaded"] is False
