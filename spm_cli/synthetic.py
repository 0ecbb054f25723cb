"""`spm synthetic`: fill the sample data's gaps with seeded, flagged synthetic values.

    spm synthetic enrich --data-dir ./data --seed 20250101
    spm synthetic enrich --dry-run --json
    spm synthetic summary --json

The rules are in docs/synthetic-data.md. Heavy imports happen inside the verbs.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from spm_cli.common import (
    DATA_DIR_OPTION,
    JSON_OPTION,
    STORE_OPTION,
    ExitCode,
    cli_errors,
    emit_json,
    fail,
)

synthetic_app = typer.Typer(
    help="Synthetic enrichment of gaps in the data (seeded, flagged in the data itself).",
    no_args_is_help=True,
)


def _errors() -> dict[type[BaseException], ExitCode]:
    from features.ingest.enrichment import EnrichmentError
    from features.ingest.storage import StoreError

    return {EnrichmentError: ExitCode.INVALID_INPUT, StoreError: ExitCode.UNAVAILABLE}


def _read_all(data_dir: Path, store_url: str | None) -> tuple[Any, dict[str, Any]]:
    from features.ingest.storage import open_store

    store = open_store(store_url if store_url else data_dir)
    names = store.table_names()
    if not names:
        _close(store)
        raise fail(
            f"no canonical tables in {store.location}: run `spm data import` first",
            ExitCode.NOT_FOUND,
        )
    return store, {name: store.read_table(name) for name in names}


def _close(store: Any) -> None:
    """Release a database store's connections (Parquet stores have none)."""
    dispose = getattr(store, "dispose", None)
    if callable(dispose):
        dispose()


def _parse_as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--as-of {text!r} is not an ISO 8601 timestamp", ExitCode.USAGE) from None
    if value.tzinfo is None:
        raise fail(f"--as-of {text!r} needs a timezone, e.g. 2017-12-31T00:00:00Z", ExitCode.USAGE)
    return value


@synthetic_app.command("enrich")
def enrich_command(
    data_dir: Path = DATA_DIR_OPTION,
    store_url: str | None = STORE_OPTION,
    seed: int = typer.Option(20250101, "--seed", help="Seed of every synthetic draw."),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Snapshot time (ISO 8601 with zone) nothing may be generated after; "
        "default: each source's latest real activity.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; write nothing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fill the documented gaps (deal creation times, stage history, quotas, a second
    currency, lead timestamps and owners, hire dates) and write the updated tables
    back in one atomic step, after validating them."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from features.ingest.enrichment import GAPS, enrich
    from features.ingest.validation import describe_issues, validate_tables

    when = _parse_as_of(as_of)
    with cli_errors(_errors()):
        store, tables = _read_all(data_dir, store_url)
        try:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            ) as bar:
                task = bar.add_task("enriching", total=len(GAPS))
                result = enrich(
                    tables,
                    seed=seed,
                    as_of=when,
                    progress=lambda gap: bar.update(task, advance=1, description=gap),
                )
                bar.update(task, description="validating")
                issues = describe_issues(validate_tables(result.tables))
            if issues:
                for line in issues[:20]:
                    typer.echo(line, err=True)
                raise fail(
                    f"enriched tables fail validation ({len(issues)} issue(s)); nothing written",
                    ExitCode.INVALID_INPUT,
                )
            if not dry_run and result.updated:
                store.write_tables(result.updated_tables(), mode="replace")
        finally:
            _close(store)
    report = {**result.report(), "location": store.location, "written": not dry_run}
    if as_json:
        emit_json(report)
        return
    verb = "would update" if dry_run else "updated"
    typer.echo(f"{verb} {', '.join(result.updated) or 'nothing'} in {store.location} (seed {seed})")
    for item in result.generated:
        kind = "new rows" if item.new_rows else "values"
        typer.echo(f"  {item.gap:<24} {item.table:<14} {item.rows:>7,} {kind}: {item.reason}")


@synthetic_app.command("summary")
def summary_command(
    data_dir: Path = DATA_DIR_OPTION,
    store_url: str | None = STORE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """How much of each table is synthetic: whole rows, and values flagged per column."""
    from features.ingest.enrichment import synthetic_summary

    with cli_errors(_errors()):
        store, tables = _read_all(data_dir, store_url)
        _close(store)
        summary = synthetic_summary(tables)
    if as_json:
        emit_json(summary)
        return
    for table, info in summary.items():
        flagged = ", ".join(f"{c} {n:,}" for c, n in info["flagged_values"].items()) or "none"
        typer.echo(
            f"{table:<14} {info['rows']:>8,} rows, {info['synthetic_rows']:>7,} synthetic;"
            f" synthetic values on real rows: {flagged}"
        )
