"""Model endpoints against real components: an MLflow registry on a per-test
SQLite store (alias change → hot reload with no failed request; registry down →
last good local copy, and readiness says so) and the Feast sample store (the
direct SQLite read equals Feast's `get_online_features`; by id == by record)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _serving_models import SAMPLE_END, build_sample_feature_store, register_tiny_model
from _serving_support import serving_settings

from serving.adapters.mlflow_models import MlflowModelProvider, wait_for_version
from serving.adapters.native_model import NativePipeline
from serving.bootstrap import build_runtime
from serving.health import readiness
from serving.scoring import TARGETS, score
from serving.security import Principal, Role

ADMIN = Principal("k", Role.ADMIN)
NOW = dt.datetime.fromisoformat(SAMPLE_END)
RECORD = {
    "opportunity_id": "o5",
    "rep_id": "R1",
    "stage_index": 3,
    "age_days": 20.0,
    "lead_source": "referral",
    "product_id": "p1",
    "product_list_price_minor": 50000,
}


class PassThroughFeatures:
    """Records are already feature rows (the reload test is about models)."""

    def describe(self) -> str:
        return "records only"

    def ping(self) -> None:
        return None

    def online_features(
        self,
        feature_service: str,
        entity_rows: Sequence[Mapping[str, Any]],
        request_time: Any = None,
    ) -> list[dict[str, Any]]:
        raise AssertionError("by-id reads are not used here")

    def record_features(
        self, feature_service: str, records: Sequence[Mapping[str, Any]], request_time: Any = None
    ) -> list[dict[str, Any]]:
        return [dict(r) for r in records]


@pytest.fixture
def registry(tmp_path: Path) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    v1 = register_tiny_model(uri, "deal_risk", tmp_path, seed=0, n_estimators=5)
    v2 = register_tiny_model(uri, "deal_risk", tmp_path, seed=1, n_estimators=40)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.set_registered_model_alias("deal_risk", "champion", v1)
    return {"uri": uri, "client": client, "v1": v1, "v2": v2, "root": tmp_path}


def test_alias_change_hot_reloads_without_failed_requests(registry: dict[str, Any]) -> None:
    provider = MlflowModelProvider(
        registry["uri"], ["deal_risk"], "champion", registry["root"] / "cache", poll_seconds=0.2
    ).start()
    runtime = build_runtime(
        serving_settings(registry["root"]), models=provider, features=PassThroughFeatures()
    )
    try:
        (info,) = provider.status()
        assert (info.loaded, info.version, info.source) == (
            True,
            registry["v1"],
            "models:/deal_risk@champion",
        )
        seen: list[tuple[str, float]] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def keep_scoring() -> None:
            while not stop.is_set():
                try:
                    report = score(runtime, ADMIN, TARGETS["deal_risk"], [], [RECORD])
                    seen.append((report.model_version, report.scores[0].probability))
                except BaseException as exc:  # any failure is the test's failure
                    failures.append(exc)

        workers = [threading.Thread(target=keep_scoring) for _ in range(2)]
        for worker in workers:
            worker.start()
        try:
            registry["client"].set_registered_model_alias("deal_risk", "champion", registry["v2"])
            assert wait_for_version(provider, "deal_risk", registry["v2"], timeout=30)
            count_at_swap = len(seen)
            while len(seen) < count_at_swap + 20:
                threading.Event().wait(0.01)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        assert failures == []
        versions = [v for v, _ in seen]
        assert versions[0] == registry["v1"] and versions[-1] == registry["v2"]
        by_version = {v: {p for vv, p in seen if vv == v} for v in versions}
        assert len(by_version[registry["v1"]]) == 1 and len(by_version[registry["v2"]]) == 1
        assert by_version[registry["v1"]] != by_version[registry["v2"]]  # really another model
    finally:
        provider.stop()


def test_registry_down_at_start_serves_the_last_good_copy(registry: dict[str, Any]) -> None:
    cache = registry["root"] / "cache"
    first = MlflowModelProvider(registry["uri"], ["deal_risk"], "champion", cache, poll_seconds=0)
    first.start()
    expected = first.get("deal_risk").predict(pd.DataFrame([RECORD]))
    # A registry server that does not answer (nothing listens on port 9).
    down = MlflowModelProvider(
        "http://127.0.0.1:9", ["deal_risk", "attainment"], "champion", cache, poll_seconds=0
    ).start()
    model = down.get("deal_risk")
    assert model.version == registry["v1"]
    assert list(model.predict(pd.DataFrame([RECORD]))) == list(expected)
    runtime = build_runtime(
        serving_settings(registry["root"], required_models=("deal_risk",)),
        models=down,
        features=PassThroughFeatures(),
    )
    report = readiness(runtime)
    models = {m.name: m for m in report.models}
    assert report.ready is True  # the required model is served, from its local copy
    assert models["deal_risk"].loaded is True
    assert "last good local copy" in (models["deal_risk"].detail or "")
    assert models["deal_risk"].source == f"local copy of models:/deal_risk/{registry['v1']}"
    assert models["attainment"].loaded is False  # never loaded here: nothing to fall back on
    assert "no local copy" in (models["attainment"].detail or "")
    # the registry comes back: the next check loads the champion from it again
    down.tracking_uri = registry["uri"]
    assert down.refresh() == ["deal_risk"]
    assert down.get("deal_risk").source == "models:/deal_risk@champion"


# ------------------------------------------------------------------ online features

ONLINE_CASES: dict[str, list[dict[str, str]]] = {
    "attainment_v1": [{"rep_id": "r1"}, {"rep_id": "r2"}, {"rep_id": "nobody"}],
    "deal_risk_v1": [{"opportunity_id": "o5"}, {"opportunity_id": "o3"}],
    "lead_scoring_v1": [{"lead_id": "l1"}, {"lead_id": "l2"}, {"lead_id": "nobody"}],
}


@pytest.fixture(scope="module")
def feature_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample_feature_store(tmp_path_factory.mktemp("feature_repo"))


@pytest.mark.parametrize("service", sorted(ONLINE_CASES))
def test_direct_read_equals_feast_get_online_features(feature_repo: Path, service: str) -> None:
    from serving.adapters.online_store import FeastOnlineFeatures, SqliteOnlineFeatures

    direct = SqliteOnlineFeatures(feature_repo).online_features(service, ONLINE_CASES[service], NOW)
    stock = FeastOnlineFeatures(feature_repo).online_features(service, ONLINE_CASES[service], NOW)
    assert direct == stock
    assert any(v is not None for k, v in direct[0].items() if k not in ONLINE_CASES[service][0])


def test_by_id_and_by_record_give_the_same_score(feature_repo: Path, tmp_path: Path) -> None:
    from _serving_models import save_tiny_model

    from serving.adapters.mlflow_models import DirectoryModelProvider
    from serving.adapters.online_store import SqliteOnlineFeatures

    features = SqliteOnlineFeatures(feature_repo)
    save_tiny_model(tmp_path / "models" / "deal_risk")
    models = DirectoryModelProvider.from_root(tmp_path / "models", ["deal_risk"])
    runtime = build_runtime(serving_settings(tmp_path), models=models, features=features)
    ids = ["o5", "o3"]
    # The CRM's records: the deal's fields as the feature table holds them, with the
    # raw timestamps from which request-time features (ages) are computed.
    table = pd.read_parquet(feature_repo / "features" / "opportunity_event_stats.parquet")
    table = table[table["event_timestamp"] <= pd.Timestamp(NOW)].sort_values("event_timestamp")
    latest = table.groupby("opportunity_id").tail(1).set_index("opportunity_id")
    service_columns = features.plan("deal_risk_v1").feature_names
    records = []
    for key in ids:
        row = latest.loc[key]
        record: dict[str, Any] = {"opportunity_id": key}
        for column in (*service_columns, "created_at", "last_stage_change_at"):
            if column in row.index:
                value = row[column]
                record[column] = None if pd.isna(value) else value
        records.append(record)
    by_id = score(runtime, ADMIN, TARGETS["deal_risk"], ids, [], NOW)
    by_record = score(runtime, ADMIN, TARGETS["deal_risk"], [], records, NOW)
    assert by_id.scores == by_record.scores
    assert by_id.scores[0].probability != by_id.scores[1].probability
    assert NativePipeline(tmp_path / "models" / "deal_risk").columns  # the model reads features


def test_loads_from_its_own_registry_whatever_the_process_default(
    registry: dict[str, Any],
) -> None:
    """Regression: a bare `models:/` download used MLflow's process-wide registry,
    so models registered by `spm train all` never loaded in `spm serve`."""
    import mlflow

    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    elsewhere = f"sqlite:///{registry['root'] / 'other.db'}"
    mlflow.set_tracking_uri(elsewhere)
    mlflow.set_registry_uri(elsewhere)
    try:
        provider = MlflowModelProvider(
            registry["uri"], ["deal_risk"], "champion", registry["root"] / "cache2", poll_seconds=0
        ).start()
        model = provider.get("deal_risk")
        assert model.version == registry["v1"]
        assert len(model.predict(pd.DataFrame([RECORD]))) == 1
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
