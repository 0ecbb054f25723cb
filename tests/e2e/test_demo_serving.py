"""`spm serve check` (the last step of `make demo`) on the real shared data:
a real `spm serve` started in the background, real X Education leads, Maven CRM
open deals, AdventureWorks and Maven reps scored by id over HTTP, a Maven rep's
statement calculated over HTTP and equal to `spm commissions calculate` on the
same slice, and the server gone afterwards.

Set-up, like the demo but smaller: the shared import (read-only) is copied,
enriched and built into a feature store; the online store is loaded with
`spm features materialize --all-history` (leads, reps) and `--start-date`
(deals from 2010: the 77,829 closed IBM deals of 2000 are not needed); three
tiny LightGBM models (seconds to train, on synthetic rows over each feature
service's own columns) are registered as champions in a per-test MLflow store.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spm_cli.main import app

SPM = [sys.executable, "-m", "spm_cli"]
END_DATE = "2020-06-30"
PLAN = Path(__file__).resolve().parents[2] / "examples" / "plans" / "maven-ae-2025.yaml"
STATEMENT_REP = "Darcel Schlecht"

# Tiny models over each feature service's own column names (what serving returns).
SPECS: dict[str, dict[str, tuple[str, ...]]] = {
    "lead_scoring": {
        "numeric": ("total_visits", "time_on_site_seconds", "page_views_per_visit"),
        "categorical": ("lead_origin", "occupation"),
    },
    "deal_risk": {
        "numeric": ("stage_index", "age_days", "product_list_price_minor"),
        "categorical": ("product_id",),
    },
    "attainment": {
        "numeric": (
            "attainment_mtd",
            "trailing_3m_attainment",
            "revenue_closed_90d_minor",
            "pipeline_open_count",
        ),
        "categorical": (),
    },
}


def _training_rows(name: str, rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    if name == "lead_scoring":
        frame = pd.DataFrame(
            {
                "total_visits": rng.integers(0, 20, rows).astype(float),
                "time_on_site_seconds": rng.uniform(0, 2000, rows),
                "page_views_per_visit": rng.uniform(0, 8, rows),
                "lead_origin": rng.choice(
                    ["api", "landing page submission", "lead add form"], rows
                ),
                "occupation": rng.choice(["Unemployed", "Working Professional", "Student"], rows),
            }
        )
        signal = frame["time_on_site_seconds"] / 700 + (
            frame["occupation"] == "Working Professional"
        )
    elif name == "deal_risk":
        frame = pd.DataFrame(
            {
                "stage_index": rng.integers(0, 5, rows).astype(float),
                "age_days": rng.uniform(0, 1500, rows),
                "product_list_price_minor": rng.choice([5500.0, 109600.0, 482100.0], rows),
                "product_id": rng.choice(["GTX Basic", "GTX Pro", "MG Special"], rows),
            }
        )
        signal = frame["stage_index"] * 0.8 - frame["age_days"] / 600
    else:
        frame = pd.DataFrame(
            {
                "attainment_mtd": rng.uniform(0, 1.5, rows),
                "trailing_3m_attainment": rng.uniform(0, 1.5, rows),
                "revenue_closed_90d_minor": rng.uniform(0, 5e7, rows),
                "pipeline_open_count": rng.integers(0, 30, rows).astype(float),
            }
        )
        signal = frame["attainment_mtd"] * 2 + frame["trailing_3m_attainment"] - 1.5
    labels = (signal + rng.normal(0, 0.6, rows) > signal.median()).astype(int).to_numpy()
    return frame, labels


def _register_tiny_models(tracking_uri: str, work: Path) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    from training.encoding import FeatureSpec
    from training.pipelines import build_pipeline, save_pipeline
    from training.registry import PYFUNC_CODE

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment_id = client.create_experiment("demo-serving", (work / "artifacts").as_uri())
    for name, columns in SPECS.items():
        spec = FeatureSpec(numeric=columns["numeric"], categorical=columns["categorical"])
        frame, labels = _training_rows(name)
        pipeline = build_pipeline(
            spec, {"n_estimators": 30, "calibration_folds": 3}, min_category_count=1
        ).fit(frame, labels)
        pipeline_dir = save_pipeline(pipeline, work / name / "pipeline", {"model": name})
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
        client.set_registered_model_alias(name, "champion", version)


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"spm {' '.join(args)}:\n{result.output}"
    return result.output


@pytest.fixture(scope="module")
def demo_dir(shared_import_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("demo-serving")
    data_dir = root / "data"
    shutil.copytree(shared_import_dir / "canonical", data_dir / "canonical")
    inputs = data_dir / "demo" / "commission-inputs"
    _invoke("synthetic", "enrich", "--data-dir", str(data_dir))
    _invoke(
        "data", "export-commission-inputs", "--source", "maven_crm",
        "--data-dir", str(data_dir), "--out", str(inputs),
    )  # fmt: skip
    _invoke("features", "apply", "--data-dir", str(data_dir))
    _invoke(
        "features", "materialize", "--data-dir", str(data_dir), "--end-date", END_DATE,
        "--all-history", "--view", "lead_created_stats", "--view", "rep_daily_stats",
    )  # fmt: skip
    _invoke(
        "features", "materialize", "--data-dir", str(data_dir), "--end-date", END_DATE,
        "--start-date", "2010-01-01", "--view", "opportunity_event_stats",
    )  # fmt: skip
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    _register_tiny_models(tracking_uri, root / "models")
    return {"root": root, "data_dir": data_dir, "inputs": inputs, "tracking_uri": tracking_uri}


def _server_processes(marker: str) -> list[str]:
    """Processes whose command line mentions `marker` (this test's data dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(proc.name)
    return found


def test_serve_check_scores_real_entities_and_calculates_a_statement_over_http(
    demo_dir: dict[str, Any],
) -> None:
    data_dir: Path = demo_dir["data_dir"]
    out = demo_dir["root"] / "check"
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "FEAST_USAGE": "False",
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}  # fmt: skip
    completed = subprocess.run(
        [
            *SPM, "serve", "check", "--data-dir", str(data_dir),
            "--tracking-uri", demo_dir["tracking_uri"], "--request-time", END_DATE,
            "--plan", str(PLAN), "--inputs", str(demo_dir["inputs"]),
            "--statement-rep", STATEMENT_REP, "--out", str(out), "--json",
        ],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-4000:] + completed.stdout[-2000:]
    result = json.loads(completed.stdout)
    assert result["failures"] == []
    assert {m["name"]: m["loaded"] for m in result["models"]} == {
        "lead_scoring": True, "deal_risk": True, "attainment": True,
    }  # fmt: skip

    # Real entities of every era, scored by id (features from the online store).
    canonical = data_dir / "canonical"
    leads = pd.read_parquet(canonical / "leads.parquet", columns=["lead_id", "source"])
    opps = pd.read_parquet(canonical / "opportunities.parquet")
    reps = pd.read_parquet(canonical / "reps.parquet", columns=["rep_id", "source"])
    rep_source = dict(zip(reps["rep_id"], reps["source"], strict=True))
    scores = result["scores"]
    asked = {kind: call["request"]["ids"] for kind, call in scores.items()}
    assert set(asked["lead"]) <= set(leads.loc[leads["source"] == "x_education", "lead_id"])
    open_maven = opps[(opps["source"] == "maven_crm") & ~opps["stage"].isin(["won", "lost"])]
    assert set(asked["deal"]) <= set(open_maven["opportunity_id"])
    sources = {rep_source[r] for r in asked["attainment"]}
    assert "maven_crm" in sources and any(s.startswith("adventureworks") for s in sources)
    for kind, call in scores.items():
        assert call["status"] == 200, (kind, call["answer"])
        assert call["request"]["request_time"] == "2020-07-01T00:00:00+00:00"
        answer = call["answer"]
        assert answer["mode"] == "id" and answer["feature_service"].endswith("_v1")
        assert [s["id"] for s in answer["scores"]] == asked[kind]
        for score in answer["scores"]:
            assert 1 <= score["score"] <= 99 and 0 <= score["probability"] <= 1
            assert score["tier"] in {"A", "B", "C", "D"}
            factors = score["positive_factors"] + score["negative_factors"]
            assert factors and all(f["phrase"] for f in factors), (kind, score)
    # the scores come from the real features, not a constant: the entities differ
    for kind in ("lead", "attainment"):
        assert len({s["probability"] for s in scores[kind]["answer"]["scores"]}) > 1, kind

    # The statement over HTTP equals `spm commissions calculate` on the same slice.
    statement = result["statement"]
    assert statement["status"] == 200
    slice_paths = statement["slice"]
    with open(slice_paths["transactions"], newline="") as handle:
        assert {row["rep_id"] for row in csv.DictReader(handle)} == {STATEMENT_REP}
    run_dir = demo_dir["root"] / "cli-run"
    _invoke(
        "commissions", "calculate", "--plan", str(PLAN),
        "--transactions", slice_paths["transactions"], "--quotas", slice_paths["quotas"],
        "--roster", slice_paths["roster"], "--fx", slice_paths["fx"], "--out", str(run_dir),
    )  # fmt: skip
    with (run_dir / "statements.csv").open(newline="") as handle:
        cli_rows = list(csv.DictReader(handle))
    http_rows = statement["answer"]["statements"]
    assert len(http_rows) == len(cli_rows) > 0
    for http_row, cli_row in zip(http_rows, cli_rows, strict=True):
        for column in ("rep_id", "period", "currency"):
            assert http_row[column] == cli_row[column], (column, http_row, cli_row)
        for column in ("credited", "gross", "adjustments", "payout"):
            assert Decimal(http_row[column]) == Decimal(cli_row[column]), (column, http_row)
    http_total = sum(Decimal(r["payout"]) for r in http_rows if r["rep_id"] == STATEMENT_REP)
    cli_total = sum(Decimal(r["payout"]) for r in cli_rows if r["rep_id"] == STATEMENT_REP)
    assert http_total == cli_total > 0
    assert statement["local_totals"][STATEMENT_REP] == str(cli_total)

    # The server is stopped (no orphans) and the run's key is revoked.
    assert _server_processes(str(data_dir.resolve())) == []
    keys = CliRunner().invoke(
        app,
        ["serve", "keys", "list", "--json"],
        env={"SPM_DATA_DIR": str(data_dir)},
    )
    assert keys.exit_code == 0, keys.output
    assert json.loads(keys.output) == []  # only active keys are listed
