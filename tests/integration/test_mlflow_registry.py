"""MLflow tracking + registry on a per-test SQLite store (and once on PostgreSQL):
log, register, aliases, the promotion gate refusing a worse model, forced
promotion with a recorded reason, rollback, no pickle, signature + input
example, and the registered model predicting exactly like the in-memory one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.baselines import HistoricalWinRateClassifier
from training.encoding import FeatureSpec
from training.registry import (
    CHALLENGER,
    CHAMPION,
    ModelRegistry,
    PromotionRefused,
    RegistryError,
    gate,
)
from training.workflows import ModelResult, fit_and_evaluate

GOOD_SPEC = FeatureSpec(
    numeric=("signal", "noise", "visits"), boolean=("flag",), categorical=("region",)
)
WEAK_SPEC = FeatureSpec(numeric=("noise",), categorical=("region",))
PARAMS = {"n_estimators": 40, "num_leaves": 7, "calibration": "sigmoid", "calibration_folds": 3}


def _frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], size=rows)
    signal = rng.normal(size=rows)
    frame = pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=rows),
            "flag": rng.random(rows) < 0.3,
            "region": pd.array(region, dtype="string"),
            # nullable integers, as the canonical tables have them
            "visits": pd.array(rng.poisson(3, size=rows), dtype="Int64"),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "visits"] = pd.NA
    frame.loc[rng.random(rows) < 0.05, "region"] = pd.NA
    logit = 1.8 * signal + np.where(region == "north", 0.8, 0.0) - 0.3
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


def _train(spec: FeatureSpec, params: dict[str, object] = PARAMS) -> ModelResult:
    frame, y = _frame(1600, seed=7)
    return fit_and_evaluate(
        name="deal_risk",
        dataset="synthetic test data",
        split="first 1200 rows train, last 400 test",
        spec=spec,
        params=params,
        train=frame.iloc[:1200],
        y_train=y[:1200],
        test=frame.iloc[1200:],
        y_test=y[1200:],
        baseline=HistoricalWinRateClassifier(levels=("region",)),
        baseline_name="historical win rate by region",
        slice_frame=frame.iloc[1200:][["region"]].reset_index(drop=True),
    )


@pytest.fixture(scope="module")
def good() -> ModelResult:
    return _train(GOOD_SPEC)


@pytest.fixture(scope="module")
def weak() -> ModelResult:
    return _train(WEAK_SPEC)


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")


def test_the_gate_needs_a_strictly_better_primary_and_a_guard_no_worse() -> None:
    base = {"roc_auc": 0.70, "brier": 0.20}
    assert gate("deal_risk", {"roc_auc": 0.80, "brier": 0.18}, base, None).passed
    worse_brier = gate("deal_risk", {"roc_auc": 0.80, "brier": 0.21}, base, None)
    assert not worse_brier.passed and "brier" in worse_brier.reasons[0]
    champ = {"roc_auc": 0.80, "brier": 0.18}
    tie = gate("deal_risk", {"roc_auc": 0.80, "brier": 0.18}, base, champ)
    assert not tie.passed and tie.reasons == (
        "roc_auc 0.8000 is not better than the champion's 0.8000",
    )
    # attainment: Brier first, ROC-AUC as guard
    assert gate("attainment", {"roc_auc": 0.70, "brier": 0.15}, base, None).passed
    assert not gate("attainment", {"roc_auc": 0.69, "brier": 0.15}, base, None).passed


def test_log_register_signature_example_no_pickle_and_identical_predictions(
    registry: ModelRegistry, good: ModelResult, tmp_path: Path
) -> None:
    registered = registry.register(good, feature_service="deal_risk_v1", data_source="test")
    assert registered.version == "1" and registered.promoted
    assert registry.version_of("deal_risk", CHAMPION) == "1"
    assert registry.version_of("deal_risk", CHALLENGER) is None  # promoted challengers move on

    import mlflow

    loaded = registry.load_model("deal_risk", "champion")
    assert good.test_features is not None
    expected = good.pipeline.predict_proba(good.test_features)[:, 1]
    # pyfunc callers pass numbers as float64 (MLflow refuses nullable Int64 for a double)
    as_floats = good.test_features.astype({"visits": "float64"})
    np.testing.assert_array_equal(np.asarray(loaded.predict(as_floats)), expected)

    meta = loaded.metadata
    inputs = [c["name"] for c in json.loads(meta.signature.inputs.to_json())]
    assert inputs == ["signal", "noise", "flag", "region", "visits"]
    assert json.loads(meta.signature.inputs.to_json())[-1]["type"] == "double"  # not long
    assert meta.saved_input_example_info is not None
    model_dir = Path(mlflow.artifacts.download_artifacts(
        "models:/deal_risk/1", dst_path=str(tmp_path / "dl"), tracking_uri=registry.tracking_uri
    ))  # fmt: skip
    files = {p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()}
    assert "input_example.json" in files and "MLmodel" in files
    assert {"artifacts/pipeline/model.txt", "artifacts/pipeline/calibrator.json"} <= files
    mlmodel = (model_dir / "MLmodel").read_text()
    # models-from-code: MLflow runs training/pyfunc_model.py; a pickled model would have
    # a `python_model: python_model.pkl` entry instead.
    assert "loader_module: mlflow.pyfunc.loaders.code_model" in mlmodel
    assert "python_model:" not in mlmodel and not [f for f in files if f.endswith(".pkl")]
    store_files = list((tmp_path / "mlflow").rglob("*"))
    assert not [p for p in store_files if p.suffix in {".pkl", ".pickle", ".joblib"}]

    run = registry.client.get_run(registered.run_id)
    assert run.data.metrics["test_roc_auc"] == pytest.approx(good.metrics.roc_auc)
    assert run.data.metrics["baseline_roc_auc"] == pytest.approx(good.baseline_metrics.roc_auc)
    assert any(k.startswith("slice_region_north_") for k in run.data.metrics)
    artifacts = {a.path for a in registry.client.list_artifacts(registered.run_id, "evaluation")}
    assert {
        "evaluation/calibration.png",
        "evaluation/lift.png",
        "evaluation/model_card.md",
    } <= artifacts
    card = registry.model_card("deal_risk", "1")
    assert "Excluded columns" in card and "historical win rate by region" in card
    assert len(registry.reference("deal_risk", "1")) == 1200


def test_the_gate_refuses_a_worse_model_and_rollback_restores_the_previous_champion(
    registry: ModelRegistry, good: ModelResult, weak: ModelResult
) -> None:
    assert registry.register(good, feature_service="deal_risk_v1").promoted
    refused = registry.register(weak, feature_service="deal_risk_v1")
    assert not refused.promoted and refused.decision is not None
    assert any("champion" in r for r in refused.decision.reasons)
    assert registry.version_of("deal_risk", CHAMPION) == "1"
    assert registry.version_of("deal_risk", CHALLENGER) == "2"

    with pytest.raises(PromotionRefused, match="not promoted"):
        registry.promote("deal_risk", "2")
    with pytest.raises(RegistryError, match="reason"):
        registry.promote("deal_risk", "2", force=True)
    assert registry.promote("deal_risk", "2", force=True, reason="incident 42 hotfix") is None
    assert registry.version_of("deal_risk", CHAMPION) == "2"
    tags = registry.client.get_model_version("deal_risk", "2").tags
    assert tags["forced_promotion_reason"] == "incident 42 hotfix"

    assert registry.rollback("deal_risk") == ("2", "1")
    assert registry.version_of("deal_risk", CHAMPION) == "1"
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.rollback("deal_risk")
    listed = registry.list_models()
    assert [m["name"] for m in listed] == ["deal_risk"]
    assert listed[0]["champion"] == "1" and [v["version"] for v in listed[0]["versions"]] == [
        "1",
        "2",
    ]


@pytest.fixture
def postgres_tracking_uri(postgres_url: str) -> Iterator[str]:
    """A database of its own (MLflow migrates its schema into `public`), dropped afterwards."""
    import sqlalchemy as sa

    name = f"spm_mlflow_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_postgresql_backend_registers_promotes_and_loads(
    postgres_tracking_uri: str, good: ModelResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPM_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    registry = ModelRegistry(postgres_tracking_uri)
    registered = registry.register(good, feature_service="deal_risk_v1")
    assert registered.promoted and registry.version_of("deal_risk", CHAMPION) == "1"
    assert good.test_features is not None
    loaded = registry.load_model("deal_risk", "champion")
    np.testing.assert_array_equal(
        np.asarray(loaded.predict(good.test_features.head(20).astype({"visits": "float64"}))),
        good.pipeline.predict_proba(good.test_features.head(20))[:, 1],
    )


def test_models_and_monitor_cli(registry: ModelRegistry, good: ModelResult, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from spm_cli.main import app

    registry.register(good, feature_service="deal_risk_v1")
    uri = ["--tracking-uri", registry.tracking_uri]
    runner = CliRunner()

    listed = runner.invoke(app, ["models", "list", "--json", *uri])
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.stdout)
    assert body["models"][0]["champion"] == "1"
    assert body["models"][0]["versions"][0]["dataset"] == "synthetic test data"

    no_reason = runner.invoke(app, ["models", "promote", "deal_risk", "1", "--force", *uri])
    assert no_reason.exit_code == 2
    missing = runner.invoke(app, ["models", "promote", "deal_risk", "9", *uri])
    assert missing.exit_code == 4 and "no version '9'" in missing.stderr
    nothing_before = runner.invoke(app, ["models", "rollback", "deal_risk", *uri])
    assert nothing_before.exit_code == 4 and "no previous champion" in nothing_before.stderr

    out = tmp_path / "drift"
    drift = runner.invoke(
        app, ["monitor", "drift", "deal_risk", "--out", str(out), "--json", "--fail-on-drift", *uri]
    )
    assert drift.exit_code == 0, drift.output  # held-out rows of the same population
    assert json.loads(drift.stdout)["dataset_drift"] is False
    assert (out / "drift.html").is_file() and (out / "drift.json").is_file()

    assert good.test_features is not None
    # three of the five feature columns shifted: past the 0.5 share that means dataset drift
    shifted = good.test_features.assign(
        signal=good.test_features["signal"] + 3.0, noise=5.0, region="north"
    )
    shifted.to_parquet(tmp_path / "recent.parquet")
    flagged = runner.invoke(
        app,
        ["monitor", "drift", "deal_risk", "--current", str(tmp_path / "recent.parquet"),
         "--out", str(tmp_path / "drift2"), "--fail-on-drift", *uri],
    )  # fmt: skip
    assert flagged.exit_code == 5 and "DRIFT DETECTED" in flagged.stdout
