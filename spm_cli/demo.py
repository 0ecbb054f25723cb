"""`spm demo`: the main job end to end on the embedded default.

Each step is a documented `spm` command, run as its own process and echoed
before it runs, so the demo doubles as a walk-through a user can repeat
command by command. The demo is re-runnable: imports replace, enrichment
generates nothing twice, a re-posted run is a no-op in the ledger.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from spm_cli.common import ExitCode, fail

REPO_ROOT = Path(__file__).resolve().parents[1]
MAVEN_PLAN = REPO_ROOT / "examples" / "plans" / "maven-ae-2025.yaml"
# The online store's as-of date, and the request time of the demo's scores.
DEMO_END_DATE = "2020-06-30"


@dataclass(frozen=True)
class Step:
    title: str
    args: tuple[str, ...]


def demo_steps(shared: Path, data_dir: Path) -> list[Step]:
    d = str(data_dir)
    inputs = data_dir / "demo" / "commission-inputs"
    run_dir = data_dir / "demo" / "runs" / "maven-2017"
    ledger = f"sqlite:///{(data_dir / 'ledger.db').resolve()}"
    tables = {
        name: str(inputs / f"{name}.csv") for name in ("transactions", "quotas", "roster", "fx")
    }
    return [
        Step("Import every shared dataset into the canonical store",
             ("data", "import-shared", "--shared", str(shared), "--data-dir", d)),
        Step("Fill the documented gaps with seeded, flagged synthetic data",
             ("synthetic", "enrich", "--data-dir", d)),
        Step("Rows per canonical table and date ranges", ("data", "summary", "--data-dir", d)),
        Step("Data-quality report (every fix and rejected row)",
             ("data", "quality", "--data-dir", d)),
        Step("Commission inputs (contract tables) for the Maven CRM reps",
             ("data", "export-commission-inputs", "--source", "maven_crm",
              "--data-dir", d, "--out", str(inputs))),
        Step("Calculate 2017 commissions of the Maven reps with a tiered plan",
             ("commissions", "calculate", "--plan", str(MAVEN_PLAN),
              "--transactions", tables["transactions"], "--quotas", tables["quotas"],
              "--roster", tables["roster"], "--fx", tables["fx"], "--out", str(run_dir))),
        Step("Post the run to the payout ledger (idempotent)",
             ("ledger", "post", "--run-dir", str(run_dir), "--as", "demo", "--ledger", ledger)),
        Step("A rep's statement for 2017-Q3 (CSV + HTML)",
             ("ledger", "statement", "--rep", "Darcel Schlecht", "--period", "2017-Q3",
              "--ledger", ledger, "--out", str(data_dir / "demo" / "statements"))),
        Step("Quota status mid-quarter (pace-based)",
             ("quota", "status", "--period", "2017-Q3", "--as-of", "2017-08-15T00:00:00+00:00",
              "--data-dir", d)),
        Step("Cascade a 2018 target company → region → team → rep from 2017 history",
             ("targets", "cascade", "--total", "12000000", "--currency", "USD", "--period", "2018",
              "--method", "history", "--root", "maven:company", "--data-dir", d)),
        Step("Build feature tables (AdventureWorks territory crediting) and apply the Feast repo",
             ("features", "apply", "--data-dir", d, "--shared", str(shared))),
        Step("Materialize every entity's latest feature values (all eras) into the online store",
             ("features", "materialize", "--data-dir", d, "--end-date", DEMO_END_DATE,
              "--all-history")),
        Step("Train, evaluate, register and gate all three models (metrics vs baselines)",
             ("train", "all", "--data-dir", d)),
        Step("Start the service, score real leads, deals and reps and calculate a statement "
             "over HTTP, then stop it",
             ("serve", "check", "--data-dir", d, "--request-time", DEMO_END_DATE,
              "--plan", str(MAVEN_PLAN), "--inputs", str(inputs),
              "--statement-rep", "Darcel Schlecht")),
    ]  # fmt: skip


def _run(step: Step, index: int, total: int, env: dict[str, str]) -> float:
    typer.secho(f"\n[{index}/{total}] {step.title}", bold=True, fg=typer.colors.CYAN)
    typer.secho("$ spm " + " ".join(_quote(a) for a in step.args), fg=typer.colors.BRIGHT_BLACK)
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "spm_cli", *step.args], env=env, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise fail(
            f"demo step {index} ({step.title}) exited {completed.returncode}", ExitCode.FAILURE
        )
    return elapsed


def _quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def demo(
    shared: Path = typer.Option(
        Path("../shared"), "--shared", help="Folder holding data/ of the shared datasets."
    ),
    data_dir: Path = typer.Option(Path("./data"), "--data-dir", help="Embedded store directory."),
) -> None:
    """Run the main job end to end on the embedded default (Parquet store, SQLite ledger)."""
    if not (shared / "data").is_dir():
        raise fail(
            f"shared datasets not found: {shared / 'data'} is not a directory", ExitCode.NOT_FOUND
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {"COLUMNS": "120", **os.environ, "BENTOML_DO_NOT_TRACK": "true", "FEAST_USAGE": "False",
           "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_LOGGING_LEVEL": "WARNING",
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}  # fmt: skip
    steps = demo_steps(shared.resolve(), data_dir.resolve())
    timings = [_run(step, i, len(steps), env) for i, step in enumerate(steps, start=1)]
    typer.secho(
        f"\ndemo finished: {len(steps)} steps in {sum(timings):.1f} s; outputs under {data_dir}",
        bold=True,
        fg=typer.colors.GREEN,
    )
