"""`spm monitor drift MODEL`: Evidently drift + data-quality report against the
training reference stored with the model version.

    spm monitor drift deal_risk --current recent.parquet --out ./reports/deal_risk
    spm monitor drift lead_scoring --json           # current = the version's held-out rows

Exit code 0 when no dataset drift, 5 (CONFLICT) when drift is detected with
`--fail-on-drift`, so a scheduler can alert on it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import typer

from spm_cli.common import ExitCode, cli_errors, emit_json, fail

monitor_app = typer.Typer(
    help="Monitoring: data drift and data quality of recent rows vs the training data.",
    no_args_is_help=True,
)


def _read_frame(path: Path) -> object:
    import pandas as pd

    if not path.is_file():
        raise fail(f"current data file {path} does not exist", ExitCode.NOT_FOUND)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise fail(f"{path}: use a .parquet or .csv file", ExitCode.INVALID_INPUT)


@monitor_app.command("drift")
def drift(
    model: str = typer.Argument(..., help="Registered model, e.g. deal_risk."),
    current: Path = typer.Option(
        None,
        "--current",
        help="Recent feature rows (.parquet/.csv) in the model's feature columns. "
        "Default: the version's held-out rows.",
    ),
    version: str = typer.Option(None, "--version", help="Model version (default: champion)."),
    out: Path = typer.Option(
        None, "--out", help="Report folder (default: mlflow/reports/<model>/<UTC time>)."
    ),
    drift_share: float = typer.Option(
        0.5, "--drift-share", help="Share of drifted columns that means dataset drift."
    ),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help="Exit 5 when dataset drift is detected."
    ),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary on stdout."),
) -> None:
    """Compare recent rows with the training reference; write drift.html and drift.json."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from rich.console import Console

    from training.monitoring import drift_report
    from training.registry import CHAMPION, REPO_ROOT, ModelRegistry, RegistryError

    registry = ModelRegistry(tracking_uri)
    with cli_errors(
        {
            RegistryError: ExitCode.NOT_FOUND,
            MlflowException: ExitCode.NOT_FOUND,
            ValueError: ExitCode.INVALID_INPUT,
        }
    ):
        chosen = version or registry.version_of(model, CHAMPION)
        if chosen is None:
            raise fail(f"model {model!r} has no champion; pass --version", ExitCode.NOT_FOUND)
        spec_path = registry.run_artifact(model, chosen, "features/spec.json")
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        reference = registry.reference(model, chosen)
        if current is None:
            recent, _ = registry.holdout(model, chosen)
            source = f"held-out rows of version {chosen}"
        else:
            loaded = _read_frame(current)
            assert isinstance(loaded, pd.DataFrame)
            recent, source = loaded, str(current)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = out or REPO_ROOT / "mlflow" / "reports" / model / stamp
        with Console(stderr=True).status(f"drift report for {model} v{chosen}"):
            summary = drift_report(
                reference,
                recent,
                spec,
                target,
                drift_share=drift_share,
                title=f"{model} v{chosen}: {source}",
            )
    payload = {"model": model, "version": chosen, "current": source, **summary.to_dict()}
    if as_json:
        emit_json(payload)
    else:
        flag = "DRIFT DETECTED" if summary.dataset_drift else "no dataset drift"
        typer.echo(
            f"{model} v{chosen}: {flag} ({summary.drifted_columns}/{summary.columns} columns "
            f"drifted; threshold share {drift_share}); report: {summary.html_path}"
        )
        for column in summary.column_drift:
            if column.drifted:
                typer.echo(f"  drifted: {column.column} ({column.method} = {column.score:.4g})")
    if summary.dataset_drift and fail_on_drift:
        raise typer.Exit(int(ExitCode.CONFLICT))
