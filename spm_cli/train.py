"""`spm train`: train every model on the canonical store, beside its baseline.

    spm train models --data-dir ./data --out ./artifacts/models
    spm train models --json

Each run writes `<out>/run-<UTC time>/<model>_<dataset>/`: `model/` (LightGBM
text + JSON, see training.pipelines.save_pipeline), the baseline (JSON or
skops), metrics.json, per-slice CSVs and calibration / lift PNGs. Heavy
imports happen inside the verb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from spm_cli.common import ExitCode, cli_errors, emit_json, fail

train_app = typer.Typer(
    help="Train lead scoring, deal risk and attainment models with baselines and reports.",
    no_args_is_help=True,
)

TABLES = ("leads", "opportunities", "reps", "products", "accounts", "transactions", "quotas")


def _save_result(result: Any, directory: Path) -> None:
    from training.baselines import (
        HistoricalWinRateClassifier,
        RunRateClassifier,
        save_json_baseline,
        save_skops_baseline,
    )
    from training.pipelines import save_pipeline
    from training.workflows import write_report

    write_report(result, directory)
    save_pipeline(
        result.pipeline, directory / "model", metadata=result.summary(), phrases=result.phrases
    )
    if isinstance(result.baseline, HistoricalWinRateClassifier | RunRateClassifier):
        save_json_baseline(result.baseline, directory / "baseline.json")
    else:
        save_skops_baseline(result.baseline, directory / "baseline.skops")


@train_app.command("models")
def train_models(
    data_dir: Path = typer.Option(Path("./data"), "--data-dir", help="Embedded canonical store."),
    store_url: str = typer.Option(
        "", "--store", envvar="SPM_STORE", help="PostgreSQL URL; overrides --data-dir."
    ),
    out: Path = typer.Option(Path("./artifacts/models"), "--out", help="Where runs are written."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary on stdout."),
) -> None:
    """Train all models, evaluate each beside its baseline on held-out data, save everything."""
    import os
    import time

    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from features.feature_store import FeatureStoreError
    from features.ingest.storage import StoreError
    from features.training_sets import TrainingSetError
    from spm_cli.train_registry import load_tables, training_sets
    from training.workflows import train_all

    with cli_errors(
        {
            StoreError: ExitCode.UNAVAILABLE,
            FeatureStoreError: ExitCode.NOT_FOUND,
            TrainingSetError: ExitCode.INVALID_INPUT,
            ValueError: ExitCode.INVALID_INPUT,
        }
    ):
        if not store_url and not data_dir.exists():
            raise fail(
                f"no canonical store at {data_dir} (run `spm data import-shared`)",
                ExitCode.NOT_FOUND,
            )
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        console = Console(stderr=True)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("building training sets", total=None)
            sets = training_sets(None, load_tables(data_dir, store_url), data_dir)
            results = train_all(
                sets, progress=lambda label: progress.update(task, description=label)
            )
        run_dir = out / time.strftime("run-%Y%m%dT%H%M%SZ", time.gmtime())
        for key, result in results.items():
            _save_result(result, run_dir / key)
    summaries = {key: result.summary() for key, result in results.items()}
    if as_json:
        emit_json({"run_dir": str(run_dir), "models": summaries})
        return
    table = Table(title=f"held-out metrics (model / baseline) — {run_dir}")
    for column in ("model", "split", "ROC-AUC", "Brier", "ECE", "top-decile lift", "promotable"):
        table.add_column(column)
    for key, result in results.items():
        m, b = result.metrics, result.baseline_metrics
        table.add_row(
            key,
            result.split,
            f"{m.roc_auc:.3f} / {b.roc_auc:.3f}",
            f"{m.brier:.4f} / {b.brier:.4f}",
            f"{m.ece:.3f} / {b.ece:.3f}",
            f"{m.top_decile_lift:.2f} / {b.top_decile_lift:.2f}",
            "yes" if result.promotable else "no",
        )
    Console().print(table)


# `spm train lead_scoring|deal_risk|attainment|all`: the same training, logged to MLflow,
# registered and gated (spm_cli/train_registry.py, docs/mlops.md).
from spm_cli.train_registry import register_train_commands  # noqa: E402

register_train_commands(train_app)
