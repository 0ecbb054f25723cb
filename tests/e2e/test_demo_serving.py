"""`spm serve check` (the last step of `make demo`) on the real shared data:
a real `spm serve` started in the background, real X Education leads, Maven CRM
open deals, AdventureWorks and Maven reps scored by id over HTTP, a Maven rep's
statement calculated over HTTP and equal to `spm commissions calculate` on the
same slice, and the server gone afterwards.

Set-up, as the demo does it: the shared import (read-only) is copied,
enriched and built into a feature store (AdventureWorks territory crediting);
the online store is loaded with `spm features materialize --all-history`
(leads, reps, deals); `spm train all` trains the three models through their
feature services and registers them in a per-test MLflow store, so the
service scores with exactly what `make demo` serves.
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

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.training_sets import SERVICES
from spm_cli.main import app

SPM = [sys.executable, "-m", "spm_cli"]
END_DATE = "2020-06-30"
PLAN = Path(__file__).resolve().parents[2] / "examples" / "plans" / "maven-ae-2025.yaml"
STATEMENT_REP = "Darcel Schlecht"


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"spm {' '.join(args)}:\n{result.output}"
    return result.output


@pytest.fixture(scope="module")
def demo_dir(
    shared_import_dir: Path, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("demo-serving")
    data_dir = root / "data"
    shutil.copytree(shared_import_dir / "canonical", data_dir / "canonical")
    inputs = data_dir / "demo" / "commission-inputs"
    _invoke("synthetic", "enrich", "--data-dir", str(data_dir))
    _invoke(
        "data", "export-commission-inputs", "--source", "maven_crm",
        "--data-dir", str(data_dir), "--out", str(inputs),
    )  # fmt: skip
    _invoke("features", "apply", "--data-dir", str(data_dir), "--shared", str(shared_dir))
    _invoke(
        "features", "materialize", "--data-dir", str(data_dir), "--end-date", END_DATE,
        "--all-history", "--view", "lead_created_stats", "--view", "rep_daily_stats",
        "--view", "opportunity_event_stats",
    )  # fmt: skip
    # The models `make demo` serves: trained through the feature services, registered, gated.
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    _invoke("train", "all", "--data-dir", str(data_dir), "--tracking-uri", tracking_uri)
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
    ibm = opps[opps["source"] == "ibm_win_loss"]
    assert set(asked["deal"]) <= set(open_maven["opportunity_id"]) | set(ibm["opportunity_id"])
    assert set(asked["deal"]) & set(open_maven["opportunity_id"])
    sources = {rep_source[r] for r in asked["attainment"]}
    assert "maven_crm" in sources and any(s.startswith("adventureworks") for s in sources)
    for kind, call in scores.items():
        assert call["status"] == 200, (kind, call["answer"])
        assert call["request"]["request_time"] == "2020-07-01T00:00:00+00:00"
        answer = call["answer"]
        assert answer["mode"] == "id"
        assert answer["feature_service"] == SERVICES[answer["model"]]
        assert [s["id"] for s in answer["scores"]] == asked[kind]
        for score in answer["scores"]:
            assert 1 <= score["score"] <= 99 and 0 <= score["probability"] <= 1
            assert score["tier"] in {"A", "B", "C", "D"}
            factors = score["positive_factors"] + score["negative_factors"]
            assert factors and all(f["phrase"] for f in factors), (kind, score)
    # the scores come from the real features, not a constant: the entities differ
    for kind in ("lead", "deal", "attainment"):
        assert len({s["probability"] for s in scores[kind]["answer"]["scores"]}) > 1, kind
    # phrases.json travels with each model: no factor falls back to a column name
    phrases = [
        f["phrase"]
        for call in scores.values()
        for s in call["answer"]["scores"]
        for f in s["positive_factors"] + s["negative_factors"]
    ]
    assert not [p for p in phrases if p.lower().startswith("attr ")], phrases

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
