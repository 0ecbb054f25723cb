"""`spm data`: import CRM exports into the canonical store, inspect it.

    spm data import --mapping features/ingest/mappings/examples/salesforce_opportunities.yaml \\
        Opportunity.csv User.csv
    spm data import-shared --shared ../shared
    spm data summary --json
    spm data quality
    spm data schema

Heavy imports (pandas, pyarrow, pandera, SQLAlchemy) happen inside the verbs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from features.ingest.storage import CanonicalStore

data_app = typer.Typer(
    help="Canonical data: import CRM exports with a mapping, summary, quality report, schema.",
    no_args_is_help=True,
)


def _errors() -> dict[type[BaseException], ExitCode]:
    from features.ingest.mapping import MappingError
    from features.ingest.quality import ImportValidationError
    from features.ingest.storage import StoreError

    return {
        ImportValidationError: ExitCode.INVALID_INPUT,
        MappingError: ExitCode.INVALID_INPUT,
        StoreError: ExitCode.UNAVAILABLE,
    }


def _open(data_dir: Path, store_url: str | None) -> CanonicalStore:
    from features.ingest.storage import open_store

    return open_store(store_url if store_url else data_dir)


def _run_with_progress(steps: int, work: Any) -> Any:
    """Run `work(progress_callback)` under a rich progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("importing", total=steps)

        def advance(message: str) -> None:
            progress.update(task, description=message)
            progress.advance(task)

        return work(advance)


def _print_import_result(result: Any, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    totals = result.report.to_dict()["totals"]
    verb = "checked (dry run, nothing written)" if result.dry_run else "imported"
    typer.echo(f"{verb} {', '.join(result.sources)} into {result.location}")
    for table, rows in sorted(result.rows_by_table.items()):
        typer.echo(f"  {table:<14} {rows:>8,} rows")
    typer.echo(
        f"quality: {totals['fixed_values']:,} value(s) fixed, {totals['rejected_rows']:,} row(s) "
        "rejected by declared rules (see `spm data quality`)"
    )


@data_app.command("import")
def import_command(
    files: list[Path] = typer.Argument(..., help="CSV/Parquet files to import."),
    mapping: Path = typer.Option(..., "--mapping", "-m", help="Mapping YAML file."),
    data_dir: Path = DATA_DIR_OPTION,
    store_url: str | None = STORE_OPTION,
    append: bool = typer.Option(
        False,
        "--append",
        help="Keep the rows already stored for this source and add the new ones "
        "(default: replace this source's rows).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check everything and report, but write nothing."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import files with a mapping. Nothing is written unless every row is valid."""
    from features.ingest.importer import import_files

    for path in [mapping, *files]:
        if not path.is_file():
            raise fail(f"file {path} does not exist", ExitCode.NOT_FOUND)
    with cli_errors(_errors()):
        store = _open(data_dir, store_url)
        result = _run_with_progress(
            3,
            lambda note: import_files(
                store,
                mapping,
                files,
                mode="append" if append else "replace",
                progress=note,
                dry_run=dry_run,
            ),
        )
    _print_import_result(result, as_json)


@data_app.command("import-shared")
def import_shared_command(
    shared: Path = typer.Option(
        Path("../shared"), "--shared", help="Folder holding data/ (the shared datasets)."
    ),
    data_dir: Path = DATA_DIR_OPTION,
    store_url: str | None = STORE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Import every shared dataset with the shipped mappings (all or nothing)."""
    from features.ingest.importer import SHARED_DATASETS, import_shared_datasets

    if not shared.is_dir():
        raise fail(f"shared folder {shared} does not exist", ExitCode.NOT_FOUND)
    with cli_errors(_errors()):
        store = _open(data_dir, store_url)
        result = _run_with_progress(
            len(SHARED_DATASETS) + 2,
            lambda note: import_shared_datasets(shared, store, progress=note),
        )
    _print_import_result(result, as_json)


@data_app.command("summary")
def summary_command(
    data_dir: Path = DATA_DIR_OPTION,
    store_url: str | None = STORE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Rows per table (and per source) and date ranges."""
    with cli_errors(_errors()):
        summary = _open(data_dir, store_url).summary()
    if as_json:
        emit_json(summary)
        return
    if not summary["tables"]:
        raise fail(f"no canonical tables in {summary['location']}", ExitCode.NOT_FOUND)
    typer.echo(f"store: {summary['location']}")
    for name, info in summary["tables"].items():
        by_source = ", ".join(f"{s} {n:,}" for s, n in info["rows_by_source"].items())
        typer.echo(f"{name:<14} {info['rows']:>8,} rows  ({by_source})")
        for column, bounds in info["date_ranges"].items():
            if bounds["min"] is not None:
                typer.echo(f"{'':<16}{column}: {bounds['min'][:10]} .. {bounds['max'][:10]}")


@data_app.command("quality")
def quality_command(
    data_dir: Path = DATA_DIR_OPTION,
    store_url: str | None = STORE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The data-quality report of the imports in the store: every fix and rejected row."""
    with cli_errors(_errors()):
        report, markdown = _open(data_dir, store_url).read_quality_report()
    if report is None:
        raise fail("no data-quality report: nothing was imported yet", ExitCode.NOT_FOUND)
    if as_json:
        emit_json(report)
    else:
        typer.echo(markdown or "")


@data_app.command("schema")
def schema_command(as_json: bool = JSON_OPTION) -> None:
    """Print the canonical data model (tables, columns, types, keys, rules)."""
    from features.ingest.docs import render_schema_markdown, schema_as_dict

    if as_json:
        emit_json(schema_as_dict())
    else:
        typer.echo(render_schema_markdown())


@data_app.command("export-commission-inputs")
def export_commission_inputs_command(
    out: Path = typer.Option(
        ..., "--out", help="Directory for transactions/quotas/roster/fx .csv."
    ),
    source: str | None = typer.Option(
        None, "--source", help="Only rows of this import source, e.g. maven_crm."
    ),
    data_dir: Path = DATA_DIR_OPTION,
    store_url: str | None = STORE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the commission contract's input tables (transactions, quotas, roster, fx)
    from the canonical store, ready for `spm commissions calculate`."""
    from features.ingest.exports import commission_inputs

    with cli_errors(_errors()):
        store = _open(data_dir, store_url)
        available = set(store.table_names())
        tables = {
            name: store.read_table(name)
            for name in ("transactions", "reps", "quotas", "fx_rates")
            if name in available
        }
    if "transactions" not in tables or "reps" not in tables:
        raise fail(
            f"{store.location} has no transactions/reps: import data first", ExitCode.NOT_FOUND
        )
    frames = commission_inputs(tables, source)
    if frames["transactions"].empty:
        raise fail(f"no transactions of source {source!r} in {store.location}", ExitCode.NOT_FOUND)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in frames.items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written[name] = {"path": str(path), "rows": len(frame)}
    if as_json:
        emit_json(written)
        return
    for name, info in written.items():
        typer.echo(f"  {name:<13} {info['rows']:>7,} rows -> {info['path']}")
