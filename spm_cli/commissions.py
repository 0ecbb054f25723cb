"""`spm commissions` (calculate, estimate) and `spm plans` (schema, validate)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from spm_cli.common import ExitCode, cli_errors, emit_json, log

commissions_app = typer.Typer(
    name="commissions",
    help="Compute commission payouts from a plan and transaction tables.",
    no_args_is_help=True,
)
plans_app = typer.Typer(
    name="plans",
    help="Commission plan documents: the JSON Schema and validation.",
    no_args_is_help=True,
)


def _error_map() -> dict[type[BaseException], ExitCode]:
    from spm_domain.commissions import (
        CommissionInputError,
        OutputDirectoryError,
        PlanValidationError,
    )
    from spm_domain.errors import DomainError

    return {
        PlanValidationError: ExitCode.INVALID_INPUT,
        CommissionInputError: ExitCode.INVALID_INPUT,
        OutputDirectoryError: ExitCode.CONFLICT,
        DomainError: ExitCode.INVALID_INPUT,
    }


PLAN_OPTION = typer.Option(..., "--plan", help="Plan document (.yaml/.yml or .json).")


@commissions_app.command("calculate")
def calculate(
    plan: Path = PLAN_OPTION,
    transactions: Path = typer.Option(..., "--transactions", help="Transactions CSV/Parquet."),
    quotas: Path | None = typer.Option(None, "--quotas", help="Quotas CSV/Parquet."),
    roster: Path | None = typer.Option(None, "--roster", help="Roster CSV/Parquet."),
    fx: Path | None = typer.Option(None, "--fx", help="Monthly fx rates CSV/Parquet."),
    period: list[str] | None = typer.Option(
        None, "--period", help="Only output these plan periods (repeatable), e.g. 2025-Q1."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Directory for lines.csv, statements.csv, run.json."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run manifest as JSON."),
) -> None:
    """Write DIR/lines.csv, DIR/statements.csv and DIR/run.json (all or nothing)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from spm_domain.commissions import calculate_commissions, run_documents, write_run

    with cli_errors(_error_map()):
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), transient=True, disable=as_json
        ) as progress:
            task = progress.add_task("calculating commissions", total=None)
            result = calculate_commissions(
                str(plan), transactions, quotas, roster, fx, periods=period or None
            )
            progress.update(task, description="writing outputs")
            write_run(result, out)
        manifest = json.loads(run_documents(result)["run.json"])
    log.info(
        "wrote %d lines and %d statements to %s",
        manifest["counts"]["lines"],
        manifest["counts"]["statements"],
        out,
    )
    if as_json:
        emit_json(manifest)
    else:
        typer.echo(
            f"{manifest['counts']['lines']} lines, {manifest['counts']['statements']} statements "
            f"-> {out} (run {manifest['run_id']})"
        )


@commissions_app.command("estimate")
def estimate(
    plan: Path = PLAN_OPTION,
    rep: str = typer.Option(..., "--rep", help="Rep id whose earnings are estimated."),
    open_deals: Path = typer.Option(
        ...,
        "--open-deals",
        help="Open deals CSV/Parquet (transaction columns; credit_date = expected close).",
    ),
    transactions: Path | None = typer.Option(None, "--transactions", help="Existing credit."),
    quotas: Path | None = typer.Option(None, "--quotas"),
    roster: Path | None = typer.Option(None, "--roster"),
    fx: Path | None = typer.Option(None, "--fx"),
    as_json: bool = typer.Option(False, "--json", help="Print the estimates as JSON."),
) -> None:
    """What REP would earn if each open deal closed (incremental payout per deal)."""
    from rich.console import Console
    from rich.table import Table

    from spm_domain.commissions import estimate_earnings

    with cli_errors(_error_map()):
        frame = estimate_earnings(str(plan), rep, open_deals, transactions, quotas, roster, fx)
    records: list[dict[str, Any]] = [
        {k: ("" if v is None else str(v)) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
    if as_json:
        emit_json({"rep_id": rep, "estimates": records})
        return
    shown = ("transaction_id", "period", "amount", "deal_currency", "incremental", "currency")
    table = Table(title=f"Estimated earnings for {rep}")
    for column in shown:
        table.add_column(column, justify="right" if column in {"amount", "incremental"} else "left")
    for rec in records:
        table.add_row(*(rec[c] for c in shown))
    Console().print(table)


@plans_app.command("schema")
def schema(
    out: Path | None = typer.Option(None, "--out", help="Write to this file instead of stdout."),
) -> None:
    """Print (or write) the plan JSON Schema, generated from the plan model."""
    from spm_domain.commissions import plan_json_schema

    text = json.dumps(plan_json_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        log.info("wrote plan schema to %s", out)


@plans_app.command("validate")
def validate(
    plan: Path = typer.Argument(..., help="Plan document (.yaml/.yml or .json)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check a plan against the contract; errors name the key at fault."""
    from spm_domain.commissions import PlanValidationError, load_plan

    try:
        loaded = load_plan(plan)
    except PlanValidationError as exc:
        if as_json:
            emit_json(
                {
                    "valid": False,
                    "errors": [{"path": p, "message": m} for p, m in exc.errors],
                }
            )
        else:
            for path, message in exc.errors:
                typer.secho(f"{plan}: {path or '(document)'}: {message}", err=True, fg="red")
        raise typer.Exit(int(ExitCode.INVALID_INPUT)) from None
    summary = {
        "valid": True,
        "plan": loaded.plan,
        "sha256": loaded.content_hash(),
        "components": loaded.component_names,
    }
    if as_json:
        emit_json(summary)
    else:
        typer.echo(f"{plan}: valid plan {loaded.plan!r} ({', '.join(loaded.component_names)})")
