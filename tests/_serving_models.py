"""Tiny models for the serving tests: trained in the test (well under a second)
with training's own pipeline and saved in the registry artifact layout, either
as a plain directory or as a registered MLflow version (per-test SQLite store)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("FEAST_USAGE", "False")

# deal_risk_v1 column names (what the online store returns); the model reads a subset.
DEAL_NUMERIC = ("stage_index", "age_days", "product_list_price_minor")
DEAL_CATEGORICAL = ("lead_source", "product_id")


def deal_frame(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "stage_index": rng.integers(0, 5, rows).astype(float),
            "age_days": rng.uniform(0, 120, rows),
            "product_list_price_minor": rng.choice([10000.0, 50000.0, 250000.0], rows),
            "lead_source": rng.choice(["web", "referral", "event"], rows),
            "product_id": rng.choice(["p1", "p2"], rows),
        }
    )
    signal = (
        frame["stage_index"] * 0.8 - frame["age_days"] / 60 + (frame["lead_source"] == "referral")
    )
    labels = (signal + rng.normal(0, 0.7, rows) > 1.0).astype(int).to_numpy()
    return frame, labels


def train_tiny_pipeline(seed: int = 0, n_estimators: int = 20) -> Any:
    from training.encoding import FeatureSpec
    from training.pipelines import build_pipeline

    spec = FeatureSpec(numeric=DEAL_NUMERIC, categorical=DEAL_CATEGORICAL)
    frame, labels = deal_frame(seed=seed)
    pipeline = build_pipeline(
        spec, {"n_estimators": n_estimators, "calibration_folds": 3}, min_category_count=1
    )
    return pipeline.fit(frame, labels)


def save_tiny_model(directory: Path, seed: int = 0, n_estimators: int = 20) -> Path:
    from training.pipelines import save_pipeline

    return save_pipeline(train_tiny_pipeline(seed, n_estimators), directory, {"model": "deal_risk"})


def register_pipeline(
    tracking_uri: str, name: str, pipeline_dir: Path, work: Path, experiment: str = "serving-tests"
) -> str:
    """Log a saved pipeline directory as training does (pyfunc from code over
    artifacts/pipeline/), register it under `name` and tag its feature service
    `<name>_v1`; returns the version."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from training.registry import PYFUNC_CODE

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(experiment, (work / "artifacts").as_uri())
    )
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_CODE),
            artifacts={"pipeline": str(pipeline_dir)},
            registered_model_name=name,
            pip_requirements=["lightgbm"],
        )
    version = str(info.registered_model_version)
    client.set_model_version_tag(name, version, "feature_service", f"{name}_v1")
    return version


def register_tiny_model(
    tracking_uri: str, name: str, work: Path, seed: int = 0, n_estimators: int = 20
) -> str:
    """The tiny model, logged and registered under `name` (`register_pipeline`)."""
    pipeline_dir = save_tiny_model(
        work / f"{name}-{seed}-{n_estimators}" / "pipeline", seed, n_estimators
    )
    return register_pipeline(tracking_uri, name, pipeline_dir, work)


SAMPLE_BUILT = "2024-04-01T00:00:00+00:00"
SAMPLE_END = "2024-03-06T00:00:00+00:00"


def build_sample_feature_store(data_dir: Path) -> Path:
    """The feature store's sample dataset applied and materialized into `data_dir`
    (what `spm features build|apply|materialize` does), for online reads."""
    import datetime as dt

    from features import feature_store
    from features.sample_data import InMemoryCanonicalStore, sample_canonical_tables

    feature_store.build_feature_tables(
        InMemoryCanonicalStore(sample_canonical_tables()),
        data_dir,
        created=dt.datetime.fromisoformat(SAMPLE_BUILT),
    )
    feature_store.apply(data_dir)
    feature_store.materialize(data_dir, dt.datetime.fromisoformat(SAMPLE_END))
    return data_dir


def save_tiny_models(root: Path, names: tuple[str, ...]) -> Path:
    """The tiny model under every name (`<root>/<name>/`), for DirectoryModelProvider."""
    import shutil

    first = save_tiny_model(root / names[0])
    for name in names[1:]:
        shutil.copytree(first, root / name)
    return root
