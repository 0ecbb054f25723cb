"""Adaptive batching of the score endpoints, through the whole ASGI app: concurrent
single-record requests are merged into fewer model calls, and each still gets
exactly the answer it gets alone or inside one batch request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _serving_models import build_sample_feature_store, save_tiny_models
from _serving_support import add_role_keys, serving_settings
from starlette.testclient import TestClient

from serving.bootstrap import build_runtime, use_runtime
from serving.security import Role

NAMES = ("lead_scoring", "deal_risk", "attainment")
CONCURRENT = 16


class CountingExplain:
    """Wraps a loaded pipeline's `explain`: counts real model calls and rows, and
    takes a few milliseconds like a bigger model, so concurrent requests overlap."""

    def __init__(self, explain: Callable[..., Any], delay: float = 0.005) -> None:
        self.explain, self.delay = explain, delay
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, frame: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.delay)
        with self.lock:
            self.calls.append(len(frame))
        return self.explain(frame, *args, **kwargs)

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from serving.adapters.mlflow_models import DirectoryModelProvider
    from serving.adapters.online_store import SqliteOnlineFeatures
    from serving.service import SpmService

    data_dir = tmp_path_factory.mktemp("batching")
    models = DirectoryModelProvider.from_root(save_tiny_models(data_dir / "models", NAMES), NAMES)
    features = SqliteOnlineFeatures(build_sample_feature_store(data_dir / "feature_repo"))
    counter = CountingExplain(models.get("deal_risk").pipeline.explain)  # type: ignore[attr-defined]
    models.get("deal_risk").pipeline.explain = counter  # type: ignore[attr-defined]
    runtimes = {
        on: build_runtime(
            serving_settings(
                data_dir,
                score_batching=on,
                score_max_batch_size=32,
                score_max_latency_ms=200,
            ),
            models=models,
            features=features,
        )
        for on in (True, False)
    }
    keys = add_role_keys(runtimes[True].keys)
    # One ASGI app per process (BentoML registers its metrics when it is built).
    app = SpmService.to_asgi()
    yield {"runtimes": runtimes, "keys": keys, "counter": counter, "app": app}


def _forget_bentoml_http_metrics() -> None:
    """BentoML's HTTP instruments register their metrics when an app starts; a
    second app in one process (test_serving_asgi.py's) would register them twice."""
    import prometheus_client

    registry = prometheus_client.REGISTRY
    for collector, names in list(registry._collector_to_names.items()):
        if any(n.startswith("bentoml_service_") for n in names):
            registry.unregister(collector)


def deal_record(i: int) -> dict[str, Any]:
    return {
        "opportunity_id": f"O-{i}",
        "rep_id": "R1",
        "stage_index": i % 5,
        "lead_source": ("referral", "web", "partner")[i % 3],
        "created_at": f"2024-02-{1 + i % 27:02d}T00:00:00Z",
        "last_stage_change_at": "2024-03-01T00:00:00Z",
    }


def _score_each_concurrently(client: TestClient, headers: dict[str, str]) -> list[Any]:
    def one(i: int) -> Any:
        body = {"records": [deal_record(i)], "request_time": "2024-03-06T00:00:00Z"}
        response = client.post("/v1/score/deal", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(one, range(CONCURRENT)))


def _run(served: dict[str, Any], batching: bool) -> tuple[list[Any], Any, list[int]]:
    headers = served["keys"][Role.ADMIN].headers
    counter: CountingExplain = served["counter"]
    _forget_bentoml_http_metrics()
    with (
        use_runtime(served["runtimes"][batching]),
        TestClient(served["app"], raise_server_exceptions=False) as client,
    ):
        # BentoML's dispatcher first times a dozen calls of 1-3 requests (its warm-up).
        for i in range(12):
            body = {"records": [deal_record(i)], "request_time": "2024-03-06T00:00:00Z"}
            assert client.post("/v1/score/deal", json=body, headers=headers).status_code == 200
        counter.reset()
        singles = _score_each_concurrently(client, headers)
        calls = list(counter.calls)
        body = {
            "records": [deal_record(i) for i in range(CONCURRENT)],
            "request_time": "2024-03-06T00:00:00Z",
        }
        batch = client.post("/v1/score/deal", json=body, headers=headers)
        assert batch.status_code == 200, batch.text
    return singles, batch.json(), calls


def test_concurrent_single_records_are_merged_and_score_as_one_batch_call(
    served: dict[str, Any],
) -> None:
    singles, batch, calls = _run(served, batching=True)
    # every request got its own entity back, with the score the batch request gives it
    assert [s["scores"][0]["id"] for s in singles] == [f"O-{i}" for i in range(CONCURRENT)]
    assert [s["scores"][0] for s in singles] == batch["scores"]
    assert all(s["model_version"] == batch["model_version"] for s in singles)
    # the model answered all requests, in fewer calls than requests
    assert sum(calls) == CONCURRENT
    assert len(calls) < CONCURRENT, calls
    assert max(calls) > 1, calls
    print("model calls (rows each):", calls)


def test_with_batching_off_each_request_is_its_own_model_call(served: dict[str, Any]) -> None:
    singles_off, batch_off, calls_off = _run(served, batching=False)
    singles_on, _, _ = _run(served, batching=True)
    assert calls_off == [1] * CONCURRENT
    assert [s["scores"] for s in singles_off] == [s["scores"] for s in singles_on]
    assert [s["scores"][0] for s in singles_off] == batch_off["scores"]
