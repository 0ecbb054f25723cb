"""`spm models list|promote|rollback|card`: the MLflow model registry.

spm models list --json
spm models promote deal_risk 3                 # gated: must beat champion and baseline
spm models promote deal_risk 3 --force --reason "INC-42: v2 scores wrong region codes"
spm models rollback deal_risk                  # champion -> previous champion
spm models card deal_risk 3                    # the version's model card (markdown)
"""

from __future__ import annotations

import os

import typer

from spm_cli.common import ExitCode, cli_errors, emit_json, fail

models_app = typer.Typer(
    help="Registered models: list versions and aliases, promote (gated), roll back.",
    no_args_is_help=True,
)

TRACKING = typer.Option(
    None,
    "--tracking-uri",
    help="MLflow tracking URI (default: $SPM_MLFLOW_TRACKING_URI, $MLFLOW_TRACKING_URI, "
    "sqlite:///<repo>/mlflow/mlflow.db).",
)


def _registry(tracking_uri: str | None) -> object:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from training.registry import ModelRegistry

    return ModelRegistry(tracking_uri)


def _errors() -> dict[type[BaseException], ExitCode]:
    from mlflow.exceptions import MlflowException

    from training.registry import PromotionRefused, RegistryError

    return {
        PromotionRefused: ExitCode.CONFLICT,
        RegistryError: ExitCode.NOT_FOUND,
        MlflowException: ExitCode.NOT_FOUND,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@models_app.command("list")
def list_models(
    name: list[str] = typer.Option(None, "--name", help="Only this model (repeatable)."),
    tracking_uri: str | None = TRACKING,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
) -> None:
    """Every registered model with its versions, aliases and held-out metrics."""
    from rich.console import Console
    from rich.table import Table

    from training.registry import ModelRegistry

    registry = _registry(tracking_uri)
    assert isinstance(registry, ModelRegistry)
    with cli_errors(_errors()):
        models = registry.list_models(name or None)
    if as_json:
        emit_json({"tracking_uri": registry.tracking_uri, "models": models})
        return
    if not models:
        typer.echo(f"no registered models at {registry.tracking_uri}", err=True)
        return
    table = Table(title=f"registered models ({registry.tracking_uri})")
    for column in ("model", "version", "aliases", "dataset", "ROC-AUC / baseline", "Brier / baseline", "created"):  # fmt: skip
        table.add_column(column)
    for model in models:
        for v in model["versions"]:
            table.add_row(
                model["name"],
                v["version"],
                ", ".join(v["aliases"]) or "",
                v["dataset"] or "",
                f"{_fmt(v['roc_auc'])} / {_fmt(v['baseline_roc_auc'])}",
                f"{_fmt(v['brier'])} / {_fmt(v['baseline_brier'])}",
                v["created"] or "",
            )
    Console().print(table)


@models_app.command("promote")
def promote(
    name: str = typer.Argument(..., help="Registered model, e.g. deal_risk."),
    version: str = typer.Argument(..., help="Version to make champion."),
    force: bool = typer.Option(False, "--force", help="Skip the gate (needs --reason)."),
    reason: str = typer.Option(None, "--reason", help="Why; recorded in the version's tags."),
    tracking_uri: str | None = TRACKING,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
) -> None:
    """Make VERSION champion if it beats the champion and the baseline on its held-out rows."""
    from training.registry import ModelRegistry, PromotionRefused

    registry = _registry(tracking_uri)
    assert isinstance(registry, ModelRegistry)
    if force and not (reason or "").strip():
        raise fail("--force needs --reason (it is recorded on the model version)", ExitCode.USAGE)
    try:
        with cli_errors({k: v for k, v in _errors().items() if k is not PromotionRefused}):
            decision = registry.promote(name, version, force=force, reason=reason)
    except PromotionRefused as refused:
        if as_json:
            emit_json({"promoted": False, "gate": refused.decision.to_dict()})
        raise fail(str(refused), ExitCode.CONFLICT) from None
    payload = {
        "model": name,
        "version": version,
        "promoted": True,
        "forced": force,
        "reason": reason,
        "gate": decision.to_dict() if decision else None,
    }
    if as_json:
        emit_json(payload)
    else:
        how = f"forced: {reason}" if force else "passed the gate"
        typer.echo(f"{name} version {version} is now champion ({how})")


@models_app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Registered model, e.g. deal_risk."),
    tracking_uri: str | None = TRACKING,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
) -> None:
    """Point `champion` back at the previous champion version."""
    from training.registry import ModelRegistry

    registry = _registry(tracking_uri)
    assert isinstance(registry, ModelRegistry)
    with cli_errors(_errors()):
        previous, restored = registry.rollback(name)
    if as_json:
        emit_json({"model": name, "from_version": previous, "to_version": restored})
    else:
        typer.echo(f"{name}: champion rolled back from version {previous} to {restored}")


@models_app.command("card")
def card(
    name: str = typer.Argument(..., help="Registered model."),
    version: str = typer.Argument(None, help="Version (default: the champion)."),
    tracking_uri: str | None = TRACKING,
) -> None:
    """Print a version's model card (markdown)."""
    from training.registry import CHAMPION, ModelRegistry

    registry = _registry(tracking_uri)
    assert isinstance(registry, ModelRegistry)
    with cli_errors(_errors()):
        chosen = version or registry.version_of(name, CHAMPION)
        if chosen is None:
            raise fail(f"model {name!r} has no champion; name a version", ExitCode.NOT_FOUND)
        typer.echo(registry.model_card(name, chosen))
