"""`spm features`: build the feature tables, apply the Feast repo, materialize, describe.

    spm features apply --data-dir ./data              # build tables + register definitions
    spm features materialize --data-dir ./data --end-date 2017-12-31
    spm features materialize --data-dir ./data --end-date 2020-06-30 --all-history
    spm features describe --data-dir ./data --json
    spm features apply --config production            # PostgreSQL offline + Redis online

Feast is imported inside the verbs (it is slow to import) so `spm --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import typer

from spm_cli.common import JSON_OPTION, ExitCode, cli_errors, emit_json

features_app = typer.Typer(
    help="Feature store (Feast): build feature tables, apply definitions, materialize, describe.",
    no_args_is_help=True,
)

DATA_DIR_OPTION = typer.Option(
    Path("./data"),
    "--data-dir",
    envvar="SPM_DATA_DIR",
    help="Data directory: canonical tables in, feature tables, registry and online store out.",
)
CONFIG_OPTION = typer.Option(
    "default",
    "--config",
    help="`default` (SQLite online, files offline) or `production` (PostgreSQL + Redis, "
    "endpoints and secrets from SPM_* environment variables).",
)
STORE_OPTION = typer.Option(
    None,
    "--store",
    envvar="SPM_STORE",
    help="Canonical store to build from: PostgreSQL URL; default the Parquet store in --data-dir.",
)

T = TypeVar("T")


def _no_telemetry() -> None:
    """Feast, MLflow and BentoML must never phone home from this CLI."""
    for name, value in (("FEAST_USAGE", "False"), ("DO_NOT_TRACK", "1")):
        os.environ.setdefault(name, value)


def _errors() -> dict[type[BaseException], ExitCode]:
    _no_telemetry()
    from features.feature_store import FeatureStoreError
    from features.feature_tables import FeatureBuildError
    from features.territories import TerritoryAssignmentError

    return {
        FeatureBuildError: ExitCode.INVALID_INPUT,
        TerritoryAssignmentError: ExitCode.INVALID_INPUT,
        FeatureStoreError: ExitCode.NOT_FOUND,
        ConnectionError: ExitCode.UNAVAILABLE,
        OSError: ExitCode.UNAVAILABLE,
    }


def _step(description: str, work: Callable[[], T]) -> T:
    """Run one long step under a rich spinner on stderr (stdout stays for JSON)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        progress.add_task(description, total=None)
        return work()


SHARED_OPTION = typer.Option(
    None,
    "--shared",
    envvar="SPM_SHARED_DIR",
    help="Shared data folder: its AdventureWorks salesperson-territory assignments switch "
    "that source to territory crediting (docs/feature-store.md).",
)
TERRITORIES_OPTION = typer.Option(
    None,
    "--territory-assignments",
    help="CSV with source,region,rep_id: credit those sources' sales to every rep "
    "assigned to the sale's region (for quota attainment features).",
)


def _build(
    data_dir: Path,
    store_url: str | None,
    shared: Path | None = None,
    territories: Path | None = None,
) -> list[dict[str, Any]]:
    import pandas as pd

    from features.feature_store import build_feature_tables
    from features.ingest.storage import open_store
    from features.territories import read_assignments, shared_territory_assignments

    store = open_store(store_url if store_url else data_dir)
    parts = []
    if territories is not None:
        parts.append(read_assignments(territories))
    if shared is not None and "org_units" in store.table_names():
        found = shared_territory_assignments(shared, store.read_table("org_units"))
        if found is not None:
            parts.append(found)
    assignments = pd.concat(parts, ignore_index=True).drop_duplicates() if parts else None
    return [
        asdict(s) for s in build_feature_tables(store, data_dir, territory_assignments=assignments)
    ]


@features_app.command("build")
def build_command(
    data_dir: Path = DATA_DIR_OPTION,
    store_url: str | None = STORE_OPTION,
    shared: Path | None = SHARED_OPTION,
    territories: Path | None = TERRITORIES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Compute the feature tables from the canonical tables (<data-dir>/features/*.parquet)."""
    with cli_errors(_errors()):
        started = time.perf_counter()
        tables = _step(
            "building feature tables", lambda: _build(data_dir, store_url, shared, territories)
        )
        seconds = round(time.perf_counter() - started, 2)
    if as_json:
        emit_json({"tables": tables, "seconds": seconds})
        return
    for table in tables:
        typer.echo(f"{table['name']:<26} {table['rows']:>9,} rows  {table['path']}")
    typer.echo(f"built in {seconds} s")


@features_app.command("apply")
def apply_command(
    data_dir: Path = DATA_DIR_OPTION,
    config: str = CONFIG_OPTION,
    store_url: str | None = STORE_OPTION,
    build: bool = typer.Option(
        True,
        "--build/--no-build",
        help="Rebuild the feature tables from the canonical tables first.",
    ),
    shared: Path | None = SHARED_OPTION,
    territories: Path | None = TERRITORIES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Register entities, sources, views and feature services (feast apply)."""
    with cli_errors(_errors()):
        from features.feature_store import apply, open_feature_store

        started = time.perf_counter()
        tables = (
            _step(
                "building feature tables",
                lambda: _build(data_dir, store_url, shared, territories),
            )
            if build
            else []
        )
        store = _step("opening the feature store", lambda: open_feature_store(data_dir, config))
        summary = _step("applying definitions", lambda: apply(data_dir, config, store=store))
        seconds = round(time.perf_counter() - started, 2)
    payload = {**asdict(summary), "tables": tables, "seconds": seconds}
    if as_json:
        emit_json(payload)
        return
    typer.echo(f"project {summary.project} ({summary.config}) in {summary.data_dir}")
    for table in tables:
        typer.echo(f"  table   {table['name']:<26} {table['rows']:>9,} rows")
    typer.echo(f"  entities          {', '.join(summary.entities)}")
    typer.echo(f"  feature views     {', '.join(summary.feature_views)}")
    typer.echo(f"  on-demand views   {', '.join(summary.on_demand_feature_views)}")
    typer.echo(f"  feature services  {', '.join(summary.feature_services)}")
    typer.echo(f"applied in {seconds} s")


def _parse_when(value: str, option: str) -> dt.datetime:
    """An ISO date or datetime (UTC unless it says otherwise); a bare date means
    the end of that day for --end-date and its start for --start-date."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or datetime", param_hint=option
        ) from None
    if len(value) == 10 and option == "--end-date":  # "as of the end of that day"
        parsed += dt.timedelta(days=1)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _parse_end(value: str | None) -> dt.datetime:
    return dt.datetime.now(dt.UTC) if value is None else _parse_when(value, "--end-date")


@features_app.command("materialize")
def materialize_command(
    data_dir: Path = DATA_DIR_OPTION,
    config: str = CONFIG_OPTION,
    end_date: str | None = typer.Option(
        None,
        "--end-date",
        help="Load values known up to this ISO date/datetime (a date includes the whole day; "
        "default now).",
    ),
    start_date: str | None = typer.Option(
        None,
        "--start-date",
        help="Load rows from this ISO date/datetime on, in every view (default: each view "
        "from end-date minus its TTL, so entities older than the TTL are left out).",
    ),
    all_history: bool = typer.Option(
        False,
        "--all-history",
        help="Start at 1970: every entity's latest row up to --end-date lands in the online "
        "store, however old (a backfill; what the demo's mixed-era data needs).",
    ),
    views: list[str] | None = typer.Option(
        None, "--view", help="Only this feature view (repeatable; default all)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Load each entity's latest feature values up to --end-date into the online store."""
    end = _parse_end(end_date)
    if all_history and start_date is not None:
        raise typer.BadParameter(
            "give --start-date or --all-history, not both", param_hint="--all-history"
        )
    start = _parse_when(start_date, "--start-date") if start_date is not None else None
    if all_history:
        start = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if start is not None and start >= end:
        raise typer.BadParameter(
            f"{start.isoformat()} is not before the end date {end.isoformat()}",
            param_hint="--start-date",
        )
    with cli_errors(_errors()):
        from features.feature_store import materialize, open_feature_store

        started = time.perf_counter()
        store = _step("opening the feature store", lambda: open_feature_store(data_dir, config))
        summary = _step(
            f"materializing up to {end.isoformat()}",
            lambda: materialize(
                data_dir, end, config, start_date=start, views=views or None, store=store
            ),
        )
        seconds = round(time.perf_counter() - started, 2)
    if as_json:
        emit_json({**asdict(summary), "seconds": seconds})
        return
    for view, view_start in summary.feature_views.items():
        typer.echo(f"  {view:<26} {view_start} .. {summary.end_date}")
    typer.echo(f"materialized in {seconds} s")


@features_app.command("describe")
def describe_command(
    data_dir: Path = DATA_DIR_OPTION,
    config: str = CONFIG_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show the registered entities, feature views (TTL, features) and feature services."""
    with cli_errors(_errors()):
        from features.feature_store import describe

        info = _step("reading the registry", lambda: describe(data_dir, config))
    if as_json:
        emit_json(info)
        return
    typer.echo(f"project {info['project']} ({info['config']})")
    typer.echo(f"entities: {', '.join(info['entities'])}")
    for name, view in info["feature_views"].items():
        ttl = f"{view['ttl_seconds'] // 86_400} d" if view["ttl_seconds"] else "none"
        typer.echo(f"view {name}  ttl {ttl}  {len(view['features'])} features  <- {view['source']}")
    for name, view in info["on_demand_feature_views"].items():
        typer.echo(f"on-demand {name}: {', '.join(view['features'])}")
    for name, service in info["feature_services"].items():
        typer.echo(
            f"service {name}  keys {', '.join(service['join_keys'])}  "
            f"{len(service['features'])} features"
        )
